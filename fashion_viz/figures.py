"""Plotly figure builders: pure functions from arrays to figures, no UI.

Each builder writes the whole figure as one dict spec and wraps it once,
unvalidated (:func:`figure`): 0.5 ms instead of 5-15 ms for the same figure
built through validated ``update_*`` calls. ``tests/test_figures.py`` rebuilds
every figure with validation on, so a misspelt property still fails a test.

Mosaics are a single heatmap with NaN gaps between tiles (facets or subplots
cost 30-100x more). Colour scales are colour-blind safe: Cividis for
activations, the palette's diverging scale centred on 0 for every signed value (see
:mod:`fashion_viz.palette`), and every colour bar is labelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Imported here, before any figure is built, on purpose: Plotly's validators read ``sys.modules["pandas"]``
# without importing it (``get_module("pandas", should_load=False)``), so while another thread was still
# importing pandas (Keras imports it, in the app's warm-up thread) a figure built meanwhile met the half-made
# module and failed ("partially initialized module 'pandas' has no attribute 'Series'": the error box a new
# server's second visitor saw on Home). A real import waits for another thread's import to finish.
import pandas  # noqa: F401
import plotly.graph_objects as go

from fashion_viz import CLASS_NAMES
from fashion_viz.palette import (
    ACTIVATION_SCALE,
    BAR_COLOUR,
    DIVERGING_SCALE,
    HIGHLIGHT_COLOUR,
    IMAGE_SCALE,
    GRID_COLOUR,
    HIGHLIGHT_NAME,
    INK_COLOUR,
    LABEL_BACKGROUND,
    NEGATIVE_NAME,
    POSITIVE_NAME,
    TRANSPARENT,
    WHITE,
    TRUE_COLOUR,
    layer_colour,
)

LABEL_TRACE = "channel labels"  # the clickable channel numbers of a feature-map mosaic
CELL_TRACE = "confusion cells"  # the clickable cells of a confusion matrix
PIXEL_TRACE = "pixels"  # the clickable pixels of a single feature map
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
HIDDEN_AXIS = dict(visible=False)
NARROW_BAR_PX = 64  # a colour bar laid under a chart on a phone, with its title
PICTURE_Y_AXIS = dict(autorange="reversed", scaleanchor="x", visible=False)  # row 0 on top, square pixels


def figure(data: list[dict], title: str, height: int, **layout) -> go.Figure:
    """One figure from trace dicts and layout keywords, in the house style, built without validation."""
    spec_layout = dict(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=48, b=10),
        font=FONT,
        plot_bgcolor=WHITE,
        paper_bgcolor=WHITE,
    )
    spec_layout.update(layout)
    return go.Figure({"data": data, "layout": spec_layout}, _validate=False)


def for_narrow_screen(fig: go.Figure) -> go.Figure:
    """The same figure laid out for a phone-width screen: every colour bar horizontal, under the chart (the figure
    grows by their height), instead of a column of its own beside it (a quarter of a 390 px screen)."""
    height = fig.layout.height or 400
    bars = [t for t in fig.data if t.type == "heatmap" and t.showscale is not False and t.colorbar is not None and t.colorbar.title is not None]
    for k, trace in enumerate(bars):
        trace.colorbar = dict(
            orientation="h", x=0.5, xanchor="center", y=-(12 + NARROW_BAR_PX * k) / height, yanchor="top", thickness=10, len=0.9,
            title=dict(text=trace.colorbar.title.text or "", side="top"),
        )
    if bars:
        margin = fig.layout.margin
        fig.layout.margin = dict(l=margin.l, r=margin.r, t=margin.t, b=(margin.b or 0) + NARROW_BAR_PX * len(bars))
        fig.layout.height = height + NARROW_BAR_PX * len(bars)
    return fig


def probability_chart(probabilities: np.ndarray, true_label: int | None = None, title: str | None = None, source: str | None = None) -> go.Figure:
    """Horizontal bars of the 10 class probabilities; the top class and the true class are marked.

    ``source`` (e.g. "test image #495", "upload: coat.jpg") ends the title, so the chart says which picture it is about.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    top = int(np.argmax(probabilities))
    n = len(CLASS_NAMES)
    bars = dict(
        type="bar",
        x=probabilities,
        y=[f"{name}  ✓ true" if i == true_label else name for i, name in enumerate(CLASS_NAMES)],
        orientation="h",
        marker=dict(
            color=[HIGHLIGHT_COLOUR if i == top else BAR_COLOUR for i in range(n)],
            line=dict(color=[TRUE_COLOUR if i == true_label else TRANSPARENT for i in range(n)], width=3),
        ),
        text=[f"{p:.1%}" for p in probabilities],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    )
    if title is None:
        title = f"Prediction: {CLASS_NAMES[top]} ({probabilities[top]:.1%})"
        if true_label is not None:  # a second line: the whole title overflowed Home's half-width chart
            title += f"<br>true label: {CLASS_NAMES[true_label]}"
        if source:
            title += f" · {source}"
    return figure(
        [bars],
        title,
        340,
        margin=dict(l=10, r=10, t=70 if "<br>" in title else 48, b=10),
        showlegend=False,
        xaxis=dict(title=dict(text="probability"), range=[0, 1.15], tickformat=".0%", gridcolor=GRID_COLOUR),
        yaxis=dict(title=dict(text="class"), autorange="reversed"),
    )


