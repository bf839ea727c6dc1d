"""FER+ votes beside the images: reading a votes file, FER+'s majority rule, and the three label modes.

A votes file is a CSV with a column `image` (the image's path inside the dataset zip or folder, e.g.
`train/angry/Training_10118481.jpg`) and ten vote counts: neutral, happiness, surprise, sadness, anger,
disgust, fear, contempt, unknown, NF (not a face). FER+'s own `fer2013new.csv` (columns Usage, Image name
and the ten counts, one row per row of `fer2013.csv`) is read too: its rows name the faces of
`fer2013.csv` by position (`row_N`, the CSV reader's ids). FER+ is Barsoum et al. 2016,
https://github.com/microsoft/FERPlus (MIT licence).

Label modes (a run's `label_mode`):
- fer2013: the labels the source itself gives (its class folders or CSV); votes, if given, ride along
- majority: FER+'s own rule (`majority_vote`): 8 classes, contempt added; images without a majority dropped
- distribution: the same images, trained against their vote distribution (`vote_distribution`),
  scored on the majority label
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

import numpy as np

from fer_core.common.emotions import sort_classes
from fer_core.common.files import read_bounded
from fer_core.data.dataset import DataError, FaceDataset

VOTE_COLUMNS: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                                 "contempt", "unknown", "NF")
# The canonical class of each of the first eight columns (the last two are not emotions).
VOTE_CLASSES: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")
UNKNOWN, NOT_A_FACE = 8, 9
LABEL_MODES: dict[str, str] = {
    "fer2013": "the labels the source gives (its class folders or CSV)",
    "majority": "FER+ majority vote (8 classes, contempt added; faces without a clear majority dropped)",
    "distribution": "train on the FER+ vote distribution (soft targets), score on the majority label",
}
MAX_VOTES_BYTES = 64 * 1024**2  # ferplus.csv, 32,280 rows, is 1.8 MB
# Why an image is left out under the majority rule, in the order a report lists them.
DROP_REASONS = {"no_votes": "no row in the votes file", "no_majority": "no class holds more than half the votes",
                "unknown": "most annotators said 'unknown'", "not_a_face": "most annotators said 'not a face'"}


@dataclass
class Votes:
    """A votes file as read: image paths and their (N, 10) vote counts in VOTE_COLUMNS order."""

    images: np.ndarray  # (N,) str
    counts: np.ndarray  # (N, 10) int32
    path: str


@dataclass
class VoteReport:
    """How a dataset's images met the votes: how many were kept, and how many left out and why."""

    mode: str
    votes: str  # the votes file
    n_images: int  # images in the source
    n_kept: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason key (DROP_REASONS) -> count
    n_with_votes: int = 0

    def to_dict(self) -> dict:
        return {"mode": self.mode, "votes": self.votes, "n_images": self.n_images, "n_kept": self.n_kept,
                "dropped": dict(self.dropped), "n_with_votes": self.n_with_votes}

    def summary(self) -> str:
        """One line, e.g. 'FER+ majority: 28,258 of 32,298 faces kept; left out: 18 no row in the votes file, ...'."""
        if self.mode == "fer2013":
            return f"source labels (FER+ votes beside {self.n_with_votes:,} of its {self.n_images:,} faces)"
        left = "; ".join(f"{n:,} {DROP_REASONS[k]}" for k, n in self.dropped.items() if n)
        return (f"{label_description(self.mode)}: {self.n_kept:,} of {self.n_images:,} faces kept"
                + (f"; left out: {left}" if left else ""))


# The labels each mode's runs are scored on (val, test): distribution runs are scored on the majority label.
SCORED_ON = {"fer2013": "fer2013", "majority": "majority", "distribution": "majority"}


def label_description(mode: str, votes: str | None = "votes") -> str:
    """What labels a mode trains on, in a few words (tables and captions)."""
    if mode == "fer2013" or not votes:
        return "source labels"
    return "FER+ majority" if mode == "majority" else "FER+ distribution"


