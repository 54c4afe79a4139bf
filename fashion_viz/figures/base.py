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

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go

from fashion_viz.palette import HIGHLIGHT_COLOUR, WHITE, hex_to_rgb


FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
HIDDEN_AXIS = dict(visible=False)
NARROW_BAR_PX = 64  # a colour bar laid under a chart on a phone, with its title
NARROW_TITLE_CHARS = 44  # a chart title's line on a phone (a 390 px screen holds about 55 characters at 15 px)
TITLE_LINE_PX = 19  # one more line of a 15 px title
NARROW_LEGEND_PX = 330  # the width a legend laid under a chart on a phone has for its entries
LEGEND_ROW_PX = 21  # one row of such a legend
PICTURE_Y_AXIS = dict(autorange="reversed", scaleanchor="x", visible=False)  # row 0 on top, square pixels


def figure(data: list[dict], title: str, height: int, **layout) -> go.Figure:
    """One figure from trace dicts and layout keywords, in the house style, built without validation.

    Its margins already hold its tick labels, axis titles, colour bars and legend (:func:`reserved_margin`)."""
    spec_layout = dict(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=48, b=10),
        font=FONT,
        plot_bgcolor=WHITE,
        paper_bgcolor=WHITE,
    )
    spec_layout.update(layout)
    spec_layout["margin"] = reserved_margin(data, spec_layout)
    return go.Figure({"data": data, "layout": spec_layout}, _validate=False)


# Widths in the browser at Streamlit's chart fonts (measured in Chromium: the margins Plotly itself worked out for
# the app's charts), rounded up.
TICK_CHAR_PX = 6.2  # one character of a tick label or legend entry
TITLE_CHAR_PX = 9.0  # one character of a colour bar's title
NUMBER_TICK_CHARS = 6  # "−0.25", "100%": a numeric axis's widest label
AXIS_TITLE_PX = 42  # an axis title and its distance from the tick labels
X_TICKS_PX = 32  # one row of x tick labels (Plotly turns crowded ones on their side)
COLOUR_BAR_PX = 70  # a colour bar's gap, padding and numeric tick labels, besides its thickness
LEGEND_PX = 62  # a legend entry's symbol and padding, besides its text


def _longest(labels) -> int:
    return max((len(str(s)) for s in labels), default=0) if labels is not None else 0


def _axis_labels(data: list[dict], axis: str, layout_axis: dict) -> int:
    """Characters in the widest tick label of the x or y axis: category names from the traces, else a number's."""
    if layout_axis.get("ticktext") is not None:
        return _longest(layout_axis["ticktext"])
    labels = [v for trace in data if trace.get(f"{axis}axis", axis) == axis for v in (trace.get(axis) if isinstance(trace.get(axis), (list, tuple)) else [])]
    strings = [v for v in labels if isinstance(v, str)]
    return _longest(strings) if strings else NUMBER_TICK_CHARS


def _title_lines(title) -> list[str]:
    text = (title or {}).get("text", "") if isinstance(title, dict) else (title or "")
    return [line for line in str(text).split("<br>") if line]


def reserved_margin(data: list[dict], layout: dict) -> dict:
    """The layout's margins, widened to hold what Plotly would otherwise make room for after its first draw: the
    y tick labels and title (left), the x tick labels and title (bottom), vertical colour bars and a legend (right).
    Plotly widens a margin that is too small by drawing the whole chart again (twice the browser's work for most of
    the app's charts); a margin never shrinks here, so a figure that sets its own keeps it."""
    margin = dict(layout.get("margin") or {})
    x_axis, y_axis = layout.get("xaxis") or {}, layout.get("yaxis") or {}
    left = bottom = right = 0
    if y_axis.get("visible", True):
        left = TICK_CHAR_PX * _axis_labels(data, "y", y_axis) + 10 + (AXIS_TITLE_PX if _title_lines(y_axis.get("title")) else 0)
    if x_axis.get("visible", True):
        angle = math.radians(abs(x_axis.get("tickangle") or 0))
        right = 20  # the last x tick label reaches past the plot by half its width
        bottom = X_TICKS_PX + TICK_CHAR_PX * _axis_labels(data, "x", x_axis) * math.sin(angle) + (AXIS_TITLE_PX if _title_lines(x_axis.get("title")) else 0)
    for trace in data:
        bar = trace.get("colorbar") or {}
        if trace.get("type") == "heatmap" and trace.get("showscale", True) and bar.get("orientation", "v") == "v" and bar.get("x", 1.0) >= 1.0:
            lines = _title_lines(bar.get("title"))
            base = bar.get("thickness", 30) + COLOUR_BAR_PX
            if (bar.get("title") or {}).get("side") == "right":
                right = max(right, base + 20 * len(lines))
            else:  # the title sits on top of the bar: the bar's column is as wide as its widest line
                right = max(right, base, TITLE_CHAR_PX * _longest(lines) + 26)
        if trace.get("type") == "bar" and trace.get("textposition") == "outside":
            right = max(right, 20)
    named = [t.get("name") for t in data if t.get("name") and t.get("showlegend", True) is not False]
    legend = layout.get("legend") or {}
    if layout.get("showlegend", len(named) > 1) and named and legend.get("orientation", "v") == "v" and legend.get("x") is None:
        right = max(right, TICK_CHAR_PX * _longest(named) + LEGEND_PX)
    for side, needed in (("l", left), ("b", bottom), ("r", right)):
        margin[side] = max(margin.get(side, 0), math.ceil(needed))
    return margin


