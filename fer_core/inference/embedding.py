"""2-D embeddings of faces for the Dataset page: pixels or a run's penultimate features -> (n, 2).

The embedding runs on a seeded, stratified sample (`stratified_sample`) so it stays interactive on
all of FER2013. PCA is the default (fast, deterministic); t-SNE is optional and slower.
torch is only imported by `run_features`, so the pixel path and the run listing stay light.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np

from fer_core import runs
from fer_core.data import FaceDataset

METHODS = ("pca", "tsne")
DEFAULT_SAMPLE = 1500
# t-SNE first reduces to this many PCA components (the usual speed-up; 2,304 pixels are mostly noise).
TSNE_PCA_COMPONENTS = 50
TSNE_MIN_POINTS = 5
# t-SNE costs seconds per hundred points on a small CPU: the page caps its sample at this size, and
# 500 iterations (half sklearn's default) already settle the layout of a sample this small.
TSNE_MAX_POINTS = 1000
TSNE_ITERATIONS = 500
# PCA and t-SNE run on one BLAS/OpenMP thread. On a busy machine (a training job on the same CPUs,
# other sessions) spinning OpenMP threads made t-SNE of 1,000 faces 4x slower (24 s vs 6 s on 2
# cores) and PCA 2.5x slower; on an idle machine one thread costs little at these sample sizes.
EMBED_THREADS = 1


def stratified_sample(labels: np.ndarray, n: int = DEFAULT_SAMPLE, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of exactly `n` items (all of them if `n` covers them), drawn per class.

    Every class present first gets min(its size, n // (4 * classes present), at least 1), so rare
    classes (disgust is 1.4% of FER2013) still show as more than a handful of points; the rest of
    the sample is shared in proportion to what each class has left. Only when `n` is smaller than
    the number of classes does the sample grow past `n`, to one item per class.
    """
    labels = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"sample size n must be a positive integer, got {n!r}")
    if n >= len(labels):
        return np.arange(len(labels))
    present, sizes = np.unique(labels, return_counts=True)
    quota = np.minimum(sizes, max(1, n // (4 * len(present))))
    left = n - quota.sum()
    if left > 0:
        capacity = sizes - quota
        ideal = left * capacity / capacity.sum()
        extra = np.floor(ideal).astype(int)
        # Largest remainders take the seats that rounding down left over.
        order = np.argsort(-(ideal - extra), kind="stable")
        extra[order[:left - extra.sum()]] += 1
        quota += np.minimum(extra, capacity)
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(present, quota)]
    return np.sort(np.concatenate(picked))


def sample_dataset(ds: FaceDataset, n: int = DEFAULT_SAMPLE, seed: int = 0, split: str | None = None) -> np.ndarray:
    """Dataset indices of a seeded stratified sample (see `stratified_sample`) of one split or all."""
    pool = np.arange(len(ds)) if split is None else np.flatnonzero(ds.split_mask(split))
    return pool[stratified_sample(ds.labels[pool], n, seed)]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}; valid: {', '.join(METHODS)}")


