"""A run's best model -> class probabilities for faces and photos.

`Predictor.from_run(run_dir)` loads the run's model with its card (runs/checkpoint.py): the
architecture, class names, input size and the exact eval preprocessing, safely (a checkpoint or
skops file cannot run code). A deep run with its own model.onnx answers through ONNX Runtime without
importing PyTorch (run_onnx.py); the PyTorch model loads only when saliency or test-time views need it. Deep and classical runs are used alike; where they differ the code asks
the card's kind. Photos go through face detection (faces.py) first; 48x48 faces can be given directly.

One Predictor may be shared by several threads (the app caches one per run): every use of the model
holds `model_lock(model)`, which explain/saliency.py takes too while its hooks are attached.
"""
from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_core import runs
from fer_core.common.emotions import class_index, display
from fer_core.common.faces_array import as_face_batch
from fer_core.inference.run_onnx import ENGINES, INT8_FILE, RunOnnx, load_run_onnx

if TYPE_CHECKING:  # imports torch: loaded only when the PyTorch model is needed
    from fer_core.runs.checkpoint import TrainedModel

_LOCKS: "weakref.WeakKeyDictionary[object, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model) -> threading.RLock:
    """The lock that serialises every use of one shared model object (prediction and explanation)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@dataclass
class FacePrediction:
    """One face: where it was found (None when the whole image was used), the 48x48 face the model
    saw, and its class probabilities in `classes` order."""

    box: object | None  # faces.FaceBox
    face: np.ndarray
    probabilities: np.ndarray
    classes: list[str]

    @property
    def label(self) -> str:
        return self.classes[int(self.probabilities.argmax())]

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    def ranked(self) -> list[tuple[str, float]]:
        """(class, probability) from most to least likely."""
        order = np.argsort(-self.probabilities)
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        box = None if self.box is None else {"x": self.box.x, "y": self.box.y, "w": self.box.w, "h": self.box.h}
        return {"box": box, "label": self.label, "confidence": round(self.confidence, 5),
                "probabilities": {c: round(float(p), 5) for c, p in zip(self.classes, self.probabilities)}}


@dataclass
class PhotoPrediction:
    """Every face found in one photo; `whole_image` when the whole image was used as one face
    (FER2013-style crops are already faces); `no_face` when detection ran and found none, so the
    whole image stands in for a face that may not be there."""

    faces: list[FacePrediction]
    whole_image: bool
    image_size: tuple[int, int]  # (width, height)
    no_face: bool = False

    def to_dict(self) -> dict:
        return {"image_size": list(self.image_size), "whole_image": self.whole_image, "no_face": self.no_face,
                "faces": [f.to_dict() for f in self.faces]}


class Predictor:
    """A run's best model, ready to predict. Build with `Predictor.from_run(run_dir)`.

    A deep run with its own model.onnx answers through ONNX Runtime alone (inference/run_onnx.py): the
    PyTorch model is loaded only when something needs it (saliency, test-time views)."""

    def __init__(self, record: runs.RunRecord, card, trained: "TrainedModel | None" = None,
                 onnx: "RunOnnx | None" = None, device: str = "cpu", engine: str = "auto"):
        self.record = record      # the run folder's record: where the model is, and its provenance
        self.run_dir = record.run_dir
        self.card = card          # runs.card.ModelCard: arch, classes, kind, preprocessing
        self.onnx = onnx          # deep runs: the run's model.onnx (or model.int8.onnx) in ONNX Runtime, or None
        self.device = device
        self.engine_choice = engine
        self._trained = trained
        self._fast_model = None   # deep runs on CPU without model.onnx: the model exported in memory, or None
        self._torch_lock = threading.Lock()

    @property
    def trained(self) -> TrainedModel:
        """The run's model as PyTorch (deep) or scikit-learn (classical) has it, loaded on first use."""
        with self._torch_lock:
            if self._trained is None:
                self._trained = _load_trained(self.record, self.device)
                if self.engine_choice in ("auto", "onnxruntime") and self._trained.card.is_deep:
                    from fer_core.models.onnx_runtime import fast_forward
                    module = self._trained.module
                    self._fast_model = fast_forward(module, self._trained.card.augment_config.input_size,
                                                    next(module.parameters()).device, self.engine_choice)
            return self._trained

    @property
    def model(self):
        """Deep runs: the torch module in eval mode (saliency hooks it), loaded on first use; else None."""
        return self.trained.module

    @property
    def fast_model(self):
        """Deep runs: the PyTorch model exported to ONNX Runtime in memory, or None: what answers for a run
        without model.onnx, and for test-time views."""
        self.trained  # noqa: B018 (made with the PyTorch model)
        return self._fast_model

    @property
    def arch(self) -> str:
        return self.card.arch

    @property
    def classes(self) -> list[str]:
        return list(self.card.class_names)

    @property
    def engine(self) -> str:
        """What computes the predictions (without test-time views): onnxruntime (-int8), torch or scikit-learn."""
        if not self.is_deep:
            return "scikit-learn"
        if self.onnx is not None:
            return "onnxruntime-int8" if self.onnx.precision == "int8" else "onnxruntime"
        return "onnxruntime" if self.fast_model is not None else "torch"

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, device: str = "cpu", engine: str = "auto") -> "Predictor":
        """Load a run's best model ('builtin': the bundled one); RunError with a readable message when
        the run cannot predict. engine (run_onnx.ENGINES): auto (the run's model.onnx, else ONNX Runtime
        on the CPU where installed), torch, onnxruntime, or onnxruntime-int8 (the run's model.int8.onnx)."""
        if engine not in ENGINES:
            raise ValueError(f"unknown inference engine {engine!r}; valid: {', '.join(ENGINES)}")
        record = runs.load_run(run_dir)
        if engine != "torch" and device == "cpu" and record.has_checkpoint:
            precision = "int8" if engine == "onnxruntime-int8" else "fp32"
            onnx = load_run_onnx(record.run_dir, precision)
            if onnx is not None:
                return cls(record, onnx.card, onnx=onnx, device=device, engine=engine)
        if engine == "onnxruntime-int8":
            why = ("it runs on the CPU only (--device cpu)" if device != "cpu" else
                   f"run {record.run_id} has no {INT8_FILE} made from its best.pt; make one with `python -m fer_core "
                   f"export --run {run_dir} --format onnx --int8`")
            raise runs.RunError(f"the onnxruntime-int8 engine cannot answer: {why}")
        predictor = cls(record, None, device=device, engine=engine)
        predictor.card = predictor.trained.card  # loads the model now: a run that cannot predict says so here
        return predictor

    # ------------------------------------------------------------ facts

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def provenance(self) -> dict:
        """Which model answers and what it learned from (model, run_id, arch, dataset, synthetic, recipe)."""
        return self.record.provenance()

    def describe(self) -> str:
        """One friendly line naming the model and its training data."""
        return self.record.describe()

    @property
    def is_deep(self) -> bool:
        return self.card.is_deep

    @property
    def display_classes(self) -> list[str]:
        return [display(c) for c in self.classes]

    def tta_modes(self) -> list[str]:
        """Test-time augmentations this model supports: ten-crop only where it was trained on crops; none
        for the int8 model (its file takes the faces as they are)."""
        if not self.is_deep or self.engine == "onnxruntime-int8":
            return ["none"]
        return ["none", "flip", "flip_shift"] + (["ten_crop"] if self.card.augment_config.crop_size else [])

    def class_index(self, name_or_index) -> int:
        """A class given by index, canonical name or display name -> its index in this model's output."""
        return class_index(name_or_index, self.classes, model=f"run {self.run_id}")

    def check_dataset_classes(self, data_classes) -> np.ndarray:
        """Map a dataset's label indices to this model's outputs; ValueError when the dataset has
        classes this model was not trained on (e.g. a no-disgust run shown 7-class data)."""
        from fer_core.inference.evaluation import align_classes
        return align_classes(self.classes, tuple(data_classes))

    # ------------------------------------------------------------ prediction

    def predict_faces(self, faces, tta: str = "none", batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, C) for uint8 faces (N, 48, 48), averaged over test-time views."""
        faces = as_face_batch(faces)
        if tta not in self.tta_modes():
            engine = " with the onnxruntime-int8 engine" if self.engine == "onnxruntime-int8" else ""
            raise ValueError(f"test-time augmentation {tta!r} is not available for run {self.run_id}{engine}; "
                             f"valid: {', '.join(self.tta_modes())}")
        if not self.is_deep:
            return self.trained.probabilities(faces).astype(np.float32)
        if self.onnx is not None and tta == "none":
            with model_lock(self.onnx):
                return self.onnx.probabilities(faces, batch_size=batch_size)
        import torch
        from fer_core.models.runtime import predict_probabilities
        with model_lock(self.model):
            probs = predict_probabilities(self.fast_model or self.model, torch.from_numpy(faces).unsqueeze(1),
                                          self.card.augment_config, batch_size=batch_size, tta=tta)
        return probs.float().cpu().numpy()

    def predict_photo(self, image, detect: bool = True, tta: str = "none", detector: str | None = None) -> PhotoPrediction:
        """Find the faces in a photo (bytes, a path or an array of any size, colour or gray), then
        predict each. With detect=False, or when no face is found, the whole image is one face."""
        from fer_core.inference.faces import find_faces
        if isinstance(image, (str, os.PathLike)):
            image = read_image_file(Path(image))
        options = {"detector": detector} if detector else {}
        search = find_faces(image, detect=detect, **options)
        faces = np.stack([f.face for f in search.faces])
        probs = self.predict_faces(faces, tta=tta)
        results = [FacePrediction(f.box, f.face, p, self.classes) for f, p in zip(search.faces, probs)]
        return PhotoPrediction(results, search.whole_image, search.image_size, search.no_face)


def _load_trained(record: runs.RunRecord, device: str) -> TrainedModel:
    """load_model, with the run's state in the message when it has no usable model."""
    from fer_core.runs.checkpoint import load_model
    try:
        return load_model(record.run_dir, device)
    except runs.RunError as exc:
        error = record.status.get("error")
        why = f" The run {record.state}: {error}" if error else f" The run is {record.state}."
        raise runs.RunError(f"Run {record.run_id} cannot predict: {exc}.{why}") from None