def image_figure(image: np.ndarray, title: str, height: int = 300) -> go.Figure:
    """A 28x28 (or any 2-D) grayscale picture with pixel hover."""
    image = np.asarray(image)
    heat = dict(
        type="heatmap",
        z=image.astype(np.float32),
        colorscale=IMAGE_SCALE,
        zmin=0,
        showscale=False,
        hovertemplate="row %{y}, column %{x}: %{z:.0f}<extra></extra>",
    )
    if image.dtype == np.uint8:
        heat["zmax"] = 255
    return figure([heat], title, height, xaxis=HIDDEN_AXIS, yaxis=PICTURE_Y_AXIS)


def mosaic_geometry(h: int, c: int, columns: int | None = None) -> tuple[int, int]:
    """(columns, gap) of the mosaic for c maps of height h: about 1.4x wider than tall, 1 px gap per 10 px."""
    columns = columns or int(math.ceil(math.sqrt(c) * 1.4))
    return max(1, min(columns, c)), max(1, h // 10)


def mosaic_grid(maps: np.ndarray, columns: int | None = None, gap: int = 1):
    """Tile (h, w, c) maps into one 2-D array with NaN gaps.

    Returns (mosaic, channel_index, tile_origin) where ``channel_index`` has the
    channel at each mosaic pixel (-1 in gaps) and ``tile_origin[k]`` the (row, col)
    of tile k's top-left pixel.
    """
    h, w, c = maps.shape
    columns = max(1, min(columns or c, c))
    rows = int(math.ceil(c / columns))
    mosaic = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, dtype=np.float32)
    channel = np.full(mosaic.shape, -1, dtype=np.int32)
    origins = []
    for k in range(c):
        r, col = divmod(k, columns)
        y, x = r * (h + gap), col * (w + gap)
        mosaic[y : y + h, x : x + w] = maps[:, :, k]
        channel[y : y + h, x : x + w] = k
        origins.append((y, x))
    return mosaic, channel, origins


def _outline(origin: tuple[int, int], h: int, w: int, colour: str) -> dict:
    y, x = origin
    return dict(type="rect", x0=x - 0.5, x1=x + w - 0.5, y0=y - 0.5, y1=y + h - 0.5, line=dict(color=colour, width=3))


