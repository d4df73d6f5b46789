"""The DiffRGCN block of AMB-DSGDN (Sec. 4.5)."""

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.typing import Adj, OptTensor

from dsgdn_pyg.nn.diff_gat_conv import DiffGATConv, _sorted_by_target


class DiffRGCNBase(torch.nn.Module):
    r"""The AMB-DSGDN block (Sec. 4.5) around any attention layer
    :obj:`conv_cls`, with the submodule names all subclasses share."""

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
        for module in self.children():
            module.reset_parameters()

    def forward(self, x: Tensor, *graph) -> Tensor:
        """Dropout, the heads, dropout, the output head (both get
        :obj:`graph`), GELU, the linear map, the residual and LayerNorm."""
        h = F.dropout(x, p=self.dropout, training=self.training)
        h = self.conv(h, *graph)
        h = F.dropout(h, p=self.dropout, training=self.training)
        h = self.out_conv(h, *graph)
        return self.norm(self.lin(F.gelu(h)) + x)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.channels}, "
                f"heads={self.heads}, dropout={self.dropout})")


class DiffRGCN(DiffRGCNBase):
    r"""The differential relational graph block of the `"AMB-DSGDN"
    <https://arxiv.org/abs/2603.10043>`_ paper (Sec. 4.5), with
    :class:`~dsgdn_pyg.nn.DiffGATConv` layers as published
    (:obj:`norm=True, act=True`, no bias, no added self-loops: the dialogue
    graphs carry their own):

    .. math::
        \mathbf{z} &= \mathrm{DiffGAT}_{out}\left(\mathrm{Dropout}\left(
        \big\Vert_{h=1}^{H} \mathrm{DiffGAT}_h(\mathrm{Dropout}(\mathbf{x}))
        \right)\right)

        \mathbf{x}' &= \mathrm{LayerNorm}\left(\mathbf{x} +
        \mathrm{Linear}(\mathrm{GELU}(\mathbf{z}))\right)

    Args:
        channels (int): Input and output width :math:`d_h`.
        heads (int, optional): Heads of the first layer. (default: :obj:`2`)
        dropout (float, optional): Dropout on the input, the concatenated
            heads and every attention map. (default: :obj:`0.2`)
        num_relations (int, optional): As DiffGATConv's. (default: :obj:`5`)
        relation_dim (int, optional): As DiffGATConv's. (default: :obj:`10`)
        negative_slope (float, optional): As DiffGATConv's.
            (default: :obj:`0.2`)
        depth (int, optional): As DiffGATConv's. (default: :obj:`1`)
        layout (str, optional): As DiffGATConv's; the edges are sorted once
            for both layers. (default: :obj:`"auto"`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, d_h)`, edges
          :math:`(2, |\mathcal{E}|)` (a self-loop on every node), edge types
          :math:`(|\mathcal{E}|)`
        - **output:** :math:`(|\mathcal{V}|, d_h)`
    """

    def __init__(self, channels: int, heads: int = 2, dropout: float = 0.2,
                 num_relations: int = 5, relation_dim: int = 10,
                 negative_slope: float = 0.2, depth: int = 1,
                 layout: str = "auto"):
        super().__init__(DiffGATConv, channels, heads, dropout, depth=depth,
                         num_relations=num_relations,
                         relation_dim=relation_dim,
                         negative_slope=negative_slope, layout=layout,
                         add_self_loops=False, bias=False, act=True, norm=True)

    def forward(self, x: Tensor, edge_index: Adj,
                edge_type: OptTensor = None) -> Tensor:
        r"""Runs the block; both layers get the edges sorted by target once,
        as an :class:`~torch_geometric.EdgeIndex` (one sorted as given)."""
        if isinstance(edge_index, Tensor) and edge_index.dim() == 2 and \
                edge_index.size(1) > 0 and self.conv._fuses(x, edge_index):
            n = x.size(0)
            self.conv._check_node_ids(edge_index, (n, n))  # before sorting
            edge_index, perm, _ = _sorted_by_target(edge_index, (n, n))
            if perm is not None and edge_type is not None:
                edge_type = edge_type[perm]
        return super().forward(x, edge_index, edge_type)
