r"""Both branches' attention maps and their differential combination
:math:`\alpha = \alpha^{+} - \lambda \alpha^{-}` (AMB-DSGDN, Eq. 11-13) as one
autograd operation with the analytic softmax gradient: a few passes over the
edges where a composition of PyG's :func:`~torch_geometric.utils.softmax`
and the combination takes about twice as many."""

from typing import Optional, Tuple

import torch
from torch import Tensor

import torch_geometric
from torch_geometric.utils import scatter, segment

from dsgdn_pyg.nn.csr_aggregation import SUPPORTED_DTYPES, row_sum_matrix

#: The widest span of scores shifted by their one maximum: the smallest
#: weight is then above :math:`e^{-50}`, far from float32 underflow.
SHIFT_RANGE = 50.0


def _segments(ptr: Optional[Tensor], scores: Tensor) -> Optional[Tensor]:
    # The [nodes, edges] segment matrix of sorted edges, built once for the
    # forward and the backward sums.
    if ptr is None or scores.dtype not in SUPPORTED_DTYPES:
        return None
    return row_sum_matrix(ptr, None, scores)


def _segment_sum(value: Tensor, index: Tensor, segments: Optional[Tensor],
                 num_nodes: int) -> Tensor:
    if segments is None:
        return scatter(value, index, 0, num_nodes, "sum")
    return torch.sparse.mm(segments, value)


def _shift(scores: Tensor, index: Tensor, ptr: Optional[Tensor],
           num_nodes: int) -> Tensor:
    # A softmax is invariant to a shift per target. The largest score
    # serves every target when all span under SHIFT_RANGE (read back on CPU
    # only; on CUDA that costs a host sync), else the largest score of each
    # target's edges.
    if scores.device.type == "cpu" and scores.size(0) > 0 and \
            not torch_geometric.is_compiling():
        low, high = torch.aminmax(scores)  # far faster than per column
        if bool(high - low < SHIFT_RANGE):
            return high
    if ptr is not None:
        top = segment(scores, ptr, reduce="max")
    else:
        top = scatter(scores, index, 0, num_nodes, "max")
    return top.index_select(0, index)


class _DifferentialSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores: Tensor, lam: Tensor, index: Tensor,
                ptr: Optional[Tensor], num_nodes: int):
        exp = (scores - _shift(scores, index, ptr, num_nodes)).exp_()
        ctx.segments = _segments(ptr, scores)
        total = _segment_sum(exp, index, ctx.segments, num_nodes)
        maps = exp.div_(total.index_select(0, index))
        # alpha is one row per head underneath, as the sparse products of
        # the aggregation read it: no transposed copy there.
        heads = lam.numel()
        alpha = torch.addcmul(maps[:, :heads].t(), maps[:, heads:].t(),
                              lam.unsqueeze(1), value=-1.0,
                              out=maps.new_empty(heads, maps.size(0))).t()
        ctx.save_for_backward(maps, lam, index)
        ctx.num_nodes = num_nodes
        ctx.mark_non_differentiable(maps)
        ctx.set_materialize_grads(False)  # no zeros for the maps' gradient
        return alpha, maps

    @staticmethod
    def backward(ctx, grad: Optional[Tensor], _):
        if grad is None:  # alpha did not reach the output
            return None, None, None, None, None
        maps, lam, index = ctx.saved_tensors
        heads = lam.numel()
        grad_lam = None
        if ctx.needs_input_grad[1]:
            grad_lam = -(grad * maps[:, heads:]).sum(0)
        # d alpha / d maps is (1, -lambda); then the softmax's own gradient
        # y * (g - sum over the target's edges of g * y).
        weighted = torch.cat([grad, grad * -lam], dim=1).mul_(maps)
        total = _segment_sum(weighted, index, ctx.segments, ctx.num_nodes)
        grad_scores = weighted.addcmul_(maps, total.index_select(0, index),
                                        value=-1.0)
        return grad_scores, grad_lam, None, None, None


def differential_softmax(scores: Tensor, lam: Tensor, index: Tensor,
                         ptr: Optional[Tensor] = None,
                         num_nodes: Optional[int] = None
                         ) -> Tuple[Tensor, Tensor]:
    r"""Normalises the scores of both branches over each target's incoming
    edges and combines them.

    Args:
        scores (torch.Tensor): Scores :obj:`[E, 2H]`, the positive heads
            first.
        lam (torch.Tensor): The coefficients :math:`\lambda` :obj:`[H]`.
        index (torch.Tensor): The target of every edge :obj:`[E]`.
        ptr (torch.Tensor, optional): The targets' edge offsets, if the
            edges are sorted by target (faster). (default: :obj:`None`)
        num_nodes (int, optional): The number of targets.
            (default: :obj:`None`: one more than the largest in :obj:`index`)

    Returns:
        :obj:`(alpha, maps)`: the signed weights
        :math:`\alpha^{+} - \lambda \alpha^{-}` :obj:`[E, H]` and both maps
        :obj:`[E, 2H]` (without gradient), each summing to 1 per target.
    """
    if num_nodes is None:
        num_nodes = int(index.max()) + 1 if index.numel() else 0
    return _DifferentialSoftmax.apply(scores, lam, index, ptr, num_nodes)
