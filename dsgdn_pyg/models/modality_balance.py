"""Adaptive modality balancing (the paper's Sec. 4.6, Alg. 2, Eq. 19-27)."""

import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from dsgdn_pyg.metrics import weighted_f1


class ExpectationScale(torch.autograd.Function):
    r"""Eq. 26-27: :math:`F'' = F' / (1 - \theta)` whose backward passes
    :math:`\partial L / \partial F' = g / (1 - \theta)` and nothing to
    :math:`\theta`."""

    @staticmethod
    def forward(ctx, x: Tensor, theta: Tensor) -> Tensor:
        scale = 1.0 / (1.0 - theta)
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        scale, = ctx.saved_tensors
        return grad * scale, None


def drop_probabilities(performance: Tensor, q_base: float,
                       lam: float, eps: float = 1e-5) -> Tensor:
    r"""Per-modality drop probabilities :math:`q_m` from performances
    :math:`p_m` (Eq. 20-24, published variant).

    For every modality :math:`r_{m,j} = p_m / (p_j + \epsilon) - 1` over the
    others (skipping any :math:`j` with :math:`p_j < \epsilon`),
    :math:`\hat r = \mathrm{softmax}(\mathrm{relu}(r_m))`,
    :math:`\bar r = \sum \hat r \, r_m / |r_m|`, and
    :math:`q_m = \mathrm{clip}(q_{base}(1 + \lambda \bar r), 0, 1)` when
    :math:`\bar r > 0`, else 0: only modalities ahead of the others are
    dropped. Vectorised over modalities, so it stays on the device.
    """
    p = performance.to(torch.float64)
    num = p.numel()
    ratio = p.unsqueeze(1) / (p.unsqueeze(0) + eps) - 1.0  # [m, j]
    valid = ~torch.eye(num, dtype=torch.bool, device=p.device)
    valid = valid & (p.unsqueeze(0) >= eps)
    relu = torch.where(valid, ratio.clamp(min=0),
                       torch.full_like(ratio, -torch.inf))
    weight = torch.softmax(relu, dim=1).nan_to_num(0.0)
    count = valid.sum(1).clamp(min=1)
    r_bar = (weight * torch.where(valid, ratio, torch.zeros_like(ratio))
             ).sum(1) / count
    q = (q_base * (1.0 + lam * r_bar)).clamp(0.0, 1.0)
    return torch.where(r_bar > 0, q, torch.zeros_like(q)).to(
        performance.dtype)


@dataclass
class BalanceResult:
    """What one application of modality dropout did."""
    features: Dict[str, Tensor]
    keep: Tensor  # [N] bool: utterances whose dialogue kept a modality
    drop_prob: Tensor  # [M] q_m
    performance: Tensor  # [M] p_m
    applied: bool


class AdaptiveModalityDropout(torch.nn.Module):
    r"""Drops whole modalities of whole dialogues, the better-performing
    modalities more often (Sec. 4.6, Eq. 19-27).

    Args:
        q_base (float): Base drop probability. (default: :obj:`0.3`)
        lam (float): Scaling of the relative performance. (default: :obj:`0.9`)
        p_exe (float): Probability that a batch is dropped at all.
            (default: :obj:`0.5`)

    Dialogues whose modalities are all dropped leave the batch: their
    utterances are marked :obj:`False` in :obj:`keep`, which the loss uses
    as its mask (equal to removing them, without a host sync to resize).
    """

    def __init__(self, q_base: float = 0.3, lam: float = 0.9,
                 p_exe: float = 0.5):
        super().__init__()
        self.q_base = q_base
        self.lam = lam
        self.p_exe = p_exe

    def performance(self, logits: Sequence[Tensor], target: Tensor,
                    num_classes: int, mask: Optional[Tensor] = None) -> Tensor:
        """Weighted F1 of every modality's argmax, ``[M]`` on the device."""
        return torch.stack([
            weighted_f1(lg.detach().argmax(-1), target, num_classes, mask)
            for lg in logits
        ]).to(torch.float)

    def forward(self, features: Dict[str, Tensor], logits: List[Tensor],
                target: Tensor, batch: Tensor, num_graphs: int,
                num_classes: int, mask: Optional[Tensor] = None,
                generator: Optional[random.Random] = None) -> BalanceResult:
        names = list(features)
        device = target.device
        perf = self.performance(logits, target, num_classes, mask)
        q = drop_probabilities(perf, self.q_base, self.lam)
        all_kept = torch.ones(batch.numel(), dtype=torch.bool, device=device)
        rng = generator or random
        if rng.random() >= self.p_exe:
            return BalanceResult(features, all_kept, q, perf, False)

        keep_mask = torch.bernoulli((1.0 - q).unsqueeze(1).expand(
            len(names), num_graphs))  # [M, B]
        theta = q.mean()  # every modality has width d_h (Eq. 26)
        out = {}
        for m, name in enumerate(names):
            x = features[name] * keep_mask[m].index_select(0, batch
                                                           ).unsqueeze(-1)
            out[name] = ExpectationScale.apply(x, theta)
        keep = (keep_mask.sum(0) > 0).index_select(0, batch)
        return BalanceResult(out, keep, q, perf, True)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(q_base={self.q_base}, "
                f"lam={self.lam}, p_exe={self.p_exe})")
