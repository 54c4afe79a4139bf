"""Every page under streamlit.testing's AppTest: no exceptions, the content a user comes for."""

import base64
import html
import json
import re

import numpy as np
import plotly.io
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import SEED_SPEC, layer_names, parse_spec
from fashion_viz.preprocessing import png_bytes
from fashion_viz.training import SCHEDULES, StepTiming, estimate_seconds, schedule_config

LAYER_NAMES = tuple(layer_names(parse_spec(SEED_SPEC)))  # the shipped model's layers

APP = str(ROOT / "app.py")


def open_page(page: str | None = None, model_path=None) -> AppTest:
    """The app opened on ``page`` (Home when None), with the session using ``model_path`` when given."""
    at = AppTest.from_file(APP, default_timeout=120)
    if model_path is not None:
        at.session_state["model_path"] = str(model_path)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def charts(at: AppTest):
    """The Plotly figures on the page, decoded as the browser would get them."""
    return [plotly.io.from_json(chart.proto.spec) for chart in at.get("plotly_chart")]


def as_array(value) -> np.ndarray:
    """A figure array as sent to the browser: plain list, or Plotly's base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).reshape(shape)
    return np.asarray(value)


def html_blocks(at: AppTest) -> list[str]:
    """The bodies of the page's ``st.html`` elements (the arithmetic panel's number grids and term bars)."""
    return [element.proto.body for element in at.get("html")]


def term_bars(at: AppTest) -> list[tuple[str, float, str]]:
    """The arithmetic panel's signed term bars: (label, value, colour), in page order."""
    rows = []
    for body in html_blocks(at):
        rows += re.findall(r"<tr title='([^']*): [^']*'>.*?data-value='([^']+)' style='[^']*background:(#\w+)'", body)
    return [(html.unescape(label), float(value), colour) for label, value, colour in rows]


def chart_titles(at: AppTest) -> list[str]:
    return [c.layout.title.text or "" for c in charts(at)]


def shows(at: AppTest, source: str) -> bool:
    """The prediction chart is about this picture ("test image #12", "upload: boot.png")."""
    return any(t.startswith("Prediction:") and t.endswith(f" · {source}") for t in chart_titles(at))


def test_home_shows_status_and_quick_classify(shipped):
    at = open_page()
    assert "Test accuracy" in [m.label for m in at.metric]
    assert any(t.startswith("Prediction:") for t in chart_titles(at))


def test_home_draws_a_sample_pictures_chart_without_calling_the_model(shipped, monkeypatch):
    """A new server's first visitor gets Home's chart from the probabilities stored in the model's card, while
    TensorFlow still loads; the numbers are the model's own (the same chart as a live call)."""
    from app_pages import resources

    live = open_page()
    live_chart = next(c for c in charts(live) if c["layout"]["title"]["text"].startswith("Prediction:"))

    def no_model_call(*args, **kwargs):
        raise AssertionError("Home called the model for a sample picture")

    monkeypatch.setattr(resources, "current_engine", no_model_call)
    monkeypatch.setattr(resources, "current_model", no_model_call)
    at = open_page()
    stored_chart = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("Prediction:"))
    assert stored_chart["layout"]["title"]["text"] == live_chart["layout"]["title"]["text"]
    np.testing.assert_allclose(as_array(stored_chart["data"][0]["x"]), as_array(live_chart["data"][0]["x"]), atol=1e-6)
    assert [m.value for m in at.metric][:2] == [m.value for m in live.metric][:2]


def test_architecture_shows_diagrams_table_and_total(shipped):
    at = open_page("architecture")
    assert len(at.get("image")) == 1, "visualkeras layered view"
    assert "Layers, output shapes and parameters" in chart_titles(at)
    table = at.dataframe[0].value
    assert list(table["layer"]) == [l.name for l in shipped.model.layers]
    assert table["parameters"].sum() == 225_034
    assert any("225,034" in m.value for m in at.markdown)
    assert len(at.expander) == 10


def _explorer_layer_title(at) -> str:
    """The title of the current layer's figure (each starts with the layer's name)."""
    return [t for t in chart_titles(at) if t.split(":")[0] in LAYER_NAMES][0]


def test_explorer_sample_then_every_layer(shipped):
    at = open_page("explorer")
    at.selectbox(key="explorer_class").set_value(3).run()
    assert not at.exception
    titles = chart_titles(at)
    assert any("true label: Dress" in t for t in titles)
    assert any(t.startswith("conv1: 32 feature maps of 26x26") for t in titles)
    seen = [_explorer_layer_title(at).split(":")[0]]
    for _ in range(9):
        at.button[1].click().run()  # Next
        assert not at.exception, [e.message for e in at.exception]
        seen.append(_explorer_layer_title(at).split(":")[0])
    assert seen == [l.name for l in shipped.model.layers]
    assert at.button[1].disabled, "Next is disabled on the last layer"
    assert "10 class probabilities" in _explorer_layer_title(at)


