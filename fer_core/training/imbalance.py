"""Class-imbalance strategies: for each, a loss and a per-epoch sample order, chosen by name.

A strategy acts in two places:

* ``strategy.loss(class_counts, label_smoothing)`` gives the criterion,
  ``criterion(logits, targets) -> scalar`` (mean over the batch);
* ``strategy.epoch_indices(labels, epoch, seed)`` gives, for one epoch, a shuffled 1-D LongTensor of
  indices into the training set, plus for ``mirror_balance`` a matching bool tensor saying which of
  those samples to flip horizontally (``None`` for every other strategy).

The training loop keeps the whole training set as one uint8 tensor and draws batches by slicing
these indices, so the samplers are whole-epoch draws on a seeded CPU ``torch.Generator`` rather than
``torch.utils.data`` samplers; the same (seed, epoch) always gives the same order.

    strategy = get_strategy("focal", gamma=2.0, alpha="class_weights")
    criterion = strategy.loss(class_counts(train_labels, n_classes), label_smoothing=0.1, device=dev)
    for epoch in range(epochs):
        order, flip = strategy.epoch_indices(train_labels, epoch, seed)

Conventions:

* Class weights (``class_weights``, ``effective_number``, focal ``alpha`` by name) are normalised so
  that they average to 1 over the training *samples*: ``sum_c counts[c] * w[c] == counts.sum()``.
  For inverse frequency that is scikit-learn's "balanced" ``N / (K * n_c)``. Cui et al. normalise the
  mean over classes instead; mean-reduced losses divide by the summed weights, so only ratios matter.
* A class with zero training samples gets weight 0 (never inf), is left out of the normalisation
  (K counts present classes only) and is ignored by the samplers.
* Label smoothing (0 <= eps < 1) combines with every strategy: it is an argument of ``loss``.
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fer_core.common.registry import Registry, build

Sampler = Callable[[np.ndarray, torch.Generator], "tuple[torch.Tensor, torch.Tensor | None]"]
Weighting = Callable[[np.ndarray], np.ndarray]

STRATEGIES: Registry[Callable[..., "Strategy"]] = Registry("imbalance strategy")


# ---------------------------------------------------------------- argument checks

def _check_counts(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"class counts must be a non-empty 1-D array, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(f"class counts must be finite and >= 0, got {c.tolist()}")
    if c.sum() == 0:
        raise ValueError("class counts are all zero: there are no training samples")
    return c


def _check_labels(labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers (class indices), got dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"labels must be >= 0, got {int(y.min())}")
    return y.astype(np.int64, copy=False)


def _check_beta(beta: float) -> float:
    if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    return float(beta)


def _check_gamma(gamma: float) -> float:
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
    return float(gamma)


def _check_smoothing(eps: float) -> float:
    if not (isinstance(eps, (int, float)) and 0.0 <= eps < 1.0):
        raise ValueError(f"label_smoothing must be in [0, 1), got {eps!r}")
    return float(eps)


def _check_count_option(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- class weights

def class_counts(labels, num_classes: int) -> np.ndarray:
    """Samples per class, length `num_classes` (classes without samples count 0)."""
    y = _check_labels(labels)
    if y.max() >= num_classes:
        raise ValueError(f"label {int(y.max())} is out of range for {num_classes} classes")
    return np.bincount(y, minlength=num_classes)


def _normalise_over_samples(raw: np.ndarray, counts: np.ndarray) -> np.ndarray:
    w = np.where(counts > 0, raw, 0.0)
    return w * counts.sum() / (counts * w).sum()


def inverse_frequency_weights(counts) -> np.ndarray:
    """Per-class weights proportional to 1/count, averaging 1 over the samples (0 for absent classes)."""
    c = _check_counts(counts)
    raw = np.divide(1.0, c, out=np.zeros_like(c), where=c > 0)
    return _normalise_over_samples(raw, c)


def effective_number_weights(counts, beta: float = 0.999) -> np.ndarray:
    """Class-balanced weights of Cui et al. (2019): proportional to 1 / E_n with the effective
    number E_n = (1 - beta^n) / (1 - beta); averaging 1 over the samples, 0 for absent classes.
    beta = 0 gives equal weights, beta -> 1 approaches inverse frequency."""
    beta = _check_beta(beta)
    c = _check_counts(counts)
    effective = (1.0 - np.power(beta, c)) / (1.0 - beta)
    raw = np.divide(1.0, effective, out=np.zeros_like(c), where=c > 0)
    return _normalise_over_samples(raw, c)


# ---------------------------------------------------------------- losses

class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al. 2017): -alpha_t (1 - p_t)^gamma log p_t.

    With label smoothing eps the target distribution is (1 - eps) one-hot + eps / C, and the focal
    factor applies to each class term, so gamma = 0 gives exactly ``F.cross_entropy(weight=alpha,
    label_smoothing=eps)``. Like cross-entropy, reduction "mean" divides by the summed alpha of the
    targets (by the batch size without alpha); "sum" and "none" are also accepted.
    """

    def __init__(self, gamma: float = 2.0, alpha=None, label_smoothing: float = 0.0,
                 reduction: str = "mean"):
        super().__init__()
        self.gamma = _check_gamma(gamma)
        self.label_smoothing = _check_smoothing(label_smoothing)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction
        if alpha is not None:
            alpha = torch.as_tensor(alpha, dtype=torch.float32)
            if alpha.ndim != 1 or not torch.all(torch.isfinite(alpha)) or torch.any(alpha < 0):
                raise ValueError("alpha must be a 1-D sequence of finite per-class weights >= 0")
        self.register_buffer("alpha", alpha)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        n_classes = logits.shape[1]
        logp = F.log_softmax(logits.float(), dim=1)
        term = logp
        if self.gamma > 0:
            # 1 - p computed as -expm1(log p) for accuracy near p = 1; the clamp keeps the
            # gradient of x^gamma finite (gamma < 1) where p rounds to exactly 1.
            term = term * (-torch.expm1(logp)).clamp(min=1e-12).pow(self.gamma)
        if self.alpha is not None:
            if self.alpha.numel() != n_classes:
                raise ValueError(f"alpha has {self.alpha.numel()} weights for {n_classes} classes")
            term = term * self.alpha
        soft = targets.ndim == 2  # (N, C) class probabilities (FER+ vote distributions)
        loss = -(term * targets).sum(dim=1) if soft else -term.gather(1, targets[:, None]).squeeze(1)
        if self.label_smoothing > 0:
            eps = self.label_smoothing
            loss = (1.0 - eps) * loss - (eps / n_classes) * term.sum(dim=1)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        if self.alpha is not None:
            return loss.sum() / ((targets * self.alpha).sum() if soft else self.alpha[targets].sum())
        return loss.mean()


