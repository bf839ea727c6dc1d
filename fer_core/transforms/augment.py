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

Evaluation (eval.py's `prepare_eval`) only center-crops (when training cropped), resizes and normalises;
`tta_views` stacks test-time views of it. Random parameters come from a ``torch.Generator`` on the
batch's device seeded once per augmenter, so a run with the same seed sees the same augmentations.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_core.transforms.config import AugmentConfig
from fer_core.transforms.ops import affine_grid, check_crop, load_unit, normalise

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

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Its generators' states by device, to continue the same random stream later (a resumed run)."""
        return {str(device): g.get_state() for device, g in self._generators.items()}

    def load_state_dict(self, states: dict[str, torch.Tensor]) -> None:
        for device, state in states.items():
            self._generator(torch.device(device)).set_state(state)

    def __call__(self, batch: torch.Tensor, force_flip: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        x = load_unit(batch, cfg, self.device)
        n, size = x.shape[0], cfg.input_size
        g = self._generator(x.device)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=g, device=x.device)

        theta = self._affine(n, x.shape[-1], uniform, force_flip, x.device)
        grid = affine_grid(theta, size)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=cfg.padding, align_corners=False)

        if cfg.brightness > 0:
            x = x * uniform(1 - cfg.brightness, 1 + cfg.brightness).view(n, 1, 1, 1)
        if cfg.contrast > 0:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * uniform(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1) + mean
        x = normalise(x.clamp(0.0, 1.0), cfg)
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
        crop = check_crop(cfg, image_size) / image_size  # crop window, as a fraction of the image
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
