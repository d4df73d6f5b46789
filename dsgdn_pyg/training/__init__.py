"""Training, evaluation and run directories."""

from dsgdn_pyg.training.config import (RECIPES, TrainConfig,
                                       recipe_config)
from dsgdn_pyg.training.runs import evaluate_run, load_model, load_run_corpus
from dsgdn_pyg.training.trainer import (RunResult, SplitMetrics,
                                        TrainCallback, evaluate,
                                        resolve_device, summarize, train_run)

__all__ = [
    "RECIPES", "RunResult", "SplitMetrics", "TrainCallback", "TrainConfig",
    "evaluate", "evaluate_run", "load_model", "load_run_corpus",
    "recipe_config", "resolve_device", "summarize", "train_run",
]
