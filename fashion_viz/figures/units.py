"""Figures of the Units page: exemplar grids (plain pictures: no hover, and an image costs the browser far less than a
chart), the per-class bars and the units that feed a class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import figure, outlined_picture
from fashion_viz.palette import BAR_COLOUR, GRID_COLOUR, HIGHLIGHT_COLOUR, INK_COLOUR, sign_colour


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
