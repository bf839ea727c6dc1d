"""The sharpness measure (data quality) matches OpenCV's Laplacian variance."""
from __future__ import annotations

import cv2
import numpy as np

from fer_core.data.sharpness import sharpness_of


def _sharp_faces(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_sharpness_matches_opencv_laplacian_variance():
    images = _sharp_faces()
    blurred = np.stack([cv2.GaussianBlur(im, (0, 0), 2.0) for im in images])
    for batch in (images, blurred):
        expected = [cv2.Laplacian(im, cv2.CV_64F, borderType=cv2.BORDER_REFLECT_101).var() for im in batch]
        np.testing.assert_allclose(sharpness_of(batch), expected, rtol=1e-4)
    assert (sharpness_of(blurred) * 10 < sharpness_of(images)).all()
    assert sharpness_of(images[:0]).shape == (0,)
