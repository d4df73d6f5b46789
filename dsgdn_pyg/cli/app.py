"""The Typer application behind the ``dsgdn`` console script.

Each sub-module registers its own commands through a ``register(app)``
function so that a command's options live next to the code that uses them.
"""

from typing import Optional

import typer

from dsgdn_pyg import __version__

app = typer.Typer(
    name="dsgdn",
    help=(
        "AMB-DSGDN for PyTorch Geometric: differential graph attention over "
        "typed dialogue graphs for multimodal emotion recognition in "
        "conversation (arXiv 2603.10043)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dsgdn-pyg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """AMB-DSGDN for PyTorch Geometric."""


def _register_commands() -> None:
    from dsgdn_pyg.cli import commands

    from dsgdn_pyg.cli.common import use_plain_help

    for register in commands.REGISTRARS:
        register(app)
    use_plain_help(app)


_register_commands()


def main() -> None:
    """Entry point of the ``dsgdn`` console script. SIGTERM stops it as
    Ctrl-C does (:class:`~dsgdn_pyg.errors.Terminated`): one line, exit
    143, no temporary or lock left held."""
    import signal
    import sys

    from dsgdn_pyg.cli.common import EXIT_TERMINATED, TERMINATED, fail
    from dsgdn_pyg.errors import Terminated, raise_terminated

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        app()
    except Terminated:  # outside a command's own handling
        fail(TERMINATED)
        sys.exit(EXIT_TERMINATED)
