"""A new server's first minute, under load: the cold start that once showed Streamlit's error box.

    python tools/cold_start_stress.py [--rounds 5] [--sessions 6] [--json]

Each round starts `streamlit run app.py` on a free 127.0.0.1 port with an empty bytecode cache
(``PYTHONPYCACHEPREFIX`` set to a new empty folder, so every import compiles again, as on a fresh
install) and, as soon as the server answers its health check, while the warm-up thread is still
importing TensorFlow, opens N browser sessions at once. Each session visits every page through the
sidebar and uploads a photo on the Explorer. Counted per round: exception boxes shown (Streamlit's
``stException`` element, the redacted "This app has encountered an error" among them), the app's own
"could not be drawn" messages, tracebacks in the server's log, pages that never finished, and the
upload's answer time. Exits 1 when any round shows an exception or logs a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, TRACEBACK, AppServer  # noqa: E402

# Every page, by its label in the sidebar's navigation, in the order a curious visitor would go.
PAGES = ("Home", "Architecture", "Explorer", "Why", "Units", "Map", "Layers on trial", "Train", "Evaluate")
RUN_DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
PANEL_FAILED = "could not be drawn"  # the app's own error boundary (app_pages/boundary.py)
PREDICTION_TITLE_JS = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")]
    .map(t => t.textContent).filter(t => t.startsWith('Prediction:') && t.includes('upload: '))"""


async def settle(page, timeout_ms: int) -> None:
    """Wait until the current run has finished and nothing on the page is stale."""
    await page.wait_for_timeout(250)
    await page.wait_for_selector(RUN_DONE, timeout=timeout_ms)
    await page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout_ms)


async def count_problems(page, where: str, problems: list[str]) -> None:
    exceptions = await page.locator("[data-testid='stException']").count()
    if exceptions:
        text = (await page.locator("[data-testid='stException']").first.inner_text())[:160].replace("\n", " ")
        problems.append(f"{where}: exception box: {text}")
    if await page.get_by_text(PANEL_FAILED).count():
        problems.append(f"{where}: a panel could not be drawn")


async def visit_every_page(browser, url: str, first: str, delay_s: float, photo: Path, timeout_ms: int, record: dict) -> None:
    """One visitor: opens ``first`` (a page's URL path, "" for Home) ``delay_s`` after the server answered, then
    goes through every page by the sidebar, uploading a photo on the Explorer."""
    await asyncio.sleep(delay_s)
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    where = f"/{first}"
    try:
        await page.goto(f"{url}/{first}")
        await settle(page, timeout_ms)
        await count_problems(page, f"first page /{first}", record["problems"])
        for name in PAGES:
            where = name
            if name != "Home" or first:
                await page.locator("[data-testid='stSidebarNav'] a").filter(has_text=name).first.click()
                await settle(page, timeout_ms)
            await count_problems(page, name, record["problems"])
            if name == "Explorer":
                await page.get_by_text("Upload a photo", exact=True).click()
                await page.wait_for_selector("input[type='file']", state="attached")
                started = time.perf_counter()
                await page.locator("input[type='file']").set_input_files(str(photo))
                await page.wait_for_function(f"() => ({PREDICTION_TITLE_JS})().length > 0")
                record["upload_s"].append(round(time.perf_counter() - started, 2))
                await settle(page, timeout_ms)
                await count_problems(page, "Explorer after the upload", record["problems"])
            record["pages"] += 1
    except Exception as exc:  # noqa: BLE001 - a page that never finished is counted, not raised
        record["unfinished"].append(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await context.close()


async def one_round(sessions: int, photo: Path, timeout_ms: int) -> dict:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="fashion-viz-cold-") as folder:
        folder = Path(folder)
        log = folder / "server.log"
        pycache = folder / "pycache"
        pycache.mkdir()
        server = AppServer(env={"PYTHONPYCACHEPREFIX": str(pycache), "FASHION_VIZ_MODELS_DIR": str(folder / "models")}, log=log)
        launched = time.perf_counter()
        server.start()
        healthy_s = time.perf_counter() - launched
        record = {"problems": [], "unfinished": [], "pages": 0, "upload_s": []}
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # Two visitors open Home (the reported case: Home, then Home again a moment later); the others follow
                # links straight to pages that need TensorFlow while the warm-up thread is still importing it.
                firsts = ["", "", "explorer", "why", "units", "map", "evaluate", "architecture"]
                await asyncio.gather(
                    *(visit_every_page(browser, server.url, firsts[k % len(firsts)], 0.4 * k, photo, timeout_ms, record) for k in range(sessions))
                )
                await browser.close()
        finally:
            server.stop()
        text = server.log_text()
    tracebacks = text.count(TRACEBACK)
    return {
        "healthy_s": round(healthy_s, 1),
        "sessions": sessions,
        "pages_visited": record["pages"],
        "exceptions_shown": sum("exception box" in p for p in record["problems"]),
        "panels_failed": sum("could not be drawn" in p for p in record["problems"]),
        "tracebacks_in_log": tracebacks,
        "unfinished_sessions": len(record["unfinished"]),
        "upload_answer_s": sorted(record["upload_s"]),
        "examples": (record["problems"] + record["unfinished"])[:5],
        "log_excerpt": text[text.find("Traceback") :][:2000] if tracebacks else "",
    }


def write_photo(folder: Path) -> Path:
    """A real test picture (a shirt from the embedded sample) as a PNG file, the upload every session makes."""
    from fashion_viz.data import load_sample
    from fashion_viz.preprocessing import png_bytes

    sample = load_sample()
    path = folder / "cold-start-upload.png"
    path.write_bytes(png_bytes(sample.images[int((sample.labels == 6).argmax())]))
    return path


def run_cold_start_stress(rounds: int = 5, sessions: int = 6, timeout_s: float = 180, as_json: bool = False) -> dict:
    """Run the rounds; returns the summary (``passed`` is False on any exception shown or traceback logged)."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        photo = write_photo(Path(folder))
        for k in range(rounds):
            result = asyncio.run(one_round(sessions, photo, int(timeout_s * 1000)))
            results.append(result)
            if not as_json:
                print(f"round {k + 1}: {json.dumps({key: v for key, v in result.items() if key != 'log_excerpt'})}", flush=True)
    summary = {
        "rounds": rounds,
        "sessions_per_round": sessions,
        "exceptions_shown": sum(r["exceptions_shown"] for r in results),
        "panels_failed": sum(r["panels_failed"] for r in results),
        "tracebacks_in_log": sum(r["tracebacks_in_log"] for r in results),
        "unfinished_sessions": sum(r["unfinished_sessions"] for r in results),
        "slowest_upload_answer_s": max((max(r["upload_answer_s"], default=0.0) for r in results), default=0.0),
        "per_round": results,
    }
    summary["passed"] = not (summary["exceptions_shown"] or summary["tracebacks_in_log"] or summary["unfinished_sessions"] or summary["panels_failed"])
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=180, help="seconds a page may take to finish its run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    summary = run_cold_start_stress(args.rounds, args.sessions, args.timeout, args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(json.dumps({k: v for k, v in summary.items() if k != "per_round"}, indent=2))
        for r in summary["per_round"]:
            if r["log_excerpt"]:
                print(r["log_excerpt"])
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
