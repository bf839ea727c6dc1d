"""Carved splits (stratified, deterministic, disjoint, duplicate-aware) and class-set options."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.data.dataset import SPLITS, FaceDataset
from fer_core.data.quality import duplicate_group_ids
from fer_core.data.splits import apply_class_set, carve_splits
from fer_core.common.emotions import CANONICAL_CLASSES


def _train_only(counts: list[int], seed: int = 0, duplicate_every: int = 0) -> FaceDataset:
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int64)
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    if duplicate_every:
        images[duplicate_every::duplicate_every] = images[0]  # many copies of one image, all labelled class 0
        labels[duplicate_every::duplicate_every] = 0
    return FaceDataset(images=images, labels=labels, splits=np.zeros(len(labels), np.int8),
                       ids=np.array([f"img{i}" for i in range(len(labels))]), classes=CANONICAL_CLASSES[:len(counts)],
                       source="test", kind="folder")


def test_carve_is_stratified_deterministic_and_disjoint():
    ds = _train_only([400, 30, 200, 700])
    groups = duplicate_group_ids(ds.images)
    a = carve_splits(ds, groups, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = carve_splits(ds, groups, val_fraction=0.1, test_fraction=0.2, seed=3)
    c = carve_splits(ds, groups, val_fraction=0.1, test_fraction=0.2, seed=4)
    np.testing.assert_array_equal(a.splits, b.splits)
    assert not np.array_equal(a.splits, c.splits)
    counts = a.counts()
    for i, cls in enumerate(a.classes):
        total = [400, 30, 200, 700][i]
        assert counts["val"][cls] == round(0.1 * total)
        assert counts["test"][cls] == round(0.2 * total)
        assert counts["train"][cls] == total - round(0.1 * total) - round(0.2 * total)
    assert len(a) == len(ds)  # every image in exactly one split


def test_carve_keeps_pixel_identical_images_together():
    ds = _train_only([300, 300], duplicate_every=10)
    groups = duplicate_group_ids(ds.images)
    carved = carve_splits(ds, groups, seed=1)
    copies = groups == groups[0]
    assert copies.sum() > 50
    assert len(np.unique(carved.splits[copies])) == 1


def test_carve_leaves_existing_splits_alone():
    ds = _train_only([100, 100])
    ds.splits[:20] = SPLITS.index("test")
    carved = carve_splits(ds, duplicate_group_ids(ds.images), val_fraction=0.1)
    np.testing.assert_array_equal(carved.splits[:20], SPLITS.index("test"))
    # the 20 test images were all class 0: train had 80 + 100, so val takes 8 + 10
    assert (carved.splits == SPLITS.index("val")).sum() == 18


@pytest.mark.parametrize("fraction", [0.0, 0.5, -0.1])
def test_carve_rejects_bad_fractions(fraction):
    ds = _train_only([10, 10])
    with pytest.raises(ValueError, match="val_fraction"):
        carve_splits(ds, duplicate_group_ids(ds.images), val_fraction=fraction)


def test_class_sets():
    ds = _train_only([5, 3, 4, 6, 2, 2, 2])
    dropped = apply_class_set(ds, "no_disgust")
    assert "disgust" not in dropped.classes and len(dropped) == len(ds) - 3
    assert dropped.counts()["train"]["angry"] == 5 and dropped.counts()["train"]["fear"] == 4
    merged = apply_class_set(ds, "merge_disgust")
    assert merged.classes == ("angry", "fear", "happy", "neutral", "sad", "surprise")
    assert merged.counts()["train"]["angry"] == 8 and len(merged) == len(ds)
    assert merged.counts()["train"]["happy"] == 6
    assert apply_class_set(ds, "all") is ds
    with pytest.raises(ValueError, match="valid: all, no_disgust, merge_disgust"):
        apply_class_set(ds, "fewer")
