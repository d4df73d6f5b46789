"""Differential graph attention over typed edges (AMB-DSGDN, Sec. 4.5)."""

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

import torch_geometric
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import softmax

from dsgdn_pyg.nn.csr_aggregation import (SUPPORTED_DTYPES, CSRLayout,
                                          csr_layout, csr_weighted_sum)
from dsgdn_pyg.nn.diff_attention import DiffAttentionParameters

AttentionWeights = Tuple[Tensor, Tensor]
LAYOUTS = ("auto", "csr", "coo")


def node_scores(wh: Tensor, att_dst_pos: Tensor, att_dst_neg: Tensor,
                att_src_pos: Tensor, att_src_neg: Tensor
                ) -> Tuple[Tensor, Tensor]:
    r"""The per-node terms of the branch scores, :math:`\mathbf{a}_l^{\top}
    \mathbf{P}_i` and :math:`\mathbf{a}_r^{\top} \mathbf{P}_j` (and their
    negative-branch twins on :math:`\mathbf{Q}`), of every node and head,
    computed before anything is gathered per edge.

    Args:
        wh (torch.Tensor): Projected features :obj:`[..., H, C]`.
        att_* (torch.Tensor): Attention vectors :obj:`[1, H, C / 2]`.

    Returns:
        :obj:`(dst [..., 2H], src [..., 2H])`, positive heads first.
    """
    half = wh.size(-1) // 2
    p, q = wh[..., :half], wh[..., half:]
    dst = torch.cat([(p * att_dst_pos).sum(-1), (q * att_dst_neg).sum(-1)],
                    dim=-1)
    src = torch.cat([(p * att_src_pos).sum(-1), (q * att_src_neg).sum(-1)],
                    dim=-1)
    return dst, src


def head_layer_norm(out: Tensor, weight: Tensor, bias: Tensor,
                    scale: float) -> Tensor:
    r"""Per-head LayerNorm of :obj:`out [..., H, C]` with affine
    :obj:`weight, bias [H, C]`, times :obj:`scale` (Eq. 17):
    :math:`(\mathrm{LN}(x) \gamma + \beta) s = \mathrm{LN}(x) (\gamma s) +
    \beta s`, so the affine and the scale cost one fused pass."""
    weight, bias = weight * scale, bias * scale
    channels = out.size(-1)
    if out.size(-2) == 1:
        return F.layer_norm(out, (channels, ), weight[0], bias[0])
    return torch.addcmul(bias, F.layer_norm(out, (channels, )), weight)


