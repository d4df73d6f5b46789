"""Bad input to DiffGATConv and DenseDiffGATConv: every wrong argument is a
ValueError that names it, at construction or at the forward call."""

import pytest
import torch
from torch_geometric.utils import to_torch_csr_tensor

from conftest import paper_conv, paper_dense_conv


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_channels=0), "in_channels must be an int >= 1, -1"),
    (dict(in_channels=(8, "a")), "in_channels must be an int >= 1, -1"),
    (dict(out_channels=0), "out_channels must be an int >= 1"),
    (dict(heads=0), "heads must be >= 1"),
    (dict(num_relations=-1), "num_relations must be None or an int >= 0"),
    (dict(relation_dim=0), "relation_dim must be an int >= 1"),
    (dict(dropout=1.0), r"dropout must lie in \[0, 1\)"),
    (dict(edge_dim=0), "edge_dim must be None or an int >= 1"),
    (dict(self_loop_type=6), r"self_loop_type must be a relation id in "
     r"\[0, 5\]"),
    (dict(layout="dense"), "layout must be one of"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = dict(in_channels=8, out_channels=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        paper_conv(**args)


@pytest.mark.parametrize("call,match", [
    (lambda c, x, ei: c(x, ei, torch.rand(3)),
     r"expected edge_type as an integer tensor of shape \[3\]"),
    (lambda c, x, ei: c(x, ei, torch.ones(2, dtype=torch.long)),
     r"expected edge_type as an integer tensor of shape \[3\]"),
    (lambda c, x, ei: c(x, ei, torch.tensor([1, 1, 1, 1])),
     r"expected edge_type as an integer tensor of shape \[3\]"),
    (lambda c, x, ei: c(x, ei, torch.tensor([1, 2, 6])),
     r"edge_type ids must lie in \[0, 5\]"),
    (lambda c, x, ei: c(x, ei, torch.tensor([1, -1, 2])),
     r"edge_type ids must lie in \[0, 5\]"),
    (lambda c, x, ei: c(x, ei, edge_attr=torch.rand(3, 2)),
     "edge_attr needs edge_dim"),
    (lambda c, x, ei: c(x, ei.float()), "expected edge_index as an integer"),
    (lambda c, x, ei: c(x, ei[0]), r"\[2, num_edges\]"),
    (lambda c, x, ei: c(x, torch.cat([ei, ei[:1]])), r"\[2, num_edges\]"),
    (lambda c, x, ei: c(torch.randn(4, 6), ei),
     r"expected x \(or x_src\) of shape \[num_nodes, 5\], got \[4, 6\]"),
    (lambda c, x, ei: c((x, ), ei), "x must be a tensor or a pair"),
    (lambda c, x, ei: c((x, torch.randn(4, 3)), ei),
     r"expected x_dst of shape \[num_nodes, 5\]"),
    (lambda c, x, ei: c(x, ei, size=(4, 4, 4)),
     "size must be None or a pair of node counts"),
    (lambda c, x, ei: c(x, ei, size=4),
     "size must be None or a pair of node counts"),
    (lambda c, x, ei: c(x, ei, size=(4, 3)),
     r"size\[1\] is 3, but x has 4 rows"),
    (lambda c, x, ei: c(x, ei, size=(3, 4)),
     r"size\[0\] is 3, but x has 4 rows"),
])
def test_bad_forward_arguments(call, match):
    conv = paper_conv(5, 4)
    x = torch.randn(4, 5)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(ValueError, match=match):
        call(conv, x, edge_index)


def test_edge_type_needs_num_relations():
    conv = paper_conv(5, 4, num_relations=None)
    x = torch.randn(4, 5)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert conv(x, edge_index).shape == (4, 4)
    with pytest.raises(ValueError, match="edge_type needs num_relations, "
                       "but the layer was built with num_relations=None"):
        conv(x, edge_index, torch.tensor([1, 1, 1]))


@pytest.mark.parametrize("edge_attr,match", [
    (torch.ones(3, 2, dtype=torch.long), "as a float tensor of shape"),
    (torch.rand(3, 3), r"of shape \[3, 2\], got torch.float32 \[3, 3\]"),
    (torch.rand(4, 2), r"of shape \[3, 2\]"),
])
def test_bad_edge_attr(edge_attr, match):
    conv = paper_conv(5, 4, edge_dim=2)
    with pytest.raises(ValueError, match=match):
        conv(torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]]),
             edge_attr=edge_attr)
    # A 1-D edge_attr is one feature per edge.
    assert paper_conv(5, 4, edge_dim=1)(
        torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]]),
        edge_attr=torch.rand(3)).shape == (4, 4)


