"""The README stays short and true: its install, test and docs commands are
the ones CI runs, every ``dsgdn`` command it shows names real commands and
options, its Python snippet runs, its links resolve, and every number of its
summary is one the guides under ``docs/guides/`` report."""

import itertools
import re
import shlex
from pathlib import Path

import pytest
import torch
import typer

from dsgdn_pyg.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
GUIDES = ROOT / "docs" / "guides"


def _blocks(lang: str) -> list:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.M | re.S)


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README,
                      flags=re.M | re.S)
    assert match, title
    return match.group(1)


def _shell_commands() -> list:
    """Every command of the README's bash blocks, split at ``&&``."""
    commands = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def test_readme_fits_a_screen_or_two():
    assert len(README.splitlines()) <= 200


def test_install_test_and_docs_commands_are_the_ci_ones():
    commands = _shell_commands()
    assert 'pip install "torch==2.13.0"' in commands
    assert "pip install -e ." in commands and "dsgdn train" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    # The test command: the extras CI installs include the README's, and CI
    # runs the README's pytest and Sphinx commands as written.
    extras = re.search(r'pip install -e "\.\[([\w,]+)\]" && python -m pytest -q',
                       README)
    assert extras, "the README's test command"
    ci_extras = re.search(r'pip install --quiet -e "\.\[([\w,]+)\]"', ci)
    assert set(extras.group(1).split(",")) <= set(ci_extras.group(1).split(","))
    assert "python -m pytest -q" in ci
    docs = [c for c in commands if c.startswith("python -m sphinx")]
    assert len(docs) == 1 and docs[0] in ci
    assert 'pip install -e ".[docs]"' in commands
    assert "docs/_build/html/index.html" in README


def _resolve(words: list):
    """The click command a ``dsgdn ...`` word list names, and its arguments."""
    command = typer.main.get_command(app)
    words = words[1:]
    while words and words[0] in getattr(command, "commands", {}):
        command = command.commands[words[0]]
        words = words[1:]
    return command, words


def _check_dsgdn(words: list):
    command, rest = _resolve(words)
    assert not getattr(command, "commands", None) or not rest, words
    names = {name for param in command.params
             for name in param.opts + param.secondary_opts}
    for word in rest:
        if word.startswith("-"):
            assert word.split("=")[0] in names, (words, word)


def test_every_dsgdn_command_of_the_readme_is_valid():
    shell = [shlex.split(c) for c in _shell_commands()]
    dsgdn = [words for words in shell if words[0] == "dsgdn"]
    assert len(dsgdn) >= 4
    for words in dsgdn:
        _check_dsgdn(words)
    # The commands named in the table and the text (`dsgdn a b|c --opt`,
    # upper-case words are placeholders).
    inline = re.findall(r"`(dsgdn [^`]*)`", README.replace("\\|", "|"))
    assert len(inline) >= 10
    for text in inline:
        words = [w for w in text.split() if not w.isupper() and w != "--help"]
        for choices in itertools.product(*(w.split("|") for w in words)):
            _check_dsgdn(list(choices))
    # Each command of the CLI is in the map.
    table = _section("Commands")
    for name, sub in typer.main.get_command(app).commands.items():
        assert f"`dsgdn {name}" in table, name
        for child in getattr(sub, "commands", {}):
            assert re.search(rf"`dsgdn {name} [^`]*\b{child}\b", table), child
    for words in shell:
        if words[0] == "python" and words[1].endswith(".py"):
            assert (ROOT / words[1]).is_file(), words


def test_readme_python_snippet_runs():
    (snippet,) = _blocks("python")
    scope = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert scope["out"].shape == (10, 64)
    assert scope["alpha"].shape[1] == 8
    assert torch.isfinite(scope["alpha"]).all()


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 12
    for link in local:
        assert (ROOT / link).exists(), link
    # Every guide is linked.
    for guide in GUIDES.glob("*.md"):
        assert f"docs/guides/{guide.name}" in README, guide.name


@pytest.mark.parametrize("title", [
    "Headline results", "Where DiffGATConv helps, where it does not, what it costs"])
def test_summary_numbers_are_those_of_the_guides(title):
    guides = " ".join(p.read_text() for p in GUIDES.glob("*.md"))
    numbers = re.findall(r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)+", _section(title))
    assert len(numbers) >= 4
    for number in numbers:
        assert re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d,]|\.\d)",
                         guides), number
