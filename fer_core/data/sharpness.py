"""Image sharpness: the variance of the Laplacian, on the 0-255 scale of OpenCV's usual blur measure.

Data quality reports it per split (`data quality`, the Dataset page): splits that differ a lot in
sharpness hold different kinds of image, and a model trained on one sees something else in the other.
"""
from __future__ import annotations

import numpy as np


def sharpness_of(images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Sharpness of uint8 images (N,H,W), as float64 (N,): cv2.Laplacian(image, ksize=1).var() with
    reflected borders, computed in numpy for whole batches."""
    out = []
    for start in range(0, len(images), batch_size):
        p = np.pad(images[start:start + batch_size].astype(np.float32), ((0, 0), (1, 1), (1, 1)), mode="reflect")
        lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * p[:, 1:-1, 1:-1]
        out.append(lap.reshape(len(lap), -1).var(axis=1, dtype=np.float64))
    return np.concatenate(out) if out else np.empty(0)
