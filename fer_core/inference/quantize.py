"""int8: a run's model.onnx statically quantized by ONNX Runtime, with a parity report against fp32.

`quantize_run(run_dir)` writes model.int8.onnx (and its sidecar) beside model.onnx: QDQ format, int8
weights per output channel and uint8 activations, for every operator ONNX Runtime has a QDQ kernel for
(pooling, batch norm, ReLU too, not the softmax: probabilities stay float). For the bundled model on
PublicTest that is ~10% more faces/s than quantizing the convolutions and the classifier alone, at
65.09% accuracy against their 65.34%, both above fp32's 64.81% (2-core VM, 2026-12-04). The activation ranges are calibrated on
CALIBRATION_FACES faces of the run's train split, never on test. The test split then only reports
what int8 costs: accuracy and macro-F1 of both models on it, how often their top classes agree and the
largest probability difference. `--engine onnxruntime-int8` (predict, evaluate) answers with the file.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core import runs
from fer_core.common.files import atomic_write_bytes, atomic_write_json
from fer_core.inference.export import ExportError, write_run_onnx
from fer_core.inference.run_onnx import FILES, INT8_FILE, ONNX_FILE, RunOnnx, read_sidecar, sidecar_path

CALIBRATION_FACES = 1000
CALIBRATION_BATCH = 100


@dataclass
class QuantizeResult:
    path: Path
    sidecar: Path
    report: dict  # the parity report (parity_report), also in the sidecar

    @property
    def accuracy_loss_points(self) -> float:
        """fp32 minus int8 test accuracy, in percentage points (negative: int8 scored higher)."""
        return 100 * (self.report["fp32"]["accuracy"] - self.report["int8"]["accuracy"])


def run_faces(record: runs.RunRecord, data: str | None = None):
    """The run's dataset (or `data`), for calibration (train) and the report (test); ExportError when
    it is not on this machine."""
    from fer_core.data import DataError, load_dataset
    from fer_core.training.config import TrainConfig
    config = TrainConfig.from_dict(record.config)
    try:
        return load_dataset(data if data is not None else config.data, class_set=config.class_set,
                            val_fraction=config.val_fraction, seed=config.seed, synthetic_size=config.synthetic_size)
    except (DataError, OSError) as exc:
        raise ExportError(f"int8 needs the run's train faces to calibrate on and its test faces to report on, "
                          f"and its data is not readable here ({exc}); give it with --data PATH") from None


def quantize_run(run_dir: str | os.PathLike, folder: str | os.PathLike | None = None,
                 data: str | None = None) -> QuantizeResult:
    """model.int8.onnx from the model.onnx in `folder` (default: the run folder; written first if
    missing or stale), calibrated on the run's train faces, with its parity report on the test split."""
    record = runs.load_run(run_dir)
    if not record.has_checkpoint:
        raise ExportError(f"run {record.run_id} has no deep model ({runs.CHECKPOINT}): only deep models quantize")
    folder = Path(folder or record.run_dir)
    if read_sidecar(folder, "fp32") is None:
        if record.is_builtin and folder == record.run_dir:
            raise ExportError("the bundled model has no model.onnx made from its best.pt; reinstall it with "
                              "`python -m fer_core builtin --from-run RUN_DIR`")
        write_run_onnx(record.run_dir, folder)
    fp32 = RunOnnx(folder / ONNX_FILE, read_sidecar(folder, "fp32"))
    ds = run_faces(record, data)
    train = ds.split("train").images
    pick = np.random.default_rng(0).permutation(len(train))[:CALIBRATION_FACES]
    out = folder / INT8_FILE
    atomic_write_bytes(out, _quantized_bytes(folder / ONNX_FILE, np.ascontiguousarray(train[np.sort(pick)])))
    try:
        int8 = RunOnnx(out, {**read_sidecar(folder, "fp32"), "precision": "int8"})
        report = parity_report(fp32, int8, ds)
        report["calibration"] = {"faces": int(len(pick)), "split": "train", "source": ds.source,
                                 "method": "MinMax", "format": "QDQ", "weights": "int8 per channel",
                                 "activations": "uint8", "ops": _quantized_ops()}
        sidecar = {**read_sidecar(folder, "fp32"), "file": out.name, "precision": "int8", "int8_parity": report}
        atomic_write_json(sidecar_path(out), sidecar)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return QuantizeResult(out, sidecar_path(out), report)


