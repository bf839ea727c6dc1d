"""Figures comparing runs: training curves, confusion matrices, per-class F1 (pure functions, no Streamlit).

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
from plotly.subplots import make_subplots

from ..emotions import display

_PALETTE = qualitative.Plotly + qualitative.Dark24


def run_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per run label, in order (the same order gives the same colours in every figure)."""
    return {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}


def training_curves(histories: Mapping[str, Sequence[dict]], colours: Mapping[str, str] | None = None) -> go.Figure:
    """Loss and accuracy per epoch, train (solid) and val (dashed), one colour per run.

    `histories` maps a run label to its metrics rows (fer_core.runs.read_metrics / RunRecord.metrics);
    `colours` (label -> colour) keeps a run's colour when figures show different subsets of runs.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.08)
    colours = {**run_colours(list(histories)), **(colours or {})}
    for label, rows in histories.items():
        epochs = [r.get("epoch") for r in rows]
        first = True
        for col, metric in ((1, "loss"), (2, "acc")):
            for split, dash in (("train", "solid"), ("val", "dash")):
                key = f"{split}_{metric}"
                values = [r.get(key) for r in rows]
                if all(v is None for v in values):
                    continue
                fig.add_scatter(x=epochs, y=values, mode="lines+markers", name=label, legendgroup=label,
                                showlegend=first, line=dict(color=colours[label], dash=dash),
                                marker=dict(size=5),
                                hovertemplate=f"{label}<br>epoch %{{x}}<br>{key} %{{y:.4f}}<extra></extra>",
                                row=1, col=col)
                first = False
    fig.update_xaxes(title_text="epoch", dtick=1 if max((len(r) for r in histories.values()), default=0) <= 20 else None)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", row=1, col=2)
    fig.update_layout(legend_title="run (solid: train, dashed: val)", margin=dict(t=40, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2))
    return fig


def confusion_heatmap(matrix: pd.DataFrame, title: str = "", normalised: bool = False) -> go.Figure:
    """An annotated confusion-matrix heatmap: rows = true class, columns = predicted class.

    `matrix` as from fer_core.compare.confusion_matrix; with `normalised` the cells are row fractions
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

    `f1` as from fer_core.compare.per_class_f1: index = class, one column per run label.
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
