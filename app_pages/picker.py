"""Choosing the picture a page shows: the gallery, a random or misclassified test image, an upload, a camera photo or a drawing.

Choices live in session state (``state.TEST_INDEX``, ``state.IMAGE_SOURCE``,
``state.LAST_UPLOAD``, ``state.LAST_CAMERA``) and survive page switches; widgets are set from them on
every run and write back only through their callbacks, so showing a page never
changes a choice made on another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app_pages import resources, state
from fashion_viz import CLASS_NAMES
from fashion_viz.palette import BLACK, WHITE
from fashion_viz.preprocessing import MAX_BYTES, UPLOAD_TYPES, ImageInputError, PreparedImage, prepare_upload

GALLERY, RANDOM, MISCLASSIFIED = "Sample gallery", "Random test image", "Misclassified test image"
UPLOAD, CAMERA, DRAW = "Upload a photo", "Take a photo", "Draw one"
SOURCES = (GALLERY, RANDOM, MISCLASSIFIED, UPLOAD, CAMERA, DRAW)
CANVAS_PX = 280  # the drawing canvas: 10 screen pixels for each of the model's 28
NEEDS_DATASET = (RANDOM, MISCLASSIFIED)


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


def set_test_index(index: int) -> None:
    st.session_state[state.TEST_INDEX] = int(index)
    st.query_params["image"] = str(int(index))


def _image_for_test_index(index: int, full: bool = True) -> ChosenImage | None:
    data = resources.dataset() if full else None
    if data is not None:
        return ChosenImage(data.x_test[index], f"test image #{index}", int(data.y_test[index]), index)
    s = resources.sample()
    hits = np.flatnonzero(s.test_indices == index)
    if len(hits):
        i = int(hits[0])
        return ChosenImage(s.images[i], f"test image #{index}", int(s.labels[i]), index)
    return None


def upload_widget(key: str) -> ChosenImage | None:
    """File uploader with every failure turned into a message.

    The last good upload is kept (``state.LAST_UPLOAD``): a bad file shows its
    message above it, and an empty uploader (after a page switch, or the x) shows
    it again, saying so. Choosing a new file first empties the uploader for one run:
    forgetting the upload then emptied the whole page and drew it again for every new file,
    and that run now waits for the new file instead (``resources.wait_for_requested_upload``).
    """
    uploaded = st.file_uploader(
        "Upload a photo of one piece of clothing",
        type=UPLOAD_TYPES,
        key=key,
        help="PNG, JPEG, WebP, GIF or BMP, up to 10 MB. Works best with one item on a plain background.",
    )
    if uploaded is None:
        resources.wait_for_requested_upload()  # emptied for the next file: its run comes instead of this one
        kept = st.session_state.get(state.LAST_UPLOAD)
        if kept is not None:
            st.caption(f"Showing your last upload, {kept.caption.removeprefix('upload: ')}.")
        return kept
    resources.upload_arrived()
    return _prepared_photo(uploaded.name, uploaded.getvalue(), f"upload: {uploaded.name}", state.LAST_UPLOAD, "upload")


def camera_widget(key: str) -> ChosenImage | None:
    """The browser's camera; the snapshot goes through the upload pipeline. The last good photo is kept like an
    upload, and "Clear photo" forgets it."""

    def camera_changed() -> None:
        if st.session_state.get(key) is None:
            st.session_state.pop(state.LAST_CAMERA, None)

    shot = st.camera_input(
        "Take a photo of one piece of clothing", key=key, on_change=camera_changed,
        help="One garment on a plain background, filling most of the frame. Browsers give the camera only to pages "
        "served over https:// or from localhost.",
    )
    if shot is None:
        kept = st.session_state.get(state.LAST_CAMERA)
        if kept is not None:
            st.caption("Showing your last photo.")
        return kept
    return _prepared_photo("Your photo", shot.getvalue(), "camera photo", state.LAST_CAMERA, "photo")


def drawing_widget(key: str) -> ChosenImage | None:
    """A canvas to draw a garment on, white on black as the training pictures are. Each finished stroke goes
    through the upload pipeline (its stages show the 28x28 picture the model gets, where a thin stroke can vanish)."""
    from streamlit_drawable_canvas import st_canvas

    canvas = st.container()  # above the brush controls, which it needs first: the canvas's toolbar sits on its top edge
    brush, eraser = st.columns([2, 1], vertical_alignment="bottom")
    width = brush.slider("Brush (screen pixels; 10 make one of the model's pixels)", 4, 40, 18, key=state.widget_key(key, "brush"))
    erasing = eraser.toggle("Eraser", key=state.widget_key(key, "eraser"))
    with canvas:
        st.caption("Draw one piece of clothing, filling most of the square. Undo, redo and clear are in the toolbar above it.")
        st.space(28)  # the canvas's toolbar floats above its top edge
        drawn = st_canvas(
            stroke_width=width, stroke_color=BLACK if erasing else WHITE, background_color=BLACK,
            width=CANVAS_PX, height=CANVAS_PX, drawing_mode="freedraw", return_image_data=True, key=key,
        )
    if drawn.image_data is None or not np.asarray(drawn.image_data)[..., :3].any():
        st.caption("Draw a garment with the mouse or a finger: the model answers after each stroke.")
        return None
    return _prepared_photo("Your drawing", drawn.image_bytes, "your drawing", state.LAST_DRAWING, "drawing")


def _prepared_photo(name: str, data: bytes, caption: str, kept_key: str, noun: str) -> ChosenImage | None:
    """A picture's bytes through the upload pipeline; a failure is a message above the last good one (a ``noun``), kept under ``kept_key``."""
    kept = st.session_state.get(kept_key)
    try:
        if len(data) > MAX_BYTES:
            raise ImageInputError(f"The file is {len(data) / 1e6:.1f} MB; the limit is 10 MB.")
        prepared = prepare_upload(data)
    except ImageInputError as exc:
        st.error(f"{name}: {exc}" + (f" Still showing your last good {noun}." if kept is not None else ""))
        return kept
    chosen = ChosenImage(prepared.image, caption, prepared=prepared)
    st.session_state[kept_key] = chosen
    return chosen


