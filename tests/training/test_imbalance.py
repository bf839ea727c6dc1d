import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer_core.training.imbalance import (
    FocalLoss, class_counts, effective_number_weights, get_strategy, inverse_frequency_weights,
    strategy_names,
)
from fer_core.common.registry import UnknownNameError

COUNTS = np.array([500, 20, 300])
LABELS = np.repeat(np.arange(3), COUNTS)


def _logits_targets(n=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=g) * 2, torch.randint(0, classes, (n,), generator=g)


# ---------------------------------------------------------------- weights

def test_inverse_frequency_weights_values():
    w = inverse_frequency_weights(COUNTS)
    np.testing.assert_allclose(w, [820 / (3 * 500), 820 / (3 * 20), 820 / (3 * 300)])
    np.testing.assert_allclose((w * COUNTS).sum() / COUNTS.sum(), 1.0)  # averages 1 over samples


def test_zero_count_class_gets_zero_weight():
    w = inverse_frequency_weights([10, 0, 30])
    np.testing.assert_allclose(w, [40 / (2 * 10), 0.0, 40 / (2 * 30)])
    assert effective_number_weights([10, 0, 30])[1] == 0.0
    with pytest.raises(ValueError, match="no training samples"):
        inverse_frequency_weights([0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        inverse_frequency_weights([5, -1])


def test_effective_number_weights_values():
    beta = 0.999
    effective = np.array([(1 - beta ** n) / (1 - beta) for n in (500, 20, 300)])
    np.testing.assert_allclose(effective, [393.621, 19.811, 259.298], rtol=1e-4)
    raw = 1 / effective
    expected = raw * 820 / (raw * COUNTS).sum()
    w = effective_number_weights(COUNTS, beta)
    np.testing.assert_allclose(w, expected)
    np.testing.assert_allclose(w[1] / w[0], 393.621 / 19.811, rtol=1e-4)
    np.testing.assert_allclose(effective_number_weights(COUNTS, 0.0), [1.0, 1.0, 1.0])
    # beta -> 1 approaches inverse frequency
    np.testing.assert_allclose(effective_number_weights(COUNTS, 1 - 1e-7), inverse_frequency_weights(COUNTS), rtol=1e-3)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5])
def test_invalid_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights(COUNTS, beta)
    with pytest.raises(ValueError, match="beta"):
        get_strategy("effective_number", beta=beta)


def test_class_counts_helper():
    np.testing.assert_array_equal(class_counts([0, 2, 2], 4), [1, 0, 2, 0])
    with pytest.raises(ValueError, match="out of range"):
        class_counts([0, 5], 3)


# ---------------------------------------------------------------- losses

def test_focal_gamma_zero_equals_cross_entropy():
    logits, targets = _logits_targets()
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, targets), F.cross_entropy(logits, targets))
    alpha = torch.tensor([0.5, 3.0, 1.0])
    torch.testing.assert_close(FocalLoss(gamma=0.0, alpha=alpha, label_smoothing=0.1)(logits, targets),
                               F.cross_entropy(logits, targets, weight=alpha, label_smoothing=0.1))


def test_focal_down_weights_easy_examples():
    targets = torch.tensor([0, 0])
    logits = torch.tensor([[4.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])  # easy (p~0.96), hard (p~0.06)
    p = F.softmax(logits, dim=1)[:, 0]
    ce = F.cross_entropy(logits, targets, reduction="none")
    focal = FocalLoss(gamma=2.0, reduction="none")(logits, targets)
    torch.testing.assert_close(focal / ce, (1 - p) ** 2)
    assert focal[0] < 0.01 * ce[0]  # the confident, correct sample is nearly ignored
    assert focal[1] > 0.8 * ce[1]   # the hard one keeps most of its loss


def test_focal_alpha_scales_per_class():
    logits, _ = _logits_targets(n=2)
    targets = torch.tensor([0, 1])
    plain = FocalLoss(gamma=2.0, reduction="none")(logits, targets)
    weighted = FocalLoss(gamma=2.0, alpha=[2.0, 1.0, 1.0], reduction="none")(logits, targets)
    torch.testing.assert_close(weighted, plain * torch.tensor([2.0, 1.0]))
    # mean reduction divides by the summed alpha of the targets, like cross-entropy
    torch.testing.assert_close(FocalLoss(gamma=2.0, alpha=[2.0, 1.0, 1.0])(logits, targets), weighted.sum() / 3)


def test_focal_gradient_is_finite_when_saturated():
    logits = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)
    FocalLoss(gamma=0.5)(logits, torch.tensor([0])).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ["none", "class_weights", "oversample"])
