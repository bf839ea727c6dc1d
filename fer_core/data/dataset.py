"""The one in-memory form every data source is turned into."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_core.common.faces_array import IMAGE_SIZE

SPLITS: tuple[str, ...] = ("train", "val", "test")


class DataError(Exception):
    """A data source cannot be read: the message says what was wrong and what to do."""


@dataclass
class LoadReport:
    """What happened while reading a source: how many items were read and which were skipped, why."""

    n_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or row, reason)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def to_dict(self) -> dict:
        return {"n_read": self.n_read, "n_skipped": self.n_skipped,
                "skipped": [{"item": i, "reason": r} for i, r in self.skipped]}

    @classmethod
    def from_dict(cls, d: dict) -> "LoadReport":
        return cls(int(d["n_read"]), [(s["item"], s["reason"]) for s in d["skipped"]])


@dataclass
class FaceDataset:
    """Faces as arrays: images (N,48,48) uint8, labels (N,) int64 indexing `classes`,
    splits (N,) int8 indexing SPLITS, ids (N,) str (file name or CSV row).

    `masks` (N,48,48) bool is only set for the synthetic source: where each face's
    expression features were drawn, so explanations can be checked against it.
    `groups` (N,) int64, when set, gives pixel-identical images the same id (see quality.py).
    `votes` (N,10) int32, when a votes file was given (votes.py): each face's FER+ vote counts, -1 rows
    for faces the file has no row for; `label_mode` says what `labels` are (votes.LABEL_MODES) and
    `vote_report` how many faces the votes kept.
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]
    source: str  # human-readable description, e.g. "synthetic (seed 0)" or a path
    kind: str  # "synthetic", "kaggle", "csv", "folder"
    report: LoadReport = field(default_factory=LoadReport)
    masks: np.ndarray | None = None
    groups: np.ndarray | None = None
    votes: np.ndarray | None = None
    label_mode: str = "fer2013"
    vote_report: object | None = None  # votes.VoteReport

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must be uint8 (N,{IMAGE_SIZE},{IMAGE_SIZE}), got {self.images.dtype} {self.images.shape}")
        for name in ("labels", "splits", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images")
        self.classes = tuple(self.classes)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def is_synthetic(self) -> bool:
        return self.kind == "synthetic"

    def split_names(self) -> list[str]:
        """The splits this dataset actually has, in SPLITS order."""
        present = set(np.unique(self.splits).tolist())
        return [s for i, s in enumerate(SPLITS) if i in present]

    def split_mask(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        return self.splits == SPLITS.index(split)

    def subset(self, mask_or_index: np.ndarray) -> "FaceDataset":
        """A new dataset holding only the selected images (boolean mask or index array)."""
        sel = mask_or_index
        return FaceDataset(
            images=self.images[sel], labels=self.labels[sel], splits=self.splits[sel], ids=self.ids[sel],
            classes=self.classes, source=self.source, kind=self.kind, report=self.report,
            masks=None if self.masks is None else self.masks[sel],
            groups=None if self.groups is None else self.groups[sel],
            votes=None if self.votes is None else self.votes[sel],
            label_mode=self.label_mode, vote_report=self.vote_report,
        )

    def split(self, split: str) -> "FaceDataset":
        return self.subset(self.split_mask(split))

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {class: n}} for the splits present, every class listed (zeros included)."""
        out: dict[str, dict[str, int]] = {}
        for s in self.split_names():
            per_class = np.bincount(self.labels[self.split_mask(s)], minlength=len(self.classes))
            out[s] = {c: int(n) for c, n in zip(self.classes, per_class)}
        return out
