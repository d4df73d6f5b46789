"""DiffGATConv keeps the contract of a PyG convolution, in the style of PyG's
``test/nn/conv/test_gat_conv.py``: GATConv's self-loops, bipartite and lazy
inputs, ``size``, sparse adjacencies and ``EdgeIndex``, bias and residual,
``aggr`` and ``flow``, hooks and explain mode, ``Sequential`` and
heterogeneous graphs, ``state_dict`` (old checkpoints included),
``return_attention_weights`` and ``repr``."""

from unittest import mock

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.data import Batch, HeteroData
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.nn import HeteroConv, Sequential, to_hetero
from torch_geometric.typing import WITH_TORCH_SPARSE
from torch_geometric.utils import (to_edge_index, to_torch_coo_tensor,
                                   to_torch_csc_tensor, to_torch_csr_tensor)

from conftest import paper_conv, random_edges, randomize_, with_loops
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.nn import DiffRGCN
from dsgdn_pyg.nn import diff_gat_conv as diff_gat_conv_module
from dsgdn_pyg.nn.csr_aggregation import csr_weighted_sum

LAYOUTS = ["coo", "csr"]


def test_repr():
    conv = paper_conv(16, 8, heads=2)
    assert repr(conv) == ("DiffGATConv(16, 8, heads=2, num_relations=5, "
                          "lambda_init=0.3555)")
    assert "heads=1" in repr(paper_conv(4, 4))


def test_return_attention_weights(random_dialogue):
    graph = random_dialogue(9, 2, channels=12)
    x = graph[NODE_TYPE].x.clone().requires_grad_()
    edge_index, edge_type = graph[INTRA].edge_index, graph[INTRA].edge_type
    num_edges = edge_index.size(1)
    conv = paper_conv(12, 8, heads=3)
    out, (ei, alpha) = conv(x, edge_index, edge_type,
                            return_attention_weights=True)
    assert out.shape == (9, 3 * 8)
    # The dialogue graph's loops are replaced one for one.
    assert ei.shape == (2, num_edges) and alpha.shape == (num_edges, 3)
    assert conv.alpha_pos.shape == conv.alpha_neg.shape == (num_edges, 3)
    assert isinstance(conv(x, edge_index, edge_type), torch.Tensor)
    assert conv.relation_scores().shape == (6, 6)
    # The weights returned carry the graph; the maps kept are detached.
    assert alpha.requires_grad
    assert not conv.alpha_pos.requires_grad
    assert not conv.alpha_neg.requires_grad
    assert conv.alpha_pos.grad_fn is None and conv.alpha_neg.grad_fn is None


# Self-loops ------------------------------------------------------------------


