"""Classical baselines (fer_core.models.classical, fer_core.training.classical): each one recorded as a complete run, like a deep run."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core import runs
from fer_core.common.files import atomic_write_json
from fer_core.runs.guard import RunGuard
from fer_core.jobs import worker
from fer_core.training.classical import run_classical
from fer_core.models.classical import CLASSICAL, resolve_options
from fer_core.runs.store import LEGACY_CLASSICAL_MODEL, CLASSICAL_MODEL
from fer_core.models.classical import TRUST_PICKLES_ENV, HOGFeatures, PixelScaler, classical_names, is_classical, predict_proba_classical
from fer_core.runs.checkpoint import load_classical
from fer_core.training.config import make_config
from fer_core.data import drop_cross_split_duplicates, load_dataset
from fer_core.common.emotions import CANONICAL_CLASSES
from fer_core.common.registry import UnknownNameError

SYNTHETIC_SIZE = 1200
# Small settings so each run takes a second or two on one core.
TINY = {"svm_components": 300, "n_estimators": 40, "mlp_hidden": [64], "mlp_max_iter": 100}
# Test accuracy on 180 synthetic test faces, measured at 0.91-0.94 (HOG) and 0.53-0.72 (PCA);
# chance is 1/7 and always answering the majority class (happy) scores 0.25.
MIN_ACCURACY = {"hog": 0.75, "pca": 0.40}


def _synthetic_test_split():
    ds, _ = drop_cross_split_duplicates(load_dataset(None, synthetic_size=SYNTHETIC_SIZE))
    return ds.split("train"), ds.split("test")


def _new_run(root, arch: str, imbalance: str = "none", **options):
    """A queued run folder the way jobs/CLI create one."""
    cfg = make_config(arch=arch, imbalance=imbalance, synthetic_size=SYNTHETIC_SIZE, torch_threads=1,
                      classical_options={**TINY, **options.pop("classical_options", {})}, **options)
    run_dir = runs.new_run_dir(arch, imbalance, root=root)
    atomic_write_json(run_dir / runs.CONFIG, cfg.to_dict())
    runs.write_status(run_dir, "queued")
    return cfg, run_dir


def _execute(root, arch: str, imbalance: str = "none", **options):
    _, run_dir = _new_run(root, arch, imbalance, **options)
    worker.execute(run_dir)
    return run_dir


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread in this process too: on a busy shared CPU, two spinning threads make PCA ~20x slower."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    """One run per baseline, shared by the record and reproduction tests."""
    root = tmp_path_factory.mktemp("classical_runs")
    return {arch: _execute(root, arch) for arch in classical_names()}


@pytest.fixture(scope="module")
def synthetic_splits():
    return _synthetic_test_split()


def test_registry_names_and_lookup():
    assert classical_names() == ["hog_svm", "hog_rf", "hog_mlp", "pca_svm", "pca_rf", "pca_mlp"]
    assert is_classical("hog_svm") and not is_classical("simple_cnn")
    with pytest.raises(UnknownNameError, match="valid: hog_svm"):
        CLASSICAL.get("hog_knn")
    from fer_core.models.architectures import arch_names
    assert not set(classical_names()) & set(arch_names())  # one --arch namespace for both families


def test_feature_transformers():
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    hog = HOGFeatures().fit_transform(faces)
    assert hog.shape == (5, 900) and hog.dtype == np.float32  # 5x5 blocks x 4 cells x 9 bins
    assert HOGFeatures(cell_size=6).fit_transform(faces).shape == (5, 7 * 7 * 4 * 9)
    pixels = PixelScaler().fit_transform(faces)
    assert pixels.shape == (5, 2304) and pixels.min() >= 0 and pixels.max() <= 1
    np.testing.assert_allclose(pixels[0, :3], faces[0, 0, :3] / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="uint8 grayscale arrays"):
        HOGFeatures().fit(faces.astype(np.float32))


@pytest.mark.parametrize("overrides, message", [
    ({"n_trees": 10}, "unknown classical option.*n_trees.*valid: hog_cell"),
    ({"hog_cell": 7}, "hog_cell must divide 48"),
    ({"C": 0}, "C must be a finite number > 0"),
    ({"n_estimators": 0}, "n_estimators must be an integer >= 1"),
    ({"mlp_hidden": []}, "mlp_hidden must be a non-empty list"),
    ({"pca_whiten": "yes"}, "pca_whiten must be true or false"),
])
def test_invalid_options_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve_options(overrides)
    assert resolve_options({"C": 2, "mlp_hidden": 32, "max_depth": None})["mlp_hidden"] == [32]


@pytest.mark.parametrize("arch", classical_names())
def test_baseline_run_has_a_complete_record(completed, synthetic_splits, arch):
    run_dir = completed[arch]
    _, test = synthetic_splits
    record = runs.load_run(run_dir)
    assert record.state == "completed", record.status.get("error")
    assert record.status["phase"] == "done" and record.status["epoch"] == record.status["epochs"] == 1

    assert len(record.metrics) == 1
    row = record.metrics[0]
    assert row["epoch"] == 1 and row["lr"] is None and row["epoch_seconds"] > 0
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1"):
        assert row[key] is not None and np.isfinite(row[key]), key
    assert 0 <= row["val_acc"] <= 1 and row["val_loss"] > 0

    ev = record.evaluation
    assert ev["kind"] == "classical" and ev["split"] == "test" and ev["n"] == len(test)
    assert ev["classes"] == list(CANONICAL_CLASSES) and set(ev["per_class"]) == set(CANONICAL_CLASSES)
    assert np.asarray(ev["confusion_matrix"]).sum() == len(test)
    assert ev["accuracy"] >= MIN_ACCURACY[arch.split("_")[0]], ev["accuracy"]
    assert 0 < ev["macro_f1"] <= 1
    assert len(runs.read_predictions(run_dir)) == len(test)
    assert record.summary()["test_accuracy"] == ev["accuracy"]


@pytest.mark.parametrize("arch", classical_names())
def test_saved_model_reproduces_stored_predictions(completed, synthetic_splits, arch):
    pipeline, card = load_classical(completed[arch])
    _, test = synthetic_splits
    assert card.arch == arch and card.kind == "classical" and card.class_names == list(CANONICAL_CLASSES)
    assert card.extra["features"]["kind"] == arch.split("_")[0] and card.extra["options"]["svm_components"] == 300
    probs = predict_proba_classical(pipeline, test.images)
    stored = runs.read_predictions(completed[arch])
    assert list(stored["id"]) == list(test.ids)
    np.testing.assert_allclose(probs, stored[[f"prob_{c}" for c in CANONICAL_CLASSES]].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert list(stored["prediction"]) == [CANONICAL_CLASSES[i] for i in probs.argmax(axis=1)]
    # one (48, 48) face; float32 batch arithmetic differs in the last bits
    np.testing.assert_allclose(predict_proba_classical(pipeline, test.images[0]), probs[:1], atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        predict_proba_classical(pipeline, test.images.astype(np.float32) / 255)


def test_class_weights_change_the_fitted_model(completed, tmp_path, synthetic_splits):
    # Random forest: class_weight is set on the estimator itself.
    rf, _ = load_classical(_execute(tmp_path, "hog_rf", "class_weights"))
    assert rf[-1].class_weight == "balanced"
    assert load_classical(completed["hog_rf"])[0][-1].class_weight is None
    # MLP (no class_weight): balanced sample weights move probability towards the rare class.
    weighted_dir = _execute(tmp_path, "hog_mlp", "class_weights")
    _, test = synthetic_splits
    disgust = CANONICAL_CLASSES.index("disgust")
    p_plain = predict_proba_classical(load_classical(completed["hog_mlp"])[0], test.images)[:, disgust]
    weighted, card = load_classical(weighted_dir)
    p_weighted = predict_proba_classical(weighted, test.images)[:, disgust]
    assert card.extra["imbalance"] == "class_weights"
    assert p_weighted.mean() > 1.5 * p_plain.mean(), (p_weighted.mean(), p_plain.mean())


@pytest.mark.parametrize("strategy", ["undersample", "oversample"])
def test_resampling_strategies_change_the_fit_set(tmp_path, synthetic_splits, strategy):
    train, _ = synthetic_splits
    run_dir = _execute(tmp_path, "hog_rf", strategy)
    assert runs.read_status(run_dir)["status"] == "completed"
    _, card = load_classical(run_dir)
    counts = np.bincount(train.labels, minlength=len(CANONICAL_CLASSES))
    expected = len(counts) * counts.min() if strategy == "undersample" else len(train)  # oversample: N draws
    assert card.extra["n_train"] == len(train) and card.extra["n_fit"] == expected


def test_max_train_caps_the_fit_set(tmp_path, synthetic_splits):
    run_dir = _execute(tmp_path, "pca_rf", classical_options={"max_train": 300})
    _, card = load_classical(run_dir)
    assert 295 <= card.extra["n_fit"] <= 305 and runs.load_run(run_dir).evaluation["n"] == len(synthetic_splits[1])


def test_unsupported_strategy_is_recorded_as_failed(tmp_path):
    _, run_dir = _new_run(tmp_path, "hog_svm", "focal")
    assert worker.execute(run_dir) == "failed"
    status = runs.read_status(run_dir)
    assert "'focal' is not supported for classical baselines" in status["error"]
    assert "supported: none, class_weights, undersample, oversample" in status["error"]
    assert not (run_dir / runs.EVALUATION).exists() and not (run_dir / CLASSICAL_MODEL).exists()


def test_direct_call_inside_run_guard_records_bad_options(tmp_path):
    cfg, run_dir = _new_run(tmp_path, "pca_svm", classical_options={"n_trees": 10})
    with RunGuard(run_dir) as guard:
        run_classical(cfg, run_dir)
    assert guard.status == "failed"
    assert "unknown classical option(s): n_trees" in runs.read_status(run_dir)["error"]


def test_load_classical_explains_a_missing_model(tmp_path):
    _, run_dir = _new_run(tmp_path, "hog_svm")
    with pytest.raises(runs.RunError, match="model_card.json is missing"):
        load_classical(run_dir)


def test_predict_and_evaluate_work_on_a_classical_run_from_the_cli(completed, tmp_path):
    """The model card names its classes 'classes'; predict and evaluate once failed on it with a KeyError."""
    import json
    import subprocess
    import sys

    import cv2
    run_dir = completed["hog_svm"]
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), _synthetic_test_split()[1].images[0])
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    outputs = []
    for args in (["predict", "--run", str(run_dir), str(face), "--json"], ["evaluate", "--run", str(run_dir), "--json"]):
        result = subprocess.run([sys.executable, "-m", "fer_core", *args], cwd=root, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    prediction, evaluation = outputs
    assert len(prediction["faces"]) == 1 and evaluation["accuracy"] > 0.5
    assert prediction["model"]["arch"] == "hog_svm" and prediction["model"]["synthetic"] is True


def test_demo_can_answer_with_a_classical_run(completed, isolated_project_dirs):
    """Demo's path: default_model picks the classical run (the only model) and predicts a photo."""
    import shutil

    from fer_core.inference.predictor import Predictor, default_model
    target = isolated_project_dirs / "checkpoints" / completed["pca_rf"].name
    shutil.copytree(completed["pca_rf"], target)
    record = default_model()
    assert record is not None and record.run_dir == target
    result = Predictor.from_run(record.run_dir).predict_photo(_synthetic_test_split()[1].images[0])
    assert len(result.faces) == 1 and result.faces[0].label in CANONICAL_CLASSES


