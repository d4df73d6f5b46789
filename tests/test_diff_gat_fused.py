"""DiffGATConv's fused path (``layout="csr"``: edges sorted by target once,
aggregated by :func:`csr_weighted_sum`) against its reference path
(``layout="coo"``: PyG's message and scatter): values, attention maps and
gradients on general and dialogue graphs, gradcheck, the sparse product
itself, the sorting, how the path is chosen, and ``torch.compile``."""

from unittest import mock

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch_geometric import EdgeIndex
from torch_geometric.index import index2ptr
from torch_geometric.data import Batch

from conftest import (assert_close_lists, coo_twin, flat_batch, grads,
                      max_diff, paper_conv, random_edges, random_graph,
                      randomize_)
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.nn import DiffRGCN
from dsgdn_pyg.nn import diff_gat_conv as diff_gat_conv_module
from dsgdn_pyg.nn.csr_aggregation import csr_weighted_sum, gather_rows
from dsgdn_pyg.nn.diff_gat_conv import _sorted_by_target, branch_scores

LAYOUTS = ["coo", "csr"]


def by_target(edge_index, n):
    """The edges as an EdgeIndex sorted by target (stable)."""
    return EdgeIndex(edge_index, sparse_size=(n, n)).sort_by(
        "col", stable=True).values


def spy_on_sorts():
    return mock.patch.object(diff_gat_conv_module, "_stable_order",
                             wraps=diff_gat_conv_module._stable_order)


def spy_on_csr_weighted_sum():
    return mock.patch.object(diff_gat_conv_module, "csr_weighted_sum",
                             wraps=csr_weighted_sum)


@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (2, False)])
@pytest.mark.parametrize("typed", [True, False])
@pytest.mark.parametrize("num_edges", [0, 7, 90])
@pytest.mark.parametrize("loops", [False, True])
@pytest.mark.parametrize("by_source", [False, True])
def test_csr_matches_coo_on_general_graphs(heads, concat, typed, num_edges,
                                           loops, by_source):
    torch.manual_seed(heads + 10 * num_edges)
    edge_index, edge_type = random_graph(20, num_edges, seed=num_edges)
    if by_source:  # as a coalesced graph: the backward needs no sort
        order = edge_index[0].argsort(stable=True)
        edge_index, edge_type = edge_index[:, order], edge_type[order]
    edge_type = edge_type if typed else None
    conv = paper_conv(6, 4, heads=heads, concat=concat,
                      add_self_loops=loops).double()
    randomize_(conv, seed=123)
    ref = coo_twin(conv)
    x = torch.randn(20, 6, dtype=torch.float64, requires_grad=True)

    out, (ei, alpha) = conv(x, edge_index, edge_type,
                            return_attention_weights=True)
    out_ref, (ei_ref, alpha_ref) = ref(x, edge_index, edge_type,
                                       return_attention_weights=True)
    assert max_diff(out, out_ref) < 1e-12
    assert torch.equal(ei, ei_ref)
    if not loops:
        assert torch.equal(ei, edge_index)
    # The maps come back in the order of edge_index, not target order.
    assert max_diff(alpha, alpha_ref) < 1e-12
    assert max_diff(conv.alpha_pos, ref.alpha_pos) < 1e-12
    assert max_diff(conv.alpha_neg, ref.alpha_neg) < 1e-12

    g = torch.randn_like(out)
    params = [x] + list(conv.parameters())
    params_ref = [x] + list(ref.parameters())
    assert_close_lists(grads(out, params, g), grads(out_ref, params_ref, g),
                       1e-10)


@pytest.mark.parametrize("key", [INTER, INTRA])
def test_csr_matches_coo_on_dialogue_batches(key, random_dialogues):
    torch.manual_seed(1)
    batch = Batch.from_data_list(random_dialogues(7, channels=8, seed=4,
                                                  max_length=15,
                                                  max_window=6))
    x = batch[NODE_TYPE].x.clone().requires_grad_()
    edge_index, edge_type = batch[key].edge_index, batch[key].edge_type
    block = DiffRGCN(8, heads=2, dropout=0.0)
    randomize_(block, seed=123)
    ref = coo_twin(block)

    out = block(x, edge_index, edge_type)
    out_ref = ref(x, edge_index, edge_type)
    assert max_diff(out, out_ref) < 1e-5
    g = torch.randn_like(out)
    assert_close_lists(grads(out, [x] + list(block.parameters()), g),
                       grads(out_ref, [x] + list(ref.parameters()), g), 1e-4)