def feature_map_mosaic(
    maps: np.ndarray,
    title: str,
    shared_scale: bool = True,
    columns: int | None = None,
    highlight: int | None = None,
    labels: bool = True,
) -> go.Figure:
    """All channels of a spatial layer output (h, w, c) as one labelled heatmap.

    ``shared_scale``: one colour scale for all maps (compare channels; hover shows
    the value) or each map scaled to its own maximum (see every map's pattern;
    hover shows the share of that map's peak). Hover always names the channel.
    The channel numbers are a clickable scatter trace (Plotly cannot select
    heatmap cells), so clicking a number picks that channel.
    """
    maps = np.asarray(maps, dtype=np.float32)
    h, w, c = maps.shape
    display = maps
    if not shared_scale:
        peak = maps.reshape(-1, c).max(axis=0)
        display = maps / np.where(peak > 0, peak, 1.0)
    columns, gap = mosaic_geometry(h, c, columns)
    mosaic, channel, origins = mosaic_grid(display, columns, gap=gap)
    zmax = float(np.nanmax(mosaic)) if np.isfinite(mosaic).any() else 1.0
    # Payload: float32 values and a uint8 channel index (~200 KB for conv1's 32 maps;
    # float64 values plus a float per-pixel [channel, value] pair were 826 KB).
    data = [
        dict(
            type="heatmap",
            z=mosaic,
            customdata=np.where(channel < 0, 255, channel).astype(np.uint8 if c < 255 else np.uint16),
            colorscale=ACTIVATION_SCALE,
            zmin=0,
            zmax=zmax if zmax > 0 else 1.0,
            hoverongaps=False,
            hovertemplate=(
                "channel %{customdata}<br>value %{z:.3f}<extra></extra>"
                if shared_scale
                else "channel %{customdata}<br>%{z:.0%} of this map's strongest value<extra></extra>"
            ),
            colorbar=dict(title=dict(text="activation" if shared_scale else "share of<br>map's max", side="right"), thickness=12),
        )
    ]
    if labels:
        data.append(
            dict(
                type="scatter",
                x=[x + 1.2 for _, x in origins],
                y=[y + 1.2 for y, _ in origins],
                mode="markers+text",
                text=[str(k) for k in range(c)],
                textfont=dict(size=9, color=WHITE),
                marker=dict(symbol="square", size=15, color=LABEL_BACKGROUND),
                customdata=list(range(c)),
                hovertemplate="channel %{customdata}: click to see it large<extra></extra>",
                showlegend=False,
                name=LABEL_TRACE,
            )
        )
    shapes = [_outline(origins[highlight], h, w, HIGHLIGHT_COLOUR)] if highlight is not None and 0 <= highlight < c else []
    rows = mosaic.shape[0] / mosaic.shape[1]
    height = int(min(760, max(260, 720 * rows + 60)))
    return figure(data, title, height, xaxis=HIDDEN_AXIS, yaxis=PICTURE_Y_AXIS, shapes=shapes)


def single_map_figure(feature_map: np.ndarray, title: str, height: int = 300, mark: tuple[int, int] | None = None, clickable: bool = False) -> go.Figure:
    """One channel shown large, with its value on hover.

    ``clickable`` adds a transparent marker trace over every pixel (trace ``PIXEL_TRACE``,
    customdata ``[row, column, value]``, only one marker drawn) so a click selects that position;
    ``mark`` outlines one position.
    """
    feature_map = np.asarray(feature_map, dtype=np.float32)
    heat = dict(
        type="heatmap",
        z=feature_map,
        colorscale=ACTIVATION_SCALE,
        zmin=0,
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
        colorbar=dict(title=dict(text="activation"), thickness=12),
    )
    data = [heat]
    if clickable:
        h, w = feature_map.shape
        rows, cols = np.divmod(np.arange(h * w), w)
        heat["hoverinfo"] = "skip"
        data.append(
            dict(
                type="scatter",
                mode="markers",
                name=PIXEL_TRACE,
                x=cols,
                y=rows,
                customdata=np.stack([rows, cols, feature_map.ravel()], axis=1),
                # maxdisplayed=1: Plotly hovers and click-selects from the data, not from drawn markers, so one
                # drawn marker keeps every pixel clickable; drawing all 676 of conv1 cost the browser ~50 ms a redraw.
                marker=dict(symbol="square", size=max(6, int(height / (h + 4))), color=TRANSPARENT, maxdisplayed=1),
                hovertemplate="row %{customdata[0]}, column %{customdata[1]}: %{customdata[2]:.3f}<br>click: how was it computed?<extra></extra>",
                showlegend=False,
            )
        )
    shapes = [_outline(mark, 1, 1, HIGHLIGHT_COLOUR)] if mark is not None else []
    return figure(data, title, height, xaxis=dict(visible=False, range=[-0.5, feature_map.shape[1] - 0.5]), yaxis=PICTURE_Y_AXIS, shapes=shapes, dragmode=False)


