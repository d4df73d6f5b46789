"""The outcome of a seed: its :class:`RunResult`, the ``report.json`` and
readable ``report.md`` it leaves in its run directory, reading a finished
seed back, and the summary over seeds."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.evaluation import SplitMetrics


@dataclass
class RunResult:
    """The outcome of one seed."""
    seed: int
    best_epoch: int
    select_on: str
    valid: SplitMetrics
    test: SplitMetrics
    seconds_per_epoch: float
    history: List[dict] = field(default_factory=list)
    run_dir: Optional[str] = None


def load_result(run_dir: Path) -> RunResult:
    """The :class:`RunResult` of a finished seed, read back from its
    ``report.json`` and ``metrics.jsonl``."""
    run_dir = Path(run_dir)
    report = json.loads((run_dir / files.REPORT_JSON).read_text())
    history = [json.loads(line) for line in
               (run_dir / files.METRICS).read_text().splitlines() if line]
    return RunResult(
        seed=report["seed"], best_epoch=report["best_epoch"],
        select_on=report["selected_on"],
        valid=SplitMetrics(**report["valid"]),
        test=SplitMetrics(**report["test"]),
        seconds_per_epoch=report["seconds_per_epoch"], history=history,
        run_dir=str(run_dir))


def summarize(results: Sequence[RunResult]) -> Dict[str, Dict[str, float]]:
    """Mean and (sample) standard deviation over seeds of the selected
    epochs' metrics."""
    out = {}
    for split in ("valid", "test"):
        for metric in ("weighted_f1", "accuracy"):
            values = np.array([getattr(getattr(r, split), metric)
                               for r in results])
            out[f"{split}_{metric}"] = dict(
                mean=float(values.mean()),
                std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                values=values.tolist())
    return out


def report_dict(result: RunResult, classes: Sequence[str]) -> dict:
    """What ``report.json`` holds."""
    return dict(seed=result.seed, best_epoch=result.best_epoch,
                selected_on=result.select_on,
                legacy_protocol=result.select_on == "test",
                classes=list(classes), valid=result.valid.to_dict(),
                test=result.test.to_dict(),
                seconds_per_epoch=result.seconds_per_epoch)


def write_report(out_dir: Path, result: RunResult,
                 classes: Sequence[str]) -> None:
    """``report.json`` and a readable ``report.md`` with the confusion
    matrix."""
    files.write_json(Path(out_dir) / files.REPORT_JSON,
                     report_dict(result, classes))
    files.write_text(Path(out_dir) / files.REPORT_MD,
                     format_report(result, classes))


def format_report(result: RunResult, classes: Sequence[str]) -> str:
    """The text of ``report.md``: the selected epoch's metrics, the test
    per-class F1 and the test confusion matrix, as Markdown tables."""
    protocol = ("LEGACY protocol: epoch selected on TEST"
                if result.select_on == "test" else
                "epoch selected on validation")
    lines = [f"# Run report (seed {result.seed})", "",
             f"Best epoch {result.best_epoch} ({protocol}).", "",
             "| split | weighted F1 | accuracy | utterances |",
             "|---|---|---|---|"]
    for split in ("valid", "test"):
        m = getattr(result, split)
        lines.append(f"| {split} | {100 * m.weighted_f1:.2f} | "
                     f"{100 * m.accuracy:.2f} | {m.num_utterances} |")
    lines += ["", "## Test per-class F1", "", "| class | F1 |", "|---|---|"]
    lines += [f"| {c} | {100 * f:.2f} |"
              for c, f in zip(classes, result.test.per_class_f1)]
    lines += ["", "## Test confusion matrix (rows true, columns predicted)",
              "", "| | " + " | ".join(classes) + " |",
              "|---" * (len(classes) + 1) + "|"]
    lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |"
              for c, row in zip(classes, result.test.confusion)]
    return "\n".join(lines) + "\n"