def test_explorer_layer_selector_and_filters(shipped):
    at = open_page("explorer")
    at.session_state["explorer_layer"] = "conv2"
    at.run()
    assert _explorer_layer_title(at).startswith("conv2: 64 feature maps of 11x11")
    mosaic = [c for c in charts(at) if c.layout.title.text.startswith("conv2")][0]
    z = as_array(mosaic.data[0].z).astype(float)
    assert np.isfinite(z).sum() == 11 * 11 * 64
    assert any(t.startswith("conv2: 64 filters of 3x3 (mean over input channels)") for t in chart_titles(at))
    at.selectbox(key="explorer_filter_in_conv2").set_value("input channel 5").run()
    assert any("weights on input channel 5" in t for t in chart_titles(at))
    at.radio(key="explorer_scale").set_value("each map its own scale").run()
    assert not at.exception


def test_explorer_upload_png(fmnist):
    at = open_page("explorer")
    at.radio(key="explorer_source").set_value("Upload a photo").run()
    image = fmnist.x_test[1]  # a pullover
    at.get("file_uploader")[0].set_value(("pullover.png", png_bytes(image), "image/png")).run()
    assert not at.exception
    titles = chart_titles(at)
    assert any(t.startswith("Prediction: Pullover") for t in titles), titles
    assert any("feature maps" in t for t in titles)


def test_explorer_broken_upload_shows_message_then_recovers(sample):
    at = open_page("explorer")
    at.radio(key="explorer_source").set_value("Upload a photo").run()
    uploader = at.get("file_uploader")[0]
    uploader.set_value(("shirt.png", b"this is not a picture", "image/png")).run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
    at.get("file_uploader")[0].set_value(("boot.png", png_bytes(sample.images[-1]), "image/png")).run()
    assert not at.error and not at.exception
    assert any(t.startswith("Prediction:") for t in chart_titles(at))


class MeasuredTiming:
    """A finished background timing of the training step (as ``resources.step_timing()`` returns it)."""

    def __init__(self, value=None, done=True, error=None):
        self.value, self.done, self.error = value, done, error


def test_train_page_offers_training_with_true_numbers(fmnist, monkeypatch):
    from app_pages import resources

    timing = StepTiming(step_s=2e-3, image_s=0.1e-3, trace_s=3.0)
    monkeypatch.setattr(resources, "step_timing", lambda: MeasuredTiming(timing))
    at = open_page("train")
    assert "Start training" in [b.label for b in at.button]
    assert [n.label for n in at.number_input] == ["Epochs"]
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "2,000 held out for validation" in text and "5,000" not in text
    assert "2-core" not in text, "no machine size in the UI"
    estimate = [c.value for c in at.caption if c.value.startswith("Estimated time")][0]
    fast = schedule_config("fast")
    assert f"about {estimate_seconds(fast, timing) / 60:.0f} minutes" in estimate, "the fast schedule by default"
    assert f"58,000 training images, 2,000 held out, batch {fast.batch_size}" in estimate
    at.select_slider[0].set_value(256).run()  # batch size: the estimate follows the widgets before training starts
    at.number_input[0].set_value(1).run()
    estimate = [c.value for c in at.caption if c.value.startswith("Estimated time")][0]
    one_epoch = estimate_seconds(schedule_config("fast", epochs=1, batch_size=256), timing)
    assert f"about {one_epoch:.0f} seconds" in estimate and "batch 256" in estimate


def test_train_page_says_it_is_timing_this_machine_until_the_estimate_is_there(fmnist, monkeypatch):
    from app_pages import resources

    pending = MeasuredTiming(done=False)
    monkeypatch.setattr(resources, "step_timing", lambda: pending)
    at = open_page("train")
    assert any(c.value.startswith("Timing a few training steps on this server") for c in at.caption)
    assert not any(c.value.startswith("Estimated time") for c in at.caption)
    pending.value, pending.done = StepTiming(step_s=2e-3, image_s=0.1e-3, trace_s=3.0), True
    at.run()
    assert any(c.value.startswith("Estimated time on this server") for c in at.caption)
    failed = MeasuredTiming(done=True, error="RuntimeError: no CPU")
    monkeypatch.setattr(resources, "step_timing", lambda: failed)
    at.run()
    assert any("No time estimate" in c.value and "no CPU" in c.value for c in at.caption)


def test_home_and_evaluate_say_how_the_accuracy_was_measured(fmnist, shipped):
    for page in (None, "evaluate"):
        at = open_page(page)
        text = " ".join(c.value for c in at.caption)
        assert "Measured on the 10,000 Fashion-MNIST test images" in text and "2,000 held-out training images" in text
        assert "round 1's choice scored 91.97% on the test set" in text, "the retraining round is told, not hidden"


