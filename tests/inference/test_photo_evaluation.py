"""Accuracy on a labelled folder or zip of photos (fer_core.inference.photo_evaluation, `evaluate --photos`)."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core import runs
from fer_core.common.emotions import CANONICAL_CLASSES
from fer_core.data import DataError
from fer_core.data.synthetic import draw_faces
from fer_core.inference.faces import detect_faces
from fer_core.inference.photo_evaluation import (evaluate_photos, evaluation_table, evaluations_dir,
                                                 list_photo_evaluations, save_photo_evaluation)
from fer_core.inference.predictor import Predictor
from tests.test_cli import run_cli

CLASSES = ("angry", "happy", "surprise")


def scene_with(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 320x240 colour photo with the face at 130 px on a shaded background."""
    photo = np.tile(np.linspace(60, 190, 320, dtype=np.float32), (240, 1))
    photo += rng.normal(0, 3, photo.shape)
    x, y = int(rng.integers(10, 170)), int(rng.integers(10, 100))
    photo[y:y + 130, x:x + 130] = cv2.resize(face, (130, 130), interpolation=cv2.INTER_CUBIC)
    gray = np.clip(photo, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Three class folders of photos whose drawn face the detector finds, a photo with no face and
    a file that is not an image."""
    root = tmp_path_factory.mktemp("photos") / "my photos"
    rng = np.random.default_rng(0)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        kept = 0
        while kept < 4:
            face = draw_faces(np.array([CANONICAL_CLASSES.index(cls)]), rng)[0][0]
            photo = scene_with(face, rng)
            if detect_faces(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)):
                cv2.imwrite(str(root / cls / f"{kept}.jpg"), photo)
                kept += 1
    cv2.imwrite(str(root / "happy" / "empty_room.png"), np.full((240, 320, 3), 170, np.uint8))
    (root / "angry" / "notes.jpg").write_bytes(b"not an image at all")
    return root


@pytest.fixture(scope="module")
def predictor(trained_run) -> Predictor:
    return Predictor.from_run(trained_run)


def test_every_photo_goes_through_the_demo_path_and_is_scored_on_its_largest_face(photo_folder, predictor):
    result = evaluate_photos(predictor, photo_folder)
    assert (result["n_photos"], result["n_scored"], result["n_no_face"], result["n_unreadable"]) == (14, 12, 1, 1)
    assert result["no_face"] == ["happy/empty_room.png"]
    assert result["unreadable"][0]["photo"] == "angry/notes.jpg" and "not a readable image" in result["unreadable"][0]["reason"]
    assert result["detector"] == "yunet" and result["classes"] == predictor.classes
    for row in result["predictions"]:  # exactly what Demo answers for that photo
        answer = predictor.predict_photo(str(photo_folder / row["photo"]))
        assert not answer.no_face and answer.faces[0].label == row["predicted"]
    right = sum(r["label"] == r["predicted"] for r in result["predictions"])
    assert result["accuracy"] == pytest.approx(right / 12)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (7, 7) and matrix.sum() == 12 and np.trace(matrix) == right
    assert sum(m["support"] for m in result["per_class"].values()) == 12
    assert result["per_class"]["happy"]["support"] == 4 and result["per_class"]["fear"]["support"] == 0


def test_a_zip_of_the_same_photos_gives_the_same_result(photo_folder, predictor, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(photo_folder.rglob("*")):
            if file.is_file():
                zf.write(file, f"my photos/{file.relative_to(photo_folder)}")
    from_folder, from_zip = evaluate_photos(predictor, photo_folder), evaluate_photos(predictor, archive)
    for key in ("n_photos", "n_scored", "n_no_face", "n_unreadable", "accuracy", "confusion_matrix"):
        assert from_zip[key] == from_folder[key], key
    assert from_zip["no_face"] == ["my photos/happy/empty_room.png"]  # named as in the zip


def test_bad_folders_are_refused_with_a_clear_message(predictor, tmp_path):
    with pytest.raises(DataError, match="no such folder or zip"):
        evaluate_photos(predictor, tmp_path / "missing")
    (tmp_path / "cats" ).mkdir()
    cv2.imwrite(str(tmp_path / "cats" / "a.png"), np.zeros((60, 60), np.uint8))
    with pytest.raises(DataError, match="unknown class folder name.*'cats'"):
        evaluate_photos(predictor, tmp_path)


def test_an_evaluation_is_kept_beside_its_run_and_a_damaged_one_is_listed_as_such(photo_folder, run_in_checkpoints):
    predictor = Predictor.from_run(run_in_checkpoints)
    result = evaluate_photos(predictor, photo_folder)
    saved = save_photo_evaluation(run_in_checkpoints, result)
    assert saved.parent == run_in_checkpoints / "photo_evaluations" and saved.name.endswith("-my_photos.json")
    (listed,) = list_photo_evaluations(run_in_checkpoints)
    assert listed["accuracy"] == result["accuracy"] and listed["file"] == str(saved)
    damaged = saved.with_name("20000101-000000-x.json")
    damaged.write_text(json.dumps({**result, "confusion_matrix": [[1, 2]]}))
    assert "confusion_matrix" in list_photo_evaluations(run_in_checkpoints)[1]["error"]
    table = evaluation_table([("run", e) for e in list_photo_evaluations(run_in_checkpoints)])
    assert list(table["with a face"].iloc[:1]) == [12] and table["error"].iloc[1].startswith("cannot be read")


def test_the_bundled_models_evaluations_go_to_the_checkpoints_folder_not_the_package(bundled_model, photo_folder,
                                                                                      isolated_project_dirs):
    result = evaluate_photos(Predictor.from_run("builtin"), photo_folder)
    saved = save_photo_evaluation("builtin", result)
    assert evaluations_dir("builtin") == isolated_project_dirs / "checkpoints" / ".builtin" / "photo_evaluations"
    assert saved.parent == evaluations_dir("builtin") and not (bundled_model / "photo_evaluations").exists()
    assert runs.list_runs() == []  # the folder is not a run


def test_evaluate_photos_from_the_command_line(photo_folder, run_in_checkpoints, tmp_path):
    result = run_cli("evaluate", "--run", str(run_in_checkpoints), "--photos", str(photo_folder), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n_scored"] == 12 and Path(out["saved_to"]).is_file()
    text = run_cli("evaluate", "--run", str(run_in_checkpoints), "--photos", str(photo_folder), "--no-save",
                   "--detector", "yunet")
    assert text.returncode == 0, text.stderr
    assert "a face in 12, no face found in 1, unreadable 1" in text.stdout
    assert "no face found: happy/empty_room.png" in text.stdout and "confusion matrix" in text.stdout
    assert len(list((run_in_checkpoints / "photo_evaluations").glob("*.json"))) == 1  # --no-save kept nothing
    for args, message in ((["--photos", str(tmp_path / "nope")], "no such folder or zip"),
                          (["--photos", str(photo_folder), "--split", "val"], "leave out --data, --split"),
                          (["--photos", str(photo_folder), "--detector", "yolo"], "unknown face detector"),
                          (["--detector", "yunet"], "--detector applies to --photos only")):
        bad = run_cli("evaluate", "--run", str(run_in_checkpoints), *args)
        assert bad.returncode == 2 and bad.stderr.startswith("error: ") and message in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr


def test_detectors_are_listed_with_where_they_come_from():
    result = run_cli("detectors")
    assert result.returncode == 0
    first = result.stdout.splitlines()[0]
    assert first.startswith("yunet (default): YuNet") and "Apache-2.0" in first
    assert "haar_alt2" in result.stdout