def _class_indices(cls: int, limit: int = 60, full: bool = True) -> list[int]:
    """Test-set indices of one class: the first ``limit`` of the full test set, or the embedded sample's."""
    data = resources.dataset() if full else None
    if data is not None:
        return [int(i) for i in np.flatnonzero(data.y_test == cls)[:limit]]
    s = resources.sample()
    return [int(i) for i in s.test_indices[s.labels == cls]]


def _default_test_index() -> int:
    return _class_indices(9, full=False)[0]


def sample_gallery(key: str, full: bool = True) -> ChosenImage:
    """Pick a class, then one of its images (embedded sample, or the full test set when present).

    ``state.TEST_INDEX`` is the one source of truth (set by these widgets, by the
    Evaluate page and by ``?image=`` links).
    """
    current = st.session_state.get(state.TEST_INDEX)
    chosen = _image_for_test_index(current, full) if current is not None else None
    if chosen is None:
        # Not in this gallery (e.g. a linked test image on the sample-only Home page): show a
        # default here, but leave the session's choice for the pages that can show it.
        current = _default_test_index()
        chosen = _image_for_test_index(current, full)
        if st.session_state.get(state.TEST_INDEX) is None:
            set_test_index(current)
    else:
        set_test_index(current)  # keeps ?image= in the URL (a page switch clears query parameters)
    class_key, index_key = state.widget_key(key, "class"), state.widget_key(key, "index")

    def class_changed() -> None:
        set_test_index(_class_indices(st.session_state[class_key], full=full)[0])

    def index_changed() -> None:
        set_test_index(st.session_state[index_key])

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


def _misclassified(key: str, data) -> ChosenImage:
    predictions = resources.current_test_predictions()
    wrong = [int(i) for i in np.flatnonzero(predictions != data.y_test)]
    st.caption(f"The model gets {len(wrong):,} of {len(data.y_test):,} test images wrong.")
    wrong_key = state.widget_key(key, "wrong")
    current = st.session_state.get(state.TEST_INDEX)
    if current not in wrong:
        current = wrong[0]
        set_test_index(current)
    st.session_state[wrong_key] = current
    st.selectbox(
        "Misclassified image",
        wrong,
        key=wrong_key,
        on_change=lambda: set_test_index(st.session_state[wrong_key]),
        format_func=lambda i: f"#{i}: a {CLASS_NAMES[data.y_test[i]]} taken for a {CLASS_NAMES[predictions[i]]}",
    )
    return _image_for_test_index(current)


def image_picker(key: str, sources: tuple[str, ...] = SOURCES, full: bool = True) -> ChosenImage | None:
    """The input chooser: gallery, random, misclassified, upload, camera, drawing. Choices survive page switches.

    ``full=False`` uses only the embedded sample, so a page can show pictures
    without loading the 55 MB dataset (the Home page, for a fast first start).
    A page that offers fewer sources shows its first one when the session's
    source is not among them, without changing the session's choice.
    """
    data = resources.dataset() if full else None
    available = [s for s in sources if data is not None or s not in NEEDS_DATASET]
    from_url = _query_test_index()
    if from_url is not None and st.session_state.get(state.TEST_INDEX) != from_url and state.IMAGE_SOURCE not in st.session_state:
        st.session_state[state.TEST_INDEX] = from_url
    saved = st.session_state.get(state.IMAGE_SOURCE)
    source_key = state.widget_key(key, "source")
    st.session_state[source_key] = saved if saved in available else available[0]

    def source_changed() -> None:
        st.session_state[state.IMAGE_SOURCE] = st.session_state[source_key]

    source = st.radio("Input", available, key=source_key, on_change=source_changed, horizontal=True)
    if data is None and full:
        st.caption("Showing the embedded sample (200 real test images). Install the dataset for all 10,000 and for random and misclassified picks.")
    if source == GALLERY:
        return sample_gallery(key, full)
    if source == RANDOM:
        if st.button("Pick another random image", key=state.widget_key(key, "random"), icon=":material/casino:") or st.session_state.get(state.TEST_INDEX) is None:
            set_test_index(int(np.random.default_rng().integers(len(data.y_test))))
        return _image_for_test_index(st.session_state[state.TEST_INDEX])
    if source == MISCLASSIFIED:
        return _misclassified(key, data)
    if source == CAMERA:
        return camera_widget(state.widget_key(key, "camera"))
    if source == DRAW:
        return drawing_widget(state.widget_key(key, "drawing"))
    return upload_widget(state.widget_key(key, "upload"))


def open_in_explorer(test_index: int) -> None:
    """Select a test image and go to the Explorer."""
    st.session_state[state.IMAGE_SOURCE] = GALLERY
    set_test_index(test_index)
    st.switch_page(state.PAGES["explorer"])
