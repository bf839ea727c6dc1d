"""Entry point: `streamlit run streamlit_app.py`. Navigation only; each page lives in app_pages/.

The folder is not called `pages/`: Streamlit would take such a folder for an old-style multipage app
and serve its files on their own, without this navigation, to a deep link that comes first.
"""
import streamlit as st

st.set_page_config(page_title="FER workbench", page_icon="😄", layout="wide")

navigation = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/dataset.py", title="Dataset", icon="🗂️"),
    st.Page("app_pages/train.py", title="Train", icon="🏋️"),
    st.Page("app_pages/runs.py", title="Runs", icon="📊"),
    st.Page("app_pages/explain.py", title="Explain", icon="🔍"),
    st.Page("app_pages/demo.py", title="Demo", icon="🎭"),
    st.Page("app_pages/video.py", title="Video", icon="🎬"),
])
navigation.run()
