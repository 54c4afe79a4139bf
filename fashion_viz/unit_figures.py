"""Figures of the Units and Map pages: exemplar grids (plain pictures), small bar charts, the map.

Exemplar grids are RGB arrays drawn with NumPy, shown as images: they need no
hover, and an image costs the browser far less than a Plotly chart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.figures import HIDDEN_AXIS, figure
from fashion_viz.palette import BAR_COLOUR, BLACK, CLASS_COLOURS, GRID_COLOUR, HIGHLIGHT_COLOUR, INK_COLOUR, hex_to_rgb, sign_colour

MAP_TRACE_MISCLASSIFIED = "misclassified"
MAP_TRACE_PICTURE = "your picture"
MAP_TRACE_NEIGHBOURS = "its 10 nearest"


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


def exemplar_grid(images: np.ndarray, boxes: Sequence | None = None, columns: int = 9, factor: int = 4, gap: int = 4) -> np.ndarray:
    """One RGB strip of pictures (each with its receptive-field box, if any), white gaps between them."""
    images = np.asarray(images)
    tiles = [outlined_picture(img, None if boxes is None else boxes[i], factor) for i, img in enumerate(images)]
    size = tiles[0].shape[0]
    rows = -(-len(tiles) // columns)
    grid = np.full((rows * size + (rows - 1) * gap, columns * size + (columns - 1) * gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * (size + gap) : r * (size + gap) + size, c * (size + gap) : c * (size + gap) + size] = tile
    return grid


def class_bars(values: np.ndarray, title: str, x_title: str, highlight: int | None = None, signed: bool = False, height: int = 260):
    """Ten horizontal bars, one per class (top to bottom in class order); ``highlight`` in the highlight colour; signed values in the sign colours."""
    values = np.asarray(values, float)
    signed = signed or bool((values < 0).any())  # a negative bar is a signed amount wherever it comes from
    colours = [HIGHLIGHT_COLOUR if k == highlight else (sign_colour(v) if signed else BAR_COLOUR) for k, v in enumerate(values)]
    bars = dict(
        type="bar",
        orientation="h",
        x=values.tolist(),
        y=list(CLASS_NAMES),
        marker=dict(color=colours),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    x_axis = dict(title=dict(text=x_title), zeroline=True, zerolinecolor=INK_COLOUR, gridcolor=GRID_COLOUR)
    return figure([bars], title, height, xaxis=x_axis, yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=40, b=10))


def feeder_bars(contributions: np.ndarray, cls: int, layer: str, count: int = 6, height: int = 330):
    """The units of ``layer`` (the one feeding the classes) that raise (+, the positive colour) and lower (−) one
    class's logit most, on average over that class's pictures."""
    contributions = np.asarray(contributions, float)
    order = np.argsort(contributions)
    chosen = list(order[::-1][:count]) + list(order[:count][::-1])
    chosen = [int(u) for u in dict.fromkeys(chosen)]
    values = contributions[chosen]
    bars = dict(
        type="bar",
        orientation="h",
        x=values.tolist(),
        y=[f"unit {u}" for u in chosen],
        customdata=chosen,
        marker=dict(color=[sign_colour(v) for v in values]),
        hovertemplate=f"{layer} %{{y}}: %{{x:+.3f}} on average<extra></extra>",
    )
    return figure(
        [bars],
        f"{layer} units that feed {CLASS_NAMES[cls]} most",
        height,
        xaxis=dict(title=dict(text="mean activation x weight into the logit"), zeroline=True, zerolinecolor=INK_COLOUR),
        yaxis=dict(autorange="reversed", type="category", dtick=1),
        margin=dict(l=10, r=10, t=40, b=10),
    )


def embedding_figure(
    xy: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    shown: np.ndarray,
    picture_xy: np.ndarray | None = None,
    neighbours: np.ndarray | None = None,
    height: int = 620,
):
    """The test set on the map: one trace per true class (click a dot: its test index is ``customdata``),
    misclassified pictures ringed, and the chosen picture as a star joined to its 10 nearest."""
    xy, labels, predictions = np.asarray(xy), np.asarray(labels), np.asarray(predictions)
    shown = np.asarray(shown, bool)
    def points(name: str, idx: np.ndarray, marker: dict, hover: str) -> dict:
        return dict(
            type="scattergl",
            mode="markers",
            name=name,
            x=np.round(xy[idx, 0], 3).tolist(),
            y=np.round(xy[idx, 1], 3).tolist(),
            customdata=np.stack([idx, predictions[idx]], axis=1).tolist(),
            marker=marker,
            hovertemplate=hover,
        )

    traces = [
        points(name, np.flatnonzero(shown & (labels == k)), dict(color=CLASS_COLOURS[k], size=4, opacity=0.75),
               f"test image #%{{customdata[0]}}<br>true: {name}<br>predicted class %{{customdata[1]}}<extra></extra>")
        for k, name in enumerate(CLASS_NAMES)
    ]
    traces.append(
        points(MAP_TRACE_MISCLASSIFIED, np.flatnonzero(shown & (labels != predictions)),
               dict(symbol="circle-open", color=INK_COLOUR, size=7, line=dict(width=1)),
               "test image #%{customdata[0]}: misclassified as class %{customdata[1]}<extra></extra>")
    )
    if picture_xy is not None:
        if neighbours is not None and len(neighbours):
            lines_x, lines_y = [], []
            for j in neighbours:
                lines_x += [float(picture_xy[0]), float(xy[j, 0]), None]
                lines_y += [float(picture_xy[1]), float(xy[j, 1]), None]
            # WebGL traces are drawn above SVG ones: the marks on top must be WebGL too.
            traces.append(dict(type="scattergl", mode="lines", name=MAP_TRACE_NEIGHBOURS, x=lines_x, y=lines_y, line=dict(color=BLACK, width=1), hoverinfo="skip"))
        traces.append(
            dict(
                type="scattergl",
                mode="markers",
                name=MAP_TRACE_PICTURE,
                x=[float(picture_xy[0])],
                y=[float(picture_xy[1])],
                marker=dict(symbol="star", size=22, color=HIGHLIGHT_COLOUR, line=dict(color=BLACK, width=1.5)),
                hovertemplate="your picture<extra></extra>",
            )
        )
    return figure(
        traces,
        "The test set as the model sees it (dense1, 128 numbers per picture, projected to 2-D)",
        height,
        xaxis=HIDDEN_AXIS,
        yaxis=dict(visible=False, scaleanchor="x"),
        legend=dict(itemsizing="constant", orientation="v"),
        dragmode="pan",
        clickmode="event+select",
    )
