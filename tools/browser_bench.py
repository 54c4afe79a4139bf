"""What a person waits for in Chromium, fashion-viz beside a minimal Streamlit app in the same run.

Each figure is a ratio to the minimal app (``tools/minimal_app/app.py``) measured on the same
machine in the same run, so machine noise cancels:

- ``later_visit``: a new browser context opens the URL → the Home page's probability chart is drawn
  (minimal: its one chart);
- ``first_visit``: ``streamlit run`` is launched → the title, then the chart, in the first visitor's
  browser (a fresh server each time);
- ``layer_step``: Explorer, click "Next" → every chart of the new layer painted (minimal: a click
  that redraws two charts and an image);
- ``upload``: a file chosen in the uploader → its probability chart painted (minimal: its chart).

"Painted" is: the expected chart title is in the page, the script has stopped, no element is stale,
then two animation frames. The clock starts when the button is clicked or the file chosen: Playwright finds the
element first (its role query walks the whole page, which costs more on a bigger page and is nothing a person waits
for). For the upload's chart the page itself notes the first frame after the chart
(not stale) is in it, so what the page does after that chart is not counted against it. fashion-viz
runs as the README starts it (``streamlit run app.py`` with the shipped ``.streamlit/config.toml``);
the minimal app with Streamlit's defaults.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer

MINIMAL_DIR = ROOT / "tools" / "minimal_app"
TARGETS = {"later_visit_ratio": 1.2, "first_visit_title_ratio": 1.5, "first_visit_chart_ratio": 2.0, "layer_step_ratio": 1.5, "upload_ratio": 1.5}
TITLE_PRESENT_JS = """p => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")].some(t => t.textContent.startsWith(p) || t.textContent.endsWith(p))"""
SETTLED_JS = """() => document.querySelector("[data-testid='stApp']")?.getAttribute("data-test-script-state") === "notRunning"
                   && !document.querySelector("[data-stale='true']")"""
TWO_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# One chart (found by its title's start or end) is drawn and not stale: what a person waits for after an upload.
CHART_PAINTED_JS = """m => {
    const chart = [...document.querySelectorAll("[data-testid='stPlotlyChart']")]
        .find(c => [...c.querySelectorAll(".gtitle")].some(t => t.textContent.startsWith(m) || t.textContent.endsWith(m)));
    const box = chart && chart.closest("[data-testid='stElementContainer']");
    return !!chart && (!box || box.getAttribute("data-stale") !== "true");
}"""


# Before a file is chosen: watch in the page, on every animation frame, for that chart (CHART_PAINTED_JS);
# once it is there, the next frame's time is when it was painted. Timing in the page matters: waiting from
# Python and then for two frames also counted Playwright's round trip, and any long task the page began
# meanwhile (fashion-viz's layer view renders after its chart), as if the chart had waited for it.
WATCH_CHART_PAINT_JS = (
    """m => {
    const drawn = """
    + CHART_PAINTED_JS
    + """;
    window.__chartPaintedAt = undefined;
    const check = () => drawn(m) ? requestAnimationFrame(() => { window.__chartPaintedAt = performance.now(); }) : requestAnimationFrame(check);
    requestAnimationFrame(check);
    return performance.now();
}"""
)


def painted(page, title_prefix: str, timeout_ms: int = 60_000) -> None:
    """Wait until a chart titled ``title_prefix…`` is drawn and the page has settled and painted."""
    page.wait_for_function(TITLE_PRESENT_JS, arg=title_prefix, timeout=timeout_ms, polling="raf")
    page.wait_for_function(SETTLED_JS, timeout=timeout_ms, polling="raf")
    page.evaluate(TWO_FRAMES_JS)


def minimal_server() -> AppServer:
    return AppServer(script="app.py", cwd=MINIMAL_DIR)


def app_server(env: dict | None = None) -> AppServer:
    return AppServer(env=env)


def later_visit(browser, url: str, title: str, repeats: int) -> float:
    """Median seconds from ``goto`` in a fresh context to the chart painted (after one warm-up visit)."""
    times = []
    for i in range(repeats + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url)
        painted(page, title)
        if i:
            times.append(time.perf_counter() - start)
        context.close()
    return statistics.median(times)


