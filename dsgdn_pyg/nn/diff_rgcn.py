"""The DiffRGCN block: multi-head differential attention with an output head,
a linear map, a residual and LayerNorm (AMB-DSGDN, Sec. 4.5)."""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.typing import Adj, OptTensor

from dsgdn_pyg.nn.diff_gat_conv import DiffGATConv, _sorted_by_target


class DiffRGCNBase(torch.nn.Module):
    r"""What :class:`DiffRGCN` and the dense
    :class:`~dsgdn_pyg.nn.DenseDiffRGCN` share: the submodules (an
    :math:`H`-head attention layer, a one-head output layer, a linear map and
    a LayerNorm, under the same names, so the two load each other's
    :obj:`state_dict`) and the order they run in; the attention layer class
    and the graph arguments are the subclass's."""

    def __init__(self, conv_cls: type, channels: int, heads: int,
                 dropout: float, **conv_kwargs):
        super().__init__()
        self.channels = channels
        self.heads = heads
        self.dropout = dropout
        self.conv = conv_cls(channels, channels, heads=heads, concat=True,
                             dropout=dropout, **conv_kwargs)
        self.out_conv = conv_cls(heads * channels, channels, heads=1,
                                 dropout=dropout, **conv_kwargs)
        self.lin = torch.nn.Linear(channels, channels)
        self.norm = torch.nn.LayerNorm(channels)

    def reset_parameters(self):
        self.conv.reset_parameters()
        self.out_conv.reset_parameters()
        self.lin.reset_parameters()
        self.norm.reset_parameters()

    def run_block(self, x: Tensor, *graph, **conv_kwargs) -> Tensor:
        """Dropout, the heads, dropout, the output head, GELU, the linear
        map, the residual and LayerNorm; :obj:`graph` and
        :obj:`conv_kwargs` go to both attention layers."""
        h = F.dropout(x, p=self.dropout, training=self.training)
        h = self.conv(h, *graph, **conv_kwargs)
        h = F.dropout(h, p=self.dropout, training=self.training)
        h = self.out_conv(h, *graph, **conv_kwargs)
        h = self.lin(F.gelu(h))
        return self.norm(h + x)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.channels}, "
                f"heads={self.heads}, dropout={self.dropout})")


class DiffRGCN(DiffRGCNBase):
    r"""The differential relational graph block of the `"AMB-DSGDN"
    <https://arxiv.org/abs/2603.10043>`_ paper.

    .. math::
        \mathbf{z} &= \mathrm{DiffGAT}_{out}\left(\mathrm{Dropout}\left(
        \big\Vert_{h=1}^{H} \mathrm{DiffGAT}_h(\mathrm{Dropout}(\mathbf{x}))
        \right)\right)

        \mathbf{x}' &= \mathrm{LayerNorm}\left(\mathbf{x} +
        \mathrm{Linear}(\mathrm{GELU}(\mathbf{z}))\right)

    Args:
        channels (int): Input and output width :math:`d_h`.
        heads (int, optional): Number of differential heads before the output
            head. (default: :obj:`2`)
        dropout (float, optional): Dropout on the block input, on the
            concatenated heads and on every attention map.
            (default: :obj:`0.2`)
        num_relations (int, optional): Number of relation ids.
            (default: :obj:`5`)
        relation_dim (int, optional): Width of the relation embeddings.
            (default: :obj:`10`)
        negative_slope (float, optional): LeakyReLU slope of the scores.
            (default: :obj:`0.2`)
        depth (int, optional): Depth that sets :math:`\lambda_{init}`.
            (default: :obj:`1`)
        layout (str, optional): Edge traversal of both attention layers,
            :obj:`"auto"`, :obj:`"csr"` or :obj:`"coo"` (see
            :class:`~dsgdn_pyg.nn.DiffGATConv`); the sorted edges are built
            once per call and shared. (default: :obj:`"auto"`)

    Both attention layers run with :obj:`add_self_loops=False` and without
    bias: the dialogue graphs carry their own relation-1 self-loops, and the
    published block has no other parameters.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, d_h)`, edge indices
          :math:`(2, |\mathcal{E}|)` (with a self-loop on every node, as the
          dialogue graphs have), edge types :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, d_h)`
    """

    def __init__(
        self,
        channels: int,
        heads: int = 2,
        dropout: float = 0.2,
        num_relations: int = 5,
        relation_dim: int = 10,
        negative_slope: float = 0.2,
        depth: int = 1,
        layout: str = "auto",
    ):
        super().__init__(DiffGATConv, channels, heads, dropout,
                         num_relations=num_relations,
                         relation_dim=relation_dim,
                         negative_slope=negative_slope, depth=depth,
                         layout=layout, add_self_loops=False, bias=False,
                         act=True, norm=True)  # the published heads

    def forward(self, x: Tensor, edge_index: Adj,
                edge_type: OptTensor = None) -> Tensor:
        r"""Runs the block. The edges are sorted by target once, into an
        :class:`~torch_geometric.EdgeIndex` that both attention layers share
        (an :obj:`EdgeIndex` sorted by column is used as given)."""
        if isinstance(edge_index, Tensor) and edge_index.dim() == 2 and \
                edge_index.size(1) > 0 and self.conv._fuses(x, edge_index):
            n = x.size(0)
            edge_index, perm, _ = _sorted_by_target(edge_index, (n, n))
            if perm is not None and edge_type is not None:
                edge_type = edge_type[perm]
        return self.run_block(x, edge_index, edge_type)