def test_label_smoothing_matches_torch(name):
    logits, targets = _logits_targets()
    loss = get_strategy(name).loss(COUNTS, label_smoothing=0.1)
    w = get_strategy(name).class_weights(COUNTS)
    weight = None if w is None else torch.as_tensor(w, dtype=torch.float32)
    torch.testing.assert_close(loss(logits, targets),
                               F.cross_entropy(logits, targets, weight=weight, label_smoothing=0.1))


def test_focal_strategy_alpha_by_name_and_values():
    logits, targets = _logits_targets()
    s = get_strategy("focal", gamma=1.5, alpha="class_weights")
    alpha = torch.as_tensor(inverse_frequency_weights(COUNTS), dtype=torch.float32)
    torch.testing.assert_close(s.loss(COUNTS)(logits, targets), FocalLoss(1.5, alpha=alpha)(logits, targets))
    explicit = get_strategy("focal", alpha=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(explicit.class_weights(COUNTS), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3 weights for 4 classes"):
        explicit.loss([1, 2, 3, 4])


def test_weighted_strategies_weights():
    np.testing.assert_allclose(get_strategy("class_weights").class_weights(COUNTS), inverse_frequency_weights(COUNTS))
    np.testing.assert_allclose(get_strategy("effective_number", beta=0.99).class_weights(COUNTS),
                               effective_number_weights(COUNTS, 0.99))
    assert get_strategy("none").class_weights(COUNTS) is None


# ---------------------------------------------------------------- samplers

def test_oversample_draws_classes_about_equally():
    s = get_strategy("oversample")
    drawn = []
    for epoch in range(5):
        idx, flip = s.epoch_indices(LABELS, epoch, seed=0)
        assert flip is None and idx.dtype == torch.int64 and len(idx) == len(LABELS)
        drawn.append(idx)
    freq = np.bincount(LABELS[torch.cat(drawn).numpy()], minlength=3) / (5 * len(LABELS))
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.03)


def test_undersample_cuts_every_class_to_minority():
    idx, flip = get_strategy("undersample").epoch_indices(LABELS, 0, seed=0)
    assert flip is None
    assert len(torch.unique(idx)) == len(idx) == 60
    np.testing.assert_array_equal(np.bincount(LABELS[idx.numpy()]), [20, 20, 20])
    idx, _ = get_strategy("undersample", min_per_class=100).epoch_indices(LABELS, 0, seed=0)
    np.testing.assert_array_equal(np.bincount(LABELS[idx.numpy()]), [100, 20, 100])


def test_mirror_balance_tops_up_with_flipped_copies():
    idx, flip = get_strategy("mirror_balance").epoch_indices(LABELS, 0, seed=0)
    assert flip.dtype == torch.bool and flip.shape == idx.shape
    np.testing.assert_array_equal(np.bincount(LABELS[idx.numpy()]), [500, 500, 500])
    originals = idx[~flip]
    np.testing.assert_array_equal(np.sort(originals.numpy()), np.arange(len(LABELS)))  # each exactly once
    copies = LABELS[idx[flip].numpy()]
    np.testing.assert_array_equal(np.bincount(copies, minlength=3), [0, 480, 200])
    # copies spread evenly: each of class 1's 20 images is mirrored 24 times
    np.testing.assert_array_equal(np.bincount(idx[flip].numpy())[500:520], [24] * 20)


def test_mirror_balance_cap():
    idx, flip = get_strategy("mirror_balance", cap=400).epoch_indices(LABELS, 0, seed=0)
    np.testing.assert_array_equal(np.bincount(LABELS[idx.numpy()]), [500, 400, 400])
    assert not (LABELS[idx[flip].numpy()] == 0).any()


def test_samplers_ignore_absent_classes():
    labels = np.array([0] * 30 + [2] * 5)
    idx, _ = get_strategy("undersample").epoch_indices(labels, 0, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[idx.numpy()]), [5, 0, 5])
    idx, _ = get_strategy("mirror_balance").epoch_indices(labels, 0, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[idx.numpy()]), [30, 0, 30])


