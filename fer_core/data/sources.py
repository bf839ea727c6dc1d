"""Readers for each kind of data source, all producing a FaceDataset.

- Kaggle FER2013 image layout (`train/<emotion>/*`, `test/<emotion>/*`), as zip or folder
- any folder or zip of class subfolders (users' own data, any size/format/colour)
- the original challenge CSV `fer2013.csv` (emotion, pixels, Usage)
- the built-in synthetic faces (see synthetic.py)
"""
from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_core.common.emotions import CANONICAL_CLASSES, canonical_name, sort_classes
from fer_core.data.dataset import SPLITS, DataError, FaceDataset, LoadReport
from fer_core.common.faces_array import IMAGE_SIZE
from fer_core.data.decode import IMAGE_EXTENSIONS, ImageDecodeError, decode_face
from fer_core.data.files import FileTree

if TYPE_CHECKING:
    import pandas as pd

# Folder names that denote a split rather than a class (case-insensitive).
SPLIT_FOLDERS = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "publictest": "val",
    "test": "test", "testing": "test", "privatetest": "test",
}
# The Kaggle FER2013 zip's test/ holds the PublicTest half; it is our test split.
CSV_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}
PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE
# A pixel is written 0-255 in decimal digits ('128.0' too): no exponent, sign, hex or other script's digits.
_NOT_A_DIGIT = re.compile(r"[^0-9. \t\r\n\f\v]")
MAX_CSV_BYTES = 1024**3  # fer2013.csv, 35,887 faces, is 0.3 GB


