"""The class-probability bars every page shows for a picture."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import figure
from fashion_viz.palette import BAR_COLOUR, GRID_COLOUR, HIGHLIGHT_COLOUR, TRANSPARENT, TRUE_COLOUR


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
