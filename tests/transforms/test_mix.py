"""Mixup and CutMix of whole batches: what is mixed, by how much, and the two-label loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fer_core.training.imbalance import FocalLoss
from fer_core.transforms.mix import BatchMixer, MixedBatch


def _batch(n: int = 9, size: int = 12):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, size, size, generator=g), torch.arange(n) % 7


def test_mixup_blends_each_image_with_its_partner_in_the_reversed_batch():
    x, y = _batch()
    mixed = BatchMixer(mixup_alpha=0.4, seed=1)(x, y)
    assert 0 <= mixed.lam <= 1
    torch.testing.assert_close(mixed.x, mixed.lam * x + (1 - mixed.lam) * x.flip(0))
    assert torch.equal(mixed.y_a, y) and torch.equal(mixed.y_b, y.flip(0))


def test_cutmix_pastes_one_box_and_lam_is_the_area_kept():
    x, y = _batch(n=8, size=48)
    seen_partial = False
    mixer = BatchMixer(cutmix_alpha=1.0, seed=2)
    for _ in range(20):
        mixed = mixer(x, y)
        from_partner = (mixed.x != x)[0, 0]  # the random images differ everywhere between partners
        assert torch.equal(mixed.x[0, 0][from_partner], x[-1, 0][from_partner])
        rows, cols = from_partner.any(1).nonzero(), from_partner.any(0).nonzero()
        if len(rows):  # one solid rectangle
            assert from_partner[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert mixed.lam == pytest.approx(1 - from_partner.float().mean().item())
        seen_partial |= 0 < mixed.lam < 1
    assert seen_partial


def test_both_alphas_use_both_methods_and_the_same_seed_mixes_the_same_way():
    x, y = _batch()
    kinds = set()
    a, b = BatchMixer(0.4, 1.0, seed=5), BatchMixer(0.4, 1.0, seed=5)
    for _ in range(30):
        first, second = a(x, y), b(x, y)
        assert torch.equal(first.x, second.x) and first.lam == second.lam
        blended = torch.allclose(first.x, first.lam * x + (1 - first.lam) * x.flip(0))
        kinds.add("mixup" if blended and 0.01 < first.lam < 0.99 else "cutmix")
    assert kinds == {"mixup", "cutmix"}


def test_off_zero_probability_and_single_images_leave_the_batch_alone():
    x, y = _batch()
    for mixer in (BatchMixer(), BatchMixer(mixup_alpha=1.0, prob=0.0)):
        assert not mixer.enabled
    cases = ((BatchMixer(mixup_alpha=1.0, prob=0.0), x, y), (BatchMixer(cutmix_alpha=1.0), x[:1], y[:1]))
    for mixer, xb, yb in cases:
        mixed = mixer(xb, yb)
        assert mixed.x is xb and mixed.lam == 1.0
    mixer = BatchMixer(mixup_alpha=1.0, prob=0.5, seed=0)
    unmixed = sum(mixer(x, y).lam == 1.0 for _ in range(200))
    assert 60 < unmixed < 140


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_two_label_loss_equals_cross_entropy_on_mixed_one_hot_targets(smoothing):
    logits = torch.randn(6, 7)
    y_a, y_b, lam = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([6, 5, 4, 3, 2, 1]), 0.3
    soft = lam * F.one_hot(y_a, 7).float() + (1 - lam) * F.one_hot(y_b, 7).float()
    expected = F.cross_entropy(logits, soft, label_smoothing=smoothing)
    got = MixedBatch(torch.zeros(6), y_a, y_b, lam).loss(nn.CrossEntropyLoss(label_smoothing=smoothing), logits)
    torch.testing.assert_close(got, expected)


def test_two_label_loss_works_with_weighted_and_focal_criteria():
    logits = torch.randn(6, 7, requires_grad=True)
    y_a, y_b = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([6, 5, 4, 3, 2, 1])
    weights = torch.linspace(0.5, 2.0, 7)
    for criterion in (nn.CrossEntropyLoss(weight=weights, label_smoothing=0.1),
                      FocalLoss(2.0, alpha=weights, label_smoothing=0.1)):
        batch = MixedBatch(torch.zeros(6), y_a, y_b, 0.25)
        loss = batch.loss(criterion, logits)
        torch.testing.assert_close(loss, 0.25 * criterion(logits, y_a) + 0.75 * criterion(logits, y_b))
        loss.backward()
        assert torch.isfinite(logits.grad).all()


def test_mixed_accuracy_counts_each_label_by_its_share():
    logits = F.one_hot(torch.tensor([0, 1, 2, 3]), 7).float()
    batch = MixedBatch(torch.zeros(4), torch.tensor([0, 1, 9, 9]), torch.tensor([9, 1, 2, 9]), 0.75)
    assert batch.correct(logits).item() == pytest.approx(0.75 * 2 + 0.25 * 2)


@pytest.mark.parametrize("options, message", [
    (dict(mixup_alpha=-0.5), "mixup_alpha must be a number >= 0"),
    (dict(cutmix_alpha=float("nan")), "cutmix_alpha must be a number >= 0"),
    (dict(prob=1.5), r"mix_prob \(the share of batches mixed\) must be in \[0, 1\]"),
])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        BatchMixer(**options)
