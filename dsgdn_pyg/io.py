"""Atomic file writes shared by run directories, feature folders and
predictions: a reader (or a crash) never meets half a file."""

import glob
import os
import re
import secrets
from pathlib import Path
from typing import IO, Callable, List

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
