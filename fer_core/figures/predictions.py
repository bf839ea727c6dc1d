"""Figures for predictions: per-face probability bars, how often each emotion was seen, method scores."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fer_core.common.emotions import COLOURS, display


def probability_bars(classes, probabilities, title: str | None = None, height: int = 260) -> go.Figure:
    """Horizontal bars, one per class in the model's order, coloured by class, labelled in percent."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(classes),):
        raise ValueError(f"need one probability per class ({len(classes)}), got shape {probabilities.shape}")
    labels = [display(c) for c in classes]
    fig = go.Figure(go.Bar(
        x=probabilities, y=labels, orientation="h", marker_color=[COLOURS.get(c, "#636efa") for c in classes],
        text=[f"{p:.0%}" for p in probabilities], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_layout(xaxis=dict(range=[0, 1.15], tickformat=".0%", title=None),
                      yaxis=dict(autorange="reversed"), height=height, title=title,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), showlegend=False)
    return fig


def method_scores(scores: dict[str, float], metric_label: str) -> go.Figure:
    """One bar per saliency method with its faithfulness score (the caller says which way is better)."""
    names = list(scores)
    values = [float(scores[n]) for n in names]
    fig = go.Figure(go.Bar(x=names, y=values, text=[f"{v:.3f}" for v in values], textposition="outside",
                           cliponaxis=False))
    fig.update_layout(yaxis_title=metric_label, height=300, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def label_counts(labels, classes) -> go.Figure:
    """How many faces got each emotion, one bar per class in the model's order (zeros included)."""
    labels = list(labels)
    counts = [labels.count(c) for c in classes]
    fig = go.Figure(go.Bar(x=[display(c) for c in classes], y=counts, text=counts, textposition="outside",
                           cliponaxis=False, marker_color=[COLOURS.get(c, "#636efa") for c in classes],
                           hovertemplate="%{x}: %{y} face(s)<extra></extra>"))
    fig.update_layout(yaxis_title="faces", height=280, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig
