"""The arithmetic behind every number: how one value of one layer's output was computed.

Every number comes from the served Keras model itself: its weights
(``layer.get_weights()``) and its own intermediate outputs (the engine's one
forward pass, :class:`fashion_viz.engine.Engine`). The sums are redone here in float64 and checked
against the layer's output (``model_output``), so what a person reads is
exactly what the model did.

Example (a notebook)::

    from fashion_viz.engine import Engine
    from fashion_viz.explain.arithmetic import explain_value
    engine = Engine(model)
    calc = explain_value(model, image, engine.activations(image), "conv2", (4, 5, 17))
    calc.pre_activation, calc.output, calc.model_output

Positions are ``(row, column, channel)`` for spatial layers and ``(unit,)`` for vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fashion_viz.architecture import model_input
from fashion_viz.layer_guide import describe_layers


class PositionError(ValueError):
    """A layer or position that does not exist; the message says what does."""


@dataclass
class Calculation:
    """One value of one layer and how it came about. Fields that do not apply to a layer's kind are None."""

    layer: str
    kind: str  # conv | pool | dropout | flatten | dense | softmax
    at: tuple[int, ...]
    output: float  # the value computed here (after the activation; a probability for softmax)
    model_output: float  # the value the Keras model gives at that position
    inputs: np.ndarray | None = None  # flattened, in the order they are multiplied
    weights: np.ndarray | None = None  # the same length as inputs
    bias: float | None = None
    pre_activation: float | None = None
    activation: str | None = None  # relu | softmax | None
    window: np.ndarray | None = None  # pooling: the 2x2 window
    window_origin: tuple[int, int] | None = None  # pooling and conv: top-left of the window in the layer's input
    window_argmax: tuple[int, int] | None = None  # pooling: where the maximum sits in the window
    per_channel: np.ndarray | None = None  # conv: each input channel's partial sum (window slice x kernel slice)
    input_shape: tuple[int, ...] = ()
    kernel_shape: tuple[int, ...] = ()  # conv: (kh, kw, in_channels)
    receptive_field: tuple[int, int, int, int] | None = None  # (top, left, bottom, right) input pixels, end exclusive
    source: tuple[int, ...] | None = None  # flatten: the (row, column, channel) a unit comes from
    logits: np.ndarray | None = None  # softmax layer: all 10 logits
    exps: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def products(self) -> np.ndarray | None:
        return None if self.inputs is None else self.inputs * self.weights

    def to_json(self) -> dict:
        """Plain JSON types; absent parts left out."""
        out: dict = {}
        for name, value in vars(self).items():
            if value is None or (isinstance(value, (list, tuple)) and not value and name != "at"):
                continue
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, (np.floating, np.integer)):
                value = value.item()
            out[name] = value
        return out


def _layer_index(model, name: str) -> int:
    names = [layer.name for layer in model.layers]
    if name not in names:
        raise PositionError(f"There is no layer named {name!r}; the layers are {', '.join(names)}.")
    return names.index(name)


def layer_input(image: np.ndarray, activations, index: int) -> np.ndarray:
    """What layer ``index`` received: the scaled picture for the first layer, else the previous layer's output."""
    return model_input(image)[0] if index == 0 else activations.layers[index - 1].values


def _check_position(values: np.ndarray, at: tuple[int, ...], name: str) -> tuple[int, ...]:
    at = tuple(int(a) for a in at)
    shape = values.shape
    if len(at) != len(shape):
        kind = "row,column,channel" if len(shape) == 3 else "a unit number"
        raise PositionError(f"{name} has output shape {'x'.join(map(str, shape))}: give {kind}, not {','.join(map(str, at))}.")
    for a, n, what in zip(at, shape, ("row", "column", "channel") if len(shape) == 3 else ("unit",)):
        if not 0 <= a < n:
            raise PositionError(f"{what} {a} is out of range for {name} ({what}s 0-{n - 1}).")
    return at


def field_of(model, index: int, row: int, col: int) -> tuple[int, int, int, int]:
    """The input pixels (top, left, bottom, right; end exclusive) behind position (row, col) of layer ``index``."""
    return describe_layers(model)[index].field(row, col)


def _conv(model, index, x, values, at) -> Calculation:
    layer = model.layers[index]
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    kh, kw, cin, _ = kernel.shape
    r, c, k = at
    top, left = r * layer.strides[0], c * layer.strides[1]
    window = np.asarray(x[top : top + kh, left : left + kw, :], np.float64)
    inputs, weights = window.reshape(-1), kernel[:, :, :, k].reshape(-1)
    pre = float(inputs @ weights + bias[k])
    return Calculation(
        layer.name, "conv", at, max(pre, 0.0), float(values[at]),
        inputs=inputs, weights=weights, bias=float(bias[k]), pre_activation=pre, activation="relu",
        window_origin=(top, left), per_channel=(window * kernel[:, :, :, k]).sum(axis=(0, 1)),
        input_shape=tuple(x.shape), kernel_shape=(kh, kw, cin),
        receptive_field=field_of(model, index, r, c),
    )


