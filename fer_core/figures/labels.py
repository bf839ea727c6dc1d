"""Figures of label noise: a dataset's own labels against the FER+ majority, and annotator agreement."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fer_core.common.emotions import COLOURS, display
from fer_core.data.agreement import LabelAgreement, votes_text
from fer_core.data.dataset import SPLITS, FaceDataset


def agreement_matrix(agreement: LabelAgreement, normalised: bool = True) -> go.Figure:
    """Heatmap: rows the source (FER2013) label, columns the FER+ majority; cells as shares of the row
    (normalised) or face counts. The diagonal is where the two agree."""
    counts = agreement.matrix.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    z = np.divide(counts, rows, out=np.full_like(counts, np.nan), where=rows > 0) if normalised else counts
    text = [["" if np.isnan(v) else (f"{100 * v:.0f}%" if normalised else f"{int(v)}") for v in row] for row in z]
    hover = ("FER2013 %{y}<br>FER+ majority %{x}<br>%{customdata} faces"
             + ("<br>%{z:.1%} of the FER2013 class" if normalised else "") + "<extra></extra>")
    fig = go.Figure(go.Heatmap(z=z, x=[display(c) for c in agreement.majority_classes],
                               y=[display(c) for c in agreement.source_classes], text=text, texttemplate="%{text}",
                               customdata=agreement.matrix, colorscale="Blues", zmin=0,
                               zmax=1 if normalised else None, hovertemplate=hover,
                               colorbar=dict(tickformat=".0%" if normalised else None)))
    fig.update_yaxes(autorange="reversed", title_text="FER2013 label")
    fig.update_xaxes(title_text="FER+ majority (10 annotators)", tickangle=-45)
    fig.update_layout(margin=dict(t=10, b=10), height=420)
    return fig


def per_class_agreement(agreement: LabelAgreement) -> go.Figure:
    """Bars: per FER2013 class, the share of its faces whose FER+ majority is the same class."""
    shares = agreement.per_class()
    fig = go.Figure(go.Bar(x=[display(c) for c in shares], y=list(shares.values()),
                           marker_color=[COLOURS.get(c) for c in shares],
                           text=[f"{100 * v:.0f}%" for v in shares.values()], textposition="outside",
                           hovertemplate="%{x}: %{y:.1%} of its faces keep the label under FER+<extra></extra>"))
    fig.update_layout(yaxis=dict(title="agrees with FER+ majority", tickformat=".0%", range=[0, 1.12]),
                      margin=dict(t=10, b=10), height=340)
    return fig


def annotator_agreement_histogram(agreement: LabelAgreement) -> go.Figure:
    """Bars: faces by the share of their votes that the top class holds (1.0: all annotators agreed)."""
    shares = np.round(agreement.top_share, 1)
    values, counts = np.unique(shares, return_counts=True)
    fig = go.Figure(go.Bar(x=values.tolist(), y=counts.tolist(), text=[f"{n:,}" for n in counts], textposition="outside",
                           marker_color="#1f77b4",
                           hovertemplate="top class holds %{x:.0%} of the votes: %{y:,} faces<extra></extra>"))
    fig.update_xaxes(title_text="share of the votes for the face's top class", tickformat=".0%", dtick=0.1,
                     range=[0, 1.05])
    fig.update_layout(yaxis=dict(title="faces", range=[0, 1.15 * max(counts.max(), 1)] if len(counts) else None),
                      margin=dict(t=10, b=10), height=340)
    return fig


def disagreement_tiles(ds: FaceDataset, agreement: LabelAgreement, source_class: str | None = None,
                       limit: int = 40, seed: int = 0, scale: int = 2) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Faces where the two labels differ (a seeded sample, optionally of one FER2013 class): tiles,
    captions 'FER2013 → FER+' and hover text with the split, id and the votes."""
    picked = ~agreement.agrees
    if source_class is not None:
        picked &= agreement.source_label == source_class
    where = np.flatnonzero(picked)
    where = np.sort(np.random.default_rng(seed).permutation(where)[:limit])
    tiles, captions, tooltips = [], [], []
    for k in where:
        index = int(agreement.compared[k])
        tiles.append(np.kron(ds.images[index], np.ones((scale, scale), np.uint8)))
        captions.append(f"{display(agreement.source_label[k])} → {display(agreement.majority_label[k])}")
        tooltips.append(f"FER2013 {agreement.source_label[k]}, FER+ {agreement.majority_label[k]} · "
                        f"{SPLITS[ds.splits[index]]} · {ds.ids[index]} · votes: {votes_text(ds.votes[index])}")
    return tiles, captions, tooltips
