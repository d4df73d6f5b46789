"""The files of a run directory, each written atomically.

``config.json`` (the request, the model and training configuration),
``metrics.jsonl`` (one line per epoch), ``best.pt`` (state dict plus
everything needed to rebuild the model), ``last.pt`` (the state to resume
from, after every epoch), ``report.json`` / ``report.md`` (metrics at the
selected epoch, per-class F1, confusion matrix; written when a seed
finishes) and, last, ``summary.json``: a run directory is complete exactly
when it holds ``summary.json``. A run that stopped on a non-finite loss or
parameter holds ``diverged.json`` instead, saying where. Its ``.lock``
is the lock of the one process writing it
(:mod:`dsgdn_pyg.training.lock`).

The bytes of a checkpoint depend on its values only (see
:func:`save_checkpoint`), so a resumed run's ``best.pt`` is the
uninterrupted run's file, and ``last.pt`` records the SHA-256 of the
``best.pt`` it goes with: a resume checks that it carries on its own files.
"""

import hashlib
import io
import json
import pickle
import re
import shutil
import sys
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import (TEMPORARY, atomic_write,  # noqa: F401
                          atomic_write_text, finite_or_none,
                          remove_stale_temporaries, temporary_name, to_json)
from dsgdn_pyg.training.lock import LOCK

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "best.pt"
LAST = "last.pt"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SUMMARY = "summary.json"
#: Written where training stopped on a non-finite loss or parameter.
DIVERGED = "diverged.json"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, LAST, REPORT_JSON, REPORT_MD,
             SUMMARY, DIVERGED)
SEED_DIR = re.compile(r"^seed-\d+$")


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def write_metrics(path: Path, records: List[dict]) -> None:
    """Rewrites ``metrics.jsonl`` with all epochs so far (small: one line per
    epoch), atomically."""
    atomic_write_text(path, "".join(to_json(r) + "\n" for r in records))


