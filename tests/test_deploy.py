"""Scale-out, tested: two replicas behind nginx (deploy/nginx.conf) with real browsers.

Skipped without nginx, Chromium or Playwright locally (saying how to get them); a failure in
strict mode (CI installs nginx and chromium).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import IN_CI, ROOT

from tools.appserver import CHROMIUM

pytestmark = pytest.mark.deploy

NGINX = "/usr/sbin/nginx"


def _require_tools(shipped, fmnist):
    missing = [name for name, path in (("nginx", NGINX), ("chromium", CHROMIUM)) if not os.path.exists(path)]
    if missing:
        message = f"{', '.join(missing)} not installed: `apt-get install -y {' '.join(missing)}` to run the scale-out test"
        if IN_CI:
            pytest.fail(f"CI (strict mode) must run the scale-out test: {message}")
        pytest.skip(message)


def test_nginx_config_is_valid(tmp_path):
    if not os.path.exists(NGINX):
        if IN_CI:
            pytest.fail("CI (strict mode) must have nginx")
        pytest.skip("nginx not installed")
    (tmp_path / "logs").mkdir()
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(ROOT / "deploy" / "nginx.conf"), "-e", "/dev/stderr"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "upgrade" in (ROOT / "deploy" / "nginx.conf").read_text()


def test_two_replicas_behind_nginx_survive_load_training_and_a_killed_replica(shipped, fmnist):
    _require_tools(shipped, fmnist)
    result = subprocess.run(
        [sys.executable, "tools/scaleout.py", "--sessions", "8", "--seconds", "15", "--failover-sessions", "4", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["load_predictions"] >= 8 and report["load_errors"] == 0 and report["load_mismatches"] == 0, report["load_examples"]
    assert report["server_tracebacks"] == 0, report["server_log_excerpt"]
    assert len(report["sessions_per_replica"]) == 2, f"both replicas serve sessions: {report['sessions_per_replica']}"
    assert report["trained_seen_on_other"], report
    assert report["failover_ok_before"] == report["failover_recovered"] == 4, report
    assert report["model_files_lost"] == 0
    assert result.returncode == 0 and not report["failed"]
