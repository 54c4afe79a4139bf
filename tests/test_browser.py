"""Real-browser tests: `streamlit run app.py` driven by Playwright in Debian's Chromium.

Skipped (with how to enable them) where Chromium or Playwright is missing; in
strict mode (CI, set by `.ci/run`) a missing browser is a failure.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import IN_CI, write_png

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, AppServer
from tools.replay_bench import player_frame

pytestmark = pytest.mark.browser

ENABLE = "Install Chromium and Playwright to run them: `apt-get install -y chromium` and `pip install -r requirements-test.txt`."


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("CI (strict mode) must run the browser tests: Playwright is not installed")
        pytest.skip(f"Playwright is not installed. {ENABLE}")
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("CI (strict mode) must run the browser tests: /usr/bin/chromium is missing")
        pytest.skip(f"Chromium is not installed. {ENABLE}")


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """Where the app under test saves models trained in the browser (kept out of the repo)."""
    return tmp_path_factory.mktemp("trained-models")


@pytest.fixture(scope="module")
def app_url(shipped, trained_dir):
    """A running `streamlit run app.py` on a free loopback port; stopped after the module."""
    _require_browser()
    server = AppServer(env={"FASHION_VIZ_MODELS_DIR": str(trained_dir)}).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def settle(page) -> None:
    """Wait until the app has finished its current run."""
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_timeout(200)


def chart_titles(page) -> list[str]:
    return page.locator("[data-testid='stPlotlyChart'] .gtitle").evaluate_all("titles => titles.map(t => t.textContent)")


def wait_for_title(page, prefix: str) -> None:
    page.wait_for_function(
        """prefix => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")]
                       .some(t => t.textContent.startsWith(prefix))""",
        arg=prefix,
        timeout=60_000,
    )


def no_exceptions(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("path, heading", [("", "fashion-viz"), ("architecture", "Architecture"), ("explorer", "Explorer"), ("why", "Why does the model"), ("train", "Train"), ("evaluate", "Evaluate"), ("units", "Units"), ("map", "Map"), ("layers", "Layers on trial"), ("replay", "Replay: watch it learn")])
def test_every_page_opens_without_exception(page, app_url, path, heading):
    page.goto(f"{app_url}/{path}")
    settle(page)
    page.get_by_role("heading", name=heading).first.wait_for()
    no_exceptions(page)


def open_upload(page, app_url) -> None:
    page.goto(f"{app_url}/explorer")
    settle(page)
    page.get_by_text("Upload a photo", exact=True).click()
    settle(page)


def test_upload_photo_shows_prediction_and_feature_maps(page, app_url, fmnist, tmp_path):
    open_upload(page, app_url)
    photo = write_png(tmp_path / "trouser.png", fmnist.x_test[2])  # a trouser
    page.locator("input[type='file']").set_input_files(str(photo))
    wait_for_title(page, "Prediction: Trouser")
    wait_for_title(page, "conv1: 32 feature maps")
    no_exceptions(page)


def test_upload_timing_sees_the_new_chart_painted(page, app_url, sample, tmp_path):
    """The bench's upload figure: the page notes when the new file's chart is painted, before the page settles."""
    from tools.browser_bench import uploads

    open_upload(page, app_url)
    photos = [write_png(tmp_path / f"photo{i}.png", sample.images[i]) for i in (3, 4)]
    chart_s, settled_s = uploads(page, photos, lambda f: f" · upload: {f.name}")
    assert 0 < chart_s <= settled_s < 30
    assert page.locator("[data-testid='stPlotlyChart'] .gtitle", has_text="upload: photo4.png").count() == 1


# Each websocket message the page receives, as text (Streamlit's protobuf carries its strings as UTF-8).
RECORD_MESSAGES_JS = """
window.__received = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const socket = new NativeWebSocket(...args);
  socket.addEventListener("message", e => window.__received.push(new TextDecoder().decode(e.data)));
  return socket;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, NativeWebSocket);
