"""The layers the benchmark compares, built with identical weights, and how
each one is called on a :class:`~dsgdn_pyg.bench.workloads.GraphBatch`."""

from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv

from dsgdn_pyg.bench.config import LAYER_TITLES, LAYERS  # noqa: F401
from dsgdn_pyg.bench.workloads import GraphBatch
from dsgdn_pyg.nn import DiffRGCN
from dsgdn_pyg.nn.diff_rgcn import DiffRGCNBase
from dsgdn_pyg.nn.dense_diff_gat import DenseDiffRGCN


class _GELUGATConv(GATConv):
    """PyG's GATConv without self-loops or bias, followed by GELU: the
    place of one differential attention layer (which applies GELU
    itself)."""

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1,
                 concat: bool = True, dropout: float = 0.0):
        super().__init__(in_channels, out_channels, heads=heads,
                         concat=concat, dropout=dropout,
                         add_self_loops=False, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return F.gelu(super().forward(x, edge_index))


class GATBlock(DiffRGCNBase):
    r"""The :class:`~dsgdn_pyg.nn.DiffRGCN` block with PyG's
    :class:`~torch_geometric.nn.conv.GATConv` (then GELU) in place of each
    differential attention layer: :obj:`heads` GAT heads of width
    :obj:`channels` (concatenated), dropout, one output GAT head, GELU,
    linear, residual and LayerNorm. Same projections as DiffRGCN, so the
    difference between the two is the cost of differential attention over
    plain graph attention (the paper's Table 8). The graphs already hold
    self-loops."""

    def __init__(self, channels: int, heads: int = 2, dropout: float = 0.2):
        super().__init__(_GELUGATConv, channels, heads, dropout)


def make_layers(channels: int, heads: int = 2, dropout: float = 0.2,
                seed: int = 0) -> Dict[str, torch.nn.Module]:
    """The sparse block, the dense block holding the same weights
    (:obj:`load_state_dict`), and the GAT block, all seeded."""
    torch.manual_seed(seed)
    sparse = DiffRGCN(channels, heads=heads, dropout=dropout)
    dense = DenseDiffRGCN(channels, heads=heads, dropout=dropout)
    dense.load_state_dict(sparse.state_dict())
    gat = GATBlock(channels, heads=heads, dropout=dropout)
    return {"sparse": sparse, "dense": dense, "gat": gat}


def layer_runner(name: str, layer: torch.nn.Module,
                 inputs: GraphBatch) -> Callable[[], Tensor]:
    """A closure running :obj:`layer` once on :obj:`inputs` and returning
    the node outputs ``[N, d]``. The dense side gets its padded inputs,
    prepared once outside the timed call; its output is ``[B, L_max, d]``
    (padding rows included, as in the published code)."""
    x = inputs.x
    if name == "sparse":
        return lambda: layer(x, inputs.edge_index, inputs.edge_type)
    if name == "dense":
        x_dense, adj, _ = inputs.dense()
        x_dense = x_dense.detach().requires_grad_(x.requires_grad)
        return lambda: layer(x_dense, adj)
    if name == "gat":
        return lambda: layer(x, inputs.edge_index)
    raise ValueError(f"layer: expected one of {LAYERS}, got {name!r}")
