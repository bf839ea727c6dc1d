"""How often a model is right on real photos: a folder or zip of class subfolders of photos, each one
through exactly the Demo path (decode, detect, turn upright, crop, model), scored on its first
(largest) face.

`evaluate_photos` returns one JSON-ready record; `save_photo_evaluation` keeps it beside the run
(`photo_evaluations/` in its folder; for the bundled model, whose folder is part of the package, in
the checkpoints folder's `.builtin/photo_evaluations/`), where the Runs page and `list_photo_evaluations`
find it. Photos in which no face is found, and unreadable ones, are counted and listed apart: they
are never scored with a guess.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fer_core import runs
from fer_core.common import paths
from fer_core.common.files import atomic_write_json
from fer_core.common.metrics import classification_report
from fer_core.data.dataset import DataError, LoadReport
from fer_core.data.decode import MAX_IMAGE_BYTES
from fer_core.data.files import FileTree
from fer_core.data.sources import plan_images

FOLDER = "photo_evaluations"
KIND = "photo_evaluation"
MAX_PHOTOS = 100_000  # a folder this large is refused: split it (each photo is decoded and detected)
MAX_FILE_BYTES = 50 * 2**20  # a saved evaluation larger than this is not read


def labelled_photos(path: str | os.PathLike) -> tuple[FileTree, list[tuple[int, str, str]], LoadReport]:
    """The photos of a folder or zip of class subfolders (`happy/001.jpg`, optionally under
    train/ val/ test/): the tree, (entry index, class, name) per photo, and what was skipped."""
    if not str(path).strip():
        raise DataError("--photos is empty; give a folder or zip of class subfolders of photos")
    if not Path(path).exists():
        raise DataError(f"{path}: no such folder or zip; give a folder or zip of class subfolders of photos "
                        "(e.g. happy/001.jpg)")
    tree = FileTree(path)
    report = LoadReport()
    plan, _ = plan_images(tree, report)
    if len(plan) > MAX_PHOTOS:
        raise DataError(f"{path} holds {len(plan):,} photos; evaluate at most {MAX_PHOTOS:,} at a time "
                        "(split the folder)")
    return tree, [(index, cls, rel) for index, _split, cls, rel in plan], report


def evaluate_photos(predictor, path: str | os.PathLike, detector: str | None = None, tta: str = "none",
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Score `predictor` (inference.predictor.Predictor) on a labelled photo folder or zip.

    Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix are over the photos in
    which a face was found (or that are face crops themselves), on the largest face. DataError when
    the folder cannot be used; ValueError when its classes are ones the model does not know."""
    from fer_core.data.decode import ImageDecodeError
    from fer_core.inference.faces import DEFAULT_DETECTOR, get_detector

    detector = detector or DEFAULT_DETECTOR
    get_detector(detector)  # an unknown name is refused once, not once per photo
    tree, photos, report = labelled_photos(path)
    classes = tuple(sorted({cls for _, cls, _ in photos}))
    to_model = predictor.check_dataset_classes(classes)
    labels, predicted, rows, no_face, unreadable = [], [], [], [], [(r, why) for r, why in report.skipped]
    started = time.perf_counter()
    for done, (index, cls, rel) in enumerate(photos, 1):
        entry = tree.entries[index]
        try:
            if entry.size > MAX_IMAGE_BYTES:
                raise ImageDecodeError(f"the file is {entry.size / 2**20:.0f} MB; images may be at most "
                                       f"{MAX_IMAGE_BYTES / 2**20:.0f} MB")
            result = predictor.predict_photo(tree.read(entry), tta=tta, detector=detector)
        except (ImageDecodeError, OSError, ValueError) as exc:
            unreadable.append((rel, str(exc)))
        except Exception as exc:  # a damaged archive member can raise zlib/zipfile errors
            unreadable.append((rel, f"unreadable ({type(exc).__name__}: {exc})"))
        else:
            if result.no_face:
                no_face.append(rel)
            else:
                face = result.faces[0]
                labels.append(int(to_model[classes.index(cls)]))
                predicted.append(int(face.probabilities.argmax()))
                rows.append({"photo": rel, "label": cls, "predicted": face.label,
                             "confidence": round(face.confidence, 4), "faces": len(result.faces)})
        if progress is not None:
            progress(done, len(photos))
    seconds = time.perf_counter() - started
    model_classes = predictor.classes
    scores = classification_report(np.array(labels, np.int64), np.array(predicted, np.int64), model_classes) \
        if labels else {"accuracy": None, "macro_f1": None, "per_class": None, "confusion_matrix": None}
    return {
        "kind": KIND, "photos": str(path), "created_at": time.time(), "model": predictor.provenance,
        "detector": detector, "tta": tta, "classes": list(model_classes),
        "n_photos": len(photos) + report.n_skipped, "n_scored": len(labels), "n_no_face": len(no_face),
        "n_unreadable": len(unreadable), **scores,
        "no_face": no_face, "unreadable": [{"photo": r, "reason": why} for r, why in unreadable],
        "predictions": rows, "seconds": round(seconds, 2),
        "photos_per_second": round(len(photos) / seconds, 2) if seconds > 0 else None,
    }


