"""UI glue shared by the pages: the active dataset and cached loaders. No logic beyond caching;
everything it calls lives in fer_core."""
from __future__ import annotations

import streamlit as st

from fer_core.app.dataset_choice import DatasetChoice, load_choice, remember_choice, remembered_choice

DATASET_KEY = "active_dataset"  # a DatasetChoice in st.session_state, set on Home (and remembered on disk)


@st.cache_data(show_spinner="Reading the dataset (decoded once, then cached)…", max_entries=4)
def cached_dataset(path: str, class_set: str, votes: str = "", label_mode: str = "fer2013"):
    """(FaceDataset, None) or (None, message), cached per source, class set and labels."""
    return load_choice(DatasetChoice(path, class_set, votes, label_mode))


def active_choice() -> DatasetChoice:
    """The dataset chosen on Home, in this session or (after a reload or a link straight to a page) the
    last one chosen; the built-in synthetic faces until one is chosen."""
    if DATASET_KEY not in st.session_state:
        st.session_state[DATASET_KEY] = remembered_choice()
    return st.session_state[DATASET_KEY]


def set_active_choice(choice: DatasetChoice) -> None:
    st.session_state[DATASET_KEY] = choice
    remember_choice(choice)


def active_dataset():
    """(dataset, None) or (None, message) for the active choice."""
    choice = active_choice()
    return cached_dataset(choice.path.strip() or "synthetic", choice.class_set, choice.votes, choice.label_mode)


def dataset_label(ds) -> str:
    """How the pages name a dataset: synthetic data is always labelled as such."""
    return "🧪 SYNTHETIC faces (built-in, generated)" if ds.is_synthetic else f"📁 {ds.source}"


def run_label(record) -> str:
    """How the pages name a model in a list: the bundled one, or a run with its state; its training data
    always shown (synthetic marked)."""
    data = "🧪 SYNTHETIC faces" if record.trained_on_synthetic else f"📁 {record.provenance()['dataset']}"
    if record.is_builtin:
        return f"⭐ built-in model · {record.config.get('arch')} · {data}"
    return f"{record.run_id} · {record.config.get('arch')} · {record.state} · {data}"


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _cached_predictor(run_dir: str, stamp: float):
    from fer_core.inference.predictor import Predictor
    return Predictor.from_run(run_dir)


def load_predictor(run_dir):
    """(Predictor, None) or (None, message). One model object per run and checkpoint version is
    shared by every session (fer_core serialises its use)."""
    from fer_core.inference.predictor import checkpoint_stamp
    from fer_core.runs.store import RunError
    try:
        return _cached_predictor(str(run_dir), checkpoint_stamp(run_dir)), None
    except (RunError, OSError, ValueError) as exc:
        return None, str(exc)


def uploaded_bytes(upload) -> tuple[bytes | None, str | None]:
    """(bytes, None) for an uploaded image that passes the type and size checks, else (None, message)."""
    from fer_core.app.uploads import UploadError, check_image_upload
    data = upload.getvalue()
    try:
        check_image_upload(data, upload.name)
    except UploadError as exc:
        return None, str(exc)
    return data, None


def chart(where, fig, **kwargs):
    """`where.plotly_chart(fig, ...)` (where: st or a column) with room above the plot for Plotly's
    toolbar, so it never covers a title or a label."""
    from fer_core.figures.layout import CHART_CONFIG, leave_room_for_toolbar
    return where.plotly_chart(leave_room_for_toolbar(fig), config=CHART_CONFIG, **kwargs)


# Accuracy columns of tables read as wording.percent writes them ("65.8%"): the values go in as percentage
# points (`in_percent`), since Streamlit's own "percent" format gives two decimals.
PERCENT_POINTS = dict(format="%.1f%%", min_value=0.0, max_value=100.0)


def in_percent(table, columns):
    """A copy of `table` with `columns` (fractions) in percentage points, for PERCENT_POINTS columns."""
    return table.assign(**{c: table[c] * 100 for c in columns if c in table})


def show_table(where, data, **kwargs):
    """`where.dataframe(data, ...)` (where: st or a column) with missing values shown as empty cells:
    Streamlit writes a grey "None" in them."""
    return where.dataframe(data, placeholder="", **kwargs)


def gallery(images, captions, tooltips=None, tile_px: int = 96, where=st) -> None:
    """Faces in a grid of same-size tiles (in `where`: st or a column); long captions are cut, and shown
    whole on hover."""
    from fer_core.figures.gallery import gallery_html
    where.markdown(gallery_html(images, captions, tooltips, tile_px), unsafe_allow_html=True)
