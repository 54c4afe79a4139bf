"""Figures of the Explorer's arithmetic panel: the receptive field (a picture), windows, kernels, products and pooling
windows (HTML number grids), partial sums, contributions (HTML bars), softmax with temperature, dropout masks, Monte-Carlo dropout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import figure, outlined_picture
from fashion_viz.palette import ACTIVATION_SCALE, BAR_COLOUR, BLACK, CLASS_COLOURS, DIVERGING_SCALE, GRID_COLOUR, HIGHLIGHT_COLOUR, INK_COLOUR, REFERENCE_COLOUR, TRUE_COLOUR, WHITE, sign_colour


def receptive_field_picture(image: np.ndarray, field: tuple[int, int, int, int], factor: int = 10) -> np.ndarray:
    """(28f, 28f, 3) uint8: the input picture with the pixels one value depends on outlined and the rest dimmed.
    A picture, not a chart: it needs no hover, and each chart fewer is one redraw fewer on a layer step."""
    top, left, bottom, right = field
    picture = np.asarray(image, dtype=np.float32)
    dimmed = picture * 0.35
    dimmed[top:bottom, left:right] = picture[top:bottom, left:right]
    return outlined_picture(np.clip(dimmed, 0, 255).astype(np.uint8), field, factor)


@dataclass(frozen=True)
class NumberGrid:
    """One small grid of numbers for :func:`number_grids_html`: ``signed`` values are tinted on the diverging
    scale centred on 0, others on the activation scale from 0; ``outlined`` is a (row, column) singled out."""

    heading: str
    values: np.ndarray
    signed: bool = False
    digits: int = 3
    outlined: tuple[int, int] | None = None


def _cell_colour(fraction: float, scale) -> str:
    return plotly.colors.sample_colorscale(scale, [float(np.clip(fraction, 0.0, 1.0))], colortype="rgb")[0]


def _text_colour(background: str) -> str:
    r, g, b = plotly.colors.unlabel_rgb(background)
    return BLACK if 0.299 * r + 0.587 * g + 0.114 * b > 140 else WHITE


def number_grids_html(grids: Sequence[NumberGrid]) -> str:
    """Small grids side by side as one HTML table row, each cell tinted by the palette's scales, its exact value
    on hover. The windows, kernels, products and pooling windows of the arithmetic panel: printed numbers read
    better as text than as a heatmap's labels, and a table costs the browser far less than a chart."""
    blocks = []
    for grid in grids:
        values = np.asarray(grid.values, np.float64)
        limit = float(max(np.abs(values).max(), 1e-9))
        rows = []
        for r, row in enumerate(values):
            cells = []
            for c, value in enumerate(row):
                fraction = (value / limit + 1) / 2 if grid.signed else value / limit
                background = _cell_colour(fraction, DIVERGING_SCALE if grid.signed else ACTIVATION_SCALE)
                border = f"3px solid {HIGHLIGHT_COLOUR}" if grid.outlined == (r, c) else f"1px solid {WHITE}"
                cells.append(
                    f"<td title='{grid.heading}, row {r}, column {c}: {value:.5f}' style='background:{background};color:{_text_colour(background)};"
                    f"border:{border};padding:6px 8px;text-align:center;font-variant-numeric:tabular-nums'>{value:.{grid.digits}f}</td>"
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        blocks.append(
            f"<div style='display:inline-block;vertical-align:top;margin:0 14px 8px 0'><div style='font-weight:600;margin-bottom:4px'>{grid.heading}</div>"
            f"<table style='border-collapse:collapse;margin:0'>{''.join(rows)}</table></div>"
        )
    return "<div>" + "".join(blocks) + "</div>"


def window_kernel_products(window: np.ndarray, kernel: np.ndarray) -> list[NumberGrid]:
    """The input window, the kernel, and their element-wise products (which sum, with the bias, to the value)."""
    window, kernel = np.asarray(window, np.float64), np.asarray(kernel, np.float64)
    return [
        NumberGrid("input window", window),
        NumberGrid("× kernel weights", kernel, signed=True),
        NumberGrid("= products", window * kernel, signed=True),
    ]


def partial_sums_figure(per_channel: np.ndarray, title: str) -> go.Figure:
    """Each input channel's contribution (3x3 window x 3x3 kernel slice, summed), sorted; bars are clickable."""
    per_channel = np.asarray(per_channel, np.float64)
    order = np.argsort(-per_channel)
    bars = dict(
        type="bar",
        x=[f"ch {k}" for k in order],
        y=per_channel[order],
        customdata=order,
        marker=dict(color=[sign_colour(v) for v in per_channel[order]]),
        hovertemplate="input channel %{customdata}: %{y:.4f}<br>click to see its nine products<extra></extra>",
    )
    return figure(
        [bars],
        title,
        300,
        showlegend=False,
        bargap=0.15,
        xaxis=dict(title=dict(text="input channel (largest push up first)"), tickangle=-60, tickfont=dict(size=10)),
        yaxis=dict(title=dict(text="partial sum"), gridcolor=GRID_COLOUR, zerolinecolor=INK_COLOUR),
        dragmode=False,
    )


def contributions_html(items: Sequence[tuple[str, float]], title: str) -> str:
    """Signed contributions as an HTML list of bars from a zero line, largest first, each with its label and value
    (exact on hover). A dense unit's or a logit's largest terms: a dozen labelled bars with nothing to click read as
    well as a chart, and a table costs the browser far less than one (about 50-70 ms a layer step)."""
    values = np.array([value for _, value in items], np.float64)
    low, high = min(float(values.min(initial=0.0)), 0.0), max(float(values.max(initial=0.0)), 0.0)
    span = (high - low) or 1.0
    zero = (0.0 - low) / span * 100
    rows = []
    for label, value in items:
        start = (min(value, 0.0) - low) / span * 100
        bar = (
            f"<div style='position:relative;height:16px'>"
            f"<div style='position:absolute;left:{zero:.2f}%;top:-3px;bottom:-3px;border-left:1px solid {INK_COLOUR}'></div>"
            f"<div data-value='{value:.6g}' style='position:absolute;left:{start:.2f}%;width:{abs(value) / span * 100:.2f}%;top:0;bottom:0;background:{sign_colour(value)}'></div></div>"
        )
        rows.append(
            f"<tr title='{escape(label)}: {value:+.6f}'><td style='padding:3px 8px 3px 0;text-align:right;white-space:nowrap'>{escape(label)}</td>"
            f"<td style='width:60%;padding:3px 0'>{bar}</td>"
            f"<td style='padding:3px 0 3px 8px;text-align:right;font-variant-numeric:tabular-nums'>{value:+.4f}</td></tr>"
        )
    return (
        f"<div style='font-weight:600;margin-bottom:4px'>{escape(title)}</div>"
        f"<table style='border-collapse:collapse;width:100%;font-size:13px;color:{INK_COLOUR}'>{''.join(rows)}</table>"
    )


def temperature_figure(logits: np.ndarray, probabilities_t: np.ndarray, temperature: float) -> go.Figure:
    """Probabilities at temperature 1 beside those at temperature T (same ranking, sharper or flatter)."""
    z = np.asarray(logits, np.float64)
    p1 = np.exp(z - z.max())
    p1 /= p1.sum()
    data = [
        dict(type="bar", x=list(CLASS_NAMES), y=p1, name="T = 1 (the model)", marker=dict(color=BAR_COLOUR), hovertemplate="%{x}: %{y:.2%}<extra>T = 1</extra>"),
        dict(type="bar", x=list(CLASS_NAMES), y=probabilities_t, name=f"T = {temperature:g}", marker=dict(color=HIGHLIGHT_COLOUR), hovertemplate=f"%{{x}}: %{{y:.2%}}<extra>T = {temperature:g}</extra>"),
    ]
    return figure(
        data,
        f"softmax(logits / T) at T = {temperature:g}",
        300,
        barmode="group",
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        xaxis=dict(tickangle=-35),
        yaxis=dict(title=dict(text="probability"), range=[0, 1.05], tickformat=".0%", gridcolor=GRID_COLOUR),
    )


def dropout_mask_figure(before: np.ndarray, after: np.ndarray, mask: np.ndarray, title: str) -> go.Figure:
    """A vector layer's values at inference (grey) and under one training-mode mask (highlighted; dropped units marked)."""
    before, after, mask = np.asarray(before, float), np.asarray(after, float), np.asarray(mask, bool)
    units = np.arange(len(before))
    data = [
        dict(type="bar", x=units, y=before, name="inference (identity)", marker=dict(color=REFERENCE_COLOUR), hovertemplate="unit %{x}: %{y:.3f}<extra>inference</extra>"),
        dict(type="bar", x=units, y=after, name="training mask (kept x scale)", marker=dict(color=HIGHLIGHT_COLOUR), hovertemplate="unit %{x}: %{y:.3f}<extra>under the mask</extra>"),
        dict(type="scatter", mode="markers", x=units[~mask], y=np.zeros((~mask).sum()), name="dropped", marker=dict(symbol="x", color=INK_COLOUR, size=6), hovertemplate="unit %{x} dropped<extra></extra>"),
    ]
    return figure(
        data,
        title,
        300,
        barmode="overlay",
        legend=dict(orientation="h", y=-0.3, x=0, yanchor="top"),
        margin=dict(l=10, r=10, t=48, b=60),
        xaxis=dict(title=dict(text="unit")),
        yaxis=dict(title=dict(text="value"), gridcolor=GRID_COLOUR),
    )


def dropout_map_figure(before: np.ndarray, after: np.ndarray, mask: np.ndarray, title: str, height: int = 280) -> go.Figure:
    """One channel's map at inference and under a training-mode mask, side by side (dropped pixels are 0)."""
    before, after = np.asarray(before, np.float32), np.asarray(after, np.float32)
    top = float(max(after.max(), before.max(), 1e-9))
    traces = []
    for i, (values, name) in enumerate(((before, "inference"), (after, "under the mask")), start=1):
        suffix = "" if i == 1 else str(i)
        traces.append(dict(type="heatmap", z=values, colorscale=ACTIVATION_SCALE, zmin=0, zmax=top, showscale=i == 2, xaxis=f"x{suffix}", yaxis=f"y{suffix}", name=name, hovertemplate=f"{name}, row %{{y}}, column %{{x}}: %{{z:.3f}}<extra></extra>"))
    axes = {
        "xaxis": dict(domain=[0, 0.45], visible=False),
        "yaxis": dict(autorange="reversed", visible=False, scaleanchor="x"),
        "xaxis2": dict(domain=[0.5, 0.95], visible=False),
        "yaxis2": dict(autorange="reversed", visible=False, anchor="x2", scaleanchor="x2"),
    }
    annotations = [
        dict(text=text, x=0.5, y=1.0, xref=f"{axis} domain", yref=f"{yaxis} domain", showarrow=False, yanchor="bottom")
        for text, axis, yaxis in (("inference", "x", "y"), (f"mask: {int((~np.asarray(mask, bool)).sum())} of {np.size(mask)} dropped", "x2", "y2"))
    ]
    return figure(traces, title, height, annotations=annotations, margin=dict(l=10, r=10, t=70, b=10), **axes)


def monte_carlo_figure(samples: np.ndarray, reference: np.ndarray, title: str) -> go.Figure:
    """The spread of each class probability over dropout samples (box per class), with the inference value marked."""
    samples = np.asarray(samples, np.float64)
    boxes = [
        dict(type="box", y=samples[:, k], name=CLASS_NAMES[k], marker=dict(color=CLASS_COLOURS[k]), boxpoints="all", jitter=0.4, pointpos=0, showlegend=False, hovertemplate=f"{CLASS_NAMES[k]}: %{{y:.2%}}<extra></extra>")
        for k in range(samples.shape[1])
    ]
    marks = dict(type="scatter", mode="markers", x=list(CLASS_NAMES), y=reference, name="without dropout", marker=dict(symbol="diamond", size=11, color=TRUE_COLOUR), hovertemplate="%{x} without dropout: %{y:.2%}<extra></extra>")
    return figure(
        boxes + [marks],
        title,
        360,
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
        margin=dict(l=10, r=10, t=70, b=10),
        xaxis=dict(tickangle=-35),
        yaxis=dict(title=dict(text="probability"), range=[0, 1.05], tickformat=".0%", gridcolor=GRID_COLOUR),
    )
