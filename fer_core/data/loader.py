"""`load_dataset`: any supported source -> FaceDataset with train/val/test splits, cached."""
from __future__ import annotations

import os
from pathlib import Path

from fer_core.common import paths
from fer_core.data import cache
from fer_core.data.dataset import DataError, FaceDataset
from fer_core.data.files import fingerprint
from fer_core.data.quality import duplicate_group_ids
from fer_core.data.sources import detect_kind, read_csv, read_image_tree
from fer_core.data.splits import apply_class_set, carve_splits
from fer_core.data.votes import apply_votes, read_votes
from fer_core.common.synthetic import is_synthetic_source

_READERS = {"csv": read_csv, "folder": read_image_tree}


def check_source(path: str | os.PathLike) -> str:
    """Cheap checks before any reading (a file's kind from its name, nothing decoded): DataError for
    what is not a dataset, else its kind ('csv' or 'folder')."""
    source = Path(path)
    try:
        if source.exists() and not (source.is_file() or source.is_dir()):
            raise DataError(f"{source} is not a file or folder (a device, pipe or socket); give a dataset zip, "
                            "folder or CSV")
        return detect_kind(path)
    except OSError as exc:  # a name too long, a folder we may not read
        raise DataError(f"{source}: cannot be read ({exc.strerror or exc}); give a dataset zip, folder or CSV") from None


def read_source(path: str | os.PathLike, *, use_cache: bool = True,
                cache_dir: str | os.PathLike | None = None) -> FaceDataset:
    """Decode a source as it is (its own splits only), through the cache. Sets `groups`."""
    kind = check_source(path)
    target = cache.cache_path(Path(cache_dir) if cache_dir else paths.cache_dir(), kind, fingerprint(path))
    if use_cache:
        hit = cache.load(target)
        if hit is not None:
            ds, groups = hit
            ds.groups = groups
            return ds
    ds = _READERS[kind](path)
    ds.groups = duplicate_group_ids(ds.images)
    if use_cache:
        try:
            cache.save(target, ds, ds.groups)
        except OSError:
            pass  # a read-only or full disk only costs speed next time
    return ds


def load_dataset(path: str | os.PathLike | None = None, *, class_set: str = "all", val_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 0, use_cache: bool = True,
                 cache_dir: str | os.PathLike | None = None, synthetic_size: int | None = None,
                 votes: str | os.PathLike | None = None, label_mode: str = "fer2013") -> FaceDataset:
    """Load a dataset ready for training: train, val and test splits, chosen class set.

    `path` None (or "synthetic") gives the built-in synthetic faces. Otherwise a FER2013 Kaggle zip or
    folder, a fer2013.csv, or any zip/folder of class subfolders. Splits the source lacks are carved
    from train (stratified, seeded, duplicates kept together); val_fraction and test_fraction are
    fractions of the source's train split.

    `votes`: a FER+ votes file beside the images (data/votes.py); `label_mode` 'majority' or
    'distribution' relabels by FER+'s majority and leaves out faces without one (before splits are carved).
    """
    if label_mode != "fer2013" and not votes:
        raise DataError(f"label mode {label_mode!r} needs a FER+ votes file (--votes PATH, e.g. ferplus.csv)")
    synthetic = is_synthetic_source(path)
    if synthetic:
        from fer_core.data.synthetic import DEFAULT_SIZE, generate_synthetic
        ds = generate_synthetic(synthetic_size or DEFAULT_SIZE, seed=seed)
        ds.groups = duplicate_group_ids(ds.images)
    else:
        path = Path(str(path).strip()).expanduser()
        ds = read_source(path, use_cache=use_cache, cache_dir=cache_dir)
    if votes:
        ds = apply_votes(ds, read_votes(Path(str(votes).strip()).expanduser()), label_mode)
    if not synthetic and len(ds.split_names()) < 3:
        ds = carve_splits(ds, ds.groups, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    try:
        return apply_class_set(ds, class_set)
    except ValueError as exc:
        raise DataError(str(exc)) from None
