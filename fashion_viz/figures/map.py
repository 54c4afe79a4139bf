"""The Map page's figure: the test set as the model sees it, with your picture and its nearest neighbours."""

from __future__ import annotations

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import HIDDEN_AXIS, figure
from fashion_viz.palette import BLACK, CLASS_COLOURS, HIGHLIGHT_COLOUR, INK_COLOUR


MAP_TRACE_MISCLASSIFIED = "misclassified"
MAP_TRACE_PICTURE = "your picture"
MAP_TRACE_NEIGHBOURS = "its 10 nearest"


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