"""


def test_a_second_photo_is_drawn_in_one_run_without_the_first_again(page, app_url, sample, tmp_path):
    """A full uploader empties itself before the next file: that run waits for the file instead of drawing
    the whole page with the old photo again (which also kept the browser from finishing the upload)."""
    page.add_init_script(RECORD_MESSAGES_JS)
    open_upload(page, app_url)
    first, second = (write_png(tmp_path / name, sample.images[i]) for i, name in ((5, "first.png"), (6, "second.png")))
    page.locator("input[type='file']").set_input_files(str(first))
    page.locator("[data-testid='stPlotlyChart'] .gtitle", has_text="upload: first.png").wait_for()
    settle(page)
    page.evaluate("() => { window.__received = []; }")
    page.locator("input[type='file']").set_input_files(str(second))
    page.locator("[data-testid='stPlotlyChart'] .gtitle", has_text="upload: second.png").wait_for()
    settle(page)
    received = page.evaluate("() => window.__received")
    assert any("upload: second.png" in text for text in received)
    assert not any("first.png" in text for text in received)
    no_exceptions(page)


def test_step_through_all_layers(page, app_url):
    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1:")
    names = ["pool1", "dropout1", "conv2", "pool2", "dropout2", "flatten", "dense1", "dropout3", "predictions"]
    for name in names:
        page.get_by_role("button", name="Next").click()
        wait_for_title(page, f"{name}:")
        no_exceptions(page)
    assert page.get_by_role("button", name="Next").is_disabled()


def test_layers_on_trial_walk_its_claims_and_put_a_variant_beside_the_seed(page, app_url):
    """The page's verdicts and figures, then a dropout variant's curves beside the seed's."""
    page.goto(f"{app_url}/layers")
    settle(page)
    for title in ("Each filter's response to an edge", "Pictures that keep their answer", "How linearly separable", "Test accuracy with one layer set back", "Reliability on the test set"):
        wait_for_title(page, title)
    assert page.get_by_text("Supported.", exact=False).count() >= 1
    page.get_by_role("radio", name="no-dropout3").click()  # a segmented control's options are radio buttons
    settle(page)
    page.get_by_text("no-dropout3: dropout3 removed").wait_for()
    assert page.locator("[data-testid='stPlotlyChart'] .legendtext", has_text="no-dropout3, validation").count() == 1
    no_exceptions(page)


def test_compare_with_a_variant_on_the_explorer_and_why(page, app_url):
    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1: 32 feature maps")
    page.get_by_role("combobox", name="Compare with").click()
    page.get_by_role("option", name="Variant stride-2", exact=False).click()
    settle(page)
    wait_for_title(page, "Variant stride-2")
    titles = chart_titles(page)
    assert [t for t in titles if t.startswith("Variant stride-2") and "13x13" in t], titles
    page.locator("[data-testid='stSidebarNav'] a", has_text="Why").click()  # the same session: the choice is kept
    settle(page)
    wait_for_title(page, "Variant stride-2")
    assert page.locator("[data-testid='stPlotlyChart'] .annotation-text", has_text="Variant stride-2").count() == 6, "each method's map of the second model, beside yours"
    no_exceptions(page)


def test_broken_upload_then_good_upload(page, app_url, sample, tmp_path):
    open_upload(page, app_url)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    page.locator("input[type='file']").set_input_files(str(broken))
    page.locator("[data-testid='stAlert']").filter(has_text="broken.png").wait_for()
    no_exceptions(page)
    good = write_png(tmp_path / "boot.png", sample.images[-1])
    page.locator("input[type='file']").set_input_files(str(good))
    wait_for_title(page, "Prediction:")
    settle(page)
    assert page.locator("[data-testid='stAlert']").filter(has_text="broken.png").count() == 0
    no_exceptions(page)


