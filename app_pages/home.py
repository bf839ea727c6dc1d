"""Home: what the tool does, the training device and runs, and the active dataset (path or upload)."""
import pandas as pd
import streamlit as st

from fer_core.app.dataset_choice import DatasetChoice
from fer_core.common.synthetic import SYNTHETIC
from fer_core.common.emotions import CLASS_SETS
from fer_core.figures.dataset import class_distribution
from fer_core.jobs.queue import active_runs
from fer_core.runs.store import list_runs
from fer_core.app.system_info import device_info
from fer_core.app.uploads import UploadError, save_uploaded_dataset, save_uploaded_votes
from fer_core.data.votes import LABEL_MODES
from app_pages.common import active_choice, cached_dataset, chart, dataset_label, set_active_choice, show_table

PAGES = [
    ("app_pages/dataset.py", "Dataset", "🗂️", "the faces, class balance, duplicates and leaks between splits"),
    ("app_pages/train.py", "Train", "🏋️", "train a model with a class-imbalance strategy, in the background"),
    ("app_pages/runs.py", "Runs", "📊", "follow training, compare runs, read confusion matrices and per-class scores"),
    ("app_pages/explain.py", "Explain", "🔍", "see which parts of a face a model looks at (Grad-CAM and friends)"),
    ("app_pages/demo.py", "Demo", "🎭", "try a trained model on your own photo"),
    ("app_pages/video.py", "Video", "🎬", "each face's emotion over a video: timeline, CSV, annotated MP4"),
]


@st.cache_resource(show_spinner="Asking torch which devices it can use…")
def cached_device_info():
    """The device does not change while the server runs: ask torch once (in a subprocess)."""
    return device_info()


st.title("😄 Facial expression recognition workbench")
st.markdown(
    "Explore a facial-expression dataset, train models with different class-imbalance strategies, "
    "compare runs and look at what the models attend to. Out of the box it uses a built-in "
    "**synthetic** dataset, so everything works with no download and no GPU."
)
for page, label, icon, what in PAGES:
    st.page_link(page, label=f"**{label}**: {what}", icon=icon)

# ---------------------------------------------------------------- device and runs
device = cached_device_info()
runs = list_runs()
active = active_runs()
n_running = sum(r.state == "running" for r in active)
device_col, runs_col, active_col = st.columns([3, 1, 1])
device_col.metric("training device", device.headline, help="What `device: auto` trains on.")
device_col.caption(device.describe())
runs_col.metric("runs", len(runs))
active_col.metric("running / queued", f"{n_running} / {len(active) - n_running}")
if device.error:
    st.warning(f"Could not ask torch about GPUs ({device.error}); training will try the CPU.")

# ---------------------------------------------------------------- choosing the dataset
st.header("Dataset")
if "home_dataset_path" not in st.session_state:  # a new session starts from the last dataset chosen
    st.session_state.home_dataset_path = active_choice().path
    st.session_state.home_class_set = active_choice().class_set
    st.session_state.home_votes = active_choice().votes
    st.session_state.home_label_mode = active_choice().label_mode
form_col, upload_col = st.columns(2)

