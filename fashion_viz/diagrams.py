"""Architecture pictures: the visualkeras layered view (a PIL image).

visualkeras 0.2.0's ``layered_view`` reads ``layer.output_shape``, which Keras 3
layers no longer have. We draw a *clone* of the model whose layers carry that
attribute, so the served model is never modified.
"""

from __future__ import annotations

from PIL import Image, ImageFont

from fashion_viz.layer_guide import layer_kind
from fashion_viz.palette import INK_COLOUR, layer_colour

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