def test_train_one_epoch_in_the_browser_then_use_the_model(page, app_url, fmnist, trained_dir):
    page.goto(f"{app_url}/train")
    settle(page)
    page.get_by_label("Epochs", exact=True).and_(page.locator("input")).fill("1")
    slider = page.get_by_role("slider", name="Training images")
    slider.focus()
    slider.press("Home")  # the smallest subset: 5,000 images
    settle(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Training finished").wait_for(timeout=240_000)
    no_exceptions(page)
    start = page.get_by_role("button", name="Start training")
    page.wait_for_function("el => !el.disabled", arg=start.element_handle(), timeout=10_000)  # without any click
    page.get_by_role("button", name="Use this model in the app").click()
    page.get_by_text("You are using this model now.").wait_for(timeout=60_000)
    assert len(list(trained_dir.glob("fashion_cnn-*.keras"))) == 1, "saved in the trained-models folder"
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Trained here · test accuracy").wait_for()
    assert any(t.startswith("The first layer's filters at epoch 1") for t in chart_titles(page)), "the run's last snapshot"
    page.get_by_role("link", name="Watch it learn: the replay of this run").click()  # the new model's replay, as soon as it is saved
    page.get_by_text("Which classes are learnt first").wait_for(timeout=120_000)
    assert player_frame(page).locator("#title").text_content().startswith("Epoch 0 ")
    sidebar.get_by_text("Trained here · test accuracy").wait_for()
    page.get_by_role("link", name="Explorer").click()  # the session keeps using the new model on another page
    settle(page)
    sidebar.get_by_text("Trained here · test accuracy").wait_for()
    no_exceptions(page)


# Each chart's margins as its figure set them, beside those Plotly drew it with: Plotly widens a margin that cannot
# hold the chart's labels, colour bar or legend by drawing the whole chart a second time.
WIDENED_MARGINS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(chart => {
    const asked = chart.layout.margin || {}, drawn = chart._fullLayout._size;
    return {title: chart._fullLayout.title.text, widened: ['l', 'r', 't', 'b'].filter(side => Math.round(drawn[side]) > (asked[side] ?? 0))};
}).filter(chart => chart.widened.length)"""


def test_charts_are_drawn_once_without_widening_their_margins(page, app_url):
    """Home and every layer of the Explorer, with its arithmetic: each figure already leaves room for what it draws
    (figures/base.reserved_margin), so no chart is drawn twice. (Every one was, before: about twice the work.)"""
    page.goto(app_url)
    settle(page)
    wait_for_title(page, "Prediction:")
    widened = page.evaluate(WIDENED_MARGINS_JS)
    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1:")
    for name in ("pool1", "dropout1", "conv2", "pool2", "dropout2", "flatten", "dense1", "dropout3", "predictions"):
        widened += page.evaluate(WIDENED_MARGINS_JS)
        page.get_by_role("button", name="Next").click()
        wait_for_title(page, f"{name}:")
        settle(page)
    widened += page.evaluate(WIDENED_MARGINS_JS)
    assert widened == [], widened
    no_exceptions(page)


def test_click_a_feature_map_to_see_it_large(page, app_url):
    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1: 32 feature maps")
    mosaic = page.locator("[data-testid='stPlotlyChart']").filter(has_text="conv1: 32 feature maps").first
    mosaic.scroll_into_view_if_needed()
    assert mosaic.locator(".layer-above image").count() == 1, "the channel numbers are one picture over the mosaic"
    # Where the number on channel 9's map is on screen, from the chart's own axes (its marker is not drawn).
    x, y = mosaic.locator(".js-plotly-plot").evaluate("""gd => {
        const labels = gd._fullData.find(t => t.name === "channel labels"), box = gd.getBoundingClientRect();
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [box.left + xa._offset + xa.l2p(labels.x[9]), box.top + ya._offset + ya.l2p(labels.y[9])];
    }""")
    page.mouse.move(x, y)
    mosaic.locator(".hoverlayer").get_by_text("channel 9: click to see it large").wait_for()
    page.mouse.down()
    page.wait_for_timeout(100)  # a person's click
    page.mouse.up()
    page.get_by_text("Channel 9 of conv1", exact=True).wait_for(timeout=30_000)
    wait_for_title(page, "conv1: 32 feature maps")
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="conv1: 32 feature maps").first
    chart.get_by_text("channel 9 (max").wait_for()  # shown large beside the mosaic, in the same chart
    no_exceptions(page)


def test_click_a_pixel_of_the_large_map_to_see_its_arithmetic(page, app_url):
    """Every pixel of the large map is clickable (one marker drawn, the rest hit-tested from the data):
    clicking two different pixels sets the arithmetic panel's row and column to each in turn. (The browser
    sends the clicked pixel's customdata as an object, not a list: reading it as a list broke the click.)"""
    import re

    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1: 32 feature maps")
    large = page.locator("[data-testid='stPlotlyChart']").filter(has_text="click a pixel").first
    large.scroll_into_view_if_needed()
    area = large.locator(".nsewdrag[data-subplot='x2y2']").bounding_box()  # the large map, beside the mosaic
    seen = set()
    for fx, fy in ((0.45, 0.3), (0.55, 0.7)):
        page.mouse.move(area["x"] + area["width"] * fx, area["y"] + area["height"] * fy)
        page.wait_for_function("() => [...document.querySelectorAll('.hoverlayer')].some(h => /row \\d+, column \\d+/.test(h.textContent))")
        row, col = (int(v) for v in re.search(r"row (\d+), column (\d+)", large.locator(".hoverlayer").text_content()).groups())
        page.mouse.down()
        page.wait_for_timeout(100)  # a person's click; Plotly did not select on an instant down/up here
        page.mouse.up()
        page.wait_for_function(
            """([r, c]) => { const v = l => document.querySelector(`input[aria-label^="${l}"]`)?.value;
                             return v("Row") == r && v("Column") == c; }""",
            arg=[row, col],
            timeout=30_000,
        )
        seen.add((row, col))
    assert len(seen) == 2
    no_exceptions(page)


def count_script_runs(page, seconds: float) -> int:
    """How many times the app ran its script in the next ``seconds`` (each run flips the state attribute)."""
    return page.evaluate(
        """ms => new Promise(resolve => {
            const app = document.querySelector("[data-testid='stApp']");
            let runs = 0;
            const seen = new MutationObserver(() => { if (app.dataset.testScriptState === "running") runs++; });
            seen.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
            setTimeout(() => { seen.disconnect(); resolve(runs); }, ms);
        })""",
        seconds * 1000,
    )


def test_an_idle_train_tab_does_not_refresh_itself(page, app_url):
    page.goto(f"{app_url}/train")
    settle(page)
    page.get_by_role("button", name="Start training").wait_for()
    page.wait_for_timeout(1500)
    assert count_script_runs(page, 3.5) == 0, "nothing trains, so nothing should rerun every second"


def test_replay_plays_every_snapshot_in_the_browser_and_scrubs_without_a_rerun(page, app_url, shipped):
    from fashion_viz.figures.replay import PAUSE_LABEL, PLAY_LABEL
    from fashion_viz.replay.store import load_replay

    snapshots = len(load_replay(shipped.path, shipped.card.model_sha256))
    page.goto(f"{app_url}/replay")
    settle(page)
    page.get_by_text("Which classes are learnt first").first.wait_for()
    player = player_frame(page)
    assert player.locator("#title").text_content().startswith("Epoch 0 ")
    before = player.locator("#panel0").get_attribute("src")
    player.get_by_role("button", name=PLAY_LABEL).click()
    assert player.get_by_role("button", name=PAUSE_LABEL).is_visible()
    player.wait_for_function("() => window.replayShown.current > 3")
    assert player.locator("#panel0").get_attribute("src") != before, "the filters change as it plays"
    player.wait_for_function(f"() => window.replayShown.current === {snapshots - 1}", timeout=30_000)
    assert player.locator("#title").text_content().startswith("Epoch 120 ")
    player.get_by_role("button", name=PLAY_LABEL).wait_for(timeout=5_000)  # back to Play at the end
    runs = count_script_runs_while(page, lambda: player.locator("#time").fill("0"))
    assert runs == 0, "scrubbing is the browser's own: no rerun"
    assert player.locator("#title").text_content().startswith("Epoch 0 ")
    no_exceptions(page)


def count_script_runs_while(page, action, settle_ms: int = 1500) -> int:
    """How many times the app ran its script while ``action`` ran and for ``settle_ms`` after it."""
    page.evaluate("""() => {
        const app = document.querySelector("[data-testid='stApp']");
        window.__runs = 0;
        window.__watch = new MutationObserver(() => { if (app.dataset.testScriptState === "running") window.__runs++; });
        window.__watch.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
    }""")
    action()
    page.wait_for_timeout(settle_ms)
    return page.evaluate("() => { window.__watch.disconnect(); return window.__runs; }")


def test_click_a_confusion_cell_then_change_a_dropdown(page, app_url, fmnist):
    page.goto(f"{app_url}/evaluate")
    settle(page)
    wait_for_title(page, "Confusion matrix on the test set")
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Confusion matrix on the test set").first
    coat, pullover = 4, 2
    chart.locator(".scatterlayer .point").nth(coat * 10 + pullover).click(force=True)
    page.get_by_text("of class Coat classified as Pullover").wait_for(timeout=30_000)
    settle(page)
    assert page.locator("[data-testid='stImage']").count() > 0, "the cell's images are shown"
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # As a person does it: open the dropdown, type the class, Enter. Under load (this module's server is still
    # preparing the model trained above) a redraw could close the list before its option showed: a person opens it
    # again, and so does the test, at most three times.
    shirt = page.get_by_role("option", name="Shirt", exact=True)
    for _ in range(3):
        settle(page)
        page.get_by_role("combobox", name="True class").click()
        page.keyboard.type("Shirt")
        try:
            shirt.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.get_by_text("of class Shirt classified as Pullover").wait_for(timeout=30_000)
    settle(page)
    page.wait_for_timeout(1000)
    assert page.get_by_text("of class Shirt classified as Pullover").count() == 1, "the dropdown stays where the person put it"
    no_exceptions(page)


def test_why_page_for_an_uploaded_photo(page, app_url, fmnist, tmp_path):
    page.goto(f"{app_url}/why")
    settle(page)
    page.get_by_text("Upload a photo", exact=True).click()
    settle(page)
    photo = write_png(tmp_path / "shirt.png", fmnist.x_test[7])  # a shirt
    page.locator("input[type='file']").set_input_files(str(photo))
    wait_for_title(page, "Why ")
    settle(page)
    grid = page.locator("[data-testid='stPlotlyChart']").filter(has_text="each method's map over the picture").first
    for name in ("Gradient saliency", "SmoothGrad", "Integrated Gradients", "Grad-CAM", "Grad-CAM++", "Occlusion"):
        assert grid.get_by_text(name, exact=True).count() == 1, name
    page.get_by_role("heading", name="How far can each map be trusted?").wait_for()
    no_exceptions(page)


def test_explorer_channel_to_its_unit_page_then_a_photo_on_the_map(page, app_url, fmnist, tmp_path):
    """The issue's walk: conv2 channel 17 in the Explorer -> its unit page -> an uploaded photo on the map."""
    page.goto(f"{app_url}/explorer")
    settle(page)
    wait_for_title(page, "conv1:")
    for name in ("pool1", "dropout1", "conv2"):
        page.get_by_role("button", name="Next").click()
        wait_for_title(page, f"{name}:")
    settle(page)
    page.get_by_label("Channel to see large (or click a map's number)").click()
    page.keyboard.type("17")
    page.keyboard.press("Enter")
    settle(page)
    page.locator("[data-testid='stPlotlyChart']").filter(has_text="conv2: 64 feature maps").first.get_by_text("channel 17 (max").wait_for()
    page.get_by_text("What conv2 channel 17 responds to").click()
    settle(page)
    page.get_by_role("heading", name="Conv2 channel 17").wait_for()
    assert "layer=conv2" in page.url and "unit=17" in page.url
    page.get_by_text("What the model imagines for it").wait_for()
    assert page.locator("[data-testid='stImage'] img").count() >= 3
    no_exceptions(page)

    page.goto(f"{app_url}/map")
    settle(page)
    page.get_by_text("Upload a photo", exact=True).click()
    settle(page)
    photo = write_png(tmp_path / "bag.png", fmnist.x_test[11])
    page.locator("input[type='file']").set_input_files(str(photo))
    page.get_by_text("The model thinks your picture looks like these").wait_for()
    settle(page)
    assert page.locator("[data-testid='stPlotlyChart'] .legendtext", has_text="your picture").count() == 1
    no_exceptions(page)


PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
TOO_WIDE_JS = """() => {
    const width = window.innerWidth;
    const main = document.querySelector("[data-testid='stMain']") || document.body;
    const wide = [...main.querySelectorAll("[data-testid='stPlotlyChart'], [data-testid='stImage'], [data-testid='stElementContainer']")]
        .filter(e => e.getBoundingClientRect().right > width + 1 || e.getBoundingClientRect().left < -1)
        .map(e => e.getAttribute('data-testid'));
    return {scroll: main.scrollWidth, width, wide};
}"""

# Chart titles that run past their chart's edge (Plotly clips nothing: the words are lost off the side).
TITLES_CUT_JS = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart']")].flatMap(chart => {
    const box = chart.getBoundingClientRect();
    return [...chart.querySelectorAll('.gtitle')].filter(t => t.getBoundingClientRect().right > box.right + 1).map(t => t.textContent);
})"""


@pytest.mark.parametrize("path", ["", "architecture", "explorer", "why", "units", "map", "layers", "train", "replay", "evaluate"])
def test_every_page_fits_a_phone(browser, app_url, path):
    """At 390x844 (a phone, with its User-Agent) nothing is wider than the screen, no chart's title runs off it, the
    Explorer's mosaic has 4 columns instead of 8, and colour bars lie under their charts."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=PHONE_UA, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/{path}")
        settle(page)
        page.wait_for_selector("h1")
        no_exceptions(page)
        fit = page.evaluate(TOO_WIDE_JS)
        assert fit["scroll"] <= fit["width"] + 1, fit
        assert not fit["wide"], fit
        assert not page.evaluate(TITLES_CUT_JS), "long titles wrap on a phone"
        if path == "explorer":
            wait_for_title(page, "conv1: 32 feature maps")
            assert page.locator(".modebar").count() == 0, "no toolbar over the titles"
            colourbar = page.locator("[data-testid='stPlotlyChart'] .colorbar").first.bounding_box()
            assert colourbar["width"] > colourbar["height"], "the colour bar lies flat, under the chart"
    finally:
        context.close()


