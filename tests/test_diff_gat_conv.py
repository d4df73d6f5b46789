"""DiffGATConv: the sparse layer against a dense computation of Sec. 4.5
(Eq. 9-18), differential weight sums, equivariance, batching, gradients, edge cases,
parameters, torch.compile and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter, to_dense_batch

from conftest import paper_conv, paper_dense_conv
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.nn import DiffGATConv

IN, OUT = 12, 8
# Both edge traversals of the layer must compute the same equations.
LAYOUTS = ["coo", "csr"]


def flat_batch(graphs, key):
    """(x, edge_index, edge_type, batch, num_graphs) of one subgraph of a
    batch of dialogues."""
    batch = Batch.from_data_list(graphs)
    store = batch[NODE_TYPE]
    return (store.x, batch[key].edge_index, batch[key].edge_type, store.batch,
            batch.num_graphs)


def local_index(edge_index, batch):
    """(graph, target, source) of every edge, node ids local to the graph."""
    counts = torch.bincount(batch)
    start = torch.cumsum(counts, 0) - counts
    src, dst = edge_index
    b = batch[dst]
    return b, dst - start[b], src - start[b]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_through_input_and_parameters(layout):
    torch.manual_seed(0)
    conv = paper_conv(3, 4, heads=2, relation_dim=3,
                       layout=layout).double()
    # Node 3 sends but receives nothing; node 0 receives three edges.
    edge_index = torch.tensor([[0, 1, 2, 3, 1, 0, 2], [0, 0, 0, 0, 1, 2, 2]])
    edge_type = torch.tensor([1, 2, 3, 4, 1, 5, 1])
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in conv.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_()
                   for p in conv.parameters())

    def run(x, *params):
        return torch.func.functional_call(conv, dict(zip(names, params)),
                                          (x, edge_index, edge_type))

    assert gradcheck(run, (x, *params), eps=1e-6, atol=1e-5)


@pytest.mark.slow  # 10-40 s on 2 CPU cores (Inductor code generation)
def test_torch_compile_matches_eager(random_dialogues):
    torch.manual_seed(0)
    conv = paper_conv(IN, OUT, heads=2).eval()  # the default layout
    torch._dynamo.reset()
    compiled = torch.compile(conv)
    # Two batches of different sizes: the second reuses or recompiles.
    for seed in (2, 3):
        graphs = random_dialogues(3, channels=IN, seed=seed)
        x, edge_index, edge_type, _, _ = flat_batch(graphs, INTRA)
        expected = conv(x, edge_index, edge_type)
        out = compiled(x, edge_index, edge_type)
        assert out.shape == expected.shape
        assert torch.allclose(out, expected, atol=1e-5)


# Bad input ------------------------------------------------------------------


