"""The package is the product's compute: importing any of it loads no UI, browser or benchmark code (tools/)."""

import pkgutil
import subprocess
import sys

from conftest import ROOT

import fashion_viz


def test_importing_every_module_leaves_streamlit_playwright_and_tools_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(fashion_viz.__path__, "fashion_viz.") if not m.name.endswith("__main__"))
    assert {"fashion_viz.architecture", "fashion_viz.card", "fashion_viz.storage", "fashion_viz.engine", "fashion_viz.cli"} <= set(modules)
    assert {"fashion_viz.figures.layers", "fashion_viz.explain.units"} <= set(modules), "subpackages are walked too"
    script = f"import sys; import {', '.join(modules)}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'playwright', 'tools')))"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
