"""A saliency map laid over its face, for display."""
from __future__ import annotations

import numbers

import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

from fer_core.common.faces_array import IMAGE_SIZE


def overlay(face: np.ndarray, heatmap: np.ndarray, size: int = 192, alpha: float = 0.5) -> np.ndarray:
    """The face (uint8 (48, 48)) upscaled smoothly to `size` with the heatmap ((48, 48) in [0, 1])
    laid over it in the jet colour map; `alpha` is the heatmap's weight. RGB uint8 (size, size, 3)."""
    import cv2
    face = np.asarray(face)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if face.dtype != np.uint8 or face.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"face must be uint8 ({IMAGE_SIZE}, {IMAGE_SIZE}), got {face.dtype} {face.shape}")
    if heatmap.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"heatmap must be ({IMAGE_SIZE}, {IMAGE_SIZE}), got {heatmap.shape}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 16 <= size <= 4096:
        raise ValueError(f"size must be an integer from 16 to 4096 pixels, got {size!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    rgb = np.repeat(big[:, :, None], 3, axis=2)
    heat = cv2.resize(np.nan_to_num(heatmap).clip(0, 1), (size, size), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(rgb, heat.clip(0, 1), use_rgb=True, image_weight=1.0 - float(alpha))
