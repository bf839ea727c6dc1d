"""Entry point: `streamlit run streamlit_app.py`. Navigation only; each page lives in pages/."""
import streamlit as st

st.set_page_config(page_title="FER workbench", page_icon="😄", layout="wide")

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
])
navigation.run()
