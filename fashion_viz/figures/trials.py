"""The Layers page's figures: the first layer's tuning, probes layer by layer, variants side by side,
re-initialised layers, the reliability diagram and shift tolerance.

Colours keep their one meaning: the baseline (the seed, or the probabilities as they are) in the reference
grey of "before", the variant or correction looked at in the highlight colour, unsigned amounts in slate.
Training and validation curves differ by line style (dotted, solid), not colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from fashion_viz.figures.base import figure
from fashion_viz.palette import ACTIVATION_SCALE, BAR_COLOUR, GRID_COLOUR, HIGHLIGHT_COLOUR, INK_COLOUR, REFERENCE_COLOUR, WHITE

PERCENT_AXIS = dict(tickformat=".0%", gridcolor=GRID_COLOUR)
LEGEND_BELOW = dict(orientation="h", y=-0.32, x=0, yanchor="top")  # under the axis title: never over the chart's title
BELOW_MARGIN = dict(l=10, r=10, t=48, b=110)


def filter_label(match: dict) -> str:
    angle = "" if match["angle"] is None else f" {match['angle']:.0f}°"
    sign = "" if match["template"] == "edge" else (" bright" if match["sign"] > 0 else " dark")
    return f"#{match['filter']} {match['template']}{sign}{angle}"


def edge_tuning_figure(matches: Sequence[dict], directions: Sequence[float]) -> go.Figure:
    """One row per filter (sorted by template kind): its strongest response to an edge in each direction, as a
    share of its own best; a filter marked ✓ is a clearly oriented edge detector."""
    z = np.array([m["edge_responses"] for m in matches], float)
    z = z / np.maximum(z.max(axis=1, keepdims=True), 1e-12)
    labels = [("✓ " if m["oriented_edge"] else "") + filter_label(m) for m in matches]
    heat = dict(
        type="heatmap", z=z, x=[f"{d:.0f}°" for d in directions], y=labels, colorscale=ACTIVATION_SCALE, zmin=0, zmax=1,
        customdata=np.array([[m["cosine"], m["selectivity"]] for m in matches])[:, None, :].repeat(len(directions), axis=1),
        hovertemplate="%{y}<br>edge bright towards %{x}: %{z:.0%} of its best<br>template cosine %{customdata[0]:.2f}, selectivity %{customdata[1]:.2f}<extra></extra>",
        colorbar=dict(title=dict(text="share of<br>its best"), tickformat=".0%", thickness=12),
    )
    return figure(
        [heat], "Each filter's response to an edge in 8 directions", 120 + 18 * len(matches),
        xaxis=dict(title=dict(text="direction the bright side faces")), yaxis=dict(autorange="reversed", tickfont=dict(size=11)),
    )


def grating_tuning_figure(match: dict, orientations: Sequence[float], periods: Sequence[float]) -> go.Figure:
    """One filter's mean response to sinusoidal gratings by orientation, one line per period (line style)."""
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    data = [
        dict(type="scatter", x=list(orientations), y=row, mode="lines+markers", name=f"period {p:g} px", line=dict(color=BAR_COLOUR, dash=dashes[k % len(dashes)], width=2),
             hovertemplate=f"period {p:g} px, stripes at %{{x}}°: %{{y:.3f}}<extra></extra>")
        for k, (p, row) in enumerate(zip(periods, match["grating_responses"]))
    ]
    return figure(data, f"Filter #{match['filter']} ({filter_label(match).split(' ', 1)[1]}): its response to gratings", 320, legend=LEGEND_BELOW, margin={**BELOW_MARGIN, "b": 130},
                  xaxis=dict(title=dict(text="orientation of the stripes (degrees)"), dtick=22.5), yaxis=dict(title=dict(text="mean response"), gridcolor=GRID_COLOUR))


