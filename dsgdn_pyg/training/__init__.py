"""Training, evaluation and run directories."""

from dsgdn_pyg.training.config import (RECIPES, TrainConfig,
                                       recipe_config)
from dsgdn_pyg.training.device import resolve_device
from dsgdn_pyg.training.evaluation import SplitMetrics, evaluate
from dsgdn_pyg.training.report import RunResult, summarize
from dsgdn_pyg.training.runs import evaluate_run, load_model, load_run_corpus
from dsgdn_pyg.training.trainer import TrainCallback, train_run

__all__ = [
    "RECIPES", "RunResult", "SplitMetrics", "TrainCallback", "TrainConfig",
    "evaluate", "evaluate_run", "load_model", "load_run_corpus",
    "recipe_config", "resolve_device", "summarize", "train_run",
]