@pytest.mark.parametrize("name", strategy_names())
def test_epoch_indices_deterministic_per_seed_and_epoch(name):
    s = get_strategy(name)
    a, fa = s.epoch_indices(LABELS, 3, seed=7)
    b, fb = s.epoch_indices(LABELS, 3, seed=7)
    assert torch.equal(a, b)
    assert (fa is None and fb is None) or torch.equal(fa, fb)
    assert not torch.equal(a, s.epoch_indices(LABELS, 4, seed=7)[0])
    assert not torch.equal(a, s.epoch_indices(LABELS, 3, seed=8)[0])
    assert a.min() >= 0 and a.max() < len(LABELS)


def test_bad_epoch_or_labels_raise():
    s = get_strategy("none")
    with pytest.raises(ValueError, match="epoch"):
        s.epoch_indices(LABELS, -1, seed=0)
    with pytest.raises(ValueError, match="integers"):
        s.epoch_indices(LABELS.astype(float), 0, seed=0)


# ---------------------------------------------------------------- registry and options

def test_strategy_names():
    assert strategy_names() == ["none", "class_weights", "effective_number", "focal",
                                "oversample", "undersample", "mirror_balance"]


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        get_strategy("smote")
    assert "smote" in str(err.value) and "mirror_balance" in str(err.value) and "focal" in str(err.value)


@pytest.mark.parametrize("name, options, match", [
    ("focal", {"gamma": -1.0}, "gamma"),
    ("focal", {"alpha": "balanced"}, "class_weights"),
    ("focal", {"alpha": [1.0, -2.0]}, "alpha"),
    ("undersample", {"min_per_class": -1}, "min_per_class"),
    ("mirror_balance", {"cap": 0}, "cap"),
    ("class_weights", {"gamma": 2.0}, "does not take gamma"),
])
def test_invalid_options_raise(name, options, match):
    with pytest.raises(ValueError, match=match):
        get_strategy(name, **options)


def test_invalid_label_smoothing_raises():
    with pytest.raises(ValueError, match="label_smoothing"):
        get_strategy("none").loss(COUNTS, label_smoothing=1.0)


def test_none_options_keep_defaults():
    s = get_strategy("focal", gamma=None, alpha=None)
    assert s.focal_gamma == 2.0 and s.options["gamma"] == 2.0


def test_focal_loss_takes_soft_targets_and_one_hot_ones_match_hard_labels():
    torch.manual_seed(0)
    logits, hard = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, 0])
    one_hot = torch.nn.functional.one_hot(hard, 4).float()
    for alpha in (None, [1.0, 2.0, 0.5, 1.0]):
        loss = FocalLoss(2.0, alpha=alpha, label_smoothing=0.1)
        assert torch.allclose(loss(logits, hard), loss(logits, one_hot), atol=1e-6)
    soft = torch.full((6, 4), 0.25)
    assert not torch.allclose(FocalLoss(2.0)(logits, soft), FocalLoss(2.0)(logits, hard))
