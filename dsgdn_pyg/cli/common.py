"""What every command shares: consoles and the one-line error exit."""

import contextlib
from typing import Dict, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from dsgdn_pyg.errors import MissingExtraError, TrainingDiverged

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2  # bad option or data, unwritable output, disk full
EXIT_DIVERGED = 3  # training stopped on a non-finite loss or parameter
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it


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
    one-line error and exit code 2 (3 for divergence, 130 for Ctrl-C), with
    no traceback."""
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


class ProgressHookBar:
    """A feature-extraction progress hook (``hook(advance, total,
    description)``, see :data:`dsgdn_pyg.features.ProgressHook`) drawing one
    rich bar per modality, counting utterances."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: Dict[str, int] = {}

    def __call__(self, advance: int, total: int, description: str) -> None:
        if description not in self.tasks:
            self.tasks[description] = self.progress.add_task(
                f"{description} utterances", total=total)
        self.progress.update(self.tasks[description], advance=advance,
                             total=total)
