"""AugmentConfig: a run's augmentation and eval preprocessing, saved in its model card; and the presets."""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

PADDING_MODES = ("reflection", "border", "zeros")
TTA_MODES = ("none", "flip", "flip_shift", "ten_crop")  # test-time views, see transforms/eval.py tta_views


# Models made before 2026-11-26 could blur their inputs to a "sharpness cap" learnt from blurred training
# faces (a copy of FER2013 whose train images were blurred). On the real data it made no measurable
# difference on val (fer2013-cpu, seed 0: 63.1% with it, 62.6% without; paired McNemar p = 0.46), so it was
# removed; such models expect blurred inputs and are refused rather than fed sharp ones.
RETIRED_SHARPNESS_CAP = ("this model was trained with the sharpness cap (blurred inputs), which was removed on "
                         "2026-11-26 with the blurred copy of FER2013 it was made for; train the run again")


def _check_range(name: str, pair, low: float, high: float) -> tuple[float, float]:
    lo, hi = (float(v) for v in pair)
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{name} must be a (low, high) pair with {low} <= low <= high <= {high}, got {tuple(pair)}")
    return lo, hi


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation and preprocessing settings; also what eval needs (sizes, normalisation)."""

    flip: bool = True  # random horizontal flip with probability flip_p
    flip_p: float = 0.5
    rotate_degrees: float = 10.0  # uniform in +/- this
    shift: float = 0.1  # uniform in +/- this fraction of the image, in x and y independently
    scale: tuple[float, float] = (0.85, 1.15)  # zoom factor range; > 1 zooms in
    erase_p: float = 0.25  # probability that a sample gets one erased rectangle
    erase_area: tuple[float, float] = (0.02, 0.15)  # rectangle area as a fraction of the output image
    erase_ratio: tuple[float, float] = (0.3, 3.3)  # rectangle aspect ratio, drawn log-uniformly
    brightness: float = 0.2  # pixel values multiplied by a factor in 1 +/- this
    contrast: float = 0.2  # distance from the image's mean scaled by a factor in 1 +/- this
    input_size: int = 48  # the model's input size: 48 native, or upscaled (96, 112, ...)
    crop_size: int | None = None  # e.g. 40: train on random crops of 40, eval on the center crop
    mean: float = 0.5  # normalisation of pixels scaled to [0,1]
    std: float = 0.25
    # Out-of-image pixels after rotation/shift. "zeros" also darkens the border when upscaling,
    # which eval (plain resizing) does not do; the other two match eval exactly.
    padding: str = "reflection"
    # Standardise each image by its own mean and std (robust to lighting and contrast) instead of
    # the fixed mean/std above.
    per_image_norm: bool = False

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        for name in ("flip_p", "erase_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name, high in (("rotate_degrees", 180.0), ("shift", 0.5), ("brightness", 0.99), ("contrast", 0.99)):
            if not 0.0 <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be in [0, {high}], got {getattr(self, name)!r}")
        set_("scale", _check_range("scale", self.scale, 0.1, 10.0))
        set_("erase_area", _check_range("erase_area", self.erase_area, 1e-6, 1.0))
        set_("erase_ratio", _check_range("erase_ratio", self.erase_ratio, 1e-3, 1e3))
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, numbers.Integral) or self.input_size < 8:
            raise ValueError(f"input_size must be an integer >= 8, got {self.input_size!r}")
        if self.crop_size is not None and (
                isinstance(self.crop_size, bool) or not isinstance(self.crop_size, numbers.Integral) or self.crop_size < 8):
            raise ValueError(f"crop_size must be None or an integer >= 8, got {self.crop_size!r}")
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std!r}")
        if self.padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {self.padding!r}; valid: {', '.join(PADDING_MODES)}")

    def to_dict(self) -> dict:
        """Plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        """The inverse of `to_dict`; unknown keys raise ValueError."""
        d = dict(d)
        if d.pop("max_sharpness", None) is not None:
            raise ValueError(RETIRED_SHARPNESS_CAP)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown augmentation settings {unknown}; valid: {', '.join(sorted(known))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(flip=False, rotate_degrees=0.0, shift=0.0, scale=(1.0, 1.0), erase_p=0.0,
                          brightness=0.0, contrast=0.0),
    "light": AugmentConfig(rotate_degrees=5.0, shift=0.05, scale=(0.95, 1.05), erase_p=0.0,
                           brightness=0.1, contrast=0.1),
    "standard": AugmentConfig(),
    "strong": AugmentConfig(rotate_degrees=15.0, shift=0.15, scale=(0.8, 1.2), erase_p=0.5,
                            erase_area=(0.02, 0.25), brightness=0.3, contrast=0.3),
}


def augment_config(preset: str = "standard", **overrides) -> AugmentConfig:
    """A preset with some settings replaced, e.g. ``augment_config("strong", input_size=96)``."""
    if preset not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; valid: {', '.join(AUGMENT_PRESETS)}")
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown augmentation settings {unknown}; valid: {', '.join(sorted(known))}")
    return dataclasses.replace(AUGMENT_PRESETS[preset], **overrides)
