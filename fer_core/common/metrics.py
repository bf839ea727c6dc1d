"""Predictions -> accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support


def classification_report(labels: np.ndarray, predictions: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict:
    """The evaluation record every run stores (and `evaluate --json` prints)."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    indices = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=indices, zero_division=0)
    return {
        "accuracy": float((labels == predictions).mean()) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, predictions, labels=indices, average="macro", zero_division=0)),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "confusion_matrix": confusion_matrix(labels, predictions, labels=indices).tolist(),
    }


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    return float(f1_score(labels, predictions, labels=list(range(num_classes)), average="macro", zero_division=0))