def detect_kind(path: str | os.PathLike) -> str:
    """'csv' for a .csv file, 'folder' for any folder or zip of images (split or class layout)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder. Give the path to a dataset zip, folder or CSV.")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix == ".zip":
            return "folder"
        raise DataError(f"{p}: a {suffix or 'extension-less'} file is not a dataset. "
                        "Expected a .zip or folder of class subfolders, or a fer2013-style .csv.")
    csvs = [c for c in p.iterdir() if c.suffix.lower() == ".csv"]
    has_dirs = any(c.is_dir() and not c.name.startswith(".") for c in p.iterdir())
    if not has_dirs and len(csvs) == 1:
        return "csv"  # a folder holding just fer2013.csv
    return "folder"


def resolve_csv(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p if p.is_file() else next(c for c in p.iterdir() if c.suffix.lower() == ".csv")


# ---------------------------------------------------------------- image folders and zips

def _suffix(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    return name[name.rfind("."):].lower() if "." in name else ""


def _strip_common_root(rels: list[str]) -> list[str]:
    """Drop a single wrapping folder (e.g. 'fer2013/train/...') unless it is a split or class name."""
    while rels:
        firsts = {r.split("/", 1)[0] for r in rels}
        if len(firsts) != 1 or any(r.count("/") < 2 for r in rels):
            break
        (top,) = firsts
        if top.lower() in SPLIT_FOLDERS or canonical_name(top):
            break
        rels = [r.split("/", 1)[1] for r in rels]
    return rels


def plan_images(tree: FileTree, report: LoadReport) -> tuple[list[tuple[int, str, str, str]], bool]:
    """Work out (entry index, split, class, id) for each image file from the folder layout,
    and whether the layout has split folders (train/ test/ ...) above the class folders."""
    images = [(i, e.rel) for i, e in enumerate(tree.entries) if _suffix(e.rel) in IMAGE_EXTENSIONS]
    others = [e.rel for e in tree.entries if _suffix(e.rel) not in IMAGE_EXTENSIONS]
    if not images:
        refused = (f"; {len(tree.refused)} not read, e.g. {tree.refused[0][0]}: {tree.refused[0][1]}"
                   if tree.refused else "")
        raise DataError(f"{tree.path}: no image files found ({len(others)} other files{refused}). Expected class "
                        "folders of images, e.g. train/happy/001.jpg or happy/001.jpg.")
    for rel in others:
        if "/" in rel:  # stray files at the top (README, csv) are not reported
            report.skip(rel, "not an image file type")
    for rel, why in tree.refused:
        report.skip(rel, why)
    stripped = _strip_common_root([rel for _, rel in images])
    split_layout = any(r.split("/", 1)[0].lower() in SPLIT_FOLDERS for r in stripped)
    plan, unknown, class_of = [], {}, {}
    for (index, rel), short in zip(images, stripped):
        parts = short.split("/")
        split = "train"
        if split_layout:
            split = SPLIT_FOLDERS.get(parts[0].lower())
            if split is None:
                report.skip(rel, f"folder {parts[0]!r} is not a split (expected train/ val/ test/)")
                continue
            parts = parts[1:]
        if len(parts) < 2:
            report.skip(rel, "image is not inside a class folder")
            continue
        cls = class_of.get(parts[0])
        if cls is None:
            cls = class_of[parts[0]] = canonical_name(parts[0])
        if cls is None:
            unknown.setdefault(parts[0], rel)
            continue
        plan.append((index, split, cls, rel))
    if unknown:
        names = ", ".join(f"{n!r} (e.g. {ex})" for n, ex in sorted(unknown.items()))
        raise DataError(f"{tree.path}: unknown class folder name(s): {names}. Expected emotion names "
                        f"such as {', '.join(CANONICAL_CLASSES)} (usual spellings like 'anger' or "
                        "'happiness' work too); rename or remove those folders.")
    if not plan:
        raise DataError(f"{tree.path}: no images inside class folders. Expected e.g. train/happy/001.jpg "
                        "or happy/001.jpg.")
    return plan, split_layout


def read_image_tree(path: str | os.PathLike) -> FaceDataset:
    """Read a zip or folder of class subfolders (optionally under train/ val/ test/)."""
    tree = FileTree(path)
    report = LoadReport()
    plan, split_layout = plan_images(tree, report)
    images = np.empty((len(plan), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    keep = np.zeros(len(plan), bool)
    for row, (index, _split, _cls, rel) in enumerate(plan):
        try:
            images[row] = decode_face(tree.read(tree.entries[index]))
            keep[row] = True
        except (ImageDecodeError, OSError, ValueError) as exc:
            report.skip(rel, str(exc))
        except Exception as exc:  # a damaged archive member can raise zlib/zipfile errors
            report.skip(rel, f"unreadable ({type(exc).__name__}: {exc})")
    plan = [p for p, k in zip(plan, keep) if k]
    if not plan:
        raise DataError(f"{path}: none of the image files could be read ({report.n_skipped} skipped; "
                        f"first: {report.skipped[0][0]}: {report.skipped[0][1]}).")
    classes = sort_classes({cls for _, _, cls, _ in plan})
    report.n_read = len(plan)
    return FaceDataset(
        images=images[keep],
        labels=np.array([classes.index(cls) for _, _, cls, _ in plan], np.int64),
        splits=np.array([SPLITS.index(split) for _, split, _, _ in plan], np.int8),
        ids=np.array([rel for *_, rel in plan]),
        classes=classes, source=str(path), kind="kaggle" if split_layout else "folder", report=report,
    )


# ---------------------------------------------------------------- fer2013.csv

def _parse_label(value: str) -> str | None:
    value = str(value).strip()
    if value.isascii() and value.isdigit():  # not '²' or other Unicode digits int() refuses
        index = int(value)
        return CANONICAL_CLASSES[index] if index < len(CANONICAL_CLASSES) else None
    return canonical_name(value)


def _parse_pixels(column: "pd.Series") -> tuple[np.ndarray, np.ndarray]:
    """Space-separated pixel strings -> (images for the good rows, mask of good rows)."""
    texts = column.fillna("").astype(str).str.strip()
    token_counts = texts.str.count(r"\s+").to_numpy() + (texts.str.len().to_numpy() > 0)
    good = token_counts == PIXELS_PER_IMAGE
    values = None
    joined = " ".join(texts[good]) if good.any() else ""
    if joined and not _NOT_A_DIGIT.search(joined):  # else ('1e2', '-0', '0x10') the rows are parsed one by one
        with warnings.catch_warnings():  # numpy warns or raises on a bad token, by version
            warnings.simplefilter("ignore", DeprecationWarning)
            try:  # one C-level parse of every row at once is far faster than splitting row by row
                # float64, not int32: 2**32 must stay out of range rather than wrap round to 0
                values = np.fromstring(joined, dtype=np.float64, sep=" ")
            except ValueError:
                values = None
    if values is None or values.size != good.sum() * PIXELS_PER_IMAGE:
        # some row holds a non-number: parse row by row to find which
        parsed = []
        for i in np.flatnonzero(good):
            text = texts.iloc[i]
            if _NOT_A_DIGIT.search(text):  # decimal digits only: float() would take '1e2', '１２８', '1_0'
                good[i] = False
                continue
            try:
                parsed.append(np.array(text.split(), dtype=np.float64))
            except ValueError:
                good[i] = False
        values = np.concatenate(parsed) if parsed else np.empty(0, np.float64)
    images = values.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    in_range = ((images >= 0) & (images <= 255) & (images == np.floor(images))).all(axis=(1, 2))
    good_rows = np.flatnonzero(good)
    good[good_rows[~in_range]] = False
    return images[in_range].astype(np.uint8), good


def _check_csv_file(csv_path: Path) -> None:
    """Before pandas reads a byte: a regular file (a FIFO blocks, /dev/zero never ends) of sane size."""
    try:
        st = os.stat(csv_path)
    except OSError as exc:
        raise DataError(f"{csv_path}: cannot be read ({exc.strerror or exc}).") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{csv_path}: not a regular file (a pipe, device or socket); give a fer2013-style CSV file.")
    if st.st_size > MAX_CSV_BYTES:
        raise DataError(f"{csv_path}: {st.st_size / 1024**3:.1f} GB, over the {MAX_CSV_BYTES / 1024**3:.0f} GB "
                        "limit for a CSV dataset (fer2013.csv is 0.3 GB); split it or use a folder of images.")


def read_csv(path: str | os.PathLike) -> FaceDataset:
    """Read the FER2013 challenge CSV: columns emotion, pixels and (optionally) Usage."""
    import pandas as pd  # only needed here; keeps `import fer_core.data` light
    csv_path = resolve_csv(path)
    _check_csv_file(csv_path)
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start}); "
                        "a fer2013-style CSV is UTF-8 text: save it as CSV (UTF-8).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{csv_path}: the file is empty; expected fer2013.csv's columns: emotion, pixels, Usage.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{csv_path}: not a readable CSV ({str(exc).strip()}).") from None
    columns = {c.strip().lower(): c for c in frame.columns}
    for name in ("emotion", "pixels", "usage"):
        spellings = [str(c) for c in frame.columns if str(c).strip().lower() == name]
        if len(spellings) > 1:  # which one is meant cannot be guessed
            raise DataError(f"{csv_path}: the columns {', '.join(spellings)} differ only in case; keep one of them.")
    missing = [c for c in ("emotion", "pixels") if c not in columns]
    if missing:
        raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}. "
                        "Expected fer2013.csv's columns: emotion, pixels, Usage.")
    report = LoadReport()
    labels = frame[columns["emotion"]].map(_parse_label)
    usage = frame[columns["usage"]].str.strip().str.lower().map(CSV_USAGE) if "usage" in columns \
        else pd.Series(["train"] * len(frame))
    images, pixels_ok = _parse_pixels(frame[columns["pixels"]])
    good = pixels_ok & labels.notna().to_numpy() & usage.notna().to_numpy()
    for row in np.flatnonzero(~good):
        line = row + 2  # header is line 1
        if not pixels_ok[row]:
            reason = f"pixels: expected {PIXELS_PER_IMAGE} numbers 0-255 separated by spaces"
        elif labels.iloc[row] is None or pd.isna(labels.iloc[row]):
            reason = (f"emotion {frame[columns['emotion']].iloc[row]!r} is not a known label "
                      f"(expected 0-{len(CANONICAL_CLASSES) - 1} or a name such as 'happy')")
        else:
            reason = f"Usage {frame[columns['usage']].iloc[row]!r} is not Training, PublicTest or PrivateTest"
        report.skip(f"row {row} (line {line})", reason)
    if not good.any():
        if not report.skipped:
            raise DataError(f"{csv_path}: the file has a header but no data rows.")
        first = "; ".join(f"{where}: {why}" for where, why in report.skipped[:3])
        raise DataError(f"{csv_path}: none of its {report.n_skipped:,} rows is usable. "
                        f"The first {min(3, report.n_skipped)}: {first}.")
    images = images[good[pixels_ok]]
    label_names = labels[good].tolist()
    classes = sort_classes(set(label_names))
    report.n_read = int(good.sum())
    return FaceDataset(
        images=np.ascontiguousarray(images),
        labels=np.array([classes.index(c) for c in label_names], np.int64),
        splits=np.array([SPLITS.index(s) for s in usage[good]], np.int8),
        ids=np.array([f"row_{r}" for r in np.flatnonzero(good)]),
        classes=classes, source=str(csv_path), kind="csv", report=report,
    )
