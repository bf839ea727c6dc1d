"""Sharpness measure (matches OpenCV's) and the cap that blurs inputs down to the training level."""
from __future__ import annotations

import cv2
import numpy as np
import torch

import pytest

from fer_core.sharpness import (laplacian_variance, limit_sharpness, limit_sharpness_uint8, sharpness_of,
                                training_cap)


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


def test_the_uint8_cap_matches_the_torch_cap():
    sharp = _sharp_faces()
    already_blurry = np.stack([cv2.GaussianBlur(im, (0, 0), 3.0) for im in sharp])
    cap = float(sharpness_of(already_blurry).max()) * 1.5
    out = limit_sharpness_uint8(np.concatenate([sharp, already_blurry]), cap)
    assert out.dtype == np.uint8 and out.shape == (12, 48, 48)
    assert (sharpness_of(out) <= cap * 1.05).all()  # rounding to uint8 adds a little back
    assert np.array_equal(out[6:], already_blurry)  # untouched
    via_torch = limit_sharpness(torch.from_numpy(sharp).unsqueeze(1).float() / 255, cap)
    assert np.abs(out[:6].astype(float) - via_torch.squeeze(1).numpy() * 255).max() <= 1.0  # same blur


def test_training_cap_is_a_percentile_of_the_training_faces():
    faces = np.stack([cv2.GaussianBlur(im, (0, 0), s) for im, s in zip(_sharp_faces(5), (0.5, 1, 2, 3, 4))])
    assert training_cap(faces, 50) == pytest.approx(float(np.median(sharpness_of(faces))))
    with pytest.raises(ValueError, match="without training images"):
        training_cap(faces[:0])
