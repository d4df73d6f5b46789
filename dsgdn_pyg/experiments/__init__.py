"""The paper's experiments as commands: named grids of `dsgdn train`
configurations, resumable parallel sweeps over cells and seeds, and their
tables and plots."""

from dsgdn_pyg.experiments.registry import (EXPERIMENTS, Cell, Condition,
                                            Experiment, get_experiment)
from dsgdn_pyg.experiments.runner import run_experiment

__all__ = ["Cell", "Condition", "EXPERIMENTS", "Experiment",
           "get_experiment", "run_experiment"]
