"""Eval preprocessing (`prepare_eval`) and test-time views (`tta_views`): center crop when training
cropped, resize, normalise."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fer_core.transforms.config import TTA_MODES, AugmentConfig
from fer_core.transforms.ops import center_crop, check_crop, load_unit, normalise, resize

# flip_shift: each face and its mirror, as they are and moved by this many input pixels diagonally each way.
TTA_SHIFT = 1


# ten_crop without a training crop size takes crops of this fraction of the image (42 of 48):
# a zoom the default scale range already covers in training.
TEN_CROP_FRACTION = 0.875


def prepare_eval(batch: torch.Tensor, cfg: AugmentConfig, device=None) -> torch.Tensor:
    """Eval preprocessing: center crop (if training cropped), resize to cfg.input_size, normalise.
    Returns float32 (B,1,S,S) on `device` (default: the batch's)."""
    x = load_unit(batch, cfg, device)
    x = center_crop(x, check_crop(cfg, x.shape[-1]))
    return normalise(resize(x, cfg.input_size), cfg)


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
    x = load_unit(batch, cfg, device)
    size = x.shape[-1]
    crop = check_crop(cfg, size) if cfg.crop_size else round(TEN_CROP_FRACTION * size)
    far, mid = size - crop, (size - crop) // 2
    corners = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    views = [normalise(resize(x[..., t:t + crop, l:l + crop], cfg.input_size), cfg) for t, l in corners]
    return torch.stack(views + [v.flip(-1) for v in views])
