"""2-D embeddings: sampling, PCA/t-SNE of pixels, a run's penultimate features, selections."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.data import load_dataset
from fer_core.inference.embedding import (embed_features, embed_images, embed_run_features, embedding_runs, run_features,
                                sample_dataset, selected_indices, stratified_sample)


def test_stratified_sample_keeps_every_class_and_is_seeded():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 9 + [3] * 1)
    idx = stratified_sample(labels, n=100, seed=3)
    assert set(labels[idx]) == {0, 1, 2, 3}  # the single image of class 3 is kept
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)  # exactly n, sorted, no repeats
    counts = np.bincount(labels[idx])
    assert counts[0] > counts[1] > counts[2] >= counts[3] == 1
    assert np.array_equal(idx, stratified_sample(labels, n=100, seed=3))
    assert not np.array_equal(idx, stratified_sample(labels, n=100, seed=4))
    assert np.array_equal(stratified_sample(labels, n=5000), np.arange(1000))
    assert len(stratified_sample(labels, n=2)) == 4  # fewer seats than classes: one per class
    for n in (7, 333, 999):
        assert len(stratified_sample(labels, n=n, seed=1)) == n
    with pytest.raises(ValueError, match="positive integer"):
        stratified_sample(labels, n=0)


def test_sample_dataset_draws_from_one_split():
    ds = load_dataset(synthetic_size=700)
    idx = sample_dataset(ds, n=100, seed=0, split="test")
    assert np.all(ds.splits[idx] == 2)
    assert set(ds.labels[idx]) == set(ds.split("test").labels)


def test_embed_images_pca_shape_and_determinism():
    images = np.random.default_rng(0).integers(0, 256, (40, 48, 48), dtype=np.uint8)
    coords = embed_images(images, method="pca", seed=0)
    assert coords.shape == (40, 2) and np.isfinite(coords).all()
    assert np.array_equal(coords, embed_images(images, method="pca", seed=0))
    assert embed_images(images[:1]).shape == (1, 2)  # a single image still gets a point
    with pytest.raises(ValueError, match="valid: pca, tsne"):
        embed_images(images, method="umap")
    with pytest.raises(ValueError, match="nothing to embed"):
        embed_images(images[:0])


def test_tsne_on_a_small_sample_and_its_lower_limit():
    x = np.random.default_rng(1).normal(size=(30, 8))
    coords = embed_features(x, method="tsne", seed=0)
    assert coords.shape == (30, 2) and np.isfinite(coords).all()
    with pytest.raises(ValueError, match="at least 5 points"):
        embed_features(x[:4], method="tsne")


def test_run_features_embedding_on_a_trained_run(trained_run):
    ds = load_dataset(synthetic_size=700)
    images = ds.images[:64]
    feats = run_features(trained_run, images, classes=ds.classes)
    assert feats.shape == (64, 256) and feats.dtype == np.float32  # simple_cnn's 256-unit penultimate layer
    coords = embed_run_features(trained_run, images, classes=ds.classes, method="pca")
    assert coords.shape == (64, 2) and np.isfinite(coords).all()
    # a trained net separates the classes better in its features than raw pixels do
    pixel_score = _class_separation(embed_images(ds.images[:300]), ds.labels[:300])
    feature_score = _class_separation(embed_run_features(trained_run, ds.images[:300]), ds.labels[:300])
    assert feature_score > pixel_score


def _class_separation(coords: np.ndarray, labels: np.ndarray) -> float:
    """Between-class over within-class variance of 2-D points."""
    centre = coords.mean(0)
    between = sum((labels == c).sum() * np.sum((coords[labels == c].mean(0) - centre) ** 2) for c in np.unique(labels))
    within = sum(np.sum((coords[labels == c] - coords[labels == c].mean(0)) ** 2) for c in np.unique(labels))
    return between / within


def test_run_features_refuse_a_class_set_mismatch(trained_run):
    images = np.zeros((4, 48, 48), np.uint8)
    with pytest.raises(ValueError, match="trained on classes .* same class set"):
        embed_run_features(trained_run, images, classes=("angry", "happy", "sad"))


def test_embedding_runs_lists_deep_runs_with_matching_classes(run_in_checkpoints):
    ds = load_dataset(synthetic_size=700)
    assert [r.run_dir.name for r in embedding_runs(ds.classes)] == [run_in_checkpoints.name]
    assert embedding_runs(("angry", "happy")) == []
    (run_in_checkpoints / "best.pt").unlink()  # no checkpoint: nothing to embed with
    assert embedding_runs(ds.classes) == []


def test_selected_indices_reads_customdata():
    points = [{"curve_number": 0, "point_index": 0, "customdata": [17]},
              {"curve_number": 2, "point_index": 0, "customdata": [3]},
              {"curve_number": 2, "point_index": 0, "customdata": [17]},  # repeated: kept once
              {"curve_number": 1, "point_index": 4, "customdata": 8},
              {"curve_number": 1, "point_index": 5}]  # no customdata: ignored
    assert selected_indices(points) == [17, 3, 8]
    assert selected_indices([]) == [] and selected_indices(None) == []


def test_the_bundled_model_is_an_embedding_source(bundled_model):
    from fer_core.data.synthetic import generate_synthetic
    from fer_core.inference.embedding import embedding_runs, run_features
    from fer_core.common.emotions import CANONICAL_CLASSES
    records = embedding_runs(CANONICAL_CLASSES)
    assert records and records[0].is_builtin
    features = run_features("builtin", generate_synthetic(40, seed=2).images[:4], CANONICAL_CLASSES)
    assert features.shape == (4, 128) and features.dtype == "float32"
