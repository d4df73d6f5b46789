"""One writer per folder: an OS file lock on a ``.lock`` file inside it.

``dsgdn train`` holds its run directory's lock from before it touches the
directory until it ends; an experiment holds each run's while it trains it,
and its folder's while it merges its manifest or writes its report. The lock
is the kernel's (``flock(2)``): it goes with the process, so a writer killed
with ``kill -9`` never leaves a stale lock behind (only its lock file, which
names its PID and locks nothing). While held, the file names the holder's
PID, which the error of a second writer quotes; the holder removes it when
it lets go (a waiter that then finds its file gone locks afresh). Locks
work on local file systems and on NFS (Linux emulates ``flock`` there with
byte-range locks).

A process may take a lock it already holds again (the count goes up): an
experiment worker holds a run's lock and then calls :func:`run_training`,
which takes it too.
"""

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

LOCK = ".lock"

# Lock files this process holds: resolved path -> [fd, count].
_held: Dict[str, List[int]] = {}


class RunLocked(ValueError):
    """Another process holds the lock; :attr:`pid` is its PID where the lock
    file names it."""

    def __init__(self, message: str, pid: Optional[int]):
        super().__init__(message)
        self.pid = pid


def _read_pid(fd: int) -> Optional[int]:
    """The PID the holder wrote (it writes it right after locking: wait a
    moment for it)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


def _acquire(path: Path, wait: bool, what: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"PID {pid}" if pid else "PID unknown"
            raise RunLocked(f"{what}: another process ({who}) is writing "
                            f"it; wait until it ends (or stop it), then "
                            f"try again", pid) from None
        except BaseException:
            os.close(fd)
            raise
        # The file may have been removed (and made again) by its previous
        # holder while we waited: then this lock guards nothing.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


@contextlib.contextmanager
def hold(folder, what: str, wait: bool = False,
         name: str = LOCK) -> Iterator[Path]:
    """Holds the lock of :obj:`folder` (which must exist) for the ``with``
    block; yields the lock file's path. Raises :class:`RunLocked` (a
    one-line ``ValueError`` starting with :obj:`what` and naming the
    holder's PID) when another process holds it, or waits for it with
    :obj:`wait`."""
    path = Path(folder) / name
    key = str(path.resolve())
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(path, wait, what), 1]
    try:
        yield path
    finally:
        entry = _held[key]
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            path.unlink(missing_ok=True)  # still ours: only holders unlink
            os.close(entry[0])  # releases the lock


def discard(folder, name: str = LOCK) -> None:
    """Removes the lock file of a folder this process holds and is about to
    remove (a waiter on it then finds it gone and locks afresh)."""
    (Path(folder) / name).unlink(missing_ok=True)
