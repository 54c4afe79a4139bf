"""Cached resources shared by every session: models, their engines, the dataset, the training jobs.

Loaded once per server (``st.cache_resource``) and used read-only. Models are
cached by the identity of their file (resolved path, device, inode, size,
mtime_ns), so a replaced file is loaded and checked again and two spellings of
one path share one entry. Which model a session uses is that session's own
choice (``state.MODEL_PATH``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import streamlit as st

from app_pages import state
from fashion_viz.data import DatasetError, FashionMNIST, Sample, dataset_available, load_fashion_mnist, load_sample
from fashion_viz.storage import SHIPPED_MODEL, LoadedModel, ModelError, file_identity, load_checked_model, trained_models_dir


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def _load_model(identity: tuple) -> LoadedModel:
    return load_checked_model(Path(identity[0]))


@st.cache_resource(show_spinner=False, max_entries=6)
def _engine(identity: tuple):
    from fashion_viz.engine import Engine

    return Engine(_load_model(identity).model)


def chosen_model_missing() -> str | None:
    """The file name of the model this session chose when that file is gone (the shipped one is used instead)."""
    chosen = st.session_state.get(state.MODEL_PATH)
    if chosen and not Path(chosen).is_file():
        return Path(chosen).name
    return None


def model_path() -> Path:
    """The model this session uses: its own choice while the file exists, else the shipped model."""
    chosen = st.session_state.get(state.MODEL_PATH)
    if chosen and Path(chosen).is_file():
        return Path(chosen)
    return SHIPPED_MODEL


def model_identity() -> tuple:
    return file_identity(model_path())


@st.cache_resource(show_spinner=False, max_entries=12)
def _model_check(identity: tuple):
    from fashion_viz.storage import check_model_file

    card, _, error = check_model_file(Path(identity[0]))
    return card, error


def current_model_check():
    """(card, None) or (None, message): the loader's checksum decision for the session's model, without TensorFlow."""
    return _model_check(model_identity())


@st.cache_resource(show_spinner=False)
def start_warmup():
    """Once per server, at the first run: import TensorFlow and Keras, load the shipped model and trace
    its engine in a background thread, so the first visitor's page shows its text at once and its
    charts as soon as that work is done (it is the same work every visitor needs); then freeze what
    it loaded (:func:`freeze_long_lived_objects`). Returns the thread."""
    import threading

    def warm() -> None:
        try:
            from fashion_viz.data import load_sample

            _engine(file_identity(SHIPPED_MODEL)).activations(load_sample().images[0])
        except Exception:  # noqa: BLE001 - the pages report a broken model themselves
            pass
        finally:
            freeze_long_lived_objects()

    from fashion_viz.jobs import start_joined_at_exit

    thread = threading.Thread(target=warm, daemon=True, name="fashion-viz-warmup")
    thread.started_at = time.monotonic()
    return start_joined_at_exit(thread)


def wait_for_warmup() -> None:
    """Wait, with the seconds shown, until the warm-up has imported TensorFlow and loaded the shipped model.

    Only the warm-up thread imports TensorFlow and Keras: a page that needs the model while it runs waits
    here instead of importing them beside it (two threads importing one large package can each meet the
    other's half-made modules). The message updates every second and the page goes on within a quarter
    second of the warm-up ending.
    """
    thread = start_warmup()
    if not thread.is_alive():
        return
    note, shown = st.empty(), None
    while thread.is_alive():
        seconds = int(time.monotonic() - thread.started_at)
        if seconds != shown:
            note.info(
                f"Loading TensorFlow and the model, once after the server starts… {seconds} s",
                icon=":material/hourglass_top:",
            )
            shown = seconds
        thread.join(0.25)
    note.empty()


def freeze_long_lived_objects() -> None:
    """Take every object alive now (TensorFlow, Keras, the model, imported libraries) out of the garbage
    collector's sight, after one last collection.

    With TensorFlow loaded the heap holds about 430,000 tracked objects; a full collection then took
    200-300 ms and ran about twice per upload, stalling that run (and every other session's). Frozen
    objects are never scanned again, so a full collection only sees what the runs themselves create.
    Called once, when the warm-up has loaded them.
    """
    import gc

    gc.collect()
    gc.freeze()


def keep_tensorflow_caches_between_runs() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit's script runner does that for every app that has imported Keras (its
    ``_clean_problem_modules``, meant for Keras 2's global graph). Here it only threw away
    TensorFlow's kernel cache, so the first TensorFlow call of every run instantiated and
    re-optimised its traced function again: 50-100 ms of CPU on the Explorer's activation call
    after each upload (3-5 ms once cached), and it also reset Keras' global state under a training
    run in another thread. The models live in ``st.cache_resource`` and are never rebuilt in a run,
    so there is nothing to clear. Matplotlib's figures are still closed, as Streamlit does.
    Idempotent; if a future Streamlit drops that function, this does nothing (a test notices).
    """
    from streamlit.runtime.scriptrunner import script_runner

    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None or getattr(current, "keeps_keras_session", False):
        return

    def clean_problem_modules_but_keras() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")
            except Exception:  # noqa: BLE001 - as Streamlit: never fail a run over this
                pass

    clean_problem_modules_but_keras.keeps_keras_session = True
    script_runner._clean_problem_modules = clean_problem_modules_but_keras


def end_websocket_loops_on_closed_sockets() -> None:
    """Let Streamlit's websocket loop end quietly when its own side has already closed the socket.

    Streamlit 1.67's endpoint reads with ``receive_bytes`` and takes any ``RuntimeError`` for a text frame: it
    closes the socket and raises. Starlette 1.10 raises ``WebSocketDisconnected`` (a ``RuntimeError``) from
    ``receive_bytes`` once the socket is closed on the server's side, which happens when a browser leaves while
    Streamlit is sending to it. The second close then fails, and the server log showed two tracebacks (the
    cold-start stress's six sessions, in CI). Here that case raises ``WebSocketDisconnect``, which the loop takes
    for the end of the session. Idempotent; other states keep Starlette's own behaviour.
    """
    from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

    current = WebSocket.receive_bytes
    if getattr(current, "ends_on_closed_socket", False):
        return

    async def receive_bytes(self) -> bytes:
        if self.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnect(1000)
        return await current(self)

    receive_bytes.ends_on_closed_socket = True
    WebSocket.receive_bytes = receive_bytes


# Session id -> when its browser last asked where to upload a file (Streamlit's FileURLsRequest), until a run takes it.
_UPLOAD_REQUESTED: dict[str, float] = {}
UPLOAD_WAIT_S = 3.0  # how long after that request a run with an emptied uploader waits for the file


def note_upload_requests() -> None:
    """Remember when each session's browser asks for upload URLs, which it does as soon as a file is chosen.

    A single-file uploader that holds a file empties itself before uploading the next one, so every new photo
    after the first cost a whole run of the page with the old photo before the run with the new one; drawing
    that run also kept the browser from finishing the upload (0.3 s of a 1.1 s upload in a 2x slower
    browser). Knowing that a file is on its way lets that run wait for it (:func:`wait_for_requested_upload`).
    Idempotent; if a future Streamlit renames the handler, this does nothing (a browser test notices).
    """
    from streamlit.runtime.app_session import AppSession

    current = getattr(AppSession, "_handle_file_urls_request", None)
    if current is None or getattr(current, "notes_requests", False):
        return

    def handle_file_urls_request(self, request) -> None:
        now = time.monotonic()
        for session_id, requested_at in list(_UPLOAD_REQUESTED.items()):  # no run took them (a camera's, a failed upload)
            if now - requested_at > UPLOAD_WAIT_S:
                _UPLOAD_REQUESTED.pop(session_id, None)
        _UPLOAD_REQUESTED[self.id] = now
        current(self, request)

    handle_file_urls_request.notes_requests = True
    AppSession._handle_file_urls_request = handle_file_urls_request


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def upload_arrived() -> None:
    """A run has the file this session's browser asked to upload."""
    _UPLOAD_REQUESTED.pop(_session_id(), None)


def wait_for_requested_upload() -> None:
    """In a run whose uploader is empty while the browser is uploading a file (see :func:`note_upload_requests`),
    wait for the run that brings it: Streamlit's own yield check ends this run as soon as that rerun is asked for,
    and nothing is sent meanwhile. Goes on as before after ``UPLOAD_WAIT_S`` (a failed or very slow upload)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_run_yield_check

    session_id = _session_id()
    requested_at = _UPLOAD_REQUESTED.get(session_id)
    yield_check = get_run_yield_check()
    if requested_at is None or yield_check is None:
        return
    while time.monotonic() - requested_at < UPLOAD_WAIT_S:
        yield_check()  # raises Streamlit's rerun exception once the browser has sent the file
        time.sleep(0.01)
    _UPLOAD_REQUESTED.pop(session_id, None)  # given up: the next run with an empty uploader goes on at once


def stored_probabilities(card, chosen) -> np.ndarray | None:
    """The model's probabilities for an embedded sample picture as its card stores them (saved with the model,
    checked against the model file), or None for any other picture: a chart that needs no TensorFlow, so a
    new server's first visitor sees Home's chart while TensorFlow is still loading."""
    from fashion_viz.card import stored_sample_probabilities

    if card is None or chosen is None or chosen.prepared is not None or chosen.test_index is None:
        return None
    s = sample()
    rows = np.flatnonzero(s.test_indices == chosen.test_index)
    if rows.size == 0 or not np.array_equal(s.images[rows[0]], chosen.image):
        return None
    table = stored_sample_probabilities(card, s.images, s.test_indices)
    return None if table is None else table[rows[0]]


def current_model() -> tuple[LoadedModel | None, str | None]:
    """(model, None) or (None, message) when the session's model is missing or fails its check
    (after the warm-up, which it waits for with its progress shown)."""
    wait_for_warmup()
    try:
        return _load_model(model_identity()), None
    except ModelError as exc:
        return None, str(exc)


def model_at(path: Path) -> tuple[LoadedModel | None, object | None, str | None]:
    """(model, engine, None) for another model file (the "compare with" choice), or (None, None, message)."""
    wait_for_warmup()
    identity = file_identity(Path(path))
    try:
        return _load_model(identity), _engine(identity), None
    except ModelError as exc:
        return None, None, str(exc)


def current_engine():
    """The session's model's engine, the one forward pass every view uses (the model must load; see
    ``panels.require_model``)."""
    return _engine(model_identity())


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


@st.cache_resource
def sample() -> Sample:
    return load_sample()


@st.cache_resource(show_spinner="Classifying the test set…", max_entries=6)
def _test_predictions(identity: tuple) -> np.ndarray:
    predictions = _engine(identity).dataset_pass(dataset().x_test).probabilities.argmax(axis=1)
    predictions.flags.writeable = False
    return predictions


def current_test_predictions() -> np.ndarray:
    """Predicted class of every test image for the session's model (cached per model file)."""
    return _test_predictions(model_identity())


@st.cache_resource(show_spinner="Drawing the diagram…", max_entries=6)
def _diagram(identity: tuple):
    from fashion_viz.figures.architecture import layered_diagram

    return layered_diagram(_load_model(identity).model)


def current_diagram():
    """The visualkeras layered view of the session's model."""
    return _diagram(model_identity())


@st.cache_resource
def step_timing():
    """What a training step costs on this machine (``training.StepTiming``), measured once per server in the
    background after the warm-up (a few seconds of CPU), on the embedded sample's real pictures."""
    from fashion_viz.jobs import BackgroundValue
    from fashion_viz.training import measure_step_timing

    s = sample()
    return BackgroundValue(lambda: measure_step_timing(s.images, s.labels), wait_for=start_warmup(), name="fashion-viz-step-timing")


def _prepare_after_training(path: Path) -> None:
    data = dataset()
    if data is not None:
        preparation_jobs().start(path, data)


@st.cache_resource
def training_jobs():
    """One coordinator per server: at most one training job runs at a time; a saved model's
    Units and Map views are prepared right after, in the background."""
    from fashion_viz.jobs import TrainingJobs

    return TrainingJobs(models_dir=trained_models_dir(), after_save=_prepare_after_training)


@st.cache_resource
def preparation_jobs():
    """One coordinator per server for preparing models' Units and Map views (one model at a time)."""
    from fashion_viz.jobs import PreparationJobs

    return PreparationJobs()


@st.cache_resource(show_spinner=False, max_entries=12)
def _stored_views(identity: tuple, sha: str, atlas_identity: tuple, map_identity: tuple, trials_identity: tuple):
    from fashion_viz.explain.precompute import stored_views

    return stored_views(Path(identity[0]), sha)


def current_views(loaded: LoadedModel):
    """The stored unit atlas, map and layer trials of the session's model (any may be None while being prepared).

    Keyed by the files' identities, so files written by a background job (here or on another
    replica) are picked up on the next run.
    """
    from fashion_viz.explain.embedding import embedding_path
    from fashion_viz.explain.units import unit_atlas_path
    from fashion_viz.trials.prepare import trials_path

    return _stored_views(
        model_identity(), loaded.card.model_sha256, file_identity(unit_atlas_path(loaded.path)), file_identity(embedding_path(loaded.path)),
        file_identity(trials_path(loaded.path)),
    )


@st.cache_resource(show_spinner="Reading every test picture's representation…", max_entries=6)
def _neighbour_index(identity: tuple):
    from fashion_viz.explain.embedding import NeighbourIndex, map_features

    index = NeighbourIndex(map_features(_engine(identity), dataset().x_test))
    index.features.flags.writeable = False
    return index


def current_neighbour_index():
    """Exact nearest neighbours among the test set's map-layer vectors, for the session's model (needs the dataset)."""
    return _neighbour_index(model_identity())


@st.cache_resource(show_spinner=False, max_entries=12)
def _trials(identity: tuple, sha: str, trials_identity: tuple):
    from fashion_viz.trials.prepare import load_trials

    return load_trials(Path(identity[0]), sha)


def current_trials(loaded: LoadedModel) -> dict | None:
    """The session's model's stored layer trials (None until prepared), without reading its other companion files."""
    from fashion_viz.trials.prepare import trials_path

    return _trials(model_identity(), loaded.card.model_sha256, file_identity(trials_path(loaded.path)))


@st.cache_resource(show_spinner=False, max_entries=4)
def _variant_results(results_identity: tuple):
    from fashion_viz.trials.variants import variant_results

    return variant_results()


def variant_results():
    """The trained variants' recorded runs (models/variants/results.json), re-read when the file changes."""
    from fashion_viz.trials.variants import RESULTS_FILE

    return _variant_results(file_identity(RESULTS_FILE))


@st.cache_resource(show_spinner="Reading the recorded training…", max_entries=2)
def _replay(identity: tuple, sha: str, replay_identity: tuple):
    from fashion_viz.replay.store import load_replay

    return load_replay(Path(identity[0]), sha)


def current_replay(loaded: LoadedModel):
    """The session's model's recorded training (``fashion_viz.replay.store.Replay``), or None when it has none;
    its ``views`` are empty until prepared. Keyed by the file's identity, so a prepared file is picked up."""
    from fashion_viz.replay.store import replay_path

    return _replay(model_identity(), loaded.card.model_sha256, file_identity(replay_path(loaded.path)))


@st.cache_resource(show_spinner=False, max_entries=2)
def _replay_engine(identity: tuple):
    """An engine of the replay's own per model: it is moved through the snapshots, so it never serves a view."""
    from fashion_viz.engine import Engine

    return Engine(_load_model(identity).model)


@st.cache_resource(show_spinner="Drawing every snapshot…", max_entries=16)
def _replay_player(identity: tuple, replay_identity: tuple, probe: int, layer: str, second_filter: int) -> str:
    from fashion_viz.figures.replay import filter_pictures, map_pictures, replay_player_html, vector_pictures
    from fashion_viz.palette import NEGATIVE_NAME, POSITIVE_NAME
    from fashion_viz.replay.views import layer_weights, probe_layer_outputs

    loaded = _load_model(identity)
    replay = _replay(identity, loaded.card.model_sha256, replay_identity)
    engine = _replay_engine(identity)
    image = dataset().x_test[int(replay.views["probe_indices"][probe])]
    first, *later = engine.conv_names
    kernels = layer_weights(engine, replay, first)
    panels = [(f"{first}'s {kernels.shape[-1]} filters (+ {POSITIVE_NAME}, − {NEGATIVE_NAME})", filter_pictures(kernels[:, :, :, 0, :]))]
    if later:
        panels.append((f"{later[0]} filter {second_filter}: its weights on each {first} map", filter_pictures(layer_weights(engine, replay, later[0])[..., second_filter])))
    outputs = probe_layer_outputs(engine, replay, image, layer)
    maps = map_pictures(outputs) if outputs.ndim == 4 else vector_pictures(outputs)
    panels.append((f"The probe picture at {layer} (each moment scaled to its own largest value)", maps))
    return replay_player_html(replay.epochs, replay.steps, replay.views, panels, probe, image)


def replay_player(loaded: LoadedModel, probe: int, layer: str, second_filter: int) -> str:
    """The Replay page's player (HTML) for the session's model: the probe picture, its layer, the second conv layer's filter."""
    from fashion_viz.replay.store import replay_path

    return _replay_player(model_identity(), file_identity(replay_path(loaded.path)), probe, layer, second_filter)
