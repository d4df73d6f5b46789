"""dsgdn-pyg: AMB-DSGDN (arXiv 2603.10043) for PyTorch Geometric.

Dialogues become sparse typed graphs, a differential graph attention layer
(:class:`dsgdn_pyg.nn.DiffGATConv`) filters shared noise, and adaptive
modality dropout keeps one modality from drowning out the others.
"""

__version__ = "0.1.0"

__all__ = ["Predictor", "__version__"]


def __getattr__(name):
    # Imported on first use so that `import dsgdn_pyg` (and `dsgdn --version`)
    # stays light.
    if name == "Predictor":
        from dsgdn_pyg.predict import Predictor
        return Predictor
    raise AttributeError(f"module 'dsgdn_pyg' has no attribute {name!r}")
