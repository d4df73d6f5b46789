"""Attention-weighted neighbour sums over an :class:`~torch_geometric.EdgeIndex`
sorted by target, as sparse matrix products: no per-edge message is ever
materialised (MKL on CPU, cuSPARSE on CUDA)."""

import warnings
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from torch_geometric import EdgeIndex
from torch_geometric.typing import OptTensor

#: Feature dtypes that :mod:`torch.sparse` multiplies on CPU and CUDA.
SUPPORTED_DTYPES = (torch.float32, torch.float64)

# The CSR matrices below are transient views of one graph's edges, built
# from EdgeIndex's own pointers; torch's beta notice is noise here.
warnings.filterwarnings("ignore", ".*Sparse CSR tensor support is in beta.*")


def _per_head_spmm(ptr: Tensor, col: Tensor, weight_t: Tensor,
                   value_t: Tensor) -> Tensor:
    """``A_h @ value_t[h]`` for every head ``h``, ``A_h`` the CSR matrix
    ``[len(ptr) - 1, value_t.size(1)]`` of weights ``weight_t[h]``: written
    into one ``[H, rows, C]`` buffer, returned as its ``[rows, H, C]``
    view (no per-head results to stack)."""
    H, M, C = value_t.shape
    out = value_t.new_empty(H, ptr.numel() - 1, C)
    for h in range(H):
        adj = torch.sparse_csr_tensor(ptr, col, weight_t[h],
                                      (ptr.numel() - 1, M),
                                      check_invariants=False)
        torch.mm(adj, value_t[h], out=out[h])
    return out.transpose(0, 1)


def _by_head(tensor: Tensor) -> Tensor:
    """``[N, H, C]`` -> ``[H, N, C]``, contiguous: each head's rows at once."""
    return tensor.transpose(0, 1).contiguous()


class _WeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, value: Tensor, ptr: Tensor, src: Tensor,
                by_source: Callable) -> Tensor:
        weight_t = weight.t().contiguous()  # [H, E]: one row per head
        ctx.save_for_backward(weight_t, value, ptr, src)
        ctx.by_source = by_source
        return _per_head_spmm(ptr, src, weight_t, _by_head(value))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        weight_t, value, ptr, src = ctx.saved_tensors
        grad_t, heads = _by_head(grad_out), value.size(1)
        grad_weight = grad_value = None
        if ctx.needs_input_grad[0]:
            # d out[i] / d weight[e] = value[src[e]] for the edge e into i:
            # products sampled at the edges, in their order.
            value_t = _by_head(value)
            pattern = torch.sparse_csr_tensor(
                ptr, src, weight_t.new_zeros(src.numel()),
                (ptr.numel() - 1, value.size(0)), check_invariants=False)
            grad_weight = torch.stack([torch.sparse.sampled_addmm(
                pattern, grad_t[h], value_t[h].t(), beta=0.0).values()
                for h in range(heads)], dim=1)
            del value_t  # a copy of value: gone before the next product
        if ctx.needs_input_grad[1]:
            # Every source gathers from its targets: the transposed product
            # over the edges sorted by source (EdgeIndex caches that sort).
            (ptr_t, dst_t), perm = ctx.by_source()
            if perm is not None:
                weight_t = weight_t.index_select(1, perm)
            grad_value = _per_head_spmm(ptr_t, dst_t, weight_t, grad_t)
        return grad_weight, grad_value, None, None, None


def csr_weighted_sum(weight: Tensor, value: Tensor, edge_index: EdgeIndex,
                     by_source: Optional[Callable] = None) -> Tensor:
    r"""Computes :math:`\mathbf{out}_{i,h} = \sum_{e: j \to i}
    w_{e,h} \, \mathbf{v}_{j,h}` per head.

    Args:
        weight (torch.Tensor): Edge weights :obj:`[E, H]`, in the order of
            :obj:`edge_index`.
        value (torch.Tensor): Source node values :obj:`[N_src, H, C]`.
        edge_index (torch_geometric.EdgeIndex): The edges, sorted by target
            (:obj:`sort_order="col"`), with :obj:`sparse_size` set.
        by_source (callable, optional): Returns the edges sorted by source
            as :meth:`~torch_geometric.EdgeIndex.get_csr` does, for the
            backward pass. (default: :meth:`edge_index.get_csr`)

    Returns:
        :obj:`[N_dst, H, C]`; a node without incoming edges gets zeros.
    """
    (ptr, src), _ = edge_index.get_csc()
    return _WeightedSum.apply(weight, value, ptr, src,
                              by_source or edge_index.get_csr)


def row_sum_matrix(ptr: Tensor, order: OptTensor, like: Tensor) -> Tensor:
    r"""The CSR matrix :obj:`[len(ptr) - 1, like.size(0)]` of ones whose row
    :obj:`r` holds the entries :obj:`order[ptr[r]:ptr[r + 1]]` (:obj:`None`:
    the entries in order), in :obj:`like`'s dtype and device: a product with
    it sums each row's entries of :obj:`like`, several times faster than a
    scatter or a segment reduction on CPU."""
    num = like.size(0)
    col = order if order is not None else torch.arange(num,
                                                       device=like.device)
    return torch.sparse_csr_tensor(ptr, col, like.new_ones(num),
                                   (ptr.numel() - 1, num),
                                   check_invariants=False)


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value: Tensor, index: Tensor, by_row: Callable) -> Tensor:
        ctx.by_row = by_row
        return value.index_select(0, index)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        return torch.sparse.mm(row_sum_matrix(*ctx.by_row(), grad),
                               grad), None, None


def gather_rows(value: Tensor, index: Tensor,
                by_row: Callable[[], Tuple[Tensor, OptTensor]]) -> Tensor:
    r"""``value.index_select(0, index)`` whose gradient sums each row's
    entries by one sparse product (:func:`row_sum_matrix`) instead of a
    scatter (``index_add_``, several times slower on CPU where many entries
    share a row).

    Args:
        value (torch.Tensor): Rows :obj:`[N, K]`.
        index (torch.Tensor): The row of each entry :obj:`[E]`.
        by_row (callable): Returns, for the backward pass only, the offsets
            :obj:`[N + 1]` of each row's entries once sorted by row and that
            stable order as positions in :obj:`index` (:obj:`None`: the
            entries are sorted by row already).
    """
    return _GatherRows.apply(value, index, by_row)