class DiffGATConv(DiffAttentionParameters, MessagePassing):
    r"""The differential graph attention operator from the `"AMB-DSGDN:
    Adaptive Modality-Balanced Dynamic Semantic Graph Differential Network for
    Multimodal Emotion Recognition" <https://arxiv.org/abs/2603.10043>`_ paper
    (Sec. 4.5, Alg. 1, Eq. 9-18).

    Each head projects :math:`\mathbf{W}\mathbf{h} = [\mathbf{P}; \mathbf{Q}]`
    and scores every edge :math:`j \to i` twice, once per branch, with the
    relation :math:`\rho_{ij}` of the edge:

    .. math::
        e^{+}_{i,j} = \mathrm{LeakyReLU}\left(\mathbf{a}^{+\top}_{l}
        \mathbf{P}_i + \mathbf{a}^{+\top}_{r} \mathbf{P}_j +
        \mathbf{a}^{+\top}_{\rho} \mathbf{E}_{\rho}(\rho_{ij})\right)

    (and :math:`e^{-}_{i,j}` likewise on :math:`\mathbf{Q}`). Both are
    normalised by a sparse softmax over the incoming edges of :math:`i` and
    combined into signed differential weights

    .. math::
        \alpha_{i,j} = \alpha^{+}_{i,j} - \lambda \, \alpha^{-}_{i,j},
        \qquad \lambda = e^{\mathbf{\lambda}_{q1} \cdot \mathbf{\lambda}_{k1}}
        - e^{\mathbf{\lambda}_{q2} \cdot \mathbf{\lambda}_{k2}}
        + \lambda_{init},

    so that the weights of every target sum to :math:`1 - \lambda`. The output
    is :math:`\mathrm{GELU}(\mathrm{LayerNorm}(\sum_j \alpha_{i,j}
    \mathbf{W}\mathbf{h}_j) \cdot (1 - \lambda_{init}))`.

    Every head owns its projection, attention vectors, relation embedding,
    :math:`\lambda` vectors and LayerNorm, so :math:`H` heads in one layer hold
    exactly the parameters of :math:`H` single-head layers.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of each head's output (must be even: the two
            halves feed the positive and negative branches).
        heads (int, optional): Number of differential attention heads.
            (default: :obj:`1`)
        concat (bool, optional): If :obj:`False`, the heads are averaged
            instead of concatenated. (default: :obj:`True`)
        num_relations (int, optional): Number of edge relation ids; the
            relation embedding has :obj:`num_relations + 1` rows, id :obj:`0`
            being the padding id of a dense adjacency. (default: :obj:`5`)
        relation_dim (int, optional): Width of the relation embedding.
            (default: :obj:`10`)
        negative_slope (float, optional): LeakyReLU angle of the negative
            slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the differential
            attention weights. (default: :obj:`0.0`)
        depth (int, optional): Layer depth that sets
            :math:`\lambda_{init} = 0.8 - 0.6 e^{-0.3 \cdot depth}`.
            (default: :obj:`1`, as in the published runs)
        lambda_init (float, optional): Overrides the value derived from
            :obj:`depth`. (default: :obj:`None`)
        act (bool, optional): If :obj:`False`, the final GELU is skipped.
            (default: :obj:`True`)
        layout (str, optional): How the edges are traversed.
            :obj:`"csr"` sorts them by target once per graph
            (:func:`~dsgdn_pyg.nn.csr_layout`), normalises with a segment
            softmax and aggregates with sparse matrix products, never
            materialising a message per edge; :obj:`"coo"` is the plain
            gather, :meth:`message`, scatter path of
            :class:`~torch_geometric.nn.conv.MessagePassing` (the reference).
            :obj:`"auto"` takes :obj:`"csr"` for graphs with edges in
            :obj:`float32`/:obj:`float64`, :obj:`"coo"` otherwise. Both give
            the same values and gradients. (default: :obj:`"auto"`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F_{in})`,
          edge indices :math:`(2, |\mathcal{E}|)` (source row 0, target
          row 1), edge types :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, H * F_{out})` or
          :math:`(|\mathcal{V}|, F_{out})` if :obj:`concat=False`;
          with :obj:`return_attention_weights=True` also
          :math:`((2, |\mathcal{E}|), (|\mathcal{E}|, H))`, the signed
          differential weights.

    After a forward pass with :obj:`return_attention_weights=True`, the
    positive and negative maps of that pass are kept in
    :attr:`alpha_pos` and :attr:`alpha_neg` (each :math:`(|\mathcal{E}|, H)`)
    and the coefficients in :meth:`differential_lambda`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        num_relations: int = 5,
        relation_dim: int = 10,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        depth: int = 1,
        lambda_init: Optional[float] = None,
        act: bool = True,
        layout: str = "auto",
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)

        if layout not in LAYOUTS:
            raise ValueError(f"DiffGATConv: layout must be one of {LAYOUTS}, "
                             f"got {layout!r}")
        self.init_diff_attention(in_channels, out_channels, heads, concat,
                                 num_relations, relation_dim, negative_slope,
                                 dropout, depth, lambda_init, act)
        self.layout = layout

        self.alpha_pos: OptTensor = None
        self.alpha_neg: OptTensor = None

        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.reset_diff_attention()

    def forward(
        self,
        x: Tensor,
        edge_index: Adj,
        edge_type: OptTensor = None,
        return_attention_weights: Optional[bool] = None,
        csr: Optional[CSRLayout] = None,
    ) -> Union[Tensor, Tuple[Tensor, AttentionWeights]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): The node features.
            edge_index (torch.Tensor): The edges, source in row 0 and target in
                row 1.
            edge_type (torch.Tensor, optional): Relation id of every edge, in
                :obj:`[0, num_relations]`. Without it the relation term of the
                scores is left out. (default: :obj:`None`)
            return_attention_weights (bool, optional): If :obj:`True`, also
                returns :obj:`(edge_index, alpha)` with the signed
                differential weights. (default: :obj:`None`)
            csr (CSRLayout, optional): The edges' layout from
                :func:`~dsgdn_pyg.nn.csr_layout`, to share it between layers
                that run on the same graph; built here when needed and not
                given. (default: :obj:`None`)
        """
        self._validate(x, edge_index, edge_type)
        H, C = self.heads, self.out_channels
        num_nodes = x.size(0)

        wh = (x @ self.weight).view(-1, H, C)
        lam = self.differential_lambda().view(1, H)
        if self.uses_csr(wh, edge_index):
            if csr is None:
                csr = csr_layout(edge_index, num_nodes)
            elif csr.num_nodes != num_nodes:
                raise ValueError(
                    f"DiffGATConv: the CSR layout is of a graph with "
                    f"{csr.num_nodes} nodes, expected {num_nodes}")
            alpha_pos, alpha_neg = self._csr_branch_attention(
                wh, csr, edge_type)
            alpha = alpha_pos - lam * alpha_neg
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
            out = csr_weighted_sum(alpha, wh, csr)
            if return_attention_weights:
                alpha_pos, alpha_neg, alpha = (csr.to_edge_order(a) for a in
                                               (alpha_pos, alpha_neg, alpha))
        else:
            alpha_pos, alpha_neg = self.branch_attention(
                wh, edge_index, edge_type, num_nodes)
            alpha = alpha_pos - lam * alpha_neg
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
            out = self.propagate(edge_index, x=wh, alpha=alpha,
                                 size=(num_nodes, num_nodes))
        out = self._normalize(out)

        if self.concat:
            out = out.reshape(-1, H * C)
        else:
            out = out.mean(dim=1)

        if return_attention_weights:
            self.alpha_pos, self.alpha_neg = alpha_pos, alpha_neg
            return out, (edge_index, alpha)
        return out

    def branch_attention(self, wh: Tensor, edge_index: Tensor,
                         edge_type: OptTensor,
                         num_nodes: int) -> Tuple[Tensor, Tensor]:
        r"""The positive and negative attention maps, each
        :obj:`[num_edges, heads]`, normalised over each target's incoming
        edges."""
        H = self.heads
        src, dst = edge_index[0], edge_index[1]
        scores = self._edge_scores(wh, src, dst, edge_type)
        alpha = softmax(scores, dst, num_nodes=num_nodes)
        return alpha[:, :H], alpha[:, H:]

    def uses_csr(self, x: Tensor, edge_index: Tensor) -> bool:
        r"""Whether :meth:`forward` takes the CSR path for features of
        :obj:`x`'s dtype on this graph (see :obj:`layout`)."""
        if self.layout == "coo" or not isinstance(edge_index, Tensor) \
                or edge_index.dim() != 2 or edge_index.size(1) == 0:
            return False
        if x.dtype not in SUPPORTED_DTYPES:
            if self.layout == "csr":
                raise ValueError(
                    f"DiffGATConv: layout='csr' supports "
                    f"{[str(d) for d in SUPPORTED_DTYPES]} features, got "
                    f"{x.dtype}; use layout='auto' or 'coo'")
            return False
        return True

    def _csr_branch_attention(self, wh: Tensor, csr: CSRLayout,
                              edge_type: OptTensor) -> Tuple[Tensor, Tensor]:
        # As branch_attention, on the edges in target order: the softmax is a
        # segment reduction over csr.ptr instead of a scatter.
        H = self.heads
        if edge_type is not None:
            edge_type = csr.to_target_order(edge_type)
        scores = self._edge_scores(wh, csr.src, csr.dst, edge_type)
        alpha = softmax(scores, csr.dst, ptr=csr.ptr, num_nodes=csr.num_nodes)
        return alpha[:, :H], alpha[:, H:]

    def _edge_scores(self, wh: Tensor, src: Tensor, dst: Tensor,
                     edge_type: OptTensor) -> Tensor:
        # The LeakyReLU scores [E, 2H] of both branches (positive heads,
        # then negative heads), from per-node scalars computed first so that
        # only [E, 2H] values are gathered.
        dst_scores, src_scores = node_scores(wh, self.att_dst_pos,
                                             self.att_dst_neg,
                                             self.att_src_pos,
                                             self.att_src_neg)
        scores = dst_scores.index_select(0, dst) + src_scores.index_select(
            0, src)
        if edge_type is not None:
            scores = scores + self.relation_scores().index_select(
                0, edge_type)
        return F.leaky_relu(scores, self.negative_slope)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def _normalize(self, out: Tensor) -> Tensor:
        out = head_layer_norm(out, self.norm_weight, self.norm_bias,
                              1.0 - self.lambda_init)
        return F.gelu(out) if self.act else out

    def _validate(self, x: Tensor, edge_index: Tensor,
                  edge_type: OptTensor) -> None:
        if torch_geometric.is_compiling():
            return
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"DiffGATConv: expected node features of shape "
                f"[num_nodes, {self.in_channels}], got {list(x.shape)}")
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 \
                or edge_index.size(0) != 2:
            raise ValueError(
                "DiffGATConv: expected edge_index as a [2, num_edges] tensor "
                f"(source row 0, target row 1), got "
                f"{getattr(edge_index, 'shape', type(edge_index))}")
        if edge_type is None:
            return
        if edge_type.dim() != 1 or edge_type.numel() != edge_index.size(1):
            raise ValueError(
                f"DiffGATConv: expected edge_type of shape "
                f"[{edge_index.size(1)}] (one id per edge), got "
                f"{list(edge_type.shape)}")
        # Reading the range back costs a host sync on CUDA, so it is checked
        # there only in PyG's debug mode.
        if edge_type.numel() > 0 and (edge_type.device.type == "cpu"
                                      or torch_geometric.is_debug_enabled()):
            lo, hi = int(edge_type.min()), int(edge_type.max())
            if lo < 0 or hi > self.num_relations:
                raise ValueError(
                    f"DiffGATConv: edge_type ids must lie in "
                    f"[0, {self.num_relations}] (the relation embedding has "
                    f"{self.num_relations + 1} rows), got ids in "
                    f"[{lo}, {hi}]")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, "
                f"{self.out_channels}, heads={self.heads}, "
                f"num_relations={self.num_relations}, "
                f"lambda_init={self.lambda_init:.4f})")