def test_evaluate_page_confusion_and_cell_images(fmnist, shipped):
    at = open_page("evaluate")
    titles = chart_titles(at)
    assert "Confusion matrix on the test set" in titles and "Accuracy per class" in titles
    at.selectbox(key="eval_true").set_value(6).run()
    at.selectbox(key="eval_pred").set_value(0).run()
    assert any("of class Shirt classified as T-shirt/top" in m.value for m in at.markdown)
    explore = [b for b in at.button if b.label == "Explore"]
    assert explore
    first = int(explore[0].key.removeprefix("explore_"))
    explore[0].click().run()
    assert not at.exception
    assert shows(at, f"test image #{first}"), "the Explorer opens on the chosen image"
    assert at.query_params["image"] == str(first), "the link carries the image"


def test_corrupt_model_is_explained_with_a_way_to_train(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[2000] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model_path"] = str(model_copy)
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert not at.exception
    assert any("does not match its model card" in e.value for e in at.error)


def test_shared_link_opens_that_test_image(fmnist):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["image"] = "4321"
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert not at.exception
    assert shows(at, "test image #4321")


def test_layer_and_image_survive_a_page_switch(fmnist):
    at = open_page("explorer")
    at.selectbox(key="explorer_class").set_value(8).run()
    at.button[1].click().run()
    at.button[1].click().run()  # on dropout1
    chosen = at.session_state["test_index"]
    at.switch_page("app_pages/architecture.py")
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert shows(at, f"test image #{chosen}")
    assert any(t.startswith("dropout1:") for t in chart_titles(at))


@pytest.fixture()
def no_dataset(monkeypatch):
    """The app as on a machine without Fashion-MNIST: only the shipped model and the embedded sample."""
    from app_pages import resources
    from fashion_viz.data import HOW_TO_GET, DatasetError

    def missing(allow_download=True):
        raise DatasetError(HOW_TO_GET)

    monkeypatch.setattr(resources, "load_fashion_mnist", missing)
    monkeypatch.setattr(resources, "dataset_available", lambda: False)
    resources._dataset.clear()
    yield
    resources._dataset.clear()


@pytest.mark.parametrize("page", [None, "architecture", "explorer", "train", "evaluate", "units", "map"])
def test_every_page_works_without_the_dataset(no_dataset, page):
    at = open_page(page)
    text = " ".join(m.value for m in at.markdown) + " ".join(i.value for i in at.info) + " ".join(c.value for c in at.caption)
    if page == "train":
        assert any("apt-get install dataset-fashion-mnist" in i.value for i in at.info), "says how to get the data"
    if page == "evaluate":
        assert "Test accuracy" in [m.label for m in at.metric], "scores from the model card"
        assert any("apt-get install dataset-fashion-mnist" in i.value for i in at.info)
    if page == "explorer":
        assert [r for r in at.radio if r.key == "explorer_source"][0].options == ["Sample gallery", "Upload a photo", "Take a photo", "Draw one"]
        assert any(t.startswith("Prediction:") for t in chart_titles(at))
        assert "embedded sample" in text
    if page is None:
        assert any(t.startswith("Prediction:") for t in chart_titles(at))
    if page in ("units", "map"):
        assert any("needs the full Fashion-MNIST dataset" in i.value for i in at.info)


# ---------------------------------------------------------------- Train page, job by job


class FakeJobs:
    """Stands in for the server's training coordinator: shows the page a job in a given state."""

    def __init__(self, snapshot):
        self.job, self.started, self.cancelled = snapshot, [], 0

    def snapshot(self):
        return self.job

    def start(self, data, config, owner):
        self.started.append(config)
        return True

    def cancel(self):
        self.cancelled += 1


def fake_job(state: str, owner: str = "me", **extra):
    from fashion_viz.jobs import JobSnapshot
    from fashion_viz.training import EpochRecord, TrainConfig

    record = EpochRecord(epoch=1, loss=0.5, accuracy=0.8, val_loss=0.4, val_accuracy=0.85, seconds=8.0, learning_rate=1e-3)
    history = () if state in ("idle", "running") else (record,)
    fields = dict(state=state, config=TrainConfig(epochs=2), owner=owner, steps_per_epoch=100, epoch=0, step=40, history=history, started=0.0, finished=9.0)
    return JobSnapshot(**(fields | extra)) if state != "idle" else JobSnapshot()


@pytest.fixture()
def train_page(monkeypatch, fmnist):
    from app_pages import resources

    def open_with(job):
        jobs = FakeJobs(job)
        monkeypatch.setattr(resources, "training_jobs", lambda: jobs)
        monkeypatch.setattr(resources, "step_timing", lambda: MeasuredTiming(StepTiming(step_s=2e-3, image_s=0.1e-3, trace_s=3.0)))
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["session_id"] = "me"
        at.run()
        at.switch_page("app_pages/train.py")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at, jobs

    return open_with


def start_button(at):
    return [b for b in at.button if b.label == "Start training"][0]


def test_train_page_idle_starts_a_job(train_page):
    at, jobs = train_page(fake_job("idle"))
    assert any("No training has run" in c.value for c in at.caption)
    assert not start_button(at).disabled
    start_button(at).click().run()
    assert jobs.started == [schedule_config("fast")], "the page starts the fast schedule as it stands (ramped dropout included)"


def test_train_page_offers_other_shapes_and_refuses_a_bad_spec(train_page):
    from fashion_viz.architecture import PRESETS, SEED_SPEC, parameter_count

    at, jobs = train_page(fake_job("idle"))
    shape = at.selectbox(key="train_architecture")
    assert shape.value == "the seed" and SEED_SPEC in [c.value for c in at.code]
    assert any("225,034 weights" in c.value for c in at.caption)
    seed_estimate = next(c.value for c in at.caption if c.value.startswith("Estimated time"))
    shape.set_value("half the filters").run()
    half = PRESETS["half the filters"]
    assert any(f"{parameter_count(half):,} weights" in c.value for c in at.caption)
    assert next(c.value for c in at.caption if c.value.startswith("Estimated time")) != seed_estimate, "fewer multiply-adds, another estimate"
    start_button(at).click().run()
    assert jobs.started[-1].architecture == half
    at.selectbox(key="train_architecture").set_value("your own…").run()
    at.text_input(key="train_spec").set_value("conv16,pool,bad").run()
    assert any("'bad', is not a layer" in e.value for e in at.error) and start_button(at).disabled
    assert not any(c.value.startswith("Estimated time") for c in at.caption)
    at.text_input(key="train_spec").set_value("conv16,pool,conv48,dense64").run()
    assert not at.error and not start_button(at).disabled
    start_button(at).click().run()
    assert jobs.started[-1].architecture == "conv16,pool,conv48,flatten,dense64", "checked and written the one way"


def test_train_page_full_schedule_and_settings(train_page):
    at, jobs = train_page(fake_job("idle"))
    fast_caption = next(c.value for c in at.caption if c.value.startswith("Estimated time"))
    decay = next(s for s in at.select_slider if s.label == "Weight decay")
    assert decay.value == SCHEDULES["fast"]["weight_decay"] == 0.05
    at.get("button_group")[0].set_value("full").run()
    assert at.number_input[0].value == SCHEDULES["full"]["epochs"]
    assert not at.toggle[0].value, "the full schedule trains with the network's dropout rates throughout"
    assert next(s for s in at.select_slider if s.label == "Weight decay").value == 0.0, "the shipped model trained without it"
    full_caption = next(c.value for c in at.caption if c.value.startswith("Estimated time"))
    assert "minutes" in full_caption and full_caption != fast_caption
    at.number_input[0].set_value(5).run()
    at.toggle[0].set_value(True).run()
    next(s for s in at.select_slider if s.label == "Weight decay").set_value(0.1).run()
    start_button(at).click().run()
    assert jobs.started == [schedule_config("full", epochs=5, dropout_ramp=True, weight_decay=0.1)]


def test_train_page_running_shows_progress_and_cancels(train_page):
    at, jobs = train_page(fake_job("running"))
    assert start_button(at).disabled, "one job at a time"
    assert at.get("progress")[0].proto.text.startswith("Your training run: epoch 1 of 2, batch 40 of 100")
    assert "dropout" not in at.get("progress")[0].proto.text, "a run without the ramp says nothing of it"
    [b for b in at.button if b.label == "Cancel training"][0].click().run()
    assert jobs.cancelled == 1


def test_train_page_follows_a_running_jobs_filters_as_they_grow(train_page):
    filters = np.random.default_rng(0).normal(size=(3, 3, 1, 32)).astype(np.float32)
    at, _ = train_page(fake_job("running", first_filters=filters, filters_epoch=0.25))
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert any(t.startswith("The first layer's filters at epoch 0.25") for t in titles), titles
    shown = next(c for c in charts if c["layout"]["title"]["text"].startswith("The first layer's filters"))["data"][0]["z"]
    assert shown, "the snapshot's weights are drawn"


def test_train_page_says_how_far_the_dropout_ramp_has_risen(train_page):
    from fashion_viz.training import TrainConfig

    at, _ = train_page(fake_job("running", config=TrainConfig(epochs=5, dropout_ramp=True), epoch=2))
    assert at.get("progress")[0].proto.text.endswith("epoch 3 of 5, batch 40 of 100; dropout at 50% of its rates")


def test_train_page_someone_elses_run_cannot_be_cancelled(train_page):
    at, _ = train_page(fake_job("running", owner="someone else"))
    assert at.get("progress")[0].proto.text.startswith("Someone else's training run")
    assert "Cancel training" not in [b.label for b in at.button]


def test_train_page_cancelled_and_failed(train_page):
    at, _ = train_page(fake_job("cancelled"))
    assert any("cancelled; nothing was saved" in i.value for i in at.info)
    assert not start_button(at).disabled
    at, _ = train_page(fake_job("failed", error="ValueError: out of memory"))
    assert any("Training failed: ValueError: out of memory" in e.value for e in at.error)


def test_train_page_done_then_use_this_model(train_page, model_copy):
    at, _ = train_page(fake_job("done", model_path=model_copy, test_accuracy=0.91))
    assert any("test accuracy **91.00%**" in s.value for s in at.success)
    assert not start_button(at).disabled
    assert [m.label for m in at.metric][:3] == ["Training loss", "Training accuracy", "Validation accuracy"]
    [b for b in at.button if b.label == "Use this model in the app"][0].click().run()
    assert not at.exception
    assert at.session_state["model_path"] == str(model_copy)
    assert any("You are using this model now." in c.value for c in at.caption)
    assert any(c.value.startswith("Trained here") for c in at.sidebar.caption), "the session's model switched"


# ---------------------------------------------------------------- choices survive what a person does


def test_home_does_not_reset_the_explorers_input_source(fmnist):
    at = open_page("explorer")
    at.radio(key="explorer_source").set_value("Random test image").run()
    at.switch_page("app_pages/home.py")
    at.run()
    assert at.radio(key="home_source").value == "Sample gallery", "Home offers no random pick, so it shows its gallery"
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert at.radio(key="explorer_source").value == "Random test image"


def test_last_good_upload_is_kept_after_a_bad_file_and_a_page_switch(sample):
    at = open_page("explorer")
    at.radio(key="explorer_source").set_value("Upload a photo").run()
    at.get("file_uploader")[0].set_value(("boot.png", png_bytes(sample.images[-1]), "image/png")).run()
    assert shows(at, "upload: boot.png")
    at.get("file_uploader")[0].set_value(("broken.png", b"not a picture", "image/png")).run()
    assert any("broken.png" in e.value and "last good upload" in e.value for e in at.error)
    assert shows(at, "upload: boot.png"), "the good picture is still shown"
    at.switch_page("app_pages/architecture.py")
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert shows(at, "upload: boot.png"), "kept across a page switch"


def test_chosen_channel_survives_a_layer_with_fewer_channels(shipped):
    at = open_page("explorer")
    at.session_state["explorer_layer"] = "conv2"
    at.run()
    at.selectbox(key="explorer_channel_conv2").set_value(50).run()
    for _ in range(3):  # back to conv1, which has 32 channels
        at.button[0].click().run()
    assert _explorer_layer_title(at).startswith("conv1")
    assert at.selectbox(key="explorer_channel_conv1").value == 31
    assert any("Your channel 50 is not among this layer's 32" in c.value for c in at.caption)
    for _ in range(3):
        at.button[1].click().run()
    assert at.selectbox(key="explorer_channel_conv2").value == 50, "the choice came back"


def test_a_deleted_chosen_model_is_said_not_hidden(model_copy):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model_path"] = str(model_copy)
    at.run()
    assert any(c.value.startswith("Trained here") for c in at.sidebar.caption)
    model_copy.unlink()
    at.run()
    assert not at.exception
    assert any(model_copy.name in w.value and "no longer on this server" in w.value for w in at.sidebar.warning)


# ---------------------------------------------------------------- the arithmetic panel


def test_arithmetic_panel_on_every_layer_agrees_with_the_model(shipped):
    at = open_page("explorer")
    seen = []
    for _ in range(10):
        checks = [c.value for c in at.caption if "recomputed here" in c.value]
        assert checks and checks[0].startswith("✓"), checks
        seen.append(_explorer_layer_title(at).split(":")[0])
        if len(seen) < 10:
            at.button[1].click().run()
            assert not at.exception, [e.message for e in at.exception]
    assert seen == list(LAYER_NAMES)


def test_arithmetic_panel_conv2_sum_pool_note_and_dropout_modes(shipped):
    at = open_page("explorer")
    at.session_state["explorer_layer"] = "conv2"
    at.session_state["calc_row"], at.session_state["calc_col"] = 4, 5
    at.run()
    assert any(t.startswith("conv2[4, 5, ") and "what each of the 32 input channels adds" in t for t in chart_titles(at))
    assert any("the 32 partial sums" in m.value and "ReLU" in m.value for m in at.markdown)
    at.session_state["explorer_layer"] = "pool2"
    at.run()
    assert any("last 1 row(s) and 1 column(s)" in c.value for c in at.caption), "11x11 -> 5x5 drops a row and a column"
    at.session_state["explorer_layer"] = "dropout3"
    at.run()
    at.toggle(key="calc_dropout_training").set_value(True).run()
    assert any(t.startswith("Under this mask:") for t in chart_titles(at))
    assert any("multiplies them by **2.00**" in m.value for m in at.markdown), "1 / (1 - 0.5)"
    at.toggle(key="calc_dropout_mc").set_value(True).run()
    assert "How the prediction wobbles over 50 dropout masks" in chart_titles(at)
    assert not at.exception


def test_arithmetic_panel_softmax_table_and_temperature(shipped):
    at = open_page("explorer")
    at.session_state["explorer_layer"] = "predictions"
    at.run()
    table = at.table[0].value
    assert list(table["class"]) == list(CLASS_NAMES)
    assert table["probability = exp / sum"].sum() == pytest.approx(1.0, abs=1e-6)
    assert not any(t.startswith("softmax(logits / T)") for t in chart_titles(at)), "at T = 1 the layer's chart already shows it"
    at.slider(key="calc_temperature").set_value(3.0).run()
    assert "softmax(logits / T) at T = 3" in chart_titles(at)


# ---------------------------------------------------------------- the Why page


def test_why_page_maps_contrast_and_what_if(shipped, sample):
    at = open_page("why")
    titles = chart_titles(at)
    assert any(t.startswith("Why ") and "each method's map over the picture" in t for t in titles)
    grid = [c for c in charts(at) if c.layout.title.text.startswith("Why ")][0]
    assert [t.name for t in grid.data if t.name] == ["Gradient saliency", "SmoothGrad", "Integrated Gradients", "Grad-CAM", "Grad-CAM++", "Occlusion"]
    assert any("Integrated Gradients used" in c.value for c in at.caption)
    at.selectbox(key="why_contrast_class").set_value(0).run()
    assert any("rather than T-shirt/top" in t for t in chart_titles(at))
    at.multiselect(key="why_off_conv2").set_value(list(range(64))).run()
    assert not at.exception
    sentence = [i.value for i in at.info if i.value.startswith("Without conv2 channels 0, 1, 2") and "and 56 more" in i.value]
    assert sentence, "the what-if says what changed"
    assert "Before and after your changes" in chart_titles(at)
    at.slider(key="why_rotate").set_value(45).run()
    assert any("rotated +45°" in i.value for i in at.info)


def test_explorer_links_to_why_with_the_same_picture(fmnist):
    at = open_page("explorer")
    at.selectbox(key="explorer_class").set_value(6).run()
    chosen = at.session_state["test_index"]
    at.switch_page("app_pages/why.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="why_index").value == chosen


def test_arithmetic_panel_dense_and_logit_terms_are_the_largest_products(shipped):
    """dense1 and the logits list their largest input x weight terms as bars, each the product its label prints."""
    at = open_page("explorer")
    for layer, count, title in (("dense1", 12, "The 12 largest of the 1,600 input x weight terms"), ("predictions", 10, "logit: the 10 largest of 128 terms")):
        at.session_state["explorer_layer"] = layer
        at.run()
        assert not at.exception
        assert any(title in body for body in html_blocks(at)), layer
        bars = term_bars(at)
        assert len(bars) == count, layer
        sizes = [abs(v) for _, v, _ in bars]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0, "largest first"
        for label, value, _ in bars:
            x, w = (float(n) for n in re.search(r": (-?[\d.]+) x ([+-][\d.]+)$", label).groups())
            assert value == pytest.approx(x * w, abs=2e-3 * max(1.0, abs(x))), label


def test_arithmetic_panel_flatten_maps_both_ways(shipped):
    at = open_page("explorer")
    at.session_state["explorer_layer"] = "flatten"
    at.run()
    at.number_input(key="calc_flat_row").set_value(2).run()
    at.number_input(key="calc_flat_col").set_value(3).run()
    at.number_input(key="calc_flat_channel").set_value(17).run()
    assert at.session_state["calc_unit"] == 2 * 320 + 3 * 64 + 17
    assert any(m.value.startswith("Unit 849 is row 2, column 3, channel 17") for m in at.markdown)


# ---------------------------------------------------------------- Units and Map pages


def test_units_page_from_a_link_shows_the_unit(fmnist, shipped):
    from fashion_viz.explain.precompute import stored_views

    atlas = stored_views(shipped.path, shipped.card.model_sha256).atlas
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["layer"], at.query_params["unit"] = "conv2", "17"
    at.run()
    at.switch_page("app_pages/units.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [h.value for h in at.subheader] == ["Conv2 channel 17"]
    row = atlas.row("conv2", 17)
    images = at.get("image")
    assert len(images) == 3, "the visualisation and two exemplar strips"
    captions = " ".join(c.value for c in at.caption)
    for index in atlas.top[row]:
        assert f"#{index} " in captions
    assert f"reaches **{atlas.act_max_reached[row]:.2f}**" in captions
    titles = chart_titles(at)
    assert "What it votes for" in titles and "Mean per true class" in titles
    votes = charts(at)[titles.index("What it votes for")]
    np.testing.assert_allclose(as_array(votes.data[0].x), atlas.votes[row], rtol=1e-5)
    # the next channel, and the address follows
    [b for b in at.button if b.help == "next unit"][0].click().run()
    assert [h.value for h in at.subheader] == ["Conv2 channel 18"]
    assert at.query_params["unit"] == "18"


def test_units_page_class_feeders_lead_to_dense_units(fmnist):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["layer"], at.query_params["unit"] = "predictions", "1"
    at.run()
    at.switch_page("app_pages/units.py")
    at.run()
    assert [h.value for h in at.subheader] == ["Class 1 (trouser)"]
    assert "dense1 units that feed Trouser most" in chart_titles(at)
    feeder = [b for b in at.button if b.label.startswith("unit ")][0]
    unit = int(feeder.label.split()[1])
    feeder.click().run()
    assert [h.value for h in at.subheader] == [f"Dense1 unit {unit}"]
    # conv1: the kernel is the whole story
    at.query_params["layer"], at.query_params["unit"] = "conv1", "4"
    at.run()
    assert [h.value for h in at.subheader] == ["Conv1 channel 4"]
    assert any("kernel is the whole story" in m.value for m in at.markdown)
    assert "conv1 filter 4" in chart_titles(at)


@pytest.mark.slow
def test_units_page_waits_for_a_model_being_prepared(model_copy, fmnist, monkeypatch):
    """A model without stored views: the page starts the background job and shows its progress, no error."""
    from app_pages import resources
    from fashion_viz.jobs import PreparationJobs

    jobs = PreparationJobs(method="pca", steps=5, probe_sizes=(500, 500))
    monkeypatch.setattr(resources, "preparation_jobs", lambda: jobs)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model_path"] = str(model_copy)
    at.run()
    at.switch_page("app_pages/units.py")
    at.run()
    assert not at.exception
    assert any("Preparing this model's unit pictures, map and layer trials" in p.proto.text for p in at.get("progress"))
    from fashion_viz.storage import file_sha256

    assert jobs.wait(file_sha256(model_copy), timeout=240).state == "done"
    at.run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Conv2 channel 0"]


def test_map_page_places_the_picture_among_its_neighbours(fmnist, shipped, engine):
    from fashion_viz.explain.embedding import NeighbourIndex, map_features, place
    from fashion_viz.explain.precompute import stored_views
    from fashion_viz.figures.map import MAP_TRACE_MISCLASSIFIED, MAP_TRACE_PICTURE

    at = open_page("map")
    at.selectbox(key="map_class").set_value(4).run()
    chosen = at.session_state["test_index"]
    figure = [c for c in charts(at) if c.layout.title.text.startswith("The test set as the model sees it")][0]
    traces = {t.name: t for t in figure.data}
    emap = stored_views(shipped.path, shipped.card.model_sha256).embedding
    features = map_features(engine, fmnist.x_test)
    expected = place(NeighbourIndex(features), emap.xy, features[chosen], exclude=np.array([chosen]))[0]
    star = traces[MAP_TRACE_PICTURE]
    assert star.type == "scattergl", "WebGL points are drawn above SVG traces: an SVG star would be hidden under them"
    assert (star.x[0], star.y[0]) == pytest.approx(tuple(expected.xy), abs=1e-3)
    captions = [c.value for c in at.caption]
    assert any(all(f"#{i} " in c for i in expected.neighbours) for c in captions)
    assert any("of its 10 nearest test pictures are" in m.value for m in at.markdown)
    points = sum(len(as_array(t.x)) for name, t in traces.items() if name in CLASS_NAMES)
    assert points == 10_000
    wrong = len(as_array(traces[MAP_TRACE_MISCLASSIFIED].x))
    assert 600 < wrong < 800, "the shipped model's misclassified test pictures are ringed"
    # filters: only misclassified coats
    at.multiselect(key="map_classes_widget").set_value([4]).run()
    at.radio(key="map_show_widget").set_value("misclassified").run()
    figure = [c for c in charts(at) if c.layout.title.text.startswith("The test set as the model sees it")][0]
    shown = {t.name: len(as_array(t.x)) for t in figure.data if t.name in CLASS_NAMES}
    assert set(k for k, v in shown.items() if v) == {"Coat"} and 50 < shown["Coat"] < 200


def test_map_page_clicked_dot_opens_in_the_explorer(fmnist):
    at = open_page("map")
    at.session_state["map_selected"] = 123
    at.run()
    assert any("Test image **#123**" in m.value for m in at.markdown)
    at.button(key="map_open").click().run()
    assert not at.exception
    assert shows(at, "test image #123")


def test_warmup_loads_the_model_then_freezes_the_heap(shipped):
    """The server's warm-up thread loads TensorFlow and the model, then freezes the heap: with ~430,000 objects
    under the collector, full collections took 200-300 ms and ran about twice per upload (the browser bench's
    upload and layer-step figures doubled)."""
    import gc

    from app_pages import resources

    resources.start_warmup.clear()  # an earlier AppTest run may have started (and frozen) it already
    gc.unfreeze()
    try:
        thread = resources.start_warmup()
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert gc.get_freeze_count() > 50_000
        assert resources.start_warmup() is thread  # once per server
    finally:
        gc.unfreeze()


def test_a_finished_run_leaves_keras_and_tensorflow_caches_alone(shipped):
    """Streamlit calls ``keras.backend.clear_session()`` after every run of an app that has imported Keras. That
    emptied TensorFlow's kernel cache, so the first model call of every run re-optimised its graph (50-100 ms on
    each upload, 3-5 ms cached). The app turns it off: after its run, Streamlit's clean-up keeps Keras' state
    (seen here in its layer-name counter, which clear_session resets)."""
    import re

    import keras
    from streamlit.runtime.scriptrunner import script_runner

    at = open_page("explorer")
    assert not at.exception

    def counter(name: str) -> int:
        match = re.fullmatch(r"dense(?:_(\d+))?", name)
        return int(match.group(1) or 0)

    before = counter(keras.layers.Dense(2).name)
    script_runner._clean_problem_modules()  # what Streamlit runs after each script run
    assert counter(keras.layers.Dense(2).name) == before + 1


def test_a_socket_closed_by_the_server_ends_streamlits_websocket_loop_quietly():
    """Streamlit's loop reads with receive_bytes and took Starlette's error for a socket already closed on the
    server's side for a text frame, closing it again and logging two tracebacks (a browser leaving mid-send, in the
    cold-start stress). After the app's patch that read is a disconnect, the one thing the loop ends on; an open
    socket still reads its frames."""
    import asyncio

    from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

    from app_pages import resources

    resources.end_websocket_loops_on_closed_sockets()
    resources.end_websocket_loops_on_closed_sockets()  # idempotent: app.py calls it on every run

    async def receive():
        return {"type": "websocket.receive", "bytes": b"frame"}

    socket = WebSocket({"type": "websocket", "path": "/_stcore/stream", "headers": []}, receive=receive, send=None)
    socket.client_state = socket.application_state = WebSocketState.CONNECTED
    assert asyncio.run(socket.receive_bytes()) == b"frame"
    socket.application_state = WebSocketState.DISCONNECTED
    with pytest.raises(WebSocketDisconnect):
        asyncio.run(socket.receive_bytes())


def test_a_run_whose_uploader_emptied_for_the_next_file_waits_for_that_file(monkeypatch):
    """A browser's request for upload URLs is noted for its session (and still answered); a run with an empty
    uploader then waits until Streamlit's yield check ends it for the run that brings the file, or gives up after
    UPLOAD_WAIT_S; without such a request it goes on at once."""
    import time

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.scriptrunner_utils import script_run_context
    from streamlit.runtime.scriptrunner_utils.exceptions import RerunException

    from app_pages import resources

    resources.note_upload_requests()
    resources.note_upload_requests()  # idempotent: app.py calls it on every run

    class Session:
        id = "a-session"
        _uploaded_file_mgr = MemoryUploadedFileManager("/_stcore/upload_file")
        sent = []

        def _enqueue_forward_msg(self, msg):
            self.sent.append(msg)

    request = BackMsg().file_urls_request
    request.request_id, request.file_names[:] = "r1", ["second.png"]
    monkeypatch.setattr(resources, "_session_id", lambda: Session.id)
    checks = []

    def rerun_on_third_check():
        checks.append(time.monotonic())
        if len(checks) == 3:
            raise RerunException(None)

    monkeypatch.setattr(script_run_context, "get_run_yield_check", lambda: rerun_on_third_check)
    started = time.monotonic()
    resources.wait_for_requested_upload()  # nothing requested yet: no wait
    assert not checks
    AppSession._handle_file_urls_request(Session(), request)
    assert Session.sent[0].file_urls_response.file_urls[0].upload_url.startswith("/_stcore/upload_file/a-session/")
    with pytest.raises(RerunException):
        resources.wait_for_requested_upload()
    assert len(checks) == 3 and time.monotonic() - started < 1

    monkeypatch.setattr(script_run_context, "get_run_yield_check", lambda: lambda: None)
    monkeypatch.setattr(resources, "UPLOAD_WAIT_S", 0.2)
    started = time.monotonic()
    resources.wait_for_requested_upload()  # the file never came: the run goes on after UPLOAD_WAIT_S
    assert 0.1 < time.monotonic() - started < 1.5
    started = time.monotonic()
    resources.wait_for_requested_upload()  # and that request is forgotten
    assert time.monotonic() - started < 0.05


def test_a_page_that_needs_the_model_waits_for_the_warm_up_instead_of_loading_beside_it(shipped, monkeypatch):
    """Only the warm-up thread imports TensorFlow: the Explorer, opened while it runs, waits for it (showing the
    seconds) and loads its model only once it has finished, then draws its charts."""
    import threading
    import time

    from app_pages import resources

    finished = {}

    def slow_warmup():
        time.sleep(1.5)
        finished["at"] = time.monotonic()

    thread = threading.Thread(target=slow_warmup, daemon=True)
    thread.started_at = time.monotonic()
    thread.start()
    monkeypatch.setattr(resources, "start_warmup", lambda: thread)
    loads = []
    real_load = resources._load_model
    monkeypatch.setattr(resources, "_load_model", lambda identity: (loads.append(time.monotonic()), real_load(identity))[1])
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert not at.exception
    assert loads and min(loads) >= finished["at"], "the model was loaded only after the warm-up ended"
    assert any(t.startswith("Prediction:") for t in chart_titles(at))
    assert not [i for i in at.info if "Loading TensorFlow" in i.value], "the progress note is gone once the model is there"
