"""Plain-words explanations of each layer, with this model's own numbers.

Computed from any Keras ``Sequential``/functional chain of Conv2D, MaxPooling2D,
Dropout, Flatten and Dense layers, so another model offered beside the seed one
gets correct shapes, parameter counts and receptive fields too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerInfo:
    """What one layer is, what it does, and its numbers."""

    index: int
    name: str
    kind: str  # conv | pool | dropout | flatten | dense | softmax
    type_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    params_formula: str
    receptive_field: int | None  # in input pixels, for spatial layers
    title: str
    explanation: str
    stride: int = 1  # input pixels between neighbouring positions of this layer's maps (spatial layers)

    def field(self, row: int, col: int) -> tuple[int, int, int, int]:
        """The input pixels (top, left, bottom, right; end exclusive) that position (row, col) depends on:
        valid convolutions and pooling windows only ever look down and right of their position."""
        top, left = row * self.stride, col * self.stride
        return top, left, top + self.receptive_field, left + self.receptive_field


def shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape)


def layer_kind(layer) -> str:
    type_name = type(layer).__name__
    if type_name == "Conv2D":
        return "conv"
    if type_name.startswith("MaxPooling"):
        return "pool"
    if type_name == "Dropout":
        return "dropout"
    if type_name == "Flatten":
        return "flatten"
    if type_name == "Dense":
        activation = getattr(layer.activation, "__name__", "")
        return "softmax" if activation == "softmax" else "dense"
    return type_name.lower()


def _conv_text(layer, in_shape, out_shape, rf, params):
    k = layer.kernel_size
    filters = layer.filters
    in_ch = in_shape[-1]
    first = in_ch == 1
    return (
        f"Convolution: {filters} filters slide over the {shape_text(in_shape)} input. Each filter is a "
        f"{k[0]}x{k[1]}{'' if first else f'x{in_ch}'} grid of learned weights; at every position it multiplies the "
        f"pixels under it by its weights, adds them up with a bias, and keeps the result only if it is positive (ReLU). "
        f"{'The first layer finds low-level features such as edges, strokes and textures.' if first else 'This layer combines the maps of the layer before into larger parts: collars, sleeves, soles, straps.'} "
        f"{'It moves 2 pixels at a time, so the map halves as pooling would halve it. ' if layer.strides[0] == 2 else ''}"
        f"With no padding the {in_shape[0]}x{in_shape[1]} grid shrinks to {out_shape[0]}x{out_shape[1]}, and there is one output map per filter: "
        f"{filters} maps. Each output pixel sees a {rf}x{rf} patch of the original image (its receptive field)."
    )


def _explain(layer, kind, in_shape, out_shape, rf, params) -> tuple[str, str, str]:
    """(title, explanation, parameter formula) for one layer."""
    if kind == "conv":
        k, f, c = layer.kernel_size, layer.filters, in_shape[-1]
        return (
            f"Convolution, {f} filters of {k[0]}x{k[1]}",
            _conv_text(layer, in_shape, out_shape, rf, params),
            f"{f} x ({k[0]}x{k[1]}x{c} + 1) = {params:,}",
        )
    if kind == "pool":
        p = layer.pool_size
        return (
            f"Max pooling {p[0]}x{p[1]}",
            f"Max pooling halves the feature maps: each {p[0]}x{p[1]} block of a map is replaced by its largest value, "
            f"so {in_shape[0]}x{in_shape[1]} becomes {out_shape[0]}x{out_shape[1]} (an odd row or column at the edge is dropped). "
            f"The strongest response in each neighbourhood survives, the maps get 4x smaller, the next layer sees a wider area "
            f"(receptive field now {rf}x{rf} pixels), and a feature that moves by a pixel gives much the same output. "
            "No parameters: nothing is learned here.",
            "no weights: 0",
        )
    if kind == "dropout":
        rate = layer.rate
        return (
            f"Dropout {rate:.0%}",
            f"Dropout switches off a random {rate:.0%} of its inputs at each training step (and scales the rest up by "
            f"1/(1-{rate:g}) = {1 / (1 - rate):.2f}), so the network cannot rely on any single feature and learns "
            "redundant, more general ones. When the model is used, as here, dropout does nothing: its output equals its input "
            f"({shape_text(out_shape)}). No parameters.",
            "no weights: 0",
        )
    if kind == "flatten":
        return (
            "Flatten",
            f"Flatten lays the {shape_text(in_shape)} stack of maps out as one vector of {out_shape[0]:,} numbers, so that "
            "the dense layers can look at every feature at every position at once. Nothing is computed or learned; the order is "
            "row by row, with all channels of one position next to each other.",
            "no weights: 0",
        )
    units = layer.units
    n_in = in_shape[-1]
    formula = f"{n_in:,} inputs x {units} units + {units} biases = {params:,}"
    if kind == "softmax":
        return (
            f"Dense {units} + softmax: the prediction",
            f"The output layer gives one score per class: each of the {units} units weighs all {n_in} features of the layer "
            "before. Softmax turns the scores into probabilities: it exponentiates them and divides by their sum, so every "
            "value is between 0 and 1 and the ten add up to 1. The largest is the model's answer.",
            formula,
        )
    return (
        f"Dense {units}, ReLU",
        f"A fully connected layer: each of its {units} units multiplies all {n_in:,} inputs by its own weights, adds them "
        "with a bias and keeps the result if positive (ReLU). It combines the features found anywhere in the picture into "
        f"evidence for whole garments. This is where most of the model's parameters live ({params:,}).",
        formula,
    )


def describe_layers(model) -> list[LayerInfo]:
    """One :class:`LayerInfo` per layer, in order, for any chain of the supported layer types."""
    infos = []
    rf, jump = 1, 1  # receptive field and stride product, in input pixels
    for index, layer in enumerate(model.layers):
        kind = layer_kind(layer)
        in_shape = tuple(int(d) for d in layer.input.shape[1:])
        out_shape = tuple(int(d) for d in layer.output.shape[1:])
        if kind == "conv":
            rf += (layer.kernel_size[0] - 1) * jump
            jump *= layer.strides[0]
        elif kind == "pool":
            rf += (layer.pool_size[0] - 1) * jump
            jump *= layer.strides[0]
        params = int(layer.count_params())
        title, text, formula = _explain(layer, kind, in_shape, out_shape, rf, params)
        infos.append(
            LayerInfo(
                index=index,
                name=layer.name,
                kind=kind,
                type_name=type(layer).__name__,
                input_shape=in_shape,
                output_shape=out_shape,
                params=params,
                params_formula=formula,
                receptive_field=rf if len(out_shape) == 3 else None,
                title=title,
                explanation=text,
                stride=jump,
            )
        )
    return infos
