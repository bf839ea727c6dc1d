"""The lean answer path (fer_core.inference.run_onnx): a run's own model.onnx answers through ONNX Runtime,
with the same probabilities as PyTorch, without importing torch; stale, missing or damaged files are
handled."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_core import runs
from fer_core.common.paths import PACKAGED_BUILTIN, PROJECT_ROOT
from fer_core.data.synthetic import generate_synthetic
from fer_core.inference import run_onnx
from fer_core.inference.export import PARITY_TOLERANCE
from fer_core.inference.predictor import Predictor

HEAVY = ("torch", "torchvision", "timm", "sklearn")


@pytest.fixture(scope="module")
def faces():
    return generate_synthetic(64, seed=7).images


def test_a_completed_deep_run_carries_its_model_onnx(trained_run):
    sidecar = json.loads((trained_run / "model.onnx.json").read_text())
    assert sidecar["checkpoint_sha256"] == run_onnx.checkpoint_digest(trained_run)
    assert sidecar["card"]["arch"] == "simple_cnn" and sidecar["precision"] == "fp32"
    assert sidecar["parity"]["max_abs_diff"] <= PARITY_TOLERANCE and sidecar["parity"]["faces"] == 256


@pytest.mark.parametrize("run", ["trained", "builtin"])
def test_the_lean_path_gives_the_pytorch_probabilities_within_1e_4(run, trained_run, bundled_model, faces):
    run_dir = trained_run if run == "trained" else runs.BUILTIN
    lean = Predictor.from_run(run_dir)
    assert lean.onnx is not None and lean.engine == "onnxruntime"
    eager = Predictor.from_run(run_dir, engine="torch")
    assert eager.onnx is None and eager.engine == "torch"
    got, expected = lean.predict_faces(faces), eager.predict_faces(faces)
    assert got.shape == (64, 7) and np.abs(got - expected).max() <= 1e-4
    # test-time views and saliency bring the PyTorch model in, on demand
    assert np.abs(lean.predict_faces(faces[:8], tta="flip") - eager.predict_faces(faces[:8], tta="flip")).max() <= 1e-4
    assert lean.model is not None and lean.card.class_names == eager.card.class_names


def answer_without_torch(args: list[str]) -> tuple[dict, list[str]]:
    """Run `python -m fer_core ARGS --json` in a fresh process on the bundled model: (its JSON answer,
    the heavy packages in its sys.modules at the end)."""
    probe = ("import json, runpy, sys\n"
             f"sys.argv = ['fer_core', *{args!r}, '--json']\n"
             "try:\n    runpy.run_module('fer_core', run_name='__main__')\nexcept SystemExit as exc:\n    code = exc.code\n"
             f"print(json.dumps({{'code': code, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")
    env = {**os.environ, "FER_BUILTIN_DIR": str(PACKAGED_BUILTIN)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    answer, probe_result = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert probe_result["code"] == 0, done.stderr
    return answer, probe_result["heavy"]


def test_predict_on_the_bundled_model_imports_no_torch(tmp_path):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), generate_synthetic(21, seed=3).images[3])
    answer, heavy = answer_without_torch(["predict", "--run", "builtin", str(face)])
    assert heavy == [] and answer["model"]["model"] == "builtin" and len(answer["faces"]) == 1


def test_a_video_on_the_bundled_model_imports_no_torch(tmp_path):
    face = cv2.resize(generate_synthetic(21, seed=0).images[3], (200, 200))
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for _ in range(10):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[20:220, 60:260] = face[:, :, None]
        writer.write(frame)
    writer.release()
    answer, heavy = answer_without_torch(["video", "--run", "builtin", str(tmp_path / "clip.mp4")])
    assert heavy == [] and answer["frames_analysed"] >= 1


def test_a_stale_or_missing_model_onnx_falls_back_to_exporting_on_load(run_in_checkpoints, faces):
    sidecar_path = run_in_checkpoints / "model.onnx.json"
    sidecar = json.loads(sidecar_path.read_text())
    expected = Predictor.from_run(run_in_checkpoints, engine="torch").predict_faces(faces)
    sidecar_path.write_text(json.dumps({**sidecar, "checkpoint_sha256": "0" * 64}))  # best.pt changed since
    assert run_onnx.load_run_onnx(run_in_checkpoints) is None
    stale = Predictor.from_run(run_in_checkpoints)
    assert stale.onnx is None and stale.engine == "onnxruntime"  # exported in memory, as before
    assert np.abs(stale.predict_faces(faces) - expected).max() <= 1e-4
    (run_in_checkpoints / "model.onnx").unlink()  # a run from before model.onnx
    old = Predictor.from_run(run_in_checkpoints)
    assert old.onnx is None and np.abs(old.predict_faces(faces) - expected).max() <= 1e-4


def test_a_damaged_model_onnx_is_a_clear_error(run_in_checkpoints):
    (run_in_checkpoints / "model.onnx").write_bytes(b"not an onnx model" * 10)
    with pytest.raises(runs.RunError, match="model.onnx is not a usable ONNX model"):
        Predictor.from_run(run_in_checkpoints)
