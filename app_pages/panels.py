"""Shared page parts: the model sidebar, the prediction panel, the upload stages, figures, messages."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.picker import ChosenImage
from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import SEED_SPEC
from fashion_viz.data import HOW_TO_GET
from fashion_viz.figures.base import for_narrow_screen, upscale
from fashion_viz.figures.prediction import probability_chart
from fashion_viz.preprocessing import PreparedImage, confidence_warning
from fashion_viz.storage import LoadedModel, ModelError, check_model_file, is_shipped, is_variant, list_model_files, read_card


def on_phone() -> bool:
    """Whether this session's browser says it is a phone ("Mobi" in its User-Agent, the rule browsers follow)."""
    return "Mobi" in (st.context.headers.get("User-Agent") or "")


def show_figure(fig, key: str, toolbar: bool = False, **kwargs):
    """A Plotly chart in the house style. Plotly's toolbar is shown only where zooming is the point (``toolbar``,
    the Map) and never on a phone: in a narrow column it lay over the chart's title. On a phone the colour bars
    go under the chart."""
    phone = on_phone()
    if phone:
        fig = for_narrow_screen(fig)
    if "on_select" in kwargs:  # its callback reads the clicked points' traces by name (clicked_points)
        st.session_state[state.chart_traces_key(key)] = [trace.name for trace in fig.data]
    return st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False, "displayModeBar": toolbar and not phone}, **kwargs)


def clicked_points(key: str, trace: str) -> list[dict]:
    """The points of a chart's current selection that lie on the trace named ``trace`` (the figures' ``*_TRACE``
    names): the browser reports only a trace's position, which changes when a figure gains or loses a trace."""
    names = st.session_state.get(state.chart_traces_key(key), [])
    points = st.session_state[key].selection.points
    return [p for p in points if 0 <= p.get("curve_number", -1) < len(names) and names[p["curve_number"]] == trace]


def customdata_values(point: dict) -> list:
    """A clicked point's customdata as a list. The browser sends a row of a NumPy customdata array as an
    object ``{"0": a, "1": b, ...}`` (a row of a Python list comes as a list), so slicing it failed."""
    data = point.get("customdata")
    if isinstance(data, dict):
        return [data[k] for k in sorted(data, key=int)]
    return list(data) if isinstance(data, (list, tuple)) else [data]


def require_model() -> LoadedModel:
    """The session's checked model, or an explanation with a way to the Train page, then stop."""
    loaded, error = resources.current_model()
    if loaded is None:
        st.error(f"The model could not be loaded. {error}")
        st.page_link(state.PAGES["train"], label="Train a new model", icon=":material/model_training:")
        st.stop()
    return loaded


def explain_missing_dataset(what: str) -> None:
    st.info(f"{what} needs the full Fashion-MNIST dataset, which this server does not have. {resources.dataset_error() or HOW_TO_GET}")


def model_label(path: Path) -> str:
    """A short name for a model file: shipped or when it was trained, and its test accuracy."""
    try:
        card = read_card(path)  # cheap, on every run; the full check happens when the model is loaded
    except ModelError:
        card, _, _ = check_model_file(path)  # a recoverable interrupted save, or a real failure
    if card is None:
        return f"{path.name} (fails its check)"
    score = f" · {card.test_accuracy:.1%}" if card.test_accuracy is not None else ""
    if is_shipped(path):
        return f"Shipped model{score}"
    if is_variant(path):
        return f"Variant {path.stem}{score}"
    when = time.strftime("%m-%d %H:%M", time.localtime(path.stat().st_mtime)) if path.exists() else path.stem
    shape = "" if card.spec in ("", SEED_SPEC) else " · another shape"
    return f"Trained {when}{score}{shape}"


