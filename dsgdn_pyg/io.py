"""Atomic file writes shared by run directories, feature folders and
predictions (a reader, or a crash, never meets half a file), and the checks
of input and output paths made before any work; strict JSON."""

import errno
import glob
import json
import math
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, List, Optional

from dsgdn_pyg.errors import DataError

# The temporary files of :func:`atomic_write`: ``.<name>.<12 hex>.tmp``.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def temporary_name(path: Path) -> Path:
    """Where :func:`atomic_write` first writes :obj:`path`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Writes through ``write(file)`` (a binary file) into a temporary file
    beside ``path`` and renames it into place. Unlike ``tempfile.mkstemp``
    the file gets the usual permissions (0666 less the umask). Temporaries
    of ``path`` that a killed writer left are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if TEMPORARY.match(stale.name) and len(stale.name) == \
                len(path.name) + 18:
            stale.unlink(missing_ok=True)
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename is None:
            # A full disk: say which file could not be written.
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of a UTF-8 text."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def path_problem(path: Path) -> Optional[str]:
    """Why ``path`` cannot be read as a regular file (``"no such file"``,
    ``"is a directory"``, ``"is a character device"``, ...), or ``None``
    when it is one. Reading ``/dev/zero`` or a FIFO would never end, so
    callers check this before opening a path they were given."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except NotADirectoryError:
        return "no such file (a parent is not a directory)"
    except PermissionError:
        return "permission denied"
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return f"is {kind}, not a regular file"
    return "is not a regular file"


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def check_corpus_path(path: Path, what: str = "") -> None:
    """Raises :class:`~dsgdn_pyg.errors.DataError` (one line naming
    :obj:`what`, e.g. ``"--data"``, and the path) unless :obj:`path` is a
    folder (of dialogues) or a regular ``.pkl`` file (a feature bundle),
    before either is read."""
    path = Path(path)
    if path.is_dir():
        return
    where = f"{what} {path}" if what else str(path)
    expected = "expected a feature bundle (.pkl) or a dialogue folder"
    problem = path_problem(path)
    if problem == "no such file":
        problem = "no such file or directory"
    if problem:
        raise DataError(f"{where}: {problem}; {expected}")
    if path.suffix != ".pkl":
        raise DataError(f"{where}: a file without the .pkl suffix; "
                        f"{expected}")


def check_writable(path: Path, what: str, directory: bool = False) -> None:
    """Raises ``ValueError`` (one line naming :obj:`what` and the path as
    given) unless :obj:`path` can be written: a file path that is not a
    directory (or, with :obj:`directory`, a directory path that is not a
    file) under a directory where a file can be created; missing parents are
    fine (they are created). The probe creates and removes one temporary
    file in the nearest existing folder, so read-only mounts, ``/proc`` and
    unwritable folders are found before any work (``os.access`` cannot tell
    them apart for root). Nothing is left behind."""
    path = Path(path)
    where = f"{what} {path}"
    if directory and path.exists() and not path.is_dir():
        raise ValueError(f"{where}: is a file; expected a directory")
    if not directory and path.is_dir():
        raise ValueError(f"{where}: is a directory; expected a file path")
    if not directory and path.exists() and not path.is_file():
        raise ValueError(f"{where}: {path_problem(path)}; expected a "
                         f"regular file path")
    folder = path if directory else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{where}: {folder} is a file, so nothing can be "
                         f"created under it; expected a path under a "
                         f"directory")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        # /proc answers ENOENT for a folder that exists: say what it means.
        reason = "the system refuses them" \
            if exc.errno == errno.ENOENT else exc.strerror or str(exc)
        raise ValueError(f"{where}: cannot create files in {folder} "
                         f"({reason}); expected a writable location") \
            from None


def same_path(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (symbolic links and
    ``..`` resolved; either may not exist yet)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def is_within(path: Path, folder: Path) -> bool:
    """Whether :obj:`path` is :obj:`folder` or lies under it (symbolic
    links resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(
        os.path.realpath(folder))


def check_not_input(path: Path, what: str, inputs=(), folders=()) -> None:
    """Refuses an output that would replace one of the command's inputs:
    :obj:`path` may not be any of :obj:`inputs` (``(name, path)`` pairs of
    files or folders the command reads) nor lie inside any of
    :obj:`folders` (``(name, folder)`` pairs the command reads as a whole:
    a run directory, a feature folder). One-line ``ValueError`` naming
    :obj:`what`, the path and the input."""
    for name, source in inputs:
        if source is not None and same_path(path, source):
            raise ValueError(f"{what} {path}: is {name}, an input of this "
                             f"command; expected another path (an output "
                             f"never replaces an input)")
    for name, folder in folders:
        if folder is not None and is_within(path, folder):
            raise ValueError(f"{what} {path}: lies inside {name} {folder}, "
                             f"an input of this command; expected a path "
                             f"outside it (an output never replaces an "
                             f"input)")


def remove_stale_temporaries(folder: Path) -> List[Path]:
    """Deletes the temporary files that a killed :func:`atomic_write` left
    under :obj:`folder` (recursively) and returns them. Only for a folder
    that no other process is writing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(".*.tmp")
             if p.is_file() and TEMPORARY.match(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def finite_or_none(obj: Any) -> Any:
    """:obj:`obj` with every non-finite float replaced by ``None``, so that
    it is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def to_json(obj: Any, **kwargs) -> str:
    """Strict JSON (no ``NaN`` or ``Infinity``: non-finite values become
    ``null``)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)