def _pool(model, index, x, values, at) -> Calculation:
    layer = model.layers[index]
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    r, c, k = at
    window = np.asarray(x[r * sh : r * sh + ph, c * sw : c * sw + pw, k], np.float64)
    arg = np.unravel_index(int(np.argmax(window)), window.shape)
    calc = Calculation(
        layer.name, "pool", at, float(window.max()), float(values[at]),
        window=window, window_origin=(r * sh, c * sw), window_argmax=(int(arg[0]), int(arg[1])),
        input_shape=tuple(x.shape), receptive_field=field_of(model, index, r, c),
    )
    h, w = x.shape[:2]
    used_h, used_w = values.shape[0] * sh, values.shape[1] * sw
    if used_h < h or used_w < w:
        calc.notes.append(
            f"{h}x{w} does not split into whole 2x2 windows: the last {h - used_h} row(s) and {w - used_w} column(s) "
            f"of the input are dropped, so the output is {values.shape[0]}x{values.shape[1]}."
        )
    return calc


def _dense(model, index, x, values, at, kind: str) -> Calculation:
    layer = model.layers[index]
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    (unit,) = at
    inputs = np.asarray(x, np.float64).reshape(-1)
    weights = kernel[:, unit]
    pre = float(inputs @ weights + bias[unit])
    calc = Calculation(
        layer.name, kind, at, 0.0, float(values[at]),
        inputs=inputs, weights=weights, bias=float(bias[unit]), pre_activation=pre, input_shape=tuple(np.shape(x)),
    )
    if kind == "softmax":
        calc.logits = inputs @ kernel + bias
        calc.exps = np.exp(calc.logits)
        calc.probabilities = calc.exps / calc.exps.sum()
        calc.output, calc.activation = float(calc.probabilities[unit]), "softmax"
    else:
        calc.output, calc.activation = max(pre, 0.0), "relu"
    return calc


def explain_value(model, image: np.ndarray, activations, layer_name: str, at: tuple[int, ...]) -> Calculation:
    """How the value at ``at`` of layer ``layer_name`` was computed, for this picture.

    Args:
        model: the served Keras model (the seed architecture, or any chain of Conv2D,
            MaxPooling2D, Dropout, Flatten and Dense layers).
        image: the (28, 28) uint8 picture.
        activations: the engine's activations for ``image`` (no extra model call is made).
        layer_name: e.g. ``"conv2"``.
        at: (row, column, channel) for spatial layers, (unit,) for vectors.

    Raises:
        PositionError: unknown layer, wrong number of coordinates, or out of range.
    """
    index = _layer_index(model, layer_name)
    values = activations.layers[index].values
    at = _check_position(values, at, layer_name)
    x = layer_input(image, activations, index)
    kind = activations.layers[index].kind
    if kind == "conv":
        return _conv(model, index, x, values, at)
    if kind == "pool":
        return _pool(model, index, x, values, at)
    if kind in ("dense", "softmax"):
        return _dense(model, index, x, values, at, kind)
    if kind == "flatten":
        source = tuple(int(i) for i in np.unravel_index(at[0], x.shape))
        calc = Calculation(layer_name, kind, at, float(x[source]), float(values[at]), source=source, input_shape=tuple(x.shape))
        calc.notes.append(f"Unit {at[0]} = {x.shape[1] * x.shape[2]} x row + {x.shape[2]} x column + channel: the maps are read row by row, all channels of a pixel together.")
        return calc
    # dropout (and any other pass-through layer at inference)
    calc = Calculation(layer_name, kind, at, float(x[at]), float(values[at]), input_shape=tuple(x.shape))
    if len(at) == 3:
        calc.receptive_field = field_of(model, index, at[0], at[1])
    return calc


def flatten_index(shape: tuple[int, int, int], row: int, col: int, channel: int) -> int:
    """Where (row, column, channel) of a (h, w, c) map lands in the flattened vector (Keras: channels last, row-major)."""
    return int(np.ravel_multi_index((row, col, channel), shape))


# ------------------------------------------------------------------ dropout in training mode


def dropout_rate(model, layer_name: str) -> float:
    return float(model.layers[_layer_index(model, layer_name)].rate)


def dropout_masks(shape: tuple[int, ...], rate: float, seed: int, samples: int = 1) -> np.ndarray:
    """(samples, *shape) keep-masks as training draws them: each unit kept with probability 1 - rate."""
    return np.random.default_rng(seed).random((samples, *shape)) >= rate


