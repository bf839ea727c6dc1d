"""Entry point: `streamlit run streamlit_app.py`. Navigation only; each page lives in pages/."""
import streamlit as st

from pages.common import ENTRY_KEY, START_PAGE_KEY

st.set_page_config(page_title="FER workbench", page_icon="😄", layout="wide")
st.session_state[ENTRY_KEY] = True

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon="🗂️"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/runs.py", title="Runs", icon="📊"),
    st.Page("pages/explain.py", title="Explain", icon="🔍"),
    st.Page("pages/demo.py", title="Demo", icon="🎭"),
])
if START_PAGE_KEY in st.session_state:  # a deep link that arrived before navigation existed
    st.switch_page(st.session_state.pop(START_PAGE_KEY))
navigation.run()
