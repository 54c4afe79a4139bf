"""Explorer: follow one picture through every layer of the network."""

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.arithmetic_panel import arithmetic_panel, spatial_position
from app_pages.boundary import guarded
from app_pages.panels import clicked_points, comparison_model, comparison_probabilities, customdata_values, on_phone, prediction_panel, require_model, show_figure, unit_link
from app_pages.picker import image_picker
from fashion_viz import CLASS_NAMES
from fashion_viz.explain.arithmetic import softmax_with_temperature
from fashion_viz.figures.base import upscale
from fashion_viz.figures.layers import LABEL_TRACE, PIXEL_TRACE, kernel_mosaic, layer_output_figure
from fashion_viz.layer_guide import shape_text
from fashion_viz.palette import NEGATIVE_NAME, POSITIVE_NAME

loaded = require_model()
engine = resources.current_engine()
infos = engine.infos
names = [info.name for info in infos]
PHONE_MOSAIC_COLUMNS = 4  # a 390 px screen: 8 maps a row made 30 px tiles

st.title("Explorer")
st.caption("Choose a picture, then step through the layers: each shows what that layer makes of the picture.")

chosen = activations = comparison = other_activations = None
with guarded("the Explorer's picture and prediction"):
    pick, picture, chart = st.columns([2, 1.2, 2.6])
    with pick:
        chosen = image_picker("explorer")
        comparison = comparison_model("explorer")
        temperature = (resources.current_trials(loaded) or {}).get("calibration", {}).get("temperature")
        calibrated = temperature is not None and st.toggle(
            f"Calibrated probabilities (logits ÷ {temperature:.2f})", key=state.CALIBRATED,
            help="Temperature scaling fitted on the validation split: a probability then means about how often the model is right (Layers on trial, softmax).",
        )
    if chosen is not None:
        activations = engine.activations(chosen.image)
        shown = softmax_with_temperature(activations.logits, temperature) if calibrated else activations.probabilities
        prediction_panel(chosen, shown, picture, chart, "explorer", f"Input: {chosen.caption}")
        if comparison is not None:
            other_label, _, other_engine = comparison
            other_activations = other_engine.activations(chosen.image)
            with chart:
                comparison_probabilities(other_label, other_activations.probabilities, chosen.label, "explorer_compare_probabilities")
        why_link, map_link = st.columns(2)
        with why_link:
            st.page_link(state.PAGES["why"], label="Why this answer? See which pixels drove it, by six methods", icon=":material/psychology_alt:")
        with map_link:
            st.page_link(state.PAGES["map"], label="Where does this picture sit among all 10,000 test pictures?", icon=":material/scatter_plot:")
        if chosen.test_index is not None:
            st.caption(f"Share this view: the link now ends in `?image={chosen.test_index}`.")
if chosen is None:
    st.info("Upload a photo of a garment (or choose another input) to start.")

# ------------------------------------------------------------ layer stepper
# The stepper, the layer's figures, the arithmetic and the filters are one fragment: a step, a channel
# or a position reruns and redraws only this part, not the picker and the prediction above it.


def _step(delta: int) -> None:
    index = int(np.clip(names.index(st.session_state[state.EXPLORER_LAYER]) + delta, 0, len(names) - 1))
    st.session_state[state.EXPLORER_LAYER] = names[index]


@st.fragment
def layer_view(chosen, activations, comparison, other_activations) -> None:
    with guarded("the layer view"):
        _layer_view(chosen, activations, comparison, other_activations)


