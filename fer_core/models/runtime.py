"""Running a model: which device, bf16 autocast, and probabilities for uint8 faces with test-time views."""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from fer_core.transforms.config import AugmentConfig
from fer_core.transforms.eval import prepare_eval, tta_views

def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; otherwise the named device (checked to exist)."""
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            return torch.device(f"cuda:{local_rank}")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but MPS is not available; use --device cpu or auto")
    return device


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when asked (no loss scaling needed); a no-op elsewhere."""
    use = enabled and device.type == "cuda"
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=use)


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, aug: AugmentConfig, batch_size: int = 512,
                          tta: str = "none", mixed_precision: bool = True) -> torch.Tensor:
    """Softmax probabilities (N, C) for uint8 images (N,1,48,48), averaged over test-time views."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        views = tta_views(batch, aug, tta) if tta != "none" else prepare_eval(batch, aug).unsqueeze(0)
        v, b = views.shape[:2]
        flat = views.reshape(v * b, *views.shape[2:]).contiguous(memory_format=torch.channels_last)
        with autocast_for(device, mixed_precision):
            logits = model(flat).float()
        out.append(F.softmax(logits, dim=1).reshape(v, b, -1).mean(0))
    return torch.cat(out) if out else torch.empty(0)