def test_graph_without_loops_gets_them():
    torch.manual_seed(0)
    n = 8
    edge_index = random_edges(n, n, 0.25, seed=5)
    edge_type = torch.randint(2, 6, (edge_index.size(1), ))
    x = torch.randn(n, 6)
    conv = paper_conv(6, 4, heads=2).eval()
    randomize_(conv, seed=0)
    plain = paper_conv(6, 4, heads=2, add_self_loops=False).eval()
    plain.load_state_dict(conv.state_dict())
    looped_index, looped_type, _ = with_loops(edge_index, n, edge_type, 1)
    assert torch.allclose(conv(x, edge_index, edge_type),
                          plain(x, looped_index, looped_type), atol=1e-6)
    # Existing loops (here of relation 4) are replaced by relation-1 ones.
    both_index = torch.cat([edge_index, torch.arange(n).repeat(2, 1)], 1)
    both_type = torch.cat([edge_type, torch.full((n, ), 4)])
    assert torch.allclose(conv(x, both_index, both_type),
                          plain(x, looped_index, looped_type), atol=1e-6)
    assert not torch.allclose(plain(x, both_index, both_type),
                              plain(x, looped_index, looped_type), atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_node_ignores_its_own_features(layout):
    # Edgeless graph, and a node without incoming edges: each node's output
    # follows its own features.
    torch.manual_seed(0)
    conv = paper_conv(6, 4, heads=2, layout=layout).eval()
    randomize_(conv, seed=0)
    x = torch.randn(5, 6)
    for edge_index in (torch.empty(2, 0, dtype=torch.long),
                       torch.tensor([[0, 1], [1, 2]])):
        out = conv(x, edge_index)
        x_moved = x.clone()
        x_moved[3] += 1.0
        moved = conv(x_moved, edge_index)
        assert not torch.allclose(out[3], moved[3], atol=1e-3)
        assert torch.allclose(out[4], moved[4])
        assert not torch.allclose(out[3], out[4], atol=1e-3)


def test_dialogue_graphs_are_unchanged_by_the_loop_handling(random_dialogues):
    # Dialogue graphs carry relation-1 loops: removing and re-adding them
    # computes the same.
    torch.manual_seed(3)
    batch = Batch.from_data_list(random_dialogues(5, channels=6, seed=8))
    x = batch[NODE_TYPE].x
    for key in (INTER, INTRA):
        edge_index, edge_type = batch[key].edge_index, batch[key].edge_type
        conv = paper_conv(6, 4, heads=2).eval()
        randomize_(conv, seed=0)
        plain = paper_conv(6, 4, heads=2, add_self_loops=False).eval()
        plain.load_state_dict(conv.state_dict())
        assert torch.allclose(conv(x, edge_index, edge_type),
                              plain(x, edge_index, edge_type), atol=1e-6)


# Bipartite graphs ------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bipartite_matches_dense_reference(layout, dense):
    torch.manual_seed(0)
    x_src, x_dst = torch.randn(7, 8), torch.randn(4, 16)
    edge_index = random_edges(7, 4, 0.5, seed=2, loops=True)
    edge_type = torch.randint(0, 6, (edge_index.size(1), ))
    conv = paper_conv((8, 16), 5, heads=2, add_self_loops=False,
                      residual=True, layout=layout).eval()
    randomize_(conv, seed=0)
    assert conv.lin_src.weight.shape == (10, 8)
    assert conv.lin_dst.weight.shape == (10, 16)

    out = conv((x_src, x_dst), edge_index, edge_type)
    with torch.no_grad():
        expected = dense.reference(conv, (x_src, x_dst), *dense.edges(
            edge_index, 7, 4, edge_type)).out
    assert out.shape == (4, 10)
    assert (out - expected).abs().max() < 1e-5
    assert torch.allclose(conv((x_src, x_dst), edge_index, edge_type,
                               size=(7, 4)), out, atol=1e-6)

    # No target features: no target term, the targets counted by size.
    out_none = conv((x_src, None), edge_index, edge_type, size=(7, 4))
    conv.res = None  # the residual needs target features
    with torch.no_grad():
        expected = dense.reference(conv, (x_src, None), *dense.edges(
            edge_index, 7, 4, edge_type)).out
    assert (conv((x_src, None), edge_index, edge_type, size=(7, 4)) -
            expected).abs().max() < 1e-5
    assert out_none.shape == (4, 10)


def test_bipartite_pair_with_shared_projection(dense):
    # int in_channels: source and target features share the projection.
    torch.manual_seed(1)
    x_src, x_dst = torch.randn(5, 8), torch.randn(3, 8)
    edge_index = random_edges(5, 3, 0.6, seed=3, loops=True)
    conv = paper_conv(8, 4, heads=2, add_self_loops=False).eval()
    randomize_(conv, seed=0)
    out = conv((x_src, x_dst), edge_index)
    with torch.no_grad():
        expected = dense.reference(conv, (x_src, x_dst),
                                   dense.edges(edge_index, 5, 3)[0]).out
    assert (out - expected).abs().max() < 1e-5
    # Self-loops in a bipartite graph: one per node present on both sides.
    looped = paper_conv(8, 4, heads=2).eval()
    _, (ei, _) = looped((x_src, x_dst), edge_index,
                        return_attention_weights=True)
    loops = ei[:, ei[0] == ei[1]]
    assert loops.tolist() == [[0, 1, 2], [0, 1, 2]]


def test_bipartite_sparse_adjacency():
    torch.manual_seed(0)
    x_src, x_dst = torch.randn(5, 8), torch.randn(3, 16)
    edge_index = random_edges(5, 3, 0.6, seed=6, loops=True)
    conv = paper_conv((8, 16), 4, heads=2, add_self_loops=False).eval()
    out = conv((x_src, x_dst), edge_index)
    adj_t = to_torch_csr_tensor(edge_index.flip(0), size=(3, 5))
    assert torch.allclose(conv((x_src, x_dst), adj_t), out, atol=1e-6)
    assert torch.allclose(conv((x_src, None), adj_t),
                          conv((x_src, None), edge_index, size=(5, 3)),
                          atol=1e-6)


# Inputs: size, sparse adjacencies, EdgeIndex, empty graphs -------------------


def test_size_argument():
    torch.manual_seed(0)
    x = torch.randn(4, 5)
    edge_index = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    conv = paper_conv(5, 4, heads=2).eval()
    out = conv(x, edge_index)
    assert torch.allclose(conv(x, edge_index, size=(4, 4)), out)


@pytest.mark.parametrize("builder", [to_torch_csr_tensor, to_torch_csc_tensor,
                                     to_torch_coo_tensor])
@pytest.mark.parametrize("loops", [True, False])
def test_torch_sparse_adjacency_equals_edge_index(builder, loops):
    torch.manual_seed(0)
    n = 7
    edge_index = random_edges(n, n, 0.4, seed=4)
    x = torch.randn(n, 5)
    conv = paper_conv(5, 4, heads=2, add_self_loops=loops).eval()
    randomize_(conv, seed=0)
    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    adj_t = builder(edge_index.flip(0), size=(n, n))
    out_adj, adj_alpha = conv(x, adj_t, return_attention_weights=True)
    assert torch.allclose(out_adj, out, atol=1e-6)
    assert adj_alpha.layout == adj_t.layout
    dense = torch.zeros(n, n, 2).index_put((ei[1], ei[0]), alpha)
    assert torch.allclose(adj_alpha.to_dense(), dense, atol=1e-6)

    # Integer values: the relation ids, as RGATConv reads them.
    edge_type = torch.randint(1, 6, (edge_index.size(1), ))
    typed_adj = builder(edge_index.flip(0), edge_type, size=(n, n))
    sorted_index, sorted_type = typed_adj_edges(typed_adj)
    assert torch.allclose(conv(x, typed_adj),
                          conv(x, sorted_index, sorted_type), atol=1e-6)
    assert not torch.allclose(conv(x, typed_adj), out, atol=1e-4)


def typed_adj_edges(adj_t):
    index, value = to_edge_index(adj_t)
    return index.flip(0), value


@pytest.mark.skipif(not WITH_TORCH_SPARSE, reason="torch-sparse absent")
def test_sparse_tensor_adjacency():
    from torch_geometric.typing import SparseTensor
    torch.manual_seed(0)
    edge_index = random_edges(6, 6, 0.4, seed=7)
    x = torch.randn(6, 5)
    conv = paper_conv(5, 4, heads=2).eval()
    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    adj_t = SparseTensor.from_edge_index(edge_index,
                                         sparse_sizes=(6, 6)).t()
    out_adj, adj_alpha = conv(x, adj_t, return_attention_weights=True)
    assert torch.allclose(out_adj, out, atol=1e-6)
    dense = torch.zeros(6, 6, 2).index_put((ei[1], ei[0]), alpha)
    assert torch.allclose(adj_alpha.to_dense(), dense, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_int32_and_edge_index_inputs(layout):
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    edge_index = random_edges(6, 6, 0.4, seed=8)
    conv = paper_conv(5, 4, heads=2, layout=layout).eval()
    out = conv(x, edge_index)
    assert torch.allclose(conv(x, edge_index.int()), out, atol=1e-6)
    typed = EdgeIndex(edge_index, sparse_size=(6, 6))
    assert torch.allclose(conv(x, typed), out, atol=1e-6)
    typed = EdgeIndex(edge_index[:, edge_index[1].argsort()],
                      sparse_size=(6, 6), sort_order="col")
    assert torch.allclose(conv(x, typed), out, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_empty_graphs(layout):
    conv = paper_conv(5, 4, heads=2, layout=layout)
    out, (ei, alpha) = conv(torch.empty(0, 5),
                            torch.empty(2, 0, dtype=torch.long),
                            return_attention_weights=True)
    assert out.shape == (0, 8) and ei.shape == (2, 0)
    assert alpha.shape == (0, 2)
    out = conv(torch.randn(3, 5), torch.empty(2, 0, dtype=torch.long),
               torch.empty(0, dtype=torch.long))
    assert out.shape == (3, 8) and torch.isfinite(out).all()


# Options: bias, residual, relations, lazy widths, state_dict -----------------


def test_bias_and_residual_are_added_after_the_heads():
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    edge_index = random_edges(6, 6, 0.4, seed=1)
    conv = paper_conv(5, 4, heads=2, residual=True).eval()
    randomize_(conv, seed=0)
    plain = paper_conv(5, 4, heads=2, bias=False).eval()
    plain.load_state_dict(conv.state_dict(), strict=False)
    expected = plain(x, edge_index) + conv.res(x) + conv.bias
    assert torch.allclose(conv(x, edge_index), expected, atol=1e-6)


def test_lazy_in_channels():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    conv = paper_conv(-1, 4, heads=2)
    assert "in_channels" not in repr(conv) and repr(conv).startswith(
        "DiffGATConv(-1, 4")
    out = conv(x, edge_index)
    assert conv.lin.weight.shape == (8, 6) and out.shape == (4, 8)
    # Loading a state_dict into a fresh lazy layer materialises it.
    fresh = paper_conv(-1, 4, heads=2)
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(fresh(x, edge_index), out)
    pair = paper_conv((-1, -1), 4, heads=2, add_self_loops=False)
    out = pair((x, torch.randn(2, 3)), torch.tensor([[0, 3], [1, 0]]))
    assert pair.lin_src.weight.shape == (8, 6) and \
        pair.lin_dst.weight.shape == (8, 3)
    assert out.shape == (2, 8)


def test_checkpoints_of_the_old_projection_layout_load():
    # Before the projections became PyG Linear modules, checkpoints held
    # them as [in, heads * C] parameters named weight, weight_src,
    # weight_dst and weight_edge; they load into the lin*.weight keys.
    torch.manual_seed(0)
    x_src, x_dst = torch.randn(5, 6), torch.randn(4, 3)
    edge_index = random_edges(5, 4, 0.6, seed=17, loops=True)
    edge_attr = torch.randn(edge_index.size(1), 2)
    renamed = (("lin", "weight"), ("lin_src", "weight_src"),
               ("lin_dst", "weight_dst"), ("lin_edge", "weight_edge"))
    for in_channels, x in ((6, x_src), ((6, 3), (x_src, x_dst))):
        conv = paper_conv(in_channels, 4, heads=2, edge_dim=2).eval()
        randomize_(conv, seed=1)
        old = dict(conv.state_dict())
        for new_name, old_name in renamed:
            if f"{new_name}.weight" in old:
                old[old_name] = old.pop(f"{new_name}.weight").t()
        assert "weight_edge" in old and "lin_edge.weight" not in old
        fresh = paper_conv(in_channels, 4, heads=2, edge_dim=2).eval()
        fresh.load_state_dict(old)  # strict
        assert list(fresh.state_dict()) == list(conv.state_dict())
        assert torch.equal(fresh(x, edge_index, edge_attr=edge_attr),
                           conv(x, edge_index, edge_attr=edge_attr))

    # Inside the block: its own Linear (lin.weight) keeps its name.
    block = DiffRGCN(6, heads=2).eval()
    randomize_(block, seed=2)
    old = {}
    for key, value in block.state_dict().items():
        if key.endswith("conv.lin.weight"):
            key, value = key[:-len("lin.weight")] + "weight", value.t()
        old[key] = value
    assert "conv.weight" in old and "lin.weight" in old
    fresh = DiffRGCN(6, heads=2).eval()
    fresh.load_state_dict(old)
    edge_index = random_edges(5, 5, 0.5, seed=18, loops=True)
    assert torch.equal(fresh(x_src, edge_index), block(x_src, edge_index))


# MessagePassing: aggr, flow, hooks, explain mode -----------------------------


@pytest.mark.parametrize("aggr", ["max", "mean", "min"])
def test_other_aggregations_take_propagate(aggr):
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    edge_index = random_edges(8, 8, 0.5, seed=9)
    conv = paper_conv(5, 4, heads=2, aggr=aggr).eval()
    randomize_(conv, seed=0)
    ref = paper_conv(5, 4, heads=2, aggr=aggr, layout="coo").eval()
    ref.load_state_dict(conv.state_dict())
    with mock.patch.object(diff_gat_conv_module, "csr_weighted_sum") as spy:
        out = conv(x, edge_index)
    spy.assert_not_called()
    assert torch.equal(out, ref(x, edge_index))
    summed = paper_conv(5, 4, heads=2).eval()
    summed.load_state_dict(conv.state_dict())
    assert not torch.allclose(out, summed(x, edge_index), atol=1e-3)


def test_flow_target_to_source():
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    edge_index = random_edges(7, 7, 0.4, seed=10)
    conv = paper_conv(5, 4, heads=2, flow="target_to_source").eval()
    randomize_(conv, seed=0)
    forward = paper_conv(5, 4, heads=2).eval()
    forward.load_state_dict(conv.state_dict())
    assert torch.allclose(conv(x, edge_index), forward(x, edge_index.flip(0)),
                          atol=1e-6)


def test_hooks_follow_message_passing_dispatch():
    """As for PyG's own fused convolutions: message hooks see every message
    (the edges' and one loop per node) where propagate runs message and
    aggregate, and message_and_aggregate hooks see the fused call."""
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    edge_index = random_edges(6, 6, 0.5, seed=11)
    fused = paper_conv(5, 4, heads=2, layout="csr").eval()
    plain = paper_conv(5, 4, heads=2, layout="coo").eval()
    plain.load_state_dict(fused.state_dict())
    seen = []
    plain.register_message_forward_hook(
        lambda module, inputs, out: seen.append(("message", out.shape)))
    fused.register_message_and_aggregate_forward_hook(
        lambda module, inputs, out: seen.append(("fused", out.shape)))
    with mock.patch.object(diff_gat_conv_module, "csr_weighted_sum",
                           wraps=csr_weighted_sum) as spy:
        assert torch.allclose(fused(x, edge_index), plain(x, edge_index),
                              atol=1e-6)
    spy.assert_called_once()
    assert seen == [("fused", torch.Size([6, 2, 4])),
                    ("message", torch.Size([edge_index.size(1) + 6, 2, 4]))]


def test_gnn_explainer_with_the_default_layout():
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    edge_index = random_edges(8, 8, 0.4, seed=12)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = paper_conv(5, 4, heads=2)
            self.conv2 = paper_conv(8, 3, concat=False)

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index), edge_index)

    explainer = Explainer(
        Net(), GNNExplainer(epochs=3), explanation_type="model",
        node_mask_type="attributes", edge_mask_type="object",
        model_config=dict(mode="multiclass_classification",
                          task_level="node", return_type="raw"))
    explanation = explainer(x, edge_index, index=2)
    assert explanation.edge_mask.shape == (edge_index.size(1), )
    assert explanation.node_mask.shape == x.shape
    # Only edges within two hops of node 2 can matter.
    assert explanation.edge_mask.abs().sum() > 0


def test_explain_mode_masks_the_edges_in_their_given_order():
    """An explainer's edge mask is in the order of the given edges (then one
    per added loop): in explain mode the edges must not be reordered."""
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    edge_index = random_edges(7, 7, 0.5, seed=13)
    edge_index = edge_index[:, torch.randperm(edge_index.size(1))]
    mask = torch.rand(edge_index.size(1))
    outs = []
    for layout in ("auto", "coo"):
        torch.manual_seed(1)
        conv = paper_conv(5, 4, heads=2, layout=layout).eval()
        conv.explain = True
        conv._edge_mask, conv._loop_mask = mask, torch.ones_like(mask).bool()
        conv._apply_sigmoid = False
        outs.append(conv(x, edge_index))
    assert torch.allclose(outs[0], outs[1], atol=1e-6)


# Composition: Sequential, heterogeneous graphs -------------------------------


def test_sequential():
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    edge_index = random_edges(6, 6, 0.5, seed=13)
    model = Sequential("x, edge_index", [
        (paper_conv(5, 4, heads=2), "x, edge_index -> x"),
        torch.nn.ReLU(),
        (paper_conv(8, 3, concat=False), "x, edge_index -> x"),
    ])
    assert model(x, edge_index).shape == (6, 3)


def hetero_data():
    torch.manual_seed(0)
    data = HeteroData()
    data["paper"].x = torch.randn(6, 8)
    data["author"].x = torch.randn(4, 12)
    data["paper", "cites", "paper"].edge_index = random_edges(6, 6, 0.4, 14)
    data["author", "writes", "paper"].edge_index = random_edges(4, 6, 0.5,
                                                                15, True)
    data["paper", "rev_writes", "author"].edge_index = \
        data["author", "writes", "paper"].edge_index.flip(0)
    return data


def test_to_hetero_with_two_node_types():
    data = hetero_data()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = paper_conv((-1, -1), 4, heads=2,
                                   add_self_loops=False)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    model = to_hetero(Net(), data.metadata(), aggr="sum")
    out = model(data.x_dict, data.edge_index_dict)
    assert out["paper"].shape == (6, 8) and out["author"].shape == (4, 8)
    out["paper"].sum().backward()


def test_hetero_conv_with_two_node_types():
    data = hetero_data()
    conv = HeteroConv({
        ("paper", "cites", "paper"): paper_conv(8, 4, heads=2),
        ("author", "writes", "paper"): paper_conv(
            (12, 8), 4, heads=2, add_self_loops=False),
        ("paper", "rev_writes", "author"): paper_conv(
            (8, 12), 4, heads=2, add_self_loops=False),
    }, aggr="sum")
    out = conv(data.x_dict, data.edge_index_dict)
    assert out["paper"].shape == (6, 8) and out["author"].shape == (4, 8)
    # The paper output is the sum of its two relations' layers.
    convs = conv.convs
    expected = convs["paper", "cites", "paper"](
        data["paper"].x, data["paper", "cites", "paper"].edge_index) + \
        convs["author", "writes", "paper"](
            (data["author"].x, data["paper"].x),
            data["author", "writes", "paper"].edge_index)
    assert torch.allclose(out["paper"], expected, atol=1e-6)
