"""Data quality: exact duplicates and cross-split leakage, near-blank images, class balance, mean faces."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from fer_core.data.sharpness import sharpness_of
from fer_core.data.dataset import SPLITS, FaceDataset

# Pixel standard deviation below which an image is treated as (nearly) blank.
BLANK_STD = 3.0
# Splits whose median sharpness differs by more than this factor are flagged: a model trained on
# one will see a different kind of image in the other.
SHARPNESS_SHIFT_WARNING = 4.0


def duplicate_group_ids(images: np.ndarray) -> np.ndarray:
    """One integer per image; pixel-identical images share it (exact comparison, not a hash)."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    return inverse.astype(np.int64)


def _groups_of(ds: FaceDataset, groups: np.ndarray | None) -> np.ndarray:
    if groups is not None:
        return groups
    return ds.groups if ds.groups is not None else duplicate_group_ids(ds.images)


@dataclass
class DuplicateGroup:
    members: list[int]  # indices into the dataset
    ids: list[str]
    splits: list[str]
    labels: list[str]

    @property
    def cross_split(self) -> bool:
        return len(set(self.splits)) > 1

    @property
    def conflicting_labels(self) -> bool:
        return len(set(self.labels)) > 1


@dataclass
class QualityReport:
    n_images: int
    counts: dict[str, dict[str, int]]
    imbalance_ratio: dict[str, float]  # per split: largest class / smallest non-empty class
    duplicate_groups: int
    duplicate_images: int
    cross_split_duplicate_groups: int
    conflicting_label_groups: int
    near_blank: list[int]  # indices of images with pixel std < BLANK_STD
    sharpness: dict[str, float] = field(default_factory=dict)  # per split: median Laplacian variance
    groups: list[DuplicateGroup] = field(repr=False, default_factory=list)

    @property
    def sharpness_shift(self) -> float:
        """Ratio of the sharpest split's median sharpness to the blurriest's (1.0 = alike)."""
        values = [v for v in self.sharpness.values() if v > 0]
        return max(values) / min(values) if len(values) > 1 else 1.0

    def to_dict(self, ds: FaceDataset | None = None, max_groups: int = 50) -> dict:
        """JSON-ready summary; lists at most `max_groups` example groups (cross-split ones first)."""
        examples = sorted(self.groups, key=lambda g: (not g.cross_split, not g.conflicting_labels))[:max_groups]
        out = {k: v for k, v in asdict(self).items() if k not in ("groups", "near_blank")}
        out["near_blank_images"] = len(self.near_blank)
        out["near_blank_ids"] = [str(ds.ids[i]) for i in self.near_blank[:max_groups]] if ds is not None else []
        out["sharpness_shift"] = self.sharpness_shift
        out["example_groups"] = [{"ids": g.ids, "splits": g.splits, "labels": g.labels,
                                  "cross_split": g.cross_split, "conflicting_labels": g.conflicting_labels}
                                 for g in examples]
        return out


def imbalance_ratio(counts: dict[str, int]) -> float:
    """Largest class count over smallest non-empty class count (1.0 = balanced)."""
    nonzero = [n for n in counts.values() if n > 0]
    return float(max(nonzero) / min(nonzero)) if nonzero else float("nan")


def quality_report(ds: FaceDataset, groups: np.ndarray | None = None) -> QualityReport:
    """Duplicates (within and across splits), conflicting labels, near-blank images, balance."""
    groups = _groups_of(ds, groups)
    sizes = np.bincount(groups)
    dup_members = np.flatnonzero(sizes[groups] > 1)
    dup_groups: list[DuplicateGroup] = []
    order = dup_members[np.argsort(groups[dup_members], kind="stable")]
    for members in np.split(order, np.flatnonzero(np.diff(groups[order])) + 1) if len(order) else []:
        dup_groups.append(DuplicateGroup(
            members=members.tolist(), ids=[str(ds.ids[i]) for i in members],
            splits=[SPLITS[ds.splits[i]] for i in members], labels=[ds.classes[ds.labels[i]] for i in members]))
    stds = ds.images.reshape(len(ds), -1).std(axis=1)
    counts = ds.counts()
    sharp = sharpness_of(ds.images)
    sharpness = {s: float(np.median(sharp[ds.split_mask(s)])) for s in ds.split_names()}
    return QualityReport(
        n_images=len(ds), counts=counts,
        imbalance_ratio={s: imbalance_ratio(c) for s, c in counts.items()},
        duplicate_groups=len(dup_groups), duplicate_images=int(len(dup_members)),
        cross_split_duplicate_groups=sum(g.cross_split for g in dup_groups),
        conflicting_label_groups=sum(g.conflicting_labels for g in dup_groups),
        near_blank=np.flatnonzero(stds < BLANK_STD).tolist(), sharpness=sharpness, groups=dup_groups,
    )


def drop_cross_split_duplicates(ds: FaceDataset, groups: np.ndarray | None = None) -> tuple[FaceDataset, int]:
    """Remove leakage: train images that also appear (pixel-identical) in val or test, and val images
    that also appear in test (else checkpoint selection would score on test images). Test is untouched.

    Returns the cleaned dataset and how many images were dropped.
    """
    groups = _groups_of(ds, groups)
    train, val, test = ds.split_mask("train"), ds.split_mask("val"), ds.split_mask("test")
    test_groups = np.unique(groups[test])
    leaked = (train & np.isin(groups, np.unique(groups[~train]))) | (val & np.isin(groups, test_groups))
    return ds.subset(~leaked), int(leaked.sum())


def mean_faces(ds: FaceDataset, split: str | None = None) -> dict[str, np.ndarray]:
    """Per-class mean image (48x48 float32) over one split or all images."""
    sel = ds if split is None else ds.split(split)
    return {c: sel.images[sel.labels == i].mean(axis=0, dtype=np.float64).astype(np.float32)
            for i, c in enumerate(sel.classes) if (sel.labels == i).any()}