def read_image_file(path: Path) -> bytes:
    """The bytes of an image file; FileNotFoundError with a plain message when it is not there."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    return path.read_bytes()


def checkpoint_stamp(run_dir: str | os.PathLike) -> float:
    """Modification time of the run's model file (0 when absent): a cache key that changes when a
    running job saves a better checkpoint."""
    for name in runs.MODEL_FILES:
        path = Path(run_dir) / name
        if path.exists():
            return path.stat().st_mtime
    return 0.0


def builtin_record() -> runs.RunRecord | None:
    """The bundled model's record, or None when the package has none (or it is unreadable)."""
    try:
        return runs.load_run(runs.BUILTIN)
    except runs.RunError:
        return None


def usable_runs(root: str | os.PathLike | None = None, deep_only: bool = False,
                include_builtin: bool = False) -> list:
    """Runs that have a model to predict with (completed first, newest first within each group);
    with include_builtin, the bundled model first."""
    found = []
    for record in runs.list_runs(root):
        if record.has_checkpoint or (not deep_only and record.has_model):
            found.append(record)
    found.sort(key=lambda r: (r.state != "completed", -(r.status.get("finished_at") or 0)))
    builtin = builtin_record() if include_builtin else None
    return ([builtin] if builtin is not None else []) + found


def best_val_acc(record: runs.RunRecord) -> float | None:
    value = record.summary().get("best_val_acc")
    return None if value is None else float(value)


def default_model(root: str | os.PathLike | None = None):
    """The model Demo answers with: the best-on-val model trained on real faces (the bundled one
    unless a completed real-data run scores better on its val split); a synthetic-trained run only
    when nothing else exists. None when there is no model at all."""
    real = [r for r in usable_runs(root, include_builtin=True)
            if not r.trained_on_synthetic and (r.is_builtin or r.state == "completed")
            and best_val_acc(r) is not None]
    if real:
        return max(real, key=lambda r: (best_val_acc(r), r.is_builtin))
    return best_run(root)


def best_run(root: str | os.PathLike | None = None):
    """The completed run with a usable model and the best validation score, or None.

    Chosen on validation accuracy (never test), like every other model choice in this tool."""
    candidates = []
    for record in usable_runs(root):
        score = record.summary().get("best_val_acc")
        if record.state == "completed" and score is not None:
            candidates.append((float(score), record.status.get("finished_at") or 0, record))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0], c[1]))[2]
