"""Shared widgets and cached resources for the pages.

Only this module and the page scripts import streamlit; everything they show is
computed by ``fashion_viz``. Models and data are loaded once per server
(``st.cache_resource``) and used read-only; which model a session uses is that
session's own choice (``st.session_state``), so one person's choice never
changes another's view.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from fashion_viz import CLASS_NAMES
from fashion_viz.data import HOW_TO_GET, DatasetError, FashionMNIST, Sample, dataset_available, load_fashion_mnist, load_sample
from fashion_viz.figures import image_figure, probability_chart
from fashion_viz.model import SHIPPED_MODEL, LoadedModel, ModelError, list_model_files, load_checked_model, read_card
from fashion_viz.preprocessing import MAX_BYTES, UPLOAD_TYPES, ImageInputError, PreparedImage, confidence_warning, prepare_upload

PAGES = {
    "home": "app_pages/home.py",
    "architecture": "app_pages/architecture.py",
    "explorer": "app_pages/explorer.py",
    "train": "app_pages/train.py",
    "evaluate": "app_pages/evaluate.py",
}

SOURCES = ("Sample gallery", "Random test image", "Misclassified test image", "Upload a photo")


# ---------------------------------------------------------------- resources


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def _load_model(path: str, mtime: float) -> LoadedModel:
    return load_checked_model(Path(path))


@st.cache_resource(show_spinner=False, max_entries=6)
def _extractor(path: str, mtime: float):
    from fashion_viz.activations import ActivationExtractor

    return ActivationExtractor(_load_model(path, mtime).model)


def model_path() -> Path:
    """The model this session uses: its own choice, else the shipped model."""
    chosen = st.session_state.get("model_path")
    if chosen and Path(chosen).is_file():
        return Path(chosen)
    return SHIPPED_MODEL


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def current_model() -> tuple[LoadedModel | None, str | None]:
    """(model, None) or (None, message) when the session's model is missing or fails its check."""
    path = model_path()
    try:
        return _load_model(str(path), _mtime(path)), None
    except ModelError as exc:
        return None, str(exc)


def require_model() -> LoadedModel:
    """The session's checked model, or an explanation with a way to the Train page, then stop."""
    loaded, error = current_model()
    if loaded is None:
        st.error(f"The model could not be loaded. {error}")
        st.page_link(PAGES["train"], label="Train a new model", icon=":material/model_training:")
        st.stop()
    return loaded


def current_extractor():
    path = model_path()
    require_model()
    return _extractor(str(path), _mtime(path))


@st.cache_resource(show_spinner="Loading Fashion-MNIST…")
def _dataset() -> tuple[FashionMNIST | None, str | None]:
    try:
        return load_fashion_mnist(allow_download=False), None
    except DatasetError as exc:
        return None, str(exc)


def dataset() -> FashionMNIST | None:
    return _dataset()[0]


def dataset_error() -> str | None:
    return _dataset()[1]


def dataset_on_disk() -> bool:
    """Whether the dataset's files are present, without loading them (for status lines)."""
    return dataset_available()


def explain_missing_dataset(what: str) -> None:
    st.info(f"{what} needs the full Fashion-MNIST dataset, which this server does not have. {dataset_error() or HOW_TO_GET}")


@st.cache_resource
def sample() -> Sample:
    return load_sample()


@st.cache_resource(show_spinner="Classifying the test set…", max_entries=6)
def test_predictions(path: str, mtime: float) -> np.ndarray:
    """Predicted class of every test image for a model (cached per model file)."""
    from fashion_viz.training import predict_batched

    return predict_batched(_load_model(path, mtime).model, dataset().x_test).argmax(axis=1)


def current_test_predictions() -> np.ndarray:
    path = model_path()
    return test_predictions(str(path), _mtime(path))


# ---------------------------------------------------------------- sidebar


def model_label(path: Path) -> str:
    """A short name for a model file: shipped or when it was trained, and its test accuracy."""
    try:
        card = read_card(path)
    except ModelError:
        return f"{path.name} (fails its check)"
    accuracy = card.get("test_accuracy")
    score = f" · {accuracy:.1%}" if accuracy is not None else ""
    if path.resolve() == SHIPPED_MODEL.resolve():
        return f"Shipped model{score}"
    when = time.strftime("%m-%d %H:%M", time.localtime(path.stat().st_mtime)) if path.exists() else path.stem
    return f"Trained {when}{score}"


