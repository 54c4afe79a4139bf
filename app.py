"""fashion-viz: `streamlit run app.py`."""

import time

import streamlit as st

run_started = time.perf_counter()

st.set_page_config(page_title="fashion-viz · inside a CNN", page_icon=":material/checkroom:", layout="wide")

from app_pages.ui import PAGES, model_sidebar  # noqa: E402 - set_page_config must come first

navigation = st.navigation(
    [
        st.Page(PAGES["home"], title="Home", icon=":material/home:", default=True),
        st.Page(PAGES["architecture"], title="Architecture", icon=":material/account_tree:"),
        st.Page(PAGES["explorer"], title="Explorer", icon=":material/layers:"),
        st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
        st.Page(PAGES["evaluate"], title="Evaluate", icon=":material/analytics:"),
    ]
)
model_sidebar()
navigation.run()
# Server-side time of this run (reported by `python -m fashion_viz bench` as rerun_ms).
st.session_state["_last_run_ms"] = (time.perf_counter() - run_started) * 1000
