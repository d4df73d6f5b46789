"""The dense twin (DenseDiffGATConv, DenseDiffRGCN, the formulation of the
published code) against the sparse layers holding the same weights and
conftest's dense reference: outputs, attention maps, gradients, padding and
nodes without edges, and the state_dict they share."""

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.utils import to_dense_batch

from conftest import max_diff, paper_conv, paper_dense_conv, randomize_
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE, dense_relation_adjacency
from dsgdn_pyg.nn import (DenseDiffGAT, DenseDiffGATConv, DenseDiffRGCN,
                          DiffRGCN)


def padded_batch(random_dialogues, key, seed, channels=12):
    """A batch of dialogues of different lengths (so the dense side pads):
    sparse inputs, dense inputs and the mask of real nodes."""
    graphs = random_dialogues(6, channels=channels, seed=seed,
                              max_length=14, max_window=5)
    batch = Batch.from_data_list(graphs)
    x, index = batch[NODE_TYPE].x, batch[NODE_TYPE].batch
    edge_index, edge_type = batch[key].edge_index, batch[key].edge_type
    x_dense, mask = to_dense_batch(x, index)
    adj = dense_relation_adjacency(edge_index, edge_type, index,
                                   batch_size=mask.size(0),
                                   max_num_nodes=mask.size(1))
    return x, edge_index, edge_type, index, x_dense, adj, mask


def test_dense_head_is_an_alias():
    assert DenseDiffGAT is DenseDiffGATConv


@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (2, False)])
@pytest.mark.parametrize("typed", [True, False])
@pytest.mark.parametrize("key", [INTER, INTRA])
def test_dense_head_matches_sparse_head(heads, concat, typed, key,
                                        random_dialogues, dense):
    torch.manual_seed(heads)
    x, edge_index, edge_type, index, x_dense, adj, mask = padded_batch(
        random_dialogues, key, seed=heads + 3 * typed)
    # The dense baseline is the published head: no added loops, no bias.
    sparse = paper_conv(12, 8, heads=heads, concat=concat,
                        add_self_loops=False, bias=False).eval()
    randomize_(sparse, seed=5)
    twin = paper_dense_conv(12, 8, heads=heads, concat=concat).eval()
    twin.load_state_dict(sparse.state_dict())
    with torch.no_grad():
        ref = dense.reference(twin, x_dense, adj != 0, adj if typed else None)
    if not typed:
        adj = adj != 0  # untyped edges: no relation term
    out, (_, alpha) = sparse(x, edge_index, edge_type if typed else None,
                             return_attention_weights=True)
    out_dense, alpha_dense = twin(x_dense, adj,
                                  return_attention_weights=True)
    assert out_dense.shape == (*mask.shape, out.size(-1))
    assert max_diff(out_dense[mask], out) < 1e-5
    # Padding rows included: the published formulation is the reference's.
    assert max_diff(out_dense, ref.out) < 1e-5
    assert max_diff(alpha_dense, ref.alpha) < 1e-6

    # The signed weights, edge by edge, and zero where there is no edge.
    counts = torch.bincount(index)
    start = torch.cumsum(counts, 0) - counts
    src, dst = edge_index
    b = index[dst]
    picked = alpha_dense[b, :, dst - start[b], src - start[b]]
    assert max_diff(picked, alpha) < 1e-6
    assert alpha_dense.masked_select((adj == 0).unsqueeze(1).expand_as(
        alpha_dense)).abs().max() == 0


@pytest.mark.parametrize("key", [INTER, INTRA])
def test_dense_block_matches_sparse_block_values_and_gradients(
        key, random_dialogues):
    torch.manual_seed(0)
    x, edge_index, edge_type, index, x_dense, adj, mask = padded_batch(
        random_dialogues, key, seed=11, channels=16)
    sparse = DiffRGCN(16, heads=2).eval()
    randomize_(sparse, seed=5)
    dense = DenseDiffRGCN(16, heads=2).eval()
    dense.load_state_dict(sparse.state_dict())
    # In float64: the two sum in different orders, and in float32 their
    # gradients differ by up to 1.3e-5 on some CPUs (AMD EPYC).
    sparse, dense = sparse.double(), dense.double()

    x = x.double().requires_grad_()
    x_dense = x_dense.double().requires_grad_()
    out = sparse(x, edge_index, edge_type)
    out_dense = dense(x_dense, adj)
    assert max_diff(out_dense[mask], out) < 1e-10

    g = torch.randn_like(out)
    g_dense = torch.zeros_like(out_dense)
    g_dense[mask] = g
    grads = torch.autograd.grad(out, [x] + list(sparse.parameters()), g)
    grads_dense = torch.autograd.grad(out_dense, [x_dense] +
                                      list(dense.parameters()), g_dense)
    assert max_diff(grads_dense[0][mask], grads[0]) < 1e-10
    for name, a, b in zip(dict(sparse.named_parameters()), grads[1:],
                          grads_dense[1:]):
        assert max_diff(a, b) < 1e-9 * max(1.0, b.abs().max().item()), name


