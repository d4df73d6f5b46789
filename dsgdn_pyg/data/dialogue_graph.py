"""Typed dialogue graphs: the intra- and inter-speaker subgraphs of the
paper's Sec. 4.3-4.4 (Eq. 7-8).

Every utterance is a node; an edge ``j -> i`` (source ``j``, target ``i``)
exists when ``|i - j| <= window``. Its relation id says whether the two
utterances share a speaker and whether ``j`` lies in the past or the future of
``i``:

====  ======================  ========  ==========================
 id   name                    subgraph  condition
====  ======================  ========  ==========================
 1    self-loop               both      ``i == j``
 2    intra-speaker past      intra     ``j < i``, same speaker
 3    intra-speaker future    intra     ``j > i``, same speaker
 4    inter-speaker future    inter     ``j > i``, other speaker
 5    inter-speaker past      inter     ``j < i``, other speaker
====  ======================  ========  ==========================

Id 0 is reserved for "no edge" in a dense adjacency.
"""

import operator
from typing import Dict, Hashable, Sequence, Tuple, Union

import torch
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.utils import to_dense_adj

NODE_TYPE = "utterance"
INTER = (NODE_TYPE, "inter", NODE_TYPE)
INTRA = (NODE_TYPE, "intra", NODE_TYPE)
EDGE_TYPES = (INTER, INTRA)

SELF_LOOP = 1
INTRA_PAST = 2
INTRA_FUTURE = 3
INTER_FUTURE = 4
INTER_PAST = 5
NUM_RELATIONS = 5

SpeakerLike = Union[Tensor, Sequence[Hashable]]


def speaker_codes(speakers: SpeakerLike) -> Tensor:
    """Turns speakers (names or integer ids) into a ``long`` tensor of codes.

    Names are numbered in order of first appearance; only equality of codes
    matters for the graph.
    """
    if isinstance(speakers, Tensor):
        if speakers.dim() != 1:
            raise ValueError(
                f"speakers: expected a 1-D tensor of speaker ids, got shape "
                f"{list(speakers.shape)}")
        if speakers.is_floating_point():
            raise ValueError("speakers: expected integer speaker ids, got a "
                             f"{speakers.dtype} tensor")
        return speakers.long()
    codes: Dict[Hashable, int] = {}
    try:
        return torch.tensor([codes.setdefault(s, len(codes)) for s in speakers],
                            dtype=torch.long)
    except TypeError as exc:
        raise ValueError(f"speakers: expected a sequence of hashable speaker "
                         f"names or ids ({exc})") from None


def check_window(window) -> int:
    """Returns :obj:`window` as an ``int``, or raises if it is not a
    non-negative integer."""
    try:
        value = None if isinstance(window, bool) else operator.index(window)
    except TypeError:
        value = None
    if value is None or value < 0:
        raise ValueError(f"window: expected a non-negative integer, got "
                         f"{window!r}")
    return value


def dialogue_edges(speaker: Tensor,
                   window: int) -> Dict[Tuple[str, str, str], Tuple[Tensor,
                                                                    Tensor]]:
    """The edges of one dialogue, without a Python loop over utterances.

    Args:
        speaker: ``[N]`` speaker codes in utterance order.
        window: Largest distance ``|i - j|`` that still gets an edge.

    Returns:
        ``{INTER: (edge_index, edge_type), INTRA: (edge_index, edge_type)}``,
        each ``edge_index`` with source row 0 and target row 1, sorted by
        target, then source.
    """
    window = check_window(window)
    num_nodes = speaker.numel()
    device = speaker.device
    offsets = torch.arange(-window, window + 1, device=device)
    target = torch.arange(num_nodes, device=device).unsqueeze(1)
    source = target + offsets.unsqueeze(0)  # [N, 2w + 1], sorted per row
    valid = (source >= 0) & (source < num_nodes)
    target = target.expand_as(source)[valid]
    source = source[valid]

    same = speaker[source] == speaker[target]
    past = source < target
    future = source > target
    loop = source == target

    relation = torch.zeros_like(source)
    relation[loop] = SELF_LOOP
    relation[same & past] = INTRA_PAST
    relation[same & future] = INTRA_FUTURE
    relation[~same & future] = INTER_FUTURE
    relation[~same & past] = INTER_PAST

    out = {}
    for key, keep in ((INTER, loop | ~same), (INTRA, loop | same)):
        edge_index = torch.stack([source[keep], target[keep]], dim=0)
        out[key] = (edge_index, relation[keep])
    return out


def add_dialogue_edges(data: HeteroData, window: int) -> HeteroData:
    """Adds the inter and intra subgraphs of :obj:`data["utterance"].speaker`
    to :obj:`data` in place and returns it."""
    speaker = data[NODE_TYPE].speaker
    for key, (edge_index, edge_type) in dialogue_edges(speaker,
                                                       window).items():
        data[key].edge_index = edge_index
        data[key].edge_type = edge_type
    return data


def build_dialogue_graph(speakers: SpeakerLike, window: int,
                         **node_features: Tensor) -> HeteroData:
    r"""Builds the typed graph of one dialogue.

    Args:
        speakers: The speaker of every utterance, in order (names or ids).
        window: Largest utterance distance that still gets an edge
            (:math:`w` of Eq. 7-8; the paper's default is 5, the published
            IEMOCAP runs use 20 and MELD 6).
        **node_features: Per-utterance attributes, each with the dialogue's
            length as first dimension (e.g. :obj:`text=[N, 1024]`,
            :obj:`y=[N]`).

    Returns:
        A :class:`~torch_geometric.data.HeteroData` with node type
        :obj:`"utterance"` (the given attributes plus :obj:`speaker`) and edge
        types :obj:`("utterance", "inter", "utterance")` and
        :obj:`("utterance", "intra", "utterance")`, each holding
        :obj:`edge_index` and :obj:`edge_type`.
    """
    speaker = speaker_codes(speakers)
    num_nodes = speaker.numel()
    data = HeteroData()
    store = data[NODE_TYPE]
    for name, value in node_features.items():
        value = torch.as_tensor(value)
        if value.dim() == 0 or value.size(0) != num_nodes:
            got = "a scalar" if value.dim() == 0 else f"{value.size(0)} rows"
            raise ValueError(
                f"node feature '{name}': expected one row per utterance "
                f"({num_nodes}, the number of speakers given), got {got}")
        store[name] = value
    store.speaker = speaker
    store.num_nodes = num_nodes
    return add_dialogue_edges(data, window)


def dense_relation_adjacency(edge_index: Tensor, edge_type: Tensor,
                             batch: Tensor = None, batch_size: int = None,
                             max_num_nodes: int = None) -> Tensor:
    r"""The dense relation-id adjacency ``[B, L, L]`` of a batch of graphs.

    Entry ``[b, i, j]`` is the relation id of edge ``j -> i`` of graph ``b``
    (row = target, column = source), and ``0`` where there is no edge. This is
    the input of the dense baseline and of the reference computations in the
    tests.
    """
    # to_dense_adj puts the first row of edge_index on the rows of the
    # matrix; the dense formulation wants targets there.
    adj = to_dense_adj(edge_index.flip(0), batch=batch, edge_attr=edge_type,
                       max_num_nodes=max_num_nodes, batch_size=batch_size)
    return adj.long()
