"""DiffRGCN: the block against a dense reference composed from the dense
head, batching, dropout, parameter count."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from torch_geometric.utils import to_dense_batch

from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.nn import DiffGATConv, DiffRGCN

CH = 16
LAYOUTS = ["coo", "csr"]


def dense_diff_rgcn(block, x, adj, dense, use_types=True):
    """The block of Sec. 4.5: H heads concatenated, the output head (ending in GELU),
    GELU once more, Linear, residual, LayerNorm (eval mode: no dropout)."""
    h = dense.conv(block.conv, x, adj, use_types)
    h = dense.conv(block.out_conv, h, adj, use_types)
    h = block.lin(F.gelu(h))
    return F.layer_norm(h + x, (block.channels, ), block.norm.weight,
                        block.norm.bias, block.norm.eps)


def randomized_block(heads, **kwargs):
    block = DiffRGCN(CH, heads=heads, **kwargs)
    torch.nn.init.normal_(block.norm.weight, 1.0, 0.3)
    torch.nn.init.normal_(block.norm.bias, 0.0, 0.3)
    return block


@pytest.mark.parametrize("heads", [1, 2, 3])
@pytest.mark.parametrize("key", [INTER, INTRA], ids=["inter", "intra"])
@pytest.mark.parametrize("use_types", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_matches_dense_reference(heads, key, use_types, layout,
                                 random_dialogues, dense):
    torch.manual_seed(heads)
    block = randomized_block(heads, layout=layout)
    dense.randomize_(block.conv)
    dense.randomize_(block.out_conv)
    block.eval()
    batch = Batch.from_data_list(random_dialogues(5, channels=CH, seed=heads))
    x, node_batch = batch[NODE_TYPE].x, batch[NODE_TYPE].batch
    edge_index, edge_type = batch[key].edge_index, batch[key].edge_type

    out = block(x, edge_index, edge_type if use_types else None)

    adj = dense.adjacency(edge_index, edge_type, node_batch, batch.num_graphs)
    x_dense, mask = to_dense_batch(x, node_batch)
    with torch.no_grad():
        expected = dense_diff_rgcn(block, x_dense, adj, dense,
                                   use_types)[mask]
    assert out.shape == (x.size(0), CH)
    assert (out - expected).abs().max() < 1e-5


def test_structure_follows_spec():
    block = DiffRGCN(CH, heads=3, dropout=0.1)
    assert isinstance(block.conv, DiffGATConv)
    assert (block.conv.in_channels, block.conv.out_channels,
            block.conv.heads, block.conv.concat) == (CH, CH, 3, True)
    assert (block.out_conv.in_channels, block.out_conv.out_channels,
            block.out_conv.heads) == (3 * CH, CH, 1)
    assert block.conv.dropout == block.out_conv.dropout == 0.1
    assert isinstance(block.lin, torch.nn.Linear)
    assert isinstance(block.norm, torch.nn.LayerNorm)
    assert repr(block) == f"DiffRGCN({CH}, heads=3, dropout=0.1)"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dataloader_batch_equals_each_dialogue_alone(layout,
                                                     random_dialogues,
                                                     inter_then_intra):
    torch.manual_seed(0)
    graphs = random_dialogues(6, channels=CH, seed=9, max_length=20)
    model = inter_then_intra(DiffRGCN(CH, heads=2, layout=layout),
                             DiffRGCN(CH, heads=2, layout=layout)).eval()
    loader = DataLoader(graphs, batch_size=3)
    alone = iter(graphs)
    seen = 0
    for batch in loader:
        out = model(batch)
        ptr = batch[NODE_TYPE].ptr
        for b in range(batch.num_graphs):
            expected = model(next(alone))
            assert torch.allclose(out[ptr[b]:ptr[b + 1]], expected,
                                  atol=1e-5)
            seen += 1
    assert seen == len(graphs)


def test_dropout_only_in_training(random_dialogue):
    graph = random_dialogue(12, 3, channels=CH)
    args = (graph[NODE_TYPE].x, graph[INTER].edge_index,
            graph[INTER].edge_type)
    block = DiffRGCN(CH, heads=2, dropout=0.5)
    block.eval()
    assert torch.equal(block(*args), block(*args))
    block.train()
    torch.manual_seed(0)
    first = block(*args)
    second = block(*args)
    assert not torch.allclose(first, second, atol=1e-4)
    assert not torch.allclose(first, block.eval()(*args), atol=1e-4)


def test_reset_parameters_changes_weights():
    block = DiffRGCN(CH, heads=2)
    with torch.no_grad():
        for p in block.parameters():
            p.fill_(0.5)
    block.reset_parameters()
    for name, p in block.named_parameters():
        assert not torch.all(p == 0.5), name


def test_published_parameter_count():
    block = DiffRGCN(512, heads=2)
    assert sum(p.numel() for p in block.parameters()) == 1_321_712
