"""A CLI reference generated from a Typer application when the site builds.

``sphinx-click`` cannot read Typer >= 0.2x applications (they run on Typer's
own copy of click), so this extension uses Typer's own Markdown generator,
the one behind ``typer MODULE utils docs``: a page holding the line

.. code-block:: markdown

    <!-- typer-cli: dsgdn_pyg.cli.app:app dsgdn -->

gets, in its place, every command of that app with its help, usage,
arguments and options, as ``--help`` shows them. The page is read again at
every build, so the reference cannot drift from the code.
"""

import importlib
import re

MARKER = re.compile(r"^<!-- typer-cli: (\S+):(\S+) (\S+) -->$", re.M)


def typer_markdown(module: str, attr: str, prog: str, shift: int = 1) -> str:
    """Markdown of every command of the Typer app ``module.attr`` run as
    ``prog``, with headings ``shift`` levels deeper (under the page's
    title)."""
    import typer
    from typer.cli import get_docs_for_click
    from typer.core import MARKUP_MODE_KEY

    app = getattr(importlib.import_module(module), attr)
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name=prog)
    # As `typer utils docs` does: render the app's rich markup to HTML spans.
    ctx.ensure_object(dict)[MARKUP_MODE_KEY] = app.rich_markup_mode
    text = get_docs_for_click(obj=command, ctx=ctx, name=prog)
    text = re.sub(r"^(#+) ", lambda m: "#" * (len(m[1]) + shift) + " ",
                  text, flags=re.M)
    return text.strip() + "\n"


def _source_read(app, docname, source):
    source[0] = MARKER.sub(lambda m: typer_markdown(m[1], m[2], m[3]),
                           source[0])


def _always_outdated(app, env, added, changed, removed):
    # The reference depends on Python code, not on the page: reread it.
    return [doc for doc in env.found_docs
            if MARKER.search(_read(env.doc2path(doc)))]


def _read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def setup(app):
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