def model_sidebar() -> None:
    """Model chooser and status in the sidebar, shown on every page.

    The session's choice lives in ``state.MODEL_PATH`` (also set by the Train
    page); the selectbox is set from it and writes back on change. A chosen
    model whose file has gone is said so, not silently replaced.
    """
    files = list_model_files()
    current = resources.model_path().resolve()
    if current not in files:
        files.insert(0, current)  # the session's own choice stays listed even when it lives elsewhere or fails
    labels = {str(p): model_label(p) for p in files}

    def choice_changed() -> None:
        st.session_state[state.MODEL_PATH] = st.session_state[state.MODEL_CHOICE]

    st.session_state[state.MODEL_CHOICE] = str(current)
    with st.sidebar:
        st.markdown("### Model")
        missing = resources.chosen_model_missing()
        if missing:
            st.warning(f"The model you chose, `{missing}`, is no longer on this server (deleted or moved). Using the shipped model instead.", icon=":material/warning:")
        st.selectbox(
            "Model in use",
            list(labels),
            key=state.MODEL_CHOICE,
            on_change=choice_changed,
            format_func=labels.get,
            help="The shipped model, or one trained on the Train page. Your choice applies to your session only.",
        )
        card, error = resources.current_model_check()  # the loader's own check, without loading TensorFlow
        if card is None:
            st.error("This model is missing or fails its check; see the page for how to retrain.")
        else:
            accuracy = card.test_accuracy
            score = f"test accuracy {accuracy:.2%}" if accuracy is not None else "test accuracy unknown"
            shape = "" if card.spec in ("", SEED_SPEC) else f" · `{card.spec}`"
            origin = "Shipped" if is_shipped(resources.model_path()) else "A variant (Layers on trial)" if is_variant(resources.model_path()) else "Trained here"
            st.caption(f"{origin} · {score}{shape}")


def comparison_model(page: str):
    """The "Compare with" choice of the Explorer and Why: (label, loaded model, engine) of a second model to show
    beside the session's own for the same picture, or None. The choice is kept across both pages."""
    current = resources.model_path().resolve()
    files = [str(p) for p in list_model_files() if p != current]
    choice = st.session_state.get(state.COMPARE_WITH, "")
    if choice not in files:
        choice = ""
    key = state.widget_key(page, "compare")
    st.session_state[key] = choice

    def changed() -> None:
        st.session_state[state.COMPARE_WITH] = st.session_state[key]

    st.selectbox(
        "Compare with", ["", *files], key=key, on_change=changed, format_func=lambda p: "no second model" if not p else model_label(Path(p)),
        help="Another model (a variant, or one trained here) beside yours for the same picture: its probabilities and its maps in a second column.",
    )
    if not choice:
        return None
    loaded, engine, error = resources.model_at(Path(choice))
    if loaded is None:
        st.warning(f"That model cannot be shown: {error}", icon=":material/warning:")
        return None
    return model_label(Path(choice)), loaded, engine


def comparison_probabilities(label: str, probabilities: np.ndarray, true_label: int | None, key: str) -> None:
    """The second model's probability bars (the Explorer's and Why's "compare with"), titled with its name and answer."""
    top = int(np.argmax(probabilities))
    show_figure(probability_chart(probabilities, true_label, title=f"{label}: {CLASS_NAMES[top]} ({probabilities[top]:.0%})"), key)


def prediction_panel(chosen: ChosenImage, probabilities: np.ndarray, picture, chart, key: str, picture_title: str) -> None:
    """The input picture and the probability chart in the given columns; for uploads, the
    pipeline's stages and a plain-words warning when the model is unsure."""
    with picture:  # a plain picture, not a chart: it needs no hover, and the browser draws it far faster
        st.markdown(f"**{picture_title}**")
        st.image(upscale(chosen.image, 10), width="stretch")
    with chart:
        show_figure(probability_chart(probabilities, chosen.label, source=chosen.caption), f"{key}_probabilities")
        message = confidence_warning(probabilities) if chosen.prepared is not None else None
        if message:
            st.warning(message, icon=":material/help:")
    if chosen.prepared is not None and len(chosen.prepared.stages) > 1:
        with st.expander("How your photo became a 28x28 picture", expanded=True):
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


