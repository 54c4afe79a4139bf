"""The Evaluate page's figures: the confusion matrix and the accuracy per class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import figure
from fashion_viz.palette import ACTIVATION_SCALE, BAR_COLOUR, GRID_COLOUR, TRANSPARENT


CELL_TRACE = "confusion cells"  # the clickable cells of a confusion matrix


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
