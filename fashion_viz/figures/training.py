"""The Train page's curves."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from fashion_viz.figures.base import figure
from fashion_viz.palette import BAR_COLOUR, GRID_COLOUR, HIGHLIGHT_COLOUR


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