def model_sidebar() -> None:
    """Model chooser and status in the sidebar, shown on every page.

    The session's choice lives in ``st.session_state["model_path"]`` (also set
    by the Train page); the selectbox is set from it and writes back on change.
    """
    files = list_model_files()
    current = model_path().resolve()
    if current not in files:
        files.insert(0, current)  # the session's own choice stays listed even when it lives elsewhere or fails
    labels = {str(p): model_label(p) for p in files}

    def choice_changed() -> None:
        st.session_state["model_path"] = st.session_state["_model_choice"]

    st.session_state["_model_choice"] = str(current)
    with st.sidebar:
        st.markdown("### Model")
        st.selectbox(
            "Model in use",
            list(labels),
            key="_model_choice",
            on_change=choice_changed,
            format_func=labels.get,
            help="The shipped model, or one trained on the Train page. Your choice applies to your session only.",
        )
        loaded, error = current_model()
        if loaded is None:
            st.error("This model is missing or fails its check; see the page for how to retrain.")
        else:
            accuracy = loaded.test_accuracy
            score = f"test accuracy {accuracy:.2%}" if accuracy is not None else "test accuracy unknown"
            st.caption(f"{'Shipped' if loaded.shipped else 'Trained here'} · {score}")


# ---------------------------------------------------------------- image choice


@dataclass
class ChosenImage:
    """The picture a page shows and where it came from."""

    image: np.ndarray  # (28, 28) uint8
    caption: str
    label: int | None = None
    test_index: int | None = None
    prepared: PreparedImage | None = None


def _query_test_index() -> int | None:
    value = st.query_params.get("image")
    try:
        index = int(value) if value is not None else None
    except ValueError:
        return None
    return index if index is not None and 0 <= index < 10_000 else None


def _set_test_index(index: int) -> None:
    st.session_state["test_index"] = int(index)
    st.query_params["image"] = str(int(index))


def _image_for_test_index(index: int, full: bool = True) -> ChosenImage | None:
    data = dataset() if full else None
    if data is not None:
        return ChosenImage(data.x_test[index], f"test image #{index}", int(data.y_test[index]), index)
    s = sample()
    hits = np.flatnonzero(s.test_indices == index)
    if len(hits):
        i = int(hits[0])
        return ChosenImage(s.images[i], f"test image #{index}", int(s.labels[i]), index)
    return None


def upload_widget(key: str) -> ChosenImage | None:
    """File uploader with every failure turned into a message; the last good upload is kept."""
    uploaded = st.file_uploader(
        "Upload a photo of one piece of clothing",
        type=UPLOAD_TYPES,
        key=key,
        help="PNG, JPEG, WebP, GIF or BMP, up to 10 MB. Works best with one item on a plain background.",
    )
    if uploaded is None:
        return None
    data = uploaded.getvalue()
    if len(data) > MAX_BYTES:
        st.error(f"{uploaded.name} is {len(data) / 1e6:.1f} MB; the limit is 10 MB.")
        return None
    try:
        prepared = prepare_upload(data)
    except ImageInputError as exc:
        st.error(f"{uploaded.name}: {exc}")
        return None
    return ChosenImage(prepared.image, f"upload: {uploaded.name}", prepared=prepared)


def _class_indices(cls: int, limit: int = 60, full: bool = True) -> list[int]:
    """Test-set indices of one class: the first ``limit`` of the full test set, or the embedded sample's."""
    data = dataset() if full else None
    if data is not None:
        return [int(i) for i in np.flatnonzero(data.y_test == cls)[:limit]]
    s = sample()
    return [int(i) for i in s.test_indices[s.labels == cls]]


def _default_test_index() -> int:
    return _class_indices(9, full=False)[0]


def sample_gallery(key: str, full: bool = True) -> ChosenImage:
    """Pick a class, then one of its images (embedded sample, or the full test set when present).

    ``st.session_state["test_index"]`` is the one source of truth (set by these
    widgets, by the Evaluate page and by ``?image=`` links); the widgets are set
    from it on every run and write back to it through their callbacks.
    """
    current = st.session_state.get("test_index")
    chosen = _image_for_test_index(current, full) if current is not None else None
    if chosen is None:
        # Not in this gallery (e.g. a linked test image on the sample-only Home page): show a
        # default here, but leave the session's choice for the pages that can show it.
        current = _default_test_index()
        chosen = _image_for_test_index(current, full)
        if st.session_state.get("test_index") is None:
            _set_test_index(current)
    else:
        _set_test_index(current)  # keeps ?image= in the URL (a page switch clears query parameters)
    class_key, index_key = f"{key}_class", f"{key}_index"

    def class_changed() -> None:
        _set_test_index(_class_indices(st.session_state[class_key], full=full)[0])

    def index_changed() -> None:
        _set_test_index(st.session_state[index_key])

    st.session_state[class_key] = chosen.label
    st.selectbox("Class", range(len(CLASS_NAMES)), key=class_key, on_change=class_changed, format_func=lambda i: CLASS_NAMES[i])
    indices = _class_indices(chosen.label, full=full)
    if current not in indices:
        indices.insert(0, current)
    st.session_state[index_key] = current
    st.selectbox(
        f"Image ({len(indices)} of this class)",
        indices,
        key=index_key,
        on_change=index_changed,
        format_func=lambda i: f"test image #{i}",
    )
    return chosen


