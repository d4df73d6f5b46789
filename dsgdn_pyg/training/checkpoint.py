"""The two checkpoints of a run directory, the random state a resume
restores, and the checks that a resume carries on the run's own files.

``best.pt`` holds the weights of the selected epoch, that epoch and the
run's configuration (``version``, ``model``, ``train``, ``data`` and
``request``: all :func:`~dsgdn_pyg.training.load_model` needs);
``last.pt``, written after every epoch, holds the weights, the optimiser,
the epochs done (their ``metrics.jsonl`` records), every random state, the
digest of the run's configuration and the selected epoch with the SHA-256
of its ``best.pt``. Both keep the weights under :data:`WEIGHTS`
(``"state_dict"``); an earlier ``last.pt`` keeps them under ``"model"``
(:data:`LEGACY_LAST_WEIGHTS`) and is read as well, so a run started
before the two were named alike still resumes.
"""

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.evaluation import SelectedEpoch

WEIGHTS = "state_dict"
LEGACY_LAST_WEIGHTS = "model"


def weights(payload: dict) -> dict:
    """The model's state dict a loaded checkpoint holds (a ``best.pt``, or
    a ``last.pt`` of either naming); :class:`KeyError` if none."""
    if WEIGHTS in payload:
        return payload[WEIGHTS]
    if "optimizer" in payload and LEGACY_LAST_WEIGHTS in payload:
        return payload[LEGACY_LAST_WEIGHTS]  # an earlier last.pt
    raise KeyError(WEIGHTS)


@dataclass
class Progress:
    """Where a run stands after :obj:`epoch` epochs: their
    ``metrics.jsonl`` records, the epoch selected so far and the SHA-256 of
    its ``best.pt`` (``None`` where there is none, or an older ``last.pt``
    does not record it)."""
    epoch: int = 0
    history: List[dict] = field(default_factory=list)
    selected: Optional[SelectedEpoch] = None
    best_digest: Optional[str] = None


def save_best(run_dir: Path, model: torch.nn.Module, epoch: int,
              run_config: dict) -> str:
    """Writes ``best.pt``; returns its SHA-256."""
    return files.save_checkpoint(
        Path(run_dir) / files.CHECKPOINT,
        {WEIGHTS: model.state_dict(), "epoch": epoch, **run_config})


def save_last(run_dir: Path, model: torch.nn.Module,
              optimizer: torch.optim.Optimizer, progress: Progress,
              loader_generator: torch.Generator, draw: random.Random,
              run_config: dict) -> None:
    """Writes ``last.pt``: all a resume needs to carry on after
    :obj:`progress.epoch` as if never interrupted."""
    selected = progress.selected
    files.save_checkpoint(Path(run_dir) / files.LAST, {
        WEIGHTS: model.state_dict(), "optimizer": optimizer.state_dict(),
        "epoch": progress.epoch, "history": progress.history,
        "rng": rng_states(loader_generator, draw),
        "run": files.identity_digest(run_config),
        "best": dict(selected.to_dict(), sha256=progress.best_digest)})


def load_last(run_dir: Path, run_config: dict, model: torch.nn.Module,
              optimizer: torch.optim.Optimizer,
              loader_generator: torch.Generator,
              draw: random.Random) -> Progress:
    """Restores the model, the optimiser and every random state from the
    run's ``last.pt`` once it and ``best.pt`` are checked to be the run's
    own (:func:`check_own`); returns the progress it records."""
    state = files.load_checkpoint(run_dir, files.LAST)
    best_digest = check_own(run_dir, state, run_config)
    model.load_state_dict(weights(state))
    optimizer.load_state_dict(state["optimizer"])
    best = state["best"]
    progress = Progress(
        epoch=state["epoch"], history=list(state["history"]),
        selected=None if best is None else SelectedEpoch.from_dict(best),
        best_digest=best_digest)
    set_rng_states(state["rng"], loader_generator, draw)
    return progress


