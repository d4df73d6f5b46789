"""The paper's experiments as commands: named grids of `dsgdn train`
configurations, resumable parallel sweeps over cells and seeds, and their
tables and plots.

The names below are imported on first use, as in
:mod:`dsgdn_pyg.training`, so that ``dsgdn experiment`` checks its options,
cells and paths before it imports torch and PyG (seconds on a laptop).
"""

from dsgdn_pyg.lazy_exports import lazy_exports

_WHERE = {"Cell": "registry", "Condition": "registry",
          "EXPERIMENTS": "registry", "Experiment": "registry",
          "get_experiment": "registry", "run_experiment": "runner"}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
