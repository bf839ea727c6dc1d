"""A run's model taken elsewhere: ONNX or TorchScript, preprocessing included, with a JSON sidecar.

The exported graph takes what a face crop is, uint8 grayscale faces (N, 1, 48, 48) in 0-255, and
returns softmax class probabilities (N, C): the run's exact eval preprocessing (center crop, resize,
normalisation) and the softmax are inside it, so a user needs no fer_core to use it. The sidecar
(`FILE.json`) names the input and output, the class names and where the model came from, and holds
the model card and best.pt's SHA-256, so that a run's own model.onnx (`write_run_onnx`) answers
without PyTorch (inference/run_onnx.py).

After writing, the file is loaded back (ONNX Runtime for ONNX, torch.jit for TorchScript) and scored
on PARITY_FACES dataset faces against the PyTorch model; a difference above PARITY_TOLERANCE in any
probability is an ExportError, and nothing is left behind.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fer_core import runs
from fer_core.common.emotions import display
from fer_core.common.faces_array import IMAGE_SIZE
from fer_core.common.files import atomic_write_bytes, atomic_write_json
from fer_core.inference.run_onnx import ONNX_FILE, checkpoint_digest, sidecar_path
from fer_core.runs.checkpoint import load_model
from fer_core.transforms.config import AugmentConfig
from fer_core.transforms.eval import prepare_eval

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
PARITY_FACES = 256
PARITY_TOLERANCE = 1e-4
SIDECAR_FORMAT = 2  # 2: with the model card and the checkpoint's SHA-256 (inference/run_onnx.py reads them)


class ExportError(ValueError):
    """A run cannot be exported, or its export does not match the PyTorch model."""


class FacesToProbabilities(nn.Module):
    """uint8 faces (N, 1, 48, 48) -> class probabilities (N, C): eval preprocessing, model and softmax."""

    def __init__(self, model: nn.Module, aug: AugmentConfig):
        super().__init__()
        self.model = model
        self.aug = aug
        self.eval()  # the whole wrapper: exporters put every module back in the top module's mode

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.model(prepare_eval(faces, self.aug)).float(), dim=1)


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    max_abs_diff: float  # the parity check's largest probability difference against PyTorch
    faces: int           # how many faces the parity check scored
    faces_from: str      # which data they came from


def default_path(run_dir: str | os.PathLike, fmt: str) -> Path:
    """<run id>.onnx or <run id>.pt in the working folder."""
    return Path(f"{runs.resolve_run_dir(run_dir).resolve().name}{SUFFIXES[_check_format(fmt)]}")


def export_run(run_dir: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None,
               faces: tuple[np.ndarray, str] | None = None) -> ExportResult:
    """Write the run's model as `fmt` to `out` (and `out`.json), then check it against PyTorch on
    `faces` ((faces, where they came from); default: parity_faces)."""
    fmt = _check_format(fmt)
    record = runs.load_run(run_dir)
    trained = load_model(record.run_dir, "cpu")
    if not trained.card.is_deep:
        raise ExportError(f"run {record.run_id} is a classical baseline ({trained.card.arch}): only deep models "
                          "export to ONNX or TorchScript; its scikit-learn pipeline is model.skops in the run folder")
    out = Path(out) if out is not None else default_path(record.run_dir, fmt)
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name, e.g. {out / default_path(record.run_dir, fmt)}")
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent} does not exist; create it first or choose another --out")
    reference = FacesToProbabilities(trained.module.float().cpu(), trained.card.augment_config)
    faces, faces_from = faces if faces is not None else parity_faces(record)
    atomic_write_bytes(out, _serialise(reference, fmt))
    sidecar = sidecar_path(out)
    try:
        diff = _max_difference(out, fmt, reference, faces)
        if not diff <= PARITY_TOLERANCE:
            raise ExportError(f"the exported model differs from the PyTorch model by up to {diff:.2e} in a "
                              f"probability (allowed {PARITY_TOLERANCE:g}); nothing was kept")
        atomic_write_json(sidecar, _sidecar(record, trained.card, fmt, out, diff, len(faces), faces_from))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return ExportResult(out, sidecar, diff, len(faces), faces_from)


def write_run_onnx(run_dir: str | os.PathLike, folder: str | os.PathLike | None = None,
                   faces: tuple[np.ndarray, str] | None = None) -> ExportResult:
    """model.onnx (and model.onnx.json) for the run's best.pt, in its folder (or `folder`, which must
    hold the same best.pt): what `predict` answers with, without PyTorch (inference/run_onnx.py)."""
    record = runs.load_run(run_dir)
    return export_run(record.run_dir, "onnx", Path(folder or record.run_dir) / ONNX_FILE, faces)


@dataclass
class ExportDownload:
    """An export as bytes, for a download button: the model file and its sidecar, with their names."""

    name: str
    data: bytes
    sidecar_name: str
    sidecar: bytes
    result: ExportResult


def export_for_download(run_dir: str | os.PathLike, fmt: str) -> ExportDownload:
    """export_run into a temporary folder, read back as bytes (the folder is removed)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fer_export_") as folder:
        result = export_run(run_dir, fmt, Path(folder) / default_path(run_dir, fmt).name)
        return ExportDownload(result.path.name, result.path.read_bytes(), result.sidecar.name,
                              result.sidecar.read_bytes(), result)