def rng_states(loader_generator: torch.Generator,
               draw: random.Random) -> dict:
    """Every random state a run draws from: torch (CPU and CUDA), numpy,
    Python, the DataLoader's shuffle generator and the trainer's
    :class:`random.Random` of the modality-dropout draws (Alg. 2). numpy's
    key becomes a tensor so that ``weights_only`` loading reads it."""
    state = np.random.get_state(legacy=False)
    return dict(
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available()
        else [],
        numpy=dict(state, state=dict(
            key=torch.from_numpy(state["state"]["key"].astype(np.int64)),
            pos=state["state"]["pos"])),
        python=random.getstate(), loader=loader_generator.get_state(),
        draw=draw.getstate())


def set_rng_states(states: dict, loader_generator: torch.Generator,
                   draw: random.Random) -> None:
    """Restores what :func:`rng_states` recorded."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy = dict(states["numpy"])
    numpy["state"] = dict(key=numpy["state"]["key"].numpy().astype(
        np.uint32), pos=numpy["state"]["pos"])
    np.random.set_state(numpy)
    random.setstate(_as_tuples(states["python"]))
    loader_generator.set_state(states["loader"])
    draw.setstate(_as_tuples(states["draw"]))


def _as_tuples(value):
    """Python's random state with its nested tuples (a checkpoint may hand
    them back as lists)."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


def check_own(run_dir: Path, state: dict, run_config: dict) -> Optional[str]:
    """Checks that the ``last.pt`` state :obj:`state` and the run's
    ``best.pt`` are this run's own before a resume carries them on: the
    configuration digest that ``last.pt`` records must be the run's, and
    ``best.pt`` the file whose SHA-256 it records (or, where a kill fell
    between the two writes of an improving epoch, this run's checkpoint of
    the epoch after, which the resume computes again). Returns the digest
    of the ``best.pt`` in place; a one-line :class:`DataError` otherwise.
    (A ``last.pt`` of an older version records neither: not checked.)"""
    where = f"--resume {run_dir}"
    recorded = state.get("run")
    if recorded is not None and recorded != files.identity_digest(run_config):
        raise DataError(f"{where}: {files.LAST} is not this run's (it "
                        f"records another configuration); restore the "
                        f"run's own {files.LAST}, or start it again with "
                        f"--overwrite")
    expected = (state.get("best") or {}).get("sha256")
    if expected is None:
        return None
    path = Path(run_dir) / files.CHECKPOINT
    if not path.is_file():
        raise DataError(f"{where}: {files.CHECKPOINT} is missing ({files.LAST}"
                        f" records the one of epoch {state['best']['epoch']});"
                        f" restore it, or start the run again with "
                        f"--overwrite")
    digest = files.file_digest(path)
    if digest == expected:
        return digest
    try:
        best = files.load_checkpoint(run_dir)
        own = best.get("epoch") == state["epoch"] + 1 and \
            files.identity({k: best.get(k) for k in run_config}) == \
            files.identity(run_config)
    except DataError:
        own = False
    if not own:
        raise DataError(f"{where}: {files.CHECKPOINT} is not this run's (its "
                        f"SHA-256 is not the one {files.LAST} records for "
                        f"epoch {state['best']['epoch']}); restore the run's "
                        f"own {files.CHECKPOINT}, or start it again with "
                        f"--overwrite")
    return digest


def check_finished(run_dir: Path) -> None:
    """Checks that a finished seed's ``best.pt`` is the one its ``last.pt``
    records (a one-line :class:`DataError` otherwise)."""
    run_dir = Path(run_dir)
    if not (run_dir / files.LAST).is_file():
        return
    state = files.load_checkpoint(run_dir, files.LAST)
    expected = (state.get("best") or {}).get("sha256")
    path = run_dir / files.CHECKPOINT
    if expected is not None and (not path.is_file() or
                                 files.file_digest(path) != expected):
        raise DataError(f"--resume {run_dir}: {files.CHECKPOINT} is not this "
                        f"run's (its SHA-256 is not the one {files.LAST} "
                        f"records); restore the run's own {files.CHECKPOINT}")
