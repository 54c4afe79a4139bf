"""Units: what each filter, neuron and class has learned, across the whole test set."""

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import require_model, require_views, show_figure, spoken_list
from app_pages.picker import open_in_explorer
from fashion_viz import CLASS_NAMES
from fashion_viz.explain.units import UnitError, feeder_layer, unit_layers, unit_name, unit_row, unit_sizes
from fashion_viz.figures.base import upscale
from fashion_viz.figures.layers import kernel_mosaic
from fashion_viz.figures.units import class_bars, exemplar_grid, feeder_bars
from fashion_viz.palette import HIGHLIGHT_NAME, NEGATIVE_NAME, POSITIVE_NAME

loaded = require_model()
engine = resources.current_engine()
kinds, sizes = unit_layers(engine), unit_sizes(engine)
first_conv = engine.conv_names[0]  # its units see the picture itself: the picture is its kernel
voting = {engine.conv_names[-1], *engine.dense_names}  # units whose votes are measured (see units.ablation_votes)
default_layer = engine.conv_names[-1]


def layer_label(name: str) -> str:
    return f"classes · {sizes[name]}" if kinds[name] == "softmax" else f"{name} · {sizes[name]}"


# ?layer=conv2&unit=17 (from a link elsewhere in the app) is applied once; later choices are the person's.
from_url = (st.query_params.get("layer"), st.query_params.get("unit"))
if all(from_url) and st.session_state.get(state.UNITS_FROM_URL) != from_url:
    st.session_state[state.UNITS_FROM_URL] = from_url
    try:
        unit_row(sizes, from_url[0], int(from_url[1]))
        st.session_state[state.UNITS_LAYER], st.session_state[state.UNITS_UNIT] = from_url[0], int(from_url[1])
    except (UnitError, ValueError):
        st.warning(f"The link asks for {from_url[0]} unit {from_url[1]}, which this model does not have; showing another unit.")
layer = st.session_state.get(state.UNITS_LAYER, default_layer)
layer = layer if layer in sizes else default_layer
kind = kinds[layer]
unit = min(int(st.session_state.get(state.UNITS_UNIT, 0)), sizes[layer] - 1)


def choose(new_layer: str, new_unit: int) -> None:
    st.session_state[state.UNITS_LAYER], st.session_state[state.UNITS_UNIT] = new_layer, int(new_unit)


st.title("Units")
hidden = f", every neuron of {spoken_list(engine.dense_names)}" if engine.dense_names else ""
st.caption(
    f"Every channel of {spoken_list(engine.conv_names)}{hidden} and every class: the test pictures that excite it most "
    "and least, the picture the model's own gradients build for it, what it votes for, and how it behaves over the 10,000 test pictures."
)

pick_layer, pick_unit, step_back, step_on = st.columns([3.2, 2, 0.5, 0.5], vertical_alignment="bottom")
st.session_state["units_layer_widget"] = layer
pick_layer.segmented_control(
    "Layer", list(sizes), key="units_layer_widget", required=True, format_func=layer_label,
    on_change=lambda: choose(st.session_state["units_layer_widget"], min(unit, sizes[st.session_state["units_layer_widget"]] - 1)),
)
unit_key = f"units_unit_{layer}"
st.session_state[unit_key] = unit
pick_unit.selectbox(
    "Unit", range(sizes[layer]), key=unit_key, format_func=lambda k: unit_name(layer, kind, k),
    on_change=lambda: choose(layer, st.session_state[unit_key]),
)
step_back.button("", icon=":material/arrow_back:", help="previous unit", disabled=unit == 0, on_click=choose, args=(layer, unit - 1), width="stretch")
step_on.button("", icon=":material/arrow_forward:", help="next unit", disabled=unit == sizes[layer] - 1, on_click=choose, args=(layer, unit + 1), width="stretch")
st.query_params["layer"], st.query_params["unit"] = layer, str(unit)
st.session_state[state.UNITS_FROM_URL] = (layer, str(unit))

data, views = require_views(loaded, "atlas", "The Units page")
atlas = views.atlas
row = atlas.row(layer, unit)
favourite = int(atlas.favourite[row])
predictions = resources.current_test_predictions()