def parity_report(fp32: RunOnnx, int8: RunOnnx, ds) -> dict:
    """Both models on the test split: accuracy, macro-F1, top-1 agreement, largest probability difference."""
    from fer_core.common.metrics import classification_report
    test = ds.split("test")
    missing = [c for c in test.classes if c not in fp32.classes]
    if missing:
        raise ExportError(f"the dataset has class(es) {', '.join(missing)} that this model was not trained on")
    labels = np.array([fp32.classes.index(c) for c in test.classes])[test.labels]
    p32, p8 = fp32.probabilities(test.images), int8.probabilities(test.images)
    score = {}
    for name, probs in (("fp32", p32), ("int8", p8)):
        report = classification_report(labels, probs.argmax(1), fp32.classes)
        score[name] = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    return {**score, "split": "test", "n": int(len(test)), "source": ds.source,
            "top1_agreement": float((p32.argmax(1) == p8.argmax(1)).mean()) if len(test) else 1.0,
            "max_abs_diff": float(np.abs(p32 - p8).max()) if len(test) else 0.0}


def export_int8(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                data: str | None = None) -> QuantizeResult:
    """`export --int8`: the run's model.int8.onnx (made and kept in the run folder, where
    `--engine onnxruntime-int8` finds it), copied with its sidecar to `out` (default <run id>.int8.onnx).
    The bundled model's folder is never written: its own int8 file is copied, or one made elsewhere."""
    record = runs.load_run(run_dir)
    out = Path(out) if out is not None else Path(f"{record.run_dir.resolve().name}.int8.onnx")
    if out.is_dir() or not out.parent.is_dir():
        raise ExportError(f"{out} is a folder or in a folder that does not exist; give a file name in an existing "
                          "folder with --out")
    if record.is_builtin:
        shipped = read_sidecar(record.run_dir, "int8")
        with tempfile.TemporaryDirectory(prefix="fer_int8_") as folder:
            if shipped is not None and data is None:
                result = QuantizeResult(record.run_dir / INT8_FILE, sidecar_path(record.run_dir / INT8_FILE),
                                        shipped["int8_parity"])
            else:
                for name in (runs.CHECKPOINT, ONNX_FILE, ONNX_FILE + ".json"):
                    shutil.copy2(record.run_dir / name, Path(folder) / name)
                result = quantize_run(record.run_dir, folder, data)
            return _copy_out(result, out)
    return _copy_out(quantize_run(record.run_dir, data=data), out)


def _copy_out(result: QuantizeResult, out: Path) -> QuantizeResult:
    if out.resolve() == result.path.resolve():
        return result
    shutil.copyfile(result.path, out)
    shutil.copyfile(result.sidecar, sidecar_path(out))
    return QuantizeResult(out, sidecar_path(out), result.report)


class _Faces:
    """ONNX Runtime's calibration reader: the calibration faces in batches."""

    def __init__(self, faces: np.ndarray):
        self.batches = iter([{"faces": faces[i:i + CALIBRATION_BATCH, None]}
                             for i in range(0, len(faces), CALIBRATION_BATCH)])

    def get_next(self):
        return next(self.batches, None)


def _quantized_ops() -> list[str]:
    """The operator types ONNX Runtime quantizes in QDQ format (Softmax is not one)."""
    from onnxruntime.quantization.registry import QDQRegistry
    return sorted(QDQRegistry)


def _quantized_bytes(model: Path, faces: np.ndarray) -> bytes:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    if not len(faces):
        raise ExportError("the run's train split has no faces to calibrate int8 on")
    with tempfile.TemporaryDirectory(prefix="fer_quantize_") as folder:  # calibration writes scratch files
        target = Path(folder) / FILES["int8"]
        logging.disable(logging.WARNING)  # its advice to run ONNX Runtime's pre-processing script first
        try:
            quantize_static(str(model), str(target), _Faces(faces), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=_quantized_ops(), per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        finally:
            logging.disable(logging.NOTSET)
        return target.read_bytes()
