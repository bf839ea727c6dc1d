"""Figures for a video's analysis: one face's emotions over time."""
from __future__ import annotations

import plotly.graph_objects as go

from fer_core.common.emotions import COLOURS, display


def emotion_timeline(timeline: dict[str, list], classes: list[str], title: str | None = None) -> go.Figure:
    """Each class's probability over time for one track (video.track_timeline), stacked to 100%."""
    fig = go.Figure()
    for c in classes:
        fig.add_scatter(x=timeline["time_s"], y=timeline[c], name=display(c), mode="lines", stackgroup="p",
                        line=dict(width=0.5, color=COLOURS.get(c)),
                        hovertemplate=f"{display(c)} %{{y:.0%}} at %{{x:.1f}} s<extra></extra>")
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis_title="time (s)", yaxis=dict(range=[0, 1], tickformat=".0%", title=None),
                      legend=dict(orientation="h", y=-0.3))
    return fig
