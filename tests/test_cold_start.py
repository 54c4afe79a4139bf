"""A new server's first minute under six visitors at once: one round of `tools/cold_start_stress.py`.

A module of its own, so no other test's server (the browser tests' one keeps preparing a model it trained)
shares the two cores with the new server it starts. Skipped without Chromium; a failure in strict mode (CI).
"""

from __future__ import annotations

import pytest

import json
import subprocess
import sys

from conftest import ROOT
from test_browser import _require_browser

from tools.cold_start_stress import PAGES

pytestmark = pytest.mark.browser


def test_a_cold_start_under_six_visitors_shows_no_error(shipped, fmnist):
    """One round of `tools/cold_start_stress.py`: a new server with an empty bytecode cache and six browser sessions
    at once during its warm-up, each visiting every page and uploading a photo. Plotly once met pandas half-imported
    by the warm-up thread there and Home showed Streamlit's redacted error box."""
    _require_browser()
    done = subprocess.run(
        [sys.executable, "tools/cold_start_stress.py", "--rounds", "1", "--sessions", "6", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    summary = json.loads(done.stdout)
    result = summary["per_round"][0]
    assert result["pages_visited"] == 6 * len(PAGES), result["examples"]
    assert summary["exceptions_shown"] == 0 and summary["panels_failed"] == 0, result["examples"]
    assert summary["tracebacks_in_log"] == 0, result["log_excerpt"]
    assert len(result["upload_answer_s"]) == 6