with guarded("the unit's pictures and votes"):
    st.subheader(unit_name(layer, kind, unit).capitalize())
    imagined, behaviour, votes = st.columns([1.05, 1.4, 1.6])
    with imagined:
        st.markdown("**What the model imagines for it**")
        st.image(upscale(atlas.act_max[row], 8), width=224, clamp=True)
        objective = {"conv": "its value at the centre of the map", "dense": "its value before the ReLU", "softmax": "the class's logit (before the softmax)"}[kind]
        reached, p99 = float(atlas.act_max_reached[row]), float(atlas.score_p99[row])
        st.caption(
            f"Built from noise by {atlas.steps} steps of gradient ascent on {objective}, with 1 px jitter and penalties "
            f"that keep it smooth: it reaches **{reached:.2f}**, where the strongest 1 % of test pictures reach {p99:.2f}."
        )
    with behaviour:
        share = float(atlas.active_share[row])
        active_text = {
            "conv": f"{share:.0%} of map positions are above zero, on average over the test pictures",
            "dense": f"active (above zero) for {share:.0%} of the test pictures",
            "softmax": f"the model's answer for {share:.1%} of the test pictures",
        }[kind]
        st.markdown(f"**How it behaves:** {active_text}.")
        what = {"conv": "strongest value in its map", "dense": "activation", "softmax": "logit"}[kind]
        show_figure(class_bars(atlas.class_means[row], "Mean per true class", what, highlight=favourite), "units_class_means")
        st.caption(f"{HIGHLIGHT_NAME.capitalize()}: its favourite class, {CLASS_NAMES[favourite]} (the highest mean).")
    with votes:
        if layer in voting:
            show_figure(
                class_bars(atlas.votes[row], "What it votes for", "logit with it minus logit without it", signed=True),
                "units_votes",
            )
            st.caption(
            f"How much each class's logit drops when this unit is switched off. {POSITIVE_NAME.capitalize()} (+): it pushes that class up; "
            f"{NEGATIVE_NAME} (−): it pushes it down. Averaged over the 10,000 test pictures, dropout off."
        )
        elif kind == "softmax":
            feeders = feeder_layer(engine)
            show_figure(feeder_bars(atlas.feeders[unit], unit, feeders), "units_feeders")
            if feeders in sizes:
                strongest = [int(u) for u in np.argsort(atlas.feeders[unit])[::-1][:4]]
                st.caption("Open one of the strongest feeders:")
                for column, u in zip(st.columns(len(strongest)), strongest):
                    column.button(f"unit {u}", key=f"units_feeder_{u}", on_click=choose, args=(feeders, u), width="stretch")
        elif layer == first_conv:
            k = engine.info(layer).receptive_field
            st.markdown(f"**The {k}x{k} kernel is the whole story.**")
            st.caption(
                f"A {layer} value is the {k * k} weights below times the {k}x{k} patch of pixels under them, plus a bias, then ReLU. "
                "So the picture on the left is only this pattern drawn at the centre; the exemplars below show where it occurs in real garments."
            )
            show_figure(kernel_mosaic(engine.kernels(layer)[..., unit : unit + 1], f"{layer} filter {unit}"), "units_kernel")
            st.page_link(state.PAGES["replay"], label="Watch this filter grow out of noise: the replay of training", icon=":material/replay:")
        else:
            st.markdown("**Its votes are not measured.**")
            st.caption(
                f"Switching a {layer} channel off changes every convolution after it, so its effect on each class is not one "
                f"exact sum; the votes are measured for {engine.conv_names[-1]} and the dense layers. Its exemplars below show what it responds to."
            )


def exemplar_section(title: str, indices: np.ndarray, positions: np.ndarray | None, key: str) -> None:
    st.markdown(f"#### {title}")
    boxes = None
    if positions is not None and kind == "conv":
        boxes = [engine.info(layer).field(int(r), int(c)) for r, c in positions]
    st.image(exemplar_grid(data.x_test[indices], boxes), width="stretch")
    labels = [
        f"#{int(i)} {CLASS_NAMES[int(data.y_test[i])]}" + ("" if predictions[i] == data.y_test[i] else f" (model: {CLASS_NAMES[int(predictions[i])]})")
        for i in indices
    ]
    st.caption(" · ".join(labels))
    choice, go = st.columns([3, 1], vertical_alignment="bottom")
    picked = choice.selectbox("Open one in the Explorer", list(indices), format_func=lambda i: f"test image #{i}", key=f"units_open_{key}")
    if go.button("Open", key=f"units_open_button_{key}", icon=":material/layers:", width="stretch"):
        open_in_explorer(int(picked))


box_note = f" ({HIGHLIGHT_NAME} box: the patch of pixels its strongest value saw)" if kind == "conv" else ""
with guarded("the strongest exemplars"):
    exemplar_section(f"The 9 test pictures that excite it most{box_note}", atlas.top[row], atlas.top_position[row], "top")
with guarded("the weakest exemplars"):
    exemplar_section(f"The 9 that excite it least among its favourite class, {CLASS_NAMES[favourite]}", atlas.bottom[row], None, "bottom")
