"""fashion-viz: `streamlit run app.py`.

The page scripts live in ``app_pages/``, not ``pages/``: a folder named ``pages/``
turns on Streamlit's older automatic page discovery before ``st.navigation`` runs.
"""

import time

import streamlit as st

run_started = time.perf_counter()

st.set_page_config(page_title="fashion-viz · inside a CNN", page_icon=":material/checkroom:", layout="wide")

from app_pages import resources, state  # noqa: E402 - set_page_config must come first
from app_pages.boundary import guarded  # noqa: E402
from app_pages.panels import model_sidebar  # noqa: E402

resources.keep_tensorflow_caches_between_runs()  # Streamlit would clear Keras (and TensorFlow's kernel cache) after every run
resources.end_websocket_loops_on_closed_sockets()  # a browser leaving mid-send logged two tracebacks
resources.note_upload_requests()  # a run with an emptied uploader then waits for the file on its way

navigation = st.navigation(
    [
        st.Page(state.PAGES["home"], title="Home", icon=":material/home:", default=True),
        st.Page(state.PAGES["architecture"], title="Architecture", icon=":material/account_tree:"),
        st.Page(state.PAGES["explorer"], title="Explorer", icon=":material/layers:"),
        st.Page(state.PAGES["why"], title="Why", icon=":material/psychology_alt:"),
        st.Page(state.PAGES["units"], title="Units", icon=":material/neurology:"),
        st.Page(state.PAGES["map"], title="Map", icon=":material/scatter_plot:"),
        st.Page(state.PAGES["layers"], title="Layers on trial", icon=":material/gavel:"),
        st.Page(state.PAGES["train"], title="Train", icon=":material/model_training:"),
        st.Page(state.PAGES["replay"], title="Replay", icon=":material/replay:"),
        st.Page(state.PAGES["evaluate"], title="Evaluate", icon=":material/analytics:"),
    ]
)
with st.sidebar, guarded("the model sidebar"):
    model_sidebar()
try:
    with guarded("the page"):  # the last net; each page also guards its own panels
        navigation.run()
finally:
    # TensorFlow, the model and its first traced call, in the background, once per server. Started after the
    # first page's run, not before: Home needs no TensorFlow (its chart's numbers are in the model card), and
    # importing it beside that run slowed the run's every step (they share the interpreter).
    resources.start_warmup()
# Server-side time of this run (reported by `python -m tools bench` as rerun_ms).
st.session_state[state.LAST_RUN_MS] = (time.perf_counter() - run_started) * 1000
