"""Batch prediction: image files, folders and zips -> one row per face -> CSV.

Inputs are expanded lazily (a folder: its image files, sorted, recursively; a zip: its image members,
read through data.files.FileTree with a size cap per image), faces are found image by image, and the model sees them in large batches,
which is where the speed of `predict` on many images comes from. An unreadable image becomes an error
row for that image; it never stops the batch.
"""
from __future__ import annotations

import csv
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from fer_core.data.dataset import DataError
from fer_core.data.decode import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES
from fer_core.common.spreadsheet import safe_cell
from fer_core.data.files import FileTree

MAX_PHOTO_ZIP_FILES = 10_000  # a zip of photos to predict (Demo's "Many photos", predict): refused above

MODEL_BATCH = 512  # faces per model call


@dataclass
class ImageInput:
    """One image to predict: its name (path, or zip:member) and its bytes, or why it could not be read."""

    name: str
    data: bytes | None = None
    error: str | None = None


@dataclass
class ImageResult:
    """What `predict` found in one image: its faces (PhotoPrediction.to_dict()) or an error."""

    name: str
    prediction: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"image": self.name, "error": self.error}
        return {"image": self.name, **(self.prediction or {})}


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _read_file(path: Path, name: str) -> ImageInput:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return ImageInput(name, error=f"the file is {size / 2**20:.0f} MB; images may be at most "
                                          f"{MAX_IMAGE_BYTES / 2**20:.0f} MB")
        return ImageInput(name, path.read_bytes())
    except OSError as exc:
        return ImageInput(name, error=f"could not be read ({exc.strerror or exc})")


