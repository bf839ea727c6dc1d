"""Plotly figures and image mosaics: pure functions, data in, figure out (no Streamlit)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .data import FaceDataset
from .emotions import DISPLAY_NAMES


def class_distribution(ds: FaceDataset) -> go.Figure:
    """Grouped bars: images per class for each split, with counts and percentages."""
    counts = ds.counts()
    fig = go.Figure()
    for split, per_class in counts.items():
        total = max(1, sum(per_class.values()))
        fig.add_bar(name=split, x=[DISPLAY_NAMES.get(c, c) for c in per_class], y=list(per_class.values()),
                    text=[f"{n}<br>{100 * n / total:.1f}%" for n in per_class.values()], textposition="outside",
                    hovertemplate="%{x}: %{y} images (%{customdata:.1f}% of " + split + ")<extra></extra>",
                    customdata=[100 * n / total for n in per_class.values()])
    fig.update_layout(barmode="group", yaxis_title="images", legend_title="split", margin=dict(t=30, b=10))
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
