"""Measuring a model on a split: its predictions, their metrics, and the
epoch a run selects by them.

The metrics are :mod:`dsgdn_pyg.metrics` (scikit-learn's weighted F1,
per-class F1 and accuracy, computed with torch), over all the utterances of
the split.
"""

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from dsgdn_pyg import metrics
from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN
from dsgdn_pyg.training.device import to_device


@dataclass
class SplitMetrics:
    """Metrics of one split (over all its utterances; see
    :mod:`dsgdn_pyg.metrics`)."""
    weighted_f1: float
    accuracy: float
    per_class_f1: List[float]
    confusion: List[List[int]]
    num_utterances: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SelectedEpoch:
    """The epoch a run keeps so far: its selection score (the weighted F1
    of the split it is selected on) and its validation and test
    metrics."""
    score: float
    epoch: int
    valid: SplitMetrics
    test: SplitMetrics

    def to_dict(self) -> dict:
        """As ``last.pt`` records it (plain values)."""
        return dict(score=self.score, epoch=self.epoch,
                    valid=self.valid.to_dict(), test=self.test.to_dict())

    @classmethod
    def from_dict(cls, values: dict) -> "SelectedEpoch":
        """What :meth:`to_dict` wrote (other keys are ignored)."""
        return cls(values["score"], values["epoch"],
                   SplitMetrics(**values["valid"]),
                   SplitMetrics(**values["test"]))


@torch.no_grad()
def predict_split(model: AMBDSGDN, loader: DataLoader, device: torch.device):
    """Predicted classes, labels and probabilities of every utterance of a
    loader, in loader order (one host copy at the end)."""
    model.eval()
    preds, labels, probs = [], [], []
    for batch in loader:
        batch = to_device(batch, device)
        out = model(batch)
        probs.append(out.log_probs.exp())
        preds.append(out.log_probs.argmax(-1))
        labels.append(batch[NODE_TYPE].y)
    if not preds:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0))
    return (torch.cat(preds).cpu().numpy(), torch.cat(labels).cpu().numpy(),
            torch.cat(probs).cpu().numpy())


def split_metrics(pred: np.ndarray, label: np.ndarray,
                  num_classes: int) -> SplitMetrics:
    """The metrics of predicted classes :obj:`pred` against :obj:`label`
    (classes ``0 .. num_classes - 1``); weighted F1 and accuracy are 0
    without utterances."""
    pred, label = torch.as_tensor(pred), torch.as_tensor(label)
    cm = metrics.confusion_matrix(pred, label, num_classes)
    count = int(label.numel())
    return SplitMetrics(
        weighted_f1=float(metrics.weighted_f1_of(cm)) if count else 0.0,
        accuracy=float(metrics.accuracy(pred, label)) if count else 0.0,
        per_class_f1=[float(v) for v in metrics.per_class_f1(cm)],
        confusion=cm.tolist(), num_utterances=count)


def evaluate(model: AMBDSGDN, graphs: Sequence, device: torch.device,
             batch_size: int = 16) -> SplitMetrics:
    """Weighted F1, accuracy, per-class F1 and confusion matrix of a list
    of dialogue graphs."""
    loader = DataLoader(list(graphs), batch_size=batch_size, shuffle=False)
    pred, label, _ = predict_split(model, loader, device)
    return split_metrics(pred, label, model.config.num_classes)