def probe_figure(probes: Sequence[dict]) -> go.Figure:
    """Test accuracy of a linear probe on each layer's outputs, the input pixels first."""
    own = [p for p in probes if p["same_as"] is None]
    passed = [p for p in probes if p["same_as"] is not None]
    data = [
        dict(type="scatter", x=[p["layer"] for p in probes], y=[p["accuracy"] for p in probes], mode="lines", line=dict(color=BAR_COLOUR), hoverinfo="skip", showlegend=False),
        dict(type="scatter", x=[p["layer"] for p in own], y=[p["accuracy"] for p in own], mode="markers+text", name="probe on the layer's outputs",
             marker=dict(color=BAR_COLOUR, size=9), text=[f"{p['accuracy']:.1%}" for p in own], textposition="top center",
             customdata=[[p["features"]] for p in own], hovertemplate="%{x}: %{y:.2%} on test<br>%{customdata[0]:,} features<extra></extra>"),
        dict(type="scatter", x=[p["layer"] for p in passed], y=[p["accuracy"] for p in passed], mode="markers", name="passes its input on unchanged",
             marker=dict(color=REFERENCE_COLOUR, size=8, symbol="circle-open", line=dict(width=2)), customdata=[[p["same_as"]] for p in passed],
             hovertemplate="%{x}: the same values as %{customdata[0]} at inference<extra></extra>"),
    ]
    low = min(p["accuracy"] for p in probes)
    return figure(data, "How linearly separable the classes are after each layer", 380, legend={**LEGEND_BELOW, "y": -0.45}, margin={**BELOW_MARGIN, "b": 140},
                  xaxis=dict(title=dict(text="layer (input first)"), tickangle=-30), yaxis=dict(title=dict(text="probe's test accuracy"), range=[low - 0.03, 1.0], **PERCENT_AXIS))


def variant_bars_figure(rows: Sequence[dict], figure_key: str, title: str, baseline: str, chosen: Sequence[str] = ()) -> go.Figure:
    """One bar per variant: the mean of a figure over its seeds, with ± one standard deviation; the baseline in
    the reference grey, the variants that test the claim at hand in the highlight colour."""
    colours = [REFERENCE_COLOUR if r["name"] == baseline else HIGHLIGHT_COLOUR if r["name"] in chosen else BAR_COLOUR for r in rows]
    values = [r[figure_key]["mean"] for r in rows]
    bars = dict(
        type="bar", x=[r["name"] for r in rows], y=values, marker=dict(color=colours),
        error_y=dict(type="data", array=[r[figure_key]["std"] for r in rows], color=INK_COLOUR, thickness=1.2, width=4),
        text=[f"{v:.1%}" for v in values], textposition="inside", insidetextanchor="end", textfont=dict(color=WHITE),
        customdata=[[r["runs"], r["spec"]] for r in rows],
        hovertemplate="%{x}: %{y:.2%} (mean of %{customdata[0]} seeds)<br>%{customdata[1]}<extra></extra>",
    )
    top = max(v + r[figure_key]["std"] for v, r in zip(values, rows))
    bottom = 0 if figure_key == "gap" else max(0, min(values) - 0.05)
    return figure([bars], title, 330, showlegend=False, xaxis=dict(tickangle=-25), yaxis=dict(range=[bottom, top * 1.12 if bottom == 0 else min(1.0, top + 0.02)], **PERCENT_AXIS))


def variant_curves_figure(baseline: Sequence[Sequence[dict]], variant: Sequence[Sequence[dict]], baseline_name: str, variant_name: str) -> go.Figure:
    """Training (dotted) and validation (solid) accuracy per epoch, each the mean over the seeds' runs."""

    def mean_curve(histories, key):
        return np.mean([[h[key] for h in history] for history in histories], axis=0)

    data = []
    for histories, name, colour in ((baseline, baseline_name, REFERENCE_COLOUR), (variant, variant_name, HIGHLIGHT_COLOUR)):
        epochs = [h["epoch"] for h in histories[0]]
        for key, dash, what in (("accuracy", "dot", "training"), ("val_accuracy", "solid", "validation")):
            data.append(dict(type="scatter", x=epochs, y=mean_curve(histories, key), mode="lines", name=f"{name}, {what}", line=dict(color=colour, dash=dash, width=2.5),
                             hovertemplate=f"{name}, {what}<br>epoch %{{x}}: %{{y:.2%}}<extra></extra>"))
    return figure(data, "Training (dotted, with dropout active) and validation (solid) accuracy", 340, legend=LEGEND_BELOW, margin=BELOW_MARGIN,
                  xaxis=dict(title=dict(text="epoch")), yaxis=dict(title=dict(text="accuracy"), **PERCENT_AXIS))