def flatten_figure(vector: np.ndarray, spatial_shape: tuple[int, int, int], title: str, source: str = "the last maps") -> go.Figure:
    """The flatten vector as a strip: one column per channel, one row per position.

    Flatten orders values position by position with all channels of a position
    together, so vector index = (row * width + col) * channels + channel.
    """
    h, w, c = spatial_shape
    grid = np.asarray(vector, dtype=np.float32).reshape(h * w, c)
    heat = dict(
        type="heatmap",
        z=grid,
        x=list(range(c)),
        y=[f"({r},{col})" for r in range(h) for col in range(w)],
        customdata=np.arange(h * w * c, dtype=np.int32).reshape(h * w, c),
        colorscale=ACTIVATION_SCALE,
        zmin=0,
        hovertemplate="vector index %{customdata}<br>position %{y}, channel %{x}<br>value %{z:.3f}<extra></extra>",
        colorbar=dict(title=dict(text="value"), thickness=12),
    )
    return figure(
        [heat],
        title,
        440,
        xaxis=dict(title=dict(text=f"channel of {source}")),
        yaxis=dict(title=dict(text="position (row, col)"), autorange="reversed", tickfont=dict(size=9)),
    )


def vector_bars(values: np.ndarray, title: str, x_title: str = "unit", y_title: str = "activation") -> go.Figure:
    """A vector (e.g. the 128 dense units) as bars, strongest units coloured."""
    values = np.asarray(values, dtype=float)
    strong = set(np.argsort(values)[::-1][:10].tolist()) if values.max() > 0 else set()
    bars = dict(
        type="bar",
        x=np.arange(len(values)),
        y=values,
        marker=dict(color=[HIGHLIGHT_COLOUR if i in strong else BAR_COLOUR for i in range(len(values))]),
        hovertemplate=f"{x_title} %{{x}}: %{{y:.3f}}<extra></extra>",
    )
    return figure(
        [bars],
        title,
        300,
        bargap=0.1,
        showlegend=False,
        xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title), gridcolor=GRID_COLOUR),
    )


