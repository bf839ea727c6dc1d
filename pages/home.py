"""Home: what the tool does and the active dataset."""
import pandas as pd
import streamlit as st

from fer_core.app_state import SYNTHETIC, DatasetChoice, load_choice
from fer_core.emotions import CLASS_SETS
from fer_core.figures import class_distribution


@st.cache_data(show_spinner="Reading the dataset (decoded once, then cached)…")
def cached_dataset(path: str, class_set: str):
    return load_choice(DatasetChoice(path, class_set))


st.title("😄 Facial expression recognition workbench")
st.markdown(
    "Explore a facial-expression dataset, train models with different class-imbalance strategies, "
    "compare runs and look at what the models attend to. Out of the box it uses a built-in "
    "**synthetic** dataset, so everything works with no download and no GPU."
)

if "home_dataset_path" not in st.session_state:
    st.session_state.home_dataset_path = SYNTHETIC
with st.form("home_dataset_form"):
    path = st.text_input("Dataset", key="home_dataset_path",
                         help="'synthetic' for the built-in faces, or a path to a FER2013 zip / folder, "
                              "fer2013.csv, or a zip/folder of class subfolders")
    class_set = st.selectbox("Classes", list(CLASS_SETS), format_func=lambda k: f"{k}: {CLASS_SETS[k]}",
                             key="home_class_set")
    st.form_submit_button("Use this dataset")

ds, error = cached_dataset(path.strip() or SYNTHETIC, class_set)
if error:
    st.error(error)
    st.stop()

label = "🧪 SYNTHETIC faces (built-in, generated)" if ds.is_synthetic else f"📁 {ds.source}"
st.subheader(f"Active dataset: {label}")
counts = ds.counts()
cols = st.columns(len(counts) + 1)
cols[0].metric("images", f"{len(ds):,}")
for col, (split, per_class) in zip(cols[1:], counts.items()):
    col.metric(split, f"{sum(per_class.values()):,}")
st.plotly_chart(class_distribution(ds), width="stretch")
st.dataframe(pd.DataFrame(counts).rename_axis("class"), width="stretch")
if ds.report.n_skipped:
    with st.expander(f"⚠️ {ds.report.n_skipped} file(s) could not be read and were skipped"):
        st.dataframe(pd.DataFrame(ds.report.skipped, columns=["file", "reason"]), width="stretch")
