"""Batch-wise augmentation on the training device, and the matching eval / test-time preprocessing.

Everything works on a whole batch at once on whatever device it lives on, never image by image:
input (B,1,H,W) or (B,H,W), uint8 (0..255) or float already scaled to [0,1]; square images.
Output float32 (B,1,S,S) with S = cfg.input_size, normalised as (x - mean) / std.

Training (`BatchAugmenter`), in order:
1. geometry in a single affine sampling grid + ``F.grid_sample``: horizontal flip, rotation, shift,
   zoom and (with ``crop_size``) a random crop, each drawn per sample; the same resampling resizes
   to the model's input size;
2. brightness / contrast jitter on [0,1] pixels, then clamping to [0,1];
3. normalisation;
4. random erasing: a rectangle per chosen sample set to 0, i.e. to the normalisation mean.

Evaluation (`prepare_eval`) only center-crops (when training cropped), resizes and normalises;
`tta_views` stacks test-time views of it. Random parameters come from a ``torch.Generator`` on the
batch's device seeded once per augmenter, so a run with the same seed sees the same augmentations.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import TTA_MODES

PADDING_MODES = ("reflection", "border", "zeros")
# flip_shift: each face and its mirror, as they are and moved by this many input pixels diagonally each way.
TTA_SHIFT = 1
# Models made before 2026-11-26 could blur their inputs to a "sharpness cap" learnt from blurred training
# faces (a copy of FER2013 whose train images were blurred). On the real data it made no measurable
# difference on val (fer2013-cpu, seed 0: 63.1% with it, 62.6% without; paired McNemar p = 0.46), so it was
# removed; such models expect blurred inputs and are refused rather than fed sharp ones.
RETIRED_SHARPNESS_CAP = ("this model was trained with the sharpness cap (blurred inputs), which was removed on "
                         "2026-11-26 with the blurred copy of FER2013 it was made for; train the run again")
# ten_crop without a training crop size takes crops of this fraction of the image (42 of 48):
# a zoom the default scale range already covers in training.
TEN_CROP_FRACTION = 0.875


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


# ---------------------------------------------------------------- shared steps

def _to_unit_float(batch: torch.Tensor, device=None) -> torch.Tensor:
    """(B,1,H,W) float32 in [0,1] on `device` (default: the batch's own), from uint8 or float."""
    if not isinstance(batch, torch.Tensor):
        raise ValueError(f"batch must be a torch.Tensor, got {type(batch).__name__}")
    if batch.ndim == 3:
        batch = batch.unsqueeze(1)
    if batch.ndim != 4 or batch.shape[1] != 1 or batch.shape[2] != batch.shape[3]:
        raise ValueError(f"batch must be (B,1,H,W) or (B,H,W) with square images, got {tuple(batch.shape)}")
    if device is not None:
        batch = batch.to(device, non_blocking=True)  # move while still uint8: 4x less to copy
    if batch.dtype == torch.uint8:
        return batch.float().div_(255.0)
    if batch.is_floating_point():
        return batch.float()
    raise ValueError(f"batch must be uint8 or floating point, got {batch.dtype}")


def _check_crop(cfg: AugmentConfig, size: int) -> int:
    crop = cfg.crop_size or size
    if crop > size:
        raise ValueError(f"crop_size {crop} is larger than the {size}x{size} images")
    return crop


def _center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    top = (x.shape[-1] - crop) // 2
    return x[..., top:top + crop, top:top + crop]


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """Same result as F.affine_grid(theta, [n, 1, size, size], align_corners=False), computed by
    broadcasting: on CPU the batched matrix product inside affine_grid is a third of augmentation time."""
    coords = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    gx, gy = coords.view(1, 1, size), coords.view(1, size, 1)
    t = theta.view(-1, 6, 1, 1)
    x = t[:, 0] * gx + t[:, 1] * gy + t[:, 2]
    y = t[:, 3] * gx + t[:, 4] * gy + t[:, 5]
    return torch.stack((x, y), dim=-1)


def _normalise(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    if cfg.per_image_norm:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + 1e-3)  # the epsilon keeps blank images finite
    return (x - cfg.mean) / cfg.std


def _load(batch: torch.Tensor, cfg: AugmentConfig, device=None) -> torch.Tensor:
    """Unit-float images on the device (the first step of every path)."""
    return _to_unit_float(batch, device)


# ---------------------------------------------------------------- training

class BatchAugmenter:
    """Random augmentation of whole batches: ``augmenter(batch, force_flip=None) -> (B,1,S,S)``.

    `force_flip` (B,) bool flips those samples whatever the random flip says (and even with
    ``cfg.flip`` off): the mirrored copies of ``imbalance``'s mirror_balance. `device`: where to
    augment (the batch is moved there first, as uint8); None augments where the batch is.
    """

    def __init__(self, cfg: AugmentConfig | None = None, seed: int = 0, device=None):
        self.cfg = cfg if cfg is not None else AugmentConfig()
        self.seed = int(seed)
        self.device = torch.device(device) if device is not None else None
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def __call__(self, batch: torch.Tensor, force_flip: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        x = _load(batch, cfg, self.device)
        n, size = x.shape[0], cfg.input_size
        g = self._generator(x.device)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=g, device=x.device)

        theta = self._affine(n, x.shape[-1], uniform, force_flip, x.device)
        grid = _affine_grid(theta, size)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=cfg.padding, align_corners=False)

        if cfg.brightness > 0:
            x = x * uniform(1 - cfg.brightness, 1 + cfg.brightness).view(n, 1, 1, 1)
        if cfg.contrast > 0:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * uniform(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1) + mean
        x = _normalise(x.clamp(0.0, 1.0), cfg)
        if cfg.erase_p > 0:
            x = x.masked_fill(self._erase_mask(n, size, uniform), 0.0)
        return x

    def _affine(self, n: int, image_size: int, uniform, force_flip, device) -> torch.Tensor:
        """Per-sample (n,2,3) matrices mapping output coordinates to input coordinates
        (normalised to [-1,1]): flip, then rotate / zoom / shift, inside the (random) crop window."""
        cfg = self.cfg
        flip = uniform(0.0, 1.0) < (cfg.flip_p if cfg.flip else 0.0)
        if force_flip is not None:
            force_flip = torch.as_tensor(force_flip, device=device).bool()
            if force_flip.shape != (n,):
                raise ValueError(f"force_flip must have shape ({n},), got {tuple(force_flip.shape)}")
            flip = flip | force_flip
        angle = uniform(-cfg.rotate_degrees, cfg.rotate_degrees) * (math.pi / 180.0)
        inv_zoom = 1.0 / uniform(*cfg.scale)
        shift_x, shift_y = (2.0 * uniform(-cfg.shift, cfg.shift) for _ in range(2))
        crop = _check_crop(cfg, image_size) / image_size  # crop window, as a fraction of the image
        center_x, center_y = (uniform(crop - 1.0, 1.0 - crop) for _ in range(2))

        cos, sin = torch.cos(angle), torch.sin(angle)
        sign = 1.0 - 2.0 * flip.float()  # -1 mirrors x
        theta = torch.stack([
            torch.stack([crop * inv_zoom * cos * sign, -crop * inv_zoom * sin, center_x - crop * shift_x], dim=1),
            torch.stack([crop * inv_zoom * sin * sign, crop * inv_zoom * cos, center_y - crop * shift_y], dim=1),
        ], dim=1)
        return theta

    def _erase_mask(self, n: int, size: int, uniform) -> torch.Tensor:
        """(n,1,size,size) bool: one rectangle for each sample chosen with probability erase_p."""
        cfg = self.cfg
        chosen = uniform(0.0, 1.0) < cfg.erase_p
        area = uniform(*cfg.erase_area) * size * size
        ratio = torch.exp(uniform(math.log(cfg.erase_ratio[0]), math.log(cfg.erase_ratio[1])))
        h = torch.sqrt(area * ratio).round().clamp(1, size)
        w = torch.sqrt(area / ratio).round().clamp(1, size)
        top = (uniform(0.0, 1.0) * (size - h + 1)).floor()
        left = (uniform(0.0, 1.0) * (size - w + 1)).floor()
        pos = torch.arange(size, device=h.device).float()
        rows = (pos >= top[:, None]) & (pos < (top + h)[:, None]) & chosen[:, None]  # (n, size)
        cols = (pos >= left[:, None]) & (pos < (left + w)[:, None])
        return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1)