def kernel_mosaic(kernels: np.ndarray, title: str, input_channel: int | None = None, highlight: int | None = None, columns: int = 16) -> go.Figure:
    """Conv filter weights (kh, kw, in, out) as a mosaic, diverging colours centred on 0.

    ``input_channel`` picks the slice each filter applies to that input map; None
    shows the mean over input channels. The colour scale is symmetric about 0 and
    reaches the 90th percentile of |weight| (larger weights show at full colour).
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    planes = kernels.mean(axis=2) if input_channel is None else kernels[:, :, input_channel, :]
    kh, kw, out = planes.shape
    mosaic, channel, origins = mosaic_grid(planes, columns=min(columns, out), gap=1)
    # A few filters with large weights (2-3 against a typical 0.3 here) would wash every other filter
    # out to white: the scale reaches the 90th percentile of |weight|, larger weights show at full
    # colour, and hover gives their exact value.
    limit = float(np.nanpercentile(np.abs(mosaic), 90)) or 1.0
    heat = dict(
        type="heatmap",
        z=mosaic,
        customdata=channel,
        colorscale=DIVERGING_SCALE,
        zmin=-limit,
        zmax=limit,
        zmid=0,
        hoverongaps=False,
        hovertemplate="filter %{customdata}<br>weight %{z:.3f}<extra></extra>",
        colorbar=dict(title=dict(text=f"weight<br>(− {NEGATIVE_NAME}, + {POSITIVE_NAME};<br>ends include larger)"), thickness=12),
    )
    shapes = [_outline(origins[highlight], kh, kw, "black")] if highlight is not None and 0 <= highlight < out else []
    ratio = mosaic.shape[0] / mosaic.shape[1]
    return figure([heat], title, int(min(520, max(200, 800 * ratio + 80))), xaxis=HIDDEN_AXIS, yaxis=PICTURE_Y_AXIS, shapes=shapes)


def training_curves(history: Sequence[dict], metric: str, title: str) -> go.Figure:
    """Per-epoch training and validation curves of ``metric`` ('loss' or 'accuracy')."""
    epochs = [h["epoch"] for h in history]
    data = [
        dict(type="scatter", x=epochs, y=[h[metric] for h in history], name="training", mode="lines+markers", line=dict(color=BAR_COLOUR)),
        dict(
            type="scatter",
            x=epochs,
            y=[h[f"val_{metric}"] for h in history],
            name="validation",
            mode="lines+markers",
            line=dict(color=HIGHLIGHT_COLOUR, dash="dash"),
        ),
    ]
    y_axis = dict(title=dict(text=metric), gridcolor=GRID_COLOUR)
    if metric == "accuracy":
        y_axis["tickformat"] = ".0%"
    return figure(
        data,
        title,
        300,
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        xaxis=dict(title=dict(text="epoch"), dtick=max(1, len(epochs) // 10) if epochs else 1),
        yaxis=y_axis,
    )


def confusion_matrix_figure(confusion: np.ndarray, title: str = "Confusion matrix on the test set") -> go.Figure:
    """Counts of (true, predicted) pairs; the diagonal is what the model gets right.

    Plotly heatmaps emit no point selections, so a transparent square marker sits
    on every cell (trace ``CELL_TRACE``): clicking a cell selects its marker, whose
    ``customdata`` is ``[true class, predicted class]``.
    """
    confusion = np.asarray(confusion)
    n = len(CLASS_NAMES)
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    heat = dict(
        type="heatmap",
        z=share,
        x=list(CLASS_NAMES),
        y=list(CLASS_NAMES),
        text=confusion,
        texttemplate="%{text}",
        colorscale=ACTIVATION_SCALE,
        zmin=0,
        zmax=1,
        hoverinfo="skip",
        colorbar=dict(title=dict(text="share of<br>true class"), tickformat=".0%", thickness=12),
    )
    rows, cols = np.divmod(np.arange(n * n), n)
    cells = dict(
        type="scatter",
        mode="markers",
        name=CELL_TRACE,
        x=[CLASS_NAMES[c] for c in cols],
        y=[CLASS_NAMES[r] for r in rows],
        customdata=np.stack([rows, cols, confusion.ravel(), share.ravel()], axis=1),
        marker=dict(symbol="square", size=40, color=TRANSPARENT),
        hovertemplate="true %{y}, predicted %{x}<br>%{customdata[2]} images (%{customdata[3]:.1%} of the true class)<br>click to see them<extra></extra>",
        showlegend=False,
    )
    return figure(
        [heat, cells],
        title,
        560,
        xaxis=dict(title=dict(text="predicted class"), tickangle=-35),
        yaxis=dict(title=dict(text="true class"), autorange="reversed"),
        clickmode="event+select",
        dragmode=False,
    )


def per_class_accuracy_chart(per_class: Sequence[float], title: str = "Accuracy per class") -> go.Figure:
    bars = dict(
        type="bar",
        x=list(CLASS_NAMES),
        y=list(per_class),
        marker=dict(color=BAR_COLOUR),
        text=[f"{a:.1%}" for a in per_class],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{x}: %{y:.2%}<extra></extra>",
    )
    return figure(
        [bars],
        title,
        360,
        showlegend=False,
        xaxis=dict(title=dict(text="class"), tickangle=-35),
        yaxis=dict(title=dict(text="test accuracy"), range=[0, 1.1], tickformat=".0%", gridcolor=GRID_COLOUR),
    )




def architecture_figure(layers: Sequence, title: str = "Layers, output shapes and parameters", vertical: bool = False) -> go.Figure:
    """An interactive block diagram: one block per layer, its size by output size (log scale), hover for details.

    ``layers`` are :class:`fashion_viz.layer_guide.LayerInfo` objects. ``vertical`` stacks the blocks from the
    input at the top to the output at the bottom with their names beside them (a phone: ten names side by side
    ran into each other).
    """
    sizes = [math.prod(info.output_shape) for info in layers]
    top = math.log10(max(sizes))

    def at(along: float, across: float) -> tuple[float, float]:
        """(x, y) of a point ``along`` the flow and ``across`` it."""
        return (across, -along) if vertical else (along, across)

    shapes, annotations, hover = [], [], []
    for i, (info, size) in enumerate(zip(layers, sizes)):
        extent = 0.25 + 0.75 * math.log10(size) / top
        (x0, y0), (x1, y1) = at(i - 0.38, -extent / 2), at(i + 0.38, extent / 2)
        shapes.append(dict(type="rect", x0=min(x0, x1), x1=max(x0, x1), y0=min(y0, y1), y1=max(y0, y1), fillcolor=layer_colour(info.kind), line=dict(color=INK_COLOUR, width=1)))
        if i:
            (hx, hy), (tx, ty) = at(i - 0.38, 0), at(i - 0.62, 0)
            annotations.append(dict(x=hx, y=hy, ax=tx, ay=ty, xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, arrowcolor=INK_COLOUR, text=""))
        details = f"{' x '.join(map(str, info.output_shape))}" + ("  ·  " if vertical else "<br>") + f"{info.params:,} params"
        if vertical:
            annotations.append(dict(x=0.62, y=-i, text=f"<b>{info.name}</b>  {details}", showarrow=False, xanchor="left", font=dict(size=12)))
        else:
            annotations.append(dict(x=i, y=0.62, text=f"<b>{info.name}</b>", showarrow=False, font=dict(size=12)))
            annotations.append(dict(x=i, y=-0.62, text=details, showarrow=False, font=dict(size=11, color=INK_COLOUR)))
        hover.append(
            f"<b>{info.name}</b> ({info.type_name})<br>in: {' x '.join(map(str, info.input_shape))}<br>"
            f"out: {' x '.join(map(str, info.output_shape))} = {size:,} values<br>parameters: {info.params_formula}"
            + (f"<br>receptive field: {info.receptive_field}x{info.receptive_field} px" if info.receptive_field else "")
        )
    centres = [at(i, 0) for i in range(len(layers))]
    markers = dict(
        type="scatter",
        x=[x for x, _ in centres],
        y=[y for _, y in centres],
        mode="markers",
        marker=dict(size=40, opacity=0),
        hovertext=hover,
        hoverinfo="text",
        showlegend=False,
    )
    flow = [-0.6, len(layers) - 0.4]
    if vertical:
        axes = dict(xaxis=dict(visible=False, range=[-0.6, 3.4]), yaxis=dict(visible=False, range=[-flow[1], -flow[0]]))
    else:
        axes = dict(xaxis=dict(visible=False, range=flow), yaxis=dict(visible=False, range=[-0.85, 0.8]))
    return figure([markers], title, 56 * len(layers) + 60 if vertical else 300, shapes=shapes, annotations=annotations, **axes)


def layer_output_figure(output, info, shared_scale: bool = True, highlight: int | None = None, columns: int | None = None) -> go.Figure:
    """The right picture for any layer's output.

    Args:
        output: :class:`fashion_viz.engine.LayerOutput`.
        info: the layer's :class:`fashion_viz.layer_guide.LayerInfo` (for shapes and titles).
        shared_scale: for spatial outputs, one colour scale for all maps or one per map.
        highlight: a channel to outline in a mosaic.
        columns: a mosaic's columns (None: about 1.4 times wider than tall; fewer on a phone).
    """
    values = output.values
    if values.ndim == 3:
        return feature_map_mosaic(
            values,
            f"{output.name}: {values.shape[2]} feature maps of {values.shape[0]}x{values.shape[1]}",
            shared_scale=shared_scale,
            columns=columns,
            highlight=highlight,
        )
    if info.kind == "flatten":
        return flatten_figure(values, info.input_shape, f"{output.name}: the {values.size:,} numbers passed to the dense layer")
    if info.kind == "softmax":
        return probability_chart(values, title=f"{output.name}: the {values.size} class probabilities (they sum to 1)")
    active = int((values > 0).sum())
    return vector_bars(values, f"{output.name}: {values.size} units, {active} active (above zero); the 10 strongest in {HIGHLIGHT_NAME}")
