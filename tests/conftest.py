"""Shared fixtures: the ``../shared`` folder (skipped when absent), factories
of random dialogue graphs, dense references of the graph layers written from
the paper (Eq. 7-8 and Sec. 4.5, Eq. 9-18) without the library, and the
checks of bad input shared by the CLI tests."""

import builtins
import copy
import errno
import math
import os
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, HeteroData

from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE, build_dialogue_graph

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder beside the repository."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def iemocap_dir(shared_dir: Path) -> Path:
    """The real IEMOCAP metadata and text features in ``../shared``."""
    path = shared_dir / "data" / "iemocap"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def make_random_dialogue(length: int, window: int, num_speakers: int = 2,
                         channels: int = 8, seed: int = 0,
                         generator: Optional[torch.Generator] = None
                         ) -> HeteroData:
    """A dialogue of ``length`` utterances with random speakers (ids in
    ``[0, num_speakers)``), random features ``x`` of width ``channels`` and
    its inter/intra subgraphs of the given window."""
    g = generator if generator is not None else \
        torch.Generator().manual_seed(seed)
    speakers = torch.randint(0, num_speakers, (length, ), generator=g)
    x = torch.randn(length, channels, generator=g)
    return build_dialogue_graph(speakers, window, x=x)


@pytest.fixture
def random_dialogue() -> Callable[..., HeteroData]:
    """Factory ``random_dialogue(length, window, num_speakers=2, channels=8,
    seed=0)`` of random dialogue graphs (see :func:`make_random_dialogue`)."""
    return make_random_dialogue


def make_multimodal_dialogue(length: int, seed: int, dims: dict,
                             window: int = 3,
                             num_classes: int = 4) -> HeteroData:
    """A dialogue of ``length`` utterances of two random speakers with
    random labels in ``[0, num_classes)`` and random features per modality
    (``dims``: modality -> width), the input of
    :class:`~dsgdn_pyg.models.AMBDSGDN`."""
    g = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(length, d, generator=g) for m, d in dims.items()}
    return build_dialogue_graph(
        torch.randint(0, 2, (length, ), generator=g), window,
        y=torch.randint(0, num_classes, (length, ), generator=g), **feats)


@pytest.fixture
def multimodal_dialogue() -> Callable[..., HeteroData]:
    """Factory ``multimodal_dialogue(length, seed, dims, window=3,
    num_classes=4)`` (see :func:`make_multimodal_dialogue`)."""
    return make_multimodal_dialogue


@pytest.fixture
def random_dialogues() -> Callable[..., list]:
    """Factory ``random_dialogues(count, channels=8, seed=0, max_length=12,
    max_window=4, max_speakers=3)``: dialogues of random lengths, speakers and
    windows."""

    def factory(count: int, channels: int = 8, seed: int = 0,
                max_length: int = 12, max_window: int = 4,
                max_speakers: int = 3) -> list:
        g = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(count):
            length = int(torch.randint(1, max_length + 1, (1, ), generator=g))
            window = int(torch.randint(0, max_window + 1, (1, ), generator=g))
            speakers = int(torch.randint(1, max_speakers + 1, (1, ),
                                         generator=g))
            out.append(make_random_dialogue(length, window, speakers,
                                            channels, generator=g))
        return out

    return factory


# Dense references, written from Eq. 7-8 and Eq. 9-18 independently of the
# library (they read a layer's parameters, nothing else).

def brute_force_dense_adjacency(edge_index: torch.Tensor,
                                edge_type: torch.Tensor, batch: torch.Tensor,
                                num_graphs: int) -> torch.Tensor:
    """``[B, L, L]`` relation ids from a batch's edge list, one edge at a
    time: entry ``[b, i, j]`` is the id of edge ``j -> i``, 0 = no edge."""
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    start = [sum(counts[:b]) for b in range(num_graphs)]
    adj = torch.zeros(num_graphs, max(counts + [0]), max(counts + [0]),
                      dtype=torch.long)
    for (src, dst), rel in zip(edge_index.t().tolist(), edge_type.tolist()):
        b = int(batch[dst])
        adj[b, dst - start[b], src - start[b]] = rel
    return adj


