"""Training, evaluation and run directories.

The names below are imported on first use, so that the CLI can read its
options (:mod:`dsgdn_pyg.training.options`) and answer ``--help`` without
importing torch and PyG first (seconds on a laptop).
"""

import importlib

_WHERE = {
    "RECIPES": "config", "TrainConfig": "config", "recipe_config": "config",
    "resolve_device": "device",
    "SplitMetrics": "evaluation", "evaluate": "evaluation",
    "RunResult": "report", "summarize": "report",
    "evaluate_run": "runs", "load_model": "runs", "load_run_corpus": "runs",
    "TrainCallback": "trainer", "train_run": "trainer",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(
            f"module 'dsgdn_pyg.training' has no attribute {name!r}")
    module = importlib.import_module(f"dsgdn_pyg.training.{_WHERE[name]}")
    return getattr(module, name)


def __dir__():
    return sorted(list(globals()) + __all__)
