"""Carving validation (and, where a source has none, test) splits out of train, and class-set options."""
from __future__ import annotations

import numpy as np

from fer_core.common.emotions import CLASS_SETS
from fer_core.data.dataset import SPLITS, FaceDataset

TRAIN, VAL, TEST = (SPLITS.index(s) for s in SPLITS)


def _carve(labels: np.ndarray, groups: np.ndarray, candidates: np.ndarray, targets: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Pick about targets[c] images of each class c among `candidates`, whole duplicate groups at a time."""
    chosen = []
    cand_groups = groups[candidates]
    unique_groups, first = np.unique(cand_groups, return_index=True)
    group_label = labels[candidates][first]
    group_size = np.bincount(np.searchsorted(unique_groups, cand_groups), minlength=len(unique_groups))
    for cls in np.unique(group_label):
        in_class = np.flatnonzero(group_label == cls)
        target = targets[cls]
        order = in_class[rng.permutation(len(in_class))]
        taken = np.cumsum(group_size[order]) <= target
        chosen.append(unique_groups[order[taken]])
    picked_groups = np.concatenate(chosen) if chosen else np.empty(0, groups.dtype)
    return candidates[np.isin(cand_groups, picked_groups)]


def carve_splits(ds: FaceDataset, groups: np.ndarray, *, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 0) -> FaceDataset:
    """Give the dataset val and test splits if its source had none, carved from train.

    Stratified per class, seeded, and group-aware: pixel-identical images (same `groups` id) always
    land in the same split, so no image and none of its exact copies is in two carved splits.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 0.5:
            raise ValueError(f"{name} must be between 0 and 0.5, got {value}")
    splits = ds.splits.copy()
    rng = np.random.default_rng(seed)
    train_counts = np.bincount(ds.labels[splits == TRAIN], minlength=len(ds.classes))
    for split_code, fraction in ((TEST, test_fraction), (VAL, val_fraction)):
        if (splits == split_code).any():
            continue
        # fractions are of the original train set, so carved val and test are about equally large
        targets = np.round(fraction * train_counts).astype(int)
        splits[_carve(ds.labels, groups, np.flatnonzero(splits == TRAIN), targets, rng)] = split_code
    carved = ds.subset(np.arange(len(ds)))
    carved.splits = splits
    return carved


def apply_class_set(ds: FaceDataset, class_set: str) -> FaceDataset:
    """Reduce the classes: 'all' keeps them, 'no_disgust' / 'no_contempt' drop that class's images,
    'merge_disgust' relabels disgust as angry."""
    if class_set not in CLASS_SETS:
        raise ValueError(f"unknown class set {class_set!r}; valid: {', '.join(CLASS_SETS)}")
    gone = {"no_disgust": "disgust", "merge_disgust": "disgust", "no_contempt": "contempt"}.get(class_set)
    if gone is None or gone not in ds.classes:
        return ds
    dropped = ds.classes.index(gone)
    new_classes = tuple(c for c in ds.classes if c != gone)
    if class_set == "merge_disgust":
        if "angry" not in ds.classes:
            raise ValueError("merge_disgust needs an 'angry' class to merge into; this dataset has none")
        out = ds.subset(np.arange(len(ds)))
        old_labels = np.where(ds.labels == dropped, ds.classes.index("angry"), ds.labels)
    else:
        out = ds.subset(ds.labels != dropped)
        old_labels = out.labels
    remap = np.array([new_classes.index(c) if c in new_classes else -1 for c in ds.classes])
    out.labels = remap[old_labels].astype(np.int64)
    out.classes = new_classes
    return out