def dense_edges(edge_index: torch.Tensor, num_src: int, num_dst: int,
                edge_type: Optional[torch.Tensor] = None,
                edge_attr: Optional[torch.Tensor] = None):
    """One graph's unique edges in the dense form of
    :func:`diff_gat_reference`: ``(mask [num_dst, num_src], relation ids
    [num_dst, num_src] or None, edge features [num_dst, num_src, D] or
    None)``, entry ``[i, j]`` for the edge ``j -> i``."""
    src, dst = edge_index
    mask = torch.zeros(num_dst, num_src, dtype=torch.bool)
    mask[dst, src] = True
    assert int(mask.sum()) == src.numel(), "the dense form needs unique edges"
    rel = feat = None
    if edge_type is not None:
        rel = torch.zeros(num_dst, num_src, dtype=torch.long)
        rel[dst, src] = edge_type
    if edge_attr is not None:
        edge_attr = edge_attr.view(src.numel(), -1)
        feat = edge_attr.new_zeros(num_dst, num_src, edge_attr.size(1))
        feat[dst, src] = edge_attr
    return mask, rel, feat


#: The output of :func:`diff_gat_reference`: the node outputs and the
#: positive, negative and signed differential maps ``[..., H, N_dst, N_src]``.
Reference = namedtuple("Reference", "out alpha_pos alpha_neg alpha")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of each row over its edges (Eq. 11-12); a row without any
    edge gets no weight at all."""
    scores = scores.masked_fill(~mask, float("-inf"))
    top = scores.detach().amax(-1, keepdim=True).nan_to_num(neginf=0.0)
    num = torch.exp(scores - top)  # exactly 0 off the edges
    den = num.sum(-1, keepdim=True)
    return num / torch.where(den > 0, den, torch.ones_like(den))


def diff_gat_reference(conv, x, mask: torch.Tensor,
                       edge_type: Optional[torch.Tensor] = None,
                       edge_attr: Optional[torch.Tensor] = None,
                       lambda_init: Optional[float] = None) -> Reference:
    """The differential attention layer of Sec. 4.5 (Eq. 9-18) on dense
    inputs with any leading batch dimensions, one head and one branch at a
    time, reading the parameters of :obj:`conv` (a ``DiffGATConv``).

    :obj:`x` is ``[..., N, F]`` or a pair ``(x_src [..., N_src, F_src],
    x_dst [..., N_dst, F_dst] or None)``; :obj:`mask` ``[..., N_dst, N_src]``
    marks the edges, entry ``[i, j]`` for ``j -> i``; :obj:`edge_type`
    ``[..., N_dst, N_src]`` holds their relation ids (no relation term
    without it) and :obj:`edge_attr` ``[..., N_dst, N_src, D]`` their
    features. Head ``h`` projects ``W h = [P; Q]`` with the rows
    ``h C .. (h + 1) C`` of the projection, ``P`` the first ``ceil(C / 2)``
    channels (odd widths give the positive branch the extra one). Each
    branch scores ``e_ij = LeakyReLU(a_l . P_i + a_r . P_j + a_rho .
    E(rho_ij) + a_e . W_e^P e_ji)``, normalised over the incoming edges of
    ``i``; ``alpha = alpha+ - lambda alpha-`` with ``lambda =
    exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init`` (Eq. 13-14;
    ``lambda_init = 0.8 - 0.6 exp(-0.3 depth)`` unless given); the head
    outputs ``sum_j alpha_ij W h_j``, with ``norm`` its LayerNorm times
    ``1 - lambda_init`` and with ``act`` a GELU (Eq. 15-18). The heads are
    concatenated or averaged, then GATConv's residual and bias are added.
    No dropout (eval mode) and no self-loops beyond those in :obj:`mask`."""
    F_ = torch.nn.functional
    H, C = conv.heads, conv.out_channels
    pos = C - C // 2
    x_src, x_dst = (x, x) if isinstance(x, torch.Tensor) else x
    if isinstance(conv.in_channels, int):
        w_src = w_dst = conv.lin.weight
    else:
        w_src, w_dst = conv.lin_src.weight, conv.lin_dst.weight
    if lambda_init is None:
        lambda_init = 0.8 - 0.6 * math.exp(-0.3 * conv.depth)

    outs, maps = [], []
    for h in range(H):
        rows = slice(h * C, (h + 1) * C)
        wh_src = x_src @ w_src[rows].t()
        wh_dst = None if x_dst is None else x_dst @ w_dst[rows].t()
        wh_edge = (None if edge_attr is None
                   else edge_attr @ conv.lin_edge.weight[rows].t())
        branches = []
        for sign, part in (("pos", slice(0, pos)), ("neg", slice(pos, C))):
            def att(kind):
                return getattr(conv, f"att_{kind}_{sign}")

            e = (wh_src[..., part] @ att("src")[0, h]).unsqueeze(-2)
            if wh_dst is not None:
                e = e + (wh_dst[..., part] @ att("dst")[0, h]).unsqueeze(-1)
            if edge_type is not None:
                e = e + (conv.rel_emb[h] @ att("rel")[h])[edge_type]
            if wh_edge is not None:
                e = e + wh_edge[..., part] @ att("edge")[0, h]
            e = F_.leaky_relu(e.expand(mask.shape), conv.negative_slope)
            branches.append(masked_softmax(e, mask))
        lam = (torch.exp(conv.lambda_q1[h] @ conv.lambda_k1[h]) -
               torch.exp(conv.lambda_q2[h] @ conv.lambda_k2[h]) + lambda_init)
        alpha = branches[0] - lam * branches[1]
        out = alpha @ wh_src
        if conv.norm:
            out = F_.layer_norm(out, (C, ), conv.norm_weight[h],
                                conv.norm_bias[h]) * (1 - lambda_init)
        outs.append(F_.gelu(out) if conv.act else out)
        maps.append(branches + [alpha])
    out = torch.cat(outs, -1) if conv.concat else torch.stack(outs).mean(0)
    if conv.res is not None and x_dst is not None:
        out = out + x_dst @ conv.res.weight.t()
    if conv.bias is not None:
        out = out + conv.bias
    return Reference(out, *(torch.stack([m[k] for m in maps], dim=-3)
                            for k in range(3)))


def dense_diff_gat_conv(conv, x: torch.Tensor, adj: torch.Tensor,
                        use_types: bool = True) -> torch.Tensor:
    """:func:`diff_gat_reference` on a relation-id adjacency ``adj [B, L,
    L]`` (0 = no edge; its ids are the relations unless not
    :obj:`use_types`): the outputs ``[B, L, ...]``."""
    return diff_gat_reference(conv, x, adj != 0,
                              adj if use_types else None).out


def randomize_(module: torch.nn.Module, seed: Optional[int] = None,
               scale: float = 0.3) -> None:
    """Moves every parameter of :obj:`module` (LayerNorm affines, lambda
    vectors, biases included) off its initial value by
    ``N(0, scale^2)`` noise (from :obj:`seed`, else the global generator),
    so a reference that ignores or swaps one cannot agree by chance."""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if not isinstance(p, torch.nn.parameter.UninitializedParameter):
                p.add_(scale * torch.randn(p.shape, generator=g,
                                           dtype=p.dtype))


@pytest.fixture
def dense():
    """The dense references above: ``dense.adjacency``, ``dense.edges``,
    ``dense.reference``, ``dense.conv`` and ``dense.randomize_``."""
    return SimpleNamespace(adjacency=brute_force_dense_adjacency,
                           edges=dense_edges, reference=diff_gat_reference,
                           conv=dense_diff_gat_conv, randomize_=randomize_)


# Graphs and helpers of the layer tests.

def random_edges(num_src: int, num_dst: int, density: float, seed: int,
                 loops: bool = False) -> torch.Tensor:
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


def random_graph(num_nodes: int, num_edges: int, seed: int,
                 num_relations: int = 5):
    """``(edge_index, edge_type)`` of a general directed graph: edges in
    random order, two duplicates, self-loops and (with few edges) nodes
    without incoming edges; relation ids in ``[0, num_relations]``."""
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    if num_edges >= 4:
        edge_index[:, :2] = edge_index[:, 2:4]  # two duplicate edges
    edge_type = torch.randint(0, num_relations + 1, (num_edges, ),
                              generator=g)
    return edge_index, edge_type


def with_loops(edge_index, num_nodes, edge_type=None, loop_type=1,
               edge_attr=None):
    """``[edge_index, edge_type, edge_attr]`` of a graph without loops plus
    one loop per node, as GATConv builds it: relation :obj:`loop_type`,
    features the mean of the node's incoming edge features."""
    loops = torch.arange(num_nodes).repeat(2, 1)
    out = [torch.cat([edge_index, loops], 1), None, None]
    if edge_type is not None:
        out[1] = torch.cat([edge_type, torch.full((num_nodes, ), loop_type)])
    if edge_attr is not None:
        mean = edge_attr.new_zeros(num_nodes, edge_attr.size(1)).index_add(
            0, edge_index[1], edge_attr)
        count = torch.bincount(edge_index[1], minlength=num_nodes)
        mean = mean / count.clamp(min=1).unsqueeze(1)
        out[2] = torch.cat([edge_attr, mean])
    return out


