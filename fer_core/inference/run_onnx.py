"""A run's own ONNX model, run by ONNX Runtime alone: the answer path that needs no PyTorch.

A completed deep run (and the bundled model) carries `model.onnx` beside best.pt, written by
inference/export.py (`write_run_onnx`) with its eval preprocessing and softmax inside: uint8 faces
(N, 1, 48, 48) in, probabilities (N, C) out. Its sidecar `model.onnx.json` holds the model card and the
SHA-256 of the best.pt it was made from, so this module needs neither torch nor the checkpoint: only
numpy and onnxruntime. `model.int8.onnx` is the same model statically quantized (inference/quantize.py).

`load_run_onnx(run_dir)` is None when the file is absent or was made from another best.pt (a stale
file is never used); the Predictor then exports the PyTorch model in memory, as before.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fer_core.common.files import read_bounded
from fer_core.runs.card import ModelCard
from fer_core.runs.store import CHECKPOINT, RunError, check_regular, read_json, resolve_run_dir

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
FILES = {"fp32": ONNX_FILE, "int8": INT8_FILE}  # precision -> file in the run folder
# auto: the run's model.onnx on the CPU where there is one, else ONNX Runtime from an in-memory export
# where installed, else PyTorch; onnxruntime-int8: the run's model.int8.onnx (export --int8).
ENGINES = ("auto", "torch", "onnxruntime", "onnxruntime-int8")
MAX_ONNX_BYTES = 2 * 1024**3  # the ONNX format's own limit for one file


def sidecar_path(path: str | os.PathLike) -> Path:
    """FILE.json beside FILE: what the model takes and returns, its card and where it came from."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def checkpoint_digest(run_dir: str | os.PathLike) -> str:
    """SHA-256 of the run's best.pt: ties a model.onnx to the weights it was exported from."""
    digest = hashlib.sha256()
    with open(Path(run_dir) / CHECKPOINT, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunOnnx:
    """A run's model.onnx (or model.int8.onnx) in ONNX Runtime: probabilities for uint8 faces."""

    def __init__(self, path: Path, sidecar: dict, threads: int | None = None):
        import onnxruntime
        self.path = path
        self.precision = sidecar.get("precision", "fp32")
        try:
            self.card = ModelCard.from_dict(sidecar["card"])
            self.card.augment_config  # noqa: B018 (refuses preprocessing this version no longer has)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{sidecar_path(path)} has no usable model card ({exc})") from None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle threads would otherwise spin, stealing the cores that face detection runs on between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        check_regular(path)
        try:  # from bytes: a file that names external weight files cannot make ONNX Runtime read them
            self.session = onnxruntime.InferenceSession(read_bounded(path, MAX_ONNX_BYTES), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # damaged or foreign: ONNX Runtime's own exception types
            raise RunError(f"{path} is not a usable ONNX model ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]})") from None
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != ["faces"] or inputs[0].type != "tensor(uint8)":
            raise RunError(f"{path} does not take uint8 'faces' like a model this tool wrote")

    @property
    def classes(self) -> list[str]:
        return list(self.card.class_names)

    def probabilities(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, C) for uint8 faces (N, 48, 48), in card.class_names order."""
        out = [self.session.run(None, {"faces": np.ascontiguousarray(faces[start:start + batch_size, None])})[0]
               for start in range(0, len(faces), batch_size)]
        probs = np.concatenate(out) if out else np.zeros((0, self.card.num_classes), np.float32)
        if probs.ndim != 2 or probs.shape[1] != self.card.num_classes:
            raise RunError(f"{self.path} returned {probs.shape[1:]} values per face; its card names "
                           f"{self.card.num_classes} classes")
        return probs.astype(np.float32, copy=False)


def read_sidecar(run_dir: str | os.PathLike, precision: str = "fp32") -> dict | None:
    """The sidecar of the run's ONNX file of this precision, when the file is there and was made from
    the run's current best.pt; None otherwise (absent, or stale: best.pt changed since)."""
    run_dir = resolve_run_dir(run_dir)
    path = run_dir / FILES[precision]
    if not (path.is_file() and sidecar_path(path).is_file() and (run_dir / CHECKPOINT).is_file()):
        return None
    sidecar = read_json(sidecar_path(path))
    if not isinstance(sidecar, dict) or sidecar.get("checkpoint_sha256") != checkpoint_digest(run_dir):
        return None
    return sidecar


def load_run_onnx(run_dir: str | os.PathLike, precision: str = "fp32", threads: int | None = None) -> RunOnnx | None:
    """The run's ONNX model of this precision (fp32: model.onnx, int8: model.int8.onnx), or None when
    it has none made from its current best.pt."""
    sidecar = read_sidecar(run_dir, precision)
    return None if sidecar is None else RunOnnx(resolve_run_dir(run_dir) / FILES[precision], sidecar, threads)
