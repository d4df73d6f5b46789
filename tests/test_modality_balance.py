"""Adaptive modality balancing: q formula, rescaling, dropped dialogues,
and the torch weighted F1 it relies on."""

import math
import random

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from dsgdn_pyg.metrics import accuracy, weighted_f1
from dsgdn_pyg.models import (AdaptiveModalityDropout, ExpectationScale,
                              ModelOutput, amb_dsgdn_loss,
                              drop_probabilities)


def reference_q(p, q_base, lam, eps=1e-5):
    """Eq. 20-24 (published variant) written out with Python loops."""
    out = []
    for m, pm in enumerate(p):
        r = [pm / (pj + eps) - 1 for j, pj in enumerate(p)
             if j != m and pj >= eps]
        if not r:
            out.append(0.0)
            continue
        relu = [max(v, 0.0) for v in r]
        z = sum(math.exp(v) for v in relu)
        r_bar = sum(math.exp(a) / z * b for a, b in zip(relu, r)) / len(r)
        out.append(min(max(q_base * (1 + lam * r_bar), 0.0), 1.0)
                   if r_bar > 0 else 0.0)
    return out


@pytest.mark.parametrize("perf", [
    [0.8, 0.4, 0.4], [0.9, 0.6, 0.3], [0.5, 0.0, 0.25], [0.3, 0.3, 0.3],
    [0.7, 0.2], [0.6], [1.0, 0.05, 0.1],
])
def test_drop_probabilities_match_the_formula(perf):
    q = drop_probabilities(torch.tensor(perf), q_base=0.3, lam=0.9)
    assert q.tolist() == pytest.approx(reference_q(perf, 0.3, 0.9), abs=1e-6)


def test_drop_probabilities_hand_picked_values():
    # p = (0.8, 0.4, 0.4): text leads by a ratio of 1 over both others, so
    # r_bar = 0.5 and q = 0.3 * (1 + 0.9 * 0.5); the others are never dropped.
    q = drop_probabilities(torch.tensor([0.8, 0.4, 0.4]), 0.3, 0.9)
    assert q[0].item() == pytest.approx(0.435, abs=1e-4)
    assert q[1].item() == 0.0 and q[2].item() == 0.0
    # A modality at p < eps is skipped as a divisor: r = 0.5 / 0.25 - 1 = 1.
    q = drop_probabilities(torch.tensor([0.5, 0.0, 0.25]), 0.3, 0.9)
    assert q[0].item() == pytest.approx(0.3 * 1.9, abs=1e-4)
    # Clipped to 1.
    q = drop_probabilities(torch.tensor([0.9, 0.01]), 0.9, 0.9)
    assert q[0].item() == 1.0


def test_expectation_scale_forward_and_backward():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    theta = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)
    y = ExpectationScale.apply(x, theta)
    assert torch.allclose(y, x / 0.75)
    grad = torch.randn_like(y)
    y.backward(grad)
    assert torch.allclose(x.grad, grad / 0.75)
    assert theta.grad is None  # nothing flows to theta (Eq. 27)


def _features(num_nodes, dim=4):
    return {m: torch.randn(num_nodes, dim, requires_grad=True)
            for m in ("text", "audio", "visual")}


def test_dropout_masks_whole_dialogues_and_rescales():
    torch.manual_seed(0)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    feats = _features(batch.numel())
    y = torch.randint(0, 3, (batch.numel(),))
    # Text always right, the others right on a third of the utterances:
    # only text is ahead, so only text can be dropped.
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    wrong = torch.where(torch.arange(9) % 3 == 0, y, (y + 1) % 3)
    logits = [torch.nn.functional.one_hot(y, 3).float(),
              torch.nn.functional.one_hot(wrong, 3).float(),
              torch.nn.functional.one_hot(wrong, 3).float()]
    module = AdaptiveModalityDropout(q_base=0.6, lam=0.9, p_exe=1.0)
    res = module(feats, logits, y, batch, 3, 3, generator=random.Random(0))
    assert res.applied
    assert res.performance[0] == 1.0 and res.performance[1] < 1.0
    assert res.drop_prob[0] > 0 and res.drop_prob[1:].eq(0).all()
    theta = res.drop_prob.mean()
    for m in ("audio", "visual"):  # q = 0: kept, scaled by 1 / (1 - theta)
        assert torch.allclose(res.features[m], feats[m] / (1 - theta))
    text = res.features["text"]
    for b in range(3):
        rows = text[batch == b]
        kept = torch.allclose(rows, feats["text"][batch == b] / (1 - theta))
        assert kept or rows.abs().sum() == 0  # all or nothing per dialogue
    assert res.keep.all()  # audio and visual are never dropped here


