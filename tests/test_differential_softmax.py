"""differential_softmax against PyG's softmax and the combination of Eq. 13
written out: values, gradients, gradcheck, with and without the targets'
offsets, on both shifts (one for all, one per target)."""

import pytest
import torch
from torch.autograd import gradcheck
from torch_geometric.index import index2ptr
from torch_geometric.utils import softmax

from dsgdn_pyg.nn import differential_softmax as module
from dsgdn_pyg.nn.differential_softmax import differential_softmax

HEADS, NODES, EDGES = 3, 9, 40


def edges(seed, sort):
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(NODES - 1, (EDGES, ), generator=g)  # last: none
    if sort:
        index = index.sort().values
    scores = torch.randn(EDGES, 2 * HEADS, generator=g,
                         dtype=torch.float64)
    lam = torch.randn(HEADS, generator=g, dtype=torch.float64)
    ptr = index2ptr(index, NODES) if sort else None
    return scores, lam, index, ptr


def reference(scores, lam, index, ptr):
    maps = softmax(scores, index, ptr, NODES)
    return maps[:, :HEADS] - lam * maps[:, HEADS:], maps


@pytest.fixture(params=["one shift", "per target"])
def shift(request, monkeypatch):
    # SHIFT_RANGE bounds the spread for one shift for all: inf always
    # takes it, 0 never does.
    monkeypatch.setattr(module, "SHIFT_RANGE",
                        float("inf") if request.param == "one shift" else 0.)
    return request.param


@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_matches_pyg_softmax_and_combination(sort, scale, shift):
    scores, lam, index, ptr = edges(0, sort)
    scores = (scores * scale).requires_grad_()
    lam.requires_grad_()
    alpha, maps = differential_softmax(scores, lam, index, ptr, NODES)
    alpha_ref, maps_ref = reference(scores, lam, index, ptr)
    assert torch.allclose(alpha, alpha_ref, atol=1e-12)
    assert torch.allclose(maps, maps_ref, atol=1e-12)
    assert not maps.requires_grad
    g = torch.randn_like(alpha)
    got = torch.autograd.grad(alpha, (scores, lam), g)
    want = torch.autograd.grad(alpha_ref, (scores, lam), g)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("sort", [False, True])
def test_gradcheck(sort, shift):
    scores, lam, index, ptr = edges(1, sort)
    scores.requires_grad_()
    lam.requires_grad_()
    assert gradcheck(
        lambda s, lm: differential_softmax(s, lm, index, ptr, NODES)[0],
        (scores, lam))


@pytest.mark.parametrize("sort", [False, True])
def test_rows_sum_to_one_and_one_minus_lambda(sort):
    scores, lam, index, ptr = edges(2, sort)
    alpha, maps = differential_softmax(scores, lam, index, ptr, NODES)
    present = torch.zeros(NODES, dtype=torch.bool)
    present[index] = True
    sums = torch.zeros(NODES, 2 * HEADS, dtype=scores.dtype).index_add_(
        0, index, maps)[present]
    assert torch.allclose(sums, torch.ones_like(sums))
    alpha_sums = torch.zeros(NODES, HEADS, dtype=scores.dtype).index_add_(
        0, index, alpha)[present]
    assert torch.allclose(alpha_sums, (1 - lam).expand_as(alpha_sums))


def test_wide_scores_take_the_per_target_shift_without_underflow():
    # In float32 scores spanning 400 cannot share one shift (exp(-400)
    # is 0); the per-target shift keeps every target's weights exact.
    scores, lam, index, ptr = edges(3, True)
    scores[:, 0] += 400.0 * (index % 2)
    alpha, maps = differential_softmax(scores.float(), lam.float(), index,
                                       ptr, NODES)
    alpha_ref, maps_ref = reference(scores, lam, index, ptr)
    assert torch.isfinite(maps).all()
    assert torch.allclose(maps.double(), maps_ref, atol=1e-5)
    assert torch.allclose(alpha.double(), alpha_ref, atol=1e-5)


@pytest.mark.parametrize("sort", [False, True])
def test_no_edges(sort):
    index = torch.zeros(0, dtype=torch.long)
    ptr = torch.zeros(NODES + 1, dtype=torch.long) if sort else None
    alpha, maps = differential_softmax(torch.zeros(0, 2 * HEADS),
                                       torch.ones(HEADS), index, ptr, NODES)
    assert alpha.shape == (0, HEADS) and maps.shape == (0, 2 * HEADS)
