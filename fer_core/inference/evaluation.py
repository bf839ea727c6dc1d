"""Evaluate a finished run's best model on any dataset and split (`python -m fer_core evaluate`)."""
from __future__ import annotations

import os

import numpy as np

from fer_core import runs
from fer_core.common.metrics import classification_report
from fer_core.data import load_dataset
from fer_core.data.votes import SCORED_ON, label_description
from fer_core.runs.checkpoint import load_model
from fer_core.training.config import TrainConfig


def align_classes(model_classes: list[str], data_classes: tuple[str, ...]) -> np.ndarray:
    """Index map data label -> model output; refuses when the data has classes the model never learnt."""
    unknown = [c for c in data_classes if c not in model_classes]
    if unknown:
        raise ValueError(f"the dataset has class(es) {', '.join(unknown)} that this model was not trained on "
                         f"(it knows {', '.join(model_classes)}); choose a matching --class-set (no_contempt for "
                         "FER+ labels and a 7-class model)")
    return np.array([model_classes.index(c) for c in data_classes])


def score_predictions(labels: np.ndarray, probs: np.ndarray, model_classes: list[str],
                      data_classes: tuple[str, ...]) -> dict:
    """The classification report of a model on labels with (possibly) fewer classes than it has outputs.

    Every output competes, so an answer the labels cannot hold (contempt, for FER2013 labels) counts as
    an error; macro-F1 averages the classes the labels have (`scored_classes`), not the model's extra ones.
    `labels` are in model space (align_classes)."""
    from sklearn.metrics import f1_score

    report = classification_report(labels, probs.argmax(1), model_classes)
    extra = [c for c in model_classes if c not in data_classes]
    if extra:
        scored = [model_classes.index(c) for c in data_classes]
        report["macro_f1"] = float(f1_score(labels, probs.argmax(1), labels=scored, average="macro",
                                            zero_division=0))
        report["scored_classes"] = list(data_classes)
        report["unscored_outputs"] = extra
    return report


def evaluate_run(run_dir: str | os.PathLike, data: str | None = None, split: str = "test", tta: str = "none",
                 class_set: str | None = None, device: str = "auto", engine: str = "torch", votes: str | None = None,
                 label_mode: str | None = None) -> dict:
    """Accuracy, macro-F1, per-class P/R/F1/support and the confusion matrix of the run's best model.

    `data` None means the data the run was trained on (with its votes file, unless `votes` names
    another); `label_mode` None means the run's own labels, 'fer2013' the source's, 'majority' FER+'s.
    Labels are matched to the model's classes by name, so a dataset with fewer classes (e.g. no
    disgust, or FER2013 labels for an 8-class FER+ model) can be scored (see score_predictions).
    engine: torch (the PyTorch model on `device`), or one of the Predictor's (run_onnx.ENGINES: e.g.
    onnxruntime-int8, the run's int8 model), on the CPU.
    """
    record = runs.load_run(run_dir)  # 'builtin' is the bundled model
    run_dir = record.run_dir
    config = TrainConfig.from_dict(record.config)
    if votes is None and data is None:
        votes = config.votes
    mode = label_mode or (config.label_mode if votes else "fer2013")
    mode = SCORED_ON.get(mode, mode)  # distribution runs are scored on the majority label, as training does
    ds = load_dataset(data if data is not None else config.data, class_set=class_set or config.class_set,
                      val_fraction=config.val_fraction, seed=config.seed, synthetic_size=config.synthetic_size,
                      votes=votes, label_mode=mode)
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
    report = score_predictions(to_model[part.labels], probs, model_classes, part.classes)
    return {**report, "split": split, "n": int(len(part)), "tta": tta, "data": ds.source, "engine": engine,
            "labels": label_description(mode, votes), "label_mode": mode}
