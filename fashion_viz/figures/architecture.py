"""The Architecture page's figures: the block diagram of the layers and visualkeras' layered view."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from PIL import Image, ImageFont

from fashion_viz.figures.base import figure
from fashion_viz.layer_guide import layer_kind
from fashion_viz.palette import INK_COLOUR, layer_colour


def architecture_figure(layers: Sequence, title: str = "Layers, output shapes and parameters", vertical: bool = False) -> go.Figure:
    """An interactive block diagram: one block per layer, its size by output size (log scale), hover for details.

    ``layers`` are :class:`fashion_viz.layer_guide.LayerInfo` objects. ``vertical`` stacks the blocks from the
    input at the top to the output at the bottom with their names beside them (a phone: ten names side by side
    ran into each other).
    """
    sizes = [math.prod(info.output_shape) for info in layers]
    top = math.log10(max(sizes))

    def at(along: float, across: float) -> tuple[float, float]:
        """(x, y) of a point ``along`` the flow and ``across`` it."""
        return (across, -along) if vertical else (along, across)

    shapes, annotations, hover = [], [], []
    for i, (info, size) in enumerate(zip(layers, sizes)):
        extent = 0.25 + 0.75 * math.log10(size) / top
        (x0, y0), (x1, y1) = at(i - 0.38, -extent / 2), at(i + 0.38, extent / 2)
        shapes.append(dict(type="rect", x0=min(x0, x1), x1=max(x0, x1), y0=min(y0, y1), y1=max(y0, y1), fillcolor=layer_colour(info.kind), line=dict(color=INK_COLOUR, width=1)))
        if i:
            (hx, hy), (tx, ty) = at(i - 0.38, 0), at(i - 0.62, 0)
            annotations.append(dict(x=hx, y=hy, ax=tx, ay=ty, xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, arrowcolor=INK_COLOUR, text=""))
        details = f"{' x '.join(map(str, info.output_shape))}" + ("  ·  " if vertical else "<br>") + f"{info.params:,} params"
        if vertical:
            annotations.append(dict(x=0.62, y=-i, text=f"<b>{info.name}</b>  {details}", showarrow=False, xanchor="left", font=dict(size=12)))
        else:
            annotations.append(dict(x=i, y=0.62, text=f"<b>{info.name}</b>", showarrow=False, font=dict(size=12)))
            annotations.append(dict(x=i, y=-0.62, text=details, showarrow=False, font=dict(size=11, color=INK_COLOUR)))
        hover.append(
            f"<b>{info.name}</b> ({info.type_name})<br>in: {' x '.join(map(str, info.input_shape))}<br>"
            f"out: {' x '.join(map(str, info.output_shape))} = {size:,} values<br>parameters: {info.params_formula}"
            + (f"<br>receptive field: {info.receptive_field}x{info.receptive_field} px" if info.receptive_field else "")
        )
    centres = [at(i, 0) for i in range(len(layers))]
    markers = dict(
        type="scatter",
        x=[x for x, _ in centres],
        y=[y for _, y in centres],
        mode="markers",
        marker=dict(size=40, opacity=0),
        hovertext=hover,
        hoverinfo="text",
        showlegend=False,
    )
    flow = [-0.6, len(layers) - 0.4]
    if vertical:
        axes = dict(xaxis=dict(visible=False, range=[-0.6, 3.4]), yaxis=dict(visible=False, range=[-flow[1], -flow[0]]))
    else:
        axes = dict(xaxis=dict(visible=False, range=flow), yaxis=dict(visible=False, range=[-0.85, 0.8]))
    return figure([markers], title, 56 * len(layers) + 60 if vertical else 300, shapes=shapes, annotations=annotations, **axes)


def layered_diagram(model, font_size: int = 14) -> Image.Image:
    """The visualkeras layered view of ``model`` with a legend, as an RGB image."""
    import keras
    import visualkeras

    clone = keras.models.clone_model(model)
    for copy, original in zip(clone.layers, model.layers):
        copy.output_shape = tuple(original.output.shape)
    colours: dict = {}  # visualkeras colours by layer type: the first layer of a type decides (dense before softmax)
    for layer in clone.layers:
        colours.setdefault(type(layer), {"fill": layer_colour(layer_kind(layer)), "outline": INK_COLOUR})
    font = ImageFont.load_default(size=font_size)
    image = visualkeras.layered_view(
        clone,
        legend=True,
        font=font,
        color_map=colours,
        spacing=24,
        one_dim_orientation="y",
        sizing_mode="logarithmic",
        scale_xy=6,
        scale_z=4,
        max_xy=260,
        max_z=160,
        text_callable=lambda index, layer: (f"{layer.name}\n{'x'.join(str(d) for d in layer.output_shape[1:])}", index % 2 == 0),
        legend_text_spacing_offset=0,
        padding=20,
    )
    return image.convert("RGB")
