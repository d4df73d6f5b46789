"""DiffGATConv computes the equations of Sec. 4.5 (Eq. 9-18): values,
attention maps and gradients against conftest's dense reference (relations,
edge features, odd widths), and the invariants of the differential weights
(rows summing to 1 - lambda, dropout, nodes without incoming edges,
permutation and batching)."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter, to_dense_batch

from conftest import (flat_batch, grads, local_index, max_diff, paper_conv,
                      random_edges, randomize_, with_loops)
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE

IN, OUT = 12, 8
# Both edge traversals of the layer must compute the same equations.
LAYOUTS = ["coo", "csr"]


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("use_types", [True, False])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("key", [INTER, INTRA], ids=["inter", "intra"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_matches_dense_reference_on_dialogue_batches(
        heads, use_types, concat, key, layout, random_dialogues, dense):
    torch.manual_seed(heads * 7 + use_types * 3 + concat)
    graphs = random_dialogues(6, channels=IN, seed=heads + 10 * concat)
    x, edge_index, edge_type, batch, num_graphs = flat_batch(graphs, key)
    # Edges in no particular order: the maps come back in this order.
    shuffle = torch.randperm(edge_index.size(1))
    edge_index, edge_type = edge_index[:, shuffle], edge_type[shuffle]
    # The dialogue graphs carry their own loops: the edges stay as given.
    conv = paper_conv(IN, OUT, heads=heads, concat=concat,
                      add_self_loops=False, layout=layout).eval()
    randomize_(conv)

    out, (ei, alpha) = conv(x, edge_index,
                            edge_type if use_types else None,
                            return_attention_weights=True)

    # The padded [B, L, L] batch of the published code.
    adj = dense.adjacency(edge_index, edge_type, batch, num_graphs)
    x_dense, node_mask = to_dense_batch(x, batch)
    with torch.no_grad():
        ref = dense.reference(conv, x_dense, adj != 0,
                              adj if use_types else None)
    assert out.shape == (x.size(0), heads * OUT if concat else OUT)
    assert max_diff(out, ref.out[node_mask]) < 1e-5
    assert torch.equal(ei, edge_index)

    # The attention maps themselves, edge by edge.
    b, i, j = local_index(edge_index, batch)
    assert max_diff(conv.alpha_pos, ref.alpha_pos[b, :, i, j]) < 1e-6
    assert max_diff(conv.alpha_neg, ref.alpha_neg[b, :, i, j]) < 1e-6
    assert max_diff(alpha, ref.alpha[b, :, i, j]) < 1e-6
    # No weight falls outside the edges.
    for h in range(heads):
        assert ref.alpha_pos[:, h].sum().item() == pytest.approx(
            conv.alpha_pos[:, h].sum().item(), abs=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("out_channels,heads,concat", [
    (1, 2, True), (3, 2, True), (5, 1, True), (8, 3, False)])
@pytest.mark.parametrize("typed,edge_dim", [(True, None), (False, 3),
                                            (True, 2)])
def test_matches_dense_reference_with_added_loops(
        layout, out_channels, heads, concat, typed, edge_dim, dense):
    # Odd widths (the positive branch takes ceil(C / 2) channels), relation
    # ids including 0, edge features, GATConv's self-loops and residual, in
    # float64: values, maps and gradients.
    torch.manual_seed(out_channels + 10 * heads)
    n = 9
    edge_index = random_edges(n, n, 0.3, seed=out_channels)
    num_edges = edge_index.size(1)
    edge_type = torch.randint(0, 4, (num_edges, )) if typed else None
    edge_attr = None if edge_dim is None else torch.randn(num_edges, edge_dim)
    conv = paper_conv(6, out_channels, heads=heads, concat=concat,
                      num_relations=4, edge_dim=edge_dim, self_loop_type=3,
                      residual=True, layout=layout).double().eval()
    randomize_(conv, seed=0)
    x = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    edge_attr = None if edge_attr is None else edge_attr.double()

    out, (ei, alpha) = conv(x, edge_index, edge_type, edge_attr,
                            return_attention_weights=True)
    full_index, full_type, full_attr = with_loops(
        edge_index, n, edge_type, 3, edge_attr)
    ref = dense.reference(conv, x, *dense.edges(full_index, n, n, full_type,
                                                full_attr))
    assert out.shape == (n, heads * out_channels if concat else out_channels)
    assert max_diff(out, ref.out) < 1e-10
    # GATConv's edges: the graph's, then one loop per node.
    assert torch.equal(ei, full_index)
    assert alpha.shape == (num_edges + n, heads)
    src, dst = full_index
    assert max_diff(alpha, ref.alpha[:, dst, src].t()) < 1e-12
    assert max_diff(conv.alpha_pos, ref.alpha_pos[:, dst, src].t()) < 1e-12
    assert max_diff(conv.alpha_neg, ref.alpha_neg[:, dst, src].t()) < 1e-12

    # Gradients of the input and of every parameter (zero for the relation
    # parameters of untyped edges).
    g = torch.randn_like(out)
    tensors = [x] + list(conv.parameters())
    for a, b in zip(grads(out, tensors, g),
                    grads(ref.out, tensors, g, unused_as_zero=True)):
        assert max_diff(a, b) < 1e-10


def test_untyped_edges_give_relation_parameters_a_zero_gradient():
    # DistributedDataParallel needs every parameter in the graph.
    conv = paper_conv(5, 4, heads=2)
    conv(torch.randn(4, 5), torch.tensor([[0, 1], [1, 2]])).sum().backward()
    for p in (conv.rel_emb, conv.att_rel_pos, conv.att_rel_neg):
        assert p.grad is not None and p.grad.abs().max() == 0
    assert conv.lin.weight.grad.abs().max() > 0


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("key", [INTER, INTRA], ids=["inter", "intra"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_weights_of_every_target_sum_to_one_minus_lambda(
        heads, key, layout, random_dialogues):
    torch.manual_seed(heads)
    graphs = random_dialogues(5, channels=IN, seed=3 + heads)
    x, edge_index, edge_type, _, _ = flat_batch(graphs, key)
    conv = paper_conv(IN, OUT, heads=heads, dropout=0.5,
                      add_self_loops=False, layout=layout).eval()
    randomize_(conv)
    _, (_, alpha) = conv(x, edge_index, edge_type,
                         return_attention_weights=True)
    dst, n = edge_index[1], x.size(0)
    lam = conv.differential_lambda().detach()
    assert not torch.allclose(lam, torch.full_like(lam, conv.lambda_init))
    # Every dialogue node has a self-loop, so every node is a target.
    for weights, total in ((alpha, 1 - lam), (conv.alpha_pos, torch.ones(1)),
                           (conv.alpha_neg, torch.ones(1))):
        sums = scatter(weights.detach(), dst, dim=0, dim_size=n, reduce="sum")
        assert sums.shape == (n, heads)
        assert torch.allclose(sums, total.expand(n, heads), atol=1e-6)
    assert (conv.alpha_pos >= 0).all() and (conv.alpha_neg >= 0).all()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dropout_on_alpha_only_in_training(layout, random_dialogue):
    graph = random_dialogue(30, 4, channels=IN, seed=1)
    x = graph[NODE_TYPE].x
    edge_index, edge_type = graph[INTER].edge_index, graph[INTER].edge_type
    conv = paper_conv(IN, OUT, heads=2, dropout=0.5, layout=layout)

    conv.eval()
    out_1, (_, alpha_1) = conv(x, edge_index, edge_type,
                               return_attention_weights=True)
    out_2, (_, alpha_2) = conv(x, edge_index, edge_type,
                               return_attention_weights=True)
    assert torch.equal(out_1, out_2) and torch.equal(alpha_1, alpha_2)
    lam = conv.differential_lambda()
    assert torch.allclose(alpha_1, conv.alpha_pos - lam * conv.alpha_neg)

    conv.train()
    torch.manual_seed(0)
    out_train, (_, alpha_train) = conv(x, edge_index, edge_type,
                                       return_attention_weights=True)
    dropped = alpha_train == 0
    assert 0.3 < dropped.float().mean() < 0.7
    # Kept weights are rescaled by 1 / (1 - p); the branch maps are not.
    assert torch.allclose(alpha_train[~dropped], 2 * alpha_1[~dropped])
    assert torch.allclose(conv.alpha_pos - lam * conv.alpha_neg, alpha_1)
    assert not torch.allclose(out_train, out_1, atol=1e-3)


@pytest.mark.parametrize("with_types", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nodes_without_incoming_edges_get_gelu_of_scaled_bias(
        with_types, layout, dense):
    torch.manual_seed(0)
    conv = paper_conv(IN, OUT, heads=2, add_self_loops=False, layout=layout)
    randomize_(conv)
    x = torch.randn(5, IN)
    # The head's output bias, then GATConv's bias.
    expected = F.gelu(conv.norm_bias * (1 - conv.lambda_init)).reshape(-1) + \
        conv.bias

    # A graph without edges: every node.
    edge_index = torch.empty(2, 0, dtype=torch.long)
    edge_type = torch.empty(0, dtype=torch.long) if with_types else None
    out, (_, alpha) = conv(x, edge_index, edge_type,
                           return_attention_weights=True)
    assert alpha.shape == (0, 2)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, expected.expand(5, -1), atol=1e-6)

    # Nodes 1, 2 and 4 receive nothing (gaps in the CSR row pointer).
    edge_index = torch.tensor([[0, 1, 3, 1, 2], [0, 0, 0, 3, 3]])
    edge_type = torch.tensor([1, 2, 5, 4, 3]) if with_types else None
    out = conv(x, edge_index, edge_type)
    assert torch.isfinite(out).all()
    for node in (1, 2, 4):
        assert torch.allclose(out[node], expected, atol=1e-6)
    for node in (0, 3):
        assert not torch.allclose(out[node], expected, atol=1e-3)
    mask, rel, _ = dense.edges(edge_index, 5, 5, edge_type)
    with torch.no_grad():
        assert max_diff(out, dense.reference(conv, x, mask, rel).out) < 1e-5


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_permuting_nodes_permutes_output(heads, layout, random_dialogues):
    torch.manual_seed(0)
    graphs = random_dialogues(4, channels=IN, seed=11)
    x, edge_index, edge_type, _, _ = flat_batch(graphs, INTER)
    conv = paper_conv(IN, OUT, heads=heads, layout=layout).eval()
    out = conv(x, edge_index, edge_type)

    n = x.size(0)
    perm = torch.randperm(n)  # new node k is old node perm[k]
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    edge_perm = torch.randperm(edge_index.size(1))  # edge order is free too
    out_perm = conv(x[perm], inverse[edge_index][:, edge_perm],
                    edge_type[edge_perm])
    assert torch.allclose(out_perm, out[perm], atol=1e-6)
    assert not torch.allclose(out_perm, out, atol=1e-3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dataloader_batch_equals_each_dialogue_alone(layout,
                                                     random_dialogues,
                                                     inter_then_intra):
    torch.manual_seed(0)
    graphs = random_dialogues(7, channels=IN, seed=5)
    model = inter_then_intra(
        paper_conv(IN, OUT, heads=2, layout=layout),
        paper_conv(2 * OUT, OUT, heads=2, concat=False, layout=layout),
    ).eval()
    batch = next(iter(DataLoader(graphs, batch_size=len(graphs))))
    out = model(batch)
    ptr = batch[NODE_TYPE].ptr
    for b, graph in enumerate(graphs):
        alone = model(graph)
        assert torch.allclose(out[ptr[b]:ptr[b + 1]], alone, atol=1e-6)
