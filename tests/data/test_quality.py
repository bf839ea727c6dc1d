"""Duplicate detection, leakage, near-blank images, balance, mean faces; cache behaviour."""
from __future__ import annotations

import numpy as np

from fer_core.data import drop_cross_split_duplicates, load_dataset, mean_faces, quality_report, read_source
from fer_core.data import cache
from fer_core.data.dataset import SPLITS, FaceDataset
from fer_core.common.emotions import CANONICAL_CLASSES


def _dataset_with_duplicates() -> FaceDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    images[1] = images[0]                 # same split, same label
    images[5] = images[4]                 # train vs test: leakage
    images[7] = images[6]                 # conflicting labels
    images[10] = 128                      # constant image
    images[11] = 100 + rng.integers(0, 2, (48, 48), dtype=np.uint8)  # nearly constant
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 6] * 2, np.int64)
    splits = np.zeros(20, np.int8)
    splits[5] = SPLITS.index("test")
    splits[15:] = SPLITS.index("val")
    return FaceDataset(images=images, labels=labels, splits=splits, ids=np.array([f"i{k}" for k in range(20)]),
                       classes=CANONICAL_CLASSES, source="test", kind="folder")


def test_quality_report_finds_duplicates_leakage_conflicts_and_blanks():
    ds = _dataset_with_duplicates()
    report = quality_report(ds)
    assert report.duplicate_groups == 3
    assert report.duplicate_images == 6
    assert report.cross_split_duplicate_groups == 1
    assert report.conflicting_label_groups == 1
    assert report.near_blank == [10, 11]
    leak = next(g for g in report.groups if g.cross_split)
    assert leak.ids == ["i4", "i5"] and leak.splits == ["train", "test"]
    assert report.imbalance_ratio["train"] == 4.0  # 4 angry / 1 neutral in train
    d = report.to_dict(ds)
    assert d["duplicate_groups"] == 3 and d["cross_split_duplicate_groups"] == 1
    assert d["example_groups"][0]["cross_split"] is True


def test_drop_cross_split_duplicates_removes_only_leaked_train_and_val_images():
    ds = _dataset_with_duplicates()
    clean, dropped = drop_cross_split_duplicates(ds)
    assert dropped == 1
    assert "i4" not in clean.ids and "i5" in clean.ids and "i0" in clean.ids and "i1" in clean.ids
    assert quality_report(clean).cross_split_duplicate_groups == 0


def test_a_val_copy_of_a_test_image_is_dropped_and_the_test_image_kept():
    ds = _dataset_with_duplicates()
    ds.images[16] = ds.images[5]  # i16 (val) = i5 (test) = i4 (train)
    clean, dropped = drop_cross_split_duplicates(ds)
    assert dropped == 2
    assert "i16" not in clean.ids and "i4" not in clean.ids and "i5" in clean.ids
    assert quality_report(clean).cross_split_duplicate_groups == 0


def test_mean_faces_per_class():
    ds = _dataset_with_duplicates()
    means = mean_faces(ds)
    assert set(means) == set(CANONICAL_CLASSES)
    np.testing.assert_allclose(means["angry"], ds.images[ds.labels == 0].mean(axis=0), rtol=1e-5)


def test_cache_is_used_then_rebuilt_when_corrupt_or_stale(kaggle_folder, tmp_path, monkeypatch):
    first = read_source(kaggle_folder, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    calls = []
    import fer_core.data.loader as loader
    monkeypatch.setitem(loader._READERS, "folder", lambda p: calls.append(p) or first)
    second = read_source(kaggle_folder, cache_dir=tmp_path)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(second.images, first.images)
    assert second.ids.tolist() == first.ids.tolist() and second.classes == first.classes

    files[0].write_bytes(files[0].read_bytes()[:1000])  # truncated cache file
    assert cache.load(files[0]) is None
    read_source(kaggle_folder, cache_dir=tmp_path)
    assert len(calls) == 1  # rebuilt, not trusted

    calls.clear()
    new_image = kaggle_folder / "train" / "happy" / "extra.png"
    new_image.write_bytes((kaggle_folder / "train" / "happy").iterdir().__next__().read_bytes())
    read_source(kaggle_folder, cache_dir=tmp_path)
    assert len(calls) == 1  # the folder changed: a new key, re-read


def test_cache_with_tampered_pixels_is_rejected(kaggle_zip, tmp_path):
    ds = read_source(kaggle_zip, cache_dir=tmp_path)
    path = next(tmp_path.glob("*.npz"))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["images"] = arrays["images"].copy()
    arrays["images"][0, 0, 0] ^= 0xFF
    np.savez(path, **arrays)
    assert cache.load(path) is None
    again = read_source(kaggle_zip, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.images, ds.images)


def test_load_dataset_class_set_option(kaggle_zip, tmp_path):
    ds = load_dataset(kaggle_zip, cache_dir=tmp_path, class_set="no_disgust")
    assert "disgust" not in ds.classes and len(ds.classes) == 6


def test_quality_report_measures_sharpness_per_split_and_flags_a_shift():
    import cv2
    ds = _dataset_with_duplicates()
    sharp_only = quality_report(ds)
    assert sharp_only.sharpness_shift < 2  # random pixels everywhere: alike
    train = ds.split_mask("train")
    ds.images[train] = np.stack([cv2.GaussianBlur(im, (0, 0), 3.0) for im in ds.images[train]])
    shifted = quality_report(ds)
    assert shifted.sharpness["train"] * 50 < shifted.sharpness["test"]
    assert shifted.to_dict()["sharpness_shift"] > 50
