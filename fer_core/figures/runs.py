"""Figures comparing runs: confusion matrices, per-class F1 (pure functions, no Streamlit); the
training curves of several runs are figures/training.py's.

Runs are keyed by a label (the run id on the Runs page). A run's colour comes from the `colours`
mapping when given (build it once with `run_colours` so a run looks the same in every figure),
else from its position among the runs passed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from fer_core.common.emotions import display

_PALETTE = qualitative.Plotly + qualitative.Dark24


def run_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per run label, in order (the same order gives the same colours in every figure)."""
    return {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}


def confusion_heatmap(matrix: pd.DataFrame, title: str = "", normalised: bool = False) -> go.Figure:
    """An annotated confusion-matrix heatmap: rows = true class, columns = predicted class.

    `matrix` as from fer_core.runs.compare.confusion_matrix; with `normalised` the cells are row fractions
    shown as percentages (a class with no test images shows blank cells).
    """
    z = matrix.to_numpy(dtype=np.float64)
    x = [display(c) for c in matrix.columns]
    y = [display(c) for c in matrix.index]
    if normalised:
        text = [["" if np.isnan(v) else f"{100 * v:.0f}%" for v in row] for row in z]
        hover = "true %{y}<br>predicted %{x}<br>%{z:.1%} of the true class<extra></extra>"
    else:
        text = [[f"{int(v)}" for v in row] for row in z]
        hover = "true %{y}<br>predicted %{x}<br>%{z:.0f} images<extra></extra>"
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, text=text, texttemplate="%{text}", colorscale="Blues",
                               zmin=0, zmax=1 if normalised else None, hovertemplate=hover,
                               colorbar=dict(tickformat=".0%" if normalised else None)))
    fig.update_yaxes(autorange="reversed", title_text="true class")
    fig.update_xaxes(title_text="predicted class", tickangle=-45)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), margin=dict(t=40 if title else 10, b=10),
                      height=420)
    return fig


def per_class_f1_bars(f1: pd.DataFrame, colours: Mapping[str, str] | None = None) -> go.Figure:
    """Grouped bars of test F1: one group per class, one bar per run (colours as in run_colours).

    `f1` as from fer_core.runs.compare.per_class_f1: index = class, one column per run label.
    """
    fig = go.Figure()
    colours = {**run_colours(list(f1.columns)), **(colours or {})}
    x = [display(c) for c in f1.index]
    for label in f1.columns:
        values = f1[label].to_numpy(dtype=np.float64)
        fig.add_bar(name=label, x=x, y=values, marker_color=colours[label],
                    text=["" if np.isnan(v) else f"{v:.2f}" for v in values], textposition="outside",
                    hovertemplate=f"{label}<br>%{{x}}: F1 %{{y:.3f}}<extra></extra>")
    fig.update_layout(barmode="group", yaxis=dict(title="test F1", range=[0, 1.08]), legend_title="run",
                      margin=dict(t=30, b=10), legend=dict(orientation="h", yanchor="top", y=-0.2))
    return fig
