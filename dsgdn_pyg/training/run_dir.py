"""The files of a run directory, each written atomically.

``config.json``, ``metrics.jsonl`` (one line per epoch), ``best.pt`` (state
dict plus everything needed to rebuild the model) and ``report.json`` /
``report.md`` (metrics at the selected epoch, per-class F1, confusion
matrix).
"""

import json
from pathlib import Path
from typing import Any, Dict, List

import torch

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import atomic_write, atomic_write_text

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "best.pt"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SUMMARY = "summary.json"


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def write_metrics(path: Path, records: List[dict]) -> None:
    """Rewrites ``metrics.jsonl`` with all epochs so far (small: one line per
    epoch), atomically."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def save_checkpoint(path: Path, payload: Dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(run_dir: Path) -> Dict[str, Any]:
    """Loads ``best.pt`` of a run without executing code from it
    (``weights_only=True``)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise DataError(f"{path}: no checkpoint; expected a run directory "
                        f"written by `dsgdn train`")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise DataError(f"{path}: unreadable checkpoint "
                        f"({type(exc).__name__}: {exc})".splitlines()[0]) \
            from None


def run_status(path) -> str:
    """``"complete"`` (its ``summary.json``, written last, exists),
    ``"incomplete"`` (anything else in it) or ``"empty"`` (missing or
    empty).

    STAND-IN (issue 11) for issue 10's implementation, same contract."""
    path = Path(path)
    if (path / SUMMARY).is_file():
        return "complete"
    if path.is_dir() and any(path.iterdir()):
        return "incomplete"
    return "empty"
