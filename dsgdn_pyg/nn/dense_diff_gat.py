"""The published code's dense formulation: the sparse layers' baseline."""

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
    r"""The differential graph attention of the `"AMB-DSGDN"
    <https://arxiv.org/abs/2603.10043>`_ paper (Sec. 4.5) as the published
    code computes it, on a dense batch: all :math:`L \times L` scores, a
    masked softmax, batched products. A :class:`~dsgdn_pyg.nn.DiffGATConv`
    without self-loops or bias: it loads the sparse layer's
    :obj:`state_dict` and gives its outputs, also on rows without edges.

    Args: as :class:`~dsgdn_pyg.nn.DiffGATConv` (:obj:`in_channels` an int).

    Shapes:
        - **input:** :math:`(B, L, F_{in})`, adjacency :math:`(B, L, L)`:
          relation ids of edges :math:`j \to i` (:obj:`0`: none), or
          :obj:`bool` (no relation term)
        - **output:** :math:`(B, L, H * F_{out})` (:math:`F_{out}` if
          :obj:`concat=False`), with :obj:`return_attention_weights` also
          the signed weights :math:`(B, H, L, L)`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1,
                 concat: bool = True, num_relations: int = 5,
                 relation_dim: int = 10, negative_slope: float = 0.2,
                 dropout: float = 0.0, depth: int = 1,
                 lambda_init: Optional[float] = None, act: bool = False,
                 norm: bool = False):
        super().__init__(in_channels, out_channels, heads, concat,
                         num_relations, relation_dim, negative_slope, dropout,
                         add_self_loops=False, bias=False, depth=depth,
                         lambda_init=lambda_init, act=act, norm=norm)

    def forward(self, x: Tensor, adj: Tensor,
                return_attention_weights: Optional[bool] = None
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Runs the layer; a single graph may drop the batch dimension."""
        squeeze = x.dim() == 2
        if squeeze:
            x, adj = x.unsqueeze(0), adj.unsqueeze(0)
        if x.dim() != 3 or x.size(-1) != self.in_channels:
            self._fail(f"expected node features of shape [batch, nodes, "
                       f"{self.in_channels}], got {list(x.shape)}")
        B, L, _ = x.shape
        if adj.shape != (B, L, L) or adj.is_floating_point():
            self._fail(f"expected an integer (relation id) or bool "
                       f"adjacency of shape {[B, L, L]}, got {adj.dtype} "
                       f"{list(adj.shape)}")
        H, C = self.heads, self.out_channels
        wh = self.lin(x).view(B, L, H, C)
        dst, src = branch_scores(
            wh, (self.att_dst_pos, self.att_dst_neg),
            (self.att_src_pos, self.att_src_neg)).chunk(2, dim=-1)
        # scores[b, k, i, j]: k over the positive, then the negative heads.
        scores = dst.mT.unsqueeze(-1) + src.mT.unsqueeze(-2)
        if adj.dtype != torch.bool:
            table = self.relation_scores()
            if torch.is_grad_enabled() and table.requires_grad:
                # A one-hot product, whose backward is a matrix product; a
                # lookup's scatters B * L * L rows (2x slower on CPU).
                ids = torch.arange(table.size(0), device=adj.device)
                rel = (adj.unsqueeze(-1) == ids).to(table.dtype) @ table
            else:  # no backward: the lookup is 5x cheaper
                rel = F.embedding(adj, table)
            scores = scores + rel.permute(0, 3, 1, 2)
        scores = F.leaky_relu(scores, self.negative_slope)
        no_edge = (adj == 0).unsqueeze(1)
        # Not -inf: a row without edges gets a finite softmax, then zeroes.
        scores = scores.masked_fill(no_edge, torch.finfo(scores.dtype).min)
        attn = torch.softmax(scores, dim=-1).masked_fill(no_edge, 0.0)
        lam = self.differential_lambda().view(1, H, 1, 1)
        alpha = attn[:, :H] - lam * attn[:, H:]
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        out = (alpha @ wh.transpose(1, 2)).transpose(1, 2)  # [B, L, H, C]
        if self.norm:
            out = head_layer_norm(out, self.norm_weight, self.norm_bias,
                                  1.0 - self.lambda_init)
        out = F.gelu(out) if self.act else out
        out = out.reshape(B, L, H * C) if self.concat else out.mean(dim=2)
        if squeeze:
            out, alpha = out.squeeze(0), alpha.squeeze(0)
        return (out, alpha) if return_attention_weights else out


DenseDiffGAT = DenseDiffGATConv


class DenseDiffRGCN(DiffRGCNBase):
    r"""The `"AMB-DSGDN" <https://arxiv.org/abs/2603.10043>`_ block
    (Sec. 4.5) of :class:`~dsgdn_pyg.nn.DiffRGCN` with
    :class:`DenseDiffGATConv` layers; the two share a :obj:`state_dict`.

    Args: as :class:`~dsgdn_pyg.nn.DiffRGCN` (no :obj:`layout`).

    Shapes:
        - **input:** :math:`(B, L, d_h)`, adjacency :math:`(B, L, L)`
        - **output:** :math:`(B, L, d_h)`
    """

    def __init__(self, channels: int, heads: int = 2, dropout: float = 0.2,
                 num_relations: int = 5, relation_dim: int = 10,
                 negative_slope: float = 0.2, depth: int = 1):
        super().__init__(DenseDiffGATConv, channels, heads, dropout,
                         num_relations=num_relations,
                         relation_dim=relation_dim,
                         negative_slope=negative_slope, depth=depth,
                         act=True, norm=True)  # the published heads

    def forward_sparse(self, x: Tensor, edge_index: Tensor,
                       edge_type: OptTensor = None,
                       batch: OptTensor = None) -> Tensor:
        r"""Runs the block on a sparse batch as the published code does,
        through :func:`to_dense_inputs`; returns the real nodes' rows."""
        x_dense, adj, mask = to_dense_inputs(x, edge_index, edge_type, batch)
        return self(x_dense, adj)[mask]


def to_dense_inputs(x: Tensor, edge_index: Tensor,
                    edge_type: OptTensor = None, batch: OptTensor = None,
                    batch_size: Optional[int] = None,
                    max_num_nodes: Optional[int] = None
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    r"""A sparse batch (:obj:`batch` sorted) in the published code's dense
    form: :obj:`[B, L, F]` features, :obj:`[B, L, L]` adjacency (:obj:`bool`
    if untyped), :obj:`[B, L]` mask; the sizes, if given, spare a sync."""
    x_dense, mask = to_dense_batch(x, batch, batch_size=batch_size,
                                   max_num_nodes=max_num_nodes)
    B, L = mask.shape
    types = torch.ones_like(edge_index[0]) if edge_type is None else edge_type
    adj = dense_relation_adjacency(edge_index, types, batch, batch_size=B,
                                   max_num_nodes=L)
    return x_dense, adj.bool() if edge_type is None else adj, mask
