"""Classification metrics computed with torch, on the tensors' own device.

The one implementation of the package's F1 and accuracy: the training loop
measures every modality on every batch with it without a synchronisation
(Alg. 2), and the reported metrics of every split are its values too
(:func:`dsgdn_pyg.training.evaluation.split_metrics`). They are
scikit-learn's ``f1_score`` (``average=None`` and ``"weighted"``,
``zero_division=0``) and ``accuracy_score``, computed the way it computes
them: per-class F1 and accuracy are its values bit for bit, and so is the
weighted F1 whenever at most 7 classes occur (its sum is then the
left-to-right sum scikit-learn's NumPy does; with more, it may differ from
it in the last bit).
"""

from typing import Optional

import torch
from torch import Tensor


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int,
                     mask: Optional[Tensor] = None) -> Tensor:
    """``[C, C]`` counts, rows = true class, columns = predicted class.

    :obj:`mask` (bool or 0/1) selects the utterances that count, without
    boolean indexing (which would force a host sync on CUDA).
    """
    index = target.long() * num_classes + pred.long()
    weight = None if mask is None else mask.to(torch.float)
    counts = torch.bincount(index, weights=weight,
                            minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def per_class_f1(cm: Tensor) -> Tensor:
    """F1 of every class from a confusion matrix, ``2 TP / (2 TP + FP +
    FN)`` in float64 as scikit-learn computes it (0 where undefined, as its
    ``zero_division=0``)."""
    cm = cm.to(torch.float64)
    denom = cm.sum(0) + cm.sum(1)  # predicted + true = 2 TP + FP + FN
    return torch.where(denom > 0, 2 * cm.diagonal() / denom.clamp(min=1),
                       torch.zeros_like(denom))


def weighted_f1_of(cm: Tensor) -> Tensor:
    """Support-weighted mean of the per-class F1 of a confusion matrix (a
    0-d float64 tensor on its device; 0 without utterances).

    The weighted terms are summed left to right, one class after the
    other, as NumPy sums fewer than 8 values: with at most 7 classes
    occurring this is scikit-learn's value bit for bit (an absent class
    adds an exact zero)."""
    support = cm.sum(1).to(torch.float64)
    terms = per_class_f1(cm) * support
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total / support.sum().clamp(min=1)


def weighted_f1(pred: Tensor, target: Tensor, num_classes: int,
                mask: Optional[Tensor] = None) -> Tensor:
    """Support-weighted mean of per-class F1 (a 0-d tensor on the input's
    device): scikit-learn's ``f1_score(average="weighted",
    zero_division=0)``, see :func:`weighted_f1_of`."""
    return weighted_f1_of(confusion_matrix(pred, target, num_classes, mask))


def accuracy(pred: Tensor, target: Tensor,
             mask: Optional[Tensor] = None) -> Tensor:
    """Fraction of correct predictions among the selected utterances."""
    correct = (pred == target).to(torch.float64)
    if mask is None:
        return correct.mean()
    mask = mask.to(torch.float64)
    return (correct * mask).sum() / mask.sum().clamp(min=1)