def _zip_members(path: Path, shown_as: str | None = None) -> Iterator[ImageInput]:
    """The zip's image members through the dataset reader's FileTree (its size, overlap and
    duplicate-name checks included), each read only when it is small enough for an image; named
    `<shown_as or path>:<member>`."""
    shown_as = shown_as or str(path)
    try:
        tree = FileTree(path, max_files=MAX_PHOTO_ZIP_FILES)
    except DataError as exc:
        yield ImageInput(shown_as, error=str(exc).replace(str(path), shown_as))
        return
    images = [entry for entry in tree.entries if _is_image_name(entry.rel)]
    if not images:
        yield ImageInput(shown_as, error=f"the zip holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    for entry in images:
        name = f"{shown_as}:{entry.rel}"
        if entry.size > MAX_IMAGE_BYTES:  # checked before inflating: a small zip can hide a huge file
            yield ImageInput(name, error=f"inflates to {entry.size / 2**20:.0f} MB; images may be at most "
                                         f"{MAX_IMAGE_BYTES / 2**20:.0f} MB")
            continue
        try:
            yield ImageInput(name, tree.read(entry))
        except (OSError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
            yield ImageInput(name, error=f"could not be extracted ({exc})")


def expand_inputs(items: Iterable[str | os.PathLike]) -> Iterator[ImageInput]:
    """Every image named by `items`: files as they are, folders' image files, zips' image members."""
    for item in items:
        if not str(item).strip():  # Path("") is the current folder: an empty argument is a mistake
            yield ImageInput(str(item), error="an empty path; give an image file, a folder or a zip")
            continue
        path = Path(item)
        try:
            path.is_dir()
        except OSError as exc:  # a name too long, a folder we may not read
            yield ImageInput(str(path), error=f"could not be read ({exc.strerror or exc})")
            continue
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_image_name(p.name))
            if not files:
                yield ImageInput(str(path), error="the folder holds no image files "
                                                  f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
            for file in files:
                yield _read_file(file, str(file))
        elif path.suffix.lower() == ".zip" and path.is_file():
            yield from _zip_members(path)
        elif path.is_file():
            yield _read_file(path, str(path))
        else:
            yield ImageInput(str(path), error="no such file or folder")


def predict_many(predictor, inputs: Iterable[ImageInput], detect: bool = True, tta: str = "none",
                 chunk: int = MODEL_BATCH, detector: str | None = None) -> Iterator[ImageResult]:
    """Predict every input, in input order, finding faces per image (with `detector`, None: the
    default) and classifying them `chunk` faces at a time."""
    from fer_core.inference.faces import DEFAULT_DETECTOR, find_faces, get_detector
    from fer_core.inference.predictor import FacePrediction, PhotoPrediction

    detector = detector or DEFAULT_DETECTOR
    get_detector(detector)  # an unknown name is refused once, not once per image
    pending: list[tuple[str, object | None, str | None]] = []  # (name, FaceSearch or None, error)

    def flush() -> Iterator[ImageResult]:
        faces = [f.face for _, search, _ in pending if search is not None for f in search.faces]
        probs = predictor.predict_faces(np.stack(faces), tta=tta) if faces else None
        at = 0
        for name, search, error in pending:
            if search is None:
                yield ImageResult(name, error=error)
                continue
            n = len(search.faces)
            found = [FacePrediction(f.box, f.face, p, predictor.classes) for f, p in zip(search.faces, probs[at:at + n])]
            at += n
            yield ImageResult(name, PhotoPrediction(found, search.whole_image, search.image_size, search.no_face).to_dict())
        pending.clear()

    waiting = 0
    for item in inputs:
        if item.error is not None:
            pending.append((item.name, None, item.error))
            continue
        try:
            search = find_faces(item.data, detect=detect, detector=detector)
        except ValueError as exc:  # ImageDecodeError is a ValueError
            pending.append((item.name, None, str(exc)))
            continue
        pending.append((item.name, search, None))
        waiting += len(search.faces)
        if waiting >= chunk:
            yield from flush()
            waiting = 0
    yield from flush()


def result_rows(results: Iterable[ImageResult], classes: list[str], provenance: dict) -> Iterator[dict]:
    """One row per face (image, face, box, label, confidence, a probability per class, `no_face`: no face
    was found and the whole image was classified, the model) or one per unreadable image (its error):
    what the CSV and the app's table hold."""
    model = {"model": provenance.get("model"), "arch": provenance.get("arch"),
             "trained_on": "SYNTHETIC faces" if provenance.get("synthetic") else provenance.get("dataset")}
    empty = {c: None for c in classes}
    for result in results:
        if result.error is not None:
            yield {"image": result.name, "face": None, "x": None, "y": None, "w": None, "h": None, "label": None,
                   "confidence": None, **empty, "no_face": None, **model, "error": result.error}
            continue
        for i, face in enumerate(result.prediction["faces"], 1):
            box = face["box"] or {}
            yield {"image": result.name, "face": i, **{k: box.get(k) for k in ("x", "y", "w", "h")},
                   "label": face["label"], "confidence": face["confidence"],
                   **{c: face["probabilities"][c] for c in classes},
                   "no_face": bool(result.prediction.get("no_face")), **model, "error": None}


def write_csv(results: Iterable[ImageResult], path: str | os.PathLike, classes: list[str],
              provenance: dict) -> int:
    """result_rows as CSV; returns the number of rows."""
    rows = 0
    with open(path, "w", newline="") as f:
        writer = None
        for row in result_rows(results, classes, provenance):
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(row))
                writer.writeheader()
            writer.writerow({k: "" if v is None else safe_cell(v) for k, v in row.items()})  # photo names: no formulas
            rows += 1
    return rows


def predict_zip_upload(predictor, data: bytes, filename: str, detect: bool = True) -> list[dict]:
    """The app's batch: an uploaded zip of photos -> result_rows (the zip read with the same bounds as
    on the command line, from a temporary copy that is removed)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fer_batch_") as folder:
        path = Path(folder) / "upload.zip"
        path.write_bytes(data)
        results = predict_many(predictor, _zip_members(path, shown_as=Path(filename).name), detect=detect)
        return list(result_rows(results, predictor.classes, predictor.provenance))