def flat_batch(graphs, key):
    """``(x, edge_index, edge_type, batch, num_graphs)`` of one subgraph of a
    batch of dialogues."""
    batch = Batch.from_data_list(graphs)
    store = batch[NODE_TYPE]
    return (store.x, batch[key].edge_index, batch[key].edge_type, store.batch,
            batch.num_graphs)


def local_index(edge_index, batch):
    """``(graph, target, source)`` of every edge, node ids local to the
    graph: where the edge sits in a padded ``[B, L, L]`` map."""
    counts = torch.bincount(batch)
    start = torch.cumsum(counts, 0) - counts
    src, dst = edge_index
    b = batch[dst]
    return b, dst - start[b], src - start[b]


def max_diff(a, b) -> float:
    """Largest absolute difference (0 for empty tensors)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item() if a.numel() else 0.0


def grads(out, tensors, grad_out, unused_as_zero=False):
    """``d <out, grad_out> / d tensors``: None for a tensor that :obj:`out`
    does not depend on, or zeros with :obj:`unused_as_zero`."""
    found = torch.autograd.grad(out, tensors, grad_out, allow_unused=True)
    if not unused_as_zero:
        return list(found)
    return [torch.zeros_like(t) if g is None else g
            for t, g in zip(tensors, found)]


def assert_close_lists(a, b, atol):
    """Pairwise :func:`max_diff` below :obj:`atol`; a None only with a
    None."""
    assert len(a) == len(b)
    for k, (u, v) in enumerate(zip(a, b)):
        if u is None or v is None:
            assert u is None and v is None, k
            continue
        assert max_diff(u, v) < atol, k


def coo_twin(module):
    """A copy of :obj:`module` with every DiffGATConv on the reference
    (``layout="coo"``) path."""
    from dsgdn_pyg.nn import DiffGATConv
    twin = copy.deepcopy(module)
    for m in twin.modules():
        if isinstance(m, DiffGATConv):
            m.layout = "coo"
    return twin


class InterThenIntra(torch.nn.Module):
    """A layer on the inter-speaker subgraph, then one on the intra-speaker
    subgraph, as AMB-DSGDN stacks its graph blocks; runs on a dialogue graph
    or a batch of them."""

    def __init__(self, inter: torch.nn.Module, intra: torch.nn.Module):
        super().__init__()
        self.inter = inter
        self.intra = intra

    def forward(self, data):
        x = data[NODE_TYPE].x
        x = self.inter(x, data[INTER].edge_index, data[INTER].edge_type)
        return self.intra(x, data[INTRA].edge_index, data[INTRA].edge_type)


@pytest.fixture
def inter_then_intra():
    """:class:`InterThenIntra`, to build from two layers."""
    return InterThenIntra


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch):
    """A directory where creating or writing anything fails with EROFS, as
    on a read-only mount. Root ignores permission bits, so ``chmod`` cannot
    stand in for one; ``os.open``, ``os.mkdir`` and ``open`` are patched for
    paths under it instead (everything else is untouched)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def inside(path) -> bool:
        if not isinstance(path, (str, os.PathLike)):
            return False  # a file descriptor
        return Path(os.path.abspath(path)).is_relative_to(folder)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def fake_open(path, flags, *args, **kwargs):
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
        if inside(path) and flags & writes:
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def fake_builtin_open(file, mode="r", *args, **kwargs):
        if inside(file) and set(mode) & set("wax+"):
            refuse(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(builtins, "open", fake_builtin_open)
    return folder


def check_one_line_error(result, *parts: str) -> str:
    """Asserts that a ``CliRunner`` result is the CLI's answer to bad input:
    exit code 2, one ``error: ...`` line on stderr holding every one of
    :obj:`parts`, no traceback. Returns the line."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture
def one_line_error():
    """:func:`check_one_line_error`, for test modules."""
    return check_one_line_error


#: The settings of the published layer (Sec. 4.5): the relation term, a
#: per-head LayerNorm and a GELU; the layer's own defaults leave them out.
PUBLISHED = dict(num_relations=5, act=True, norm=True)


def paper_conv(*args, **kwargs):
    """A :class:`DiffGATConv` with :data:`PUBLISHED` settings unless given."""
    from dsgdn_pyg.nn import DiffGATConv
    return DiffGATConv(*args, **{**PUBLISHED, **kwargs})


def paper_dense_conv(*args, **kwargs):
    """A :class:`DenseDiffGATConv` with :data:`PUBLISHED` settings."""
    from dsgdn_pyg.nn import DenseDiffGATConv
    return DenseDiffGATConv(*args, **{**PUBLISHED, **kwargs})


def nan_feature_folder(folder: Path) -> str:
    """Writes a six-dialogue synthetic dialogue folder into :obj:`folder`
    whose first text feature array holds a NaN; returns that dialogue id."""
    from dsgdn_pyg.data.synthetic import write_dialogue_folder
    write_dialogue_folder(folder, num_dialogues=6)
    npz = next(folder.glob("text*.npz"))
    arrays = dict(np.load(npz))
    first = sorted(arrays)[0]
    arrays[first][0, 0] = np.nan
    np.savez(npz, **arrays)
    return first
