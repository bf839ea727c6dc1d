"""Classical baselines: HOG or PCA features + SVM, random forest or MLP, recorded as runs.

Each baseline is an architecture name (``hog_svm``, ``pca_rf``, ...), so ``--arch hog_svm`` works
wherever a deep architecture does, and its run folder has the same files as a deep run's: status,
one metrics row (epoch 1), evaluation.json and predictions.csv on the test split. Instead of
``best.pt`` it holds:

    model.skops        the fitted scikit-learn Pipeline: uint8 faces (N, 48, 48) -> class probabilities
    model_card.json    class names, arch, feature and classifier settings, fit size and time

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
* ``rf``: a random forest of 200 trees on every core (``num_workers_threads`` caps the cores).
* ``mlp``: a 256-unit ReLU MLP (Adam) that stops early on its own 10 % internal split; the run's
  metrics still report our validation split.

``classical_options`` (in TrainConfig) overrides the defaults in DEFAULT_OPTIONS; options that the
chosen baseline does not use are accepted and ignored, so one dict can serve every baseline.
Imbalance: ``none``, ``class_weights`` (class_weight="balanced", or balanced sample weights for the
MLP, which has no class_weight), ``undersample`` and ``oversample`` (the training images are resampled
once with the deep runs' samplers).
"""
from __future__ import annotations

import os
import zipfile
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.class_weight import compute_sample_weight

from . import runs
from .config import TrainConfig
from .data import IMAGE_SIZE
from .data.prepare import prepare_data
from .metrics import macro_f1
from .registry import Registry

MODEL_FILE, MODEL_CARD = "model.skops", "model_card.json"
LEGACY_MODEL_FILE = "model.joblib"  # a pickle: loaded only with TRUST_PICKLES_ENV=1
MODEL_FILES = (MODEL_FILE, LEGACY_MODEL_FILE)  # either marks a run folder as holding a classical model
TRUST_PICKLES_ENV = "FER_TRUST_PICKLED_MODELS"
# The types in our baselines' files that skops does not trust by itself (scikit-learn's estimators,
# numpy arrays and builtins it does), read off all six baselines' files. A file naming any other is refused.
TRUSTED_TYPES = frozenset({
    "fer_core.classical.HOGFeatures", "fer_core.classical.PixelScaler",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer", "sklearn.tree._tree.Tree",
})


def class_names(card: dict) -> list[str]:
    """A classical model card's class names."""
    return list(card["classes"])
CARD_FORMAT = 1
SUPPORTED_IMBALANCE = ("none", "class_weights", "undersample", "oversample")

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


# ---------------------------------------------------------------- options

def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _positive_int(name: str, v: Any) -> None:
    if not _is_int(v) or v < 1:
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
    if _is_int(hidden):
        hidden = [hidden]
    if not isinstance(hidden, (list, tuple)) or not hidden or not all(_is_int(h) and h >= 1 for h in hidden):
        raise ValueError(f"classical option mlp_hidden must be a non-empty list of layer sizes >= 1, got {hidden!r}")
    opts["mlp_hidden"] = [int(h) for h in hidden]
    if not isinstance(opts["pca_whiten"], bool):
        raise ValueError(f"classical option pca_whiten must be true or false, got {opts['pca_whiten']!r}")
    return opts


# ---------------------------------------------------------------- feature transformers

