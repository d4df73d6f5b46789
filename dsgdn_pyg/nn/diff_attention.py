"""The parameters of differential attention heads, shared by the sparse
:class:`~dsgdn_pyg.nn.DiffGATConv` and the dense baseline
:class:`~dsgdn_pyg.nn.DenseDiffGATConv`, so that both hold the same
``state_dict`` and compute :math:`\\lambda` and the relation term alike."""

import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch.nn.init import xavier_uniform_
from torch.nn.parameter import UninitializedParameter

from torch_geometric.nn.inits import ones, zeros


# The gain of the published layer's xavier_uniform_ initialisation.
INIT_GAIN = 1.414


def default_lambda_init(depth: int) -> float:
    r"""The initial differential coefficient
    :math:`\lambda_{init} = 0.8 - 0.6 \exp(-0.3 \cdot depth)` (Eq. 14)."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


class DiffAttentionParameters:
    r"""Mixin of a :class:`torch.nn.Module` holding :math:`H` differential
    attention heads (Sec. 4.5, Eq. 9-18): per head a bias-free projection,
    the attention vectors of both branches, a relation embedding with its
    two scoring vectors, the four :math:`\lambda` vectors and a LayerNorm
    affine.

    Each head's :obj:`out_channels` are split into the positive branch
    :math:`\mathbf{P}` (the first :obj:`pos_channels` =
    :math:`\lceil C / 2 \rceil`) and the negative branch :math:`\mathbf{Q}`
    (the last :obj:`neg_channels` = :math:`\lfloor C / 2 \rfloor`); for an
    even width these are the two halves of the paper."""

    def init_diff_attention(self, in_channels: Union[int, Tuple[int, int]],
                            out_channels: int, heads: int, concat: bool,
                            num_relations: Optional[int], relation_dim: int,
                            negative_slope: float, dropout: float,
                            depth: int, lambda_init: Optional[float],
                            act: bool, norm: bool = True) -> None:
        """Checks the arguments, stores them and registers the parameters
        (call after ``Module.__init__``)."""
        name = type(self).__name__
        check_in_channels(name, in_channels)
        if isinstance(in_channels, list):
            in_channels = tuple(in_channels)
        if not _is_int(out_channels) or out_channels < 1:
            raise ValueError(f"{name}: out_channels must be an int >= 1, "
                             f"got {out_channels!r}")
        if not _is_int(heads) or heads < 1:
            raise ValueError(f"{name}: heads must be >= 1, got {heads!r}")
        if num_relations is not None and (not _is_int(num_relations)
                                          or num_relations < 0):
            raise ValueError(f"{name}: num_relations must be None or an int "
                             f">= 0, got {num_relations!r}")
        if not _is_int(relation_dim) or relation_dim < 1:
            raise ValueError(f"{name}: relation_dim must be an int >= 1, got "
                             f"{relation_dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must lie in [0, 1), got "
                             f"{dropout!r}")

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
        self.norm = norm

        pos, neg = self.pos_channels, self.neg_channels
        # All heads' projections side by side: the same parameters as H
        # separate bias-free linear maps. A pair of input widths (bipartite
        # graphs) gets one projection per side; -1 is materialised lazily.
        if isinstance(in_channels, int):
            self.weight = _projection(in_channels, heads * out_channels)
        else:
            self.weight_src = _projection(in_channels[0],
                                          heads * out_channels)
            self.weight_dst = _projection(in_channels[1],
                                          heads * out_channels)
        # Per-head attention vectors: [a_l (target) | a_r (source)] per branch.
        self.att_dst_pos = Parameter(torch.empty(1, heads, pos))
        self.att_src_pos = Parameter(torch.empty(1, heads, pos))
        self.att_dst_neg = Parameter(torch.empty(1, heads, neg))
        self.att_src_neg = Parameter(torch.empty(1, heads, neg))
        # Per-head relation embedding shared by both branches of the head.
        if num_relations is not None:
            self.rel_emb = Parameter(
                torch.empty(heads, num_relations + 1, relation_dim))
            self.att_rel_pos = Parameter(torch.empty(heads, relation_dim))
            self.att_rel_neg = Parameter(torch.empty(heads, relation_dim))
        else:
            for key in ("rel_emb", "att_rel_pos", "att_rel_neg"):
                self.register_parameter(key, None)
        # Per-head differential lambda vectors.
        self.lambda_q1 = Parameter(torch.empty(heads, pos))
        self.lambda_k1 = Parameter(torch.empty(heads, pos))
        self.lambda_q2 = Parameter(torch.empty(heads, pos))
        self.lambda_k2 = Parameter(torch.empty(heads, pos))
        # Per-head LayerNorm affine parameters.
        if norm:
            self.norm_weight = Parameter(torch.empty(heads, out_channels))
            self.norm_bias = Parameter(torch.empty(heads, out_channels))
        else:
            self.register_parameter("norm_weight", None)
            self.register_parameter("norm_bias", None)

    @property
    def pos_channels(self) -> int:
        r"""Width of each head's positive branch :math:`\mathbf{P}`."""
        return self.out_channels - self.out_channels // 2

    @property
    def neg_channels(self) -> int:
        r"""Width of each head's negative branch :math:`\mathbf{Q}`."""
        return self.out_channels // 2

    def projections(self) -> Tuple[Tensor, Tensor]:
        """The projections of source and target features (the same
        parameter unless :obj:`in_channels` is a pair)."""
        if isinstance(self.in_channels, int):
            return self.weight, self.weight
        return self.weight_src, self.weight_dst

    def reset_diff_attention(self) -> None:
        r"""Initialises the heads' parameters as the published layer does:
        per head, :func:`~torch.nn.init.xavier_uniform_` with gain
        :obj:`INIT_GAIN` (:math:`\sqrt{2}`) on the projection
        (:obj:`[in_channels, out_channels]`), on each branch's attention
        vectors (shaped as :obj:`Linear(width, 1)` weights,
        :obj:`[1, width]`, with the branch's own width) and on each branch's
        relation vector (:obj:`[1, relation_dim]`); the relation embedding
        :math:`\mathcal{N}(0, 1)`, the four :math:`\lambda` vectors
        :math:`\mathcal{N}(0, 0.1)`, the LayerNorm affine 1 and 0. The scale
        matters: at the recipe's learning rate Adam barely moves these
        weights, so the initial spread of the attention logits lasts the
        whole training. A lazy projection (:obj:`in_channels=-1`) is
        initialised so when the first input materialises it."""
        # Head by head, in the order of the published layer's modules, so a
        # seed gives the same weights as it always did.
        projections = [w for w in dict.fromkeys(self.projections())
                       if not isinstance(w, UninitializedParameter)]
        C = self.out_channels
        for h in range(self.heads):
            for weight in projections:
                xavier_uniform_(weight.data[:, h * C:(h + 1) * C],
                                gain=INIT_GAIN)
            for att in (self.att_dst_pos, self.att_src_pos,
                        self.att_dst_neg, self.att_src_neg):
                xavier_uniform_(att.data[:, h], gain=INIT_GAIN)
            if self.rel_emb is not None:
                for att in (self.att_rel_pos, self.att_rel_neg):
                    xavier_uniform_(att.data[h:h + 1], gain=INIT_GAIN)
        if self.rel_emb is not None:
            torch.nn.init.normal_(self.rel_emb)
        for vec in (self.lambda_q1, self.lambda_k1, self.lambda_q2,
                    self.lambda_k2):
            torch.nn.init.normal_(vec, mean=0.0, std=0.1)
        if self.norm:
            ones(self.norm_weight)
            zeros(self.norm_bias)

    def reset_projection(self, weight: Tensor) -> None:
        """Per head, :func:`~torch.nn.init.xavier_uniform_` with gain
        :obj:`INIT_GAIN` on the head's :obj:`[in, out_channels]` slice of a
        projection (nothing while it is still lazy)."""
        if isinstance(weight, UninitializedParameter):
            return
        C = self.out_channels
        for h in range(self.heads):
            xavier_uniform_(weight.data[:, h * C:(h + 1) * C],
                            gain=INIT_GAIN)

    def project(self, x: Tensor, weight: Tensor) -> Tensor:
        """:obj:`x [N, F] @ weight` viewed as :obj:`[N, H, C]`,
        materialising a lazy projection from :obj:`x` first."""
        if isinstance(weight, UninitializedParameter):
            with torch.no_grad():
                weight.materialize((x.size(-1), weight_width(self)),
                                   device=x.device, dtype=x.dtype)
            self.reset_projection(weight)
        return (x @ weight).view(-1, self.heads, self.out_channels)

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


def weight_width(module: DiffAttentionParameters) -> int:
    """Columns of a projection: all heads side by side."""
    return module.heads * module.out_channels


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_in_channels(name: str, in_channels) -> None:
    """``in_channels``: an int >= 1, -1 (lazy), or a pair of those."""
    pair = isinstance(in_channels, (tuple, list)) and len(in_channels) == 2
    values = tuple(in_channels) if pair else (in_channels, )
    if not all(_is_int(v) and (v >= 1 or v == -1) for v in values):
        raise ValueError(f"{name}: in_channels must be an int >= 1, -1 "
                         f"(lazy) or a pair of those, got {in_channels!r}")


def _projection(in_channels: int, out_features: int) -> Parameter:
    if in_channels == -1:
        return UninitializedParameter()
    return Parameter(torch.empty(in_channels, out_features))
