"""The dialogue graph builder against a brute-force O(N^2) construction of
Eq. 7-8, batching, the AddDialogueEdges transform, the dense relation
adjacency, and bad input."""

import random

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

from dsgdn_pyg.data import (EDGE_TYPES, INTER, INTRA, NODE_TYPE,
                            AddDialogueEdges, build_dialogue_graph,
                            dense_relation_adjacency, dialogue_edges,
                            speaker_codes)

LENGTHS = [1, 2, 3, 6, 17, 21, 50, 120]


def brute_force_edges(speakers, window):
    """{subgraph: [(source, target, relation), ...]} following Eq. 7-8, pair
    by pair."""
    n = len(speakers)
    edges = {INTER: [], INTRA: []}
    for i in range(n):  # target
        for j in range(n):  # source
            if abs(i - j) > window:
                continue
            if i == j:
                edges[INTER].append((j, i, 1))
                edges[INTRA].append((j, i, 1))
            elif speakers[i] == speakers[j]:
                edges[INTRA].append((j, i, 2 if j < i else 3))
            else:
                edges[INTER].append((j, i, 5 if j < i else 4))
    return edges


def triples(store):
    return list(zip(*store.edge_index.tolist(), store.edge_type.tolist()))


def random_speakers(length, num_speakers, kind, rng):
    ids = [rng.randrange(num_speakers) for _ in range(length)]
    if kind == "names":
        names = ["M", "F", "Alice", "Bob", "Carol"][:num_speakers]
        return [names[s] for s in ids]
    return torch.tensor(ids)


@pytest.mark.parametrize("kind", ["names", "tensor"])
@pytest.mark.parametrize("num_speakers", [2, 5])
@pytest.mark.parametrize("window", [0, 1, 5, 20])
def test_builder_matches_brute_force(kind, num_speakers, window):
    rng = random.Random(f"{kind}-{num_speakers}-{window}")
    for length in LENGTHS:
        speakers = random_speakers(length, num_speakers, kind, rng)
        x = torch.randn(length, 3)
        data = build_dialogue_graph(speakers, window, x=x)
        plain = speakers.tolist() if kind == "tensor" else speakers
        expected = brute_force_edges(plain, window)

        assert data[NODE_TYPE].num_nodes == length
        assert torch.equal(data[NODE_TYPE].x, x)
        assert data[NODE_TYPE].speaker.dtype == torch.long
        assert set(data.edge_types) == set(EDGE_TYPES)
        for key in EDGE_TYPES:
            got = triples(data[key])
            assert len(got) == len(set(got))  # no duplicate edge
            assert set(got) == set(expected[key]), (key, length)
            # Sorted by target, then source.
            assert got == sorted(got, key=lambda t: (t[1], t[0]))
            # Exactly one self-loop per node and subgraph.
            loops = [s for s, t, _ in got if s == t]
            assert sorted(loops) == list(range(length))
            assert data[key].edge_index.dtype == torch.long
            assert data[key].edge_type.dtype == torch.long


def test_speaker_codes_number_names_by_first_appearance():
    assert speaker_codes(["F", "M", "F", "X"]).tolist() == [0, 1, 0, 2]
    assert torch.equal(speaker_codes(torch.tensor([3, 1, 3], dtype=torch.int32)),
                       torch.tensor([3, 1, 3]))
    # Names and their codes give the same graph.
    names = ["B", "A", "A", "B", "C", "A"]
    by_name = build_dialogue_graph(names, 2)
    by_code = build_dialogue_graph(speaker_codes(names), 2)
    for key in EDGE_TYPES:
        assert torch.equal(by_name[key].edge_index, by_code[key].edge_index)
        assert torch.equal(by_name[key].edge_type, by_code[key].edge_type)


def make_dialogues(count, seed, window, num_speakers=3, max_length=40):
    rng = random.Random(seed)
    speakers, graphs = [], []
    for _ in range(count):
        length = rng.randint(1, max_length)
        spk = [rng.randrange(num_speakers) for _ in range(length)]
        speakers.append(spk)
        graphs.append(build_dialogue_graph(spk, window,
                                           x=torch.randn(length, 4)))
    return speakers, graphs


@pytest.mark.parametrize("window", [0, 2, 20])
def test_dataloader_batch_keeps_dialogues_apart(window):
    speakers, graphs = make_dialogues(7, seed=window, window=window)
    batch = next(iter(DataLoader(graphs, batch_size=len(graphs))))
    node_batch = batch[NODE_TYPE].batch
    ptr = batch[NODE_TYPE].ptr.tolist()
    for key in EDGE_TYPES:
        edge_index = batch[key].edge_index
        # No edge crosses dialogues.
        assert torch.equal(node_batch[edge_index[0]],
                           node_batch[edge_index[1]])
        # Each dialogue's edges, shifted to its offset.
        expected = {(s + ptr[b], t + ptr[b], r)
                    for b, spk in enumerate(speakers)
                    for s, t, r in brute_force_edges(spk, window)[key]}
        got = triples(batch[key])
        assert len(got) == len(expected) and set(got) == expected


