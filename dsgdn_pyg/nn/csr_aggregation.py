"""Attention-weighted neighbour sums over edges sorted by target (CSR), as
sparse matrix products: no per-edge message is ever materialised.

:class:`~dsgdn_pyg.nn.DiffGATConv` normalises its scores with a segment
softmax over :attr:`CSRLayout.ptr` and aggregates with
:func:`csr_weighted_sum`, whose backward is one transposed sparse product
(values) and one sampled dense product (weights), both provided by
:mod:`torch.sparse` (MKL on CPU, cuSPARSE on CUDA).
"""

import warnings
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

import torch_geometric
from torch_geometric.index import index2ptr
from torch_geometric.utils import index_sort

SUPPORTED_DTYPES = (torch.float32, torch.float64)

# The CSR matrices below are transient views of one graph's edges, built
# from indices that csr_layout produced; torch's beta notice is noise here.
warnings.filterwarnings("ignore", ".*Sparse CSR tensor support is in beta.*")


class CSRLayout(NamedTuple):
    r"""The edges of a graph sorted by target (CSR) and, for the backward
    pass, by source (CSC).

    Built once per graph by :func:`csr_layout` and shared by every layer
    that runs on that graph.
    """
    num_nodes: int
    #: Original id of every edge in target order, :obj:`None` when
    #: :obj:`edge_index` was already sorted by target.
    perm: Optional[Tensor]
    #: :obj:`[N + 1]` row pointer: the incoming edges of node :obj:`i` are
    #: :obj:`ptr[i]:ptr[i + 1]` in target order.
    ptr: Tensor
    #: :obj:`[E]` sources in target order (the CSR column indices).
    src: Tensor
    #: :obj:`[E]` targets in target order.
    dst: Tensor
    #: :obj:`[E]` positions (in target order) of the edges sorted by source.
    perm_t: Tensor
    #: :obj:`[N + 1]` pointer over sources.
    ptr_t: Tensor
    #: :obj:`[E]` targets in source order (the CSC row indices).
    dst_t: Tensor
    #: Number of source nodes (:obj:`num_nodes` but in a bipartite graph).
    num_src_nodes: int

    def to_target_order(self, edge_values: Tensor) -> Tensor:
        """Reorders per-edge values from the order of :obj:`edge_index` to
        target order."""
        return edge_values if self.perm is None else edge_values[self.perm]

    def to_edge_order(self, edge_values: Tensor) -> Tensor:
        """Reorders per-edge values from target order back to the order of
        :obj:`edge_index`."""
        if self.perm is None:
            return edge_values
        out = torch.empty_like(edge_values)
        out[self.perm] = edge_values
        return out


def csr_layout(edge_index: Tensor, num_nodes: int,
               num_src_nodes: Optional[int] = None) -> CSRLayout:
    r"""Sorts the edges :obj:`[2, E]` (source row 0, target row 1) of a graph
    with :obj:`num_nodes` nodes by target and by source; a bipartite graph
    gives its number of source nodes as :obj:`num_src_nodes`.

    On CPU an :obj:`edge_index` already sorted by target (as the dialogue
    graphs are) is detected and not permuted; on CUDA, and under
    :func:`torch.compile`, the edges are always sorted, which reads nothing
    back to the host.
    """
    src, dst = edge_index[0], edge_index[1]
    perm = None
    if dst.numel() <= 1:
        already_sorted = True
    elif dst.is_cuda or torch_geometric.is_compiling():
        already_sorted = False
    else:
        already_sorted = bool((dst[1:] >= dst[:-1]).all())
    if not already_sorted:
        dst, perm = index_sort(dst, max_value=num_nodes, stable=True)
        src = src[perm]
    if num_src_nodes is None:
        num_src_nodes = num_nodes
    ptr = index2ptr(dst, num_nodes)
    src_sorted, perm_t = index_sort(src, max_value=num_src_nodes,
                                    stable=True)
    ptr_t = index2ptr(src_sorted, num_src_nodes)
    return CSRLayout(num_nodes, perm, ptr, src, dst, perm_t, ptr_t,
                     dst[perm_t], num_src_nodes)


def _spmm(ptr: Tensor, col: Tensor, values: Tensor, dense: Tensor) -> Tensor:
    """``A @ dense`` for the CSR matrix ``A`` of shape
    ``[len(ptr) - 1, len(dense)]``."""
    n = ptr.numel() - 1
    adj = torch.sparse_csr_tensor(ptr, col, values, (n, dense.size(0)),
                                  check_invariants=False)
    return torch.sparse.mm(adj, dense)


def _sddmm(ptr: Tensor, col: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """``(left @ right.T)[i, j]`` at the non-zeros ``(i, j)`` of the CSR
    pattern, in its order."""
    n = ptr.numel() - 1
    pattern = torch.sparse_csr_tensor(
        ptr, col, left.new_zeros(col.numel()), (n, right.size(0)),
        check_invariants=False)
    return torch.sparse.sampled_addmm(pattern, left, right.t(),
                                      beta=0.0).values()


def _stack_heads(per_head: List[Tensor]) -> Tensor:
    """``[N, C]`` per head -> ``[N, H, C]`` (no copy for a single head)."""
    if len(per_head) == 1:
        return per_head[0].unsqueeze(1)
    return torch.stack(per_head, dim=1)


class _CSRWeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, value: Tensor, ptr: Tensor, src: Tensor,
                perm_t: Tensor, ptr_t: Tensor, dst_t: Tensor) -> Tensor:
        ctx.save_for_backward(weight, value, ptr, src, perm_t, ptr_t, dst_t)
        weight_t = weight.t().contiguous()  # [H, E]: one row per head
        return _stack_heads([
            _spmm(ptr, src, weight_t[h], value[:, h].contiguous())
            for h in range(value.size(1))
        ])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> Tuple[Optional[Tensor], ...]:
        weight, value, ptr, src, perm_t, ptr_t, dst_t = ctx.saved_tensors
        heads = value.size(1)
        grad_heads = [grad_out[:, h].contiguous() for h in range(heads)]
        grad_weight = grad_value = None
        if ctx.needs_input_grad[0]:
            # d out[i] / d weight[e] = value[src[e]] for the edge e into i.
            grad_weight = torch.stack([
                _sddmm(ptr, src, grad_heads[h], value[:, h].contiguous())
                for h in range(heads)
            ], dim=1)
        if ctx.needs_input_grad[1]:
            # The transposed product: every source gathers from its targets.
            weight_t = weight.t()[:, perm_t]
            grad_value = _stack_heads([
                _spmm(ptr_t, dst_t, weight_t[h].contiguous(), grad_heads[h])
                for h in range(heads)
            ])
        return grad_weight, grad_value, None, None, None, None, None


def csr_weighted_sum(weight: Tensor, value: Tensor,
                     layout: CSRLayout) -> Tensor:
    r"""Computes :math:`\mathbf{out}_{i,h} = \sum_{e: j \to i}
    w_{e,h} \, \mathbf{v}_{j,h}` per head.

    Args:
        weight (torch.Tensor): Edge weights :obj:`[E, H]` in target order.
        value (torch.Tensor): Source node values :obj:`[N_src, H, C]`.
        layout (CSRLayout): The graph's layout from :func:`csr_layout`.

    Returns:
        :obj:`[N, H, C]` (one row per target); a node without incoming
        edges gets zeros.
    """
    return _CSRWeightedSum.apply(weight, value, layout.ptr, layout.src,
                                 layout.perm_t, layout.ptr_t, layout.dst_t)
