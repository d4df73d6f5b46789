"""DialogueCorpus: loading, graphs built once, splits, modality selection,
width checks, window changes, and the real IEMOCAP folder."""

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

from dsgdn_pyg.data import (INTER, INTRA, NODE_TYPE, DialogueCorpus,
                            carve_validation, dialogue_edges, load_corpus,
                            rebuild_graphs)
from dsgdn_pyg.data.readers import IEMOCAP_CLASSES, MELD_CLASSES
from dsgdn_pyg.data.synthetic import (SyntheticConfig, write_dialogue_folder,
                                      write_feature_bundle)
from dsgdn_pyg.errors import DataError

IEMOCAP_DIR = (Path(__file__).resolve().parents[1].parent / "shared" / "data"
               / "iemocap")
SMALL = {"num_dialogues": 20, "min_len": 4, "max_len": 10,
         "dims": {"text": 12, "audio": 10, "visual": 6}}


@pytest.fixture(scope="module")
def corpus() -> DialogueCorpus:
    return load_corpus(window=3, synthetic_config=SMALL)


def ids(graphs):
    return [g.dialogue_id for g in graphs]


def check_graphs(corpus: DialogueCorpus, window: int):
    for graph in corpus.train + corpus.valid + corpus.test:
        store = graph[NODE_TYPE]
        n = store.num_nodes
        assert isinstance(graph.dialogue_id, str)
        for m, dim in corpus.modality_dims.items():
            assert store[m].shape == (n, dim)
            assert store[m].dtype == torch.float32
        for m in set(("text", "audio", "visual")) - set(corpus.modalities):
            assert m not in store
        assert store.y.dtype == store.speaker.dtype == torch.long
        assert store.y.shape == store.speaker.shape == (n, )
        assert 0 <= int(store.y.min()) and int(store.y.max()) < len(
            corpus.classes)
        assert int(store.speaker.max()) < corpus.num_speakers
        expected = dialogue_edges(store.speaker, window)
        for key in (INTER, INTRA):
            assert torch.equal(graph[key].edge_index, expected[key][0])
            assert torch.equal(graph[key].edge_type, expected[key][1])


def test_synthetic_corpus(corpus):
    assert corpus.name == "synthetic" and corpus.source is None
    assert corpus.classes == IEMOCAP_CLASSES
    assert corpus.modality_dims == SMALL["dims"]
    assert corpus.num_speakers == 2 and corpus.speaker_vocab is None
    assert corpus.valid_source == "carved" and corpus.window == 3
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == \
        (14, 2, 4)
    all_ids = ids(corpus.train) + ids(corpus.valid) + ids(corpus.test)
    assert len(set(all_ids)) == 20
    check_graphs(corpus, 3)


def test_default_synthetic_corpus_is_iemocap_shaped():
    start = time.perf_counter()
    corpus = load_corpus()
    assert time.perf_counter() - start < 10.0
    assert corpus.modality_dims == {"text": 1024, "audio": 1582,
                                    "visual": 342}
    assert corpus.window == 20
    assert len(corpus.train) + len(corpus.valid) + len(corpus.test) == 48
    assert len(corpus.valid) == round(0.1 * (len(corpus.train) +
                                             len(corpus.valid)))


def test_graphs_are_built_once(corpus):
    first = corpus.train
    assert first is corpus.train
    edges = [g[INTER].edge_index for g in first]
    assert all(e.size(1) > 0 for e in edges)
    loader = DataLoader(corpus.train, batch_size=4, shuffle=True)
    for _ in range(2):
        for _ in loader:
            pass
    assert all(a is b for a, b in zip(first, corpus.train))
    assert all(g[INTER].edge_index is e for g, e in zip(corpus.train, edges))
    assert all(isinstance(g, HeteroData) for g in corpus.train)


def test_loader_batches_dialogue_ids(corpus):
    batch = next(iter(DataLoader(corpus.test, batch_size=3)))
    assert batch.dialogue_id == ids(corpus.test)[:3]
    assert batch[NODE_TYPE].text.size(0) == sum(
        g[NODE_TYPE].num_nodes for g in corpus.test[:3])


