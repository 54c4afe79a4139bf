"""The app's error boundary: a failure inside any page's compute shows one plain sentence with a reference,
the traceback goes to the server's log under that reference, and the rest of the page still renders."""

from __future__ import annotations

import logging
import re

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, chart_titles

from app_pages import boundary

# page, the compute that is made to fail, and what must still be on the page around it
CASES = [
    (None, "app_pages.panels.probability_chart", lambda at: "Test accuracy" in [m.label for m in at.metric]),
    ("architecture", "fashion_viz.figures.architecture.architecture_figure", lambda at: len(at.dataframe) == 1 and len(at.expander) >= 10),
    ("explorer", "fashion_viz.figures.layers.layer_output_figure", lambda at: any(t.startswith("Prediction:") for t in chart_titles(at))),
    ("why", "fashion_viz.figures.attribution.faithfulness_table", lambda at: any(s.value.startswith("Fool it") for s in at.subheader) and len(chart_titles(at)) >= 4),
    ("units", "fashion_viz.figures.units.class_bars", lambda at: any("excite it most" in m.value for m in at.markdown)),
    ("map", "fashion_viz.figures.map.embedding_figure", lambda at: any("looks like these" in m.value for m in at.markdown)),
    ("layers", "fashion_viz.figures.trials.reliability_figure", lambda at: len(at.dataframe) >= 1 and any(s.value == "Which layers matter?" for s in at.subheader)),
    ("replay", "fashion_viz.replay.views.learning_order", lambda at: any(s.key == "replay_layer_widget" for s in at.selectbox)),
    ("train", "fashion_viz.training.schedule_config", lambda at: any("No training has run" in c.value for c in at.caption)),
    ("evaluate", "fashion_viz.figures.evaluation.confusion_matrix_figure", lambda at: "Test accuracy" in [m.label for m in at.metric]),
]


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.parametrize("page, target, rest_of_page", CASES, ids=[c[0] or "home" for c in CASES])
def test_a_failing_panel_says_so_plainly_and_the_page_goes_on(fmnist, shipped, monkeypatch, page, target, rest_of_page):
    module_name, name = target.rsplit(".", 1)
    module = __import__(module_name, fromlist=[name])

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(module, name, broken)
    log = Records()
    boundary.LOG.addHandler(log)
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        if page:
            at.switch_page(f"app_pages/{page}.py")
            at.run()
    finally:
        boundary.LOG.removeHandler(log)
    assert not at.exception, "no Streamlit error box"
    messages = [e.value for e in at.error if "could not be drawn" in e.value]
    assert len(messages) == 1, [e.value for e in at.error]
    assert messages[0].startswith("This part could not be drawn; the rest of the page works. Reference ")
    reference = re.search(r"Reference ([0-9a-f]{8})\.", messages[0]).group(1)
    logged = [r for r in log.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info and "injected failure" in str(logged[0].exc_info[1]), "the traceback is in the log under the reference"
    assert "injected failure" not in " ".join(e.value for e in at.error), "the message does not show the error itself"
    assert rest_of_page(at), "the rest of the page still renders"
    assert at.title, "the page's title is there"


def test_a_panel_goes_to_the_browser_as_one_block_that_a_failure_replaces(monkeypatch):
    """A panel is one block in place, never an empty element filled afterwards: a browser that drew between
    the two lost the panel's widgets, an upload in progress included."""
    import streamlit.delta_generator as delta_generator

    sent = []
    enqueue = delta_generator._enqueue_message

    def record(msg):
        if msg.WhichOneof("type") == "delta":
            kind = msg.delta.WhichOneof("type")
            sent.append((msg.delta.new_element.WhichOneof("type") if kind == "new_element" else kind, tuple(msg.metadata.delta_path)))
        enqueue(msg)

    monkeypatch.setattr(delta_generator, "_enqueue_message", record)

    def script():
        import streamlit as st

        from app_pages.boundary import guarded

        with guarded("a panel that works"):
            st.file_uploader("Photo", key="photo")
            st.markdown("below the uploader")
        with guarded("a panel that fails"):
            st.markdown("half drawn")
            raise RuntimeError("injected failure")
        st.markdown("after both panels")

    at = AppTest.from_function(script, default_timeout=30)
    at.run()
    assert not at.exception
    assert "empty" not in [what for what, _ in sent], sent
    blocks = [path for what, path in sent if what == "add_block"]
    working, failing = blocks[0], blocks[1]
    assert [what for what, path in sent if path[:-1] == working] == ["file_uploader", "markdown"], "the widgets live in the panel's block"
    assert [what for what, path in sent if path == failing] == ["add_block", "alert"], "the message is sent to the failing panel's own place"
    markdown = [m.value for m in at.markdown]
    assert "half drawn" not in markdown and {"below the uploader", "after both panels"} <= set(markdown), markdown
    assert [e.value for e in at.error if "could not be drawn" in e.value], [e.value for e in at.error]