def embed_features(features: np.ndarray, method: str = "pca", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(n, 2) float32 coordinates of `features` (n, d) by PCA or t-SNE (seeded)."""
    _check_method(method)
    if len(features) == 0:
        raise ValueError("nothing to embed: no images or features were given")
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=EMBED_THREADS):
        return _embed(x, method, seed, perplexity)


def _embed(x: np.ndarray, method: str, seed: int, perplexity: float) -> np.ndarray:
    from sklearn.decomposition import PCA

    if method == "tsne":
        if len(x) < TSNE_MIN_POINTS:
            raise ValueError(f"t-SNE needs at least {TSNE_MIN_POINTS} points, got {len(x)}; use method='pca'")
        from sklearn.manifold import TSNE

        k = min(TSNE_PCA_COMPONENTS, len(x), x.shape[1])
        reduced = PCA(n_components=k, random_state=seed).fit_transform(x) if x.shape[1] > k else x
        # Perplexity must stay below the number of points.
        tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca",
                    max_iter=TSNE_ITERATIONS, random_state=seed)
        return tsne.fit_transform(reduced).astype(np.float32)
    k = min(2, len(x), x.shape[1])
    coords = PCA(n_components=k, random_state=seed).fit_transform(x) if len(x) > 1 else np.zeros((1, k))
    # Fewer than 2 components (a single point or 1-D features): pad the missing axis with zeros.
    return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1]))).astype(np.float32)


def embed_images(images: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates of uint8 faces (n, 48, 48) from their pixels scaled to [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, height, width), got shape {images.shape}")
    if len(images) == 0:
        raise ValueError("nothing to embed: no images were given")
    return embed_features(images.reshape(len(images), -1).astype(np.float32) / 255.0, method, seed)


# ---------------------------------------------------------------- a run's penultimate features

def run_classes(record: runs.RunRecord) -> list[str] | None:
    """The class names a run was trained on, as its evaluation recorded them (None if not yet known)."""
    return list(record.evaluation["classes"]) if record.evaluation and "classes" in record.evaluation else None


def embedding_runs(classes: Sequence[str], root: str | os.PathLike | None = None) -> list[runs.RunRecord]:
    """Runs whose features can be embedded for a dataset with `classes`: deep runs with a checkpoint
    and the same class names (runs still without an evaluation are listed; the checkpoint is checked
    when it is loaded). The bundled model first, then newest first."""
    out = []
    try:
        builtin = [runs.load_run(runs.BUILTIN)]
    except runs.RunError:
        builtin = []
    for record in builtin + runs.list_runs(root):
        known = run_classes(record)
        if record.has_checkpoint and (known is None or known == list(classes)):
            out.append(record)
    return out


def run_features(run_dir: str | os.PathLike, images: np.ndarray, classes: Sequence[str] | None = None,
                 batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Penultimate features (n, D) float32 of a deep run's checkpoint for uint8 faces (n, 48, 48).

    Images get the run's own eval preprocessing (card.augment_config). If `classes` is given it must
    equal the checkpoint's class names, else ValueError (features of another label set mislead).
    """
    import torch

    from fer_core.transforms.eval import prepare_eval
    from fer_core.models.architectures import features
    from fer_core.runs.checkpoint import load_checkpoint

    run_dir = runs.resolve_run_dir(run_dir)
    model, card, _ = load_checkpoint(run_dir / runs.CHECKPOINT, device=device)
    if classes is not None and list(card.class_names) != list(classes):
        raise ValueError(f"run {run_dir.name} was trained on classes {list(card.class_names)}, but the dataset "
                         f"has {list(classes)}; choose a run trained on the same class set")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 (n, 48, 48), got {images.dtype} {images.shape}")
    aug = card.augment_config
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).unsqueeze(1)
            out.append(features(model, prepare_eval(batch.to(device), aug)).float().cpu().numpy())
    dim = getattr(model, "num_features", 0)
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def embed_run_features(run_dir: str | os.PathLike, images: np.ndarray, classes: Sequence[str] | None = None,
                       method: str = "pca", seed: int = 0, device: str = "cpu") -> np.ndarray:
    """(n, 2) embedding of a deep run's penultimate features for uint8 faces (see `run_features`)."""
    _check_method(method)
    return embed_features(run_features(run_dir, images, classes, device=device), method, seed)


# ---------------------------------------------------------------- plotly selections

def selected_indices(points: Iterable[dict[str, Any]]) -> list[int]:
    """Dataset indices of the points selected in an embedding chart (each point's customdata: a
    number, or a list whose first item is one), in selection order without repeats. Points without
    customdata are ignored."""
    out: list[int] = []
    for p in points or ():
        data = p.get("customdata") if hasattr(p, "get") else None
        if data is None:
            continue
        value = data[0] if isinstance(data, (list, tuple)) else data
        index = int(value)
        if index not in out:
            out.append(index)
    return out