def parity_faces(record: runs.RunRecord, n: int = PARITY_FACES) -> tuple[np.ndarray, str]:
    """`n` faces (test split first) of the data the run learned from, else of the synthetic faces (always here)."""
    from fer_core.data import DataError, load_dataset
    from fer_core.training.config import TrainConfig
    config = TrainConfig.from_dict(record.config)
    try:
        ds = load_dataset(config.data, class_set=config.class_set, val_fraction=config.val_fraction,
                          seed=config.seed, synthetic_size=config.synthetic_size, votes=config.votes,
                          label_mode=config.label_mode)
        source = ds.source
    except (DataError, OSError):  # the run's data is not on this machine
        ds = load_dataset(None)
        source = f"{ds.source} (the run's own data, {record.provenance()['dataset']}, is not here)"
    # test faces first; a small dataset is topped up from its other splits (parity is no accuracy claim)
    parts = [ds.split(name).images for name in ("test", "val", "train") if name in ds.split_names()]
    return np.ascontiguousarray(np.concatenate(parts)[:n]), source


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    return fmt


def _example() -> torch.Tensor:
    return torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)


def _serialise(module: nn.Module, fmt: str) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():  # both exporters warn about tracing Python conditionals
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(module, (_example(),), buffer, input_names=["faces"], output_names=["probabilities"],
                              dynamic_axes={"faces": {0: "n"}, "probabilities": {0: "n"}}, dynamo=False)
        else:
            torch.jit.save(torch.jit.trace(module, _example()), buffer)
    return buffer.getvalue()


def _max_difference(path: Path, fmt: str, reference: nn.Module, faces: np.ndarray) -> float:
    batch = faces[:, None]
    with torch.no_grad():
        expected = reference(torch.from_numpy(batch)).numpy()
        if fmt == "onnx":
            import onnxruntime
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {"faces": batch})[0]
        else:
            with warnings.catch_warnings():  # torch.jit is deprecated upstream, yet what LibTorch and C++ load
                warnings.simplefilter("ignore", FutureWarning)
                got = torch.jit.load(str(path), map_location="cpu")(torch.from_numpy(batch)).numpy()
    return float(np.abs(got - expected).max()) if len(faces) else 0.0


def _sidecar(record: runs.RunRecord, card, fmt: str, out: Path, diff: float, n: int, faces_from: str) -> dict:
    classes = list(card.class_names)
    return {
        "format": SIDECAR_FORMAT, "model_format": fmt, "file": out.name,
        "input": {"name": "faces", "dtype": "uint8", "shape": ["N", 1, IMAGE_SIZE, IMAGE_SIZE], "range": [0, 255],
                  "what": "grayscale face crops (FER2013-style: the face fills the square); the eval "
                          "preprocessing below is inside the model"},
        "output": {"name": "probabilities", "dtype": "float32", "shape": ["N", len(classes)],
                   "what": "softmax class probabilities, in class_names order"},
        "class_names": classes, "display_names": [display(c) for c in classes],
        "preprocess": card.preprocess, "model": record.provenance(),
        "precision": "fp32", "card": card.to_dict(), "checkpoint_sha256": checkpoint_digest(record.run_dir),
        "test_accuracy": (record.evaluation or {}).get("accuracy"),
        "parity": {"faces": n, "faces_from": faces_from, "max_abs_diff": diff, "tolerance": PARITY_TOLERANCE,
                   "against": "the run's PyTorch model, float32 on the CPU",
                   "runtime": "onnxruntime" if fmt == "onnx" else "torch.jit"},
    }
