"""The README's screenshots, taken from a running server in headless Chromium so they can be redone after a change.

    python tools/screenshots.py [--out docs/screenshots]

Starts ``streamlit run app.py`` as the README does, opens each view below at 1400 px wide, waits until the page
has finished its run and its charts are drawn, and writes one PNG per view.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, AppServer  # noqa: E402
from tools.browser_bench import painted  # noqa: E402

# (file name, URL path, the title of a chart that is drawn when the view is ready, window height)
VIEWS = (
    ("explorer.png", "/explorer?image=42", "conv1:", 1500),
    ("why.png", "/why?image=42", "Why ", 1150),
    ("units.png", "/units?layer=conv2&unit=17", "Mean per true class", 1250),
)


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    server = AppServer().start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, path, title, height in VIEWS:
                page = browser.new_page(viewport={"width": 1400, "height": height})
                page.goto(server.url + path)
                painted(page, title, 120_000)
                page.wait_for_timeout(1500)  # images and the last frames
                target = out / name
                page.screenshot(path=str(target))
                written.append(target)
                page.close()
            browser.close()
    finally:
        server.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    for path in take(Path(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
