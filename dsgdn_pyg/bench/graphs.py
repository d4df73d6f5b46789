"""Graphs the layer suite and the examples read: the heterophilous-graph
files of Platonov et al. (ICLR 2023), a ``.npz`` with ``node_features``,
``node_labels``, ``edges`` (each undirected edge stored once) and ten fixed
``train/val/test_masks`` splits."""

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from dsgdn_pyg.bench.layer_config import (  # noqa: F401 (re-exported)
    default_heterophilous_root)

KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks",
        "test_masks")


def load_heterophilous(path: Path) -> Data:
    """One ``.npz`` as a :class:`~torch_geometric.data.Data` with both
    directions of every edge, ``x``, ``y`` and the ten splits as
    ``train_mask``/``val_mask``/``test_mask`` of shape ``[N, 10]``.
    Raises :class:`ValueError` naming the file when it is absent or lacks
    a field."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected a heterophilous "
                         f"graph .npz)")
    with np.load(path) as raw:
        missing = [k for k in KEYS if k not in raw.files]
        if missing:
            raise ValueError(f"{path}: lacks the field {missing[0]!r} "
                             f"(expected {', '.join(KEYS)})")
        arrays = {k: torch.from_numpy(raw[k]) for k in KEYS}
    num_nodes = arrays["node_features"].size(0)
    edge_index = to_undirected(arrays["edges"].t().long().contiguous(),
                               num_nodes=num_nodes)
    return Data(x=arrays["node_features"].float(),
                y=arrays["node_labels"].long(), edge_index=edge_index,
                train_mask=arrays["train_masks"].t().bool(),
                val_mask=arrays["val_masks"].t().bool(),
                test_mask=arrays["test_masks"].t().bool())