def for_narrow_screen(fig: go.Figure) -> go.Figure:
    """The same figure laid out for a phone-width screen: every colour bar horizontal and the legend in rows, under
    the chart (the figure grows by their height), instead of a column of their own beside it (a quarter to a half of a
    390 px screen); a long title wrapped into lines that fit."""
    height = fig.layout.height or 400
    bars = [t for t in fig.data if t.type == "heatmap" and t.showscale is not False and t.colorbar is not None and t.colorbar.title is not None]
    for k, trace in enumerate(bars):
        trace.colorbar = dict(
            orientation="h", x=0.5, xanchor="center", y=-(12 + NARROW_BAR_PX * k) / height, yanchor="top", thickness=10, len=0.9,
            title=dict(text=trace.colorbar.title.text or "", side="top"),
        )
    if bars:
        margin = fig.layout.margin
        # The right margin had room for the bars beside the chart (reserved_margin): only the x ticks' now.
        fig.layout.margin = dict(l=margin.l, r=20, t=margin.t, b=(margin.b or 0) + NARROW_BAR_PX * len(bars))
        fig.layout.height = height + NARROW_BAR_PX * len(bars)
    named = [t.name for t in fig.data if t.name and t.showlegend is not False]
    legend = fig.layout.legend
    if fig.layout.showlegend is not False and len(named) > 1 and (legend.orientation or "v") == "v" and legend.x is None:
        # A legend beside the chart took half a phone's width (the Map's 13 entries): it goes under the chart, in rows.
        entries = [TICK_CHAR_PX * len(name) + LEGEND_PX - 20 for name in named]
        rows, used = 1, 0.0
        for entry in entries:
            if used and used + entry > NARROW_LEGEND_PX:
                rows, used = rows + 1, 0.0
            used += entry
        below = rows * LEGEND_ROW_PX + 12
        margin, full = fig.layout.margin, fig.layout.height or height
        plot = full - (margin.t or 0) - (margin.b or 0)
        legend.update(orientation="h", x=0, xanchor="left", y=-((margin.b or 0) + 6) / plot, yanchor="top")
        fig.layout.margin.update(r=20, b=(margin.b or 0) + below)
        fig.layout.height = full + below
    lines = wrapped(fig.layout.title.text or "", NARROW_TITLE_CHARS)
    if len(lines) > 1:  # a long title ran off the screen's edge: it wraps, and the chart grows to hold its lines
        extra = TITLE_LINE_PX * (len(lines) - 1)
        fig.layout.title.update(text="<br>".join(lines), yref="container", y=1, yanchor="top", pad=dict(t=14))
        fig.layout.margin.t = (fig.layout.margin.t or 0) + extra
        fig.layout.height = (fig.layout.height or height) + extra
    return fig


def wrapped(text: str, chars: int) -> list[str]:
    """``text`` in lines of at most ``chars`` characters, broken between words (a longer word keeps its own line)."""
    lines: list[str] = []
    for paragraph in text.split("<br>"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) > chars:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def outline(origin: tuple[int, int], h: int, w: int, colour: str) -> dict:
    y, x = origin
    return dict(type="rect", x0=x - 0.5, x1=x + w - 0.5, y0=y - 0.5, y1=y + h - 0.5, line=dict(color=colour, width=3))


def mosaic_geometry(h: int, c: int, columns: int | None = None) -> tuple[int, int]:
    """(columns, gap) of the mosaic for c maps of height h: about 1.4x wider than tall, 1 px gap per 10 px."""
    columns = columns or int(math.ceil(math.sqrt(c) * 1.4))
    return max(1, min(columns, c)), max(1, h // 10)


def mosaic_size(shape: tuple[int, int, int], columns: int, gap: int) -> tuple[int, int]:
    """(rows, columns) in cells of the mosaic of (h, w, c) maps tiled ``columns`` to a row with ``gap`` between them."""
    h, w, c = shape
    tile_rows = int(math.ceil(c / columns))
    return tile_rows * (h + gap) - gap, columns * (w + gap) - gap


def mosaic_grid(maps: np.ndarray, columns: int | None = None, gap: int = 1):
    """Tile (h, w, c) maps into one 2-D array with NaN gaps.

    Returns (mosaic, channel_index, tile_origin) where ``channel_index`` has the
    channel at each mosaic pixel (-1 in gaps) and ``tile_origin[k]`` the (row, col)
    of tile k's top-left pixel.
    """
    h, w, c = maps.shape
    columns = max(1, min(columns or c, c))
    mosaic = np.full(mosaic_size(maps.shape, columns, gap), np.nan, dtype=np.float32)
    channel = np.full(mosaic.shape, -1, dtype=np.int32)
    origins = []
    for k in range(c):
        r, col = divmod(k, columns)
        y, x = r * (h + gap), col * (w + gap)
        mosaic[y : y + h, x : x + w] = maps[:, :, k]
        channel[y : y + h, x : x + w] = k
        origins.append((y, x))
    return mosaic, channel, origins


def png_data_uri(picture) -> str:
    """A Pillow picture as a ``data:image/png`` URI, for a figure's layout image or an HTML player."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


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