# ---------------------------------------------------------------- samplers

def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded from (seed, epoch); distinct epochs get unrelated streams."""
    for name, v in (("seed", seed), ("epoch", epoch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    hi, lo = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(hi) << 32) | int(lo))


def _grouped_by_class(labels: np.ndarray, g: torch.Generator):
    """Sample indices grouped by class, in random order within each class, with the class
    counts and each class's start in the grouped order."""
    counts = torch.as_tensor(np.bincount(labels))
    perm = torch.randperm(len(labels), generator=g)
    grouped = perm[torch.argsort(torch.as_tensor(labels)[perm], stable=True)]
    starts = torch.cumsum(counts, 0) - counts
    return grouped, counts, starts


def _shuffle(labels: np.ndarray, g: torch.Generator):
    return torch.randperm(len(labels), generator=g), None


def _oversample(labels: np.ndarray, g: torch.Generator):
    counts = np.bincount(labels)
    weights = torch.as_tensor(1.0 / counts[labels])  # every class carries the same total weight
    return torch.multinomial(weights, len(labels), replacement=True, generator=g), None


def _undersample(labels: np.ndarray, g: torch.Generator, min_per_class: int = 0):
    grouped, counts, starts = _grouped_by_class(labels, g)
    target = max(int(counts[counts > 0].min()), min_per_class)
    keep = counts.clamp(max=target)
    sorted_labels = torch.as_tensor(labels)[grouped]
    rank = torch.arange(len(labels)) - starts[sorted_labels]  # position within its class
    chosen = grouped[rank < keep[sorted_labels]]
    return chosen[torch.randperm(len(chosen), generator=g)], None


