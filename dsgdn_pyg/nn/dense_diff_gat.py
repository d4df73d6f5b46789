"""Differential graph attention on a dense, padded relation adjacency: the
formulation of the published AMB-DSGDN code, kept as the baseline that the
sparse :class:`~dsgdn_pyg.nn.DiffGATConv` is measured against."""

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.typing import OptTensor
from torch_geometric.utils import to_dense_batch

from dsgdn_pyg.data.dialogue_graph import dense_relation_adjacency
from dsgdn_pyg.nn.diff_gat_conv import (DiffGATConv, branch_scores,
                                        head_layer_norm)
from dsgdn_pyg.nn.diff_rgcn import DiffRGCNBase


class DenseDiffGATConv(DiffGATConv):
    r"""The differential graph attention operator of
    :class:`~dsgdn_pyg.nn.DiffGATConv` on a dense batch: node features
    :math:`\mathbf{X} \in \mathbb{R}^{B \times L \times F}` and a relation-id
    adjacency :math:`\mathbf{A} \in \{0, \ldots, R\}^{B \times L \times L}`
    whose entry :math:`[b, i, j]` is the relation of edge :math:`j \to i`
    (:obj:`0`: no edge).

    Scores of all :math:`L \times L` pairs are built, masked and normalised by
    a dense softmax, and the values are aggregated by batched matrix products,
    as in the published implementation. It is a
    :class:`~dsgdn_pyg.nn.DiffGATConv` without self-loops or bias (same
    parameters, initialisation and output head), so
    :obj:`dense.load_state_dict(sparse.state_dict())` gives the same layer. A
    node without incoming edges (a padding row among them) gets the output
    the sparse layer gives a node without incoming edges.

    Args: as :class:`~dsgdn_pyg.nn.DiffGATConv` (:obj:`in_channels` an int).

    Shapes:
        - **input:** node features :math:`(B, L, F_{in})`, adjacency
          :math:`(B, L, L)` (relation ids, or :obj:`bool` for untyped edges,
          which leaves the relation term out)
        - **output:** node features :math:`(B, L, H * F_{out})` or
          :math:`(B, L, F_{out})` if :obj:`concat=False`; with
          :obj:`return_attention_weights=True` also the signed weights
          :math:`(B, H, L, L)`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1,
                 concat: bool = True, num_relations: int = 5,
                 relation_dim: int = 10, negative_slope: float = 0.2,
                 dropout: float = 0.0, depth: int = 1,
                 lambda_init: Optional[float] = None, act: bool = False,
                 norm: bool = False):
        super().__init__(in_channels, out_channels, heads, concat,
                         num_relations, relation_dim, negative_slope,
                         dropout, add_self_loops=False, bias=False,
                         depth=depth, lambda_init=lambda_init, act=act,
                         norm=norm)

    def forward(
        self,
        x: Tensor,
        adj: Tensor,
        return_attention_weights: Optional[bool] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Runs the layer on :obj:`x [B, L, F]` and :obj:`adj [B, L, L]`
        (a single graph may drop the batch dimension)."""
        squeeze = x.dim() == 2
        if squeeze:
            x, adj = x.unsqueeze(0), adj.unsqueeze(0)
        self._check_dense(x, adj)
        B, L, _ = x.shape
        H, C = self.heads, self.out_channels

        wh = self.lin(x).view(B, L, H, C)
        dst = branch_scores(wh, self.att_dst_pos, self.att_dst_neg)
        src = branch_scores(wh, self.att_src_pos, self.att_src_neg)
        # e[b, k, i, j] = a_l . v_i + a_r . v_j (+ a_rel . E(A[b, i, j])),
        # with k running over the H positive, then the H negative branches.
        scores = dst.transpose(1, 2).unsqueeze(-1) + \
            src.transpose(1, 2).unsqueeze(-2)
        if adj.dtype != torch.bool:
            table = self.relation_scores()
            if torch.is_grad_enabled() and table.requires_grad:
                # A product with the one-hot adjacency, whose backward is a
                # matrix product too: an embedding lookup's backward
                # scatters B * L * L rows into R + 1 (2x slower on CPU).
                ids = torch.arange(table.size(0), device=adj.device)
                rel = (adj.unsqueeze(-1) == ids).to(table.dtype) @ table
            else:  # no backward: the lookup is the cheapest (5x)
                rel = F.embedding(adj, table)
            scores = scores + rel.permute(0, 3, 1, 2)
        scores = F.leaky_relu(scores, self.negative_slope)
        no_edge = (adj == 0).unsqueeze(1)
        # The most negative float rather than -inf: a row without edges gets
        # a finite (uniform) softmax that the mask then zeroes.
        scores = scores.masked_fill(no_edge, torch.finfo(scores.dtype).min)
        attn = torch.softmax(scores, dim=-1).masked_fill(no_edge, 0.0)

        lam = self.differential_lambda().view(1, H, 1, 1)
        alpha = attn[:, :H] - lam * attn[:, H:]
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)

        out = alpha @ wh.transpose(1, 2)  # [B, H, L, C]
        out = out.transpose(1, 2)
        if self.norm:
            out = head_layer_norm(out, self.norm_weight, self.norm_bias,
                                  1.0 - self.lambda_init)
        out = F.gelu(out) if self.act else out
        out = out.reshape(B, L, H * C) if self.concat else out.mean(dim=2)

        if squeeze:
            out, alpha = out.squeeze(0), alpha.squeeze(0)
        if return_attention_weights:
            return out, alpha
        return out

    def _check_dense(self, x: Tensor, adj: Tensor) -> None:
        if x.dim() != 3 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}: expected node features of shape "
                f"[batch, nodes, {self.in_channels}], got {list(x.shape)}")
        if adj.shape != (x.size(0), x.size(1), x.size(1)) or \
                adj.is_floating_point():
            raise ValueError(
                f"{self.__class__.__name__}: expected an integer (relation "
                f"id) or bool adjacency of shape "
                f"{[x.size(0), x.size(1), x.size(1)]}, got "
                f"{adj.dtype} {list(adj.shape)}")


