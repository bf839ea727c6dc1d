import dataclasses

import pytest
import torch

from fer_core.transforms.augment import BatchAugmenter
from fer_core.transforms.config import AUGMENT_PRESETS, AugmentConfig, augment_config
from fer_core.transforms.eval import prepare_eval, tta_views
from fer_core.transforms.eval import TTA_MODES

OFF = AUGMENT_PRESETS["none"]


def _faces(n=8, size=48, seed=0):
    return torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _ramp(n=4, size=48):
    """Float images linear in both directions: value = col / 96 + row / 192 (inside [0,1])."""
    r = torch.arange(size, dtype=torch.float32)
    return (r[None, :] / 96 + r[:, None] / 192).expand(n, 1, size, size).contiguous()


def _unnormalise(x, cfg):
    return x * cfg.std + cfg.mean


@pytest.mark.parametrize("preset", list(AUGMENT_PRESETS))
def test_output_shape_dtype_range(preset):
    cfg = AUGMENT_PRESETS[preset]
    out = BatchAugmenter(cfg, seed=0)(_faces(16))
    assert out.shape == (16, 1, 48, 48) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    lo, hi = (0 - cfg.mean) / cfg.std, (1 - cfg.mean) / cfg.std
    assert out.min() >= lo - 1e-6 and out.max() <= hi + 1e-6


