"""Training curves: loss and accuracy per epoch, for one run (drawn live while it trains) or several
runs side by side (the Runs page's comparison)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.figures.runs import run_colours

TRAIN, VAL, F1 = "#1f77b4", "#ff7f0e", "#2ca02c"
# (metrics.csv column, legend name, panel, colour, dash) in drawing order; panel 1 = loss, 2 = accuracy
CURVES = (
    ("train_loss", "train loss", 1, TRAIN, "solid"),
    ("val_loss", "val loss", 1, VAL, "solid"),
    ("train_acc", "train accuracy", 2, TRAIN, "solid"),
    ("val_acc", "val accuracy", 2, VAL, "solid"),
    ("val_macro_f1", "val macro-F1", 2, F1, "dash"),
)


def training_curves(metrics: Sequence[dict] | Mapping[str, Sequence[dict]], epochs: int | None = None,
                    title: str | None = None, best_epoch: int | None = None,
                    colours: Mapping[str, str] | None = None) -> go.Figure:
    """Two panels side by side: loss, and accuracy, per epoch.

    `metrics` is one run's metrics.csv rows (runs.read_metrics): its train/val loss, train/val accuracy
    and val macro-F1 each get a colour of their own. Or {label: rows} for several runs: one colour per
    run (`colours`, label -> colour, keeps a run's colour across figures), train solid and val dashed.
    Missing values (None) leave gaps. `epochs`, the planned number of epochs, fixes the x axis so a
    live run's curve grows into its frame; `best_epoch`, if given, is marked with a dotted line.
    """
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.1)
    if isinstance(metrics, Mapping):
        xs = _add_runs(fig, metrics, {**run_colours(list(metrics)), **(colours or {})})
        legend_title = "run (solid: train, dashed: val)"
    else:
        xs = _add_one_run(fig, metrics)
        legend_title = None
    last = max([epochs or 0, *xs, 1])
    for panel in (1, 2):
        fig.update_xaxes(title_text="epoch", range=[0.5, last + 0.5], dtick=max(1, round(last / 10)),
                         row=1, col=panel)
        if best_epoch is not None:
            fig.add_vline(x=best_epoch, line=dict(color="grey", dash="dot"), row=1, col=panel)
    fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=300 if legend_title is None else 360, margin=dict(t=50 if title else 30, b=10, l=10, r=10),
                      legend=dict(orientation="h", y=-0.25), legend_title=legend_title, title=title)
    return fig


def _add_one_run(fig: go.Figure, metrics: Sequence[dict]) -> list[int]:
    rows = [m for m in metrics if m.get("epoch") is not None]
    xs = [m["epoch"] for m in rows]
    for column, name, panel, colour, dash in CURVES:
        ys = [m.get(column) for m in rows]
        if not any(y is not None for y in ys):
            continue  # a column with no value yet (or ever, e.g. lr for a classical run) gets no trace
        fig.add_trace(go.Scatter(
            x=xs, y=ys, name=name, mode="lines+markers", connectgaps=False,
            line=dict(color=colour, dash=dash),
            hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.4f}}<extra></extra>",
        ), row=1, col=panel)
    return xs


def _add_runs(fig: go.Figure, histories: Mapping[str, Sequence[dict]], colours: Mapping[str, str]) -> list[int]:
    xs = []
    for label, rows in histories.items():
        rows = [r for r in rows if r.get("epoch") is not None]
        epochs = [r["epoch"] for r in rows]
        xs += epochs
        first = True
        for panel, metric in ((1, "loss"), (2, "acc")):
            for split, dash in (("train", "solid"), ("val", "dash")):
                key = f"{split}_{metric}"
                values = [r.get(key) for r in rows]
                if all(v is None for v in values):
                    continue
                fig.add_scatter(x=epochs, y=values, mode="lines+markers", name=label, legendgroup=label,
                                showlegend=first, line=dict(color=colours[label], dash=dash), marker=dict(size=5),
                                hovertemplate=f"{label}<br>epoch %{{x}}<br>{key} %{{y:.4f}}<extra></extra>",
                                row=1, col=panel)
                first = False
    return xs


# The Runs page's metric picker: label -> (metrics.csv columns drawn, axis title, tick format)
METRICS = {
    "loss": (("train_loss", "val_loss"), "loss", None),
    "accuracy": (("train_acc", "val_acc"), "accuracy", ".0%"),
    "macro-F1": (("val_macro_f1",), "val macro-F1", ".2f"),
    "learning rate": (("lr",), "learning rate", ".1e"),
}
X_AXES = {"epoch": ("epoch", "epoch"), "wall time": ("elapsed_seconds", "seconds since the run started")}


def _epoch_step(histories: Mapping[str, Sequence[dict]]) -> int:
    """Epochs between x-axis ticks: 1 up to 10 epochs, then a round step giving at most about 10 ticks."""
    epochs = [float(r["epoch"]) for rows in histories.values() for r in rows
              if isinstance(r.get("epoch"), (int, float)) and math.isfinite(r["epoch"])]
    last = max(epochs, default=1.0)
    return next(step for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10 ** 9) if last / step <= 10)


def metric_curves(histories: Mapping[str, Sequence[dict]], metric: str = "accuracy", x: str = "epoch",
                  colours: Mapping[str, str] | None = None) -> go.Figure:
    """One metric of several runs ({label: metrics.csv rows}), one colour per run, train solid and val
    dashed, against the epoch or the wall time since each run started."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if x not in X_AXES:
        raise ValueError(f"unknown x axis {x!r}; choose from {', '.join(X_AXES)}")
    columns, axis_title, tick_format = METRICS[metric]
    x_column, x_title = X_AXES[x]
    colours = {**run_colours(list(histories)), **(colours or {})}
    fig = go.Figure()
    for label, rows in histories.items():
        rows = [r for r in rows if r.get(x_column) is not None]
        first = True
        for column in columns:
            ys = [r.get(column) for r in rows]
            if all(y is None for y in ys):
                continue
            fig.add_scatter(x=[r[x_column] for r in rows], y=ys, mode="lines+markers", name=label, legendgroup=label,
                            showlegend=first, marker=dict(size=5),
                            line=dict(color=colours[label], dash="dash" if column.startswith("val") else "solid"),
                            hovertemplate=f"{label}<br>{x} %{{x:.4g}}<br>{column} %{{y:.4f}}<extra></extra>")
            first = False
    fig.update_xaxes(title_text=x_title, rangemode="tozero")
    if x == "epoch":  # whole epochs only: a 1-epoch run's axis would read 0, 0.2, 0.4 ...
        fig.update_xaxes(tickformat="d", tick0=0, dtick=_epoch_step(histories))
    fig.update_yaxes(title_text=axis_title, tickformat=tick_format, rangemode="tozero",
                     type="log" if metric == "learning rate" else None)
    fig.update_layout(height=360, margin=dict(t=30, b=10, l=10, r=10), legend=dict(orientation="h", y=-0.25),
                      legend_title="run (solid: train, dashed: val)")
    return fig