def test_dialogue_with_all_modalities_dropped_leaves_the_batch():
    batch = torch.tensor([0, 0, 1, 1, 1])
    feats = _features(5)
    y = torch.tensor([0, 1, 2, 0, 1])
    module = AdaptiveModalityDropout(p_exe=1.0)
    logits = [torch.randn(5, 3) for _ in feats]
    torch.manual_seed(0)
    # Force every modality of dialogue 1 to be dropped.
    original = torch.bernoulli
    torch.bernoulli = lambda p: torch.tensor([[1.0, 0.0]] * 3)
    try:
        res = module(feats, logits, y, batch, 2, 3,
                     generator=random.Random(0))
    finally:
        torch.bernoulli = original
    assert res.keep.tolist() == [True, True, False, False, False]
    for m in feats:
        assert res.features[m][2:].abs().sum() == 0

    # The loss counts only the dialogues still in the batch: equal to the
    # loss of dialogue 0 alone, labels included.
    log_probs = torch.log_softmax(torch.randn(5, 3), -1)
    out = ModelOutput(log_probs, {"text": log_probs}, keep=res.keep)
    alone = ModelOutput(log_probs[:2], {"text": log_probs[:2]})
    assert torch.allclose(amb_dsgdn_loss(out, y), amb_dsgdn_loss(alone, y[:2]))


def test_no_dropout_when_not_executed():
    batch = torch.tensor([0, 0, 1])
    feats = _features(3)
    module = AdaptiveModalityDropout(p_exe=0.0)
    res = module(feats, [torch.randn(3, 2)] * 3, torch.tensor([0, 1, 1]),
                 batch, 2, 2, generator=random.Random(0))
    assert not res.applied and res.keep.all()
    assert all(res.features[m] is feats[m] for m in feats)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("num_classes", [2, 6, 7])
def test_weighted_f1_equals_sklearn(seed, num_classes):
    g = torch.Generator().manual_seed(seed)
    n = 200
    target = torch.randint(0, num_classes, (n, ), generator=g)
    pred = torch.where(torch.rand(n, generator=g) < 0.6, target,
                       torch.randint(0, num_classes, (n, ), generator=g))
    mask = torch.rand(n, generator=g) < 0.8
    ours = weighted_f1(pred, target, num_classes, mask).item()
    ref = f1_score(target[mask].numpy(), pred[mask].numpy(),
                   average="weighted", zero_division=0)
    assert ours == pytest.approx(ref, abs=1e-12)
    assert accuracy(pred, target, mask).item() == pytest.approx(
        accuracy_score(target[mask].numpy(), pred[mask].numpy()))


def test_weighted_f1_with_absent_classes():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 3, 1, 1])  # class 3 predicted, never true
    ref = f1_score(target.numpy(), pred.numpy(), average="weighted",
                   zero_division=0)
    assert weighted_f1(pred, target, 5).item() == pytest.approx(ref)


def test_loss_formula_by_hand():
    torch.manual_seed(0)
    y = torch.tensor([0, 2, 1, 2])
    fused = torch.log_softmax(torch.randn(4, 3), -1)
    mods = {m: torch.log_softmax(torch.randn(4, 3), -1) for m in "tav"}
    w = torch.tensor([2.0, 1.0, 0.5])
    out = ModelOutput(fused, mods)

    def nll(lp):
        return -sum(w[t] * lp[i, t] for i, t in enumerate(y.tolist())) / \
            sum(w[t] for t in y.tolist())

    expected = nll(fused) + sum(nll(lp) ** 2 / 10 for lp in mods.values())
    assert amb_dsgdn_loss(out, y, w).item() == pytest.approx(
        expected.item(), rel=1e-6)
    np.testing.assert_allclose(
        amb_dsgdn_loss(ModelOutput(fused, {}), y, w).item(),
        torch.nn.functional.nll_loss(fused, y, weight=w).item(), rtol=1e-6)


def test_single_modality_loss_is_the_fused_nll_alone():
    # With one modality the fused logits are that modality's own and the
    # published single-modality path has no auxiliary term.
    torch.manual_seed(0)
    y = torch.tensor([0, 2, 1, 2])
    text = torch.log_softmax(torch.randn(4, 3), -1)
    w = torch.tensor([2.0, 1.0, 0.5])
    loss = amb_dsgdn_loss(ModelOutput(text, {"t": text}), y, w)
    np.testing.assert_allclose(
        loss.item(),
        torch.nn.functional.nll_loss(text, y, weight=w).item(), rtol=1e-6)
    # Two modalities still add L_m * (L_m / 10) for each.
    two = amb_dsgdn_loss(ModelOutput(text, {"t": text, "a": text}), y, w)
    nll = torch.nn.functional.nll_loss(text, y, weight=w)
    assert two.item() == pytest.approx((nll + 2 * nll ** 2 / 10).item(),
                                       rel=1e-6)