def reinit_figure(accuracy: dict, trained: float, states: Sequence[str], state_text: dict) -> go.Figure:
    """Test accuracy with one layer (row) set back to an earlier state (column), beside the trained model's."""
    layers = list(accuracy)
    z = np.array([[accuracy[layer].get(s, np.nan) for s in states] for layer in layers], float)
    heat = dict(
        type="heatmap", z=z, x=[state_text[s] for s in states], y=layers, colorscale=ACTIVATION_SCALE, zmin=0, zmax=1,
        text=[[("" if np.isnan(v) else f"{v:.1%}") for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="%{y} set to %{x}: %{z:.2%} on test<extra></extra>", colorbar=dict(title=dict(text="test<br>accuracy"), tickformat=".0%", thickness=12),
    )
    # Wider than the house estimate: Plotly draws the cells' text and category ticks of a heatmap a little larger.
    margin = dict(l=12 + 7 * max(len(layer) for layer in layers), r=115, t=48, b=48)
    return figure([heat], f"Test accuracy with one layer set back (trained: {trained:.1%})", 130 + 48 * len(layers), yaxis=dict(autorange="reversed"), margin=margin)


def reliability_figure(bins: Sequence[dict], bins_after: Sequence[dict], temperature: float) -> go.Figure:
    """Accuracy against confidence per bin of the top class's probability, as the model gives it (slate bars)
    and after temperature scaling (highlight markers); on the diagonal a probability means what it says."""
    filled = [b for b in bins if b["count"]]
    after = [b for b in bins_after if b["count"]]
    data = [
        dict(type="bar", x=[(b["low"] + b["high"]) / 2 for b in filled], y=[b["accuracy"] for b in filled], width=(bins[0]["high"] - bins[0]["low"]) * 0.9,
             name="as the model gives them", marker=dict(color=BAR_COLOUR), customdata=[[b["count"], b["confidence"]] for b in filled],
             hovertemplate="confidence %{customdata[1]:.1%} (%{customdata[0]:,} pictures)<br>right %{y:.1%} of the time<extra></extra>"),
        dict(type="scatter", x=[b["confidence"] for b in after], y=[b["accuracy"] for b in after], mode="markers+lines", name=f"after dividing the logits by T = {temperature:.2f}",
             marker=dict(color=HIGHLIGHT_COLOUR, size=8), line=dict(color=HIGHLIGHT_COLOUR, width=1.5), customdata=[[b["count"]] for b in after],
             hovertemplate="confidence %{x:.1%} (%{customdata[0]:,} pictures)<br>right %{y:.1%} of the time<extra></extra>"),
        dict(type="scatter", x=[0, 1], y=[0, 1], mode="lines", name="a probability that means what it says", line=dict(color=INK_COLOUR, dash="dash", width=1), hoverinfo="skip"),
    ]
    return figure(data, "Reliability on the test set: when the model says p, is it right p of the time?", 380, legend=LEGEND_BELOW, margin={**BELOW_MARGIN, "b": 116},
                  xaxis=dict(title=dict(text="top class's probability"), range=[0, 1.02], **PERCENT_AXIS), yaxis=dict(title=dict(text="share right"), range=[0, 1.05], **PERCENT_AXIS))


def shift_figure(series: Sequence[tuple[str, dict, bool]]) -> go.Figure:
    """Share of test pictures keeping their answer when moved 1-3 pixels: (name, shift record, is the baseline)."""
    dashes = ("solid", "dash", "dot", "dashdot")
    data = []
    for k, (name, shifts, baseline) in enumerate(series):
        data.append(dict(type="scatter", x=shifts["shifts"], y=shifts["agreement"], mode="lines+markers", name=name,
                         line=dict(color=REFERENCE_COLOUR if baseline else BAR_COLOUR, dash=dashes[k % len(dashes)], width=2.5),
                         hovertemplate=f"{name}<br>moved %{{x}} px: %{{y:.1%}} keep their answer<extra></extra>"))
    return figure(data, "Pictures that keep their answer when moved", 320, legend=LEGEND_BELOW, margin=BELOW_MARGIN,
                  xaxis=dict(title=dict(text="pixels moved (mean of up, down, left, right)"), dtick=1), yaxis=dict(title=dict(text="same answer"), **PERCENT_AXIS))
