"""The Explorer's figures of one layer's output: the mosaic of feature maps, one map large, the flatten strip, vector bars,
and the convolution filters."""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go

from fashion_viz.figures.base import HIDDEN_AXIS, PICTURE_Y_AXIS, figure, mosaic_geometry, mosaic_grid, mosaic_size, outline, png_data_uri
from fashion_viz.figures.prediction import probability_chart
from fashion_viz.palette import ACTIVATION_SCALE, BAR_COLOUR, DIVERGING_SCALE, GRID_COLOUR, HIGHLIGHT_COLOUR, HIGHLIGHT_NAME, IMAGE_SCALE, LABEL_BACKGROUND, NEGATIVE_NAME, POSITIVE_NAME, TRANSPARENT, WHITE, hex_to_rgb


LABEL_TRACE = "channel labels"  # the clickable channel numbers of a feature-map mosaic
PIXEL_TRACE = "pixels"  # the clickable pixels of a single feature map


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


LABEL_PX = 15  # a channel number's square on screen
LABEL_SUPERSAMPLE = 3  # picture pixels per screen pixel: the numbers stay sharp on high-density screens


@functools.lru_cache(maxsize=32)
def _channel_numbers_picture(origins: tuple[tuple[int, int], ...], grid_shape: tuple[int, int], px_per_cell: float) -> str:
    """The numbers' transparent picture as a data URI; it depends only on the mosaic's geometry, so each layer's is
    drawn once (~40 ms) and then reused on every step."""
    from PIL import Image, ImageDraw, ImageFont

    rows, cols = grid_shape
    scale = px_per_cell * LABEL_SUPERSAMPLE  # picture pixels per mosaic cell
    picture = Image.new("RGBA", (max(1, round(cols * scale)), max(1, round(rows * scale))), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    side = LABEL_PX * LABEL_SUPERSAMPLE
    font = ImageFont.load_default(size=9 * LABEL_SUPERSAMPLE)
    for k, (y, x) in enumerate(origins):
        left, top = x * scale, y * scale
        draw.rectangle([left, top, left + side, top + side], fill=LABEL_BACKGROUND)
        draw.text((left + side / 2, top + side / 2), str(k), fill=hex_to_rgb(WHITE), font=font, anchor="mm")
    return png_data_uri(picture.quantize(16, method=Image.Quantize.FASTOCTREE))  # 16 colours: a third of the bytes


def _channel_numbers(origins: list[tuple[int, int]], grid_shape: tuple[int, int], px_per_cell: float) -> tuple[dict, dict]:
    """The mosaic's channel numbers: one picture laid over it, and a clickable trace under them (``LABEL_TRACE``).

    Drawn by Plotly, 64 numbers were 64 styled SVG texts: ~40 ms of the browser's time on every layer step. As one
    transparent picture they cost almost nothing. Their markers are transparent and only one is drawn
    (maxdisplayed=1: Plotly hovers and click-selects from the data), so every number stays clickable.
    ``px_per_cell``: the screen pixels one mosaic cell is planned to take, which sizes the numbers.
    """
    rows, cols = grid_shape
    source = _channel_numbers_picture(tuple(origins), (rows, cols), round(px_per_cell, 3))
    image = dict(source=source, xref="x", yref="y", x=-0.5, y=-0.5, sizex=cols, sizey=rows,
                 sizing="stretch", xanchor="left", yanchor="top", layer="above")
    centre = LABEL_PX / px_per_cell / 2 - 0.5  # the square's centre from its tile's corner, in cells
    clickable = dict(
        type="scatter",
        mode="markers",
        x=[x + centre for _, x in origins],
        y=[y + centre for y, _ in origins],
        marker=dict(symbol="square", size=LABEL_PX, color=TRANSPARENT, maxdisplayed=1),
        customdata=list(range(len(origins))),
        hovertemplate="channel %{customdata}: click to see it large<extra></extra>",
        showlegend=False,
        name=LABEL_TRACE,
    )
    return image, clickable


def _mosaic_traces(maps: np.ndarray, shared_scale: bool, columns: int | None, highlight: int | None, labels: bool, mosaic_px: float):
    """The mosaic's heatmap and clickable channel numbers, its highlight outline, the numbers' picture and its colour
    range's top. ``mosaic_px``: the mosaic's planned width on screen."""
    maps = np.asarray(maps, dtype=np.float32)
    h, w, c = maps.shape
    display = maps
    if not shared_scale:
        peak = maps.reshape(-1, c).max(axis=0)
        display = maps / np.where(peak > 0, peak, 1.0)
    columns, gap = mosaic_geometry(h, c, columns)
    mosaic, channel, origins = mosaic_grid(display, columns, gap=gap)
    zmax = float(np.nanmax(mosaic)) if np.isfinite(mosaic).any() else 1.0
    zmax = zmax if zmax > 0 else 1.0
    # Payload: float32 values and a uint8 channel index (~200 KB for conv1's 32 maps;
    # float64 values plus a float per-pixel [channel, value] pair were 826 KB).
    data = [
        dict(
            type="heatmap",
            z=mosaic,
            customdata=np.where(channel < 0, 255, channel).astype(np.uint8 if c < 255 else np.uint16),
            colorscale=ACTIVATION_SCALE,
            zmin=0,
            zmax=zmax,
            hoverongaps=False,
            hovertemplate=(
                "channel %{customdata}<br>value %{z:.3f}<extra></extra>"
                if shared_scale
                else "channel %{customdata}<br>%{z:.0%} of this map's strongest value<extra></extra>"
            ),
            colorbar=dict(title=dict(text="activation" if shared_scale else "share of<br>map's max", side="right"), thickness=12),
        )
    ]
    images = []
    if labels:
        image, clickable = _channel_numbers(origins, mosaic.shape, mosaic_px / mosaic.shape[1])
        data.append(clickable)
        images.append(image)
    shapes = [outline(origins[highlight], h, w, HIGHLIGHT_COLOUR)] if highlight is not None and 0 <= highlight < c else []
    return data, shapes, images, zmax


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
    The channel numbers are a picture over clickable markers (Plotly cannot select
    heatmap cells; :func:`_channel_numbers`), so clicking a number picks that channel.
    """
    rows, cols = mosaic_size(maps.shape, *mosaic_geometry(maps.shape[0], maps.shape[2], columns))
    height = int(min(760, max(260, 720 * rows / cols + 60)))
    # The plot fills the height (square cells) unless a wide mosaic meets the planned 720 px width first.
    mosaic_px = min(720, (height - 58) * cols / rows)
    data, shapes, images, _ = _mosaic_traces(maps, shared_scale, columns, highlight, labels, mosaic_px)
    return figure(data, title, height, xaxis=HIDDEN_AXIS, yaxis=PICTURE_Y_AXIS, shapes=shapes, images=images)


LARGE_MAP_SHARE = 0.3  # of the figure's width, beside the mosaic


def _clickable_pixels(feature_map: np.ndarray, marker_px: int, **axes) -> dict:
    """A transparent marker on every pixel (trace ``PIXEL_TRACE``, customdata ``[row, column, value]``), so a click
    selects that position. maxdisplayed=1: Plotly hovers and click-selects from the data, not from drawn markers, so
    one drawn marker keeps every pixel clickable; drawing all 676 of conv1 cost the browser ~50 ms a redraw."""
    h, w = feature_map.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    return dict(
        type="scatter",
        mode="markers",
        name=PIXEL_TRACE,
        x=cols,
        y=rows,
        customdata=np.stack([rows, cols, feature_map.ravel()], axis=1),
        marker=dict(symbol="square", size=marker_px, color=TRANSPARENT, maxdisplayed=1),
        hovertemplate="row %{customdata[0]}, column %{customdata[1]}: %{customdata[2]:.3f}<br>click: how was it computed?<extra></extra>",
        showlegend=False,
        **axes,
    )


def feature_maps_with_large_map(
    maps: np.ndarray,
    title: str,
    channel: int,
    mark: tuple[int, int] | None = None,
    shared_scale: bool = True,
    columns: int | None = None,
    stacked: bool = False,
) -> go.Figure:
    """The mosaic of all channels with the chosen ``channel`` shown large beside it (below it when ``stacked``: a
    phone or half a page), in one chart: one chart to draw per layer step instead of two.

    The large map has the mosaic's colours and colour bar (with ``shared_scale`` off, the share of its own peak), and
    every pixel is clickable (:func:`_clickable_pixels`); ``mark`` outlines one position. Clicking a channel's
    number picks it (``LABEL_TRACE``).
    """
    maps = np.asarray(maps, dtype=np.float32)
    h, w, c = maps.shape
    rows, cols = mosaic_size(maps.shape, *mosaic_geometry(h, c, columns))
    # Sizes from the plot's width in a typical layout (a phone's, or the Explorer's figure column), so the maps
    # fill their panels; both panels hang from the top, and the caption sits over the large map.
    width = 330 if stacked else 560
    mosaic_share = 1 - LARGE_MAP_SHARE - 0.04
    mosaic_px = width if stacked else min(width * mosaic_share, (width * LARGE_MAP_SHARE + 42) * cols / rows)
    data, shapes, images, zmax = _mosaic_traces(maps, shared_scale, columns, channel, True, mosaic_px)
    large = maps[:, :, channel]
    peak = float(large.max())
    shown = large if shared_scale else large / (peak if peak > 0 else 1.0)
    data.append(dict(type="heatmap", z=shown, colorscale=ACTIVATION_SCALE, zmin=0, zmax=zmax, showscale=False, hoverinfo="skip", xaxis="x2", yaxis="y2"))
    caption = f"channel {channel} (max {peak:.2f})<br>click a pixel"
    top = dict(constrain="domain", constraintoward="top")
    if stacked:
        mosaic_height_px, large_px = width * rows / cols, 0.8 * width
        plot_px = mosaic_height_px + 50 + large_px
        split = large_px / plot_px
        mosaic_axes = dict(xaxis={**HIDDEN_AXIS, "domain": [0, 1]}, yaxis={**PICTURE_Y_AXIS, **top, "domain": [1 - mosaic_height_px / plot_px, 1]})
        large_axes = dict(xaxis2={**HIDDEN_AXIS, "domain": [0.1, 0.9], "anchor": "y2", "range": [-0.5, w - 0.5]},
                          yaxis2={**PICTURE_Y_AXIS, **top, "scaleanchor": "x2", "domain": [0, split], "anchor": "x2"})
        label = dict(x=0.5, y=split, xanchor="center")
    else:
        plot_px = max(width * mosaic_share * rows / cols, width * LARGE_MAP_SHARE + 42)
        large_top = 1 - 42 / plot_px
        mosaic_axes = dict(xaxis={**HIDDEN_AXIS, "domain": [0, mosaic_share]}, yaxis={**PICTURE_Y_AXIS, **top})
        large_axes = dict(xaxis2={**HIDDEN_AXIS, "domain": [1 - LARGE_MAP_SHARE, 1], "anchor": "y2", "range": [-0.5, w - 0.5]},
                          yaxis2={**PICTURE_Y_AXIS, **top, "scaleanchor": "x2", "anchor": "x2", "domain": [0, large_top]})
        label = dict(x=1 - LARGE_MAP_SHARE / 2, y=large_top, xanchor="center")
    height = int(48 + plot_px + 10)
    marker_px = max(6, int(300 / (h + 4)))
    data.append(_clickable_pixels(large, marker_px, xaxis="x2", yaxis="y2"))
    if mark is not None:
        shapes = shapes + [{**outline(mark, 1, 1, HIGHLIGHT_COLOUR), "xref": "x2", "yref": "y2"}]
    annotations = [dict(text=caption, xref="paper", yref="paper", yanchor="bottom", showarrow=False, font=dict(size=13), **label)]
    return figure(data, title, height, shapes=shapes, images=images, annotations=annotations, dragmode=False, **mosaic_axes, **large_axes)


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
    shapes = [outline(origins[highlight], kh, kw, "black")] if highlight is not None and 0 <= highlight < out else []
    ratio = mosaic.shape[0] / mosaic.shape[1]
    return figure([heat], title, int(min(520, max(200, 800 * ratio + 80))), xaxis=HIDDEN_AXIS, yaxis=PICTURE_Y_AXIS, shapes=shapes)


def layer_output_figure(
    output, info, shared_scale: bool = True, highlight: int | None = None, columns: int | None = None,
    large: bool = False, mark: tuple[int, int] | None = None, stacked: bool = False,
) -> go.Figure:
    """The right picture for any layer's output.

    Args:
        output: :class:`fashion_viz.engine.LayerOutput`.
        info: the layer's :class:`fashion_viz.layer_guide.LayerInfo` (for shapes and titles).
        shared_scale: for spatial outputs, one colour scale for all maps or one per map.
        highlight: a channel to outline in a mosaic.
        columns: a mosaic's columns (None: about 1.4 times wider than tall; fewer on a phone).
        large, mark, stacked: show the ``highlight`` channel large beside the mosaic (below it when ``stacked``),
            with ``mark`` outlined (:func:`feature_maps_with_large_map`).
    """
    values = output.values
    if values.ndim == 3:
        title = f"{output.name}: {values.shape[2]} feature maps of {values.shape[0]}x{values.shape[1]}"
        if large and highlight is not None:
            return feature_maps_with_large_map(values, title, highlight, mark, shared_scale, columns, stacked)
        return feature_map_mosaic(values, title, shared_scale=shared_scale, columns=columns, highlight=highlight)
    if info.kind == "flatten":
        return flatten_figure(values, info.input_shape, f"{output.name}: the {values.size:,} numbers passed to the dense layer")
    if info.kind == "softmax":
        return probability_chart(values, title=f"{output.name}: the {values.size} class probabilities (they sum to 1)")
    active = int((values > 0).sum())
    return vector_bars(values, f"{output.name}: {values.size} units, {active} active (above zero); the 10 strongest in {HIGHLIGHT_NAME}")
