"""DiffGATConv as a PyG convolution, in the style of PyG's
``test/nn/conv/test_gat_conv.py``: self-loops, any width, bipartite and lazy
inputs, ``size``, sparse adjacencies, edge features, ``num_relations=None``,
bias and residual, heterogeneous graphs, explainability, hooks, ``aggr`` and
``flow``, and every bad argument; each against a dense masked-softmax
computation of Eq. 9-18 where values are checked."""

from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch_geometric import EdgeIndex
from torch_geometric.data import Batch, HeteroData
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.nn import HeteroConv, Sequential, to_hetero
from torch_geometric.typing import WITH_TORCH_SPARSE
from torch_geometric.utils import (to_torch_coo_tensor, to_torch_csc_tensor,
                                   to_torch_csr_tensor)

from conftest import paper_conv, paper_dense_conv
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE, build_dialogue_graph
from dsgdn_pyg.nn import DiffGATConv, DiffRGCN
from dsgdn_pyg.nn import diff_gat_conv as diff_gat_conv_module
from dsgdn_pyg.nn.csr_aggregation import csr_weighted_sum

LAYOUTS = ["coo", "csr"]


def random_edges(num_src, num_dst, density, seed, loops=False):
    """Unique edges ``[2, E]`` (source row 0, target row 1) in random order,
    without self-loops unless :obj:`loops`."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_dst, num_src, generator=g) < density
    if not loops:
        n = min(num_src, num_dst)
        mask[torch.arange(n), torch.arange(n)] = False
    dst, src = mask.nonzero().t()
    perm = torch.randperm(src.numel(), generator=g)
    return torch.stack([src, dst])[:, perm]


# Values against the dense reference --------------------------------------


# Self-loops -----------------------------------------------------------------


# The published block --------------------------------------------------------


# Widths, lazy inputs, parameters -----------------------------------------


# Inputs: size, sparse adjacencies, edge index types ----------------------


# The fast path stays honest -------------------------------------------------


# PyG composition: Sequential, heterogeneous graphs, compile --------------


@pytest.mark.slow  # Inductor code generation: 10-60 s on 2 CPU cores
def test_torch_compile_forward_and_backward():
    torch.manual_seed(0)
    x = torch.randn(9, 5)
    edge_index = random_edges(9, 9, 0.4, seed=16)
    edge_type = torch.randint(0, 6, (edge_index.size(1), ))
    conv = paper_conv(5, 4, heads=2)
    torch._dynamo.reset()
    compiled = torch.compile(conv)
    x_eager = x.clone().requires_grad_()
    x_comp = x.clone().requires_grad_()
    expected = conv(x_eager, edge_index, edge_type)
    out = compiled(x_comp, edge_index, edge_type)
    assert torch.allclose(out, expected, atol=1e-5)
    g = torch.randn_like(out)
    expected.backward(g)
    grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    out.backward(g)
    assert torch.allclose(x_comp.grad, x_eager.grad, atol=1e-5)
    for p, grad in zip(conv.parameters(), grads):
        assert torch.allclose(p.grad, grad, atol=1e-5)


# Bad arguments ----------------------------------------------------------------