# The uploader comes first in the script so a stored upload can fill in the path box below
# (a widget's state can only be set before the widget is drawn in a run).
with upload_col:
    upload = st.file_uploader(
        "…or upload a zip of class folders", type=["zip"], key="home_upload",
        help="A .zip with one folder per emotion (happy/001.jpg, sad/…), optionally under train/ and "
             f"test/. Up to {st.get_option('server.maxUploadSize')} MB; give bigger datasets by path.")
    saved = st.session_state.get("home_upload_saved")  # (file_id, stored path or None, error or None)
    if upload is not None and (saved is None or saved[0] != upload.file_id):
        with st.spinner(f"Checking {upload.name}…"):
            try:
                stored = save_uploaded_dataset(upload.getvalue(), upload.name)
                saved = (upload.file_id, str(stored), None)
                st.session_state.home_dataset_path = str(stored)
                set_active_choice(DatasetChoice(str(stored), st.session_state.get("home_class_set", "all"),
                                                st.session_state.get("home_votes", ""),
                                                st.session_state.get("home_label_mode", "fer2013")))
            except UploadError as exc:
                saved = (upload.file_id, None, str(exc))
        st.session_state.home_upload_saved = saved
    if upload is not None and saved:
        if saved[2]:
            st.error(saved[2])
        else:
            st.success(f"{upload.name} is stored as {saved[1]} and is now the active dataset.")
    votes_upload = st.file_uploader(
        "…and FER+ votes (CSV)", type=["csv"], key="home_votes_upload",
        help="FER+ (github.com/microsoft/FERPlus) had 10 annotators relabel every FER2013 face: a CSV with "
             "image,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF, where image is "
             "the path inside the dataset zip (e.g. train/angry/Training_10118481.jpg).")
    saved_votes = st.session_state.get("home_votes_saved")  # (file_id, stored path or None, error or None)
    if votes_upload is not None and (saved_votes is None or saved_votes[0] != votes_upload.file_id):
        try:
            stored_votes = save_uploaded_votes(votes_upload.getvalue(), votes_upload.name)
            saved_votes = (votes_upload.file_id, str(stored_votes), None)
            st.session_state.home_votes = str(stored_votes)
            if st.session_state.get("home_label_mode", "fer2013") == "fer2013":
                st.session_state.home_label_mode = "majority"
        except UploadError as exc:
            saved_votes = (votes_upload.file_id, None, str(exc))
        st.session_state.home_votes_saved = saved_votes
    if votes_upload is not None and saved_votes and saved_votes[2]:
        st.error(saved_votes[2])

with form_col, st.form("home_dataset_form"):
    path = st.text_input("Dataset", key="home_dataset_path",
                         help="'synthetic' for the built-in faces, or a path to a FER2013 zip / folder, "
                              "fer2013.csv, or a zip/folder of class subfolders")
    class_set = st.selectbox("Classes", list(CLASS_SETS), format_func=lambda k: f"{k}: {CLASS_SETS[k]}",
                             key="home_class_set")
    votes = st.text_input("FER+ votes (optional)", key="home_votes",
                          help="A votes CSV beside the images (FER+'s ferplus.csv): each face's 10 annotators' "
                               "votes. Leave empty to use the dataset's own labels.")
    label_mode = st.selectbox("Labels", list(LABEL_MODES), format_func=lambda k: f"{k}: {LABEL_MODES[k]}",
                              key="home_label_mode", help="Used only with a votes file.")
    st.form_submit_button("Use this dataset")

ds, error = cached_dataset(path.strip() or SYNTHETIC, class_set, votes.strip(), label_mode)
if error:
    still = active_choice()  # what the other pages keep using: the last dataset that loaded
    st.error(f"{error}\n\nThe active dataset is still **{still.path}** ({still.class_set} classes); the other "
             "pages keep using it.")
    st.stop()
set_active_choice(DatasetChoice(path.strip() or SYNTHETIC, class_set, votes.strip(), label_mode))

st.subheader(f"Active dataset: {dataset_label(ds)}")
counts = ds.counts()
cols = st.columns(len(counts) + 1)
cols[0].metric("images", f"{len(ds):,}")
for col, (split, per_class) in zip(cols[1:], counts.items()):
    col.metric(split, f"{sum(per_class.values()):,}")
if ds.vote_report is not None:
    st.info(f"Labels: {ds.vote_report.summary()}.")
elif label_mode != "fer2013":
    st.caption(f"Labels: the dataset's own ('{label_mode}' needs a FER+ votes file).")
chart(st, class_distribution(ds), width="stretch")
show_table(st, pd.DataFrame(counts).rename_axis("class"), width="stretch")
if ds.report.n_skipped:
    with st.expander(f"⚠️ {ds.report.n_skipped} file(s) could not be read and were skipped"):
        show_table(st, pd.DataFrame(ds.report.skipped, columns=["file", "reason"]), width="stretch")