def test_forward_sparse_matches_sparse_block(random_dialogues):
    torch.manual_seed(1)
    x, edge_index, edge_type, index, *_ = padded_batch(
        random_dialogues, INTER, seed=2, channels=16)
    sparse = DiffRGCN(16, heads=2).eval()
    dense = DenseDiffRGCN(16, heads=2).eval()
    dense.load_state_dict(sparse.state_dict())
    expected = sparse(x, edge_index, edge_type)
    assert max_diff(dense.forward_sparse(x, edge_index, edge_type, index),
                    expected) < 1e-5
    # Untyped edges on both sides.
    assert max_diff(dense.forward_sparse(x, edge_index, None, index),
                    sparse(x, edge_index)) < 1e-5


def test_forward_sparse_on_one_graph_without_batch(random_dialogue):
    data = random_dialogue(9, 2, channels=8)
    sparse = DiffRGCN(8).eval()
    dense = DenseDiffRGCN(8).eval()
    dense.load_state_dict(sparse.state_dict())
    args = (data[NODE_TYPE].x, data[INTRA].edge_index, data[INTRA].edge_type)
    assert max_diff(dense.forward_sparse(*args), sparse(*args)) < 1e-5


def test_padding_and_nodes_without_edges_match_sparse():
    # Node 2 has no incoming edge; the second graph is all padding but one
    # node, so most of its rows have no edge at all.
    torch.manual_seed(3)
    edge_index = torch.tensor([[0, 1, 2, 1, 3], [0, 0, 1, 1, 3]])
    edge_type = torch.tensor([1, 4, 5, 1, 1])
    index = torch.tensor([0, 0, 0, 1])
    x = torch.randn(4, 6)
    sparse = paper_conv(6, 4, heads=2, add_self_loops=False,
                        bias=False).eval()
    randomize_(sparse, seed=5)
    dense = paper_dense_conv(6, 4, heads=2).eval()
    dense.load_state_dict(sparse.state_dict())
    x_dense, mask = to_dense_batch(x, index)
    adj = dense_relation_adjacency(edge_index, edge_type, index)
    out = sparse(x, edge_index, edge_type)
    out_dense = dense(x_dense, adj)
    assert torch.isfinite(out_dense).all()
    assert max_diff(out_dense[mask], out) < 1e-6
    # Every row without edges (node 2 and the padding) gets the same value
    # as a sparse node without incoming edges: GELU of the scaled bias.
    expected = torch.nn.functional.gelu(
        sparse.norm_bias * (1 - sparse.lambda_init)).reshape(-1)
    assert max_diff(out[2], expected) < 1e-6
    assert max_diff(out_dense[1, 1], expected) < 1e-6


def test_single_graph_without_batch_dimension():
    dense = paper_dense_conv(4, 4, heads=2).eval()
    adj = torch.tensor([[1, 0, 0], [5, 1, 0], [0, 4, 1]])
    x = torch.randn(3, 4)
    out, alpha = dense(x, adj, return_attention_weights=True)
    assert out.shape == (3, 8) and alpha.shape == (2, 3, 3)
    assert torch.equal(out, dense(x.unsqueeze(0), adj.unsqueeze(0))[0])


def test_state_dicts_are_interchangeable():
    sparse, dense = DiffRGCN(32, heads=2), DenseDiffRGCN(32, heads=2)
    a, b = sparse.state_dict(), dense.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    sparse.load_state_dict(dense.state_dict())
    assert sum(p.numel() for p in dense.parameters()) == sum(
        p.numel() for p in sparse.parameters())
    assert sum(p.numel() for p in DenseDiffRGCN(512).parameters()) == \
        1_321_712


def test_dropout_only_in_training():
    torch.manual_seed(0)
    dense = DenseDiffRGCN(8, heads=2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    adj = torch.ones(2, 5, 5, dtype=torch.long)
    dense.eval()
    assert torch.equal(dense(x, adj), dense(x, adj))
    dense.train()
    assert not torch.equal(dense(x, adj), dense(x, adj))


def test_relation_term_same_with_and_without_autograd():
    # Training takes a one-hot product, inference an embedding lookup.
    torch.manual_seed(4)
    dense = paper_dense_conv(6, 4, heads=2).eval()
    x = torch.randn(2, 5, 6)
    adj = torch.randint(0, 6, (2, 5, 5))
    out = dense(x, adj)
    with torch.no_grad():
        assert max_diff(dense(x, adj), out) < 1e-6
    out.sum().backward()
    assert dense.rel_emb.grad is not None
    assert dense.rel_emb.grad.abs().sum() > 0
