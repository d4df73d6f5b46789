"""Differential graph attention over typed edges (AMB-DSGDN, Sec. 4.5)."""

import math
from functools import cache, partial
from typing import Callable, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch.nn.init import normal_, xavier_uniform_

import torch_geometric
from torch_geometric import EdgeIndex
from torch_geometric.index import index2ptr
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import ones, zeros
from torch_geometric.typing import (Adj, OptPairTensor, OptTensor, Size,
                                    SparseTensor)
from torch_geometric.utils import (add_self_loops, is_torch_sparse_tensor,
                                   to_edge_index, to_torch_sparse_tensor)

from dsgdn_pyg.nn.csr_aggregation import (SUPPORTED_DTYPES, csr_weighted_sum,
                                          gather_rows)
from dsgdn_pyg.nn.differential_softmax import differential_softmax

LAYOUTS = ("auto", "csr", "coo")
#: The gain of the published layer's xavier_uniform_ initialisation.
INIT_GAIN = 1.414
#: The length from which torch sorts integer keys by radix on CPU, in a
#: build with FBGEMM (x86); shorter arrays are sorted up to 8x slower.
RADIX_MIN = 2**15 if "fbgemm" in getattr(
    torch.backends.quantized, "supported_engines", ()) else 0


def default_lambda_init(depth: int) -> float:
    r"""The initial differential coefficient
    :math:`\lambda_{init} = 0.8 - 0.6 \exp(-0.3 \cdot depth)` (Eq. 14)."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


def branch_scores(wh: Tensor, *pairs: Tuple[Tensor, Tensor]) -> Tensor:
    r"""The terms :math:`\mathbf{a}^{\top} \mathbf{P}` and
    :math:`\mathbf{a}^{\top} \mathbf{Q}` of both branches' scores for
    :obj:`wh [..., H, C]` and each pair :obj:`(att_pos, att_neg)`, as
    :obj:`[..., 2H]` per pair side by side (positive heads first). One
    matrix product with the vectors laid out block-diagonally: a fifth of
    the time of a product and a sum per vector."""
    H, C = wh.shape[-2:]
    blocks = []
    for att_pos, att_neg in pairs:  # each vector zero outside its branch
        pos = att_pos.size(-1)
        blocks += [F.pad(att_pos.reshape(H, pos), (0, C - pos)),
                   F.pad(att_neg.reshape(H, C - pos), (pos, 0))]
    eye = torch.eye(H, dtype=wh.dtype, device=wh.device)
    att = torch.einsum("khc,hg->hckg", torch.stack(blocks), eye)
    att = att.reshape(H * C, len(blocks) * H)
    if att.size(1) >= 16:  # MKL's products are as fast either way
        return wh.flatten(-2) @ att
    return _Scores.apply(wh.flatten(-2), att)


class _Scores(torch.autograd.Function):
    # wh @ att for a narrow att [HC, under 16]. MKL's CPU products are
    # up to 6x faster with att in column-major order, and 10x faster for
    # att's gradient as (grad^T wh)^T than as autograd's wh^T grad.
    @staticmethod
    def forward(ctx, wh: Tensor, att: Tensor) -> Tensor:
        ctx.save_for_backward(wh, att)
        return wh @ att.t().contiguous().t()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[OptTensor, OptTensor]:
        wh, att = ctx.saved_tensors
        grad_wh = grad @ att.t() if ctx.needs_input_grad[0] else None
        grad_att = None
        if ctx.needs_input_grad[1]:
            grad_att = (grad.reshape(-1, grad.size(-1)).t()
                        @ wh.reshape(-1, wh.size(-1))).t()
        return grad_wh, grad_att


def head_layer_norm(out: Tensor, weight: Tensor, bias: Tensor,
                    scale: float) -> Tensor:
    r"""Per-head LayerNorm of :obj:`out [..., H, C]` with affine
    :obj:`[H, C]`, times :obj:`scale` (Eq. 17), in one fused pass:
    :math:`(\mathrm{LN}(x) \gamma + \beta) s = \mathrm{LN}(x) (\gamma s) +
    \beta s`."""
    weight, bias = weight * scale, bias * scale
    if out.size(-2) == 1:
        return F.layer_norm(out, out.shape[-1:], weight[0], bias[0])
    return torch.addcmul(bias, F.layer_norm(out, out.shape[-1:]), weight)


class HeadLinear(Linear):
    r""":class:`~torch_geometric.nn.dense.linear.Linear` without bias for
    :obj:`heads` heads side by side, each initialised as the published
    layer's own projection: :func:`~torch.nn.init.xavier_uniform_` with gain
    :obj:`INIT_GAIN` on its :obj:`[in_channels, channels]` matrix.
    :obj:`in_channels=-1` is lazy, as in :class:`Linear`."""

    def __init__(self, in_channels: int, out_channels: int, heads: int):
        self.heads, self.building = heads, True
        super().__init__(in_channels, out_channels, bias=False)
        self.building = False  # the owner draws the weights, head by head

    def reset_parameters(self):
        if self.in_channels > 0 and not self.building:
            for h in range(self.heads):
                self.reset_head(h)

    def reset_head(self, h: int) -> None:
        """Draws head :obj:`h`'s block as the published layer does."""
        C = self.out_channels // self.heads
        block = torch.empty(self.in_channels, C, dtype=self.weight.dtype)
        xavier_uniform_(block, gain=INIT_GAIN)
        with torch.no_grad():
            self.weight[h * C:(h + 1) * C] = block.t()


