"""Plotly figures and image mosaics for the Dataset page: pure functions, data in, figure out (no Streamlit)."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.data import SPLITS, FaceDataset
from fer_core.data.quality import DuplicateGroup, QualityReport, imbalance_ratio
from fer_core.common.emotions import COLOURS, DISPLAY_NAMES, display
from fer_core.data.sharpness import sharpness_of
from fer_core.common.wording import ordinal
from fer_core.figures.gallery import png_data_uri

HISTOGRAM_BY = ("class", "split")
HISTOGRAM_MEASURES = ("pixels", "image_mean")
DUPLICATE_KINDS = ("cross_split", "conflicting", "all")
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c", "all": "#444444"}


def _name(cls: str) -> str:
    return DISPLAY_NAMES.get(cls, cls.title())


def imbalance_ratios(ds: FaceDataset) -> dict[str, float]:
    """{split: largest class count / smallest non-empty class count} for the splits present."""
    return {split: imbalance_ratio(per_class) for split, per_class in ds.counts().items()}


def class_distribution(ds: FaceDataset, percent: bool = False) -> go.Figure:
    """Grouped bars: images per class for each split, with counts and percentages; each split's
    legend entry gives its imbalance ratio (largest / smallest non-empty class). With `percent`, bar
    heights are each split's share per class, so splits of very different sizes compare at a glance."""
    counts = ds.counts()
    fig = go.Figure()
    for split, per_class in counts.items():
        total = max(1, sum(per_class.values()))
        ratio = imbalance_ratio(per_class)
        fig.add_bar(name=f"{split} (max/min {ratio:.1f}×)", x=[_name(c) for c in per_class],
                    y=[100 * n / total for n in per_class.values()] if percent else list(per_class.values()),
                    text=[f"{n}<br>{100 * n / total:.1f}%" for n in per_class.values()], textposition="outside",
                    # the count from customdata: with `percent`, y is the share, not the count
                    hovertemplate="%{x}: %{customdata[0]} images (%{customdata[1]:.1f}% of " + split
                                  + ")<extra></extra>",
                    customdata=[[n, 100 * n / total] for n in per_class.values()],
                    marker_color=SPLIT_COLOURS.get(split))
    fig.update_layout(barmode="group", yaxis_title="% of the split's images" if percent else "images",
                      legend_title="split (imbalance)", margin=dict(t=30, b=10))
    return fig


def sample_mosaic(ds: FaceDataset, per_class: int = 8, seed: int = 0, split: str | None = None,
                  scale: int = 2) -> tuple[np.ndarray, list[str]]:
    """A grid image, one row per class with `per_class` random faces (seeded); and the row labels."""
    sel = ds if split is None else ds.split(split)
    rng = np.random.default_rng(seed)
    size = 48 * scale
    rows, labels = [], []
    for i, cls in enumerate(sel.classes):
        idx = np.flatnonzero(sel.labels == i)
        if not len(idx):
            continue
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        row = np.full((size, size * per_class), 255, np.uint8)
        for j, k in enumerate(pick):
            row[:, j * size:(j + 1) * size] = np.kron(sel.images[k], np.ones((scale, scale), np.uint8))
        rows.append(row)
        labels.append(cls)
    return np.vstack(rows) if rows else np.zeros((size, size), np.uint8), labels


def mosaic_figure(grid: np.ndarray, row_labels: list[str], title: str = "") -> go.Figure:
    """A `sample_mosaic` grid as a plotly image (sent as one PNG), rows labelled with class names."""
    fig = go.Figure(go.Image(source=png_data_uri(grid), hoverinfo="skip"))
    height, width = grid.shape[:2]
    row = height / max(1, len(row_labels))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(tickvals=[row * (i + 0.5) for i in range(len(row_labels))],
                     ticktext=[display(c) for c in row_labels], showgrid=False)
    fig.update_layout(title=title or None, height=min(1200, int(height * 1.05) + 40), width=None,
                      margin=dict(l=10, r=10, t=30 if title else 10, b=10))
    return fig


