"""Figures of the Why page: each method's map over the picture, the what-if bars, the faithfulness table, overlay PNGs."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from fashion_viz import CLASS_NAMES
from fashion_viz.explain.attribution import METHODS
from fashion_viz.figures.base import figure
from fashion_viz.palette import ACTIVATION_SCALE, DIVERGING_SCALE, GRID_COLOUR, HIGHLIGHT_COLOUR, IMAGE_SCALE, NEGATIVE_NAME, POSITIVE_NAME, REFERENCE_COLOUR


def normalised(result) -> np.ndarray:
    """A map scaled by its largest magnitude: [0, 1] for unsigned maps, [-1, 1] for signed ones."""
    top = float(np.abs(result.map).max()) or 1.0
    return result.map / top


def attribution_grid_figure(image: np.ndarray, results: Sequence, opacity: float = 0.6, columns: int = 2, labels: Sequence[str] | None = None) -> go.Figure:
    """Each method's map over the picture, side by side in one chart (one chart draws faster than six).

    Unsigned maps use the sequential scale (0 = unimportant), signed maps the diverging scale
    centred on zero (the palette's + colour pushes the score up, − down); each map is scaled to its own maximum.
    ``labels``: each map's heading (default: its method's title), e.g. to name two models' maps side by side.
    """
    rows = int(np.ceil(len(results) / columns))
    traces, axes, annotations = [], {}, []
    row_px, title_px = 250, 70  # each row: a square picture of about 220 px under its name
    gap_x, gap_y = 0.03, 30 / (rows * row_px)
    maps_share = 0.78 if columns > 1 else 1.0  # one column (a phone): the maps take the width, the colour bars go under them
    width, height = (maps_share - gap_x * (columns - 1)) / columns, (1 - gap_y * (rows - 1)) / rows
    shown_scale = {False: False, True: False}
    for i, result in enumerate(results):
        row, col = divmod(i, columns)
        suffix = "" if i == 0 else str(i + 1)
        x0 = col * (width + gap_x)
        y1 = 1 - row * (height + gap_y)
        axes[f"xaxis{suffix}"] = dict(domain=[round(x0, 6), round(min(1.0, x0 + width), 6)], visible=False)
        axes[f"yaxis{suffix}"] = dict(domain=[round(max(0.0, y1 - height), 6), round(y1, 6)], autorange="reversed", visible=False, scaleanchor=f"x{suffix}")
        traces.append(dict(type="heatmap", z=np.asarray(image, np.float32), colorscale=IMAGE_SCALE, zmin=0, zmax=255, showscale=False, hoverinfo="skip", xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
        signed = bool(result.signed)
        bar = None
        if not shown_scale[signed]:
            bar = dict(
                title=dict(text=f"signed: + {POSITIVE_NAME} pushes<br>the score up, − {NEGATIVE_NAME} down" if signed else "importance<br>(share of the map's max)"),
                thickness=10, len=0.42, y=0.25 if signed else 0.78, x=0.81, xanchor="left",
            )
            shown_scale[signed] = True
        traces.append(
            dict(
                type="heatmap",
                z=normalised(result),
                customdata=result.map,
                colorscale=DIVERGING_SCALE if signed else ACTIVATION_SCALE,
                zmin=-1 if signed else 0,
                zmax=1,
                zmid=0 if signed else None,
                opacity=opacity,
                showscale=bar is not None,
                colorbar=bar,
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
                name=METHODS[result.method].title,
                hovertemplate=f"{METHODS[result.method].title}<br>row %{{y}}, column %{{x}}: %{{customdata:.4f}}<extra></extra>",
            )
        )
        label = METHODS[result.method].title if labels is None else labels[i]
        annotations.append(dict(text=f"<b>{label}</b>", x=x0 + width / 2, y=y1, xref="paper", yref="paper", showarrow=False, yanchor="bottom"))
    target = results[0]
    what = CLASS_NAMES[target.target] + (f" rather than {CLASS_NAMES[target.contrast]}" if target.contrast is not None else "")
    return figure(traces, f"Why {what}: each method's map over the picture", row_px * rows + title_px, annotations=annotations, margin=dict(l=10, r=10, t=title_px, b=10), **axes)


def _colour(values: np.ndarray, scale) -> np.ndarray:
    """Map values in [0, 1] to RGB through a Plotly-style [[position, '#rrggbb'], ...] scale."""
    stops = np.array([p for p, _ in scale])
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in scale], np.float64)
    return np.stack([np.interp(values, stops, colours[:, k]) for k in range(3)], axis=-1)


def _hex_scale(scale) -> list:
    """Plotly's Cividis stops come as 'rgb(r, g, b)': turn them into '#rrggbb'."""
    out = []
    for position, colour in scale:
        if colour.startswith("rgb"):
            r, g, b = (int(float(v)) for v in colour[colour.index("(") + 1 : -1].split(","))
            colour = f"#{r:02x}{g:02x}{b:02x}"
        out.append([position, colour])
    return out