def monte_carlo_dropout(engine, image: np.ndarray, samples: int = 50, seed: int = 0) -> np.ndarray:
    """(samples, 10) probabilities with every dropout layer in training mode, each sample its own masks
    (Monte-Carlo dropout: the spread shows how unsure the model is about this picture). One batched
    call of the engine; (samples, 10) of the inference probabilities for a model without dropout."""
    if not engine.dropouts:
        return np.repeat(engine.activations(image).probabilities[None], samples, axis=0)
    masks = {}
    for offset, name in enumerate(engine.dropouts):
        masks[name] = dropout_masks(engine.info(name).output_shape, dropout_rate(engine.model, name), seed + offset, samples)
    return engine.with_dropout(image, masks)


@dataclass
class MaskedDropout:
    """One training-mode mask of one dropout layer and what it does to the prediction."""

    layer: str
    rate: float
    scale: float  # 1 / (1 - rate)
    mask: np.ndarray  # keep-mask of the layer's shape
    before: np.ndarray  # the layer's inference output (= its input)
    after: np.ndarray  # masked and scaled
    probabilities: np.ndarray  # the model's prediction under this mask


def masked_dropout(engine, image: np.ndarray, activations, layer_name: str, seed: int) -> MaskedDropout:
    """Draw a seeded training-mode mask for one dropout layer and the prediction it gives (the engine's pass)."""
    model = engine.model
    index = _layer_index(model, layer_name)
    if activations.layers[index].kind != "dropout":
        raise PositionError(f"{layer_name} is not a dropout layer.")
    rate = dropout_rate(model, layer_name)
    before = activations.layers[index].values
    mask = dropout_masks(before.shape, rate, seed)
    probabilities = engine.with_dropout(image, {layer_name: mask})[0]
    scale = 1.0 / (1.0 - rate)
    return MaskedDropout(layer_name, rate, scale, mask[0], before, before * mask[0] * scale, probabilities)


def softmax_with_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) over the last axis (one picture's logits or a batch): T > 1 flattens, T < 1 sharpens,
    the ranking never changes."""
    z = np.asarray(logits, np.float64) / float(temperature)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_contributions(calc: Calculation, count: int = 10) -> list[tuple[int, float]]:
    """(input index, weight x input) of the largest contributions by size, largest first."""
    products = calc.products
    order = np.argsort(-np.abs(products))[:count]
    return [(int(i), float(products[i])) for i in order]


def _num(value: float) -> str:
    return f"{value:.4f}"


def describe(calc: Calculation) -> str:
    """The computation in one or two lines of Markdown, with the numbers (for the panel and the CLI)."""
    where = ", ".join(str(a) for a in calc.at)
    check = f"The Keras model gives {_num(calc.model_output)} at {calc.layer}[{where}]."
    if calc.kind == "conv":
        kh, kw, cin = calc.kernel_shape
        total = float(calc.products.sum())
        if cin == 1:
            summed = f"the sum of the {kh * kw} products is {_num(total)}"
        else:
            summed = f"the {cin} partial sums (each {kh}x{kw} window x {kh}x{kw} kernel slice) add up to {_num(total)}"
        return (
            f"{summed}; + bias {_num(calc.bias)} = **{_num(calc.pre_activation)}** (pre-activation); "
            f"ReLU: max(0, {_num(calc.pre_activation)}) = **{_num(calc.output)}**. {check}"
        )
    if calc.kind == "pool":
        r, c = calc.window_argmax
        values = ", ".join(_num(v) for v in calc.window.ravel())
        return f"max({values}) = **{_num(calc.output)}**, at row {r}, column {c} of the 2x2 window. {check}"
    if calc.kind == "dropout":
        return f"At inference dropout passes its input through unchanged: **{_num(calc.output)}** in = out. {check}"
    if calc.kind == "flatten":
        r, c, ch = calc.source
        return f"Unit {calc.at[0]} is row {r}, column {c}, channel {ch} of the input: **{_num(calc.output)}**. {check}"
    total = float(calc.products.sum())
    head = f"{len(calc.inputs)} inputs x weights add up to {_num(total)}; + bias {_num(calc.bias)} = **{_num(calc.pre_activation)}**"
    if calc.kind == "dense":
        return f"{head} (pre-activation); ReLU: max(0, {_num(calc.pre_activation)}) = **{_num(calc.output)}**. {check}"
    k = calc.at[0]
    return (
        f"{head} (the logit). Softmax: exp({_num(calc.pre_activation)}) = {calc.exps[k]:.6g}, divided by the sum of all ten "
        f"exps ({calc.exps.sum():.6g}) = **{calc.output:.6f}**. {check}"
    )