def test_bad_sparse_adjacency():
    conv = paper_conv(5, 4)
    adj_t = to_torch_csr_tensor(torch.tensor([[0, 1], [1, 2]]), size=(4, 4))
    with pytest.raises(ValueError, match=r"size must be \(4, 4\)"):
        conv(torch.randn(4, 5), adj_t, size=(4, 3))
    flow = paper_conv(5, 4, flow="target_to_source")
    with pytest.raises(ValueError, match="needs flow='source_to_target'"):
        flow(torch.randn(4, 5), adj_t)


def test_bad_dense_inputs():
    with pytest.raises(ValueError, match="out_channels must be an int >= 1"):
        paper_dense_conv(4, 0)
    with pytest.raises(ValueError, match="heads must be >= 1"):
        paper_dense_conv(4, 4, heads=0)
    dense = paper_dense_conv(4, 4)
    with pytest.raises(ValueError, match=r"\[batch, nodes, 4\]"):
        dense(torch.randn(2, 3, 5), torch.ones(2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="adjacency of shape"):
        dense(torch.randn(2, 3, 4), torch.ones(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="adjacency of shape"):
        dense(torch.randn(2, 3, 4), torch.ones(2, 3, 3))


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("loops", [True, False])
@pytest.mark.parametrize("edge_index,match", [
    # A sorted head with a target past the last node reached the fused
    # path's sorts and sparse products unchecked: the process's heap was
    # corrupted (glibc aborted it).
    ([[0, 1, 2], [1, 2, 9]], r"edge_index row 1 \(targets\) holds node ids "
     r"in \[1, 9\], expected ids in \[0, 4\) \(the number of target nodes\)"),
    ([[0, 1, 2], [1, 2, -1]], r"row 1 \(targets\) holds node ids in "
     r"\[-1, 2\]"),
    ([[0, 7, 2], [1, 2, 3]], r"edge_index row 0 \(sources\) holds node ids "
     r"in \[0, 7\], expected ids in \[0, 4\)"),
    ([[0, -2, 2], [1, 2, 3]], r"row 0 \(sources\) holds node ids in "
     r"\[-2, 2\]"),
])
def test_node_ids_out_of_range(layout, loops, edge_index, match):
    conv = paper_conv(5, 4, num_relations=None, layout=layout,
                      add_self_loops=loops)
    with pytest.raises(ValueError, match=match):
        conv(torch.randn(4, 5), torch.tensor(edge_index))


def test_node_ids_out_of_range_bipartite_and_flow():
    conv = paper_conv((5, 3), 4, num_relations=None)
    x = (torch.randn(6, 5), torch.randn(2, 3))
    assert conv(x, torch.tensor([[0, 5], [1, 0]])).shape == (2, 4)
    with pytest.raises(ValueError, match=r"row 1 \(targets\) holds node ids "
                       r"in \[1, 2\], expected ids in \[0, 2\)"):
        conv(x, torch.tensor([[0, 5], [1, 2]]))
    with pytest.raises(ValueError, match=r"row 0 \(sources\) holds node ids "
                       r"in \[0, 6\], expected ids in \[0, 6\)"):
        conv(x, torch.tensor([[0, 6], [1, 0]]))
    flow = paper_conv(5, 4, num_relations=None, flow="target_to_source")
    with pytest.raises(ValueError, match=r"row 0 \(targets\) holds node ids "
                       r"in \[0, 4\], expected ids in \[0, 4\)"):
        flow(torch.randn(4, 5), torch.tensor([[0, 4], [1, 2]]))


def test_diff_rgcn_checks_node_ids_before_sorting():
    from dsgdn_pyg.nn import DiffRGCN
    block = DiffRGCN(4, heads=2)
    with pytest.raises(ValueError, match=r"row 1 \(targets\) holds node ids "
                       r"in \[1, 9\], expected ids in \[0, 5\)"):
        block(torch.randn(5, 4), torch.tensor([[0, 1, 2], [1, 2, 9]]),
              torch.tensor([1, 1, 1]))
