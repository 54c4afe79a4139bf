"""The package is the product's compute: importing any of it loads no UI or browser library."""

import pkgutil
import subprocess
import sys

from conftest import ROOT

import fashion_viz


def test_importing_every_module_leaves_streamlit_and_playwright_out():
    modules = sorted(f"fashion_viz.{m.name}" for m in pkgutil.iter_modules(fashion_viz.__path__) if m.name != "__main__")
    assert {"fashion_viz.architecture", "fashion_viz.card", "fashion_viz.storage", "fashion_viz.cli"} <= set(modules)
    script = f"import sys; import {', '.join(modules)}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'playwright')))"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
