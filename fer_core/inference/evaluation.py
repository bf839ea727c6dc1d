"""Evaluate a finished run's best model on any dataset and split (`python -m fer_core evaluate`)."""
from __future__ import annotations

import os

import numpy as np

from fer_core import runs
from fer_core.common.metrics import classification_report
from fer_core.data import load_dataset
from fer_core.runs.checkpoint import load_model
from fer_core.training.config import TrainConfig


def align_classes(model_classes: list[str], data_classes: tuple[str, ...]) -> np.ndarray:
    """Index map data label -> model output; refuses when the data has classes the model never learnt."""
    unknown = [c for c in data_classes if c not in model_classes]
    if unknown:
        raise ValueError(f"the dataset has class(es) {', '.join(unknown)} that this model was not trained on "
                         f"(it knows {', '.join(model_classes)}); choose a matching --class-set")
    return np.array([model_classes.index(c) for c in data_classes])


def evaluate_run(run_dir: str | os.PathLike, data: str | None = None, split: str = "test", tta: str = "none",
                 class_set: str | None = None, device: str = "auto", engine: str = "torch") -> dict:
    """Accuracy, macro-F1, per-class P/R/F1/support and the confusion matrix of the run's best model.

    `data` None means the data the run was trained on. Labels are matched to the model's classes by
    name, so a dataset with fewer classes (e.g. no disgust) can be scored by a 7-class model.
    engine: torch (the PyTorch model on `device`), or one of the Predictor's (run_onnx.ENGINES: e.g.
    onnxruntime-int8, the run's int8 model), on the CPU.
    """
    record = runs.load_run(run_dir)  # 'builtin' is the bundled model
    run_dir = record.run_dir
    config = TrainConfig.from_dict(record.config)
    ds = load_dataset(data if data is not None else config.data, class_set=class_set or config.class_set,
                      val_fraction=config.val_fraction, seed=config.seed, synthetic_size=config.synthetic_size)
    if split not in ds.split_names():
        raise ValueError(f"the dataset has no {split!r} split; it has {', '.join(ds.split_names())}")
    part = ds.split(split)
    if engine == "torch":
        model = load_model(run_dir, device)
        model_classes = model.card.class_names
        probs = model.probabilities(part.images, tta=tta)
    else:
        from fer_core.inference.predictor import Predictor
        if device not in ("auto", "cpu"):
            raise ValueError(f"the {engine} engine runs on the CPU only; use --device cpu or --engine torch")
        predictor = Predictor.from_run(run_dir, device="cpu", engine=engine)
        model_classes = predictor.classes
        probs = predictor.predict_faces(part.images, tta=tta)
    to_model = align_classes(model_classes, part.classes)
    labels_in_model_space = to_model[part.labels]
    report = classification_report(labels_in_model_space, probs.argmax(1), model_classes)
    return {**report, "split": split, "n": int(len(part)), "tta": tta, "data": ds.source, "engine": engine}