def test_accepts_float_and_unbatched_channel_inputs():
    faces = _faces()
    aug = lambda x: BatchAugmenter(OFF)(x)  # noqa: E731
    torch.testing.assert_close(aug(faces.float() / 255), aug(faces))
    torch.testing.assert_close(aug(faces[:, 0]), aug(faces))
    with pytest.raises(ValueError, match="square"):
        aug(torch.zeros(2, 1, 48, 40, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8 or floating"):
        aug(torch.zeros(2, 1, 48, 48, dtype=torch.int32))


@pytest.mark.parametrize("input_size", [48, 96])
def test_all_ops_off_equals_prepare_eval(input_size):
    cfg = dataclasses.replace(OFF, input_size=input_size)
    faces = _faces()
    torch.testing.assert_close(BatchAugmenter(cfg)(faces), prepare_eval(faces, cfg), atol=1e-4, rtol=0)


def test_flip_p1_equals_torch_flip():
    cfg = dataclasses.replace(OFF, flip=True, flip_p=1.0)
    faces = _faces()
    torch.testing.assert_close(BatchAugmenter(cfg)(faces), prepare_eval(faces, OFF).flip(-1), atol=1e-4, rtol=0)
    torch.testing.assert_close(prepare_eval(faces, OFF).flip(-1), prepare_eval(faces.flip(-1), OFF))


def test_force_flip_flips_exactly_the_flagged_samples():
    faces = _faces()
    force = torch.tensor([True, False, False, True, False, True, False, False])
    out = BatchAugmenter(OFF)(faces, force_flip=force)
    plain = prepare_eval(faces, OFF)
    expected = torch.where(force[:, None, None, None], plain.flip(-1), plain)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    assert not torch.allclose(out[0], plain[0], atol=1e-2)  # random faces are not symmetric
    with pytest.raises(ValueError, match="force_flip"):
        BatchAugmenter(OFF)(faces, force_flip=force[:3])


def test_seeded_determinism():
    faces = _faces(16)
    a, b = BatchAugmenter(AugmentConfig(), seed=3), BatchAugmenter(AugmentConfig(), seed=3)
    first = a(faces)
    torch.testing.assert_close(first, b(faces), atol=0, rtol=0)
    torch.testing.assert_close(a(faces), b(faces), atol=0, rtol=0)  # streams stay in step
    assert not torch.allclose(first, a(faces))  # but each call draws fresh parameters
    assert not torch.allclose(first, BatchAugmenter(AugmentConfig(), seed=4)(faces))


def test_upscaled_input_size_and_crop():
    cfg = augment_config("standard", input_size=96, crop_size=40)
    assert BatchAugmenter(cfg)(_faces()).shape == (8, 1, 96, 96)
    faces = _faces()
    expected = torch.nn.functional.interpolate(faces[..., 4:44, 4:44].float() / 255, size=(96, 96),
                                               mode="bilinear", align_corners=False)
    torch.testing.assert_close(prepare_eval(faces, cfg), (expected - cfg.mean) / cfg.std)
    with pytest.raises(ValueError, match="larger than"):
        prepare_eval(_faces(size=32), cfg)


def test_random_crop_is_a_window_of_the_image():
    cfg = dataclasses.replace(OFF, crop_size=40, input_size=40)
    out = _unnormalise(BatchAugmenter(cfg, seed=1)(_ramp(16)), cfg)
    torch.testing.assert_close(out.diff(dim=-1), torch.full_like(out.diff(dim=-1), 1 / 96))  # no zoom, no tilt
    torch.testing.assert_close(out.diff(dim=-2), torch.full_like(out.diff(dim=-2), 1 / 192))
    left = out[:, 0, 0, 0] * 96  # column where each crop starts (row 0 contributes row_top / 2)
    assert (left >= 0).all() and (left <= 8 + 4 + 1e-4).all()
    assert left.std() > 0.5  # crops are at different places


def test_zoom_scales_about_the_center():
    cfg = dataclasses.replace(OFF, scale=(2.0, 2.0))
    out = _unnormalise(BatchAugmenter(cfg)(_ramp()), cfg)
    torch.testing.assert_close(out.diff(dim=-1), torch.full_like(out.diff(dim=-1), 1 / 192))
    center = 23.5 / 96 + 23.5 / 192
    torch.testing.assert_close(out[..., 23:25, 23:25].mean(), torch.tensor(center))


def test_rotation_keeps_gradient_magnitude():
    cfg = dataclasses.replace(OFF, rotate_degrees=30.0)
    out = _unnormalise(BatchAugmenter(cfg)(_ramp(16)), cfg)[..., 12:36, 12:36]
    dx, dy = out.diff(dim=-1)[..., :-1, :], out.diff(dim=-2)[..., :, :-1]
    magnitude = torch.sqrt(dx ** 2 + dy ** 2)
    torch.testing.assert_close(magnitude, torch.full_like(magnitude, (1 / 96 ** 2 + 1 / 192 ** 2) ** 0.5))
    assert (dx.mean(dim=(1, 2, 3)) - 1 / 96).abs().max() > 1e-3  # something actually rotated


def test_brightness_scales_each_image():
    cfg = dataclasses.replace(OFF, brightness=0.2)
    faces = torch.full((32, 1, 48, 48), 100, dtype=torch.uint8)
    factor = _unnormalise(BatchAugmenter(cfg)(faces), cfg)[:, 0, 0, 0] / (100 / 255)
    assert (factor >= 0.8 - 1e-5).all() and (factor <= 1.2 + 1e-5).all() and factor.std() > 0.05


def test_contrast_keeps_mean_and_scales_spread():
    cfg = dataclasses.replace(OFF, contrast=0.2)
    faces = _faces(32).clamp(60, 200)
    out = _unnormalise(BatchAugmenter(cfg)(faces), cfg)
    src = faces.float() / 255
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), src.mean(dim=(1, 2, 3)), atol=1e-4, rtol=0)
    ratio = out.std(dim=(1, 2, 3)) / src.std(dim=(1, 2, 3))
    assert (ratio >= 0.8 - 1e-4).all() and (ratio <= 1.2 + 1e-4).all() and ratio.std() > 0.05


def test_erasing_covers_the_expected_area():
    faces = torch.full((256, 1, 48, 48), 200, dtype=torch.uint8)  # normalises to a nonzero value
    square = dataclasses.replace(OFF, erase_p=1.0, erase_area=(0.1, 0.1), erase_ratio=(1.0, 1.0))
    erased = (BatchAugmenter(square)(faces) == 0).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(erased, torch.full_like(erased, 15 * 15 / 48 ** 2))  # round(sqrt(.1)*48) = 15
    varied = dataclasses.replace(OFF, erase_p=0.5, erase_area=(0.05, 0.15))
    erased = (BatchAugmenter(varied)(faces) == 0).float().mean(dim=(1, 2, 3))
    hit = erased > 0
    assert 0.4 < hit.float().mean() < 0.6
    assert abs(erased[hit].mean() - 0.10) < 0.015


