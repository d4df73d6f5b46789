"""Differential graph attention over typed edges (AMB-DSGDN, Sec. 4.5)."""

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch.nn.init import xavier_uniform_
from torch.nn.parameter import UninitializedParameter

import torch_geometric
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import (Adj, OptPairTensor, OptTensor, Size,
                                    SparseTensor)
from torch_geometric.utils import (add_self_loops, is_torch_sparse_tensor,
                                   remove_self_loops, softmax,
                                   to_edge_index, to_torch_coo_tensor,
                                   to_torch_csc_tensor, to_torch_csr_tensor)

from dsgdn_pyg.nn.csr_aggregation import (SUPPORTED_DTYPES, CSRLayout,
                                          csr_layout, csr_weighted_sum)
from dsgdn_pyg.nn.diff_attention import INIT_GAIN, DiffAttentionParameters

AttentionWeights = Tuple[Tensor, Tensor]
LAYOUTS = ("auto", "csr", "coo")
# MessagePassing's hooks into propagate: while any is registered, the layer
# runs propagate so that they see every message.
PROPAGATE_HOOKS = (
    "_propagate_forward_pre_hooks", "_propagate_forward_hooks",
    "_message_forward_pre_hooks", "_message_forward_hooks",
    "_aggregate_forward_pre_hooks", "_aggregate_forward_hooks",
    "_message_and_aggregate_forward_pre_hooks",
    "_message_and_aggregate_forward_hooks",
)
SPARSE_BUILDERS = {
    torch.sparse_coo: to_torch_coo_tensor,
    torch.sparse_csr: to_torch_csr_tensor,
    torch.sparse_csc: to_torch_csc_tensor,
}


def branch_scores(wh: Tensor, att_pos: Tensor, att_neg: Tensor) -> Tensor:
    r"""One side's terms of both branches' scores,
    :math:`\mathbf{a}^{\top} \mathbf{P}` and :math:`\mathbf{a}^{\top}
    \mathbf{Q}`, of every node and head, :obj:`[..., 2H]` (positive heads
    first); :obj:`wh [..., H, C]` splits after :obj:`att_pos`'s width."""
    pos = att_pos.size(-1)
    return torch.cat([(wh[..., :pos] * att_pos).sum(-1),
                      (wh[..., pos:] * att_neg).sum(-1)], dim=-1)


