"""The Explorer's "how was this number computed" panel: one value of the current layer, its whole sum.

Every number comes from ``fashion_viz.explain.arithmetic`` (the model's own weights
and intermediate outputs); this module only draws widgets and figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import state
from app_pages.panels import show_figure
from fashion_viz import CLASS_NAMES
from fashion_viz.figures.arithmetic import NumberGrid, contributions_html, dropout_map_figure, dropout_mask_figure, monte_carlo_figure, number_grids_html, partial_sums_figure, receptive_field_picture, temperature_figure, window_kernel_products
from fashion_viz.explain.arithmetic import (
    Calculation,
    describe,
    explain_value,
    flatten_index,
    masked_dropout,
    monte_carlo_dropout,
    softmax_with_temperature,
    top_contributions,
)
from fashion_viz.figures.layers import kernel_mosaic
from fashion_viz.figures.prediction import probability_chart

PARTIAL_SUMS_CHART = "calc_partial_sums"


def spatial_position(values: np.ndarray, channel: int) -> tuple[int, int]:
    """The (row, column) to explain: the person's choice (clamped to this layer), else the channel's strongest point."""
    h, w = values.shape[:2]
    if state.CALC_ROW in st.session_state:
        return min(st.session_state[state.CALC_ROW], h - 1), min(st.session_state[state.CALC_COL], w - 1)
    r, c = np.unravel_index(int(np.argmax(values[:, :, channel])), (h, w))
    return int(r), int(c)


def position_widgets(values: np.ndarray, channel: int | None) -> tuple[int, ...]:
    """Row/column (the channel is the one chosen above) or unit; choices are kept across layers and only
    shown clamped where a layer is smaller. Clicks on the large map or the bars write the same keys."""
    if values.ndim == 3:
        h, w, _ = values.shape
        row, col = spatial_position(values, channel)
        a, b = st.columns(2)
        row_key, col_key = "calc_row_widget", "calc_col_widget"
        st.session_state[row_key], st.session_state[col_key] = row, col

        def typed() -> None:
            st.session_state[state.CALC_ROW], st.session_state[state.CALC_COL] = st.session_state[row_key], st.session_state[col_key]

        a.number_input(f"Row (0-{h - 1})", 0, h - 1, key=row_key, on_change=typed)
        b.number_input(f"Column (0-{w - 1})", 0, w - 1, key=col_key, on_change=typed)
        return row, col, channel
    n = values.shape[0]
    unit = min(st.session_state.get(state.CALC_UNIT, int(np.argmax(values))), n - 1)
    unit_key = "calc_unit_widget"
    st.session_state[unit_key] = unit
    label = "Class" if n == len(CLASS_NAMES) else f"Unit (0-{n - 1})"
    st.number_input(label, 0, n - 1, key=unit_key, on_change=lambda: st.session_state.update({state.CALC_UNIT: st.session_state[unit_key]}),
                    help="Or click a bar in the chart above.")
    return (unit,)


def _receptive_field(image: np.ndarray, calc: Calculation, caption: str) -> None:
    st.markdown(f"**{caption}**")
    st.image(receptive_field_picture(image, calc.receptive_field), width=280)


def _number_grids(title: str, grids: list[NumberGrid]) -> None:
    st.markdown(f"**{title}**")
    st.html(number_grids_html(grids))  # into the page as it is: as markdown, its HTML was parsed again on every draw


def _check_line(calc: Calculation) -> None:
    agrees = abs(calc.output - calc.model_output) <= 1e-5 + 1e-5 * abs(calc.model_output)
    st.markdown(describe(calc))
    st.caption(("✓ " if agrees else "✗ ") + f"recomputed here: {calc.output:.6f} · the model's own output: {calc.model_output:.6f}")


def _conv(model, image, calc: Calculation) -> None:
    kh, kw, cin = calc.kernel_shape
    picture, detail = st.columns([1, 2.2])
    with picture:
        top, left, bottom, right = calc.receptive_field
        _receptive_field(image, calc, f"Depends on input pixels {bottom - top}x{right - left}")
    window = calc.inputs.reshape(kh, kw, cin)
    kernel = calc.weights.reshape(kh, kw, cin)
    with detail:
        if cin == 1:
            _number_grids(f"{calc.layer}: the {kh}x{kw} window of the picture (pixels / 255) x filter {calc.at[2]}", window_kernel_products(window[:, :, 0], kernel[:, :, 0]))
        else:
            def bar_clicked() -> None:
                points = st.session_state[PARTIAL_SUMS_CHART].selection.points
                if points:
                    st.session_state[state.CALC_INPUT_CHANNEL] = int(points[0]["customdata"])

            show_figure(
                partial_sums_figure(calc.per_channel, f"{calc.layer}[{', '.join(map(str, calc.at))}]: what each of the {cin} input channels adds (click a bar)"),
                PARTIAL_SUMS_CHART, on_select=bar_clicked, selection_mode="points",
            )
    if cin > 1:
        strongest = int(np.argmax(np.abs(calc.per_channel)))
        chosen = min(st.session_state.get(state.CALC_INPUT_CHANNEL, strongest), cin - 1)
        key = "calc_input_channel_widget"
        st.session_state[key] = chosen
        st.selectbox(f"Input channel to expand into its nine products (of {cin})", range(cin), key=key,
                     on_change=lambda: st.session_state.update({state.CALC_INPUT_CHANNEL: st.session_state[key]}),
                     format_func=lambda k: f"channel {k}: partial sum {calc.per_channel[k]:+.4f}")
        _number_grids(f"Input channel {chosen}: its {kh}x{kw} window x the kernel slice = {calc.per_channel[chosen]:+.4f}", window_kernel_products(window[:, :, chosen], kernel[:, :, chosen]))
    _check_line(calc)


def _pool(image, calc: Calculation) -> None:
    picture, detail = st.columns([1, 1.6])
    with picture:
        _receptive_field(image, calc, "The input pixels behind this value")
    with detail:
        r, c = calc.window_origin
        ph, pw = np.shape(calc.window)
        _number_grids(
            f"The {ph}x{pw} window at rows {r}-{r + ph - 1}, columns {c}-{c + pw - 1} of the input map (the largest, outlined, is the output)",
            [NumberGrid("window", calc.window, digits=4, outlined=tuple(calc.window_argmax))],
        )
        _check_line(calc)
        for note in calc.notes:
            st.caption(note)


def _dropout(engine, image, activations, calc: Calculation, channel: int | None) -> None:
    _check_line(calc)
    rate = float(engine.model.get_layer(calc.layer).rate)
    training = st.toggle(
        "Training mode: draw a random mask",
        key="calc_dropout_training",
        help=f"During training this layer drops each value with probability {rate:g} and multiplies the survivors by 1/(1 - {rate:g}) = {1 / (1 - rate):.2f}.",
    )
    if training:
        seed = st.number_input("Mask seed (the same seed draws the same mask)", 0, 10_000, 0, key="calc_dropout_seed")
        masked = masked_dropout(engine, image, activations, calc.layer, int(seed))
        kept = int(masked.mask.sum())
        st.markdown(
            f"This mask keeps **{kept:,} of {masked.mask.size:,}** values ({kept / masked.mask.size:.0%}) and multiplies them by "
            f"**{masked.scale:.2f}**, so the layer's total stays about the same on average."
        )
        left, right = st.columns(2)
        with left:
            if masked.before.ndim == 3:
                show_figure(dropout_map_figure(masked.before[:, :, channel], masked.after[:, :, channel], masked.mask[:, :, channel], f"Channel {channel} of {calc.layer}"), "calc_mask")
            else:
                show_figure(dropout_mask_figure(masked.before, masked.after, masked.mask, f"{calc.layer}: the {masked.mask.size} units under this mask"), "calc_mask")
        with right:
            top = int(np.argmax(masked.probabilities))
            show_figure(probability_chart(masked.probabilities, title=f"Under this mask: {CLASS_NAMES[top]} ({masked.probabilities[top]:.1%})"), "calc_mask_prediction")
    if st.toggle("Sample 50 masks (Monte-Carlo dropout: every dropout layer in training mode)", key="calc_dropout_mc"):
        samples = monte_carlo_dropout(engine, image, samples=50, seed=int(st.session_state.get("calc_dropout_seed", 0)))
        show_figure(monte_carlo_figure(samples, activations.probabilities, "How the prediction wobbles over 50 dropout masks"), "calc_mc")
        votes = np.bincount(samples.argmax(axis=1), minlength=len(CLASS_NAMES))
        winners = ", ".join(f"{CLASS_NAMES[k]} {votes[k]}" for k in np.argsort(-votes) if votes[k])
        st.caption(f"Top class over the 50 masks: {winners}. A wide spread means the model is unsure about this picture.")


def _flatten(calc: Calculation) -> None:
    _check_line(calc)
    for note in calc.notes:
        st.caption(note)
    h, w, c = calc.input_shape
    st.markdown("**And back:** which unit holds a given row, column and channel?")
    cols = st.columns(3)
    keys = ("calc_flat_row", "calc_flat_col", "calc_flat_channel")
    for key, value in zip(keys, calc.source):
        st.session_state[key] = int(value)

    def position_typed() -> None:
        r, col, ch = (st.session_state[k] for k in keys)
        st.session_state[state.CALC_UNIT] = flatten_index((h, w, c), r, col, ch)

    for column, key, label, size in zip(cols, keys, ("Row", "Column", "Channel"), (h, w, c)):
        column.number_input(f"{label} (0-{size - 1})", 0, size - 1, key=key, on_change=position_typed)


def _dense(model, calc: Calculation, input_shape_3d: tuple[int, ...] | None) -> None:
    items = []
    for index, value in top_contributions(calc, 12):
        if input_shape_3d:
            r, c, ch = np.unravel_index(index, input_shape_3d)
            label = f"row {r}, col {c}, ch {ch}"
        else:
            label = f"unit {index}"
        items.append((f"{label}: {calc.inputs[index]:.3f} x {calc.weights[index]:+.3f}", value))
    st.html(contributions_html(items, f"The 12 largest of the {len(calc.inputs):,} input x weight terms"))
    _check_line(calc)
    if input_shape_3d:
        h, w, c = input_shape_3d
        show_figure(
            kernel_mosaic(calc.weights.reshape(h, w, c)[:, :, None, :], f"Unit {calc.at[0]}'s {calc.weights.size:,} weights as {c} maps of {h}x{w}: what it looks for in each channel"),
            "calc_weight_maps",
        )


def _softmax(calc: Calculation) -> None:
    logit = f"logit ({len(calc.inputs)} inputs x weights + bias)"
    table = pd.DataFrame({"class": CLASS_NAMES, logit: calc.logits, "exp(logit)": calc.exps, "probability = exp / sum": calc.probabilities})
    # A static table: ten rows need no scrolling or sorting, and it costs the browser far less than a data grid.
    st.table(table.style.hide(axis="index").format({logit: "{:.4f}", "exp(logit)": "{:.4g}", "probability = exp / sum": "{:.4f}"}))
    st.markdown(f"Sum of the ten exps: **{calc.exps.sum():.6g}**; each probability is its exp divided by this sum, so they add up to 1.")
    _check_line(calc)
    temperature = st.slider("Temperature T: softmax(logits / T)", 0.25, 5.0, 1.0, 0.25, key="calc_temperature",
                            help="T > 1 flattens the probabilities, T < 1 sharpens them; the ranking never changes.")
    if temperature == 1.0:  # the layer's own chart above already shows softmax at T = 1: one chart fewer to draw
        st.caption("Move the slider to compare the probabilities at another temperature with these.")
    else:
        show_figure(temperature_figure(calc.logits, softmax_with_temperature(calc.logits, temperature), temperature), "calc_temperature_chart")
    items = [(f"dense unit {i}: {calc.inputs[i]:.3f} x {calc.weights[i]:+.3f}", v) for i, v in top_contributions(calc, 10)]
    st.html(contributions_html(items, f"What makes the {CLASS_NAMES[calc.at[0]]} logit: the 10 largest of {len(calc.inputs)} terms"))


def arithmetic_panel(engine, image: np.ndarray, activations, index: int, channel: int | None) -> None:
    """The panel for the current layer: choose a position, read how its value was computed."""
    model = engine.model
    output = activations.layers[index]
    at = position_widgets(output.values, channel)
    calc = explain_value(model, image, activations, output.name, at)
    if calc.kind == "conv":
        _conv(model, image, calc)
    elif calc.kind == "pool":
        _pool(image, calc)
    elif calc.kind == "dropout":
        _dropout(engine, image, activations, calc, channel)
    elif calc.kind == "flatten":
        _flatten(calc)
    elif calc.kind == "dense":
        # A dense layer after flatten: name its inputs by where they sat in the last feature maps.
        flattened = index and activations.layers[index - 1].kind == "flatten"
        spatial = next((o.values.shape for o in reversed(activations.layers[:index]) if o.is_spatial), None)
        _dense(model, calc, spatial if flattened else None)
    else:
        _softmax(calc)
