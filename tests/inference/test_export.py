"""Export (fer_core.inference.export): ONNX and TorchScript files that take uint8 faces, with a sidecar,
checked against the PyTorch model on 256 dataset faces."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from fer_core.common.paths import PROJECT_ROOT
from fer_core.inference import export as ex
from fer_core.inference.predictor import Predictor


def run_exported(path, fmt: str, faces: np.ndarray) -> np.ndarray:
    """What a user of the file gets for uint8 faces (N, 48, 48), without fer_core's preprocessing."""
    batch = np.ascontiguousarray(faces[:, None])
    if fmt == "onnx":
        import onnxruntime
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"faces": batch})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with torch.no_grad():
            return torch.jit.load(str(path))(torch.from_numpy(batch)).numpy()


@pytest.mark.parametrize("fmt", ex.FORMATS)
def test_an_export_takes_uint8_faces_and_matches_the_run_within_1e_4(trained_run, tmp_path, fmt):
    out = tmp_path / f"model{ex.SUFFIXES[fmt]}"
    result = ex.export_run(trained_run, fmt, out)
    assert result.path == out and out.exists() and result.faces == ex.PARITY_FACES
    assert result.max_abs_diff <= ex.PARITY_TOLERANCE
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["input"]["dtype"] == "uint8" and sidecar["input"]["shape"] == ["N", 1, 48, 48]
    assert sidecar["class_names"][3] == "happy" and sidecar["model"]["arch"] == "simple_cnn"
    assert sidecar["parity"]["max_abs_diff"] == result.max_abs_diff and sidecar["parity"]["faces"] == 256

    faces, _ = ex.parity_faces(Predictor.from_run(trained_run).record, n=5)  # any batch size
    expected = Predictor.from_run(trained_run, engine="torch").predict_faces(faces)
    got = run_exported(out, fmt, faces)
    assert got.shape == (5, 7) and np.abs(got - expected).max() <= ex.PARITY_TOLERANCE
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_an_export_that_does_not_match_is_refused_and_leaves_nothing(trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "_max_difference", lambda *args: 0.02)
    out = tmp_path / "model.onnx"
    with pytest.raises(ex.ExportError, match="differs from the PyTorch model by up to 2.00e-02"):
        ex.export_run(trained_run, "onnx", out)
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_are_refused_clearly(trained_run, tmp_path):
    with pytest.raises(ex.ExportError, match="unknown export format 'tflite'; valid: onnx, torchscript"):
        ex.export_run(trained_run, "tflite", tmp_path / "m.tflite")
    with pytest.raises(ex.ExportError, match="is a folder"):
        ex.export_run(trained_run, "onnx", tmp_path)
    with pytest.raises(ex.ExportError, match="does not exist"):
        ex.export_run(trained_run, "onnx", tmp_path / "missing" / "m.onnx")


def test_the_cli_exports_and_reports_the_parity(trained_run, tmp_path):
    out = tmp_path / "m.onnx"
    done = subprocess.run([sys.executable, "-m", "fer_core", "export", "--run", str(trained_run), "--format", "onnx",
                           "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # the parity figure on stdout (README's promise), the file's path last, alone on its line
    assert done.stdout.splitlines()[-1] == str(out) and "parity on 256 faces" in done.stdout.splitlines()[0]
    assert "largest probability difference" in done.stdout
    assert (tmp_path / "m.onnx.json").exists()
    bad = subprocess.run([sys.executable, "-m", "fer_core", "export", "--run", str(tmp_path / "nope"), "--format",
                          "onnx"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no such run folder" in bad.stderr and "Traceback" not in bad.stderr
