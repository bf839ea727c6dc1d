"""Label noise made visible: where a dataset's own labels (FER2013's one guess per face) and the FER+
majority of ten annotators agree, where they differ, and how much the annotators agreed with each other."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_core.common.emotions import sort_classes
from fer_core.data.dataset import SPLITS, FaceDataset
from fer_core.data.votes import UNKNOWN, VOTE_CLASSES, VOTE_COLUMNS, majority_vote, top_share


@dataclass
class LabelAgreement:
    """The source labels against the FER+ majority, over the faces FER+ keeps (a majority emotion)."""

    source_classes: tuple[str, ...]  # rows
    majority_classes: tuple[str, ...]  # columns
    matrix: np.ndarray  # (rows, columns) faces with that source label and that FER+ majority
    compared: np.ndarray  # indices (into the dataset) of the faces compared
    source_label: np.ndarray  # per compared face: source class name
    majority_label: np.ndarray  # per compared face: FER+ majority class name
    top_share: np.ndarray  # per face with votes: the share of its votes the top column holds
    n_with_votes: int
    n_without_votes: int

    @property
    def agrees(self) -> np.ndarray:
        return self.source_label == self.majority_label

    @property
    def agreement(self) -> float:
        """Share of compared faces whose source label is the FER+ majority."""
        return float(self.agrees.mean()) if len(self.compared) else float("nan")

    def per_class(self) -> dict[str, float]:
        """Per source class: the share of its faces whose FER+ majority is the same class."""
        out = {}
        for cls in self.source_classes:
            mine = self.source_label == cls
            if mine.any():
                out[cls] = float(self.agrees[mine].mean())
        return out

    def disagreements(self) -> np.ndarray:
        """Dataset indices of the compared faces whose two labels differ."""
        return self.compared[~self.agrees]

    def to_dict(self) -> dict:
        """What `data quality --json` reports under "labels"."""
        counts, edges = np.histogram(self.top_share, bins=10, range=(0.05, 1.05))  # one bin per tenth
        return {
            "n_with_votes": self.n_with_votes, "n_without_votes": self.n_without_votes,
            "n_compared": int(len(self.compared)), "agreement": self.agreement,
            "per_class_agreement": self.per_class(),
            "matrix": {"rows": list(self.source_classes), "columns": list(self.majority_classes),
                       "counts": self.matrix.tolist()},
            "annotator_agreement": {"median": float(np.median(self.top_share)) if len(self.top_share) else None,
                                    "histogram": {"edges": edges.round(2).tolist(), "counts": counts.tolist()}},
        }


def label_agreement(ds: FaceDataset, split: str | None = None) -> LabelAgreement:
    """Compare `ds`'s own labels with its FER+ votes (`ds` loaded with votes, label mode fer2013)."""
    if ds.votes is None:
        raise ValueError("the dataset has no votes: load it with a FER+ votes file (label mode fer2013)")
    if ds.label_mode != "fer2013":
        raise ValueError(f"the dataset's labels are already FER+'s ({ds.label_mode}); load it with label mode "
                         "fer2013 to compare the source labels with the votes")
    rows = np.arange(len(ds)) if split is None else np.flatnonzero(ds.splits == SPLITS.index(split))
    votes = ds.votes[rows]
    has = votes[:, 0] >= 0
    winner = np.full(len(rows), -1)
    winner[has] = majority_vote(votes[has])
    kept = (winner >= 0) & (winner < UNKNOWN)
    compared = rows[kept]
    source = np.asarray(ds.classes, dtype=object)[ds.labels[compared]].astype(str)
    majority = np.asarray(VOTE_CLASSES, dtype=object)[winner[kept]].astype(str)
    majority_classes = sort_classes(set(majority))
    matrix = np.zeros((len(ds.classes), len(majority_classes)), np.int64)
    row_of = {c: i for i, c in enumerate(ds.classes)}
    col_of = {c: i for i, c in enumerate(majority_classes)}
    np.add.at(matrix, ([row_of[c] for c in source], [col_of[c] for c in majority]), 1)
    return LabelAgreement(ds.classes, majority_classes, matrix, compared, source, majority,
                          top_share(votes[has]), int(has.sum()), int((~has).sum()))


def votes_text(counts: np.ndarray) -> str:
    """A face's votes in words, largest first: 'sadness 6, neutral 3, fear 1'."""
    order = np.argsort(-counts, kind="stable")
    return ", ".join(f"{VOTE_COLUMNS[i]} {counts[i]}" for i in order if counts[i] > 0) or "no votes"