def test_validation_carving_is_deterministic_and_disjoint():
    a = load_corpus(synthetic_config=dict(SMALL, seed=0), seed=3)
    b = load_corpus(synthetic_config=dict(SMALL, seed=0), seed=3)
    c = load_corpus(synthetic_config=dict(SMALL, seed=0), seed=4)
    assert ids(a.valid) == ids(b.valid) and ids(a.train) == ids(b.train)
    assert set(ids(a.valid)).isdisjoint(ids(a.train))
    assert set(ids(a.valid) + ids(a.train)) == set(ids(c.valid) +
                                                   ids(c.train))
    assert ids(a.valid) != ids(c.valid)
    assert ids(a.test) == ids(c.test)
    for g, h in zip(a.train, b.train):
        assert torch.equal(g[NODE_TYPE].text, h[NODE_TYPE].text)


def test_seed_drives_the_synthetic_data_unless_configured():
    a = load_corpus(synthetic_config=SMALL, seed=0)
    b = load_corpus(synthetic_config=SMALL, seed=1)
    c = load_corpus(synthetic_config=dict(SMALL, seed=0), seed=1)
    first = {g.dialogue_id: g for g in a.test + a.train + a.valid}
    other = {g.dialogue_id: g for g in b.test + b.train + b.valid}
    vid = sorted(first)[0]
    assert not torch.equal(first[vid][NODE_TYPE].y, other[vid][NODE_TYPE].y)
    assert ids(c.test) == ids(a.test)
    config = SyntheticConfig(**SMALL, seed=7)
    assert ids(load_corpus(synthetic_config=config).test) == ids(
        load_corpus(synthetic_config=dict(SMALL, seed=7)).test)


def test_carve_validation():
    train, valid = carve_validation([f"d{i}" for i in range(120)], 0.1, 0)
    assert len(valid) == 12 and len(train) == 108
    assert train == sorted(train, key=lambda v: int(v[1:]))  # order kept
    assert carve_validation(["a", "b"], 0.1, 0)[1] != []  # at least one
    assert len(carve_validation(["a", "b", "c"], 0.9, 0)[0]) == 1
    with pytest.raises(ValueError, match="valid_fraction"):
        carve_validation(["a", "b"], 0.0, 0)
    with pytest.raises(DataError, match="x.pkl: 1 training dialogue"):
        carve_validation(["a"], 0.1, 0, where="x.pkl")


def test_feature_bundle_corpus(tmp_path):
    path = write_feature_bundle(tmp_path / "iemocap_features.pkl",
                                num_dialogues=12)
    corpus = load_corpus(path, window=2, seed=1)
    assert corpus.name == "iemocap" and corpus.source == str(path)
    assert corpus.valid_source == "carved"
    assert corpus.speaker_vocab == ["M", "F"]
    assert len(corpus.valid) == 1 and len(corpus.test) == 2
    check_graphs(corpus, 2)
    meld = load_corpus(write_feature_bundle(tmp_path / "meld.pkl", "meld"),
                       window=2)
    assert meld.name == "meld" and meld.classes == MELD_CLASSES
    assert meld.num_speakers == 9
    check_graphs(meld, 2)


def test_dialogue_folder_corpus(tmp_path):
    folder = write_dialogue_folder(tmp_path / "mine", num_dialogues=8,
                                   dims={"text": 5, "audio": 4},
                                   classes=IEMOCAP_CLASSES)
    corpus = load_corpus(str(folder), window=4)
    assert corpus.name == "mine" and corpus.valid_source == "dataset"
    assert corpus.modality_dims == {"text": 5, "audio": 4}
    assert corpus.extractors == {"text": {"file": "text.npz", "dim": 5},
                                 "audio": {"file": "audio.npz", "dim": 4}}
    assert len(corpus.valid) == 1
    check_graphs(corpus, 4)
    with pytest.raises(DataError, match=r"mine: no 'visual' features "
                       r"\(available: text, audio\)"):
        load_corpus(folder, modalities=["text", "visual"])
    carved = load_corpus(write_dialogue_folder(tmp_path / "nv",
                                               valid_ids=False))
    assert carved.valid_source == "carved"