@pytest.mark.parametrize("mode, views", [("none", 1), ("flip", 2), ("flip_shift", 6), ("ten_crop", 10)])
@pytest.mark.parametrize("input_size, crop_size", [(48, None), (96, 40)])
def test_tta_view_shapes(mode, views, input_size, crop_size):
    cfg = augment_config("standard", input_size=input_size, crop_size=crop_size)
    out = tta_views(_faces(3), cfg, mode)
    assert out.shape == (views, 3, 1, input_size, input_size)
    if mode != "ten_crop":  # ten_crop's center view is checked in its own test
        torch.testing.assert_close(out[0], prepare_eval(_faces(3), cfg))


def test_ten_crop_has_corners_center_and_their_mirrors():
    cfg = augment_config("standard", crop_size=40)
    faces = _faces(3)
    views = tta_views(faces, cfg, "ten_crop")
    torch.testing.assert_close(views[5:], views[:5].flip(-1))
    torch.testing.assert_close(views[4], prepare_eval(faces, cfg))
    top_left = torch.nn.functional.interpolate(faces[..., :40, :40].float() / 255, size=(48, 48),
                                               mode="bilinear", align_corners=False)
    torch.testing.assert_close(views[0], (top_left - cfg.mean) / cfg.std)
    assert len({round(v.sum().item(), 3) for v in views[:5]}) == 5  # five different crops


def test_flip_shift_moves_the_face_one_pixel_each_way_and_mirrors_every_view():
    cfg = dataclasses.replace(OFF, mean=0.0, std=1.0)
    faces = _faces(2)
    views = tta_views(faces, cfg, "flip_shift")
    plain = prepare_eval(faces, cfg)
    torch.testing.assert_close(views[3:], views[:3].flip(-1))
    torch.testing.assert_close(views[1][..., 1:, 1:], plain[..., :-1, :-1])  # moved down-right by one
    torch.testing.assert_close(views[2][..., :-1, :-1], plain[..., 1:, 1:])  # moved up-left by one


def test_tta_flip_and_unknown_mode():
    faces = _faces(3)
    views = tta_views(faces, OFF, "flip")
    torch.testing.assert_close(views[1], views[0].flip(-1))
    with pytest.raises(ValueError, match=", ".join(TTA_MODES)):
        tta_views(faces, OFF, "five_crop")


@pytest.mark.parametrize("bad", [
    {"flip_p": 1.5}, {"rotate_degrees": -1.0}, {"scale": (1.2, 0.9)}, {"erase_area": (0.0, 0.1)},
    {"input_size": 4}, {"crop_size": 3}, {"std": 0.0}, {"padding": "wrap"}, {"brightness": 1.0},
])
def test_invalid_config_raises(bad):
    with pytest.raises(ValueError):
        AugmentConfig(**bad)


def test_config_round_trip_and_presets():
    cfg = augment_config("strong", input_size=96, crop_size=40)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.rotate_degrees == AUGMENT_PRESETS["strong"].rotate_degrees and cfg.input_size == 96
    with pytest.raises(ValueError, match="standard"):
        augment_config("extreme")
    with pytest.raises(ValueError, match="unknown augmentation settings"):
        augment_config("standard", rotation=5)
    with pytest.raises(ValueError, match="unknown augmentation settings"):
        AugmentConfig.from_dict({"flip": True, "hue": 0.1})


def test_per_image_norm_standardises_each_image():
    cfg = AugmentConfig(per_image_norm=True)
    faces = _faces(6).float() * torch.linspace(0.2, 1.0, 6).view(6, 1, 1, 1)  # very different contrasts
    out = prepare_eval(faces.round().to(torch.uint8), cfg)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.zeros(6), atol=1e-4)
    assert torch.allclose(out.std(dim=(1, 2, 3)), torch.ones(6), atol=0.02)  # the epsilon shows on dim images


def test_a_model_card_with_the_retired_sharpness_cap_is_refused_with_what_to_do():
    from fer_core.transforms.config import RETIRED_SHARPNESS_CAP
    card = {**AugmentConfig().to_dict(), "max_sharpness": 1200.0}
    with pytest.raises(ValueError, match="sharpness cap.*train the run again"):
        AugmentConfig.from_dict(card)
    assert AugmentConfig.from_dict({**AugmentConfig().to_dict(), "max_sharpness": None}) == AugmentConfig()
    assert "removed" in RETIRED_SHARPNESS_CAP
