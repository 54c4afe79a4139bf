"""fashion-viz: `streamlit run app.py`."""

import streamlit as st

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
