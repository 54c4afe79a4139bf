"""What every figure shares: the house style, the phone layout, mosaics and plain pictures (upscaled, outlined).

Each builder writes the whole figure as one dict spec and wraps it once, unvalidated (:func:`figure`): 0.5 ms
instead of 5-15 ms for the same figure built through validated ``update_*`` calls. ``tests/test_figures.py``
rebuilds every figure with validation on, so a misspelt property still fails a test. Mosaics are a single
heatmap with NaN gaps between tiles (facets or subplots cost 30-100x more). Colours come from
:mod:`fashion_viz.palette` only.
"""

from __future__ import annotations

# Imported here, before any figure is built, on purpose: Plotly's validators read ``sys.modules["pandas"]``
# without importing it (``get_module("pandas", should_load=False)``), so while another thread was still
# importing pandas (Keras imports it, in the app's warm-up thread) a figure built meanwhile met the half-made
# module and failed ("partially initialized module 'pandas' has no attribute 'Series'": the error box a new
# server's second visitor saw on Home). A real import waits for another thread's import to finish.
import pandas  # noqa: F401

import math

import numpy as np
import plotly.graph_objects as go

from fashion_viz.palette import HIGHLIGHT_COLOUR, WHITE, hex_to_rgb


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


def outline(origin: tuple[int, int], h: int, w: int, colour: str) -> dict:
    y, x = origin
    return dict(type="rect", x0=x - 0.5, x1=x + w - 0.5, y0=y - 0.5, y1=y + h - 0.5, line=dict(color=colour, width=3))


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


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (pixels stay crisp squares)."""
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def outlined_picture(image: np.ndarray, box: tuple[int, int, int, int] | None, factor: int = 4) -> np.ndarray:
    """(28f, 28f, 3) uint8: the picture enlarged, with ``box`` (top, left, bottom, right; end exclusive) outlined."""
    rgb = np.repeat(upscale(image, factor)[..., None], 3, axis=2).astype(np.uint8)
    if box is not None:
        top, left, bottom, right = (v * factor for v in box)
        bottom, right = min(bottom, rgb.shape[0]) - 1, min(right, rgb.shape[1]) - 1
        colour = np.array(hex_to_rgb(HIGHLIGHT_COLOUR), np.uint8)
        rgb[top, left : right + 1] = rgb[bottom, left : right + 1] = colour
        rgb[top : bottom + 1, left] = rgb[top : bottom + 1, right] = colour
        if factor >= 4:  # two pixels wide where there is room
            rgb[top + 1, left : right + 1] = rgb[bottom - 1, left : right + 1] = colour
            rgb[top : bottom + 1, left + 1] = rgb[top : bottom + 1, right - 1] = colour
    return rgb
