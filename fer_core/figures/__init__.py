"""Plotly figure builders and image mosaics: pure functions, data in, figure out (no Streamlit).

One module per page area: `dataset` (distributions, samples, mean faces, embeddings), `runs`
(curves, confusion matrices, per-class F1) and `predictions` (probability bars, boxed faces).
"""