GRADCHECK_GRAPHS = {
    # Node 3 sends but receives nothing; node 0 receives three edges.
    "gap": (torch.tensor([[0, 1, 2, 3, 1, 0, 2], [0, 0, 0, 0, 1, 2, 2]]),
            torch.tensor([1, 2, 3, 4, 1, 5, 1]), 4, 3),
    # Random order, duplicates, self-loops.
    "general": (*random_graph(7, 18, seed=3), 7, 10),
}


@pytest.mark.parametrize("graph", list(GRADCHECK_GRAPHS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_through_input_and_parameters(graph, layout):
    torch.manual_seed(0)
    edge_index, edge_type, n, relation_dim = GRADCHECK_GRAPHS[graph]
    conv = paper_conv(3, 4, heads=2, relation_dim=relation_dim,
                      layout=layout).double()
    randomize_(conv, seed=123)
    x = torch.randn(n, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in conv.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_()
                   for p in conv.parameters())

    def run(x, *params):
        return torch.func.functional_call(conv, dict(zip(names, params)),
                                          (x, edge_index, edge_type))

    with spy_on_csr_weighted_sum() as spy:
        assert gradcheck(run, (x, *params), eps=1e-6, atol=1e-5)
    assert spy.called == (layout == "csr")


def test_csr_weighted_sum_against_dense_product():
    torch.manual_seed(0)
    n, heads, channels = 9, 2, 5
    edge_index = by_target(random_graph(n, 30, seed=1)[0], n)
    weight = torch.randn(30, heads, dtype=torch.float64, requires_grad=True)
    value = torch.randn(n, heads, channels, dtype=torch.float64,
                        requires_grad=True)

    out = csr_weighted_sum(weight, value, edge_index)
    # Reference: a dense [N, N] matrix per head (duplicates add up).
    src, dst = edge_index.as_tensor()
    expected = []
    for h in range(heads):
        dense = torch.zeros(n, n, dtype=torch.float64).index_put(
            (dst, src), weight[:, h], accumulate=True)
        expected.append(dense @ value[:, h])
    expected = torch.stack(expected, dim=1)
    assert max_diff(out, expected) < 1e-12
    g = torch.randn_like(out)
    assert_close_lists(grads(out, [weight, value], g),
                       grads(expected, [weight, value], g), 1e-12)
    assert gradcheck(lambda w, v: csr_weighted_sum(w, v, edge_index),
                     (weight, value))


def test_csr_weighted_sum_of_nodes_without_incoming_edges_is_zero():
    edge_index = by_target(torch.tensor([[0, 1, 2], [1, 1, 3]]), 5)
    value = torch.randn(5, 1, 3)
    out = csr_weighted_sum(torch.ones(3, 1), value, edge_index)
    assert out[[0, 2, 4]].abs().max() == 0
    assert torch.allclose(out[1, 0], value[0, 0] + value[1, 0])
    assert torch.allclose(out[3, 0], value[2, 0])


@pytest.mark.parametrize("sorted_rows", [True, False])
def test_gather_rows_against_index_select(sorted_rows):
    # The gradient is a sparse product by the transposed selection; an
    # empty row (node 3) gets zeros, repeated rows add up.
    torch.manual_seed(0)
    index = torch.tensor([0, 0, 1, 2, 2, 2, 4, 4])
    if not sorted_rows:
        index = index[torch.randperm(index.numel())]
    order = index.sort(stable=True)[1]
    ptr = index2ptr(index[order], 5)
    calls = []

    def by_row():
        calls.append(1)
        return ptr, None if sorted_rows else order
    value = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out = gather_rows(value, index, by_row)
    assert torch.equal(out, value.index_select(0, index))
    assert calls == []  # the forward pass needs no row order
    g = torch.randn_like(out)
    (grad, ), (expected, ) = grads(out, [value], g), grads(
        value.index_select(0, index), [value], g)
    assert max_diff(grad, expected) < 1e-12 and grad[3].abs().max() == 0
    assert gradcheck(lambda v: gather_rows(v, index, by_row), (value, ))


def test_plain_edges_are_sorted_by_source_once_per_call():
    # The aggregation's and the gathers' backward passes share one sort.
    torch.manual_seed(0)
    edge_index = random_graph(30, 200, seed=4)[0]
    edge_index = edge_index[:, torch.randperm(edge_index.size(1))]
    conv = paper_conv(6, 4, heads=2, num_relations=None, layout="csr")
    x = torch.randn(30, 6, requires_grad=True)
    with spy_on_sorts() as sorts:
        conv(x, edge_index).sum().backward()
    assert sorts.call_count == 2  # by target, then by source
    expected = coo_twin(conv)(x, edge_index)
    assert max_diff(conv(x, edge_index), expected) < 1e-5


def test_edges_sorted_by_target():
    edge_index = torch.tensor([[3, 0, 1, 2, 0], [2, 0, 2, 1, 2]])
    graph, perm, by_source = _sorted_by_target(edge_index, (4, 4))
    # Target order, stable: original edges 1 (->0), 3 (->1), 0, 2, 4 (->2).
    assert perm.tolist() == [1, 3, 0, 2, 4]
    assert graph.is_sorted_by_col and graph.sparse_size() == (4, 4)
    assert graph.as_tensor().tolist() == [[0, 2, 3, 1, 0], [0, 1, 2, 2, 2]]
    # The source order for the backward pass, as EdgeIndex.get_csr gives it
    # (stable: positions 0, 4 from node 0, 3 from 1, 1 from 2, 2 from 3).
    (ptr, dst), order = by_source()
    assert order.tolist() == [0, 4, 3, 1, 2]
    assert ptr.tolist() == [0, 2, 3, 4, 5] and dst.tolist() == [0, 2, 2, 1, 2]
    # Given sorted by source, that order is the inverse of the sort.
    coalesced = edge_index[:, edge_index[0].argsort(stable=True)]
    graph, perm, by_source = _sorted_by_target(coalesced, (4, 4))
    (ptr, dst), order = by_source()
    src_sorted = graph.as_tensor()[:, order]
    assert torch.equal(src_sorted, coalesced) and torch.equal(
        dst, coalesced[1]) and ptr.tolist() == [0, 2, 3, 4, 5]
    # Sorted by source but for appended self-loops (as the layer adds
    # them): the merge is an order by source of the same edges, each
    # source's edges in the given order.
    with_loops = torch.cat([coalesced, torch.arange(4).repeat(2, 1)], 1)
    graph, perm, by_source = _sorted_by_target(with_loops, (4, 4), loops=4)
    (ptr, dst), order = by_source()
    src, dst_graph = graph.as_tensor()
    assert sorted(order.tolist()) == list(range(9))
    assert torch.equal(src[order], with_loops[0].sort().values)
    assert torch.equal(perm[order], with_loops[0].argsort(stable=True))
    assert torch.equal(dst, dst_graph[order])
    assert torch.equal(ptr, torch.tensor([0, 3, 5, 7, 9]))
    # Already sorted (a dialogue graph), or an EdgeIndex sorted by target:
    # nothing is permuted, and the given EdgeIndex is used as it is.
    sorted_index = edge_index[:, [1, 3, 0, 2, 4]]
    assert _sorted_by_target(sorted_index, (4, 4))[1] is None
    assert _sorted_by_target(graph, (4, 4)) == (graph, None, None)


@pytest.mark.parametrize("radix_min", [0, 64])
@pytest.mark.parametrize("num_edges", [1, 40, 64, 300])
def test_stable_order_is_torchs_stable_sort(radix_min, num_edges):
    # Padded below RADIX_MIN (64 here, to reach the padding without 2**15
    # keys) or not: the same order as a stable sort of the int64 keys.
    keys = torch.randint(0, 7, (num_edges, ),
                         generator=torch.Generator().manual_seed(num_edges))
    with mock.patch.object(diff_gat_conv_module, "RADIX_MIN", radix_min):
        order = diff_gat_conv_module._stable_order(keys, 7)
    assert torch.equal(order, keys.sort(stable=True)[1])


def test_block_sorts_once_and_shares_the_sorts(random_dialogue):
    data = random_dialogue(12, 3)
    x, edge_type = data[NODE_TYPE].x, data[INTER].edge_type
    shuffle = torch.randperm(edge_type.numel(), generator=torch.Generator(
    ).manual_seed(0))
    edge_index = data[INTER].edge_index[:, shuffle]
    block = DiffRGCN(8, heads=2, dropout=0.0)
    get_csr = EdgeIndex.get_csr
    with spy_on_sorts() as sorts, \
            mock.patch.object(EdgeIndex, "get_csr", autospec=True,
                              side_effect=get_csr) as by_source:
        out = block(x, edge_index, edge_type[shuffle])
        out.sum().backward()
    # One sort by target for both layers; the source order that both
    # backward passes need is computed once and cached on the EdgeIndex.
    assert sorts.call_count == 1
    assert by_source.call_count == 2
    expected = coo_twin(block)(x, edge_index, edge_type[shuffle])
    assert max_diff(out, expected) < 1e-5
    # A dialogue graph is sorted by target already: no sort at all.
    with spy_on_sorts() as spy:
        block(x, data[INTER].edge_index, edge_type)
    spy.assert_not_called()


def test_edge_index_sorted_by_target_is_used_as_given(random_dialogue):
    data = random_dialogue(10, 2)
    edge_index = by_target(data[INTRA].edge_index, 10)
    block = DiffRGCN(8, heads=2).eval()
    with spy_on_sorts() as spy:
        out = block(data[NODE_TYPE].x, edge_index, data[INTRA].edge_type)
    spy.assert_not_called()
    expected = coo_twin(block)(data[NODE_TYPE].x, edge_index.as_tensor(),
                               data[INTRA].edge_type)
    assert max_diff(out, expected) < 1e-5


def test_path_selection():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    x = torch.randn(2, 4)
    assert paper_conv(4, 4)._fuses(x, edge_index)
    assert not paper_conv(4, 4, layout="coo")._fuses(x, edge_index)
    # No edges, a dtype torch.sparse does not multiply, another aggregation
    # or flow: the reference.
    assert not paper_conv(4, 4)._fuses(x, edge_index[:, :0])
    assert not paper_conv(4, 4)._fuses(x.half(), edge_index)
    assert not paper_conv(4, 4, aggr="mean")._fuses(x, edge_index)
    assert not paper_conv(4, 4, flow="target_to_source")._fuses(
        x, edge_index)
    with pytest.raises(ValueError, match="layout='csr' needs"):
        paper_conv(4, 4, layout="csr")._fuses(x.bfloat16(), edge_index)
    with pytest.raises(ValueError, match="layout must be one of"):
        paper_conv(4, 4, layout="banded")
    with pytest.raises(ValueError, match="layout must be one of"):
        DiffRGCN(4, layout="dense")


@pytest.mark.parametrize("layout", ["auto", "coo"])
def test_softmax_gets_the_target_pointers_of_sorted_edges(layout):
    # The fused path sums each target's edges over the pointers of the
    # sorted edges; the reference path scatters by target index.
    edge_index, edge_type = random_graph(6, 12, seed=0)
    conv = paper_conv(4, 4, heads=2, layout=layout)
    softmax = diff_gat_conv_module.differential_softmax
    with mock.patch.object(diff_gat_conv_module, "differential_softmax",
                           wraps=softmax) as spy:
        conv(torch.randn(6, 4), edge_index, edge_type)
    scores, lam, index, ptr, num_nodes = spy.call_args.args
    assert num_nodes == 6
    if layout == "coo":
        assert ptr is None
    else:
        assert bool((index[1:] >= index[:-1]).all())  # sorted by target
        assert torch.equal(ptr, index2ptr(index, 6))


def test_csr_path_in_bfloat16_falls_back_to_reference():
    edge_index, edge_type = random_graph(6, 12, seed=0)
    conv = paper_conv(4, 4, heads=2).to(torch.bfloat16)
    x = torch.randn(6, 4, dtype=torch.bfloat16)
    with mock.patch.object(diff_gat_conv_module, "csr_weighted_sum") as spy:
        out = conv(x, edge_index, edge_type)
    spy.assert_not_called()
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_torch_scatter_path_matches_pure_torch():
    """With the optional torch-scatter installed, the CSR path's segment
    softmax goes through its ``segment_csr`` (on CPU, PyG keeps the COO
    path's reductions native); values, attention maps and gradients must be
    those of the pure-PyTorch path, the one CI runs."""
    torch_scatter = pytest.importorskip("torch_scatter")
    import torch_geometric.typing as pyg_typing

    assert pyg_typing.WITH_TORCH_SCATTER
    torch.manual_seed(5)
    edge_index, edge_type = random_graph(30, 160, seed=8)
    conv = paper_conv(6, 4, heads=2, layout="csr").double()
    randomize_(conv, seed=123)
    x = torch.randn(30, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(30, 8, dtype=torch.float64)
    params = [x] + list(conv.parameters())

    calls = []

    def spy(name):
        original = getattr(torch_scatter, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        return wrapper

    with mock.patch.object(torch_scatter, "segment_csr",
                           spy("segment_csr")):
        out, (_, alpha) = conv(x, edge_index, edge_type,
                               return_attention_weights=True)
        grad = grads(out, params, g)
    assert calls, "torch-scatter is installed but was not used"

    with mock.patch.object(pyg_typing, "WITH_TORCH_SCATTER", False):
        out_ref, (_, alpha_ref) = conv(x, edge_index, edge_type,
                                       return_attention_weights=True)
        grad_ref = grads(out_ref, params, g)
    assert max_diff(out, out_ref) < 1e-12
    assert max_diff(alpha, alpha_ref) < 1e-12
    assert_close_lists(grad, grad_ref, 1e-10)


class ConvThenBlock(torch.nn.Module):
    """A layer with GATConv's self-loops and bias, then the published block
    on the same graph: every code path that ``torch.compile`` traces."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = paper_conv(in_channels, out_channels, heads=2)
        self.block = DiffRGCN(2 * out_channels, heads=2, dropout=0.0)

    def forward(self, x, edge_index, edge_type):
        return self.block(self.conv(x, edge_index, edge_type), edge_index,
                          edge_type)


@pytest.mark.slow  # Inductor code generation: about a minute on 2 CPU cores
def test_torch_compile_matches_eager(random_dialogues):
    """The default layout under torch.compile (the reference path, traced)
    against eager (the fused path): values and gradients of the input and
    every parameter on a general graph without loops, then a dialogue batch
    of another size (the compiled module is reused or recompiled), then in
    eval mode on two more dialogue batches."""
    torch.manual_seed(0)
    model = ConvThenBlock(5, 4)
    randomize_(model, seed=3)
    torch._dynamo.reset()
    compiled = torch.compile(model)

    edge_index = random_edges(9, 9, 0.4, seed=16)
    general = (torch.randn(9, 5), edge_index,
               torch.randint(0, 6, (edge_index.size(1), )))
    dialogue = flat_batch(random_dialogues(4, channels=5, seed=9), INTER)[:3]
    for x, edge_index, edge_type in (general, dialogue):
        x_eager = x.clone().requires_grad_()
        x_comp = x.clone().requires_grad_()
        expected = model(x_eager, edge_index, edge_type)
        out = compiled(x_comp, edge_index, edge_type)
        assert max_diff(out, expected) < 1e-5
        g = torch.randn_like(out)
        params = list(model.parameters())
        for a, b in zip(grads(out, [x_comp] + params, g),
                        grads(expected, [x_eager] + params, g)):
            # float32: 1e-5 of the gradient's scale (some reach 10).
            assert max_diff(a, b) < 1e-5 * max(1.0, b.abs().max().item())

    model.eval()
    for seed in (2, 3):
        graphs = random_dialogues(3, channels=5, seed=seed)
        x, edge_index, edge_type, _, _ = flat_batch(graphs, INTRA)
        expected = model(x, edge_index, edge_type)
        out = compiled(x, edge_index, edge_type)
        assert out.shape == expected.shape
        assert max_diff(out, expected) < 1e-5


def test_non_contiguous_edges_sorted_by_target():
    # A transposed list of (source, target) pairs is a view: it is sorted
    # by target and still goes through EdgeIndex.
    pairs = torch.tensor([[1, 0], [2, 0], [0, 1], [2, 2]])
    edge_index, edge_type = pairs.t(), torch.tensor([1, 2, 3, 4])
    assert not edge_index.is_contiguous()
    block = DiffRGCN(4, heads=2).eval()
    x = torch.randn(3, 4)
    out = block(x, edge_index, edge_type)
    assert torch.equal(out, block(x, edge_index.contiguous(), edge_type))


@pytest.mark.parametrize("heads", [3, 4])  # 12 columns: _Scores; 16: mm
@pytest.mark.parametrize("lead", [(6, ), (2, 5)])
def test_branch_scores_against_per_vector_sums_with_second_gradients(
        lead, heads):
    # Sparse rows [N, H, C] and the dense twin's [B, L, H, C]; C = 5 gives
    # P 3 and Q 2 channels.
    torch.manual_seed(0)
    H, C = heads, 5
    wh = torch.randn(*lead, H, C, dtype=torch.float64, requires_grad=True)
    pairs = [(torch.randn(1, H, 3, dtype=torch.float64, requires_grad=True),
              torch.randn(1, H, 2, dtype=torch.float64, requires_grad=True))
             for _ in range(2)]
    out = branch_scores(wh, *pairs)
    expected = torch.cat([torch.cat([
        (wh[..., :3] * pos[0]).sum(-1), (wh[..., 3:] * neg[0]).sum(-1)], -1)
        for pos, neg in pairs], dim=-1)
    assert out.shape == (*lead, 4 * H)
    assert max_diff(out, expected) < 1e-12
    inputs = (wh, *pairs[0], *pairs[1])

    def run(wh, *vectors):
        return branch_scores(wh, vectors[:2], vectors[2:])

    assert gradcheck(run, inputs)
    assert gradgradcheck(run, inputs)
