"""What every command shares: consoles and the one-line error exit."""

import contextlib
import inspect
from typing import Dict, Iterator, Optional

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder
from rich.markup import escape
from rich.progress import Progress

from dsgdn_pyg.errors import MissingExtraError, Terminated, TrainingDiverged

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2  # bad option or data, unwritable output, disk full
EXIT_DIVERGED = 3  # training stopped on a non-finite loss or parameter
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it
EXIT_TERMINATED = 143  # SIGTERM, as shells report it
TERMINATED = "terminated (SIGTERM); nothing half-written was left"


def fail(message: str, code: int = EXIT_BAD_INPUT) -> "typer.Exit":
    """Prints ``error: message`` on one line to stderr and returns the exit
    to raise (code 2 unless told)."""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() \
        else "unknown error"
    err_console.print(f"[bold red]error:[/] {escape(first_line)}",
                      highlight=False,
                      soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turns bad input (``ValueError``, ``DataError``, a missing file), a
    failed write (read-only location, disk full) and a diverged run into a
    one-line error and exit code 2 (3 for divergence, 130 for Ctrl-C, 143
    for SIGTERM), with no traceback."""
    try:
        yield
    except (ValueError, MissingExtraError, FileNotFoundError,
            PermissionError) as exc:
        raise fail(str(exc)) from None
    except TrainingDiverged as exc:
        raise fail(str(exc), EXIT_DIVERGED) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise fail(f"{where}{exc.strerror or exc} (files written before are "
                   f"intact, nothing half-written is left)") from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing half-written was left",
                   EXIT_INTERRUPTED) from None
    except Terminated:
        raise fail(TERMINATED, EXIT_TERMINATED) from None


def _no_flag_type(params):
    """A flag (``--overwrite``, ``--help``) takes no value: Typer would still
    print ``<bool>`` after it as if it did."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Group(TyperGroup):
    """A Typer group (``dsgdn``, ``dsgdn experiment``) without ``<bool>``
    after its flags."""

    def get_params(self, ctx):
        return _no_flag_type(super().get_params(ctx))


class Command(TyperCommand):
    """A Typer command whose help shows no artefacts of Typer's defaults: no
    ``<bool>`` after a flag, and the usage line names arguments the usual
    way (``RUN_DIR``, ``[NAME]``) instead of Typer's ``{run_dir}``."""

    def get_params(self, ctx):
        return _no_flag_type(super().get_params(ctx))

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.display_name_raw.upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def use_plain_help(app: typer.Typer) -> None:
    """Makes ``app`` and its sub-apps of class :class:`Group`, and their
    commands of class :class:`Command` (those left with Typer's
    defaults)."""
    if isinstance(app.info.cls, DefaultPlaceholder) or \
            app.info.cls in (None, TyperGroup):
        app.info.cls = Group
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = Command
        info.short_help = info.short_help or _summary(
            info.help or inspect.getdoc(info.callback))
    for group in app.registered_groups:
        group.short_help = group.short_help or _summary(
            _value(group.help) or _value(group.typer_instance.info.help))
        use_plain_help(group.typer_instance)


def _summary(text: Optional[str]) -> Optional[str]:
    # A help text's first paragraph on one line: in a group's list of
    # commands, Typer's rich help keeps the docstring's line breaks.
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split()) \
        if text else None


def _value(option):
    return None if isinstance(option, DefaultPlaceholder) else option


def given(ctx: "typer.Context", name: str) -> bool:
    """Whether the parameter :obj:`name` was given on the command line."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


class ProgressHookBar:
    """A feature-extraction progress hook (``hook(advance, total,
    description)``, see :data:`dsgdn_pyg.features.ProgressHook`) drawing one
    rich bar per modality, counting utterances.

    As a context manager it starts :obj:`progress` with the first bar and
    stops it at the end: an error found before any work is then the only
    output (a stopped rich progress prints a line even with no bar).
    """

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: Dict[str, int] = {}

    def __enter__(self) -> "ProgressHookBar":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.tasks:
            self.progress.stop()

    def __call__(self, advance: int, total: int, description: str) -> None:
        if description not in self.tasks:
            self.progress.start()  # a no-op once started
            self.tasks[description] = self.progress.add_task(
                f"{description} utterances", total=total)
        self.progress.update(self.tasks[description], advance=advance,
                             total=total)
