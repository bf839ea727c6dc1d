"""The tensor steps training augmentation and eval preprocessing share, on whole batches on any device."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fer_core.transforms.config import AugmentConfig

def to_unit_float(batch: torch.Tensor, device=None) -> torch.Tensor:
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


def check_crop(cfg: AugmentConfig, size: int) -> int:
    crop = cfg.crop_size or size
    if crop > size:
        raise ValueError(f"crop_size {crop} is larger than the {size}x{size} images")
    return crop


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    top = (x.shape[-1] - crop) // 2
    return x[..., top:top + crop, top:top + crop]


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """Same result as F.affine_grid(theta, [n, 1, size, size], align_corners=False), computed by
    broadcasting: on CPU the batched matrix product inside affine_grid is a third of augmentation time."""
    coords = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    gx, gy = coords.view(1, 1, size), coords.view(1, size, 1)
    t = theta.view(-1, 6, 1, 1)
    x = t[:, 0] * gx + t[:, 1] * gy + t[:, 2]
    y = t[:, 3] * gx + t[:, 4] * gy + t[:, 5]
    return torch.stack((x, y), dim=-1)


def normalise(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    if cfg.per_image_norm:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + 1e-3)  # the epsilon keeps blank images finite
    return (x - cfg.mean) / cfg.std


def load_unit(batch: torch.Tensor, cfg: AugmentConfig, device=None) -> torch.Tensor:
    """Unit-float images on the device (the first step of every path)."""
    return to_unit_float(batch, device)