def write_y4m(path, picture: np.ndarray, width: int = 640, height: int = 480, frames: int = 15):
    """A short raw video (YUV4MPEG2, 4:2:0) of ``picture`` as a catalogue photo: a dark garment on white, for
    Chromium's fake camera (``--use-file-for-fake-video-capture``)."""
    from PIL import Image

    side = height - 40
    garment = 255 - np.asarray(Image.fromarray(picture).resize((side, side), Image.BILINEAR))
    luma = np.full((height, width), 250, np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    luma[top : top + side, left : left + side] = garment
    chroma = np.full((height // 2, width // 2), 128, np.uint8).tobytes()
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)
    return path


PICTURE_PAGES = ["", "explorer", "why", "map"]  # every page that takes a picture


def wait_for_answer(page, path: str, source: str, label: str | None = None) -> None:
    """The page has answered for the picture from ``source`` ("camera photo", "your drawing"): its prediction
    (of class ``label`` when given) on Home and the Explorer, its probabilities on Why, its neighbours on the Map."""
    if path in ("", "explorer"):
        wait_for_title(page, f"Prediction: {label}" if label else "Prediction:")
        assert any(source in t for t in chart_titles(page)), chart_titles(page)
    elif path == "why":
        page.get_by_text("Fool it: how little does it take to change the answer?").wait_for()
        if label:
            wait_for_title(page, f"{label} (")
    else:
        page.get_by_text("The model thinks your picture looks like these").wait_for()


@pytest.mark.parametrize("path", PICTURE_PAGES)
def test_a_camera_photo_goes_through_the_upload_pipeline(browser, app_url, fmnist, tmp_path, path):
    """Chromium's fake camera films a trouser on white; every page that takes a picture answers for the snapshot."""
    trouser = int(np.flatnonzero(fmnist.y_test == 1)[0])
    video = write_y4m(tmp_path / "trouser.y4m", fmnist.x_test[trouser])
    camera_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}",
    ])
    try:
        context = camera_browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"])
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{app_url}/{path}")
        settle(page)
        page.get_by_text("Take a photo", exact=True).click()
        settle(page)
        # As a person does, wait for the preview: a click before the camera's first frame takes no photo.
        page.wait_for_function("() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.videoWidth > 0)")
        page.get_by_role("button", name="Take Photo").click()
        wait_for_answer(page, path, "camera photo", "Trouser")
        if path == "explorer":
            page.get_by_text("How your photo became a 28x28 picture").first.wait_for()
        no_exceptions(page)
    finally:
        camera_browser.close()


