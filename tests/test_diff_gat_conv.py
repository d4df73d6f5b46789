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


def test_lambda_init_follows_depth():
    for depth in (1, 2, 5):
        conv = paper_conv(4, 4, depth=depth)
        assert conv.lambda_init == pytest.approx(
            0.8 - 0.6 * math.exp(-0.3 * depth))
    assert paper_conv(4, 4).lambda_init == pytest.approx(0.3555, abs=1e-4)
    assert paper_conv(4, 4, lambda_init=0.5).lambda_init == 0.5
    conv = paper_conv(4, 4, heads=2)
    with torch.no_grad():
        expected = torch.stack([
            torch.exp(conv.lambda_q1[h] @ conv.lambda_k1[h]) -
            torch.exp(conv.lambda_q2[h] @ conv.lambda_k2[h]) +
            conv.lambda_init for h in range(2)
        ])
        assert torch.allclose(conv.differential_lambda(), expected)


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


def test_return_attention_weights_shapes(random_dialogue):
    graph = random_dialogue(9, 2, channels=IN)
    x = graph[NODE_TYPE].x
    edge_index, edge_type = graph[INTRA].edge_index, graph[INTRA].edge_type
    num_edges = edge_index.size(1)
    conv = paper_conv(IN, OUT, heads=3)
    out, (ei, alpha) = conv(x, edge_index, edge_type,
                            return_attention_weights=True)
    assert out.shape == (9, 3 * OUT)
    assert ei.shape == (2, num_edges) and alpha.shape == (num_edges, 3)
    assert conv.alpha_pos.shape == conv.alpha_neg.shape == (num_edges, 3)
    assert isinstance(conv(x, edge_index, edge_type), torch.Tensor)
    assert conv.relation_scores().shape == (6, 6)


def test_repr():
    conv = paper_conv(16, 8, heads=2)
    assert repr(conv) == ("DiffGATConv(16, 8, heads=2, num_relations=5, "
                          "lambda_init=0.3555)")
    assert "heads=1" in repr(paper_conv(4, 4))


@pytest.mark.parametrize("in_channels,out_channels,heads", [
    (512, 512, 2), (64, 32, 3)])
def test_initial_statistics_follow_the_published_init(in_channels,
                                                      out_channels, heads):
    # Per head, xavier_uniform_ with gain sqrt(2) (1.414) on W [d_in, d_out],
    # on each branch's attention vectors [1, d_out / 2] and relation vectors
    # [1, 10]; the relation embedding N(0, 1), the lambda vectors N(0, 0.1).
    torch.manual_seed(0)
    conv = paper_conv(in_channels, out_channels, heads=heads)
    half = out_channels // 2

    def check_uniform(values, fan_in, fan_out):
        bound = 1.414 * math.sqrt(6.0 / (fan_in + fan_out))
        assert values.abs().max().item() <= bound + 1e-6
        # A uniform(-b, b) sample: std b / sqrt(3), and a large one reaches
        # near b (plain glorot, gain 1, would stop at b / 1.414).
        if values.numel() >= 100:
            assert values.abs().max().item() > 0.9 * bound
        assert values.std().item() == pytest.approx(
            bound / math.sqrt(3), rel=0.3)

    for h in range(heads):
        check_uniform(conv.lin.weight.t()[:, h * out_channels:(h + 1) * out_channels],
                      in_channels, out_channels)
        for att in (conv.att_dst_pos, conv.att_src_pos, conv.att_dst_neg,
                    conv.att_src_neg):
            check_uniform(att[0, h], 1, half)
        for att in (conv.att_rel_pos, conv.att_rel_neg):
            check_uniform(att[h], 1, conv.relation_dim)
    assert conv.rel_emb.std().item() == pytest.approx(1.0, rel=0.35)
    for vec in (conv.lambda_q1, conv.lambda_k1, conv.lambda_q2,
                conv.lambda_k2):
        assert vec.std().item() == pytest.approx(0.1, rel=0.35)