def _as_faces(X: Any) -> np.ndarray:
    """uint8 faces (N, 48, 48); flattened rows (N, 2304) are reshaped."""
    X = np.asarray(X)
    if X.ndim == 2 and X.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
        X = X.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if X.ndim != 3 or X.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or X.dtype != np.uint8:
        raise ValueError(f"classical baselines take uint8 grayscale faces of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                         f"got {X.dtype} {X.shape}")
    return X


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
        _as_faces(X)
        self.n_features_out_ = int(self._descriptor().getDescriptorSize())
        return self

    def transform(self, X) -> np.ndarray:
        faces = _as_faces(X)
        hog = self._descriptor()
        out = np.empty((len(faces), hog.getDescriptorSize()), dtype=np.float32)
        for i, face in enumerate(faces):
            out[i] = hog.compute(face).ravel()
        return out


class PixelScaler(TransformerMixin, BaseEstimator):
    """uint8 faces (N, 48, 48) -> pixel rows (N, 2304) float32 in [0, 1]."""

    def fit(self, X, y=None) -> "PixelScaler":
        _as_faces(X)
        return self

    def transform(self, X) -> np.ndarray:
        faces = _as_faces(X)
        return faces.reshape(len(faces), -1).astype(np.float32) / 255.0


# ---------------------------------------------------------------- baselines

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
_CLASSIFIERS: dict[str, tuple[str, Callable[[dict, bool, int, int], Steps], bool]] = {
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
        return _CLASSIFIERS[self.classifier][2]

    def build(self, options: dict | None = None, balanced: bool = False, seed: int = 0,
              n_jobs: int = -1) -> Pipeline:
        """The unfitted pipeline: uint8 faces (N, 48, 48) in, class probabilities out.

        `balanced` sets class_weight="balanced" where the classifier has one; `n_jobs` is the
        random forest's worker count (-1: every core).
        """
        o = resolve_options(options)
        steps = _FEATURES[self.features][1](o, seed) + _CLASSIFIERS[self.classifier][1](o, balanced, seed, n_jobs)
        return Pipeline(steps)


CLASSICAL: Registry[Baseline] = Registry("classical baseline")
for _feat, (_feat_desc, _) in _FEATURES.items():
    for _clf, (_clf_desc, _, _) in _CLASSIFIERS.items():
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


# ---------------------------------------------------------------- probabilities

def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _class_probabilities(estimator, X, num_classes: int) -> np.ndarray:
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
    images = np.asarray(images)
    if images.ndim == 2 and images.shape == (IMAGE_SIZE, IMAGE_SIZE):
        images = images[None]
    return _class_probabilities(pipeline, _as_faces(images), len(classes))


# ---------------------------------------------------------------- runs

def _imbalance_plan(config: TrainConfig):
    """(balanced, resampling strategy or None) for the config's imbalance setting."""
    if config.imbalance not in SUPPORTED_IMBALANCE:
        raise ValueError(f"imbalance strategy {config.imbalance!r} is not supported for classical baselines; "
                         f"supported: {', '.join(SUPPORTED_IMBALANCE)}")
    if config.imbalance in ("none", "class_weights"):  # no sampler: spare the run importing torch
        if config.imbalance_options:
            raise ValueError(f"imbalance strategy {config.imbalance!r} takes no options for classical baselines; "
                             f"got {sorted(config.imbalance_options)}")
        return config.imbalance == "class_weights", None
    from .imbalance import get_strategy  # torch: imported only when a run resamples

    strategy = get_strategy(config.imbalance, **config.imbalance_options)  # also checks the options
    resampler = strategy if config.imbalance in ("undersample", "oversample") else None
    return config.imbalance == "class_weights", resampler


def stratified_cap(labels: np.ndarray, max_n: int, seed: int) -> np.ndarray:
    """Sorted indices of about `max_n` samples (rounding per class), each class keeping its share and
    at least one image; all indices when there are no more than `max_n`."""
    labels = np.asarray(labels)
    if len(labels) <= max_n:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n = max(1, round(len(members) * max_n / len(labels)))
        keep.append(rng.choice(members, size=min(n, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


def _split_metrics(labels: np.ndarray, probs: np.ndarray, num_classes: int) -> tuple:
    """(log loss, accuracy, macro-F1); Nones for an empty split."""
    if len(labels) == 0:
        return None, None, None
    pred = probs.argmax(axis=1)
    loss = log_loss(labels, probs, labels=list(range(num_classes)))  # clips 0 to float eps itself
    return float(loss), float((pred == labels).mean()), macro_f1(labels, pred, num_classes)


def run_classical(config: TrainConfig, run_dir: Path) -> dict:
    """Fit a classical baseline on the train split and record it in run_dir like a deep run.

    Writes one metrics row, model.joblib, model_card.json and the test evaluation; status phases
    "loading data", "features", "fitting", "evaluating" as it goes. Returns the evaluation dict.
    Call it inside `runs.run_guard(run_dir)`, which records completion or failure.
    `config.num_workers_threads`, when set, caps the BLAS/OpenMP threads and the forest's workers.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    baseline = CLASSICAL.get(config.arch)
    options = resolve_options(config.classical_options)
    balanced, resampler = _imbalance_plan(config)
    threads = config.num_workers_threads
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise ValueError(f"num_workers_threads must be an integer >= 1 or None, got {threads!r}")
    # On a busy machine, BLAS threads spinning against each other can make PCA 20x slower.
    with threadpool_limits(limits=threads):
        return _fit_and_record(config, Path(run_dir), baseline, options, balanced, resampler,
                               n_jobs=-1 if threads is None else threads)


def _fit_and_record(config: TrainConfig, run_dir: Path, baseline: Baseline, options: dict, balanced: bool,
                    resampler, n_jobs: int) -> dict:
    """run_classical's work, once the settings are checked."""
    runs.write_status(run_dir, "running", phase="loading data", epoch=0, epochs=1)
    data = prepare_data(config)
    ds, train, val, test, n_dropped = data.dataset, data.train, data.val, data.test, data.dropped_leaked
    num_classes = len(ds.classes)

    X, y = train.images, train.labels
    if options["max_train"] is not None:
        keep = stratified_cap(y, options["max_train"], config.seed)
        X, y = X[keep], y[keep]
    fit_idx = np.arange(len(y)) if resampler is None else \
        resampler.epoch_indices(y, 0, config.seed)[0].numpy()
    fit_kw = {}
    if balanced and baseline.weights_as_samples:
        fit_kw["sample_weight"] = compute_sample_weight("balanced", y[fit_idx])

    pipeline = baseline.build(options, balanced=balanced and not baseline.weights_as_samples, seed=config.seed,
                              n_jobs=n_jobs)
    # Fit the feature steps and the classifier separately (what Pipeline.fit does) to report phases;
    # the slice shares its estimators with `pipeline`, so fitting it fits the pipeline's steps.
    features, classifier = pipeline[:-1], pipeline[-1]
    started = time.perf_counter()
    runs.write_status(run_dir, "running", phase="features")
    F = features.fit_transform(X[fit_idx], y[fit_idx])
    runs.write_status(run_dir, "running", phase="fitting")
    classifier.fit(F, y[fit_idx], **fit_kw)
    fit_seconds = time.perf_counter() - started
    pipeline.fer_classes_ = tuple(ds.classes)  # pickled with the pipeline: C for predict_proba_classical

    runs.write_status(run_dir, "running", phase="evaluating", epoch=1)
    F_train = F if resampler is None else features.transform(X)
    train_loss, train_acc, _ = _split_metrics(y, _class_probabilities(classifier, F_train, num_classes), num_classes)
    val_probs = _class_probabilities(pipeline, val.images, num_classes) if len(val) else np.zeros((0, num_classes))
    val_loss, val_acc, val_f1 = _split_metrics(val.labels, val_probs, num_classes)
    seconds = time.perf_counter() - started  # one "epoch": the whole fit
    runs.append_metrics(run_dir, {"epoch": 1, "train_loss": train_loss, "train_acc": train_acc,
                                  "val_loss": val_loss, "val_acc": val_acc, "val_macro_f1": val_f1,
                                  "lr": None, "epoch_seconds": seconds, "elapsed_seconds": seconds})

    import skops.io

    # forests are large; compression shrinks them several times
    runs.atomic_write_bytes(run_dir / MODEL_FILE, skops.io.dumps(pipeline, compression=zipfile.ZIP_DEFLATED,
                                                                  compresslevel=6))
    from sklearn import __version__ as sklearn_version
    card = {
        "format": CARD_FORMAT, "kind": "classical", "arch": baseline.name, "description": baseline.description,
        "classes": list(ds.classes), "class_set": config.class_set,
        "input": {"shape": [IMAGE_SIZE, IMAGE_SIZE], "dtype": "uint8", "channels": 1},
        "features": feature_settings(baseline, options), "classifier": _CLASSIFIERS[baseline.classifier][0],
        "options": options, "imbalance": config.imbalance, "seed": config.seed,
        "n_train": int(len(train)), "n_fit": int(len(fit_idx)), "n_dropped_leaked": n_dropped,
        "fit_seconds": round(fit_seconds, 3), "data": ds.source, "sklearn_version": sklearn_version,
    }
    runs.atomic_write_json(run_dir / MODEL_CARD, card)

    test_probs = _class_probabilities(pipeline, test.images, num_classes)
    return runs.write_evaluation(run_dir, test.ids, test.labels, test_probs, ds.classes,
                                 extra={"kind": "classical", "arch": baseline.name})


def load_classical(run_dir: str | Path) -> tuple[Pipeline, dict]:
    """The fitted pipeline and model card of a classical run, loaded without running stored code."""
    run_dir = Path(run_dir)
    card = runs.read_json(run_dir / MODEL_CARD)
    path = run_dir / MODEL_FILE
    if path.exists():
        pipeline = _load_skops(path)
    elif (run_dir / LEGACY_MODEL_FILE).exists():
        pipeline = _load_legacy_pickle(run_dir / LEGACY_MODEL_FILE)
    else:
        raise runs.RunError(f"{path} is missing: the run has no fitted classical model")
    if list(getattr(pipeline, "fer_classes_", ())) != list(card.get("classes", [])):
        raise runs.RunError(f"{path} does not match its model card (class lists differ)")
    return pipeline, card


def _load_skops(path: Path) -> Pipeline:
    import skops.io
    try:
        named = set(skops.io.get_untrusted_types(file=path))
        foreign = sorted(named - TRUSTED_TYPES)
        if foreign:
            raise runs.RunError(f"{path} names types a classical baseline is not made of ({', '.join(foreign[:5])}); "
                                "it was not loaded")
        pipeline = skops.io.load(path, trusted=sorted(named))
    except runs.RunError:
        raise
    except Exception as exc:  # a truncated or foreign file can fail in many ways
        raise runs.RunError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(pipeline, Pipeline):
        raise runs.RunError(f"{path} does not hold a scikit-learn pipeline")
    return pipeline


def _load_legacy_pickle(path: Path) -> Pipeline:
    """A run saved before skops: a pickle, which can run code, so only on the user's explicit say-so."""
    if os.environ.get(TRUST_PICKLES_ENV) != "1":
        raise runs.RunError(f"{path} is a pickle from an older version, and loading a pickle can run any code "
                            f"it holds. If you made this run yourself, set {TRUST_PICKLES_ENV}=1 to load it; "
                            "better, train the run again (it is then saved safely)")
    import joblib
    try:
        return joblib.load(path)
    except Exception as exc:  # a truncated or foreign file can fail in many ways
        if "SharpnessCap" in str(exc):
            raise runs.RunError(f"{path} was fitted with the sharpness cap, which was removed on 2026-11-26 with the "
                                "blurred copy of FER2013 it was made for; train the run again") from None
        raise runs.RunError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