def first_visit(browser, server: AppServer, path: str, title: str) -> tuple[float, float]:
    """Seconds from launching the server to the page title shown, and to the chart painted."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    start = time.perf_counter()
    server.launch()
    try:
        while True:
            try:
                page.goto(server.url + path, timeout=2_000)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.perf_counter() - start > 90:
                    raise
                time.sleep(0.02)
        page.wait_for_selector("h1", timeout=90_000)
        title_s = time.perf_counter() - start
        painted(page, title, 90_000)
        chart_s = time.perf_counter() - start
    finally:
        context.close()
        server.stop()
    return title_s, chart_s


def step_clicks(page, button: str, titles: list[str]) -> float:
    """Median seconds from clicking ``button`` to the chart titled ``titles[i]`` painted, per click."""
    times = []
    for title in titles:
        target = page.get_by_role("button", name=button).element_handle()  # found before the clock starts (see module doc)
        start = time.perf_counter()
        target.click()
        painted(page, title)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def uploads(page, files: list[Path], title_of) -> tuple[float, float]:
    """Median seconds from choosing a file to (its probability chart painted, the whole page settled)."""
    chart, settled = [], []
    for path in files:
        target = page.locator("input[type='file']").element_handle()
        chosen_at = page.evaluate(WATCH_CHART_PAINT_JS, title_of(path))
        start = time.perf_counter()
        target.set_input_files(str(path))
        page.wait_for_function("() => window.__chartPaintedAt !== undefined", timeout=60_000)
        chart.append((page.evaluate("() => window.__chartPaintedAt") - chosen_at) / 1000)
        painted(page, title_of(path))
        settled.append(time.perf_counter() - start)
    return statistics.median(chart[1:]), statistics.median(settled[1:])


def measure(repeats: int = 3, first_visits: int = 2) -> dict:
    """All browser figures for both apps, and the ratios."""
    from playwright.sync_api import sync_playwright

    from fashion_viz.data import load_sample
    from fashion_viz.preprocessing import png_bytes

    sample = load_sample()
    out: dict = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        files = []
        for i in range(6):
            path = Path(tmp) / f"photo{i}.png"
            path.write_bytes(png_bytes(sample.images[(i * 31) % len(sample.images)]))
            files.append(path)
        firsts = {"minimal": [], "app": []}
        for _ in range(first_visits):  # alternate, so drift hits both alike
            firsts["minimal"].append(first_visit(browser, minimal_server(), "/?view=home", "Prediction:"))
            firsts["app"].append(first_visit(browser, app_server(), "/", "Prediction:"))
        for name, pairs in firsts.items():
            out[f"{name}_first_visit_title_s"] = round(statistics.median(t for t, _ in pairs), 2)
            out[f"{name}_first_visit_chart_s"] = round(statistics.median(c for _, c in pairs), 2)

        minimal, app = minimal_server().start(), app_server().start()
        try:
            out["minimal_later_visit_s"] = round(later_visit(browser, f"{minimal.url}/?view=home", "Prediction:", repeats), 2)
            out["app_later_visit_s"] = round(later_visit(browser, app.url, "Prediction:", repeats), 2)

            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{minimal.url}/?view=step")
            painted(page, "step 0 map")
            out["minimal_layer_step_s"] = round(step_clicks(page, "Next", [f"step {k} map" for k in range(1, 10)]), 3)
            page.goto(f"{app.url}/explorer")
            painted(page, "conv1:")
            names = ["pool1", "dropout1", "conv2", "pool2", "dropout2", "flatten", "dense1", "dropout3", "predictions"]
            out["app_layer_step_s"] = round(step_clicks(page, "Next", [f"{n}:" for n in names]), 3)

            page.goto(f"{minimal.url}/?view=upload")
            page.wait_for_selector("input[type='file']", state="attached")
            out["minimal_upload_s"], out["minimal_upload_page_settled_s"] = (round(v, 3) for v in uploads(page, files, lambda f: f"Upload: {f.name}"))
            page.goto(f"{app.url}/explorer")
            painted(page, "conv1:")
            page.get_by_text("Upload a photo", exact=True).click()
            page.wait_for_selector("input[type='file']", state="attached")
            out["app_upload_s"], out["app_upload_page_settled_s"] = (round(v, 3) for v in uploads(page, files, lambda f: f" · upload: {f.name}"))
        finally:
            browser.close()
            minimal.stop()
            app.stop()
    for key in ("later_visit", "first_visit_title", "first_visit_chart", "layer_step", "upload"):
        ratio = out[f"app_{key}_s"] / out[f"minimal_{key}_s"]
        out[f"{key}_ratio"] = round(ratio, 2)
    return out
