"""The real FER2013 zip (../shared/data/fer2013.zip): counts and known data-quality facts.

The facts are those of the copy replaced on 2026-11-26 (shared/data/README.md), measured with
`python -m fer_core data quality --data ../shared/data/fer2013.zip` (val carved from train, 10%, seed 0).
"""
from __future__ import annotations

import pytest

from fer_core.data import quality_report
from fer_core.data.quality import drop_cross_split_duplicates
from fer_core.data.splits import carve_splits
from fer_core.common.emotions import CANONICAL_CLASSES

pytestmark = pytest.mark.real_data

# From the dataset's README (Kaggle layout; test/ is the PublicTest half).
TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "neutral": 4965, "sad": 4830, "surprise": 3171}
TEST = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415}


@pytest.fixture(scope="module")
def real_with_val(real_fer2013):
    """The zip as a run sees it: val carved from train (10%, seed 0), duplicates kept together."""
    return carve_splits(real_fer2013, real_fer2013.groups, val_fraction=0.1, test_fraction=0.1, seed=0)


def test_real_zip_counts(real_fer2013):
    ds = real_fer2013
    assert ds.kind == "kaggle" and ds.classes == CANONICAL_CLASSES
    assert ds.counts() == {"train": TRAIN, "test": TEST}
    assert ds.report.n_skipped == 0
    assert ds.images.shape == (32298, 48, 48)


def test_real_zip_quality_finds_the_known_duplicates(real_with_val):
    report = quality_report(real_with_val)
    assert report.duplicate_groups == 1240
    assert report.duplicate_images == 2731
    assert report.conflicting_label_groups == 41
    assert report.cross_split_duplicate_groups == 241
    assert len(report.near_blank) == 13


def test_real_zip_leaked_train_copies_are_dropped(real_with_val):
    cleaned, dropped = drop_cross_split_duplicates(real_with_val)
    assert dropped == 281 + 34  # train copies of val/test images, val copies of test images
    assert quality_report(cleaned).cross_split_duplicate_groups == 0


def test_real_zip_splits_are_alike_in_sharpness(real_with_val):
    """Train, val and test are equally sharp (the copy before 2026-11-26 had blurred train images)."""
    report = quality_report(real_with_val)
    assert set(report.sharpness) == {"train", "val", "test"}
    assert all(1500 < value < 2200 for value in report.sharpness.values()), report.sharpness
    assert report.sharpness_shift < 1.1