def canonical(obj: Any) -> Any:
    """:obj:`obj` with every dict, list and tuple rebuilt and every string
    interned, so that its pickle depends on its values only.

    ``pickle`` writes an object met a second time as a reference to the
    first: two equal strings that are one object in one process (a
    request built from the command line) and two in another (the same
    request read back from ``config.json`` by ``--resume``) give other
    bytes. Interned, equal strings are always one object; rebuilt, no
    container is ever shared."""
    if isinstance(obj, str):
        return sys.intern(str(obj))
    if type(obj) is OrderedDict:  # a state dict, with its _metadata
        out = OrderedDict((canonical(k), canonical(v))
                          for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = canonical(obj._metadata)
        return out
    if type(obj) is dict:
        return {canonical(k): canonical(v) for k, v in obj.items()}
    if type(obj) is list:
        return [canonical(v) for v in obj]
    if type(obj) is tuple:
        return tuple(canonical(v) for v in obj)
    return obj


def save_checkpoint(path: Path, payload: Dict[str, Any]) -> str:
    """``torch.save`` of :func:`canonical` ``(payload)`` into memory (the
    same values always give the same bytes), then an atomic write of the
    bytes: a full disk is then an ``OSError`` (ENOSPC) naming the file,
    which torch's own writer would turn into an opaque ``RuntimeError``;
    the previous checkpoint stays in place. Returns the bytes' SHA-256."""
    import torch  # here only: the CLI checks a run's location without it

    buffer = io.BytesIO()
    torch.save(canonical(payload), buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identity(run_config: Dict[str, Any]) -> Dict[str, Any]:
    """What makes a run itself: its configuration without where and by
    which version it runs (``--resume`` may change the device; the data's
    absolute path depends on the working directory, and runs before it was
    recorded have none)."""
    out = {k: v for k, v in run_config.items() if k != "version"}
    for key, where in (("train", "device"), ("request", "device"),
                       ("data", "path")):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k != where}
    return json.loads(to_json(out))


def identity_digest(run_config: Dict[str, Any]) -> str:
    """SHA-256 of :func:`identity` (canonical JSON)."""
    return hashlib.sha256(to_json(identity(run_config), sort_keys=True)
                          .encode()).hexdigest()


def load_checkpoint(run_dir: Path, name: str = CHECKPOINT) -> Dict[str, Any]:
    """Loads ``best.pt`` (or :obj:`name`) of a run without executing code
    from it (``weights_only=True``)."""
    import torch

    path = Path(run_dir) / name
    if not path.is_file():
        raise DataError(f"{path}: no checkpoint; expected a run directory "
                        f"written by `dsgdn train`")
    try:
        with warnings.catch_warnings():  # torch's protocol notes
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message would suggest weights_only=False, which runs
        # whatever code the file holds: never advise that.
        raise DataError(f"{path}: not loaded: it is corrupt or names "
                        f"objects other than tensors and plain values; "
                        f"expected the {name} written by `dsgdn train`") \
            from None
    except Exception:  # noqa: BLE001 - any unreadable file
        raise DataError(f"{path}: unreadable checkpoint (truncated or "
                        f"corrupt); expected the {name} written by "
                        f"`dsgdn train`") from None


def seed_runs(run_dir) -> List[Tuple[int, Path]]:
    """``[(seed, directory)]`` of a run of several seeds (its ``seed-<n>``
    sub-directories, in seed order); ``[]`` for a run of one seed (a
    ``best.pt`` of its own) or anything else."""
    path = Path(run_dir)
    if (path / CHECKPOINT).exists() or not path.is_dir():
        return []
    seeds = sorted((int(p.name[5:]), p) for p in path.iterdir()
                   if p.is_dir() and SEED_DIR.match(p.name))
    if not seeds:
        return []
    asked = _asked_seeds(path)
    if asked is not None:  # in the order asked for
        order = {s: i for i, s in enumerate(asked)}
        seeds.sort(key=lambda item: order.get(item[0], len(order)))
    return seeds


def requested_seeds(run_dir) -> List[int]:
    """The seeds a run of several seeds was started with (its
    ``config.json``), those without a directory or checkpoint included;
    the seeds of its directories when that is unreadable."""
    asked = _asked_seeds(Path(run_dir))
    return asked if asked is not None else \
        [seed for seed, _ in seed_runs(run_dir)]


def _asked_seeds(path: Path) -> Optional[List[int]]:
    # The seeds config.json's request names, None when it names none.
    try:
        return [int(s) for s in json.loads((path / CONFIG).read_text())[
            "request"]["seeds"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_run_dir(path, what: str = "RUN_DIR") -> None:
    """A one-line :class:`~dsgdn_pyg.errors.DataError` naming :obj:`what`
    unless :obj:`path` is a directory holding a ``best.pt`` or the
    ``seed-<n>`` runs of several seeds: the run a command reads, checked
    before torch is imported (its files are checked as they are loaded)."""
    path = Path(path)
    expected = "expected a run directory written by `dsgdn train`"
    if not path.is_dir():
        problem = "no such directory" if not path.exists() else \
            "is a file, not a directory"
        raise DataError(f"{what} {path}: {problem}; {expected}")
    if (path / CHECKPOINT).is_file():
        return
    try:
        seeds = seed_runs(path)
    except OSError as exc:
        raise DataError(f"{what} {path}: cannot be read ({exc.strerror}); "
                        f"{expected}") from None
    if not seeds:
        raise DataError(f"{what} {path}: no {CHECKPOINT} (nor the seed-<n> "
                        f"runs of several seeds); {expected}")


def run_status(path) -> str:
    """``"complete"`` when the run directory holds ``summary.json`` (written
    last), ``"diverged"`` when training stopped on a non-finite value
    (``diverged.json``, see :func:`divergence`), ``"empty"`` when it is
    missing or holds nothing (but perhaps the temporary of a killed first
    write), else ``"incomplete"`` (interrupted, or still running)."""
    path = Path(path)
    if (path / SUMMARY).is_file():
        return "complete"
    if (path / DIVERGED).is_file():
        return "diverged"
    if not path.is_dir() or all(TEMPORARY.match(p.name) or p.name == LOCK
                                for p in path.iterdir()):
        return "empty"
    return "incomplete"


def divergence(path) -> str:
    """What the ``diverged.json`` of the run in :obj:`path` says, on one
    line (the epoch, the value that was not finite, what ``best.pt``
    keeps)."""
    try:
        record = json.loads((Path(path) / DIVERGED).read_text())
        return str(record["error"]).splitlines()[0]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return f"training diverged (see {Path(path) / DIVERGED})"


def _foreign_files(path: Path) -> List[str]:
    """Names in :obj:`path` that ``dsgdn train`` does not write."""
    foreign = []
    for child in path.iterdir():
        if child.is_dir() and SEED_DIR.match(child.name):
            foreign += [f"{child.name}/{n}" for n in _foreign_files(child)]
        elif not child.is_file() or not (child.name in RUN_FILES
                                         or child.name == LOCK
                                         or TEMPORARY.match(child.name)):
            foreign.append(child.name)
    return foreign


def check_location(path, resume: bool = False) -> None:
    """What :func:`prepare` refuses without writing anything: a file, and
    (:obj:`resume`) a location holding no run."""
    path = Path(path)
    option = "--resume" if resume else "--out"
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file; expected a run "
                         f"directory")
    if resume and not (path / CONFIG).is_file():
        raise ValueError(f"--resume {path}: no run to resume (expected "
                         f"a directory written by `dsgdn train`)")


def missing_dirs(path) -> List[Path]:
    """:obj:`path` and those of its parents that do not exist yet, deepest
    first: what :func:`make_dir` creates, and a refused run removes."""
    path, missing = Path(path), []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def remove_empty_dirs(folders: List[Path]) -> None:
    """Removes :obj:`folders` (:func:`missing_dirs`, deepest first) up to
    the first that is not empty: another run may have started in the same
    ``runs/`` since."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def make_dir(path, resume: bool = False) -> None:
    """Creates the run directory (and its parents): a one-line error naming
    the option where that is impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        option = "--resume" if resume else "--out"
        raise ValueError(f"{option} {path}: cannot write there "
                         f"({exc.strerror or exc})") from None


def clear_run(path) -> None:
    """Removes the run in :obj:`path` (``--overwrite``), all but the lock
    this process holds: only once the run replacing it has read its data,
    so a refused or interrupted start keeps the old run."""
    for child in Path(path).iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        elif child.name != LOCK:
            child.unlink()


def prepare(path, resume: bool = False, overwrite: bool = False) -> None:
    """Makes :obj:`path` ready for a run before any work is done: refuses a
    file, a directory holding another run (unless :obj:`resume`, or
    :obj:`overwrite`: :func:`clear_run` then replaces it once the new run's
    data is read) or files of anything else, and an unwritable location;
    removes the temporaries a killed run left. Call it holding the run's
    lock (the temporaries could be another writer's)."""
    path = Path(path)
    option = "--resume" if resume else "--out"
    check_location(path, resume)
    if path.is_dir() and not _foreign_files(path):
        try:  # only in a run's own directory
            remove_stale_temporaries(path)
        except OSError:
            pass  # unwritable: said below
    if resume:
        if run_status(path) == "empty" or not (path / CONFIG).is_file():
            raise ValueError(f"--resume {path}: no run to resume (expected "
                             f"a directory written by `dsgdn train`)")
        if overwrite:
            raise ValueError("--resume and --overwrite: choose one")
    elif path.is_dir() and any(p.name != LOCK for p in path.iterdir()):
        foreign = _foreign_files(path)
        if foreign:
            raise ValueError(
                f"--out {path}: holds files that `dsgdn train` did not write "
                f"(e.g. {foreign[0]}); choose a new or empty directory")
        if not overwrite:
            raise ValueError(
                f"--out {path}: holds another run; pass --resume {path} to "
                f"continue it or --overwrite to replace it")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = temporary_name(path / "writable")
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write there "
                         f"({exc.strerror or exc})") from None
