"""The app's error boundary: a part of a page that fails shows one plain sentence, never a traceback
or Streamlit's redacted error box, and the rest of the page still renders.

Every page wraps each of its panels in :func:`guarded`; ``app.py`` wraps the whole page and the
sidebar in it as the last net. The traceback goes to the server's log under a short reference that
the message shows, so a person can quote it and an operator can find it. Streamlit's own control flow
(``st.stop``, ``st.rerun``, ``st.switch_page``) raises ``BaseException`` subclasses and passes through.
"""

from __future__ import annotations

import contextlib
import secrets

import streamlit as st
from streamlit.logger import get_logger

LOG = get_logger("fashion_viz.app")
FAILED_MESSAGE = "This part could not be drawn; the rest of the page works. Reference {reference}."


@contextlib.contextmanager
def guarded(part: str):
    """Run the block in a placeholder; if it raises, its partial output is replaced by the plain message.

    ``part`` names the panel in the log ("the layer view"), not on screen.
    """
    placeholder = st.empty()
    failed_reference = None
    try:
        with placeholder.container():
            yield
    except Exception:  # noqa: BLE001 - the boundary: every failure becomes a message and a log line
        failed_reference = secrets.token_hex(4)
        LOG.exception("%s could not be drawn (reference %s)", part, failed_reference)
    if failed_reference is not None:
        placeholder.error(FAILED_MESSAGE.format(reference=failed_reference), icon=":material/error:")
