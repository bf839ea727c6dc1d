"""fer_core.inference.predictor: a run folder -> probabilities for faces and photos."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from fer_core import runs
from fer_core.training.config import TrainConfig
from fer_core.data import load_dataset
from fer_core.inference.predictor import Predictor, best_run, model_lock
from fer_core.common.faces_array import as_face_batch

from tests.conftest import TRAINED_RUN_CONFIG, in_threads


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_run(trained_run)


@pytest.fixture(scope="module")
def test_split(trained_run):
    config = TrainConfig.from_dict(runs.load_run(trained_run).config)
    ds = load_dataset(None, synthetic_size=config.synthetic_size, seed=config.seed, val_fraction=config.val_fraction)
    return ds.split("test")


def test_predictor_reproduces_the_runs_recorded_test_predictions(trained_run, predictor, test_split):
    recorded = runs.read_predictions(trained_run).set_index("id")
    probs = predictor.predict_faces(test_split.images)
    assert probs.shape == (len(test_split), 7)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    expected = recorded.loc[list(test_split.ids), [f"prob_{c}" for c in predictor.classes]].to_numpy()
    assert np.allclose(probs, expected, atol=2e-4)
    accuracy = float((probs.argmax(1) == test_split.labels).mean())
    assert accuracy == pytest.approx(runs.load_run(trained_run).evaluation["accuracy"], abs=1e-9)


def test_predictor_carries_the_runs_facts(predictor):
    assert predictor.arch == "simple_cnn" and predictor.is_deep
    assert predictor.classes == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert predictor.card.augment_config.input_size == TRAINED_RUN_CONFIG["input_size"]
    assert predictor.tta_modes() == ["none", "flip", "flip_shift"]  # trained without crops: no ten-crop


def test_flip_tta_averages_the_face_and_its_mirror(predictor, test_split):
    faces = test_split.images[:16]
    plain, mirrored = predictor.predict_faces(faces), predictor.predict_faces(faces[:, :, ::-1].copy())
    assert np.allclose(predictor.predict_faces(faces, tta="flip"), (plain + mirrored) / 2, atol=1e-5)


def test_unavailable_tta_and_bad_faces_are_refused(predictor):
    with pytest.raises(ValueError, match="ten_crop.*not available.*valid: none, flip"):
        predictor.predict_faces(np.zeros((1, 48, 48), np.uint8), tta="ten_crop")
    with pytest.raises(ValueError, match="uint8 grayscale arrays of shape"):
        predictor.predict_faces(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        as_face_batch(np.zeros((48, 48), np.float32))
    assert as_face_batch(np.zeros((48, 48), np.uint8)).shape == (1, 48, 48)


def test_class_index_accepts_names_display_names_and_indices(predictor):
    assert predictor.class_index("happy") == 3
    assert predictor.class_index("Happy") == 3
    assert predictor.class_index(6) == 6
    with pytest.raises(ValueError, match="unknown class 'contempt'.*it knows angry"):
        predictor.class_index("contempt")
    with pytest.raises(ValueError, match="unknown class 7"):
        predictor.class_index(7)


def test_a_dataset_with_classes_the_model_never_learnt_is_refused(predictor):
    assert list(predictor.check_dataset_classes(("angry", "happy"))) == [0, 3]
    with pytest.raises(ValueError, match="contempt.*not trained on"):
        predictor.check_dataset_classes(("angry", "contempt"))


def test_concurrent_threads_get_the_same_answers(predictor, test_split):
    faces = test_split.images[:32]
    expected = predictor.predict_faces(faces)
    results = in_threads(lambda: predictor.predict_faces(faces), threads=4)
    assert len(results) == 4
    assert all(np.allclose(r, expected, atol=1e-6) for r in results)
    assert model_lock(predictor.model) is model_lock(predictor.model)


def test_predict_photo_on_a_face_crop_uses_the_whole_image(predictor, test_split, tmp_path):
    face = test_split.images[0]
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), face)
    result = predictor.predict_photo(path, detect=False)
    assert result.whole_image and len(result.faces) == 1 and result.faces[0].box is None
    assert np.array_equal(result.faces[0].face, face)
    assert np.allclose(result.faces[0].probabilities, predictor.predict_faces(face)[0], atol=1e-6)
    payload = result.to_dict()
    assert payload["faces"][0]["label"] == predictor.classes[int(result.faces[0].probabilities.argmax())]
    json.dumps(payload)  # plain JSON types only


def test_predict_photo_reports_a_missing_file_clearly(predictor, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        predictor.predict_photo(tmp_path / "nope.jpg")


def test_a_run_without_checkpoint_says_so(trained_run, tmp_path):
    broken = tmp_path / trained_run.name
    shutil.copytree(trained_run, broken)
    (broken / runs.CHECKPOINT).unlink()
    with pytest.raises(runs.RunError, match="cannot predict.*no checkpoint"):
        Predictor.from_run(broken)


def test_a_corrupt_checkpoint_says_so(trained_run, tmp_path):
    broken = tmp_path / trained_run.name
    shutil.copytree(trained_run, broken)
    (broken / runs.CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(runs.RunError, match="not a readable checkpoint"):
        Predictor.from_run(broken)


def test_a_model_made_with_the_retired_sharpness_cap_says_to_train_again(trained_run, tmp_path):
    earlier = tmp_path / trained_run.name
    shutil.copytree(trained_run, earlier)
    blob = torch.load(earlier / runs.CHECKPOINT, weights_only=True)
    blob["card"]["preprocess"]["max_sharpness"] = 1500.0  # what checkpoints made before 2026-11-26 carry
    torch.save(blob, earlier / runs.CHECKPOINT)
    with pytest.raises(runs.RunError, match="sharpness cap.*train the run again"):
        Predictor.from_run(earlier)


def test_best_run_is_chosen_on_validation_not_test(trained_run, tmp_path):
    better_val, better_test = tmp_path / "a", tmp_path / "b"
    shutil.copytree(trained_run, better_val)
    shutil.copytree(trained_run, better_test)
    for folder, val_acc, test_acc in ((better_val, 0.99, 0.10), (better_test, 0.20, 0.99)):
        metrics = runs.read_metrics(folder)
        (folder / "metrics.csv").unlink()
        for row in metrics:
            runs.append_metrics(folder, {**row, "val_acc": val_acc})
        evaluation = json.loads((folder / "evaluation.json").read_text())
        (folder / "evaluation.json").write_text(json.dumps({**evaluation, "accuracy": test_acc}))
    assert best_run(tmp_path).run_dir == better_val
    assert best_run(tmp_path / "empty") is None


def test_onnx_runtime_gives_the_same_probabilities_as_pytorch(trained_run, test_split):
    onnx = Predictor.from_run(trained_run, engine="onnxruntime")
    eager = Predictor.from_run(trained_run, engine="torch")
    assert (onnx.engine, eager.engine) == ("onnxruntime", "torch")
    faces = test_split.images[:40]
    for tta in ("none", "flip"):
        assert np.allclose(onnx.predict_faces(faces, tta=tta), eager.predict_faces(faces, tta=tta), atol=1e-4)
    with pytest.raises(ValueError, match="unknown inference engine 'tensorrt'"):
        Predictor.from_run(trained_run, engine="tensorrt")


def test_a_zip_upload_gives_one_row_per_face_with_the_model_and_one_per_unreadable_file(predictor, test_split):
    import io
    import zipfile

    import cv2

    from fer_core.inference.batch import predict_zip_upload
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.png", cv2.imencode(".png", test_split.images[0])[1].tobytes())
        zf.writestr("b.jpg", b"not a jpeg")
    rows = predict_zip_upload(predictor, buffer.getvalue(), "/somewhere/photos.zip")
    assert [r["image"] for r in rows] == ["photos.zip:a.png", "photos.zip:b.jpg"]
    good, bad = rows
    assert good["error"] is None and good["label"] in predictor.classes and good["model"] == predictor.run_id
    assert abs(sum(good[c] for c in predictor.classes) - 1) < 1e-3 and good["trained_on"] == "SYNTHETIC faces"
    assert bad["label"] is None and bad["error"] and bad["arch"] == predictor.arch
    [broken] = predict_zip_upload(predictor, b"not a zip", "/home/me/x.zip")
    assert broken["image"] == "x.zip" and "x.zip" in broken["error"] and "fer_batch_" not in broken["error"]
