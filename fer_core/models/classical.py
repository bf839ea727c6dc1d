"""Classical baselines as models: HOG or PCA features + SVM, random forest or MLP, as one
scikit-learn Pipeline each (uint8 faces (N, 48, 48) in, class probabilities out).

Each baseline is an architecture name (``hog_svm``, ``pca_rf``, ...), so ``--arch hog_svm`` works
wherever a deep architecture does; training/classical.py fits one and records it as a run.

Security: the pipeline is stored with skops.io, which rebuilds objects without running pickled code, and
is loaded only if every type it names that skops does not trust by itself is on TRUSTED_TYPES (the
types our baselines add). Runs
made before 2026-11-26 hold a pickle, model.joblib, which runs whatever code it names when loaded; it is
refused unless FER_TRUST_PICKLED_MODELS=1 says the run is your own (then train it again to upgrade).

Features (the pipeline's first steps, fitted on the training split only):

* ``hog``: OpenCV HOG over the whole 48x48 face, 8x8-pixel cells, 2x2-cell blocks moved one cell at a
  time, 9 orientation bins (5x5 blocks x 4 cells x 9 = 900 values), then standardised.
* ``pca``: pixels scaled to [0, 1], PCA to 100 components, whitened.

Classifiers:

* ``svm``: an RBF-kernel SVM made to fit in minutes on all of FER2013: a Nystroem approximation of the
  RBF kernel (2,000 landmark images, gamma 1 / n_features, the "scale" value on standardised
  features) followed by a linear SVM (LinearSVC, C = 1), with probabilities from sigmoid calibration
  over 3 folds. An exact ``SVC(probability=True)`` costs time quadratic in the training size times
  the 5 calibration fits: well over half an hour on 25k images and 2 cores.
* ``rf``: a random forest of 200 trees on every core (``torch_threads`` caps the cores).
* ``mlp``: a 256-unit ReLU MLP (Adam) that stops early on its own 10 % internal split; the run's
  metrics still report our validation split.

``classical_options`` (in TrainConfig) overrides the defaults in DEFAULT_OPTIONS; options that the
chosen baseline does not use are accepted and ignored, so one dict can serve every baseline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from fer_core.common.faces_array import IMAGE_SIZE, as_face_batch
from fer_core.common.registry import Registry

TRUST_PICKLES_ENV = "FER_TRUST_PICKLED_MODELS"


# The types in our baselines' files that skops does not trust by itself (scikit-learn's estimators,
# numpy arrays and builtins it does), read off all six baselines' files. A file naming any other is refused.
TRUSTED_TYPES = frozenset({
    "fer_core.models.classical.HOGFeatures", "fer_core.models.classical.PixelScaler",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer", "sklearn.tree._tree.Tree",
})


DEFAULT_OPTIONS: dict[str, Any] = {
    "hog_cell": 8,            # HOG cell size in pixels; must divide 48
    "hog_block": 2,           # HOG block size in cells
    "hog_bins": 9,            # HOG orientation bins
    "pca_components": 100,
    "pca_whiten": True,
    "C": 1.0,                 # SVM regularisation (larger = less)
    "svm_components": 2000,   # Nystroem landmarks approximating the RBF kernel
    "n_estimators": 200,      # random forest trees
    "max_depth": None,        # random forest depth limit (None = grow fully)
    "min_samples_leaf": 1,
    "mlp_hidden": [256],      # MLP hidden layer sizes
    "mlp_alpha": 1e-4,        # MLP L2 penalty
    "mlp_max_iter": 200,      # MLP epochs at most
    "max_train": None,        # fit on at most this many training images (stratified sample)
}


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _positive_int(name: str, v: Any) -> None:
    if not is_int(v) or v < 1:
        raise ValueError(f"classical option {name} must be an integer >= 1, got {v!r}")


def resolve_options(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULT_OPTIONS with `overrides` on top (None keeps a default), validated.

    Raises ValueError for an unknown option (listing the valid ones) or an invalid value.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown classical option(s): {', '.join(unknown)}; valid: {', '.join(DEFAULT_OPTIONS)}")
    opts = {**DEFAULT_OPTIONS, **{k: v for k, v in overrides.items() if v is not None}}
    for name in ("hog_cell", "hog_block", "hog_bins", "pca_components", "svm_components", "n_estimators",
                 "min_samples_leaf", "mlp_max_iter"):
        _positive_int(name, opts[name])
    for name in ("max_depth", "max_train"):
        if opts[name] is not None:
            _positive_int(name, opts[name])
    if IMAGE_SIZE % opts["hog_cell"] or opts["hog_cell"] * opts["hog_block"] > IMAGE_SIZE:
        raise ValueError(f"hog_cell must divide {IMAGE_SIZE} and hog_cell * hog_block must be at most "
                         f"{IMAGE_SIZE}, got hog_cell={opts['hog_cell']}, hog_block={opts['hog_block']}")
    for name in ("C", "mlp_alpha"):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0 or (name == "C" and v == 0):
            raise ValueError(f"classical option {name} must be a finite number "
                             f"{'> 0' if name == 'C' else '>= 0'}, got {v!r}")
    hidden = opts["mlp_hidden"]
    if is_int(hidden):
        hidden = [hidden]
    if not isinstance(hidden, (list, tuple)) or not hidden or not all(is_int(h) and h >= 1 for h in hidden):
        raise ValueError(f"classical option mlp_hidden must be a non-empty list of layer sizes >= 1, got {hidden!r}")
    opts["mlp_hidden"] = [int(h) for h in hidden]
    if not isinstance(opts["pca_whiten"], bool):
        raise ValueError(f"classical option pca_whiten must be true or false, got {opts['pca_whiten']!r}")
    return opts


class HOGFeatures(TransformerMixin, BaseEstimator):
    """uint8 faces (N, 48, 48) -> OpenCV HOG descriptors (N, D) float32 over the whole face."""

    def __init__(self, cell_size: int = 8, block_cells: int = 2, bins: int = 9):
        self.cell_size = cell_size
        self.block_cells = block_cells
        self.bins = bins

    def _descriptor(self) -> cv2.HOGDescriptor:
        # Built on demand: cv2 objects do not pickle, and building one costs microseconds.
        cell, block = self.cell_size, self.cell_size * self.block_cells
        return cv2.HOGDescriptor((IMAGE_SIZE, IMAGE_SIZE), (block, block), (cell, cell), (cell, cell), self.bins)

    def fit(self, X, y=None) -> "HOGFeatures":
        as_face_batch(X, allow_flat=True)
        self.n_features_out_ = int(self._descriptor().getDescriptorSize())
        return self

    def transform(self, X) -> np.ndarray:
        faces = as_face_batch(X, allow_flat=True)
        hog = self._descriptor()
        out = np.empty((len(faces), hog.getDescriptorSize()), dtype=np.float32)
        for i, face in enumerate(faces):
            out[i] = hog.compute(face).ravel()
        return out


class PixelScaler(TransformerMixin, BaseEstimator):
    """uint8 faces (N, 48, 48) -> pixel rows (N, 2304) float32 in [0, 1]."""

    def fit(self, X, y=None) -> "PixelScaler":
        as_face_batch(X, allow_flat=True)
        return self

    def transform(self, X) -> np.ndarray:
        faces = as_face_batch(X, allow_flat=True)
        return faces.reshape(len(faces), -1).astype(np.float32) / 255.0


Steps = list[tuple[str, Any]]


def _hog_steps(o: dict, seed: int) -> Steps:
    return [("hog", HOGFeatures(o["hog_cell"], o["hog_block"], o["hog_bins"])), ("scale", StandardScaler())]


def _pca_steps(o: dict, seed: int) -> Steps:
    return [("pixels", PixelScaler()),
            ("pca", PCA(n_components=o["pca_components"], whiten=o["pca_whiten"], random_state=seed))]


def _svm_steps(o: dict, balanced: bool, seed: int, n_jobs: int) -> Steps:
    svm = LinearSVC(C=float(o["C"]), dual=True, max_iter=2000, random_state=seed,
                    class_weight="balanced" if balanced else None)
    return [("kernel", Nystroem(kernel="rbf", n_components=o["svm_components"], random_state=seed)),
            ("svm", CalibratedClassifierCV(svm, method="sigmoid", cv=3))]


def _rf_steps(o: dict, balanced: bool, seed: int, n_jobs: int) -> Steps:
    return [("rf", RandomForestClassifier(
        n_estimators=o["n_estimators"], max_depth=o["max_depth"], min_samples_leaf=o["min_samples_leaf"],
        n_jobs=n_jobs, random_state=seed, class_weight="balanced" if balanced else None))]


def _mlp_steps(o: dict, balanced: bool, seed: int, n_jobs: int) -> Steps:
    # No class_weight here: class_weights is applied as balanced sample weights at fit time.
    return [("mlp", MLPClassifier(hidden_layer_sizes=tuple(o["mlp_hidden"]), alpha=float(o["mlp_alpha"]),
                                  max_iter=o["mlp_max_iter"], early_stopping=True, random_state=seed))]


_FEATURES: dict[str, tuple[str, Callable[[dict, int], Steps]]] = {
    "hog": ("HOG (8 px cells, 9 bins)", _hog_steps),
    "pca": ("PCA (100 whitened components)", _pca_steps),
}


# name -> (description, steps builder, whether class_weights must be given as sample weights)
CLASSIFIERS: dict[str, tuple[str, Callable[[dict, bool, int, int], Steps], bool]] = {
    "svm": ("RBF SVM (Nystroem + LinearSVC, calibrated)", _svm_steps, False),
    "rf": ("random forest (200 trees)", _rf_steps, False),
    "mlp": ("MLP (256 units, early stopping)", _mlp_steps, True),
}


@dataclass(frozen=True)
class Baseline:
    """A classical baseline: features + classifier, built as one scikit-learn Pipeline."""

    name: str
    description: str
    features: str
    classifier: str

    @property
    def weights_as_samples(self) -> bool:
        """True when class_weights is passed as per-sample weights (the classifier has no class_weight)."""
        return CLASSIFIERS[self.classifier][2]

    def build(self, options: dict | None = None, balanced: bool = False, seed: int = 0,
              n_jobs: int = -1) -> Pipeline:
        """The unfitted pipeline: uint8 faces (N, 48, 48) in, class probabilities out.

        `balanced` sets class_weight="balanced" where the classifier has one; `n_jobs` is the
        random forest's worker count (-1: every core).
        """
        o = resolve_options(options)
        steps = _FEATURES[self.features][1](o, seed) + CLASSIFIERS[self.classifier][1](o, balanced, seed, n_jobs)
        return Pipeline(steps)


CLASSICAL: Registry[Baseline] = Registry("classical baseline")


for _feat, (_feat_desc, _) in _FEATURES.items():
    for _clf, (_clf_desc, _, _) in CLASSIFIERS.items():
        CLASSICAL.register(f"{_feat}_{_clf}", Baseline(f"{_feat}_{_clf}", f"{_feat_desc} + {_clf_desc}", _feat, _clf))


def is_classical(arch: str) -> bool:
    """True when `arch` names a classical baseline rather than a deep architecture."""
    return arch in CLASSICAL


def classical_names() -> list[str]:
    """The classical baseline names, in registration order."""
    return CLASSICAL.names()


def feature_settings(baseline: Baseline, options: dict) -> dict:
    """The feature extraction a baseline's pipeline applies, for its model card."""
    if baseline.features == "hog":
        return {"kind": "hog", "cell_size": options["hog_cell"], "block_cells": options["hog_block"],
                "block_stride_cells": 1, "bins": options["hog_bins"], "standardised": True}
    return {"kind": "pca", "components": options["pca_components"], "whiten": options["pca_whiten"],
            "pixel_scale": "x / 255"}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_probabilities(estimator, X, num_classes: int) -> np.ndarray:
    """(N, num_classes) probabilities: predict_proba, else softmax of decision_function; classes the
    estimator never saw in training get probability 0."""
    if hasattr(estimator, "predict_proba"):
        p = estimator.predict_proba(X)
    else:
        d = np.asarray(estimator.decision_function(X), dtype=np.float64)
        p = _softmax(np.stack([-d, d], axis=1) if d.ndim == 1 else d)
    full = np.zeros((len(p), num_classes), dtype=np.float64)
    full[:, np.asarray(estimator.classes_, dtype=np.int64)] = p
    # float32 features give float32 probabilities whose rows miss 1 by ~1e-7: renormalise in float64.
    return full / full.sum(axis=1, keepdims=True)


def predict_proba_classical(pipeline: Pipeline, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, C), in the run's class order, for uint8 faces (N, 48, 48) or one (48, 48)."""
    classes = getattr(pipeline, "fer_classes_", None)
    if classes is None:
        raise ValueError("this pipeline was not fitted by run_classical (it has no fer_classes_)")
    return class_probabilities(pipeline, as_face_batch(images, allow_flat=True), len(classes))
