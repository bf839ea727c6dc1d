"""Room for Plotly's toolbar: it floats over the top right of a chart, so titles, subplot titles and bar
labels drawn there were hidden under it. Every chart the app shows goes through `leave_room_for_toolbar`."""
from __future__ import annotations

import plotly.graph_objects as go

TOOLBAR_ROOM = 64  # px of top margin: the toolbar (about 30 px) plus a subplot title's row below it
CHART_CONFIG = {"displaylogo": False}  # Plotly's options for every chart the app shows


def leave_room_for_toolbar(fig: go.Figure) -> go.Figure:
    """The figure with a top margin of at least TOOLBAR_ROOM px (a larger one is kept); in place."""
    top = fig.layout.margin.t
    if top is not None and top < TOOLBAR_ROOM:
        fig.update_layout(margin=dict(t=TOOLBAR_ROOM))
    return fig
