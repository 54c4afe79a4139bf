"""Architecture pictures: the visualkeras layered view (a PIL image).

visualkeras 0.2.0's ``layered_view`` reads ``layer.output_shape``, which Keras 3
layers no longer have. We draw a *clone* of the model whose layers carry that
attribute, so the served model is never modified.
"""

from __future__ import annotations

from collections import defaultdict

from PIL import Image, ImageFont

# Okabe-Ito colours (colour-blind safe), one per layer type.
LAYER_COLOURS = {
    "Conv2D": "#E69F00",
    "MaxPooling2D": "#56B4E9",
    "Dropout": "#BBBBBB",
    "Flatten": "#009E73",
    "Dense": "#0072B2",
}


def layered_diagram(model, font_size: int = 14) -> Image.Image:
    """The visualkeras layered view of ``model`` with a legend, as an RGB image."""
    import keras
    import visualkeras

    clone = keras.models.clone_model(model)
    for copy, original in zip(clone.layers, model.layers):
        copy.output_shape = tuple(original.output.shape)
    colours = defaultdict(dict)
    for layer in clone.layers:
        colour = LAYER_COLOURS.get(type(layer).__name__)
        if colour:
            colours[type(layer)] = {"fill": colour, "outline": "#333333"}
    font = ImageFont.load_default(size=font_size)
    image = visualkeras.layered_view(
        clone,
        legend=True,
        font=font,
        color_map=dict(colours),
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
