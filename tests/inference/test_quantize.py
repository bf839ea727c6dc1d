"""int8 (fer_core.inference.quantize): static quantization calibrated on train faces, its parity report
against fp32 on the test split, the onnxruntime-int8 engine and `export --int8`."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fer_core import runs
from fer_core.common.paths import PROJECT_ROOT
from fer_core.data.synthetic import generate_synthetic
from fer_core.inference import quantize
from fer_core.inference.evaluation import evaluate_run
from fer_core.inference.predictor import Predictor


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, trained_run):
    """A private copy of the shared run, with its model.int8.onnx."""
    import shutil
    run_dir = tmp_path_factory.mktemp("int8") / trained_run.name
    shutil.copytree(trained_run, run_dir)
    return run_dir, quantize.quantize_run(run_dir)


def test_int8_is_calibrated_on_train_and_reported_against_fp32_on_test(quantized):
    run_dir, result = quantized
    assert result.path == run_dir / "model.int8.onnx" and result.path.stat().st_size < (run_dir / "model.onnx").stat().st_size
    report = json.loads(result.sidecar.read_text())["int8_parity"]
    assert report["calibration"]["split"] == "train" and report["calibration"]["faces"] == quantize.CALIBRATION_FACES
    assert report["split"] == "test" and report["n"] == len(runs.read_predictions(run_dir))
    assert report["fp32"]["accuracy"] == pytest.approx(runs.load_run(run_dir).evaluation["accuracy"], abs=1e-9)
    assert abs(result.accuracy_loss_points) <= 3 and report["top1_agreement"] >= 0.95
    assert 0 < report["max_abs_diff"] < 0.5  # quantized: close, not identical


def test_the_int8_engine_answers_and_evaluates_as_reported(quantized):
    run_dir, result = quantized
    predictor = Predictor.from_run(run_dir, engine="onnxruntime-int8")
    assert predictor.engine == "onnxruntime-int8"
    faces = generate_synthetic(40, seed=5).images
    probs = predictor.predict_faces(faces)
    assert probs.shape == (40, 7) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert predictor.tta_modes() == ["none"]
    with pytest.raises(ValueError, match="'flip' is not available .* with the onnxruntime-int8 engine; valid: none"):
        predictor.predict_faces(faces, tta="flip")
    report = evaluate_run(run_dir, split="test", engine="onnxruntime-int8")
    assert report["engine"] == "onnxruntime-int8" and report["accuracy"] == pytest.approx(result.report["int8"]["accuracy"])


def test_the_int8_engine_without_an_int8_model_says_how_to_make_one(trained_run):
    with pytest.raises(runs.RunError, match="no model.int8.onnx .* export --run .* --format onnx --int8"):
        Predictor.from_run(trained_run, engine="onnxruntime-int8")


def test_the_cli_exports_int8_with_its_report(quantized, tmp_path):
    run_dir, _ = quantized
    out = tmp_path / "fer.int8.onnx"
    done = subprocess.run([sys.executable, "-m", "fer_core", "export", "--run", str(run_dir), "--format", "onnx",
                           "--int8", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(out) and "int8 against fp32 on" in done.stdout
    assert json.loads((tmp_path / "fer.int8.onnx.json").read_text())["precision"] == "int8"
    bad = subprocess.run([sys.executable, "-m", "fer_core", "export", "--run", str(run_dir), "--format",
                          "torchscript", "--int8"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--int8 with --format onnx" in bad.stderr and "Traceback" not in bad.stderr


def test_the_bundled_int8_model_is_copied_not_remade(bundled_model, tmp_path):
    if not (bundled_model / "model.int8.onnx").exists():
        pytest.skip("the bundled model ships fp32 only")
    result = quantize.export_int8(runs.BUILTIN, tmp_path / "b.int8.onnx")
    assert result.path.read_bytes() == (bundled_model / "model.int8.onnx").read_bytes()
    assert result.report["n"] == 3589 and result.accuracy_loss_points <= 0.3  # measured on PublicTest when bundled