def scored_description(mode: str, votes: str | None = "votes") -> str:
    """What labels a mode's runs are scored on: 'source labels' or 'FER+ majority'."""
    return label_description(SCORED_ON.get(mode, mode), votes)


def _fail(path, where: str, what: str) -> DataError:
    return DataError(f"{path}: {where}: {what}. A votes file has the columns image,{','.join(VOTE_COLUMNS)} "
                     "(or FER+'s own fer2013new.csv, for fer2013.csv; see README).")


def read_votes(path: str | os.PathLike) -> Votes:
    """Read and check a votes file; DataError naming the first bad row (line) for anything wrong."""
    try:
        raw = read_bounded(path, MAX_VOTES_BYTES)
    except FileNotFoundError:
        raise DataError(f"{path}: no such votes file; give the path to FER+'s votes (ferplus.csv).") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give the votes CSV file (ferplus.csv) itself.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read as a votes file ({exc.strerror or exc}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte at position {exc.start}); a votes file is a CSV.") from None
    rows = csv.reader(io.StringIO(text))
    try:
        return _parse_votes(path, rows)
    except csv.Error as exc:  # a runaway quoted field, say
        raise _fail(path, f"line {rows.line_num}", f"not a readable CSV ({exc})") from None


def _parse_votes(path, rows) -> Votes:
    header = next(rows, None)
    if not header:
        raise _fail(path, "line 1", "the file is empty")
    names = [h.strip() for h in header]
    expected = ["image", *VOTE_COLUMNS]
    by_row = [n.lower() for n in names] == [n.lower() for n in ("Usage", "Image name", *VOTE_COLUMNS)]
    if by_row:  # FER+'s fer2013new.csv: row N votes for fer2013.csv's row N
        expected = ["usage", *expected]
    elif [n.lower() for n in names] != [n.lower() for n in expected]:
        raise _fail(path, "line 1", f"the columns are {','.join(names)}")
    images, counts, first_line = [], [], {}
    for line, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(expected):
            raise _fail(path, f"line {line}", f"{len(row)} cells, expected {len(expected)}")
        if by_row:
            row = [f"row_{line - 2}", *row[2:]]
        image = row[0].strip().replace("\\", "/")
        if not image:
            raise _fail(path, f"line {line}", "the image name is empty")
        if not image.isprintable():
            raise _fail(path, f"line {line}", f"the image name {image!r} holds control characters")
        if image in first_line:
            raise _fail(path, f"line {line}", f"{image} is listed again (first on line {first_line[image]})")
        first_line[image] = line
        values = []
        for column, cell in zip(VOTE_COLUMNS, row[-len(VOTE_COLUMNS):]):
            cell = cell.strip()
            if not (cell.isascii() and cell.isdigit()) or len(cell) > 6:
                raise _fail(path, f"line {line}", f"{column} is {cell!r}, expected a whole number of votes >= 0")
            values.append(int(cell))
        images.append(image)
        counts.append(values)
    if not images:
        raise _fail(path, "line 2", "the file has a header but no rows")
    return Votes(np.array(images), np.array(counts, np.int32).reshape(-1, len(VOTE_COLUMNS)), str(path))


def majority_vote(counts: np.ndarray) -> np.ndarray:
    """FER+'s majority rule (its ferplus.py) per row of vote counts: single votes are dropped; the top
    column wins when it holds more than half of the remaining votes (unknown and NF counted), else -1.
    Returns a VOTE_COLUMNS index (UNKNOWN and NOT_A_FACE included: callers drop those) or -1."""
    kept = np.where(counts <= 1, 0, counts)
    top = kept.argmax(axis=1)
    wins = kept.max(axis=1) > 0.5 * kept.sum(axis=1)
    return np.where(wins, top, -1)


def top_share(counts: np.ndarray) -> np.ndarray:
    """The annotators' agreement per face: the share of all its votes that the top column holds."""
    total = counts.sum(axis=1)
    return np.where(total > 0, counts.max(axis=1) / np.maximum(total, 1), 0.0)