def overlay_png(image: np.ndarray, result, opacity: float = 0.6, scale: int = 10) -> bytes:
    """The picture with the map blended over it, enlarged ``scale`` times, as PNG bytes."""
    base = np.repeat(np.asarray(image, np.float64)[..., None], 3, axis=-1)
    values = normalised(result)
    if result.signed:
        colour = _colour((values + 1) / 2, DIVERGING_SCALE)
    else:
        colour = _colour(values, _hex_scale(ACTIVATION_SCALE))
    blended = (1 - opacity) * base + opacity * colour
    picture = Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)).resize((28 * scale, 28 * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def whatif_figure(before: np.ndarray, after: np.ndarray) -> go.Figure:
    """The class probabilities of the original picture and model beside those after the changes (horizontal bars)."""
    names = list(CLASS_NAMES)
    data = [
        dict(type="bar", orientation="h", y=names, x=before, name="before", marker=dict(color=REFERENCE_COLOUR), hovertemplate="%{y}: %{x:.1%}<extra>before</extra>"),
        dict(type="bar", orientation="h", y=names, x=after, name="after your changes", marker=dict(color=HIGHLIGHT_COLOUR), hovertemplate="%{y}: %{x:.1%}<extra>after</extra>"),
    ]
    return figure(
        data, "Before and after your changes", 380, barmode="group",
        legend=dict(orientation="h", y=-0.18, x=0, yanchor="top"),
        margin=dict(l=10, r=10, t=48, b=40),
        xaxis=dict(title=dict(text="probability"), range=[0, 1.05], tickformat=".0%", gridcolor=GRID_COLOUR),
        yaxis=dict(autorange="reversed"),
    )


def adversarial_figure(original: np.ndarray, adversarial: np.ndarray, eps: int) -> go.Figure:
    """The picture, the attacked picture, and the change between them amplified (+ brighter, − darker, ±ε at full colour)."""
    gap = np.full((28, 2), np.nan, np.float32)
    pictures = np.hstack([original.astype(np.float32), gap, adversarial.astype(np.float32)])
    change = adversarial.astype(np.float32) - original.astype(np.float32)
    limit = max(int(eps), 1)
    data = [
        dict(type="heatmap", z=pictures, colorscale=IMAGE_SCALE, zmin=0, zmax=255, showscale=False, hoverongaps=False,
             xaxis="x", yaxis="y", hovertemplate="grey level %{z:.0f}<extra></extra>"),
        dict(type="heatmap", z=change, colorscale=DIVERGING_SCALE, zmin=-limit, zmax=limit, zmid=0, xaxis="x2", yaxis="y2",
             hovertemplate="changed by %{z:+.0f} grey levels<extra></extra>",
             colorbar=dict(title=dict(text=f"change<br>(+ {POSITIVE_NAME}, − {NEGATIVE_NAME})"), thickness=10, x=1.0)),
    ]
    return figure(
        data, f"Your picture, attacked (ε = {eps} grey levels), and the change amplified", 300,
        xaxis=dict(domain=[0.0, 0.62], visible=False), yaxis=dict(autorange="reversed", scaleanchor="x", visible=False),
        xaxis2=dict(domain=[0.68, 0.93], visible=False), yaxis2=dict(autorange="reversed", scaleanchor="x2", visible=False),
    )


def smallest_change_table(table: dict) -> pd.DataFrame:
    """"How many grey levels it takes to make it say X" (``explain.adversarial.smallest_changes``), one row per attack."""
    def levels(eps):
        return "more than 32" if eps is None else str(eps)

    rows = [{"attack": "FGSM, to any other class", "grey levels": levels(table["fgsm"])}, {"attack": "PGD, to any other class", "grey levels": levels(table["pgd"])}]
    rows += [{"attack": f"PGD, to make it say {name}", "grey levels": levels(eps)} for name, eps in table["towards"].items()]
    return pd.DataFrame(rows)


def faithfulness_table(report) -> pd.DataFrame:
    """One row per method: deletion and insertion AUC with the random order's beside them, the model-randomisation
    check's median Spearman correlation after each stage and, when measured, the data-randomisation check's."""
    rows = []
    stages = list(next(iter(report.randomisation_spearman.values())))
    for method, title in ((key, m.title) for key, m in METHODS.items()):
        row = {
            "method": title,
            "deletion AUC (lower is better)": report.deletion_auc[method],
            "random order": report.deletion_auc["random"],
            "insertion AUC (higher is better)": report.insertion_auc[method],
            "random order ": report.insertion_auc["random"],
        }
        for stage in stages:
            row[f"ρ, {stage.count('+') + 1} top layer(s) randomised"] = report.randomisation_spearman[method][stage]
        if report.data_randomisation_spearman:
            flat = report.data_randomisation_flat.get(method, 0.0) > 0.5  # the random-label model's maps are constant: ρ says nothing
            row["ρ, trained on random labels"] = float("nan") if flat else report.data_randomisation_spearman[method]
        rows.append(row)
    return pd.DataFrame(rows)
