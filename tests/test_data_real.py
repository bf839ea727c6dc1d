"""The real FER2013 zip (../shared/data/fer2013.zip): counts and known data-quality facts."""
from __future__ import annotations

import pytest

from fer_core.data import quality_report
from fer_core.emotions import CANONICAL_CLASSES

pytestmark = pytest.mark.real_data

# From the dataset's README (Kaggle layout; test/ is the PublicTest half).
TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "neutral": 4965, "sad": 4830, "surprise": 3171}
TEST = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415}


def test_real_zip_counts(real_fer2013):
    ds = real_fer2013
    assert ds.kind == "kaggle" and ds.classes == CANONICAL_CLASSES
    assert ds.counts() == {"train": TRAIN, "test": TEST}
    assert ds.report.n_skipped == 0
    assert ds.images.shape == (32298, 48, 48)


def test_real_zip_quality_finds_the_known_duplicates(real_fer2013):
    report = quality_report(real_fer2013)
    assert report.duplicate_groups == 1061
    assert report.duplicate_images == 2324
    assert report.conflicting_label_groups == 40
    assert report.cross_split_duplicate_groups == 1
    assert len(report.near_blank) == 13


def test_real_zip_sharpness_shift_between_train_and_test_is_flagged(real_fer2013):
    """The shared zip's train images are heavily blurred and its test images are sharp."""
    report = quality_report(real_fer2013)
    assert report.sharpness["train"] < 20 < 500 < report.sharpness["test"]
    assert report.sharpness_shift > 100
