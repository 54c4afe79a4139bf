"""What a person waits for in Chromium, fashion-viz beside a minimal Streamlit app in the same run.

Each figure is a ratio to the minimal app (``tools/minimal_app/app.py``) measured on the same
machine in the same run, the two apps in turn (visit, click or upload, one app then the other), so machine noise
and drift cancel:

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
for). For the upload's chart the page itself notes when the first frame that holds the chart
(not stale) has been painted, so what the page does after that chart is not counted against it. fashion-viz
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
# the frame that finds it there paints it, and a user-blocking task queued from that frame runs right after
# the paint: its time is when the chart was painted. Timing in the page matters: waiting from Python and then
# for two frames also counted Playwright's round trip, and any long task the page began meanwhile
# (fashion-viz's layer view renders after its chart), as if the chart had waited for it; so did waiting for
# the next frame, which comes only after such a task.
WATCH_CHART_PAINT_JS = (
    """m => {
    const drawn = """
    + CHART_PAINTED_JS
    + """;
    window.__chartPaintedAt = undefined;
    const note = () => { window.__chartPaintedAt = performance.now(); };
    const afterPaint = () => window.scheduler?.postTask ? scheduler.postTask(note, {priority: "user-blocking"}) : setTimeout(note, 0);
    const check = () => drawn(m) ? afterPaint() : requestAnimationFrame(check);
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


def new_page(browser, cpu_slowdown: float = 1.0):
    """A page in a context of its own, its renderer slowed ``cpu_slowdown`` times (Chromium's CPU throttling): the
    same clicks as on a slower machine's browser. Both apps get the same slowdown, so their ratio stays a ratio."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    if cpu_slowdown != 1.0:
        page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
    return page


def later_visit(browser, url: str, title: str, cpu_slowdown: float = 1.0) -> float:
    """Seconds from ``goto`` in a fresh context to the chart painted."""
    page = new_page(browser, cpu_slowdown)
    start = time.perf_counter()
    page.goto(url)
    painted(page, title)
    seconds = time.perf_counter() - start
    page.context.close()
    return seconds


def first_visit(browser, server: AppServer, path: str, title: str, cpu_slowdown: float = 1.0) -> tuple[float, float]:
    """Seconds from launching the server to the page title shown, and to the chart painted."""
    page = new_page(browser, cpu_slowdown)
    start = time.perf_counter()
    server.launch()
    try:
        # Asked from here, not by the page: a refused page load shows Chromium's error page, and in a slowed
        # renderer those retries had put the first load 17 s late.
        while not server.healthy():
            if time.perf_counter() - start > 90:
                raise RuntimeError(f"{server.url} did not start within 90 s")
            time.sleep(0.02)
        page.goto(server.url + path)
        page.wait_for_selector("h1", timeout=90_000)
        title_s = time.perf_counter() - start
        painted(page, title, 90_000)
        chart_s = time.perf_counter() - start
    finally:
        page.context.close()
        server.stop()
    return title_s, chart_s


def step_click(page, button: str, title: str) -> float:
    """Seconds from clicking ``button`` to the chart titled ``title`` painted."""
    target = page.get_by_role("button", name=button).element_handle()  # found before the clock starts (see module doc)
    start = time.perf_counter()
    target.click()
    painted(page, title)
    return time.perf_counter() - start


def upload(page, path: Path, title: str) -> tuple[float, float]:
    """Seconds from choosing a file to (its probability chart painted, the whole page settled)."""
    target = page.locator("input[type='file']").element_handle()
    chosen_at = page.evaluate(WATCH_CHART_PAINT_JS, title)
    start = time.perf_counter()
    target.set_input_files(str(path))
    page.wait_for_function("() => window.__chartPaintedAt !== undefined", timeout=60_000)
    chart = (page.evaluate("() => window.__chartPaintedAt") - chosen_at) / 1000
    painted(page, title)
    return chart, time.perf_counter() - start


def upload_medians(times: list[tuple[float, float]]) -> tuple[float, float]:
    """The medians of :func:`upload`'s (chart, settled) seconds, leaving out the first upload (it warms the page)."""
    return statistics.median(c for c, _ in times[1:]), statistics.median(s for _, s in times[1:])


def uploads(page, files: list[Path], title_of) -> tuple[float, float]:
    """Median seconds from choosing a file to (its probability chart painted, the whole page settled), after the first."""
    return upload_medians([upload(page, path, title_of(path)) for path in files])


def _in_turn(rounds: int, apps: dict, measure_one) -> dict[str, list]:
    """``measure_one(name, round)`` for every app in each round, the order reversed every other round, so that the
    machine's drift and noise fall on both apps alike."""
    times = {name: [] for name in apps}
    for r in range(rounds):
        for name in list(apps) if r % 2 == 0 else list(apps)[::-1]:
            times[name].append(measure_one(name, r))
    return times


def measure(repeats: int = 5, first_visits: int = 4, cpu_slowdown: float = 1.0) -> dict:
    """All browser figures for both apps, and the ratios; with ``cpu_slowdown`` > 1, as in a browser that many times
    slower (see :func:`new_page`)."""
    from playwright.sync_api import sync_playwright

    from fashion_viz.data import load_sample
    from fashion_viz.preprocessing import png_bytes

    sample = load_sample()
    out: dict = {"cpu_slowdown": cpu_slowdown}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        files = []
        for i in range(6):
            path = Path(tmp) / f"photo{i}.png"
            path.write_bytes(png_bytes(sample.images[(i * 31) % len(sample.images)]))
            files.append(path)
        launches = {"minimal": (minimal_server, "/?view=home"), "app": (app_server, "/")}
        firsts = _in_turn(first_visits, launches, lambda name, _: first_visit(browser, launches[name][0](), launches[name][1], "Prediction:", cpu_slowdown))
        for name, pairs in firsts.items():
            out[f"{name}_first_visit_title_s"] = round(statistics.median(t for t, _ in pairs), 2)
            out[f"{name}_first_visit_chart_s"] = round(statistics.median(c for _, c in pairs), 2)

        minimal, app = minimal_server().start(), app_server().start()
        try:
            # Each figure is taken from both apps in turn, so both meet the same moments of the machine.
            urls = {"minimal": f"{minimal.url}/?view=home", "app": app.url}
            for name, times in _in_turn(repeats + 1, urls, lambda name, _: later_visit(browser, urls[name], "Prediction:", cpu_slowdown)).items():
                out[f"{name}_later_visit_s"] = round(statistics.median(times[1:]), 2)  # the first visit warms the server

            pages = {name: new_page(browser, cpu_slowdown) for name in ("minimal", "app")}
            pages["minimal"].goto(f"{minimal.url}/?view=step")
            painted(pages["minimal"], "step 0 map")
            pages["app"].goto(f"{app.url}/explorer")
            painted(pages["app"], "conv1:")
            names = ["pool1", "dropout1", "conv2", "pool2", "dropout2", "flatten", "dense1", "dropout3", "predictions"]
            titles = {"minimal": [f"step {k} map" for k in range(1, 10)], "app": [f"{n}:" for n in names]}
            steps = _in_turn(len(names), pages, lambda name, k: step_click(pages[name], "Next", titles[name][k]))
            for name, times in steps.items():
                out[f"{name}_layer_step_s"] = round(statistics.median(times), 3)

            pages["minimal"].goto(f"{minimal.url}/?view=upload")
            pages["app"].goto(f"{app.url}/explorer")
            painted(pages["app"], "conv1:")
            pages["app"].get_by_text("Upload a photo", exact=True).click()
            for page in pages.values():
                page.wait_for_selector("input[type='file']", state="attached")
            title_of = {"minimal": lambda f: f"Upload: {f.name}", "app": lambda f: f" · upload: {f.name}"}
            times = _in_turn(len(files), pages, lambda name, k: upload(pages[name], files[k], title_of[name](files[k])))
            for name, pairs in times.items():
                out[f"{name}_upload_s"], out[f"{name}_upload_page_settled_s"] = (round(v, 3) for v in upload_medians(pairs))
        finally:
            browser.close()
            minimal.stop()
            app.stop()
    for key in ("later_visit", "first_visit_title", "first_visit_chart", "layer_step", "upload"):
        ratio = out[f"app_{key}_s"] / out[f"minimal_{key}_s"]
        out[f"{key}_ratio"] = round(ratio, 2)
    return out


def run_browser_benchmark(as_json: bool = False, repeats: int = 5, first_visits: int = 4, cpu_slowdown: float = 1.0) -> int:
    """``python -m tools bench-browser``: :func:`measure`, each ratio beside its target; 1 when one is over it."""
    import json

    out = measure(repeats, first_visits, cpu_slowdown)
    over = [key for key, target in TARGETS.items() if out[key] > target]
    if as_json:
        print(json.dumps(out))
    else:
        print(f"Chromium{f', renderer slowed {cpu_slowdown:g}x' if cpu_slowdown != 1 else ''}: fashion-viz against the minimal app, in turn")
        for key, target in TARGETS.items():
            figure = key.removesuffix("_ratio")
            print(f"  {figure:<20}{out[key]:5.2f}  ({out[f'app_{figure}_s']:.3f} s against {out[f'minimal_{figure}_s']:.3f} s; target <= {target})")
    return 1 if over else 0