def spoken_list(items) -> str:
    """'a', 'a and b', 'a, b and c': names in a sentence."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def unit_link(layer: str, kind: str, unit: int, label: str | None = None) -> None:
    """A link to one unit's page (``?layer=&unit=`` so it can be shared too); ``kind``: the layer's (conv, dense, softmax)."""
    from fashion_viz.explain.units import unit_name

    st.page_link(
        state.PAGES["units"],
        label=label or f"What {unit_name(layer, kind, unit)} responds to across the dataset",
        icon=":material/neurology:",
        query_params={"layer": layer, "unit": str(int(unit))},
    )


def require_views(loaded: LoadedModel, need: str, page: str):
    """(dataset, views) for the Units and Map pages, or a message and ``st.stop()``: without the dataset,
    or while the model's unit atlas / map / layer trials (``need``: "atlas", "map" or "trials") is being prepared in the background
    (started here once per server and model, with its progress shown)."""
    data = resources.dataset()
    if data is None:
        explain_missing_dataset(page)
        st.stop()
    views = resources.current_views(loaded)
    if getattr(views, {"atlas": "atlas", "map": "embedding", "trials": "trials"}[need]) is None:
        resources.preparation_jobs().start(loaded.path, data)
        _preparation_progress(loaded.card.model_sha256)
        st.stop()
    return data, views


def require_replay(loaded: LoadedModel):
    """(dataset, replay) for the Replay page, or a message and ``st.stop()``: without the dataset, for a model
    trained without recording, or while its replay's views are prepared in the background (progress shown)."""
    data = resources.dataset()
    if data is None:
        explain_missing_dataset("The replay")
        st.stop()
    replay = resources.current_replay(loaded)
    if replay is None:
        st.info(
            f"{loaded.path.name} has no replay: it was trained without recording its snapshots. "
            "Every model trained here records one; train a model to watch it learn.", icon=":material/info:",
        )
        st.page_link(state.PAGES["train"], label="Train a model", icon=":material/model_training:")
        st.stop()
    if not replay.views:
        resources.preparation_jobs().start(loaded.path, data)
        _replay_progress(loaded)
        st.stop()
    return data, replay


@st.fragment(run_every=1.0)
def _replay_progress(loaded: LoadedModel) -> None:
    """The replay's views are the preparation's first stage: the page fills in once they are stored, not when it all ends."""
    from fashion_viz.explain.precompute import STAGE_WEIGHTS

    if resources.current_replay(loaded).views:
        st.rerun(scope="app")
    snapshot = resources.preparation_jobs().snapshot(loaded.card.model_sha256)
    if snapshot.state == "failed":
        st.error(f"Preparing this model's replay failed: {snapshot.error}. The other pages still work; reload to try again.")
        return
    what = "running every snapshot over the validation pictures" if snapshot.stage == "replay" else "waiting for another model's preparation"
    st.progress(min(1.0, snapshot.share / STAGE_WEIGHTS["replay"]) if snapshot.stage == "replay" else 0.0, text=f"Preparing this model's replay, once per model (about 15 seconds): {what}…")


@st.fragment(run_every=1.0)
def _preparation_progress(sha: str) -> None:
    snapshot = resources.preparation_jobs().snapshot(sha)
    if snapshot.state == "done":
        st.rerun(scope="app")
    if snapshot.state == "failed":
        st.error(f"Preparing this model's unit pictures, map and layer trials failed: {snapshot.error}. The other pages still work; reload to try again.")
        return
    stages = {"replay": "the replay of its training", "statistics": "statistics over the test set", "visualisations": "the unit pictures", "map": "the map of the test set", "trials": "the layer trials (linear probes, calibration)"}
    stage = stages.get(snapshot.stage, "waiting for another model's preparation")
    st.progress(snapshot.share, text=f"Preparing this model's unit pictures, map and layer trials, once per model (about two minutes): {stage}…")
    st.caption("Every other page works meanwhile; this one fills in by itself.")
