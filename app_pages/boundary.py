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
from streamlit.cursor import LockedCursor
from streamlit.delta_generator import DeltaGenerator
from streamlit.logger import get_logger

LOG = get_logger("fashion_viz.app")
FAILED_MESSAGE = "This part could not be drawn; the rest of the page works. Reference {reference}."


@contextlib.contextmanager
def guarded(part: str):
    """Run the block in a container of its own; if it raises, the message takes the container's place.

    ``part`` names the panel in the log ("the layer view"), not on screen. The container is sent as one
    block: an ``st.empty()`` filled with a container reached the browser as two messages, and a browser
    that drew between them (a busy server sends them apart) unmounted the panel's widgets, so a photo
    being uploaded there was lost (the uploader came back empty and never sent it).
    """
    panel = st.container()
    failed_reference = None
    try:
        with panel:
            yield
    except Exception:  # noqa: BLE001 - the boundary: every failure becomes a message and a log line
        failed_reference = secrets.token_hex(4)
        LOG.exception("%s could not be drawn (reference %s)", part, failed_reference)
    if failed_reference is not None:
        _in_place_of(panel).error(FAILED_MESSAGE.format(reference=failed_reference), icon=":material/error:")


def _in_place_of(panel: DeltaGenerator) -> DeltaGenerator:
    """A writer fixed at the panel's own place in the page: what it writes replaces the panel and all it drew
    (as ``st.empty()`` does for the element it holds)."""
    root, *parents, index = panel._block_delta_path
    return DeltaGenerator(root_container=root, cursor=LockedCursor(root, tuple(parents), index), parent=panel)