def test_reset_parameters_changes_weights():
    conv = paper_conv(IN, OUT, heads=2)
    with torch.no_grad():
        for p in conv.parameters():
            p.fill_(0.123)
    before = {name: p.detach().clone() for name, p in conv.named_parameters()}
    conv.reset_parameters()
    for name, p in conv.named_parameters():
        assert not torch.equal(p, before[name]), name
    assert torch.equal(conv.norm_weight, torch.ones(2, OUT))
    assert torch.equal(conv.norm_bias, torch.zeros(2, OUT))
    weight = conv.lin.weight.detach().clone()
    conv.reset_parameters()
    assert not torch.equal(conv.lin.weight, weight)


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("in_channels,out_channels,relation_dim",
                         [(12, 8, 10), (7, 16, 4)])
def test_parameter_count(in_channels, out_channels, relation_dim):
    R, half = 5, out_channels // 2
    one_head = (in_channels * out_channels  # W
                + 4 * half  # a_l, a_r of both branches
                + (R + 1) * relation_dim  # relation embedding
                + 2 * relation_dim  # a_rel of both branches
                + 4 * half  # lambda_q1, k1, q2, k2
                + 2 * out_channels  # LayerNorm weight and bias
                + out_channels)  # the output bias
    single = paper_conv(in_channels, out_channels, relation_dim=relation_dim)
    assert count(single) == one_head
    for heads in (2, 3):
        multi = paper_conv(in_channels, out_channels, heads=heads,
                            relation_dim=relation_dim)
        assert count(multi) == heads * count(single)


def test_heads_are_independent_single_head_layers(random_dialogue, dense):
    """Head h of a multi-head layer is a single-head layer with the h-th
    slice of every parameter."""
    torch.manual_seed(0)
    graph = random_dialogue(10, 3, channels=IN)
    x = graph[NODE_TYPE].x
    edge_index, edge_type = graph[INTER].edge_index, graph[INTER].edge_type
    multi = paper_conv(IN, OUT, heads=3, bias=False)
    dense.randomize_(multi)
    out = multi(x, edge_index, edge_type)
    for h in range(3):
        single = paper_conv(IN, OUT, bias=False)
        with torch.no_grad():
            for name, p in single.named_parameters():
                src = multi.get_parameter(name)
                if name == "lin.weight":
                    p.copy_(multi.lin.weight[h * OUT:(h + 1) * OUT])
                elif src.dim() == 3 and name.startswith("att_"):
                    p.copy_(src[:, h:h + 1])
                else:
                    p.copy_(src[h:h + 1])
        expected = single(x, edge_index, edge_type)
        assert torch.allclose(out[:, h * OUT:(h + 1) * OUT], expected,
                              atol=1e-6)


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


def test_out_channels_below_one():
    with pytest.raises(ValueError, match="out_channels must be an int >= 1"):
        paper_conv(8, 0)


def test_bad_heads():
    with pytest.raises(ValueError, match="heads must be >= 1"):
        paper_conv(8, 8, heads=0)


@pytest.mark.parametrize("bad_id", [6, -1])
def test_edge_type_outside_relation_embedding(bad_id):
    conv = paper_conv(4, 4, num_relations=5)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError,
                       match=r"edge_type ids must lie in \[0, 5\]"):
        conv(torch.randn(2, 4), edge_index, torch.tensor([1, bad_id]))


def test_wrong_feature_width():
    conv = paper_conv(4, 4)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError,
                       match=r"expected x \(or x_src\) of shape "
                       r"\[num_nodes, 4\], got \[2, 5\]"):
        conv(torch.randn(2, 5), edge_index)


def test_edge_type_of_wrong_length():
    conv = paper_conv(4, 4)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError,
                       match=r"expected edge_type as an integer tensor of "
                       r"shape \[2\]"):
        conv(torch.randn(2, 4), edge_index, torch.tensor([1, 1, 1]))


def test_malformed_edge_index():
    conv = paper_conv(4, 4)
    with pytest.raises(ValueError, match=r"\[2, num_edges\]"):
        conv(torch.randn(2, 4), torch.tensor([[0, 1, 1], [1, 0, 0],
                                              [0, 0, 0]]))


def test_bad_layout():
    with pytest.raises(ValueError, match="layout must be one of"):
        paper_conv(8, 8, layout="dense")