def _layer_view(chosen, activations, comparison, other_activations) -> None:
    st.divider()
    st.subheader("Step through the layers")
    if st.session_state.get(state.EXPLORER_LAYER) not in names:
        # The layer survives page switches in LAYER_INDEX (widget state is dropped when the page is left).
        st.session_state[state.EXPLORER_LAYER] = names[min(st.session_state.get(state.LAYER_INDEX, 0), len(names) - 1)]
    index = names.index(st.session_state[state.EXPLORER_LAYER])
    st.session_state[state.LAYER_INDEX] = index
    back, where, forward = st.columns([1, 4, 1], vertical_alignment="center")
    back.button("Previous", on_click=_step, args=(-1,), disabled=index == 0, icon=":material/arrow_back:", width="stretch")
    where.markdown(
        f"<div style='text-align:center'>Layer <b>{index + 1}</b> of {len(names)}: {infos[index].title}</div>",
        unsafe_allow_html=True,
    )
    forward.button(
        "Next", on_click=_step, args=(1,), disabled=index == len(names) - 1, icon=":material/arrow_forward:", width="stretch"
    )
    st.segmented_control(
        "Layer (input → output)",
        options=names,
        key=state.EXPLORER_LAYER,
        required=True,
        format_func=lambda n: f"{names.index(n) + 1} {n}",
        width="stretch",
        wrap=True,
        label_visibility="collapsed",
    )

    info = infos[index]
    output = activations.layers[index]

    figure_column, text_column = st.columns([3, 1.25])
    with text_column:
        # One markdown and one caption, not five elements: each element is a redraw on every layer step.
        st.markdown(
            f"#### {index + 1}. {info.name}: {info.title}\n\n**In:** {shape_text(info.input_shape)} → **out:** {shape_text(info.output_shape)}\n\n{info.explanation}"
        )
        notes = [f"Parameters: {info.params_formula}"]
        if output.is_spatial:
            live = int((output.values.reshape(-1, output.values.shape[-1]).max(axis=0) > 0).sum())
            notes.append(f"For this picture {live} of {output.values.shape[-1]} maps respond somewhere (the rest stay at zero).")
        st.caption("  \n".join(notes))

    with figure_column:
        channel = None
        if output.is_spatial:
            channels = output.values.shape[-1]
            scale_choice, channel_choice = st.columns(2)
            shared = scale_choice.radio(
                "Colour scale",
                ["one scale for all maps", "each map its own scale"],
                horizontal=True,
                key="explorer_scale",
                help="One scale lets you compare how strongly maps respond; per-map scales show the pattern of weak maps too.",
            ) == "one scale for all maps"
            strongest = np.argsort(output.values.reshape(-1, channels).max(axis=0))[::-1]
            # CHANNEL_INDEX is the person's choice and is only written when they choose (the selectbox or a click
            # on a map's number); a layer with fewer channels shows its last one without forgetting the choice.
            chosen_channel = st.session_state.get(state.CHANNEL_INDEX, int(strongest[0]))
            channel = min(chosen_channel, channels - 1)
            channel_key, chart_key = f"explorer_channel_{info.name}", f"explorer_layer_{info.name}"

            def channel_picked() -> None:
                st.session_state[state.CHANNEL_INDEX] = st.session_state[channel_key]

            def map_clicked() -> None:
                labels = clicked_points(chart_key, LABEL_TRACE)  # the channel-number markers
                pixels = clicked_points(chart_key, PIXEL_TRACE)  # the large map's pixels
                if labels:
                    st.session_state[state.CHANNEL_INDEX] = int(labels[0]["point_index"])
                elif pixels:
                    st.session_state[state.CALC_ROW], st.session_state[state.CALC_COL] = (int(v) for v in customdata_values(pixels[0])[:2])

            st.session_state[channel_key] = channel
            channel_choice.selectbox("Channel to see large (or click a map's number)", range(channels), key=channel_key, on_change=channel_picked)
            if chosen_channel != channel:
                channel_choice.caption(f"Your channel {chosen_channel} is not among this layer's {channels}; showing channel {channel}. It comes back on layers that have it.")
            mine, theirs = st.columns(2) if comparison is not None else (st.container(), None)
            narrow = on_phone() or theirs is not None
            with mine:  # the mosaic and the chosen channel large, one chart (one chart fewer to draw per step)
                show_figure(
                    layer_output_figure(
                        output, info, shared_scale=shared, highlight=channel, columns=PHONE_MOSAIC_COLUMNS if narrow else None,
                        large=True, mark=spatial_position(output.values, channel), stacked=narrow,
                    ),
                    chart_key,
                    on_select=map_clicked,
                    selection_mode="points",
                )
            if theirs is not None:
                with theirs:
                    compared_layer(comparison, other_activations, info.name, shared)
        else:
            vector_key = f"explorer_layer_{info.name}"

            def bar_clicked() -> None:
                points = st.session_state[vector_key].selection.points
                if points:
                    st.session_state[state.CALC_UNIT] = int(points[0]["point_index"])

            if info.kind == "flatten":
                show_figure(layer_output_figure(output, info), vector_key)
                h, w, _ = info.input_shape
                st.caption(f"Each row is one position of the {h}x{w} maps, each column a channel; choose a unit (or a position) below.")
            else:
                show_figure(layer_output_figure(output, info), vector_key, on_select=bar_clicked, selection_mode="points")
                st.caption("Click a bar to see how its value was computed, below.")
                # A dense layer's units, or those of the dense layer a dropout after it passes on.
                source = next(i for i in reversed(infos[: index + 1]) if i.kind in ("dense", "softmax", "flatten"))
                if source.kind != "flatten":
                    shown_unit = min(int(st.session_state.get(state.CALC_UNIT, int(np.argmax(output.values)))), output.values.shape[-1] - 1)
                    unit_link(source.name, source.kind, shown_unit)
            if comparison is not None:
                compared_layer(comparison, other_activations, info.name, True)

    if channel is not None:
        st.markdown(f"##### Channel {channel} of {info.name}")
        source_conv = next((i.name for i in reversed(infos[: index + 1]) if i.kind == "conv"), None)
        if source_conv is not None:  # pooling and dropout keep channels: channel k is conv channel k
            unit_link(source_conv, "conv", channel, f"What {source_conv} channel {channel} responds to across all 10,000 test pictures, and what the model imagines for it")
        left, right = st.columns([1, 2])
        with left:  # a plain picture (no hover needed): far cheaper for the browser than a chart
            st.markdown("**The input**, to compare with the large map above")
            st.image(upscale(chosen.image, 10), width=280)
        with right:
            st.markdown("**Strongest channels for this picture**")
            st.markdown(", ".join(f"`{int(k)}`" for k in strongest[:8]))
            st.caption(
                "Bright pixels in a map are places where that channel's pattern appears in the picture. "
                "Pooling and dropout keep each channel, so channel k here comes from filter k of the convolution before."
            )

    # ------------------------------------------------------------ arithmetic
    st.divider()
    st.subheader("How one number was computed")
    st.caption(
        "Pick a position in this layer's output (click a pixel of the large map or a bar, or type it) and read the whole "
        "computation behind its value, with the model's own weights and numbers."
    )
    arithmetic_panel(engine, chosen.image, activations, index, channel)