# ---------------------------------------------------------------- evaluation

def prepare_eval(batch: torch.Tensor, cfg: AugmentConfig, device=None) -> torch.Tensor:
    """Eval preprocessing: center crop (if training cropped), resize to cfg.input_size, normalise.
    Returns float32 (B,1,S,S) on `device` (default: the batch's)."""
    x = _load(batch, cfg, device)
    x = _center_crop(x, _check_crop(cfg, x.shape[-1]))
    return _normalise(_resize(x, cfg.input_size), cfg)


def tta_views(batch: torch.Tensor, cfg: AugmentConfig, mode: str = "flip", device=None) -> torch.Tensor:
    """Test-time views, (V,B,1,S,S): "none" V=1 (prepare_eval), "flip" V=2 (plus its mirror),
    "flip_shift" V=6 (those two, and both moved TTA_SHIFT pixels up-left and down-right, borders
    reflected: airbench's test-time views), "ten_crop" V=10 (corner crops top-left, top-right, bottom-left, bottom-right, then center,
    followed by the mirrors of those five, like torchvision's TenCrop). ten_crop's crop is
    cfg.crop_size, or TEN_CROP_FRACTION of the image when training used no crops."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation mode {mode!r}; valid: {', '.join(TTA_MODES)}")
    if mode == "none":
        return prepare_eval(batch, cfg, device).unsqueeze(0)
    if mode in ("flip", "flip_shift"):
        view = prepare_eval(batch, cfg, device)
        views = [view]
        if mode == "flip_shift":
            size, k = view.shape[-1], TTA_SHIFT
            padded = F.pad(view, (k, k, k, k), mode="reflect")
            views += [padded[..., k + d:k + d + size, k + d:k + d + size] for d in (-k, k)]
        return torch.stack(views + [v.flip(-1) for v in views])
    x = _load(batch, cfg, device)
    size = x.shape[-1]
    crop = _check_crop(cfg, size) if cfg.crop_size else round(TEN_CROP_FRACTION * size)
    far, mid = size - crop, (size - crop) // 2
    corners = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    views = [_normalise(_resize(x[..., t:t + crop, l:l + crop], cfg.input_size), cfg) for t, l in corners]
    return torch.stack(views + [v.flip(-1) for v in views])
