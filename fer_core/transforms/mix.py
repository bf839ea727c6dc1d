"""Mixup and CutMix of whole training batches on the training device, for any criterion.

``BatchMixer(mixup_alpha, cutmix_alpha, prob, seed)(x, y)`` returns ``MixedBatch(x, y_a, y_b, lam)``:
each image is blended with (mixup, Zhang et al. 2018) or has a box pasted from (CutMix, Yun et al.
2019) its partner in the reversed batch, and the loss is ``lam * crit(out, y_a) + (1 - lam) *
crit(out, y_b)`` (`MixedBatch.loss`). That form keeps hard class indices, so it works with every
criterion the imbalance strategies build (class-weighted cross-entropy, focal loss, label smoothing)
and leaves the samplers untouched; for cross-entropy it equals the loss on mixed one-hot targets.
timm's ``Mixup`` was not used: it returns soft targets for its own soft-target loss (no class weights,
no focal), needs an even batch size (a last batch may be odd) and draws from numpy's global RNG.

Both alphas set: each mixed batch is CutMix or mixup with equal chance (as timm). ``lam`` is drawn
once per batch from Beta(alpha, alpha) by a numpy generator seeded per mixer, so a run with the same
seed mixes the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class MixedBatch:
    """A batch after mixing: inputs, the two label sets and the weight of the first."""

    x: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float

    def loss(self, criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             logits: torch.Tensor) -> torch.Tensor:
        if self.lam >= 1.0:
            return criterion(logits, self.y_a)
        return self.lam * criterion(logits, self.y_a) + (1.0 - self.lam) * criterion(logits, self.y_b)

    def correct(self, logits: torch.Tensor) -> torch.Tensor:
        """Predictions right, weighted by the share of each label (a plain count when unmixed); soft
        targets (N, C) count their top class."""
        predicted = logits.argmax(1)
        y_a, y_b = (y.argmax(1) if y.ndim == 2 else y for y in (self.y_a, self.y_b))
        if self.lam >= 1.0:
            return (predicted == y_a).sum().float()
        right_a, right_b = (predicted == y_a).sum().float(), (predicted == y_b).sum().float()
        return self.lam * right_a + (1.0 - self.lam) * right_b


def check_mix_options(mixup_alpha: float, cutmix_alpha: float, prob: float) -> None:
    """Raise ValueError naming the first invalid mixing option."""
    for name, alpha in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
        if not (alpha >= 0 and np.isfinite(alpha)):
            raise ValueError(f"{name} must be a number >= 0 (0 = off; about 0.2-1.0 is usual), got {alpha}")
    if not 0 <= prob <= 1:
        raise ValueError(f"mix_prob (the share of batches mixed) must be in [0, 1], got {prob}")


class BatchMixer:
    """Mixup and/or CutMix of (B,C,H,W) batches; `enabled` is False when both alphas are 0."""

    def __init__(self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0, seed: int = 0):
        check_mix_options(mixup_alpha, cutmix_alpha, prob)
        self.mixup_alpha, self.cutmix_alpha, self.prob = float(mixup_alpha), float(cutmix_alpha), float(prob)
        self.rng = np.random.default_rng(seed)

    @property
    def enabled(self) -> bool:
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def state_dict(self) -> dict:
        """Its generator's state (plain values), to continue the same random stream later (a resumed run)."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> MixedBatch:
        if not self.enabled or len(x) < 2 or self.rng.random() >= self.prob:
            return MixedBatch(x, y, y, 1.0)
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or self.rng.random() < 0.5)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(self.rng.beta(alpha, alpha))
        partner = x.flip(0)  # the batch order is already random: pairing with the reversed batch suffices
        if use_cutmix:
            x, lam = self._cutmix(x, partner, lam)
        else:
            x = x * lam + partner * (1.0 - lam)
        return MixedBatch(x, y, y.flip(0), lam)

    def _cutmix(self, x: torch.Tensor, partner: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        """Paste a box of about (1 - lam) of the area from the partner; lam becomes the area kept."""
        h, w = x.shape[-2:]
        ratio = np.sqrt(1.0 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        cy, cx = int(self.rng.integers(h)), int(self.rng.integers(w))
        y0, y1 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, h)
        x0, x1 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = partner[..., y0:y1, x0:x1]
        return x, 1.0 - float((y1 - y0) * (x1 - x0)) / (h * w)
