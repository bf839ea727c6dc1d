"""Image sharpness (variance of the Laplacian) and a low-pass that caps it.

Why: a dataset's splits can differ in sharpness (the shared FER2013 zip's train images are heavily
blurred while its test images are sharp), and photos from a webcam are sharper than any 48x48
training face. A model only sees the sharpness it was trained on if every input sharper than the
training images is blurred down to their level first. The cap comes from the training split alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where batches are processed, so the data layer stays light
    import torch

# The 3x3 Laplacian of OpenCV's cv2.Laplacian(ksize=1), so numbers match the usual blur measure.
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
# Gaussian blur strengths tried, weakest first (pixels at 48x48).
SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
# Inputs sharper than this share of the training faces are blurred down to their level.
TRAIN_PERCENTILE = 95


def training_cap(train_images: np.ndarray, percentile: float = TRAIN_PERCENTILE) -> float:
    """The sharpness cap for a model: the given percentile of its training faces' sharpness."""
    if len(train_images) == 0:
        raise ValueError("cannot compute a sharpness cap without training images")
    return float(np.percentile(sharpness_of(train_images), percentile))


def laplacian_variance(x: "torch.Tensor") -> "torch.Tensor":
    """(B,) sharpness of (B,1,H,W) images in [0,1], on the 0-255 scale of cv2.Laplacian(...).var()."""
    import torch
    import torch.nn.functional as F
    kernel = torch.tensor(_LAPLACIAN, device=x.device, dtype=x.dtype).view(1, 1, 3, 3)
    lap = F.conv2d(F.pad(x * 255.0, (1, 1, 1, 1), mode="reflect"), kernel)
    return lap.flatten(1).var(dim=1, unbiased=False)


def sharpness_of(images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Sharpness of uint8 images (N,H,W), as float64 (N,) (numpy only)."""
    out = []
    for start in range(0, len(images), batch_size):
        p = np.pad(images[start:start + batch_size].astype(np.float32), ((0, 0), (1, 1), (1, 1)), mode="reflect")
        lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * p[:, 1:-1, 1:-1]
        out.append(lap.reshape(len(lap), -1).var(axis=1, dtype=np.float64))
    return np.concatenate(out) if out else np.empty(0)


def limit_sharpness_uint8(images: np.ndarray, max_variance: float) -> np.ndarray:
    """The numpy twin of `limit_sharpness` for uint8 faces (N,H,W): each face sharper than
    `max_variance` gets the weakest Gaussian blur (same sigmas, reflected borders) that brings it
    under the cap, rounded back to uint8. Faces already there are returned unchanged."""
    import cv2
    out = np.array(images, copy=True)
    for i in np.flatnonzero(sharpness_of(images) > max_variance):
        face = images[i].astype(np.float32)
        for sigma in SIGMAS:
            radius = min(max(1, int(round(3 * sigma))), face.shape[-1] - 1)
            blurred = np.clip(np.rint(cv2.GaussianBlur(face, (2 * radius + 1, 2 * radius + 1), sigma,
                                                      borderType=cv2.BORDER_REFLECT_101)), 0, 255).astype(np.uint8)
            if sharpness_of(blurred[None])[0] <= max_variance:
                break
        out[i] = blurred  # the strongest blur tried when none reached the cap
    return out


def _gaussian_blur(x: "torch.Tensor", sigma: float) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F
    radius = max(1, int(round(3 * sigma)))
    radius = min(radius, x.shape[-1] - 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


def limit_sharpness(x: "torch.Tensor", max_variance: float) -> "torch.Tensor":
    """Blur each image of (B,1,H,W) in [0,1] with the weakest Gaussian that brings its sharpness to
    at most `max_variance` (the strongest one tried if none does); images already there are untouched."""
    sharp = laplacian_variance(x) > max_variance
    if not bool(sharp.any()):
        return x
    import torch
    todo = x[sharp]
    result = todo.clone()
    pending = torch.ones(len(todo), dtype=torch.bool, device=x.device)
    for sigma in SIGMAS:
        blurred = _gaussian_blur(todo, sigma)
        done_now = pending & (laplacian_variance(blurred) <= max_variance)
        last = sigma == SIGMAS[-1]
        take = pending if last else done_now
        result[take] = blurred[take]
        pending &= ~take
        if not bool(pending.any()):
            break
    out = x.clone()
    out[sharp] = result
    return out
