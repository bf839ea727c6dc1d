"""Sharpness measure (matches OpenCV's) and the cap that blurs inputs down to the training level."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from fer_core.sharpness import laplacian_variance, limit_sharpness, sharpness_of


def _sharp_faces(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_sharpness_matches_opencv_laplacian_variance():
    images = _sharp_faces()
    blurred = np.stack([cv2.GaussianBlur(im, (0, 0), 2.0) for im in images])
    for batch in (images, blurred):
        expected = [cv2.Laplacian(im, cv2.CV_64F, borderType=cv2.BORDER_REFLECT_101).var() for im in batch]
        np.testing.assert_allclose(sharpness_of(batch), expected, rtol=1e-4)


def test_limit_sharpness_caps_sharp_images_and_leaves_blurry_ones_alone():
    sharp = torch.from_numpy(_sharp_faces()).unsqueeze(1).float() / 255
    already_blurry = torch.from_numpy(np.stack([cv2.GaussianBlur(im, (0, 0), 3.0) for im in _sharp_faces()]))
    already_blurry = already_blurry.unsqueeze(1).float() / 255
    cap = float(laplacian_variance(already_blurry).max()) * 1.5
    out = limit_sharpness(torch.cat([sharp, already_blurry]), cap)
    assert (laplacian_variance(out) <= cap).all()
    assert torch.equal(out[6:], already_blurry)  # untouched
    assert not torch.equal(out[:6], sharp)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.cat([sharp, already_blurry]).mean(dim=(1, 2, 3)), atol=0.01)
