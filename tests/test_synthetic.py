"""The synthetic dialogues: deterministic, IEMOCAP-shaped, learnable, and
dependent on context."""

import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dsgdn_pyg.data.readers import IEMOCAP_CLASSES
from dsgdn_pyg.data.synthetic import (SyntheticConfig,
                                      make_synthetic_dialogues,
                                      synthetic_records)


@pytest.fixture(scope="module")
def default():
    start = time.perf_counter()
    made = make_synthetic_dialogues(SyntheticConfig())
    return made, time.perf_counter() - start


def all_ids(made):
    return made["train_ids"] + made["test_ids"]


def test_deterministic_and_fast(default):
    made, seconds = default
    assert seconds < 5.0
    again = make_synthetic_dialogues(SyntheticConfig())
    assert again["train_ids"] == made["train_ids"]
    assert again["test_ids"] == made["test_ids"]
    for vid in all_ids(made):
        assert np.array_equal(again["labels"][vid], made["labels"][vid])
        assert np.array_equal(again["speakers"][vid], made["speakers"][vid])
        for m in made["features"]:
            a, b = again["features"][m][vid], made["features"][m][vid]
            assert a.tobytes() == b.tobytes()  # bit-identical
    other = make_synthetic_dialogues(SyntheticConfig(seed=1))
    vid = all_ids(made)[0]
    assert not np.array_equal(other["features"]["text"][vid][:3],
                              made["features"]["text"][vid][:3])


def test_shapes_and_ranges(default):
    made, _ = default
    config = SyntheticConfig()
    ids = all_ids(made)
    assert len(ids) == len(set(ids)) == 48
    assert set(made["train_ids"]).isdisjoint(made["test_ids"])
    assert len(made["test_ids"]) == round(0.2 * 48)
    assert made["classes"] == IEMOCAP_CLASSES
    for vid in ids:
        n = made["labels"][vid].shape[0]
        assert config.min_len <= n <= config.max_len
        assert made["labels"][vid].dtype == np.int64
        assert made["labels"][vid].min() >= 0
        assert made["labels"][vid].max() < 6
        assert made["speakers"][vid].shape == (n, )
        assert set(made["speakers"][vid].tolist()) <= {0, 1}
        for m, dim in config.dims.items():
            x = made["features"][m][vid]
            assert x.shape == (n, dim) and x.dtype == np.float32
            assert np.isfinite(x).all()
    lengths = [made["labels"][v].shape[0] for v in ids]
    assert len(set(lengths)) > 5  # lengths vary
    labels = np.concatenate([made["labels"][v] for v in ids])
    assert set(labels.tolist()) == set(range(6))


def test_other_sizes():
    config = SyntheticConfig(num_dialogues=10, min_len=4, max_len=4,
                             num_classes=3, num_speakers=4,
                             dims={"audio": 7}, signal={"audio": 1.0})
    made = make_synthetic_dialogues(config)
    assert made["classes"] == ["class_0", "class_1", "class_2"]
    assert list(made["features"]) == ["audio"]
    speakers = np.stack([made["speakers"][v] for v in all_ids(made)])
    labels = np.stack([made["labels"][v] for v in all_ids(made)])
    assert speakers.shape == (10, 4) and speakers.max() < 4
    assert len(np.unique(speakers)) == 4
    assert labels.max() < 3
    records = synthetic_records(config)
    assert records.modality_dims == {"audio": 7}
    assert records.num_speakers == 4 and records.valid_ids is None


def _probe_accuracy(made, modality):
    def stack(ids):
        return (np.concatenate([made["features"][modality][v] for v in ids]),
                np.concatenate([made["labels"][v] for v in ids]))

    x_train, y_train = stack(made["train_ids"])
    x_test, y_test = stack(made["test_ids"])
    probe = LogisticRegression(max_iter=200).fit(x_train, y_train)
    return probe.score(x_test, y_test), y_test


def test_text_dominates_a_linear_probe():
    # More dialogues than the default, so the test split is large enough
    # for stable accuracies.
    made = make_synthetic_dialogues(SyntheticConfig(num_dialogues=120))
    text, y_test = _probe_accuracy(made, "text")
    audio, _ = _probe_accuracy(made, "audio")
    majority = np.bincount(y_test).max() / len(y_test)
    assert text > majority + 0.25
    assert text > audio + 0.15


def test_labels_depend_on_context(default):
    made, _ = default
    same, total = 0, 0
    labels = []
    for vid in all_ids(made):
        y, s = made["labels"][vid], made["speakers"][vid]
        labels.append(y)
        for speaker in (0, 1):
            own = y[s == speaker]
            same += int((own[1:] == own[:-1]).sum())
            total += max(len(own) - 1, 0)
    freq = np.bincount(np.concatenate(labels)) / sum(map(len, labels))
    chance = float((freq**2).sum())  # agreement of independent draws
    agreement = same / total
    assert chance < 0.3
    assert agreement > chance + 0.4


def test_contagion_pulls_towards_the_other_speaker():
    """Without persistence, a speaker's emotion follows the other
    speaker's last one far more often than chance."""
    made = make_synthetic_dialogues(SyntheticConfig(persistence=0.0,
                                                    contagion=0.9,
                                                    turn_switch=1.0))
    follow, total = 0, 0
    for vid in all_ids(made):
        y = made["labels"][vid]
        follow += int((y[1:] == y[:-1]).sum())  # speakers alternate
        total += len(y) - 1
    assert follow / total > 0.8
    independent = make_synthetic_dialogues(SyntheticConfig(
        persistence=0.0, contagion=0.0, turn_switch=1.0))
    follow = sum(int((independent["labels"][v][1:] ==
                      independent["labels"][v][:-1]).sum())
                 for v in all_ids(independent))
    assert follow / total < 0.35


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_dialogues=2), "num_dialogues"),
    (dict(min_len=5, max_len=4), "min_len"),
    (dict(num_classes=1), "num_classes"),
    (dict(dims={"depth": 3}, signal={"depth": 1.0}), "dims"),
    (dict(dims={"text": 3, "audio": 2}, signal={"text": 1.0}),
     "signal: expected a strength for audio"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(persistence=1.5), "persistence"),
    (dict(noise=-1.0), "noise"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticConfig(**kwargs)


def test_config_from_dict():
    config = SyntheticConfig.from_dict({"num_dialogues": 10}, seed=4)
    assert (config.num_dialogues, config.seed) == (10, 4)
    assert SyntheticConfig.from_dict({"seed": 2}, seed=4).seed == 2
    assert SyntheticConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown field.*dialogues"):
        SyntheticConfig.from_dict({"dialogues": 10})