def test_unknown_paths(tmp_path):
    with pytest.raises(DataError, match="nothing: no such file or directory"):
        load_corpus(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"expected a feature bundle \(.pkl\)"
                       r" or a dialogue folder"):
        load_corpus(tmp_path / "notes.txt")


def test_devices_are_not_missing_files():
    """/dev/zero exists: it is named for what it is, and never read."""
    with pytest.raises(DataError) as info:
        load_corpus("/dev/zero")
    assert str(info.value) == ("/dev/zero: is a character device, not a "
                               "regular file; expected a feature bundle "
                               "(.pkl) or a dialogue folder")


def _stray_label_folder(tmp_path, label=9):
    folder = write_dialogue_folder(tmp_path / "stray", num_dialogues=8,
                                   dims={"text": 5})
    meta = pickle.loads((folder / "dialogues.pkl").read_bytes())
    vid = meta[3][0]
    meta[1][vid][2] = label
    (folder / "dialogues.pkl").write_bytes(pickle.dumps(meta))
    return folder, vid


def test_a_label_outside_the_expected_classes_is_an_error(tmp_path):
    folder, vid = _stray_label_folder(tmp_path)
    # Without expected classes the data's own are taken: 10 of them.
    assert len(load_corpus(folder).classes) == 10
    with pytest.raises(DataError) as info:
        load_corpus(folder, classes=IEMOCAP_CLASSES,
                    classes_by="preset 'iemocap'", classes_advice="advice")
    assert str(info.value) == (
        f"{folder / 'dialogues.pkl'}: dialogue '{vid}', utterance 2: label 9 "
        f"is outside the 6 classes of preset 'iemocap' (expected 0..5); "
        f"advice")
    folder, _ = _stray_label_folder(tmp_path / "ok", label=4)
    corpus = load_corpus(folder, classes=IEMOCAP_CLASSES)
    assert corpus.classes == IEMOCAP_CLASSES


def test_declared_class_names_are_renumbered_or_refused(tmp_path):
    order = sorted(IEMOCAP_CLASSES)  # as `dsgdn features` names them
    folder = write_dialogue_folder(tmp_path / "named", num_dialogues=8,
                                   dims={"text": 5}, classes=order)
    own = load_corpus(folder)
    preset = load_corpus(folder, classes=IEMOCAP_CLASSES)
    assert own.classes == order and preset.classes == IEMOCAP_CLASSES
    for a, b in zip(own.train + own.valid + own.test,
                    preset.train + preset.valid + preset.test):
        assert [order[i] for i in a[NODE_TYPE].y.tolist()] == \
            [IEMOCAP_CLASSES[i] for i in b[NODE_TYPE].y.tolist()]
    meld = write_feature_bundle(tmp_path / "meld.pkl", "meld")
    with pytest.raises(DataError, match=r"meld.pkl \(a MELD feature bundle\)"
                       r": class 'surprise' is not one of the 6 classes of "
                       r"preset 'iemocap' \(happy, sad"):
        load_corpus(meld, classes=IEMOCAP_CLASSES,
                    classes_by="preset 'iemocap'")


def test_inverse_frequency_weights(tmp_path):
    folder, _ = _stray_label_folder(tmp_path)
    corpus = load_corpus(folder)
    labels = torch.cat([g[NODE_TYPE].y for g in corpus.train]).numpy()
    counts = np.bincount(labels, minlength=10)
    weights = np.array(corpus.inverse_frequency_weights())
    seen = counts > 0
    np.testing.assert_allclose(weights[seen],
                               len(labels) / (seen.sum() * counts[seen]))
    assert (weights[~seen] == 0).all() and weights[9] > 0


