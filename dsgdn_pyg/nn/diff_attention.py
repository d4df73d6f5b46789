"""The parameters of differential attention heads, shared by the sparse
:class:`~dsgdn_pyg.nn.DiffGATConv` and the dense baseline
:class:`~dsgdn_pyg.nn.DenseDiffGATConv`, so that both hold the same
``state_dict`` and compute :math:`\\lambda` and the relation term alike."""

import math
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Parameter

from torch.nn.init import xavier_uniform_

from torch_geometric.nn.inits import ones, zeros


# The gain of the published layer's xavier_uniform_ initialisation.
INIT_GAIN = 1.414


def default_lambda_init(depth: int) -> float:
    r"""The initial differential coefficient
    :math:`\lambda_{init} = 0.8 - 0.6 \exp(-0.3 \cdot depth)` (Eq. 14)."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


class DiffAttentionParameters:
    r"""Mixin of a :class:`torch.nn.Module` holding :math:`H` differential
    attention heads (Sec. 4.5, Eq. 9-18): per head a bias-free projection, the attention
    vectors of both branches, a relation embedding with its two scoring
    vectors, the four :math:`\lambda` vectors and a LayerNorm affine."""

    def init_diff_attention(self, in_channels: int, out_channels: int,
                            heads: int, concat: bool, num_relations: int,
                            relation_dim: int, negative_slope: float,
                            dropout: float, depth: int,
                            lambda_init: Optional[float], act: bool) -> None:
        """Checks the arguments, stores them and registers the parameters
        (call after ``Module.__init__``)."""
        name = type(self).__name__
        if out_channels % 2 != 0:
            raise ValueError(
                f"{name}: out_channels must be even (its halves feed the "
                f"positive and negative branches), got {out_channels}")
        if heads < 1:
            raise ValueError(f"{name}: heads must be >= 1, got {heads}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.num_relations = num_relations
        self.relation_dim = relation_dim
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.depth = depth
        self.lambda_init = (default_lambda_init(depth)
                            if lambda_init is None else float(lambda_init))
        self.act = act

        half = out_channels // 2
        # All heads' projections side by side: the same parameters as H
        # separate bias-free linear maps.
        self.weight = Parameter(torch.empty(in_channels, heads * out_channels))
        # Per-head attention vectors: [a_l (target) | a_r (source)] per branch.
        self.att_dst_pos = Parameter(torch.empty(1, heads, half))
        self.att_src_pos = Parameter(torch.empty(1, heads, half))
        self.att_dst_neg = Parameter(torch.empty(1, heads, half))
        self.att_src_neg = Parameter(torch.empty(1, heads, half))
        # Per-head relation embedding shared by both branches of the head.
        self.rel_emb = Parameter(
            torch.empty(heads, num_relations + 1, relation_dim))
        self.att_rel_pos = Parameter(torch.empty(heads, relation_dim))
        self.att_rel_neg = Parameter(torch.empty(heads, relation_dim))
        # Per-head differential lambda vectors.
        self.lambda_q1 = Parameter(torch.empty(heads, half))
        self.lambda_k1 = Parameter(torch.empty(heads, half))
        self.lambda_q2 = Parameter(torch.empty(heads, half))
        self.lambda_k2 = Parameter(torch.empty(heads, half))
        # Per-head LayerNorm affine parameters.
        self.norm_weight = Parameter(torch.empty(heads, out_channels))
        self.norm_bias = Parameter(torch.empty(heads, out_channels))

    def reset_diff_attention(self) -> None:
        r"""Initialises the heads' parameters as the published layer does:
        per head, :func:`~torch.nn.init.xavier_uniform_` with gain
        :obj:`INIT_GAIN` (:math:`\sqrt{2}`) on the projection
        (:obj:`[in_channels, out_channels]`), on each branch's attention
        vectors (shaped as :obj:`Linear(out_channels / 2, 1)` weights,
        :obj:`[1, out_channels / 2]`) and on each branch's relation vector
        (:obj:`[1, relation_dim]`); the relation embedding
        :math:`\mathcal{N}(0, 1)`, the four :math:`\lambda` vectors
        :math:`\mathcal{N}(0, 0.1)`, the LayerNorm affine 1 and 0. The scale
        matters: at the recipe's learning rate Adam barely moves these
        weights, so the initial spread of the attention logits lasts the
        whole training."""
        C = self.out_channels
        for h in range(self.heads):
            xavier_uniform_(self.weight.data[:, h * C:(h + 1) * C],
                            gain=INIT_GAIN)
            for att in (self.att_dst_pos, self.att_src_pos,
                        self.att_dst_neg, self.att_src_neg):
                xavier_uniform_(att.data[:, h], gain=INIT_GAIN)
            for att in (self.att_rel_pos, self.att_rel_neg):
                xavier_uniform_(att.data[h:h + 1], gain=INIT_GAIN)
        torch.nn.init.normal_(self.rel_emb)
        for vec in (self.lambda_q1, self.lambda_k1, self.lambda_q2,
                    self.lambda_k2):
            torch.nn.init.normal_(vec, mean=0.0, std=0.1)
        ones(self.norm_weight)
        zeros(self.norm_bias)

    def differential_lambda(self) -> Tensor:
        r"""The per-head coefficient :math:`\lambda` of Eq. 13-14, shape
        :obj:`[heads]`."""
        lambda_1 = torch.exp((self.lambda_q1 * self.lambda_k1).sum(-1))
        lambda_2 = torch.exp((self.lambda_q2 * self.lambda_k2).sum(-1))
        return lambda_1 - lambda_2 + self.lambda_init

    def relation_scores(self) -> Tensor:
        r"""The relation term of both branches for every relation id,
        :obj:`[num_relations + 1, 2 * heads]`."""
        pos = (self.rel_emb * self.att_rel_pos.unsqueeze(1)).sum(-1)
        neg = (self.rel_emb * self.att_rel_neg.unsqueeze(1)).sum(-1)
        return torch.cat([pos.t(), neg.t()], dim=-1)