class DiffGATConv(MessagePassing):
    r"""The differential graph attention operator from the `"AMB-DSGDN:
    Adaptive Modality-Balanced Dynamic Semantic Graph Differential Network for
    Multimodal Emotion Recognition" <https://arxiv.org/abs/2603.10043>`_ paper
    (Sec. 4.5, Alg. 1, Eq. 9-18).

    Each head projects :math:`\mathbf{W}\mathbf{h} = [\mathbf{P}; \mathbf{Q}]`
    and scores every edge :math:`j \to i` with its relation
    :math:`\rho_{ij}` once per branch (Eq. 9-12):

    .. math::
        e^{+}_{i,j} = \mathrm{LeakyReLU}\left(\mathbf{a}^{+\top}_{l}
        \mathbf{P}_i + \mathbf{a}^{+\top}_{r} \mathbf{P}_j +
        \mathbf{a}^{+\top}_{\rho} \mathbf{E}_{\rho}(\rho_{ij}) +
        \mathbf{a}^{+\top}_{e} \mathbf{W}_{e}^{P} \mathbf{e}_{j,i}\right)

    (:math:`e^{-}_{i,j}` likewise on :math:`\mathbf{Q}`; the relation term
    only with :obj:`edge_type`, the edge term only with :obj:`edge_dim`).
    A softmax over the incoming edges of :math:`i` normalises each branch
    into the signed weights (Eq. 13-14)

    .. math::
        \alpha_{i,j} = \alpha^{+}_{i,j} - \lambda \, \alpha^{-}_{i,j},
        \qquad \lambda = e^{\mathbf{\lambda}_{q1} \cdot \mathbf{\lambda}_{k1}}
        - e^{\mathbf{\lambda}_{q2} \cdot \mathbf{\lambda}_{k2}}
        + \lambda_{init}.

    Each head outputs :math:`\sum_j \alpha_{i,j} \mathbf{W}\mathbf{h}_j`,
    or with :obj:`norm=True, act=True` the paper's
    :math:`\mathrm{GELU}(\mathrm{LayerNorm}(\sum_j \alpha_{i,j}
    \mathbf{W}\mathbf{h}_j) \cdot (1 - \lambda_{init}))` (Eq. 15-18).

    Unlike :class:`~torch_geometric.nn.conv.GATConv` (whose self-loops, edge
    features, residual and bias it shares), a target's weights are signed
    and sum to :math:`1 - \lambda`, and each head owns its projection,
    attention and relation parameters, :math:`\lambda` and LayerNorm.
    The defaults leave out the relation term, LayerNorm and GELU (a GAT
    recipe); :class:`~dsgdn_pyg.nn.DiffRGCN` sets the published
    :obj:`num_relations=5, norm=True, act=True`.

    Args:
        in_channels (int or tuple): Size of each input sample, :obj:`-1`
            (lazy), or the source and target sizes of a bipartite graph.
        out_channels (int): Size of each head's output; the first
            :math:`\lceil C / 2 \rceil` channels form P, the rest Q.
        heads (int, optional): Number of heads. (default: :obj:`1`)
        concat (bool, optional): If :obj:`False`, the heads are averaged
            instead of concatenated. (default: :obj:`True`)
        num_relations (int, optional): Relation ids run from :obj:`0` (no
            edge in a dense adjacency) to this; :obj:`None`: no relation term
            or parameters. (default: :obj:`None`)
        relation_dim (int, optional): Width of the relation embedding.
            (default: :obj:`10`)
        negative_slope (float, optional): LeakyReLU angle of the negative
            slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the signed
            weights. (default: :obj:`0.0`)
        add_self_loops (bool, optional): If :obj:`True`, replaces the
            graph's self-loops by one per node. (default: :obj:`True`)
        self_loop_type (int, optional): Relation id of the added self-loops.
            (default: :obj:`1`, the dialogue graphs' self-loop relation)
        edge_dim (int, optional): Edge feature dimensionality (in case there
            are any). (default: :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): Edge features of
            the added self-loops, as in
            :meth:`~torch_geometric.utils.add_self_loops`.
            (default: :obj:`"mean"`)
        bias (bool, optional): If :obj:`False`, the layer will not learn an
            additive bias. (default: :obj:`True`)
        residual (bool, optional): If :obj:`True`, the layer will add a
            learnable skip-connection. (default: :obj:`False`)
        depth (int, optional): Layer depth, which sets :math:`\lambda_{init}
            = 0.8 - 0.6 e^{-0.3 \cdot depth}` (Eq. 14). (default: :obj:`1`)
        lambda_init (float, optional): Overrides the value derived from
            :obj:`depth`. (default: :obj:`None`)
        act (bool, optional): If :obj:`True`, each head ends in a GELU.
            (default: :obj:`False`)
        norm (bool, optional): If :obj:`True`, each head ends in the
            LayerNorm of Eq. 17. (default: :obj:`False`)
        layout (str, optional): :obj:`"csr"` (edges sorted by target, fused
            :meth:`message_and_aggregate`), :obj:`"coo"` (as given, messages
            and a scatter) or :obj:`"auto"` (:obj:`"csr"` where it can run:
            float32/float64, :obj:`aggr="add"`,
            :obj:`flow="source_to_target"`, eager). Same values either way.
            (default: :obj:`"auto"`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`((|\mathcal{V_s}|, F_{s}), (|\mathcal{V_t}|, F_{t}))` if
          bipartite, edge indices :math:`(2, |\mathcal{E}|)` or a sparse
          :obj:`adj_t` :math:`(|\mathcal{V_t}|, |\mathcal{V_s}|)`, edge types
          :math:`(|\mathcal{E}|)` and features :math:`(|\mathcal{E}|, D)`
          *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, H * F_{out})`
          (:math:`F_{out}` if :obj:`concat=False`), with
          :obj:`return_attention_weights=True` also the edges (with the added
          self-loops) and signed weights :math:`((2, |\mathcal{E}|),
          (|\mathcal{E}|, H))`
    """
    SUPPORTS_FUSED_EDGE_INDEX = True

    def __init__(self, in_channels: Union[int, Tuple[int, int]],
                 out_channels: int, heads: int = 1, concat: bool = True,
                 num_relations: Optional[int] = None, relation_dim: int = 10,
                 negative_slope: float = 0.2, dropout: float = 0.0,
                 add_self_loops: bool = True, self_loop_type: int = 1,
                 edge_dim: Optional[int] = None,
                 fill_value: Union[float, Tensor, str] = "mean",
                 bias: bool = True, residual: bool = False, depth: int = 1,
                 lambda_init: Optional[float] = None, act: bool = False,
                 norm: bool = False, layout: str = "auto", **kwargs):
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)
        if isinstance(in_channels, list):
            in_channels = tuple(in_channels)
        widths = in_channels if isinstance(in_channels, tuple) and \
            len(in_channels) == 2 else (in_channels, )
        R = num_relations
        for ok, arg, value, expected in (
            (all(_is_int(w, -1) and w != 0 for w in widths), "in_channels",
             in_channels, "be an int >= 1, -1 (lazy) or a pair of those"),
            (_is_int(out_channels), "out_channels", out_channels,
             "be an int >= 1"),
            (_is_int(heads), "heads", heads, "be >= 1"),
            (R is None or _is_int(R, 0), "num_relations", R,
             "be None or an int >= 0"),
            (_is_int(relation_dim), "relation_dim", relation_dim,
             "be an int >= 1"),
            (0.0 <= dropout < 1.0, "dropout", dropout, "lie in [0, 1)"),
            (layout in LAYOUTS, "layout", layout, f"be one of {LAYOUTS}"),
            (edge_dim is None or _is_int(edge_dim), "edge_dim", edge_dim,
             "be None or an int >= 1"),
            (not add_self_loops or R is None
             or (_is_int(self_loop_type, 0) and self_loop_type <= R),
             "self_loop_type", self_loop_type,
             f"be a relation id in [0, {R}] (num_relations)"),
        ):
            if not ok:
                self._fail(f"{arg} must {expected}, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.num_relations = num_relations
        self.relation_dim = relation_dim
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.self_loop_type = self_loop_type
        self.edge_dim = edge_dim
        self.fill_value = fill_value
        self.residual = residual
        self.depth = depth
        self.lambda_init = (default_lambda_init(depth)
                            if lambda_init is None else float(lambda_init))
        self.act = act
        self.norm = norm
        self.layout = layout

        # Per head: [a_l (target) | a_r (source)] of each branch, the
        # relation embedding shared by both branches and its two vectors, the
        # four lambda vectors, the LayerNorm affine, the edge-feature vectors.
        H, C = heads, out_channels
        pos, neg = self.pos_channels, self.neg_channels
        total = C * (H if concat else 1)
        has_edge = edge_dim is not None
        for present, shapes in (
            (True, dict(att_dst_pos=(1, H, pos), att_src_pos=(1, H, pos),
                        att_dst_neg=(1, H, neg), att_src_neg=(1, H, neg))),
            (R is not None, dict(rel_emb=(H, (R or 0) + 1, relation_dim),
                                 att_rel_pos=(H, relation_dim),
                                 att_rel_neg=(H, relation_dim))),
            (True, dict(lambda_q1=(H, pos), lambda_k1=(H, pos),
                        lambda_q2=(H, pos), lambda_k2=(H, pos))),
            (norm, dict(norm_weight=(H, C), norm_bias=(H, C))),
            (has_edge, dict(att_edge_pos=(1, H, pos),
                            att_edge_neg=(1, H, neg))),
            (bias, dict(bias=(total, ))),
        ):
            for name, shape in shapes.items():
                self.register_parameter(name, Parameter(torch.empty(*shape))
                                        if present else None)
        # All heads' projections side by side, as GATConv; a pair of input
        # widths (bipartite graphs) gets one projection per side.
        if isinstance(in_channels, int):
            self.lin = HeadLinear(in_channels, H * C, H)
        else:
            self.lin_src = HeadLinear(in_channels[0], H * C, H)
            self.lin_dst = HeadLinear(in_channels[1], H * C, H)
        self.lin_edge = HeadLinear(edge_dim, H * C, H) if has_edge else None
        self.res = None
        if residual:
            self.res = Linear(widths[-1], total, bias=False,
                              weight_initializer="glorot")

        self.alpha_pos: OptTensor = None
        self.alpha_neg: OptTensor = None
        self._register_load_state_dict_pre_hook(_load_projections,
                                                with_module=True)
        self.reset_parameters()

    @property
    def pos_channels(self) -> int:
        r"""Width of each head's positive branch :math:`\mathbf{P}`."""
        return self.out_channels - self.out_channels // 2

    @property
    def neg_channels(self) -> int:
        r"""Width of each head's negative branch :math:`\mathbf{Q}`."""
        return self.out_channels // 2

    def projections(self) -> Tuple[HeadLinear, HeadLinear]:
        """The projections of source and target features (the same module
        unless :obj:`in_channels` is a pair)."""
        if isinstance(self.in_channels, int):
            return self.lin, self.lin
        return self.lin_src, self.lin_dst

    def reset_parameters(self):
        r"""Initialises as the published layer, head by head: each head's
        projection, attention and relation vectors
        :func:`~torch.nn.init.xavier_uniform_` (gain :obj:`INIT_GAIN`), the
        relation embedding :math:`\mathcal{N}(0, 1)`, :math:`\lambda`
        vectors :math:`\mathcal{N}(0, 0.1)`, LayerNorm 1 and 0."""
        super().reset_parameters()
        lins = [lin for lin in dict.fromkeys(self.projections())
                if lin.in_channels > 0]
        for h in range(self.heads):
            for lin in lins:
                lin.reset_head(h)
            self._reset_head_vectors(h, self.att_dst_pos, self.att_src_pos,
                                     self.att_dst_neg, self.att_src_neg,
                                     self.att_rel_pos, self.att_rel_neg)
        if self.rel_emb is not None:
            normal_(self.rel_emb)
        for vec in (self.lambda_q1, self.lambda_k1, self.lambda_q2,
                    self.lambda_k2):
            normal_(vec, mean=0.0, std=0.1)
        ones(self.norm_weight)
        zeros(self.norm_bias)
        if self.lin_edge is not None:
            self.lin_edge.reset_parameters()
            for h in range(self.heads):
                self._reset_head_vectors(h, self.att_edge_pos,
                                         self.att_edge_neg)
        if self.res is not None:
            self.res.reset_parameters()
        zeros(self.bias)

    def _reset_head_vectors(self, h: int, *vectors: OptTensor) -> None:
        # Head h's [1, C] row of each [1, H, C] or [H, C] vector.
        for vec in vectors:
            if vec is not None:
                rows = vec.data if vec.dim() == 3 else vec.data.unsqueeze(0)
                xavier_uniform_(rows[:, h], gain=INIT_GAIN)

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

    def forward(self, x: Union[Tensor, OptPairTensor], edge_index: Adj,
                edge_type: OptTensor = None, edge_attr: OptTensor = None,
                size: Size = None,
                return_attention_weights: Optional[bool] = None
                ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]],
                           Tuple[Tensor, Union[Tensor, SparseTensor]]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): The node
                features, or a bipartite graph's source and target features
                (target :obj:`None`: no target term, :obj:`size` counts them).
            edge_index (torch.Tensor or EdgeIndex or SparseTensor): Source in
                row 0, target in row 1 (an EdgeIndex sorted by column is not
                sorted again), or a sparse :obj:`adj_t` with :obj:`[i, j]`
                the edge :math:`j \to i` (integer values: relation ids).
            edge_type (torch.Tensor, optional): Relation id of every edge, in
                :obj:`[0, num_relations]`. (default: :obj:`None`)
            edge_attr (torch.Tensor, optional): Edge features
                :obj:`[num_edges, edge_dim]`. (default: :obj:`None`)
            size ((int, int), optional): :obj:`(num_src_nodes,
                num_dst_nodes)`. (default: :obj:`None`)
            return_attention_weights (bool, optional): If :obj:`True`, also
                returns :obj:`(edge_index, alpha)` (sparse for a sparse input)
                and keeps both maps, detached, in :attr:`alpha_pos` and
                :attr:`alpha_neg`. (default: :obj:`None`)
        """
        pair = self._node_pair(x)
        adj = None
        if is_torch_sparse_tensor(edge_index) or \
                isinstance(edge_index, SparseTensor):
            adj = edge_index
            edge_index, edge_type, size = self._from_sparse(
                adj, edge_type, size)
        self._validate(pair, edge_index, edge_type, edge_attr, size)
        # The nodes that row 0 and row 1 index; targets without features:
        # as many as sources.
        src, dst = (None, None) if size is None else size
        src = pair[0].size(0) if src is None else src
        if dst is None:
            dst = src if pair[1] is None else pair[1].size(0)
        size = (int(src), int(dst))
        self._check_node_ids(edge_index, size)
        if self.add_self_loops:
            edge_index, edge_type, edge_attr = self._with_self_loops(
                _plain(edge_index), edge_type, edge_attr, size)

        # As in MessagePassing, x[0] is the side messages come from and x[1]
        # the side they go to, whatever the flow.
        H, C = self.heads, self.out_channels
        lin_src, lin_dst = self.projections()
        wh_src = lin_src(pair[0]).view(-1, H, C)
        wh_dst = wh_src
        if isinstance(x, (tuple, list)) or lin_dst is not lin_src:
            wh_dst = None if pair[1] is None else lin_dst(pair[1]).view(
                -1, H, C)
        att_src = (self.att_src_pos, self.att_src_neg)
        att_dst = (self.att_dst_pos, self.att_dst_neg)
        alpha_src = branch_scores(wh_src, att_src)
        alpha_dst = None if wh_dst is None else branch_scores(wh_dst, att_dst)

        graph, perm, by_source = _plain(edge_index), None, None
        if self._fuses(wh_src, edge_index):
            graph, perm, by_source = _sorted_by_target(
                edge_index, size, min(size) if self.add_self_loops else 0)
        if perm is not None:
            edge_type, edge_attr = (None if v is None else v[perm]
                                    for v in (edge_type, edge_attr))
        # The edge updater gets the plain rows, with the targets' pointers
        # alongside: PyG's Index wrapper of an EdgeIndex's rows costs a
        # twentieth of a Cora step.
        target_ptr = graph.get_csc()[0][0] if isinstance(
            graph, EdgeIndex) else None
        gathered = None
        if target_ptr is not None:
            # Sorted edges: the node terms are gathered here rather than by
            # PyG's lift, so that their gradients are sparse products by
            # the edges sorted by source and by target, not scatters.
            by_source = by_source or cache(graph.get_csr)  # one call each
            src_ids, dst_ids = _plain(graph)

            def source_rows() -> Tuple[Tensor, OptTensor]:
                (ptr, _), order = by_source()
                return ptr, order
            gathered = (gather_rows(alpha_src, src_ids, source_rows), None
                        if alpha_dst is None else gather_rows(
                            alpha_dst, dst_ids, lambda: (target_ptr, None)))
            alpha_src = alpha_dst = None
        alpha, maps = self.edge_updater(
            _plain(graph), alpha=(alpha_src, alpha_dst), gathered=gathered,
            edge_type=edge_type, edge_attr=edge_attr, target_ptr=target_ptr,
            size=size)
        if self.training and self.dropout > 0:  # its mask in edge order
            alpha = F.dropout(alpha.contiguous(), p=self.dropout)
        out = self.propagate(graph, x=(wh_src, wh_dst), alpha=alpha,
                             by_source=by_source, size=size)

        if self.norm:
            out = head_layer_norm(out, self.norm_weight, self.norm_bias,
                                  1.0 - self.lambda_init)
        out = F.gelu(out) if self.act else out
        out = out.reshape(-1, H * C) if self.concat else out.mean(dim=1)
        if self.res is not None and pair[1] is not None:
            out = out + self.res(pair[1])
        if self.bias is not None:
            out = out + self.bias

        if not return_attention_weights:
            return out
        if perm is not None:  # back to the order of edge_index
            maps, alpha = (torch.empty_like(a).index_copy_(0, perm, a)
                           for a in (maps, alpha))
        self.alpha_pos, self.alpha_neg = maps[:, :H], maps[:, H:]
        if adj is None:
            return out, (edge_index, alpha)
        # The weights in the input's form: adj_t [targets, sources, H].
        index, shape = edge_index.flip(0), (size[1], size[0])
        if isinstance(adj, SparseTensor):
            return out, SparseTensor(row=index[0], col=index[1], value=alpha,
                                     sparse_sizes=shape)
        return out, to_torch_sparse_tensor(index, alpha, shape,
                                           layout=adj.layout)

    def edge_update(self, alpha_j: OptTensor, alpha_i: OptTensor,
                    gathered: Optional[Tuple[Tensor, OptTensor]],
                    edge_type: OptTensor, edge_attr: OptTensor, index: Tensor,
                    target_ptr: OptTensor, dim_size: Optional[int]
                    ) -> Tuple[Tensor, Tensor]:
        r"""The signed weights :obj:`[num_edges, heads]` and both attention
        maps :obj:`[num_edges, 2 * heads]` (positive heads first), each
        normalised over every target's incoming edges (over segments of
        :obj:`target_ptr` for edges sorted by target, whose node terms
        come in :obj:`gathered`)."""
        if gathered is not None:
            alpha_j, alpha_i = gathered
        # alpha_j is a fresh gather of the sources' terms: the other terms
        # and the LeakyReLU go into it in place, one [E, 2H] tensor in all.
        scores = alpha_j if alpha_i is None else alpha_j.add_(alpha_i)
        if edge_type is not None:
            scores.add_(self.relation_scores().index_select(0, edge_type))
        elif self.rel_emb is not None and self.rel_emb.requires_grad \
                and torch.is_grad_enabled():
            # No relation term on untyped edges; the zero-valued product
            # gives the relation parameters a zero gradient instead of none,
            # so DistributedDataParallel needs no find_unused_parameters.
            scores = scores + 0.0 * self.relation_scores().sum()
        if edge_attr is not None:
            edge_h = self.lin_edge(edge_attr.view(edge_attr.size(0), -1))
            scores.add_(branch_scores(
                edge_h.view(-1, self.heads, self.out_channels),
                (self.att_edge_pos, self.att_edge_neg)))
        # In place needs a positive slope for its backward (from the output).
        leaky_relu = F.leaky_relu_ if self.negative_slope > 0 else \
            F.leaky_relu
        scores = leaky_relu(scores, self.negative_slope)
        return differential_softmax(scores, self.differential_lambda(),
                                    index, target_ptr, dim_size)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def message_and_aggregate(self, edge_index: EdgeIndex,
                              x: OptPairTensor, alpha: Tensor,
                              by_source: Optional[Callable]) -> Tensor:
        return csr_weighted_sum(alpha, x[0], edge_index, by_source)

    def _fuses(self, x: Tensor, edge_index: Tensor) -> bool:
        # Whether the edges go to propagate sorted by target (layout): what
        # the sparse products of message_and_aggregate can compute. Explain
        # mode never fuses, and its edge mask is in the given edge order.
        if self.layout == "coo" or edge_index.size(1) == 0 or self.explain \
                or torch_geometric.is_compiling():  # EdgeIndex: eager only
            return False
        if x.dtype in SUPPORTED_DTYPES and self.aggr in ("add", "sum") \
                and self.flow == "source_to_target":
            return True
        if self.layout == "csr":
            dtypes = [str(d) for d in SUPPORTED_DTYPES]
            self._fail(f"layout='csr' needs {dtypes} features, aggr='add' and "
                       f"flow='source_to_target', got {x.dtype}, "
                       f"aggr={self.aggr!r}, flow={self.flow!r}; use "
                       f"layout='auto' or 'coo'")
        return False

    def _with_self_loops(self, edge_index: Tensor, edge_type: OptTensor,
                         edge_attr: OptTensor, size: Tuple[int, int]
                         ) -> Tuple[Tensor, OptTensor, OptTensor]:
        # As GATConv: the graph's loops go, one per node is appended (to
        # the first min(size) nodes of a bipartite graph), with relation
        # self_loop_type and edge features from fill_value.
        num_loops = min(size)
        keep = edge_index[0] != edge_index[1]
        edge_index = edge_index[:, keep]
        edge_type, edge_attr = (None if v is None else v[keep]
                                for v in (edge_type, edge_attr))
        edge_index, edge_attr = add_self_loops(
            edge_index, edge_attr, fill_value=self.fill_value,
            num_nodes=num_loops)
        if edge_type is not None:
            loops = edge_type.new_full((num_loops, ), self.self_loop_type)
            edge_type = torch.cat([edge_type, loops])
        return edge_index, edge_type, edge_attr

    def _from_sparse(self, adj, edge_type: OptTensor,
                     size: Size) -> Tuple[Tensor, OptTensor, Size]:
        # adj_t[i, j] is the edge j -> i: edge_index is its transposed
        # pattern, in the order of its values.
        if self.flow != "source_to_target":
            self._fail(f"a sparse edge_index (adj_t) needs "
                       f"flow='source_to_target', got {self.flow!r}")
        if adj.dim() != 2:
            self._fail(f"expected a sparse edge_index (adj_t) of 2 "
                       f"dimensions, got {adj.dim()}")
        index, value = to_edge_index(adj)
        if edge_type is None and _is_index(value) and value.dim() == 1:
            edge_type = value.long()
        shape = (adj.size(1), adj.size(0))
        if size is not None and tuple(size) != shape:
            self._fail(f"size must be {shape} (the transposed shape of "
                       f"adj_t), got {tuple(size)}")
        return index.flip(0), edge_type, shape

    def _node_pair(self, x) -> Tuple[Tensor, OptTensor]:
        if isinstance(x, Tensor):
            return x, x
        if isinstance(x, (tuple, list)) and len(x) == 2 \
                and isinstance(x[0], Tensor) \
                and (x[1] is None or isinstance(x[1], Tensor)):
            return x[0], x[1]
        self._fail(f"x must be a tensor or a pair (x_src, x_dst) with x_dst "
                   f"possibly None, got {type(x).__name__}")

    def _validate(self, pair: Tuple[Tensor, OptTensor], edge_index: Tensor,
                  edge_type: OptTensor, edge_attr: OptTensor,
                  size: Size) -> None:
        if torch_geometric.is_compiling():
            return
        widths = self.in_channels
        widths = (widths, widths) if isinstance(widths, int) else widths
        for k, side in enumerate(("x (or x_src)", "x_dst")):
            feats = pair[k]
            if (k == 0 or feats is not None and feats is not pair[0]) and (
                    feats.dim() != 2 or widths[k] not in (-1, feats.size(-1))):
                width = "F" if widths[k] == -1 else widths[k]
                self._fail(f"expected {side} of shape [num_nodes, {width}], "
                           f"got {list(feats.shape)}")
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 \
                or edge_index.size(0) != 2 or edge_index.is_floating_point():
            self._fail(f"expected edge_index as an integer [2, num_edges] "
                       f"tensor (source row 0, target row 1) or a sparse "
                       f"adj_t, got {_describe(edge_index)}")
        E = edge_index.size(1)
        if size is not None and (not isinstance(size, (tuple, list)) or len(
                size) != 2 or not all(
                s is None or _is_int(s, 0) for s in size)):
            self._fail(f"size must be None or a pair of node counts "
                       f"(num_src_nodes, num_dst_nodes), got {size!r}")
        for k in range(2 if size is not None else 0):
            if None not in (size[k], pair[k]) and pair[k].size(0) != size[k]:
                self._fail(f"size[{k}] is {size[k]}, but x has "
                           f"{pair[k].size(0)} rows on that side")
        for arg, value, option in (("edge_type", edge_type, "num_relations"),
                                   ("edge_attr", edge_attr, "edge_dim")):
            if value is not None and getattr(self, option) is None:
                self._fail(f"{arg} needs {option}, but the layer was built "
                           f"with {option}=None")
        R = self.num_relations
        if edge_type is not None and not (
                _is_index(edge_type) and edge_type.dim() == 1
                and edge_type.numel() == E):
            self._fail(f"expected edge_type as an integer tensor of shape "
                       f"[{E}] (one relation id per edge), got "
                       f"{_describe(edge_type)}")
        # Reading the range back costs a host sync on CUDA, so it is checked
        # there only in PyG's debug mode.
        if edge_type is not None and E > 0 and (
                edge_type.device.type == "cpu"
                or torch_geometric.is_debug_enabled()):
            lo, hi = int(edge_type.min()), int(edge_type.max())
            if lo < 0 or hi > R:
                self._fail(f"edge_type ids must lie in [0, {R}] (the "
                           f"relation embedding has {R + 1} rows), got ids "
                           f"in [{lo}, {hi}]")
        if edge_attr is not None and not (
                isinstance(edge_attr, Tensor)
                and edge_attr.is_floating_point()
                and edge_attr.dim() in (1, 2) and edge_attr.size(0) == E
                and edge_attr.view(E, -1).size(1) == self.edge_dim):
            self._fail(f"expected edge_attr as a float tensor of shape "
                       f"[{E}, {self.edge_dim}], got {_describe(edge_attr)}")

    def _check_node_ids(self, edge_index: Tensor,
                        size: Tuple[int, int]) -> None:
        # The sorts and sparse products of the fused path read the ids
        # unchecked: one out of range corrupted memory. Reading the range
        # back costs a host sync on CUDA: checked there in debug mode only.
        if edge_index.size(-1) == 0 or torch_geometric.is_compiling() or (
                edge_index.device.type != "cpu"
                and not torch_geometric.is_debug_enabled()):
            return
        sides = ("source", "target") if self.flow == "source_to_target" \
            else ("target", "source")
        for row, side in enumerate(sides):
            lo, hi = (int(v) for v in torch.aminmax(_plain(edge_index)[row]))
            if lo < 0 or hi >= size[row]:
                self._fail(f"edge_index row {row} ({side}s) holds node ids "
                           f"in [{lo}, {hi}], expected ids in [0, "
                           f"{size[row]}) (the number of {side} nodes)")

    def _fail(self, message: str):
        raise ValueError(f"{type(self).__name__}: {message}")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, "
                f"{self.out_channels}, heads={self.heads}, "
                f"num_relations={self.num_relations}, "
                f"lambda_init={self.lambda_init:.4f})")


def _sorted_by_target(edge_index: Tensor, size: Tuple[int, int],
                      loops: int = 0
                      ) -> Tuple[EdgeIndex, OptTensor, Optional[Callable]]:
    """The edges as an :class:`EdgeIndex` sorted by target, the permutation
    that sorted them (:obj:`None` if they already were: an EdgeIndex sorted
    by column as given; on CPU, a sorted tensor) and, for a plain tensor, how
    to get them sorted by source for the backward pass, as
    :meth:`EdgeIndex.get_csr` would and, as it does, sorting once for every
    call (:obj:`None`: use its cached sort). The
    last :obj:`loops` edges are the self-loops of nodes 0, 1, ... in order,
    as the layer appends them."""
    if isinstance(edge_index, EdgeIndex) and edge_index.is_sorted_by_col:
        if edge_index.sparse_size() == size:
            return edge_index, None, None
        return EdgeIndex(_plain(edge_index), sparse_size=size,
                         sort_order="col"), None, None
    given = _plain(edge_index).contiguous()  # EdgeIndex needs it
    perm = None
    if not _is_sorted(given[1]):
        merged = _merged_order(given[1], size[1], loops) if loops else None
        perm = _stable_order(given[1], size[1]) if merged is None \
            else merged[1]
    graph = EdgeIndex(given if perm is None else torch.stack(
        [given[0].index_select(0, perm), given[1].index_select(0, perm)]),
        sparse_size=size, sort_order="col")  # a third of index_select(1, .)

    @cache  # the aggregation's and the gathers' backward passes share it
    def by_source():
        src, dst = graph.as_tensor()
        merged = _merged_order(given[0], size[0], loops)
        if merged is None:
            order = _stable_order(src, size[0])
            return (index2ptr(src.index_select(0, order), size[0]),
                    dst.index_select(0, order)), order
        ptr, order = merged  # positions in the given order
        if perm is not None:  # given -> target order
            inverse = torch.empty_like(perm)
            inverse[perm] = torch.arange(perm.numel(), device=perm.device)
            order = inverse.index_select(0, order)
        return (ptr, dst.index_select(0, order)), order
    return graph, perm, by_source


def _merged_order(index: Tensor, num_nodes: int,
                  loops: int) -> Optional[Tuple[Tensor, Tensor]]:
    # The pointers and stable order of index, whose last `loops` entries
    # are 0, 1, ... (the appended self-loops) and whose head is sorted (a
    # graph sorted by that row, as PyG's datasets are: by source when
    # coalesced, Cora by target): a merge in closed form, no sort. None if
    # the head is not sorted.
    head = index[:index.numel() - loops]
    if not _is_sorted(head):
        return None
    arange = partial(torch.arange, device=index.device)
    ptr = index2ptr(head, num_nodes)
    order = torch.empty_like(index)  # merged position -> given position
    order[arange(head.numel()) + head.clamp(max=loops)] = arange(head.numel())
    order[ptr[1:loops + 1] + arange(loops)] = arange(head.numel(),
                                                     index.numel())
    return ptr + arange(num_nodes + 1).clamp_(max=loops), order


def _is_sorted(index: Tensor) -> bool:
    # Read back on CPU only: on CUDA the check costs a host sync.
    return index.device.type == "cpu" and \
        not torch_geometric.is_compiling() and \
        bool((index[1:] >= index[:-1]).all())


def _stable_order(index: Tensor, num_nodes: int) -> Tensor:
    # int32 keys sort in about half the time of int64 ones, and on CPU an
    # array shorter than RADIX_MIN faster when padded to it (with keys past
    # the last node, which sort last).
    keys = index.int() if num_nodes < 2**31 - 1 else index
    if index.device.type == "cpu" and 0 < index.numel() < RADIX_MIN:
        keys = torch.cat([keys, keys.new_full(
            (RADIX_MIN - index.numel(), ), num_nodes)])
    return keys.sort(stable=True)[1][:index.numel()]


def _plain(edge_index: Tensor) -> Tensor:
    return edge_index.as_tensor() if isinstance(edge_index, EdgeIndex) \
        else edge_index


def _load_projections(module, state_dict, prefix, *args) -> None:
    # Checkpoints written before the projections became Linear modules
    # hold them as [in, heads * C] parameters weight, weight_src, ...
    for old in ("weight", "weight_src", "weight_dst", "weight_edge"):
        if prefix + old in state_dict:
            new = old.replace("weight", "lin")
            state_dict[f"{prefix}{new}.weight"] = \
                state_dict.pop(prefix + old).t()


def _is_int(value, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= low


def _is_index(value) -> bool:
    # An integer tensor (relation ids), not bool.
    return isinstance(value, Tensor) and not value.is_floating_point() \
        and value.dtype != torch.bool


def _describe(value) -> str:
    if not isinstance(value, Tensor):
        return type(value).__name__
    return f"{value.dtype} {list(value.shape)}"