def _mirror_balance(labels: np.ndarray, g: torch.Generator, cap: int | None = None):
    grouped, counts, starts = _grouped_by_class(labels, g)
    target = int(counts.max()) if cap is None else min(int(counts.max()), cap)
    extra = torch.where(counts > 0, (target - counts).clamp(min=0), 0)
    copy_class = torch.repeat_interleave(torch.arange(len(counts)), extra)
    # The j-th copy of class c flips member j mod n_c (in this epoch's random order), so a class's
    # images are flipped equally often, give or take one, when copies exceed its size.
    j = torch.arange(len(copy_class)) - (torch.cumsum(extra, 0) - extra)[copy_class]
    copies = grouped[starts[copy_class] + j % counts[copy_class]]
    indices = torch.cat([torch.arange(len(labels)), copies])
    flip = torch.cat([torch.zeros(len(labels), dtype=torch.bool), torch.ones(len(copies), dtype=torch.bool)])
    order = torch.randperm(len(indices), generator=g)
    return indices[order], flip[order]


# ---------------------------------------------------------------- strategies

@dataclass(frozen=True)
class Strategy:
    """A named imbalance strategy: class weighting and/or focal loss, and a per-epoch sampler.

    `options` records the effective options (defaults included), e.g. for a run's config.
    """

    name: str
    description: str
    sampler: Sampler = field(default=_shuffle, repr=False)
    weighting: Weighting | None = field(default=None, repr=False)  # class counts -> per-class weights
    focal_gamma: float | None = None  # focal loss instead of cross-entropy when set
    options: dict = field(default_factory=dict)

    def class_weights(self, class_counts) -> np.ndarray | None:
        """The per-class loss weights for these training counts, or None when unweighted."""
        return None if self.weighting is None else self.weighting(np.asarray(class_counts))

    def loss(self, class_counts, label_smoothing: float = 0.0, device=None) -> nn.Module:
        """The criterion, ``criterion(logits, targets) -> scalar``, for these training class counts."""
        eps = _check_smoothing(label_smoothing)
        _check_counts(class_counts)
        w = self.class_weights(class_counts)
        weight = None if w is None else torch.as_tensor(w, dtype=torch.float32)
        if self.focal_gamma is None:
            criterion: nn.Module = nn.CrossEntropyLoss(weight=weight, label_smoothing=eps)
        else:
            criterion = FocalLoss(self.focal_gamma, alpha=weight, label_smoothing=eps)
        return criterion.to(device) if device is not None else criterion

    def epoch_indices(self, labels, epoch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This epoch's shuffled training indices (LongTensor, CPU) and per-index flip flags
        (BoolTensor, or None when the strategy never flips). Deterministic per (seed, epoch)."""
        return self.sampler(_check_labels(labels), epoch_generator(seed, epoch))


@STRATEGIES.register("none")
def _none() -> Strategy:
    return Strategy("none", "plain cross-entropy; every image once per epoch, shuffled")


@STRATEGIES.register("class_weights")
def _class_weights() -> Strategy:
    return Strategy("class_weights", "cross-entropy weighted by inverse class frequency",
                    weighting=inverse_frequency_weights)


@STRATEGIES.register("effective_number")
def _effective_number(beta: float = 0.999) -> Strategy:
    beta = _check_beta(beta)
    return Strategy("effective_number",
                    f"cross-entropy weighted by inverse effective number of samples (Cui et al. 2019, beta={beta})",
                    weighting=functools.partial(effective_number_weights, beta=beta), options={"beta": beta})


def _fixed_alpha(alpha: tuple[float, ...], counts: np.ndarray) -> np.ndarray:
    if len(alpha) != len(counts):
        raise ValueError(f"alpha has {len(alpha)} weights for {len(counts)} classes")
    return np.asarray(alpha, dtype=np.float64)


@STRATEGIES.register("focal")
def _focal(gamma: float = 2.0, alpha: str | Sequence[float] | None = None, beta: float = 0.999) -> Strategy:
    """alpha: None, "class_weights" (inverse frequency), "effective_number" (with `beta`), or
    explicit per-class weights used as given."""
    gamma, beta = _check_gamma(gamma), _check_beta(beta)
    named = {"class_weights": inverse_frequency_weights,
             "effective_number": functools.partial(effective_number_weights, beta=beta)}
    if alpha is None:
        weighting, shown = None, None
    elif isinstance(alpha, str):
        if alpha not in named:
            raise ValueError(f"unknown focal alpha {alpha!r}; valid: {', '.join(named)} or per-class weights")
        weighting, shown = named[alpha], alpha
    else:
        values = tuple(float(a) for a in alpha)
        if not values or not all(math.isfinite(a) and a >= 0 for a in values):
            raise ValueError(f"alpha weights must be finite and >= 0, got {list(alpha)}")
        weighting, shown = functools.partial(_fixed_alpha, values), list(values)
    return Strategy("focal", f"focal loss (gamma={gamma}" + (f", alpha={shown})" if shown else ")"),
                    weighting=weighting, focal_gamma=gamma,
                    options={"gamma": gamma, "alpha": shown, "beta": beta})


@STRATEGIES.register("oversample")
def _oversample_strategy() -> Strategy:
    return Strategy("oversample", "classes drawn about equally: N draws per epoch with replacement, "
                    "each sample weighted 1 / its class count", sampler=_oversample)


@STRATEGIES.register("undersample")
def _undersample_strategy(min_per_class: int = 0) -> Strategy:
    """Each epoch a fresh random subset: every class cut to max(minority count, min_per_class)
    images (classes smaller than that keep all of theirs); no image twice."""
    floor = _check_count_option("min_per_class", min_per_class, 0)
    return Strategy("undersample", "each epoch a random subset with every class cut to the minority count"
                    + (f" (at least {floor})" if floor else ""),
                    sampler=functools.partial(_undersample, min_per_class=floor), options={"min_per_class": floor})


@STRATEGIES.register("mirror_balance")
def _mirror_balance_strategy(cap: int | None = None) -> Strategy:
    """Every image once, plus horizontally flipped copies of smaller classes' own images until each
    class has min(majority count, cap) samples; classes above that keep all their images."""
    if cap is not None:
        cap = _check_count_option("cap", cap, 1)
    return Strategy("mirror_balance", "minority classes topped up with mirrored copies of their own images"
                    + (f" (up to {cap} per class)" if cap else " (up to the majority count)"),
                    sampler=functools.partial(_mirror_balance, cap=cap), options={"cap": cap})


def strategy_names() -> list[str]:
    """The registered strategy names, in registration order."""
    return STRATEGIES.names()


def get_strategy(name: str, **options) -> Strategy:
    """Build a strategy by name; options set to None keep their defaults.

    Unknown names raise UnknownNameError (listing valid names); options the strategy does not
    take, or invalid values (gamma < 0, beta outside [0, 1), ...), raise ValueError.
    """
    builder = STRATEGIES.get(name)
    accepted = list(inspect.signature(builder).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "no options"
        raise ValueError(f"strategy {name!r} does not take {', '.join(unknown)}; it takes: {valid}")
    return build(STRATEGIES, name, **options)