def image_picker(key: str, sources: tuple[str, ...] = SOURCES, full: bool = True) -> ChosenImage | None:
    """The input chooser: gallery, random, misclassified, upload. Choices survive page switches.

    ``full=False`` uses only the embedded sample, so a page can show pictures
    without loading the 55 MB dataset (the Home page, for a fast first start).
    """
    data = dataset() if full else None
    available = [s for s in sources if data is not None or s not in ("Random test image", "Misclassified test image")]
    from_url = _query_test_index()
    if from_url is not None and st.session_state.get("test_index") != from_url and "image_source" not in st.session_state:
        st.session_state["test_index"] = from_url
    saved = st.session_state.get("image_source")
    source_key = f"{key}_source"
    st.session_state["image_source"] = st.session_state[source_key] = saved if saved in available else available[0]

    def source_changed() -> None:
        st.session_state["image_source"] = st.session_state[source_key]

    source = st.radio("Input", available, key=source_key, on_change=source_changed, horizontal=True)
    if data is None and full:
        st.caption("Showing the embedded sample (200 real test images). Install the dataset for all 10,000 and for random and misclassified picks.")
    if source == "Sample gallery":
        return sample_gallery(key, full)
    if source == "Random test image":
        if st.button("Pick another random image", key=f"{key}_random", icon=":material/casino:") or st.session_state.get("test_index") is None:
            _set_test_index(int(np.random.default_rng().integers(len(data.y_test))))
        return _image_for_test_index(st.session_state["test_index"])
    if source == "Misclassified test image":
        predictions = current_test_predictions()
        wrong = [int(i) for i in np.flatnonzero(predictions != data.y_test)]
        st.caption(f"The model gets {len(wrong):,} of {len(data.y_test):,} test images wrong.")
        wrong_key = f"{key}_wrong"
        current = st.session_state.get("test_index")
        if current not in wrong:
            current = wrong[0]
            _set_test_index(current)
        st.session_state[wrong_key] = current
        st.selectbox(
            "Misclassified image",
            wrong,
            key=wrong_key,
            on_change=lambda: _set_test_index(st.session_state[wrong_key]),
            format_func=lambda i: f"#{i}: a {CLASS_NAMES[data.y_test[i]]} taken for a {CLASS_NAMES[predictions[i]]}",
        )
        return _image_for_test_index(current)
    return upload_widget(f"{key}_upload")


def open_in_explorer(test_index: int) -> None:
    """Select a test image and go to the Explorer."""
    st.session_state["image_source"] = "Sample gallery"
    _set_test_index(test_index)
    st.switch_page(PAGES["explorer"])


def prediction_panel(chosen: ChosenImage, probabilities: np.ndarray, picture, chart, key: str, picture_title: str) -> None:
    """The input picture and the probability chart in the given columns; for uploads, the
    pipeline's stages and a plain-words warning when the model is unsure."""
    with picture:
        show_figure(image_figure(chosen.image, picture_title, height=300), f"{key}_input")
    with chart:
        show_figure(probability_chart(probabilities, chosen.label), f"{key}_probabilities")
        message = confidence_warning(probabilities) if chosen.prepared is not None else None
        if message:
            st.warning(message, icon=":material/help:")
    if chosen.prepared is not None and len(chosen.prepared.stages) > 1:
        with st.expander("How the upload became a 28x28 picture", expanded=True):
            show_pipeline_stages(chosen.prepared)


def show_pipeline_stages(prepared: PreparedImage) -> None:
    """The upload pipeline's stages side by side, then its notes and warnings."""
    stages = prepared.stages
    columns = st.columns(len(stages))
    for column, (caption, array) in zip(columns, stages):
        column.image(array, caption=caption, width="stretch", clamp=True)
    for note in prepared.notes:
        st.caption(note)
    for warning in prepared.warnings:
        st.warning(warning, icon=":material/warning:")


def show_figure(fig, key: str, **kwargs):
    return st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False}, **kwargs)