DenseDiffGAT = DenseDiffGATConv


class DenseDiffRGCN(DiffRGCNBase):
    r"""The :class:`~dsgdn_pyg.nn.DiffRGCN` block on a dense, padded batch,
    built from :class:`DenseDiffGATConv` heads. Same submodules and
    parameters as :class:`~dsgdn_pyg.nn.DiffRGCN`, so the two load each
    other's :obj:`state_dict`.

    Args: as :class:`~dsgdn_pyg.nn.DiffRGCN`.

    Shapes:
        - **input:** node features :math:`(B, L, d_h)`, relation adjacency
          :math:`(B, L, L)`
        - **output:** node features :math:`(B, L, d_h)`
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
    ):
        super().__init__(DenseDiffGATConv, channels, heads, dropout,
                         num_relations=num_relations,
                         relation_dim=relation_dim,
                         negative_slope=negative_slope, depth=depth,
                         act=True, norm=True)  # the published heads

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        r"""Runs the block on :obj:`x [B, L, d_h]` and :obj:`adj [B, L,
        L]`."""
        return self.run_block(x, adj)

    def forward_sparse(self, x: Tensor, edge_index: Tensor,
                       edge_type: OptTensor = None,
                       batch: OptTensor = None) -> Tensor:
        r"""Runs the block on a sparse batch, as the published code does:
        pads the node features to :obj:`[B, L_max, d_h]`, builds the dense
        relation adjacency of the batch (a :obj:`bool` one of untyped edges
        when :obj:`edge_type` is :obj:`None`), runs :meth:`forward` and
        returns the rows of the real nodes, :obj:`[N, d_h]`.

        Args:
            x (torch.Tensor): Node features :obj:`[N, d_h]`.
            edge_index (torch.Tensor): Edges, source row 0, target row 1.
            edge_type (torch.Tensor, optional): Relation id of every edge.
            batch (torch.Tensor, optional): Graph id of every node (sorted).
        """
        x_dense, adj, mask = to_dense_inputs(x, edge_index, edge_type, batch)
        return self(x_dense, adj)[mask]


def to_dense_inputs(x: Tensor, edge_index: Tensor,
                    edge_type: OptTensor = None, batch: OptTensor = None,
                    batch_size: Optional[int] = None,
                    max_num_nodes: Optional[int] = None
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    r"""A sparse batch in the dense form of the published code: node
    features padded to :obj:`[B, L_max, F]`, the relation adjacency
    :obj:`[B, L_max, L_max]` (a :obj:`bool` one of untyped edges when
    :obj:`edge_type` is :obj:`None`) and the mask of real rows
    :obj:`[B, L_max]`. :obj:`batch_size` and :obj:`max_num_nodes`, when
    known, spare a host-device sync."""
    x_dense, mask = to_dense_batch(x, batch, batch_size=batch_size,
                                   max_num_nodes=max_num_nodes)
    B, L = mask.shape
    if edge_type is None:
        adj = dense_relation_adjacency(
            edge_index, torch.ones_like(edge_index[0]), batch,
            batch_size=B, max_num_nodes=L).bool()
    else:
        adj = dense_relation_adjacency(edge_index, edge_type, batch,
                                       batch_size=B, max_num_nodes=L)
    return x_dense, adj, mask