@pytest.mark.parametrize("window", [0, 1, 5])
def test_dense_relation_adjacency_matches_brute_force(window):
    speakers, graphs = make_dialogues(5, seed=100 + window, window=window)
    batch = next(iter(DataLoader(graphs, batch_size=len(graphs))))
    node_batch = batch[NODE_TYPE].batch
    lengths = [len(s) for s in speakers]
    for key in EDGE_TYPES:
        expected = torch.zeros(len(graphs), max(lengths), max(lengths),
                               dtype=torch.long)
        for b, spk in enumerate(speakers):
            for s, t, r in brute_force_edges(spk, window)[key]:
                expected[b, t, s] = r  # row target, column source
        adj = dense_relation_adjacency(batch[key].edge_index,
                                       batch[key].edge_type, node_batch)
        assert adj.dtype == torch.long
        assert torch.equal(adj, expected)
        # Padding to a larger size and a single graph without batch.
        padded = dense_relation_adjacency(batch[key].edge_index,
                                          batch[key].edge_type, node_batch,
                                          batch_size=len(graphs) + 1,
                                          max_num_nodes=max(lengths) + 2)
        assert padded.shape == (len(graphs) + 1, max(lengths) + 2,
                                max(lengths) + 2)
        assert torch.equal(padded[:len(graphs), :max(lengths), :max(lengths)],
                           expected)
        assert padded.sum() == expected.sum()
        single = dense_relation_adjacency(graphs[0][key].edge_index,
                                          graphs[0][key].edge_type)
        assert torch.equal(single[0], expected[0, :lengths[0], :lengths[0]])


def test_dense_adjacency_is_not_symmetric():
    # Speaker A, B: edge 0 -> 1 is inter past (5) in row 1, 1 -> 0 is inter
    # future (4) in row 0.
    data = build_dialogue_graph(["A", "B"], 1)
    adj = dense_relation_adjacency(data[INTER].edge_index,
                                   data[INTER].edge_type)
    assert adj[0].tolist() == [[1, 4], [5, 1]]


@pytest.mark.parametrize("window", [0, 3, 20])
@pytest.mark.parametrize("names", [False, True])
def test_add_dialogue_edges_equals_builder(window, names):
    rng = random.Random(window)
    for length in (1, 5, 33):
        spk = random_speakers(length, 3, "names" if names else "tensor", rng)
        expected = build_dialogue_graph(spk, window)
        data = HeteroData()
        data[NODE_TYPE].speaker = speaker_codes(spk)
        data[NODE_TYPE].x = torch.randn(length, 2)
        # Edges already there are replaced.
        data[INTER].edge_index = torch.zeros(2, 3, dtype=torch.long)
        data[INTER].edge_type = torch.zeros(3, dtype=torch.long)
        out = AddDialogueEdges(window=window)(data)
        for key in EDGE_TYPES:
            assert torch.equal(out[key].edge_index, expected[key].edge_index)
            assert torch.equal(out[key].edge_type, expected[key].edge_type)
    assert repr(AddDialogueEdges(3)) == "AddDialogueEdges(window=3)"
    assert AddDialogueEdges().window == 5


# Bad input ------------------------------------------------------------------


def test_speakers_and_features_of_different_lengths():
    with pytest.raises(ValueError,
                       match=r"node feature 'text': expected one row per "
                       r"utterance \(3, the number of speakers given\), "
                       r"got 4 rows"):
        build_dialogue_graph(["A", "B", "A"], 2, text=torch.randn(4, 8))
    with pytest.raises(ValueError, match="got a scalar"):
        build_dialogue_graph(["A", "B"], 2, y=torch.tensor(1))


@pytest.mark.parametrize("window", [-1, 1.5, 2.0, "3", None, True])
def test_window_must_be_non_negative_integer(window):
    message = r"window: expected a non-negative integer, got "
    with pytest.raises(ValueError, match=message):
        build_dialogue_graph(["A", "B"], window)
    with pytest.raises(ValueError, match=message):
        dialogue_edges(torch.tensor([0, 1]), window)
    with pytest.raises(ValueError, match=message):
        AddDialogueEdges(window)


def test_numpy_integer_window_is_accepted():
    np = pytest.importorskip("numpy")
    data = build_dialogue_graph(["A", "B", "A"], np.int64(1))
    assert data[INTRA].edge_index.size(1) == 3  # self-loops only


def test_bad_speakers():
    with pytest.raises(ValueError, match="expected integer speaker ids"):
        build_dialogue_graph(torch.tensor([0.0, 1.0]), 1)
    with pytest.raises(ValueError, match="expected a 1-D tensor"):
        build_dialogue_graph(torch.zeros(2, 2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="hashable speaker names"):
        build_dialogue_graph([["A"], ["B"]], 1)


def test_transform_without_speaker():
    data = HeteroData()
    data[NODE_TYPE].x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="'speaker' vector on node type "
                       "'utterance'"):
        AddDialogueEdges(2)(data)