def compared_layer(comparison, other_activations, name: str, shared: bool) -> None:
    """The same layer of the second model for the same picture (by name; a model without it says so)."""
    label, _, other_engine = comparison
    if name not in other_engine.names:
        st.info(f"{label} has no layer named {name}; its layers are {', '.join(other_engine.names)}.")
        return
    other_info = other_engine.info(name)
    fig = layer_output_figure(other_activations.layer(name), other_info, shared_scale=shared, columns=PHONE_MOSAIC_COLUMNS)
    fig.layout.title.text = f"{label.split(' · ')[0]} · {fig.layout.title.text}"
    show_figure(fig, f"explorer_compare_layer_{name}")


if activations is not None:
    layer_view(chosen, activations, comparison, other_activations)

# ------------------------------------------------------------ filters


@st.fragment
def filter_weights() -> None:
    """The convolution filters: a fragment of its own (a layer step does not redraw them); on a full run
    it opens on the Explorer's layer when that is a convolution, with the chosen channel outlined."""
    with guarded("the filter weights"):
        _filter_weights()


def _filter_weights() -> None:
    conv_layers = [i for i in infos if i.kind == "conv"]
    if not conv_layers:
        return
    info = infos[min(st.session_state.get(state.LAYER_INDEX, 0), len(infos) - 1)]
    channel = st.session_state.get(state.CHANNEL_INDEX)
    st.divider()
    st.subheader("Filter weights")
    st.caption(
        f"What each convolution filter multiplies the picture by. {POSITIVE_NAME.capitalize()} weights (+) reward brightness under them, "
        f"{NEGATIVE_NAME} weights (−) punish it, white is about zero; the colour scale is centred on zero."
    )
    names_conv = [i.name for i in conv_layers]
    default = info.name if info.kind == "conv" else names_conv[0]
    layer_name = st.radio("Convolution layer", names_conv, index=names_conv.index(default), horizontal=True, key=f"explorer_filters_{default}")
    kernels = engine.kernels(layer_name)
    in_channels = kernels.shape[2]
    input_channel = None
    if in_channels > 1:
        pick_in = st.selectbox(
            f"Input channel ({in_channels} maps of the layer before feed each filter)",
            ["mean over all input channels"] + [f"input channel {k}" for k in range(in_channels)],
            key=f"explorer_filter_in_{layer_name}",
        )
        input_channel = None if pick_in.startswith("mean") else int(pick_in.rsplit(" ", 1)[1])
    highlight = channel if (channel is not None and layer_name == info.name) else None
    title = f"{layer_name}: {kernels.shape[3]} filters of {kernels.shape[0]}x{kernels.shape[1]}" + (
        "" if in_channels == 1 else (" (mean over input channels)" if input_channel is None else f", weights on input channel {input_channel}")
    )
    show_figure(kernel_mosaic(kernels, title, input_channel=input_channel, highlight=highlight, columns=8 if on_phone() else 16), f"explorer_kernels_{layer_name}")
    st.page_link(state.PAGES["replay"], label="How these filters grew out of random noise: the replay of training", icon=":material/replay:")


filter_weights()

if activations is not None:
    with st.sidebar, guarded("the Explorer's sidebar"):
        st.markdown("### This picture")
        top_class = activations.predicted_class
        st.markdown(f"Prediction: **{CLASS_NAMES[top_class]}** ({activations.probabilities[top_class]:.1%})")
        if chosen.label is not None:
            st.markdown(f"True label: **{CLASS_NAMES[chosen.label]}** {'✓' if chosen.label == top_class else '✗'}")
