"""The documentation's CLI reference, built from the Typer app, lists every
command with all of its arguments and options (the full site is built with
warnings as errors by CI)."""

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

import typer  # noqa: E402
from sphinx.cmd.build import build_main  # noqa: E402

from dsgdn_pyg.cli.app import app  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _commands(command, path):
    """(``"dsgdn experiment run"``, command) for every command of the tree."""
    yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, path + [name])


def _sections(text: str) -> dict:
    """Title -> body of every section of a text-builder page."""
    parts = re.split(r'^"(dsgdn[^"]*)"\n[=\-~^"*]+\n', text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.fixture(scope="module")
def cli_page(tmp_path_factory):
    src = tmp_path_factory.mktemp("docs")
    shutil.copy(DOCS / "conf.py", src)
    shutil.copy(DOCS / "cli.md", src)
    shutil.copytree(DOCS / "_ext", src / "_ext")
    out = src / "_build"
    code = build_main(["-W", "-q", "-b", "text", "-D", "root_doc=cli",
                       str(src), str(out)])
    assert code == 0
    return (out / "cli.txt").read_text()


def test_cli_reference_covers_every_command(cli_page):
    sections = _sections(cli_page)
    commands = list(_commands(typer.main.get_command(app), ["dsgdn"]))
    assert len(commands) > 8
    assert sorted(sections) == sorted(path for path, _ in commands)
    for path, command in commands:
        body = sections[path]
        for param in command.params:
            for name in param.opts + param.secondary_opts:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])",
                                 body), (path, name)
        if command.help:
            first = command.help.split("\n")[0].split()[:4]
            assert " ".join(first) in body, path
