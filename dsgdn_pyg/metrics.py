"""Classification metrics computed with torch, on the tensors' own device.

They match scikit-learn's ``f1_score(average="weighted")`` and
``accuracy_score`` but need no copy to the host, so the training loop can
measure every modality on every batch without a synchronisation.
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
    """F1 of every class from a confusion matrix (0 where undefined, as
    scikit-learn's ``zero_division=0``)."""
    cm = cm.to(torch.float64)
    tp = cm.diagonal()
    precision = tp / cm.sum(0).clamp(min=1)
    recall = tp / cm.sum(1).clamp(min=1)
    denom = precision + recall
    return torch.where(denom > 0, 2 * precision * recall / denom.clamp(
        min=1e-300), torch.zeros_like(denom))


def weighted_f1(pred: Tensor, target: Tensor, num_classes: int,
                mask: Optional[Tensor] = None) -> Tensor:
    """Support-weighted mean of per-class F1 (a 0-d tensor on the input's
    device); equals scikit-learn's ``f1_score(average="weighted")``."""
    cm = confusion_matrix(pred, target, num_classes, mask)
    support = cm.sum(1).to(torch.float64)
    return (per_class_f1(cm) * support).sum() / support.sum().clamp(min=1)


def accuracy(pred: Tensor, target: Tensor,
             mask: Optional[Tensor] = None) -> Tensor:
    """Fraction of correct predictions among the selected utterances."""
    correct = (pred == target).to(torch.float64)
    if mask is None:
        return correct.mean()
    mask = mask.to(torch.float64)
    return (correct * mask).sum() / mask.sum().clamp(min=1)