@pytest.mark.parametrize("path", PICTURE_PAGES)
def test_draw_a_garment_and_the_answer_follows_each_stroke(page, app_url, path):
    """streamlit-drawable-canvas on Streamlit 1.67 in Chromium: mouse strokes reach the model after each one, on
    every page that takes a picture."""
    page.goto(f"{app_url}/{path}")
    settle(page)
    page.get_by_text("Draw one", exact=True).click()
    settle(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()

    def stroke(*points) -> None:
        x0, y0 = points[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()
        settle(page)

    stroke((0.25, 0.1), (0.75, 0.1))  # a waistband
    wait_for_answer(page, path, "your drawing")
    first = [t for t in chart_titles(page) if t.startswith("Prediction:")]
    assert count_script_runs_while(page, lambda: stroke((0.3, 0.1), (0.3, 0.95))) >= 1, "a finished stroke reruns the page"
    stroke((0.7, 0.1), (0.7, 0.95))  # two legs: a pair of trousers
    wait_for_answer(page, path, "your drawing")
    if first:  # Home and the Explorer: the prediction's title follows the drawing
        page.wait_for_function("""t => ![...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")].some(e => e.textContent === t)""", arg=first[0])
    if path == "explorer":
        page.get_by_text("How your photo became a 28x28 picture").first.wait_for()
    no_exceptions(page)
