"""Training, evaluation and run directories.

The names below are imported on first use, so that the CLI can read its
options (:mod:`dsgdn_pyg.training.options`) and answer ``--help`` without
importing torch and PyG first (seconds on a laptop).
"""

from dsgdn_pyg.lazy_exports import lazy_exports

_WHERE = {
    "RECIPES": "config", "TrainConfig": "config", "recipe_config": "config",
    "resolve_device": "device",
    "SplitMetrics": "evaluation", "evaluate": "evaluation",
    "RunResult": "report", "summarize": "report",
    "evaluate_run": "runs", "load_model": "runs", "load_run_corpus": "runs",
    "TrainCallback": "trainer", "train_run": "trainer",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