def test_a_model_file_naming_foreign_types_is_not_loaded(completed, tmp_path):
    import shutil

    import skops.io
    run_dir = tmp_path / "tampered"
    shutil.copytree(completed["pca_rf"], run_dir)
    (run_dir / CLASSICAL_MODEL).write_bytes(skops.io.dumps(_Foreign()))
    with pytest.raises(runs.RunError, match="names types a classical baseline is not made of .*_Foreign"):
        load_classical(run_dir)
    (run_dir / CLASSICAL_MODEL).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(runs.RunError, match="is unreadable"):
        load_classical(run_dir)


class _Foreign:
    """A type no baseline is made of."""

    def __init__(self):
        self.anything = 1


class _Planted:
    """Unpickling this creates a file: what a tampered pickle could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_an_old_pickled_model_runs_no_code_unless_the_user_opts_in(completed, tmp_path, monkeypatch):
    import pickle
    import shutil
    run_dir = tmp_path / "old"
    shutil.copytree(completed["pca_rf"], run_dir)
    (run_dir / CLASSICAL_MODEL).unlink()
    planted = tmp_path / "planted.txt"
    (run_dir / LEGACY_CLASSICAL_MODEL).write_bytes(pickle.dumps(_Planted(str(planted))))
    monkeypatch.delenv(TRUST_PICKLES_ENV, raising=False)
    with pytest.raises(runs.RunError, match=f"pickle from an older version.*{TRUST_PICKLES_ENV}=1"):
        load_classical(run_dir)
    assert not planted.exists()
    import joblib
    joblib.dump(load_classical(completed["pca_rf"])[0], run_dir / LEGACY_CLASSICAL_MODEL)  # a genuine old run
    monkeypatch.setenv(TRUST_PICKLES_ENV, "1")
    pipeline, card = load_classical(run_dir)
    assert list(pipeline.fer_classes_) == card.class_names


def test_a_classical_run_folder_written_in_the_old_format_still_loads(completed, tmp_path):
    """Run folders written before the 2026-11-26 redesign: model_card.json was a dict naming its classes
    "classes", model.skops named the feature types under fer_core.classical, and config.json said
    num_workers_threads. Such a folder predicts and evaluates exactly as it did."""
    import io
    import json
    import shutil
    import zipfile

    import skops.io

    from fer_core.inference.evaluation import evaluate_run
    from fer_core.inference.predictor import Predictor
    new = completed["hog_svm"]
    run_dir = tmp_path / "old"
    shutil.copytree(new, run_dir)
    card = json.loads((run_dir / "model_card.json").read_text())
    old_card = {"format": 1, "kind": "classical", "arch": card["arch"], "classes": card["class_names"],
                "data": card["trained_on"], **card["extra"]}
    (run_dir / "model_card.json").write_text(json.dumps(old_card))
    with zipfile.ZipFile(new / "model.skops") as zf:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as old_zip:
            for info in zf.infolist():
                data = zf.read(info)
                if info.filename == "schema.json":
                    data = data.replace(b'"fer_core.models.classical"', b'"fer_core.classical"')
                old_zip.writestr(info.filename, data)
    (run_dir / "model.skops").write_bytes(out.getvalue())
    assert "fer_core.classical.HOGFeatures" in skops.io.get_untrusted_types(file=run_dir / "model.skops")
    config = json.loads((run_dir / "config.json").read_text())
    config["num_workers_threads"] = config.pop("torch_threads")
    (run_dir / "config.json").write_text(json.dumps(config))

    pipeline, loaded = load_classical(run_dir)
    assert loaded.kind == "classical" and loaded.class_names == card["class_names"]
    assert loaded.extra["features"] == card["extra"]["features"]
    faces = _synthetic_test_split()[1].images[:20]
    np.testing.assert_allclose(Predictor.from_run(run_dir).predict_faces(faces),
                               Predictor.from_run(new).predict_faces(faces))
    assert evaluate_run(run_dir)["accuracy"] == evaluate_run(new)["accuracy"]


def test_a_classical_run_says_it_cannot_be_exported(completed, tmp_path):
    from fer_core.inference.export import ExportError, export_run
    with pytest.raises(ExportError, match="classical baseline .*only deep models export"):
        export_run(completed["pca_rf"], "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_classical_baseline_learns_fer_plus_majority_labels_but_not_a_distribution(tmp_path):
    from fer_core import runs
    from fer_core.jobs import worker
    from fer_core.training.config import make_config
    from tests.conftest import synthetic_votes
    votes = str(synthetic_votes(tmp_path / "votes.csv", 300))
    run_dir = runs.create_run(make_config(arch="pca_rf", synthetic_size=300, votes=votes, label_mode="majority"),
                              tmp_path)
    assert worker.execute(run_dir) == "completed", runs.read_status(run_dir)
    evaluation = runs.load_run(run_dir).evaluation
    assert evaluation["labels"] == "FER+ majority" and evaluation["classes"][-1] == "contempt"
    soft = runs.create_run(make_config(arch="pca_rf", synthetic_size=300, votes=votes, label_mode="distribution"),
                           tmp_path)
    assert worker.execute(soft) == "failed"
    assert "not a vote distribution" in runs.read_status(soft)["error"]
