"""Fitting a classical baseline (models/classical.py) and recording it as a run, like a deep run.

Its run folder has the same files as a deep run's: status, one metrics row (epoch 1), evaluation.json
and predictions.csv on the test split. Instead of best.pt it holds model.skops (the fitted pipeline)
and model_card.json (a ModelCard of kind "classical").

Imbalance: ``none``, ``class_weights`` (class_weight="balanced", or balanced sample weights for the
MLP, which has no class_weight), ``undersample`` and ``oversample`` (the training images are resampled
once with the deep runs' samplers).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight

from fer_core import runs
from fer_core.common.metrics import macro_f1
from fer_core.models.classical import (CLASSIFIERS, CLASSICAL, Baseline, class_probabilities, is_int,
                                       feature_settings, resolve_options)
from fer_core.runs.card import ModelCard
from fer_core.runs.checkpoint import save_classical
from fer_core.training.config import TrainConfig
from fer_core.training.prepare import prepare_data
from fer_core.data.votes import label_description, scored_description

SUPPORTED_IMBALANCE = ("none", "class_weights", "undersample", "oversample")


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
    from fer_core.training.imbalance import get_strategy  # torch: imported only when a run resamples

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

    Writes one metrics row, model.skops, model_card.json and the test evaluation; status phases
    "loading data", "features", "fitting", "evaluating" as it goes. Returns the evaluation dict.
    Call it inside `RunGuard(run_dir)` (runs/guard.py), which records completion or failure.
    `config.torch_threads`, when set, caps the BLAS/OpenMP threads and the forest's workers.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    baseline = CLASSICAL.get(config.arch)
    if config.label_mode == "distribution":
        raise ValueError(f"{config.arch} learns one label per face, not a vote distribution; use label mode "
                         "majority for a classical baseline")
    options = resolve_options(config.classical_options)
    balanced, resampler = _imbalance_plan(config)
    threads = config.torch_threads
    if threads is not None and (not is_int(threads) or threads < 1):
        raise ValueError(f"torch_threads must be an integer >= 1 or None, got {threads!r}")
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
    train_loss, train_acc, _ = _split_metrics(y, class_probabilities(classifier, F_train, num_classes), num_classes)
    val_probs = class_probabilities(pipeline, val.images, num_classes) if len(val) else np.zeros((0, num_classes))
    val_loss, val_acc, val_f1 = _split_metrics(val.labels, val_probs, num_classes)
    seconds = time.perf_counter() - started  # one "epoch": the whole fit
    runs.append_metrics(run_dir, {"epoch": 1, "train_loss": train_loss, "train_acc": train_acc,
                                  "val_loss": val_loss, "val_acc": val_acc, "val_macro_f1": val_f1,
                                  "lr": None, "epoch_seconds": seconds, "elapsed_seconds": seconds})

    from sklearn import __version__ as sklearn_version
    card = ModelCard(kind="classical", arch=baseline.name, class_names=list(ds.classes), trained_on=ds.source, extra={
        "description": baseline.description, "class_set": config.class_set,
        "features": feature_settings(baseline, options), "classifier": CLASSIFIERS[baseline.classifier][0],
        "options": options, "imbalance": config.imbalance, "seed": config.seed,
        "n_train": int(len(train)), "n_fit": int(len(fit_idx)), "n_dropped_leaked": n_dropped,
        "labels": label_description(config.label_mode, config.votes),
        "fit_seconds": round(fit_seconds, 3), "sklearn_version": sklearn_version})
    save_classical(run_dir, pipeline, card)

    test_probs = class_probabilities(pipeline, test.images, num_classes)
    return runs.write_evaluation(run_dir, test.ids, test.labels, test_probs, ds.classes,
                                 extra={"kind": "classical", "arch": baseline.name,
                                        "labels": scored_description(config.label_mode, config.votes)})