def node_scores(wh: Tensor, att_dst_pos: Tensor, att_dst_neg: Tensor,
                att_src_pos: Tensor, att_src_neg: Tensor
                ) -> Tuple[Tensor, Tensor]:
    r"""The per-node terms of the branch scores, :math:`\mathbf{a}_l^{\top}
    \mathbf{P}_i` and :math:`\mathbf{a}_r^{\top} \mathbf{P}_j` (and their
    negative-branch twins on :math:`\mathbf{Q}`), of every node and head,
    computed before anything is gathered per edge.

    Args:
        wh (torch.Tensor): Projected features :obj:`[..., H, C]`.
        att_* (torch.Tensor): Attention vectors :obj:`[1, H, width]` of the
            positive (:math:`\lceil C / 2 \rceil`) and negative
            (:math:`\lfloor C / 2 \rfloor`) branch.

    Returns:
        :obj:`(dst [..., 2H], src [..., 2H])`, positive heads first.
    """
    return (branch_scores(wh, att_dst_pos, att_dst_neg),
            branch_scores(wh, att_src_pos, att_src_neg))


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
        \mathbf{a}^{+\top}_{\rho} \mathbf{E}_{\rho}(\rho_{ij}) +
        \mathbf{a}^{+\top}_{e} \mathbf{W}_{e}^{P} \mathbf{e}_{j,i}\right)

    (and :math:`e^{-}_{i,j}` likewise on :math:`\mathbf{Q}`; the edge-feature
    term, as in :class:`~torch_geometric.nn.conv.GATConv`, only with
    :obj:`edge_dim`, the relation term only with :obj:`edge_type`). Both are
    normalised by a sparse softmax over the incoming edges of :math:`i` and
    combined into signed differential weights

    .. math::
        \alpha_{i,j} = \alpha^{+}_{i,j} - \lambda \, \alpha^{-}_{i,j},
        \qquad \lambda = e^{\mathbf{\lambda}_{q1} \cdot \mathbf{\lambda}_{k1}}
        - e^{\mathbf{\lambda}_{q2} \cdot \mathbf{\lambda}_{k2}}
        + \lambda_{init}.

    Each head outputs :math:`\sum_j \alpha_{i,j} \mathbf{W}\mathbf{h}_j`,
    or with :obj:`norm=True, act=True` the paper's
    :math:`\mathrm{GELU}(\mathrm{LayerNorm}(\sum_j \alpha_{i,j}
    \mathbf{W}\mathbf{h}_j) \cdot (1 - \lambda_{init}))` (Eq. 15-18); the heads
    are concatenated or averaged, then the optional residual and bias are
    added as in :class:`~torch_geometric.nn.conv.GATConv`.

    The defaults are those of a graph without relation ids, in a GAT recipe
    in place of :class:`~torch_geometric.nn.conv.GATConv` (the model adds
    its own nonlinearity): no relation term, and no per-head LayerNorm or
    GELU. In PyG's GAT recipe on Cora (8 heads of 8 channels) the LayerNorm
    over each narrow head costs 3 points of accuracy; without it the layer
    is within the spread of :class:`GATConv` over 10 seeds (the docs' guide
    "DiffGATConv on Cora").
    The dialogue block :class:`~dsgdn_pyg.nn.DiffRGCN` sets
    :obj:`num_relations=5, norm=True, act=True`, as published.

    How the contract differs from :class:`~torch_geometric.nn.conv.GATConv`:

    * the weights of a target are signed and sum to :math:`1 - \lambda`, not
      to 1 (:attr:`alpha_pos` and :attr:`alpha_neg` each sum to 1);
    * with :obj:`norm=True` each head ends in its own LayerNorm (and with
      :obj:`act=True` a GELU), normalised over its channels rather than a
      weighted mean of projected neighbours;
    * self-loops are handled as :class:`~torch_geometric.nn.conv.GATConv`
      does (existing loops removed, one added per node), and the added loops
      get the relation :obj:`self_loop_type` and, with edge features,
      :obj:`fill_value`. With :obj:`add_self_loops=False` a node without
      incoming edges receives an empty sum (with :obj:`norm=True, act=True`
      its head outputs :math:`\mathrm{GELU}(\beta (1 - \lambda_{init}))`
      whatever its features; the dialogue graphs carry their own loops);
    * every head owns its projection, attention vectors, relation embedding,
      :math:`\lambda` vectors and LayerNorm, so :math:`H` heads hold exactly
      the parameters of :math:`H` single-head layers.

    Args:
        in_channels (int or tuple): Size of each input sample, or :obj:`-1`
            to derive it from the first input (lazy). A tuple gives the sizes
            of source and target features of a bipartite graph, each with
            its own projection.
        out_channels (int): Size of each head's output; its first
            :math:`\lceil C / 2 \rceil` channels feed the positive branch,
            the other :math:`\lfloor C / 2 \rfloor` the negative branch.
        heads (int, optional): Number of differential attention heads.
            (default: :obj:`1`)
        concat (bool, optional): If :obj:`False`, the heads are averaged
            instead of concatenated. (default: :obj:`True`)
        num_relations (int, optional): Number of edge relation ids; the
            relation embedding has :obj:`num_relations + 1` rows for the ids
            :obj:`0` to :obj:`num_relations` (the dialogue graphs use
            :obj:`1` to :obj:`5`, :obj:`0` meaning "no edge" in a dense
            adjacency). :obj:`None`: no relation term and no relation
            parameters. (default: :obj:`None`)
        relation_dim (int, optional): Width of the relation embedding.
            (default: :obj:`10`)
        negative_slope (float, optional): LeakyReLU angle of the negative
            slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the differential
            attention weights. (default: :obj:`0.0`)
        add_self_loops (bool, optional): If :obj:`True`, removes the
            self-loops of the graph and adds one to every node (to the first
            :math:`\min(N_{src}, N_{dst})` nodes of a bipartite graph).
            (default: :obj:`True`)
        self_loop_type (int, optional): Relation id of the added self-loops
            when :obj:`edge_type` is given. (default: :obj:`1`, the
            self-loop relation of the dialogue graphs)
        edge_dim (int, optional): Edge feature dimensionality (in case there
            are any). (default: :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): The way to
            generate edge features of self-loops (in case
            :obj:`edge_dim != None`), as in
            :meth:`~torch_geometric.utils.add_self_loops`.
            (default: :obj:`"mean"`)
        bias (bool, optional): If :obj:`False`, the layer will not learn an
            additive bias. (default: :obj:`True`)
        residual (bool, optional): If :obj:`True`, the layer will add a
            learnable skip-connection. (default: :obj:`False`)
        depth (int, optional): Layer depth that sets
            :math:`\lambda_{init} = 0.8 - 0.6 e^{-0.3 \cdot depth}` (Eq. 14).
            (default: :obj:`1`, as in the published runs)
        lambda_init (float, optional): Overrides the value derived from
            :obj:`depth`. (default: :obj:`None`)
        act (bool, optional): If :obj:`True`, each head ends in a GELU.
            (default: :obj:`False`)
        norm (bool, optional): If :obj:`True`, each head ends in the
            LayerNorm of Eq. 17 scaled by :math:`(1 - \lambda_{init})`.
            (default: :obj:`False`)
        layout (str, optional): How the edges are traversed.
            :obj:`"csr"` sorts them by target once per graph
            (:func:`~dsgdn_pyg.nn.csr_layout`), normalises with a segment
            softmax and aggregates with sparse matrix products, never
            materialising a message per edge; :obj:`"coo"` is the plain
            gather, :meth:`message`, scatter path of
            :class:`~torch_geometric.nn.conv.MessagePassing` (the reference).
            :obj:`"auto"` takes :obj:`"csr"` for graphs with edges in
            :obj:`float32`/:obj:`float64`, :obj:`"coo"` otherwise. Both give
            the same values and gradients. Explain mode, registered
            :class:`~torch_geometric.nn.conv.MessagePassing` hooks, an
            :obj:`aggr` other than :obj:`"add"`/:obj:`"sum"` and
            :obj:`flow="target_to_source"` always take the :obj:`"coo"`
            path. (default: :obj:`"auto"`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`((|\mathcal{V_s}|, F_{s}), (|\mathcal{V_t}|, F_{t}))`
          if bipartite,
          edge indices :math:`(2, |\mathcal{E}|)` (source row 0, target
          row 1) or a sparse :obj:`adj_t` :math:`(|\mathcal{V_t}|,
          |\mathcal{V_s}|)`,
          edge types :math:`(|\mathcal{E}|)` *(optional)*,
          edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, H * F_{out})` or
          :math:`((|\mathcal{V}_t|, H * F_{out})` if bipartite
          (:math:`F_{out}` instead of :math:`H * F_{out}` if
          :obj:`concat=False`);
          with :obj:`return_attention_weights=True` also
          :math:`((2, |\mathcal{E}|), (|\mathcal{E}|, H))`, the edges (with
          the added self-loops) and the signed differential weights, or a
          sparse tensor of the weights for a sparse input.

    After a forward pass with :obj:`return_attention_weights=True`, the
    positive and negative maps of that pass are kept, detached, in
    :attr:`alpha_pos` and :attr:`alpha_neg` (each :math:`(|\mathcal{E}|, H)`)
    and the coefficients in :meth:`differential_lambda`.
    """

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        num_relations: Optional[int] = None,
        relation_dim: int = 10,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        self_loop_type: int = 1,
        edge_dim: Optional[int] = None,
        fill_value: Union[float, Tensor, str] = "mean",
        bias: bool = True,
        residual: bool = False,
        depth: int = 1,
        lambda_init: Optional[float] = None,
        act: bool = False,
        norm: bool = False,
        layout: str = "auto",
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        kwargs.setdefault("node_dim", 0)
        super().__init__(**kwargs)

        name = type(self).__name__
        if layout not in LAYOUTS:
            raise ValueError(f"{name}: layout must be one of {LAYOUTS}, "
                             f"got {layout!r}")
        if edge_dim is not None and (not isinstance(edge_dim, int)
                                     or edge_dim < 1):
            raise ValueError(f"{name}: edge_dim must be None or an int >= 1, "
                             f"got {edge_dim!r}")
        self.init_diff_attention(in_channels, out_channels, heads, concat,
                                 num_relations, relation_dim, negative_slope,
                                 dropout, depth, lambda_init, act, norm)
        if add_self_loops and num_relations is not None and not (
                isinstance(self_loop_type, int)
                and 0 <= self_loop_type <= num_relations):
            raise ValueError(
                f"{name}: self_loop_type must be a relation id in "
                f"[0, {num_relations}] (num_relations), got "
                f"{self_loop_type!r}")
        self.add_self_loops = add_self_loops
        self.self_loop_type = self_loop_type
        self.edge_dim = edge_dim
        self.fill_value = fill_value
        self.residual = residual
        self.layout = layout

        if edge_dim is not None:
            # As the node features: all heads' projections side by side, then
            # per head one vector per branch.
            self.weight_edge = Parameter(
                torch.empty(edge_dim, heads * out_channels))
            self.att_edge_pos = Parameter(
                torch.empty(1, heads, self.pos_channels))
            self.att_edge_neg = Parameter(
                torch.empty(1, heads, self.neg_channels))
        else:
            for key in ("weight_edge", "att_edge_pos", "att_edge_neg"):
                self.register_parameter(key, None)

        total_out_channels = out_channels * (heads if concat else 1)
        if residual:
            in_dst = (self.in_channels if isinstance(self.in_channels, int)
                      else self.in_channels[1])
            self.res = Linear(in_dst, total_out_channels, bias=False,
                              weight_initializer="glorot")
        else:
            self.register_parameter("res", None)
        if bias:
            self.bias = Parameter(torch.empty(total_out_channels))
        else:
            self.register_parameter("bias", None)

        self.alpha_pos: OptTensor = None
        self.alpha_neg: OptTensor = None

        self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.reset_diff_attention()
        if self.weight_edge is not None:
            self.reset_projection(self.weight_edge)
            for h in range(self.heads):
                for att in (self.att_edge_pos, self.att_edge_neg):
                    xavier_uniform_(att.data[:, h], gain=INIT_GAIN)
        if self.res is not None:
            self.res.reset_parameters()
        zeros(self.bias)

    def forward(
        self,
        x: Union[Tensor, OptPairTensor],
        edge_index: Adj,
        edge_type: OptTensor = None,
        edge_attr: OptTensor = None,
        size: Size = None,
        return_attention_weights: Optional[bool] = None,
        *,
        csr: Optional[CSRLayout] = None,
    ) -> Union[Tensor, Tuple[Tensor, AttentionWeights],
               Tuple[Tensor, Union[Tensor, SparseTensor]]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): The node
                features, or the source and target features of a bipartite
                graph (the target features may be :obj:`None`; then
                :obj:`size` gives the number of targets and the scores have
                no target term).
            edge_index (torch.Tensor or SparseTensor): The edges, source in
                row 0 and target in row 1, or a sparse :obj:`adj_t`
                (:class:`torch.sparse.Tensor` or
                :class:`torch_sparse.SparseTensor`) whose entry
                :obj:`[i, j]` is the edge :math:`j \to i`; an integer-valued
                one carries the relation ids.
            edge_type (torch.Tensor, optional): Relation id of every edge, in
                :obj:`[0, num_relations]`. Without it the relation term of the
                scores is left out. (default: :obj:`None`)
            edge_attr (torch.Tensor, optional): Edge features
                :obj:`[num_edges, edge_dim]` (needs :obj:`edge_dim`).
                (default: :obj:`None`)
            size ((int, int), optional): The shape of the adjacency matrix,
                :obj:`(num_src_nodes, num_dst_nodes)`. (default: :obj:`None`)
            return_attention_weights (bool, optional): If :obj:`True`, also
                returns :obj:`(edge_index, alpha)` with the signed
                differential weights (a sparse tensor of them for a sparse
                input). (default: :obj:`None`)
            csr (CSRLayout, optional): The edges' layout from
                :func:`~dsgdn_pyg.nn.csr_layout`, to share it between layers
                that run on the same graph (only with
                :obj:`add_self_loops=False`); built here when needed and not
                given. (default: :obj:`None`)
        """
        pair = self._node_pair(x)
        adj = None
        if is_torch_sparse_tensor(edge_index) or \
                isinstance(edge_index, SparseTensor):
            adj = edge_index
            edge_index, edge_type, size = self._from_sparse(
                adj, edge_type, size)
        self._validate(pair, edge_index, edge_type, edge_attr, size)
        size = self._graph_size(pair, size)

        if self.add_self_loops:
            if csr is not None:
                raise ValueError(
                    f"{type(self).__name__}: csr must be None with "
                    f"add_self_loops=True (a precomputed layout lacks the "
                    f"added loops)")
            edge_index, edge_type, edge_attr = self._with_self_loops(
                edge_index, edge_type, edge_attr, size)

        # Index k of edge_index, x and size is the same side of the graph;
        # which side is the target follows flow, as in MessagePassing.
        i, j = (1, 0) if self.flow == "source_to_target" else (0, 1)
        w_src, w_dst = self.projections()
        wh_0 = self.project(pair[0], w_src)
        if isinstance(x, Tensor) and w_dst is w_src:
            wh_1 = wh_0
        else:
            wh_1 = None if pair[1] is None else self.project(pair[1], w_dst)
        wh = (wh_0, wh_1)

        lam = self.differential_lambda().view(1, -1)
        if self.uses_csr(wh[j], edge_index):
            if csr is None:
                csr = csr_layout(edge_index, size[i], size[j])
            elif (csr.num_nodes, csr.num_src_nodes) != (size[i], size[j]) \
                    or csr.src.numel() != edge_index.size(1):
                raise ValueError(
                    f"{type(self).__name__}: csr is the layout of a graph "
                    f"with {csr.num_src_nodes} -> {csr.num_nodes} nodes and "
                    f"{csr.src.numel()} edges, expected {size[j]} -> "
                    f"{size[i]} nodes and {edge_index.size(1)} edges")
            alpha_pos, alpha_neg = self.branch_attention(
                wh[j], wh[i], csr.src, csr.dst, size[i],
                _reorder(csr, edge_type), _reorder(csr, edge_attr), csr.ptr)
            alpha = alpha_pos - lam * alpha_neg
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
            out = csr_weighted_sum(alpha, wh[j], csr)
            if return_attention_weights:
                alpha_pos, alpha_neg, alpha = (csr.to_edge_order(a) for a in
                                               (alpha_pos, alpha_neg, alpha))
        else:
            alpha_pos, alpha_neg = self.branch_attention(
                wh[j], wh[i], edge_index[j], edge_index[i], size[i],
                edge_type, edge_attr)
            alpha = alpha_pos - lam * alpha_neg
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
            out = self.propagate(edge_index, x=wh, alpha=alpha, size=size)
        out = self._normalize(out)

        if self.concat:
            out = out.reshape(-1, self.heads * self.out_channels)
        else:
            out = out.mean(dim=1)
        if self.res is not None and pair[i] is not None:
            out = out + self.res(pair[i])
        if self.bias is not None:
            out = out + self.bias

        if return_attention_weights:
            self.alpha_pos = alpha_pos.detach()
            self.alpha_neg = alpha_neg.detach()
            if adj is not None:
                return out, self._to_sparse(adj, edge_index, alpha, size)
            return out, (edge_index, alpha)
        return out

    def branch_attention(self, wh_src: Tensor, wh_dst: Optional[Tensor],
                         src: Tensor, dst: Tensor, num_dst_nodes: int,
                         edge_type: OptTensor = None,
                         edge_attr: OptTensor = None,
                         ptr: OptTensor = None) -> Tuple[Tensor, Tensor]:
        r"""The positive and negative attention maps, each
        :obj:`[num_edges, heads]`, normalised over each target's incoming
        edges (:obj:`ptr`: the targets' row pointer when the edges are
        sorted by target)."""
        H = self.heads
        scores = branch_scores(wh_src, self.att_src_pos,
                               self.att_src_neg).index_select(0, src)
        if wh_dst is not None:
            scores = scores + branch_scores(
                wh_dst, self.att_dst_pos, self.att_dst_neg).index_select(
                    0, dst)
        if edge_type is not None:
            scores = scores + self.relation_scores().index_select(
                0, edge_type)
        elif self.rel_emb is not None and self.rel_emb.requires_grad \
                and torch.is_grad_enabled():
            # No relation term on untyped edges; the zero-valued product
            # gives the relation parameters a zero gradient instead of none,
            # so DistributedDataParallel needs no find_unused_parameters.
            scores = scores + 0.0 * self.relation_scores().sum()
        if edge_attr is not None:
            edge_h = edge_attr.view(edge_attr.size(0), -1) @ self.weight_edge
            scores = scores + branch_scores(
                edge_h.view(-1, H, self.out_channels), self.att_edge_pos,
                self.att_edge_neg)
        scores = F.leaky_relu(scores, self.negative_slope)
        alpha = softmax(scores, dst, ptr=ptr, num_nodes=num_dst_nodes)
        return alpha[:, :H], alpha[:, H:]

    def uses_csr(self, x: Tensor, edge_index: Tensor) -> bool:
        r"""Whether :meth:`forward` takes the CSR path for (projected)
        features of :obj:`x`'s dtype on this graph (see :obj:`layout`)."""
        if self.layout == "coo" or not isinstance(edge_index, Tensor) \
                or edge_index.dim() != 2 or edge_index.size(1) == 0:
            return False
        if self.explain or self.flow != "source_to_target" \
                or self.aggr not in ("add", "sum") \
                or any(getattr(self, key) for key in PROPAGATE_HOOKS):
            return False
        if x.dtype not in SUPPORTED_DTYPES:
            if self.layout == "csr":
                raise ValueError(
                    f"DiffGATConv: layout='csr' supports "
                    f"{[str(d) for d in SUPPORTED_DTYPES]} features, got "
                    f"{x.dtype}; use layout='auto' or 'coo'")
            return False
        return True

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def _normalize(self, out: Tensor) -> Tensor:
        if self.norm:
            out = head_layer_norm(out, self.norm_weight, self.norm_bias,
                                  1.0 - self.lambda_init)
        return F.gelu(out) if self.act else out

    def _with_self_loops(self, edge_index: Tensor, edge_type: OptTensor,
                         edge_attr: OptTensor, size: Tuple[int, int]
                         ) -> Tuple[Tensor, OptTensor, OptTensor]:
        # As GATConv: the graph's loops go, one per node is appended (to
        # the nodes on both sides of a bipartite graph), with relation
        # self_loop_type and edge features from fill_value.
        num_loops = min(size)
        _, edge_attr = remove_self_loops(edge_index, edge_attr)
        edge_index, edge_type = remove_self_loops(edge_index, edge_type)
        edge_index, edge_attr = add_self_loops(
            edge_index, edge_attr, fill_value=self.fill_value,
            num_nodes=num_loops)
        if edge_type is not None:
            edge_type = torch.cat([
                edge_type,
                edge_type.new_full((num_loops, ), self.self_loop_type)
            ])
        return edge_index, edge_type, edge_attr

    def _node_pair(self, x) -> Tuple[Tensor, OptTensor]:
        if isinstance(x, Tensor):
            return x, x
        if isinstance(x, (tuple, list)) and len(x) == 2 \
                and isinstance(x[0], Tensor) \
                and (x[1] is None or isinstance(x[1], Tensor)):
            return x[0], x[1]
        raise ValueError(
            f"{type(self).__name__}: x must be a tensor or a pair (x_src, "
            f"x_dst) with x_dst possibly None, got {type(x).__name__}")

    def _graph_size(self, pair: Tuple[Tensor, OptTensor],
                    size: Size) -> Tuple[int, int]:
        # (size[0], size[1]): the nodes that row 0 and row 1 of edge_index
        # index, from size, else from the features (targets without
        # features: as many as sources).
        sizes = [None if size is None else size[k] for k in range(2)]
        for k in range(2):
            if sizes[k] is None:
                sizes[k] = pair[k].size(0) if pair[k] is not None else None
        if sizes[1] is None:
            sizes[1] = sizes[0]
        return int(sizes[0]), int(sizes[1])

    def _from_sparse(self, adj, edge_type: OptTensor,
                     size: Size) -> Tuple[Tensor, OptTensor, Size]:
        # adj_t[i, j] is the edge j -> i: edge_index is its transposed
        # pattern, in the order of its values.
        name = type(self).__name__
        if self.flow != "source_to_target":
            raise ValueError(f"{name}: a sparse edge_index (adj_t) needs "
                             f"flow='source_to_target', got {self.flow!r}")
        if adj.dim() != 2:
            raise ValueError(f"{name}: expected a sparse edge_index (adj_t) "
                             f"of 2 dimensions, got {adj.dim()}")
        index, value = to_edge_index(adj)
        edge_index = index.flip(0)
        if edge_type is None and not value.is_floating_point() \
                and value.dtype != torch.bool and value.dim() == 1:
            edge_type = value.long()
        shape = (adj.size(1), adj.size(0))
        if size is not None and tuple(size) != shape:
            raise ValueError(f"{name}: size must be {shape} (the transposed "
                             f"shape of adj_t), got {tuple(size)}")
        return edge_index, edge_type, shape

    def _to_sparse(self, adj, edge_index: Tensor, alpha: Tensor,
                   size: Tuple[int, int]):
        # The weights in the input's form: adj_t [targets, sources, H].
        index = edge_index.flip(0)
        if isinstance(adj, SparseTensor):
            return SparseTensor(row=index[0], col=index[1], value=alpha,
                                sparse_sizes=(size[1], size[0]))
        return SPARSE_BUILDERS[adj.layout](index, alpha, (size[1], size[0]))

    def _lazy_load_hook(self, state_dict, prefix, *args) -> None:
        # A lazy projection takes the shape of the one it loads.
        for key in ("weight", "weight_src", "weight_dst"):
            param = getattr(self, key, None)
            if isinstance(param, UninitializedParameter) and \
                    prefix + key in state_dict:
                with torch.no_grad():
                    param.materialize(state_dict[prefix + key].shape)

    def _validate(self, pair: Tuple[Tensor, OptTensor], edge_index: Tensor,
                  edge_type: OptTensor, edge_attr: OptTensor,
                  size: Size) -> None:
        if torch_geometric.is_compiling():
            return
        name = type(self).__name__
        in_channels = self.in_channels
        widths = ((in_channels, in_channels)
                  if isinstance(in_channels, int) else in_channels)
        for k, side in enumerate(("x", "x_dst")):
            feats = pair[k]
            if k == 1 and (feats is None or feats is pair[0]):
                continue
            if feats.dim() != 2 or (widths[k] != -1
                                    and feats.size(-1) != widths[k]):
                width = "F" if widths[k] == -1 else widths[k]
                raise ValueError(
                    f"{name}: expected {side if k else 'x (or x_src)'} of "
                    f"shape [num_nodes, {width}], got {list(feats.shape)}")
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 \
                or edge_index.size(0) != 2 \
                or edge_index.is_floating_point():
            raise ValueError(
                f"{name}: expected edge_index as an integer [2, num_edges] "
                f"tensor (source row 0, target row 1) or a sparse adj_t, "
                f"got {getattr(edge_index, 'dtype', '')} "
                f"{list(getattr(edge_index, 'shape', [type(edge_index)]))}")
        num_edges = edge_index.size(1)
        if size is not None and (len(size) != 2 or not all(
                s is None or (isinstance(s, int) and s >= 0) for s in size)):
            raise ValueError(f"{name}: size must be None or a pair of node "
                             f"counts (num_src_nodes, num_dst_nodes), got "
                             f"{size!r}")
        if size is not None:
            for k in range(2):
                if size[k] is not None and pair[k] is not None and \
                        pair[k].size(0) != size[k]:
                    raise ValueError(
                        f"{name}: size[{k}] is {size[k]}, but x has "
                        f"{pair[k].size(0)} rows on that side")
        for arg, value, option in (("edge_type", edge_type, "num_relations"),
                                   ("edge_attr", edge_attr, "edge_dim")):
            if value is not None and getattr(self, option) is None:
                raise ValueError(f"{name}: {arg} needs {option}, but the "
                                 f"layer was built with {option}=None")
        if edge_type is not None:
            if not isinstance(edge_type, Tensor) or edge_type.dim() != 1 \
                    or edge_type.numel() != num_edges \
                    or edge_type.is_floating_point() \
                    or edge_type.dtype == torch.bool:
                raise ValueError(
                    f"{name}: expected edge_type as an integer tensor of "
                    f"shape [{num_edges}] (one relation id per edge), got "
                    f"{getattr(edge_type, 'dtype', type(edge_type))} "
                    f"{list(getattr(edge_type, 'shape', []))}")
            # Reading the range back costs a host sync on CUDA, so it is
            # checked there only in PyG's debug mode.
            if num_edges > 0 and (edge_type.device.type == "cpu"
                                  or torch_geometric.is_debug_enabled()):
                lo, hi = int(edge_type.min()), int(edge_type.max())
                if lo < 0 or hi > self.num_relations:
                    raise ValueError(
                        f"{name}: edge_type ids must lie in "
                        f"[0, {self.num_relations}] (the relation embedding "
                        f"has {self.num_relations + 1} rows), got ids in "
                        f"[{lo}, {hi}]")
        if edge_attr is not None:
            if not isinstance(edge_attr, Tensor) \
                    or not edge_attr.is_floating_point() \
                    or edge_attr.dim() not in (1, 2) \
                    or edge_attr.size(0) != num_edges \
                    or (1 if edge_attr.dim() == 1 else edge_attr.size(1)) \
                    != self.edge_dim:
                raise ValueError(
                    f"{name}: expected edge_attr as a float tensor of shape "
                    f"[{num_edges}, {self.edge_dim}], got "
                    f"{getattr(edge_attr, 'dtype', type(edge_attr))} "
                    f"{list(getattr(edge_attr, 'shape', []))}")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, "
                f"{self.out_channels}, heads={self.heads}, "
                f"num_relations={self.num_relations}, "
                f"lambda_init={self.lambda_init:.4f})")


def _reorder(csr: CSRLayout, edge_values: OptTensor) -> OptTensor:
    """Per-edge values in the target order of :obj:`csr`."""
    return None if edge_values is None else csr.to_target_order(edge_values)
