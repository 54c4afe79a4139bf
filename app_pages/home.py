"""Home: what this is, the model's status, a quick classify, the way in."""

import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import prediction_panel
from app_pages.picker import CAMERA, DRAW, GALLERY, UPLOAD, image_picker
from fashion_viz.card import accuracy_protocol
from fashion_viz.storage import is_shipped

st.title("fashion-viz: see inside a CNN")
st.markdown(
    "A small convolutional neural network has learned to tell ten kinds of clothing apart from 28x28 grayscale pictures "
    "(Fashion-MNIST). Pick a picture or upload a photo and follow it through every layer: what each filter looks for, what "
    "each layer makes of the picture, and why the model decides what it does."
)

# The card, checked against the model file, needs no TensorFlow; neither does a sample picture's chart (its
# probabilities are in the card), so a new server's first visitor gets the page and its chart while the
# warm-up thread is still importing TensorFlow.
card, error = resources.current_model_check()
# The status and links columns are placed first but filled after the quick-classify chart: Streamlit sends
# elements in the order they are filled, and a new visitor's browser starts loading Plotly only when a chart
# arrives, so sending the chart before the status and the links paints it sooner.
status, links = st.columns([3, 2])
if card is not None:
    with guarded("Home's quick classify"):
        st.subheader("Quick classify")
        pick, picture, chart = st.columns([2, 1, 3])
        with pick:
            chosen = image_picker("home", sources=(GALLERY, UPLOAD, CAMERA, DRAW), full=False)
        if chosen is not None:
            probabilities = resources.stored_probabilities(card, chosen)
            if probabilities is None:
                loaded, error = resources.current_model()
                probabilities = resources.current_engine().activations(chosen.image).probabilities if loaded is not None else None
            if probabilities is not None:
                prediction_panel(chosen, probabilities, picture, chart, "home", "What the model sees")
                st.page_link(state.PAGES["explorer"], label="Open this picture in the Explorer", icon=":material/arrow_forward:")
with status, guarded("Home's model status"):
    if card is None or error:
        st.error(f"The model could not be loaded. {error}")
        st.page_link(state.PAGES["train"], label="Train a new model", icon=":material/model_training:")
    else:
        a, b, c = st.columns(3)
        a.metric(
            "Test accuracy",
            f"{card.test_accuracy:.2%}" if card.test_accuracy is not None else "unknown",
            help=accuracy_protocol(card),
        )
        parameters = card.parameters
        if not parameters:  # a card from before parameters were recorded: count them on the model itself
            loaded, _ = resources.current_model()
            parameters = loaded.model.count_params() if loaded is not None else 0
        b.metric("Parameters", f"{parameters:,}" if parameters else "unknown")
        path = resources.model_path()
        c.metric("Model", "shipped" if is_shipped(path) else "trained here")
        st.caption(
            f"{accuracy_protocol(card)} Model file `{path.name}` (checksum verified against its model card) · trained "
            f"{card.epochs_run} epochs in {card.training_seconds:.0f} s · "
            f"data: {'full Fashion-MNIST on this server' if resources.dataset_on_disk() else 'embedded sample only'}"
        )
with links, guarded("Home's links"):
    st.markdown("**Where to go**")
    st.page_link(state.PAGES["explorer"], label="Explorer: step through the layers with one picture", icon=":material/layers:")
    st.page_link(state.PAGES["architecture"], label="Architecture: the network and what each layer does", icon=":material/account_tree:")
    st.page_link(state.PAGES["why"], label="Why: which pixels drove a decision, and what if", icon=":material/psychology_alt:")
    st.page_link(state.PAGES["units"], label="Units: what each filter and neuron responds to", icon=":material/neurology:")
    st.page_link(state.PAGES["map"], label="Map: where a picture sits among all the others", icon=":material/scatter_plot:")
    st.page_link(state.PAGES["layers"], label="Layers on trial: is each layer really for what it is said to be for?", icon=":material/gavel:")
    st.page_link(state.PAGES["replay"], label="Replay: watch this network learn, from random weights to these", icon=":material/replay:")
    st.page_link(state.PAGES["evaluate"], label="Evaluate: where the model goes wrong", icon=":material/analytics:")
    st.page_link(state.PAGES["train"], label="Train: train your own copy and watch it learn", icon=":material/model_training:")
