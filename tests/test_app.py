"""Every page under streamlit.testing's AppTest: no exceptions, the content a user comes for."""

import base64

import numpy as np
import plotly.io
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from fashion_viz.model import LAYER_NAMES
from fashion_viz.preprocessing import png_bytes

APP = str(ROOT / "app.py")


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
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


def chart_titles(at: AppTest) -> list[str]:
    return [c.layout.title.text or "" for c in charts(at)]


def test_home_shows_status_and_quick_classify(shipped):
    at = open_page()
    assert "Test accuracy" in [m.label for m in at.metric]
    assert any(t.startswith("Prediction:") for t in chart_titles(at))


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


def test_train_page_offers_training(fmnist):
    at = open_page("train")
    assert "Start training" in [b.label for b in at.button]
    assert [n.label for n in at.number_input] == ["Epochs"]


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
    assert f"Input: test image #{first}" in chart_titles(at), "the Explorer opens on the chosen image"
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
    assert "Input: test image #4321" in chart_titles(at)


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
    assert f"Input: test image #{chosen}" in chart_titles(at)
    assert any(t.startswith("dropout1:") for t in chart_titles(at))


@pytest.fixture()
def no_dataset(monkeypatch):
    """The app as on a machine without Fashion-MNIST: only the shipped model and the embedded sample."""
    from app_pages import ui
    from fashion_viz.data import HOW_TO_GET, DatasetError

    def missing(allow_download=True):
        raise DatasetError(HOW_TO_GET)

    monkeypatch.setattr(ui, "load_fashion_mnist", missing)
    monkeypatch.setattr(ui, "dataset_available", lambda: False)
    ui._dataset.clear()
    yield
    ui._dataset.clear()


@pytest.mark.parametrize("page", [None, "architecture", "explorer", "train", "evaluate"])
def test_every_page_works_without_the_dataset(no_dataset, page):
    at = open_page(page)
    text = " ".join(m.value for m in at.markdown) + " ".join(i.value for i in at.info) + " ".join(c.value for c in at.caption)
    if page == "train":
        assert any("apt-get install dataset-fashion-mnist" in i.value for i in at.info), "says how to get the data"
    if page == "evaluate":
        assert "Test accuracy" in [m.label for m in at.metric], "scores from the model card"
        assert any("apt-get install dataset-fashion-mnist" in i.value for i in at.info)
    if page == "explorer":
        assert [r for r in at.radio if r.key == "explorer_source"][0].options == ["Sample gallery", "Upload a photo"]
        assert any(t.startswith("Prediction:") for t in chart_titles(at))
        assert "embedded sample" in text
    if page is None:
        assert any(t.startswith("Prediction:") for t in chart_titles(at))