def test_select_modalities(corpus):
    text_audio = corpus.select_modalities(["audio", "text"])
    assert text_audio.modality_dims == {"text": 12, "audio": 10}
    assert text_audio.modalities == ("text", "audio")
    check_graphs(text_audio, 3)
    assert "visual" in corpus.train[0][NODE_TYPE]  # the original keeps it
    assert corpus.modality_dims == SMALL["dims"]
    # Tensors are shared, not copied.
    assert text_audio.train[0][NODE_TYPE].text is corpus.train[0][
        NODE_TYPE].text
    assert text_audio.train[0][INTER].edge_index is corpus.train[0][
        INTER].edge_index
    assert corpus.select_modalities("v").modality_dims == {"visual": 6}
    assert load_corpus(window=3, synthetic_config=SMALL,
                       modalities="ta").modality_dims == {"text": 12,
                                                          "audio": 10}
    only_text = text_audio.select_modalities(["text"])
    with pytest.raises(DataError, match=r"synthetic data: no 'audio' "
                       r"features \(available: text\)"):
        only_text.select_modalities(["text", "audio"])
    with pytest.raises(ValueError, match="modalities: expected"):
        corpus.select_modalities(["smell"])
    with pytest.raises(ValueError, match="modalities: expected"):
        corpus.select_modalities([])


def test_check_dims(corpus):
    corpus.check_dims({"text": 12, "visual": 6}, "tiny")
    with pytest.raises(DataError) as info:
        corpus.check_dims({"text": 12, "audio": 1582}, "preset 'iemocap'")
    assert str(info.value).startswith(
        "synthetic data: modality 'audio' has width 10 but preset 'iemocap' "
        "expects 1582")
    with pytest.raises(DataError, match="no 'visual' features, which preset "
                       "'tiny' needs"):
        corpus.select_modalities("t").check_dims({"visual": 6},
                                                 "preset 'tiny'")


def test_rebuild_graphs(corpus):
    wider = rebuild_graphs(corpus, 6)
    assert wider.window == 6 and corpus.window == 3
    check_graphs(wider, 6)
    check_graphs(corpus, 3)  # the original is unchanged
    assert ids(wider.train) == ids(corpus.train)
    g, h = corpus.train[0], wider.train[0]
    assert h[NODE_TYPE].text is g[NODE_TYPE].text  # not copied
    assert h[INTRA].edge_index.size(1) > g[INTRA].edge_index.size(1)
    with pytest.raises(ValueError, match="window"):
        rebuild_graphs(corpus, -1)


def test_corpus_feeds_the_model(corpus):
    from dsgdn_pyg.models import AMBDSGDN, ModelConfig, amb_dsgdn_loss

    model = AMBDSGDN(ModelConfig(
        input_dims=corpus.modality_dims, num_classes=len(corpus.classes),
        num_speakers=corpus.num_speakers, hidden=16, num_heads=2))
    batch = next(iter(DataLoader(corpus.train, batch_size=4)))
    out = model(batch)
    assert out.log_probs.shape == (batch[NODE_TYPE].num_nodes, 6)
    amb_dsgdn_loss(out, batch[NODE_TYPE].y).backward()


@pytest.mark.skipif(not IEMOCAP_DIR.exists(), reason="shared IEMOCAP data "
                    "not present")
def test_real_iemocap_folder():
    start = time.perf_counter()
    corpus = load_corpus(IEMOCAP_DIR, window=20)
    seconds = time.perf_counter() - start
    assert corpus.name == "iemocap" and corpus.valid_source == "dataset"
    assert corpus.classes == IEMOCAP_CLASSES
    assert corpus.modality_dims == {"text": 384}
    assert corpus.num_speakers == 2 and sorted(corpus.speaker_vocab) == [
        "F", "M"]
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == \
        (108, 12, 31)

    def utterances(graphs):
        return sum(g[NODE_TYPE].num_nodes for g in graphs)

    assert utterances(corpus.train + corpus.valid) == 5810
    assert utterances(corpus.test) == 1623
    graph = corpus.test[0]
    with np.load(IEMOCAP_DIR / "text_minilm.npz") as npz:
        expected = npz[graph.dialogue_id]
    np.testing.assert_array_equal(graph[NODE_TYPE].text.numpy(), expected)
    assert graph[INTRA].edge_index.size(1) > 0
    assert seconds < 20.0
