"""The reported metrics of a split come from the package's one F1
implementation (:mod:`dsgdn_pyg.metrics`, torch) and are scikit-learn's
values: per-class F1, accuracy and the confusion matrix bit for bit, and
the weighted F1 too whenever at most 7 classes occur (the corpora's 6 and
7; with more, within the last bit)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from dsgdn_pyg import metrics
from dsgdn_pyg.training.evaluation import split_metrics


def _labels(rng, num_classes: int):
    """Random labels and predictions over ``num_classes`` classes, some of
    which never occur as labels (and some not at all)."""
    n = int(rng.integers(1, 300))
    present = rng.choice(num_classes, size=int(rng.integers(1, num_classes
                                                            + 1)),
                         replace=False)
    label = rng.choice(present, n)
    pred = np.where(rng.random(n) < 0.5, label,
                    rng.choice(present, n) if rng.random() < 0.5
                    else rng.integers(0, num_classes, n))
    return pred, label


def _sklearn(pred, label, num_classes: int) -> dict:
    classes = list(range(num_classes))
    return dict(
        weighted_f1=float(f1_score(label, pred, average="weighted",
                                   zero_division=0)),
        accuracy=float(accuracy_score(label, pred)),
        per_class_f1=[float(v) for v in f1_score(
            label, pred, labels=classes, average=None, zero_division=0)],
        confusion=confusion_matrix(label, pred, labels=classes).tolist(),
        num_utterances=len(label))


@pytest.mark.parametrize("num_classes", [2, 3, 6, 7, 9, 16])
def test_split_metrics_are_sklearns(num_classes):
    rng = np.random.default_rng(num_classes)
    for _ in range(150):
        pred, label = _labels(rng, num_classes)
        ours = split_metrics(pred, label, num_classes).to_dict()
        ref = _sklearn(pred, label, num_classes)
        occurring = len(set(label.tolist()) | set(pred.tolist()))
        if occurring > 7:
            assert ours.pop("weighted_f1") == pytest.approx(
                ref.pop("weighted_f1"), rel=1e-15, abs=0)
        assert ours == ref


def test_weighted_f1_is_the_same_with_a_mask_and_on_the_device():
    """The training loop's call (a mask, no host copy) gives the value of
    the selected utterances."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        pred, label = _labels(rng, 6)
        mask = rng.random(len(label)) < 0.7
        if not mask.any():
            continue
        masked = metrics.weighted_f1(torch.from_numpy(pred),
                                     torch.from_numpy(label), 6,
                                     torch.from_numpy(mask))
        assert masked.dtype == torch.float64
        assert float(masked) == f1_score(label[mask], pred[mask],
                                         average="weighted",
                                         zero_division=0)


def test_an_empty_split_measures_zero():
    empty = np.zeros(0, int)
    got = split_metrics(empty, empty, 3)
    assert (got.weighted_f1, got.accuracy, got.num_utterances) == (0, 0, 0)
    assert got.per_class_f1 == [0.0] * 3
    assert got.confusion == [[0] * 3] * 3