def vote_distribution(counts: np.ndarray, classes, labels: np.ndarray) -> np.ndarray:
    """Soft targets (N, len(classes)) float32: each face's emotion votes over `classes`, single votes
    dropped as FER+'s rule does, normalised; a face with no such votes left gets its (hard) label."""
    columns = [VOTE_CLASSES.index(c) for c in classes]
    kept = np.where(counts <= 1, 0, counts)[:, columns].astype(np.float64)
    totals = kept.sum(axis=1, keepdims=True)
    one_hot = np.eye(len(classes))[labels]
    return np.where(totals > 0, kept / np.maximum(totals, 1), one_hot).astype(np.float32)


def _path_key(rel: str) -> str:
    return rel.replace("\\", "/").lstrip("./")


def align_votes(ds: FaceDataset, votes: Votes) -> np.ndarray:
    """(len(ds), 10) vote counts in the dataset's order, -1 rows for images the file has no row for.

    Rows are matched by the image's path in the zip or folder; a wrapping top folder (`fer2013/train/...`)
    may be absent from the votes file. A row naming an image the source does not have is a DataError,
    unless the source held that file but could not read it."""
    ids = [_path_key(str(i)) for i in ds.ids]
    where = {rel: n for n, rel in enumerate(ids)}
    unwrapped = {rel.split("/", 1)[1]: n for n, rel in enumerate(ids) if "/" in rel}
    unreadable = {_path_key(item) for item, _ in ds.report.skipped}
    aligned = np.full((len(ds), len(VOTE_COLUMNS)), -1, np.int32)
    for row, image in enumerate(votes.images):
        key = _path_key(str(image))
        n = where.get(key, unwrapped.get(key))
        if n is None:
            if key in unreadable or any(item.endswith("/" + key) for item in unreadable):
                continue
            raise DataError(f"{votes.path}: line {row + 2}: {image} is not an image of {ds.source} "
                            f"(names must be paths inside the dataset, e.g. {ids[0]}); is this the votes file "
                            "for this dataset?")
        aligned[n] = votes.counts[row]
    return aligned


def apply_votes(ds: FaceDataset, votes: Votes, mode: str) -> FaceDataset:
    """The dataset under a label mode: `votes` set on it; for majority and distribution, labels become
    FER+ majority labels and faces without one are left out (counted in `vote_report`)."""
    if mode not in LABEL_MODES:
        raise DataError(f"unknown label mode {mode!r}; valid: {', '.join(LABEL_MODES)}")
    aligned = align_votes(ds, votes)
    has_votes = aligned[:, 0] >= 0
    if mode == "fer2013":
        out = ds.subset(np.arange(len(ds)))
        out.votes, out.label_mode = aligned, mode
        out.vote_report = VoteReport(mode, votes.path, len(ds), len(ds), n_with_votes=int(has_votes.sum()))
        return out
    winner = np.where(has_votes, majority_vote(np.maximum(aligned, 0)), -1)
    keep = has_votes & (winner >= 0) & (winner < UNKNOWN)
    dropped = {"no_votes": int((~has_votes).sum()), "no_majority": int((has_votes & (winner < 0)).sum()),
               "unknown": int((winner == UNKNOWN).sum()), "not_a_face": int((winner == NOT_A_FACE).sum())}
    if not keep.any():
        raise DataError(f"{votes.path}: no face of {ds.source} has a FER+ majority label "
                        f"({', '.join(f'{n} {DROP_REASONS[k]}' for k, n in dropped.items() if n)}).")
    out = ds.subset(keep)
    names = [VOTE_CLASSES[w] for w in winner[keep]]
    out.classes = sort_classes(set(names))
    out.labels = np.array([out.classes.index(c) for c in names], np.int64)
    out.votes, out.label_mode = aligned[keep], mode
    out.vote_report = VoteReport(mode, votes.path, len(ds), int(keep.sum()), dropped, int(has_votes.sum()))
    return out
