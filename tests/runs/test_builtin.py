"""The bundled model (`--run builtin`): loads, predicts, says where it came from, cannot be deleted,
and is made only from a completed real-data run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.runs import builtin
from fer_core.jobs import worker
from fer_core.training.config import make_config
from fer_core.data.synthetic import generate_synthetic
from fer_core.common.emotions import CANONICAL_CLASSES
from fer_core.inference.predictor import Predictor, default_model

from tests.conftest import SHARED_ZIP


def test_the_bundled_model_loads_and_predicts_all_seven_classes(bundled_model):
    predictor = Predictor.from_run(runs.BUILTIN)
    assert predictor.classes == list(CANONICAL_CLASSES) and predictor.is_deep
    probs = predictor.predict_faces(generate_synthetic(40, seed=1).images[:5])
    assert probs.shape == (5, 7) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert predictor.provenance == {"model": "builtin", "run_id": predictor.run_id, "arch": "fast_cnn",
                                    "dataset": "fer2013.zip", "synthetic": False, "recipe": "fer2013-cpu"}
    assert "the built-in model (fast_cnn, learned from real faces in fer2013.zip)" == predictor.describe()
    assert sum(f.stat().st_size for f in bundled_model.iterdir()) <= builtin.MAX_BYTES


def test_the_bundled_model_refuses_deletion(bundled_model):
    for name in (runs.BUILTIN, bundled_model):
        with pytest.raises(runs.RunError, match="built-in model .* cannot be deleted"):
            runs.delete_run(name)
    assert (bundled_model / runs.CHECKPOINT).exists()


def test_the_card_says_how_the_model_was_made(bundled_model):
    card = builtin.read_card()
    assert card["model"] == "builtin" and card["synthetic"] is False and card["test"]["n"] == 3589
    assert card["train_command"].startswith("python -m fer_core train --data fer2013.zip --recipe fer2013-cpu")
    assert card["bundled_with"].startswith("python -m fer_core builtin --from-run ")


def test_without_a_bundled_model_builtin_is_a_clear_error():
    with pytest.raises(runs.RunError, match="bundled model is missing .* builtin --from-run"):
        Predictor.from_run(runs.BUILTIN)


def test_a_run_on_synthetic_faces_cannot_be_bundled(trained_run):
    with pytest.raises(runs.RunError, match="synthetic faces"):
        builtin.install_from_run(trained_run)


@pytest.fixture(scope="module")
def real_data_run(tmp_path_factory):
    """A one-epoch fast_cnn run on a small Kaggle-layout zip (real data as far as the tool knows)."""
    import zipfile

    from tests.conftest import kaggle_files, png_bytes
    root = tmp_path_factory.mktemp("real")
    path = root / "faces.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, img in kaggle_files().items():
            zf.writestr(name, png_bytes(img))
    config = make_config(data=str(path), arch="fast_cnn", input_size=32, epochs=1, batch_size=8, device="cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_DATA_DIR", str(root / "data"))  # its decoded cache stays out of the repository
        run_dir = runs.create_run(config, root / "runs")
        assert worker.execute(run_dir) == "completed", runs.read_status(run_dir).get("traceback")
    return run_dir


def test_a_real_data_run_becomes_the_bundled_model_and_demo_prefers_it(real_data_run, run_in_checkpoints):
    card = builtin.install_from_run(real_data_run)  # into this test's FER_BUILTIN_DIR, not the package
    assert card["dataset"] == "faces.zip" and card["test"]["accuracy"] is not None
    folder = runs.resolve_run_dir(runs.BUILTIN)
    int8 = ["model.int8.onnx", "model.int8.onnx.json"] if card["int8"]["shipped"] else []
    assert sorted(p.name for p in folder.iterdir()) == sorted([*builtin.FILES, builtin.CARD, "model.onnx",
                                                               "model.onnx.json", *int8])
    assert card["int8"]["shipped"] == (card["int8"]["accuracy_loss_points"] <= builtin.MAX_INT8_LOSS_POINTS)
    assert Predictor.from_run(runs.BUILTIN).engine == "onnxruntime"  # its model.onnx, made as it was bundled
    assert Predictor.from_run(runs.BUILTIN).provenance["model"] == "builtin"
    # Demo: the real-data model wins over a synthetic run whatever their val scores
    assert default_model().is_builtin
    builtin.install_from_run(real_data_run)  # bundling again replaces it whole, leaving nothing behind
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".builtin-") or p.name.endswith(".old")]
    assert (folder / runs.CHECKPOINT).exists()


def test_a_run_too_large_to_ship_is_refused(real_data_run, monkeypatch):
    monkeypatch.setattr(builtin, "MAX_BYTES", 1000)
    with pytest.raises(runs.RunError, match="may take at most"):
        builtin.install_from_run(real_data_run)


@pytest.mark.real_data
@pytest.mark.skipif(not SHARED_ZIP.exists(), reason="the shared FER2013 zip is absent")
def test_the_bundled_model_scores_on_publictest(bundled_model):
    """Measured 64.81% (no TTA) with `evaluate --run builtin --split test` on the 2-core VM."""
    from fer_core.inference.evaluation import evaluate_run
    report = evaluate_run(runs.BUILTIN, str(SHARED_ZIP), split="test", device="cpu")
    assert report["n"] == 3589 and report["accuracy"] >= 0.638


def test_the_headline_accuracy_says_one_pass_and_tta_apart(bundled_model):
    """The one source every page quotes: README's figure, one pass per face, then with flip TTA."""
    assert runs.load_run("builtin").test_accuracy_text() == "64.9% one pass per face, 65.8% with flip TTA"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "64.9% on PublicTest, one pass per face (65.8% with flip TTA)" in readme


def test_the_headline_accuracy_of_a_run_without_tta_is_one_figure(trained_run):
    record = runs.load_run(trained_run)
    assert record.test_accuracy_text() == f"{record.evaluation['accuracy']:.1%}"
