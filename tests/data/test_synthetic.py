"""The built-in synthetic dataset: determinism, class proportions, splits, masks, learnability."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from fer_core.data.dataset import SPLITS, FaceDataset
from fer_core.data.synthetic import (DEFAULT_SIZE, FER2013_TRAIN_COUNTS, class_counts, draw_faces,
                                     generate_synthetic)
from fer_core.common.emotions import CANONICAL_CLASSES

HAPPY, SAD = CANONICAL_CLASSES.index("happy"), CANONICAL_CLASSES.index("sad")
ANGRY, SURPRISE = CANONICAL_CLASSES.index("angry"), CANONICAL_CLASSES.index("surprise")


@pytest.fixture(scope="module")
def default_set() -> FaceDataset:
    return generate_synthetic()


@pytest.fixture(scope="module")
def small_set() -> FaceDataset:
    return generate_synthetic(1400, seed=7)


def _standardised(images: np.ndarray) -> np.ndarray:
    """Per-image zero mean, unit variance: removes skin tone, background and lighting gain."""
    z = images.astype(np.float32)
    return (z - z.mean(axis=(1, 2), keepdims=True)) / z.std(axis=(1, 2), keepdims=True)


# --- determinism ------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_arrays():
    a, b = generate_synthetic(300, seed=3), generate_synthetic(300, seed=3)
    for name in ("images", "labels", "splits", "ids", "masks"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_different_seeds_give_different_faces():
    a, b = generate_synthetic(300, seed=3), generate_synthetic(300, seed=4)
    assert not np.array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, b.labels)


def test_draw_faces_is_reproducible_from_the_generator_state():
    labels = np.arange(7).repeat(3)
    img1, mask1 = draw_faces(labels, np.random.default_rng(11))
    img2, mask2 = draw_faces(labels, np.random.default_rng(11))
    assert img1.shape == mask1.shape == (21, 48, 48)
    assert img1.dtype == np.uint8 and mask1.dtype == bool
    assert np.array_equal(img1, img2) and np.array_equal(mask1, mask2)


@pytest.mark.parametrize("labels", [np.array([0, 7]), np.array([-1]), np.array([0.0, 1.0]), np.zeros((2, 2), int)])
def test_draw_faces_rejects_labels_that_are_not_class_indices(labels):
    with pytest.raises(ValueError, match="class indices 0..6"):
        draw_faces(labels, np.random.default_rng(0))


# --- class counts and dataset fields ----------------------------------------------------------

@pytest.mark.parametrize("n", [21, 22, 100, 999, DEFAULT_SIZE, 12345])
def test_class_counts_sum_to_n_with_at_least_three_per_class(n):
    counts = class_counts(n)
    assert counts.sum() == n
    assert counts.min() >= 3


def test_class_counts_follow_fer2013_proportions():
    shares = class_counts(DEFAULT_SIZE) / DEFAULT_SIZE
    assert shares[HAPPY] == pytest.approx(0.25, abs=0.01)
    assert shares[CANONICAL_CLASSES.index("disgust")] == pytest.approx(0.015, abs=0.002)
    # At FER2013's own size the largest-remainder rounding reproduces its counts exactly.
    assert np.array_equal(class_counts(int(FER2013_TRAIN_COUNTS.sum())), FER2013_TRAIN_COUNTS)


def test_dataset_fields(default_set):
    ds = default_set
    assert len(ds) == DEFAULT_SIZE
    assert ds.kind == "synthetic" and ds.is_synthetic
    assert ds.source == f"synthetic (n={DEFAULT_SIZE}, seed=0)"
    assert ds.classes == CANONICAL_CLASSES
    assert ds.ids[0] == "synthetic_000000" and ds.ids[123] == "synthetic_000123"
    assert len(set(ds.ids.tolist())) == len(ds)
    assert np.array_equal(np.bincount(ds.labels, minlength=7), class_counts(DEFAULT_SIZE))
    assert ds.labels.dtype == np.int64 and ds.splits.dtype == np.int8


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=20), "at least 21"),
    (dict(n=-5), "at least 21"),
    (dict(n=100.0), "integer"),
    (dict(n=100, seed=-1), "seed"),
    (dict(n=100, test_fraction=1.0), "test_fraction"),
    (dict(n=100, val_fraction=-0.1), "val_fraction"),
    (dict(n=100, test_fraction=0.5, val_fraction=0.5), "below 1"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_synthetic(**kwargs)


def test_class_counts_rejects_too_few_images():
    with pytest.raises(ValueError, match="at least 21"):
        class_counts(10)


# --- splits -----------------------------------------------------------------------------------

def test_every_image_in_exactly_one_split_and_every_class_in_every_split(default_set):
    ds = default_set
    assert set(np.unique(ds.splits).tolist()) == {0, 1, 2}
    assert sum(ds.split_mask(s).sum() for s in SPLITS) == len(ds)
    for split, per_class in ds.counts().items():
        assert min(per_class.values()) >= 1, split


def test_splits_are_stratified_per_class(default_set):
    ds = default_set
    for c in range(len(CANONICAL_CLASSES)):
        in_class = ds.labels == c
        n_c = in_class.sum()
        assert abs((ds.splits[in_class] == SPLITS.index("test")).sum() - 0.15 * n_c) <= 1
        assert abs((ds.splits[in_class] == SPLITS.index("val")).sum() - 0.10 * n_c) <= 1


def test_smallest_dataset_still_has_every_class_in_every_split():
    ds = generate_synthetic(21, seed=1)
    assert all(count == 1 for per_class in ds.counts().values() for count in per_class.values())


def test_zero_fraction_leaves_that_split_out():
    ds = generate_synthetic(200, seed=2, test_fraction=0.0, val_fraction=0.2)
    assert ds.split_names() == ["train", "val"]


# --- masks ------------------------------------------------------------------------------------

def test_masks_shape_dtype_and_coverage(default_set):
    masks = default_set.masks
    assert masks.shape == (DEFAULT_SIZE, 48, 48) and masks.dtype == bool
    coverage = masks.mean(axis=(1, 2))
    assert 0.10 <= coverage.mean() <= 0.30
    assert coverage.min() > 0.03 and coverage.max() < 0.35
    # Features sit on the face, never in the image corners.
    for corner in ((slice(0, 4), slice(0, 4)), (slice(0, 4), slice(-4, None)),
                   (slice(-4, None), slice(0, 4)), (slice(-4, None), slice(-4, None))):
        assert not masks[(slice(None),) + corner].any()


def test_masks_follow_the_pose_transform(default_set):
    rows, cols = np.arange(48)[None, :, None], np.arange(48)[None, None, :]
    masks = default_set.masks
    area = masks.sum(axis=(1, 2))
    centre_x = (masks * cols).sum(axis=(1, 2)) / area
    centre_y = (masks * rows).sum(axis=(1, 2)) / area
    assert centre_x.std() > 0.8 and centre_y.std() > 0.8


def test_mean_masks_differ_between_expressions(default_set):
    ds = default_set
    mean_mask = {c: ds.masks[ds.labels == c].mean(axis=0) for c in range(len(CANONICAL_CLASSES))}
    # A smile's corners rise above the lip line, a frown's drop below it.
    mouth_rows = slice(28, 46)
    assert np.abs(mean_mask[HAPPY] - mean_mask[SAD])[mouth_rows].max() > 0.3
    upper = slice(0, 24)  # brows and eyes

    def mean_row(m):
        return (m * np.arange(24)[:, None]).sum() / m.sum()

    # Surprised brows are raised, angry ones lowered.
    assert mean_row(mean_mask[SURPRISE][upper]) < mean_row(mean_mask[ANGRY][upper]) - 1.0


# --- images -----------------------------------------------------------------------------------

def test_per_class_mean_images_differ(default_set):
    ds = default_set
    z = _standardised(ds.images)
    means = [cv2.blur(z[ds.labels == c].mean(axis=0), (5, 5)) for c in range(len(CANONICAL_CLASSES))]
    for a in range(len(means)):
        for b in range(a + 1, len(means)):
            assert np.abs(means[a] - means[b]).max() > 0.2, (CANONICAL_CLASSES[a], CANONICAL_CLASSES[b])


def test_images_vary_in_identity_lighting_and_noise(default_set):
    images = default_set.images.astype(np.float32)
    assert images.mean(axis=(1, 2)).std() > 15  # skin tone, background, lighting
    assert images.min() == 0 and images.max() == 255


def _hog_features(images: np.ndarray) -> np.ndarray:
    hog = cv2.HOGDescriptor((48, 48), (16, 16), (8, 8), (8, 8), 9)
    return np.stack([hog.compute(im).ravel() for im in images])


def test_a_simple_classifier_learns_the_task(small_set):
    ds = small_set
    train, test = ds.splits != SPLITS.index("test"), ds.splits == SPLITS.index("test")
    x = _hog_features(ds.images)
    with threadpool_limits(1):  # BLAS threads only fight each other on a shared machine
        clf = LogisticRegression(max_iter=1000).fit(x[train], ds.labels[train])
    assert clf.score(x[test], ds.labels[test]) > 0.8


def test_raw_pixels_are_not_enough_for_a_linear_model(small_set):
    """Pose, identity and lighting vary, so the task is not trivially linear in the pixels."""
    ds = small_set
    train, test = ds.splits != SPLITS.index("test"), ds.splits == SPLITS.index("test")
    x = np.stack([cv2.resize(im, (12, 12), interpolation=cv2.INTER_AREA) for im in ds.images])
    x = x.reshape(len(ds), -1) / 255.0
    with threadpool_limits(1):
        clf = LogisticRegression(max_iter=500).fit(x[train], ds.labels[train])
    assert clf.score(x[test], ds.labels[test]) < 0.85


@pytest.mark.parametrize("n", [21, 100, 2000])
def test_train_size_matches_the_generated_train_split(n):
    from fer_core.data.synthetic import train_size
    ds = generate_synthetic(n, seed=1)
    assert train_size(n) == int((ds.splits == SPLITS.index("train")).sum())