def mean_faces_figure(faces: dict[str, np.ndarray], difference: bool = False) -> go.Figure:
    """One heatmap per class: the class's mean face, or (difference=True) the mean face minus the
    average of the class means, which shows where each class differs (mouth, brows)."""
    fig = make_subplots(rows=1, cols=max(1, len(faces)), subplot_titles=[display(c) for c in faces],
                        horizontal_spacing=0.01)
    if not faces:
        fig.add_annotation(text="no images to average", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        return fig
    overall = np.mean(list(faces.values()), axis=0)
    limit = max(float(np.abs(f - overall).max()) for f in faces.values()) or 1.0
    for col, (cls, face) in enumerate(faces.items(), start=1):
        z = face - overall if difference else face
        fig.add_trace(go.Heatmap(
            z=z, name=cls, colorscale="RdBu_r" if difference else "gray",
            zmin=-limit if difference else 0, zmax=limit if difference else 255, showscale=col == len(faces),
            hovertemplate=f"{_name(cls)}<br>x %{{x}}, y %{{y}}: %{{z:.1f}}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    for col in range(2, len(faces) + 1):
        fig.update_yaxes(scaleanchor=f"x{col}", row=1, col=col)
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _pixel_counts(images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """256 bins of pixel values, in chunks (np.bincount widens to int64: 8x the image bytes at once)."""
    counts = np.zeros(256, np.int64)
    for start in range(0, len(images), chunk):
        counts += np.bincount(images[start:start + chunk].ravel(), minlength=256)
    return counts


def intensity_histogram(ds: FaceDataset, by: str = "class", measure: str = "pixels", split: str | None = None,
                        bins: int = 32) -> go.Figure:
    """Intensity distributions, one line per class (by="class") or per split (by="split").

    measure "pixels": share of all pixels (%) per intensity bin, so groups of any size compare;
    "image_mean": number of images per bin of their mean brightness (each line sums to the group's
    image count). `split` restricts by="class" to one split (None: all images).
    """
    if by not in HISTOGRAM_BY:
        raise ValueError(f"unknown grouping {by!r}; valid: {', '.join(HISTOGRAM_BY)}")
    if measure not in HISTOGRAM_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(HISTOGRAM_MEASURES)}")
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 256:
        raise ValueError(f"bins must be an integer from 2 to 256, got {bins!r}")
    sel = ds if split is None or by == "split" else ds.split(split)
    if by == "class":
        groups = [(_name(c), COLOURS.get(c), sel.labels == i) for i, c in enumerate(sel.classes)]
    else:
        groups = [(s, SPLIT_COLOURS.get(s), sel.split_mask(s)) for s in sel.split_names()]
    edges = np.linspace(0, 256, bins + 1).round().astype(int)  # whole pixel levels per bin
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, colour, mask in groups:
        if not mask.any():
            continue
        images = sel.images[mask]
        if measure == "pixels":
            per_level = _pixel_counts(images)
            values = np.add.reduceat(per_level, edges[:-1]) * 100.0 / per_level.sum()
            hover = "%{x:.0f}: %{y:.2f}% of pixels"
        else:
            means = images.reshape(len(images), -1).mean(axis=1)
            values = np.histogram(means, bins=edges)[0]
            hover = "mean %{x:.0f}: %{y} images"
        fig.add_scatter(x=centres, y=values, name=name, mode="lines", line=dict(color=colour, shape="hvh"),
                        hovertemplate=f"{name}<br>{hover}<extra></extra>")
    fig.update_layout(xaxis_title="pixel value" if measure == "pixels" else "mean pixel value of an image",
                      yaxis_title="% of pixels" if measure == "pixels" else "images",
                      legend_title=by, margin=dict(t=30, b=10))
    return fig


def sharpness_histogram(ds: FaceDataset, sharpness: np.ndarray | None = None, bins: int = 40,
                        percentiles: tuple[float, float] = (1, 99)) -> go.Figure:
    """Per-split histograms of image sharpness (variance of the Laplacian, log scale), over the 1st to 99th
    percentile: a few near-blank images would otherwise stretch the axis over decades where nothing is.
    The title says how many images fall outside.

    `sharpness` (N,) may be passed when already computed (sharpness_of(ds.images)).
    """
    sharp = sharpness_of(ds.images) if sharpness is None else np.asarray(sharpness)
    if len(sharp) != len(ds):
        raise ValueError(f"sharpness has {len(sharp)} values for {len(ds)} images")
    logs = np.log10(np.maximum(sharp, 1e-3))
    low, high = np.percentile(logs, percentiles) if len(logs) else (0.0, 1.0)
    shown = (logs >= low) & (logs <= high)
    edges = np.linspace(low, high + 1e-9, bins + 1)
    outside = int((~shown).sum())
    fig = go.Figure()
    for split in ds.split_names():
        mask = ds.split_mask(split) & shown
        counts = np.histogram(logs[mask], bins=edges)[0]
        # Filled steps rather than bars: bars on a log axis come out as uneven spikes.
        fig.add_scatter(x=10 ** ((edges[:-1] + edges[1:]) / 2), y=counts, name=split, mode="lines",
                        line=dict(shape="hvh", color=SPLIT_COLOURS.get(split)), fill="tozeroy", opacity=0.6,
                        hovertemplate=f"{split}<br>sharpness ≈ %{{x:.3g}}: %{{y}} images<extra></extra>")
    note = (f"{outside:,} of {len(logs):,} images lie outside the {ordinal(percentiles[0])} to "
            f"{ordinal(percentiles[1])} percentile and are not drawn") if outside else "every image is drawn"
    ticks = log_ticks(10 ** low, 10 ** high)
    fig.update_xaxes(tickvals=ticks, ticktext=[f"{t:,.{max(0, -math.floor(math.log10(t)))}f}" for t in ticks])
    fig.update_layout(xaxis_type="log", xaxis_title="sharpness (variance of the Laplacian)",
                      yaxis_title="images", legend_title="split", margin=dict(t=50, b=10),
                      title=dict(text=note, font=dict(size=13)))
    return fig


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis from `low` to `high`: 1-2-5 steps of each decade (1, 2, 5, 10, 20, 50, ...),
    thinned to powers of ten over a wide range, so every label reads as a whole number (Plotly's own labels
    on a short log axis read "5 6 7 8 9 1000 2 3")."""
    if not (low > 0 and high >= low):
        return []
    decades = range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1)
    steps = (1,) if len(decades) > 4 else (1, 2, 5)
    ticks = [m * 10.0 ** d for d in decades for m in steps if low <= m * 10.0 ** d <= high]
    return ticks or [low, high]


def embedding_scatter(coords: np.ndarray, ds: FaceDataset, indices: np.ndarray, title: str = "") -> go.Figure:
    """2-D embedding, one trace per class in the class colours. Each point's customdata is its
    dataset index (for selections; a plain list, which reaches the browser's selection events as
    plain numbers); hover shows class, split and id."""
    coords = np.asarray(coords)
    indices = np.asarray(indices)
    if coords.shape != (len(indices), 2):
        raise ValueError(f"coords must be ({len(indices)}, 2) for {len(indices)} indices, got {coords.shape}")
    fig = go.Figure()
    labels = ds.labels[indices]
    for i, cls in enumerate(ds.classes):
        mine = labels == i
        if not mine.any():
            continue
        idx = indices[mine]
        text = [f"{display(cls)} · {SPLITS[ds.splits[k]]} · {ds.ids[k]}" for k in idx]
        fig.add_scatter(x=coords[mine, 0], y=coords[mine, 1], mode="markers", name=display(cls),
                        marker=dict(color=COLOURS.get(cls), size=6, opacity=0.75),
                        customdata=idx.tolist(), text=text, hovertemplate="%{text}<extra></extra>")
    fig.update_layout(title=title or None, legend_title="class", dragmode="lasso", height=560,
                      margin=dict(t=40 if title else 10, b=10),
                      xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None))
    return fig


# ---------------------------------------------------------------- faces to show beside the figures

def face_tiles(ds: FaceDataset, indices, scale: int = 2) -> tuple[list[np.ndarray], list[str]]:
    """Upscaled faces and captions ("split · class · id") for dataset indices, e.g. a duplicate
    group or the points selected in the embedding."""
    tiles, captions = [], []
    for k in indices:
        k = int(k)
        if not 0 <= k < len(ds):
            raise ValueError(f"image index {k} is out of range for a dataset of {len(ds)} images")
        tiles.append(np.kron(ds.images[k], np.ones((scale, scale), np.uint8)))
        captions.append(f"{SPLITS[ds.splits[k]]} · {_name(ds.classes[ds.labels[k]])} · {ds.ids[k]}")
    return tiles, captions


def duplicate_examples(report: QualityReport, kind: str = "cross_split", limit: int = 6,
                       near_blank: bool = False) -> list[DuplicateGroup]:
    """Up to `limit` duplicate groups of one kind: "cross_split" (leakage between splits),
    "conflicting" (same pixels, different labels) or "all" (cross-split and conflicting ones first).
    Groups of near-blank images (all black, all grey: the same "picture" by chance, not a copied face) are
    kept apart: only they with `near_blank`, else only the others."""
    blank = set(report.near_blank)
    kept = [g for g in _duplicates_of_kind(report, kind) if (g.members[0] in blank) == near_blank]
    return kept[:max(0, limit)]


def _duplicates_of_kind(report: QualityReport, kind: str) -> list[DuplicateGroup]:
    if kind not in DUPLICATE_KINDS:
        raise ValueError(f"unknown duplicate kind {kind!r}; valid: {', '.join(DUPLICATE_KINDS)}")
    if kind == "cross_split":
        groups = [g for g in report.groups if g.cross_split]
    elif kind == "conflicting":
        groups = [g for g in report.groups if g.conflicting_labels]
    else:
        groups = sorted(report.groups, key=lambda g: (not g.cross_split, not g.conflicting_labels))
    return groups


def where_copies_are(group: DuplicateGroup) -> str:
    """Which splits a group's copies are in: '3 identical images: 2 in train, 1 in test'."""
    order = [*SPLITS, *sorted(set(group.splits) - set(SPLITS))]
    where = ", ".join(f"{group.splits.count(split)} in {split}" for split in order if split in group.splits)
    return f"{len(group.members)} identical images: {where}"