def evaluations_dir(run_dir: str | os.PathLike) -> Path:
    """Where a run's photo evaluations are kept (the bundled model's: in the checkpoints folder)."""
    if str(run_dir) == runs.BUILTIN or runs.is_builtin(run_dir):
        return paths.checkpoints_dir() / ".builtin" / FOLDER
    return Path(run_dir) / FOLDER


def save_photo_evaluation(run_dir: str | os.PathLike, evaluation: dict) -> Path:
    """Write an evaluation beside its run; returns the file."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(evaluation["photos"]).rstrip("/\\")).name)[:60] or "photos"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(evaluation["created_at"]))
    target = evaluations_dir(run_dir) / f"{stamp}-{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, evaluation)
    return target


def _checked(data: object) -> dict:
    """A saved evaluation whose fields the pages read have the right kinds; ValueError naming the first
    that does not (the file may have been edited)."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError("not a photo evaluation")
    count = lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**9  # noqa: E731
    score = lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1)  # noqa: E731
    classes = data.get("classes")
    checks = {
        "photos": isinstance(data.get("photos"), str), "created_at": isinstance(data.get("created_at"), (int, float))
        and 0 <= data["created_at"] < 10**11, "detector": isinstance(data.get("detector"), str),
        "classes": isinstance(classes, list) and 0 < len(classes) <= 50 and all(isinstance(c, str) for c in classes),
        "model": isinstance(data.get("model"), dict),
        **{k: count(data.get(k)) for k in ("n_photos", "n_scored", "n_no_face", "n_unreadable")},
        "accuracy": score(data.get("accuracy")), "macro_f1": score(data.get("macro_f1")),
        "no_face": isinstance(data.get("no_face"), list) and all(isinstance(n, str) for n in data["no_face"]),
        "unreadable": isinstance(data.get("unreadable"), list) and all(
            isinstance(u, dict) and isinstance(u.get("photo"), str) and isinstance(u.get("reason"), str)
            for u in data["unreadable"]),
    }
    matrix = data.get("confusion_matrix")
    checks["confusion_matrix"] = matrix is None or (
        checks["classes"] and isinstance(matrix, list) and len(matrix) == len(classes)
        and all(isinstance(row, list) and len(row) == len(classes) and all(count(v) for v in row) for row in matrix))
    bad = next((k for k, ok in checks.items() if not ok), None)
    if bad:
        raise ValueError(f"its field {bad!r} is missing or of the wrong kind")
    return data


def list_photo_evaluations(run_dir: str | os.PathLike) -> list[dict]:
    """A run's saved photo evaluations, newest first, each with its `file`; a file that cannot be read
    is listed with an `error` instead of hiding the others."""
    import json

    folder = evaluations_dir(run_dir)
    found = []
    for file in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            if not file.is_file() or file.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"not a regular file of at most {MAX_FILE_BYTES // 2**20} MB")
            found.append({**_checked(json.loads(file.read_text(encoding="utf-8"))), "file": str(file)})
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            found.append({"file": str(file), "error": f"cannot be read: {exc}"})
    return found


def all_photo_evaluations(records) -> list[tuple[str, dict]]:
    """(model label, evaluation) for the bundled model's saved evaluations and those of each run in
    `records` (runs.RunRecord) that has a model: what the Runs page lists."""
    found = []
    for model, run_dir in [(runs.BUILTIN, runs.BUILTIN)] + [(r.run_id, r.run_dir) for r in records if r.has_model]:
        try:
            found += [(model, ev) for ev in list_photo_evaluations(run_dir)]
        except OSError:  # a run folder we may not look into: its row in the runs table says why
            continue
    return found


def evaluation_table(evaluations: list[tuple[str, dict]]) -> "pd.DataFrame":
    """One row per (model label, evaluation): what the Runs page lists."""
    import pandas as pd

    rows = []
    for model, ev in evaluations:
        if "error" in ev:
            rows.append({"model": model, "photos": Path(ev["file"]).name, "error": ev["error"]})
            continue
        rows.append({"model": model, "photos": ev["photos"], "made": time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(ev["created_at"])), "photos in folder": ev["n_photos"],
            "with a face": ev["n_scored"], "no face": ev["n_no_face"], "unreadable": ev["n_unreadable"],
            "accuracy": ev["accuracy"], "macro-F1": ev["macro_f1"], "detector": ev["detector"], "error": None})
    return pd.DataFrame(rows)
