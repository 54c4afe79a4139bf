"""The family of models the app explains, and how one is written, built, read back and fed.

A member of the family is a Keras ``Sequential`` CNN on 28x28x1 pictures built from ``Conv2D`` (ReLU,
3x3 or 5x5, stride 1 or 2), ``MaxPooling2D`` (2x2), ``Dropout``, one ``Flatten`` and ``Dense`` (ReLU) layers, ending in
``Dense(10, softmax)``. It is written as a SPEC, a comma-separated list such as the seed's
``conv32,pool,drop0.3,conv64,pool,drop0.3,flatten,dense128,drop0.5`` (the final ``Dense(10, softmax)``
is always added). The seed is the shipped model and the app's default; the others are there to be
compared with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE

SEED_SPEC = "conv32,pool,drop0.3,conv64,pool,drop0.3,flatten,dense128,drop0.5"
SEED_PARAMETERS = 225_034
PIXEL_MAX = 255.0
KERNEL_SIZES = (3, 5)
CONV_STRIDES = (1, 2)
# Shapes offered on the Train page beside the seed (a free SPEC is offered too).
PRESETS = {
    "the seed": SEED_SPEC,
    "half the filters": "conv16,pool,drop0.3,conv32,pool,drop0.3,flatten,dense64,drop0.5",
    "one conv block": "conv32,pool,drop0.3,flatten,dense128,drop0.5",
    "no dropout": "conv32,pool,conv64,pool,flatten,dense128",
    "5x5 filters": "conv32k5,pool,drop0.3,conv64k5,pool,drop0.3,flatten,dense128,drop0.5",
    "a second dense layer": "conv32,pool,drop0.3,conv64,pool,drop0.3,flatten,dense128,drop0.5,dense64",
}
SPEC_HELP = (
    "a comma-separated list of conv<filters> (3x3; conv<filters>k5 for 5x5; add s2 for stride 2, e.g. conv32s2), pool (2x2 max pooling), drop<rate>, "
    "flatten and dense<units>, e.g. conv16,pool,conv48,flatten,dense64; the final Dense(10, softmax) is always added"
)
_TOKEN = re.compile(r"^(?:conv(?P<filters>\d+)(?:k(?P<kernel>\d+))?(?:s(?P<stride>\d+))?|pool|drop(?P<rate>\d*\.?\d+)|flatten|dense(?P<units>\d+))$")


class SpecError(ValueError):
    """A SPEC or a Keras model that is not a member of the family; the message says what to change."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a SPEC: ``kind`` is conv, pool, dropout, flatten or dense (``size`` filters or units)."""

    kind: str
    size: int = 0
    kernel: int = 0
    rate: float = 0.0
    stride: int = 1  # conv: 1, or 2 to halve the map as pooling does

    @property
    def token(self) -> str:
        if self.kind == "conv":
            return f"conv{self.size}" + ("" if self.kernel == 3 else f"k{self.kernel}") + ("" if self.stride == 1 else f"s{self.stride}")
        if self.kind == "dropout":
            return f"drop{self.rate:g}"
        if self.kind == "dense":
            return f"dense{self.size}"
        return self.kind


def _parse_token(token: str, position: int) -> LayerSpec:
    match = _TOKEN.match(token)
    if match is None:
        raise SpecError(f"Item {position} of the architecture, {token!r}, is not a layer: use {SPEC_HELP}.")
    if token.startswith("conv"):
        filters, kernel, stride = int(match["filters"]), int(match["kernel"] or 3), int(match["stride"] or 1)
        if not 1 <= filters <= 512:
            raise SpecError(f"{token}: a convolution needs 1 to 512 filters.")
        if kernel not in KERNEL_SIZES:
            raise SpecError(f"{token}: filters are 3x3 (conv{filters}) or 5x5 (conv{filters}k5), not {kernel}x{kernel}.")
        if stride not in CONV_STRIDES:
            raise SpecError(f"{token}: a convolution moves 1 pixel at a time (conv{filters}) or 2 (conv{filters}s2), not {stride}.")
        return LayerSpec("conv", filters, kernel, stride=stride)
    if token.startswith("drop"):
        rate = float(match["rate"])
        if not 0 < rate < 1:
            raise SpecError(f"{token}: a dropout rate is between 0 and 1, e.g. drop0.3.")
        return LayerSpec("dropout", rate=rate)
    if token.startswith("dense"):
        units = int(match["units"])
        if not 1 <= units <= 4096:
            raise SpecError(f"{token}: a dense layer needs 1 to 4096 units.")
        return LayerSpec("dense", units)
    return LayerSpec(token)


def parse_spec(text: str) -> tuple[LayerSpec, ...]:
    """The layers of a SPEC, checked: at least one convolution first, pictures that never shrink below 1x1,
    one ``flatten`` between the last conv/pool and the first dense layer (added there when left out).

    Raises:
        SpecError: with a sentence that says which item is wrong and how to write it.
    """
    tokens = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not tokens:
        raise SpecError(f"The architecture is empty: write {SPEC_HELP}.")
    layers = [_parse_token(token, i) for i, token in enumerate(tokens, start=1)]
    if layers[0].kind != "conv":
        raise SpecError(f"The architecture starts with {tokens[0]!r}: the family starts with a convolution, e.g. conv32.")
    if "flatten" not in {layer.kind for layer in layers}:
        first_dense = next((i for i, layer in enumerate(layers) if layer.kind == "dense"), len(layers))
        layers.insert(first_dense, LayerSpec("flatten"))
    if sum(layer.kind == "flatten" for layer in layers) > 1:
        raise SpecError("The architecture has more than one flatten: it needs exactly one, before the dense layers.")
    size, flat = IMAGE_SIZE, False
    for layer in layers:
        if flat and layer.kind in ("conv", "pool"):
            raise SpecError(f"{layer.token} comes after flatten: convolutions and pooling work on maps, so they come before it.")
        if not flat and layer.kind == "dense":
            raise SpecError(f"{layer.token} comes before flatten: dense layers come after it.")
        if layer.kind == "conv":
            size = conv_output_size(size, layer)
        elif layer.kind == "pool":
            size //= 2
        elif layer.kind == "flatten":
            flat = True
        if size < 1:
            raise SpecError(f"After {layer.token} the 28x28 picture would have shrunk to nothing: use fewer or smaller conv and pool layers.")
    return tuple(layers)


def conv_output_size(size: int, layer: LayerSpec) -> int:
    """The side of a valid (unpadded) convolution's output map on a ``size`` x ``size`` input."""
    return (size - layer.kernel) // layer.stride + 1


def spec_text(layers: tuple[LayerSpec, ...]) -> str:
    """A SPEC written the one way (``parse_spec(spec_text(layers)) == layers``)."""
    return ",".join(layer.token for layer in layers)


def normalised_spec(text: str) -> str:
    """A SPEC as the card records it: checked, with ``flatten`` in place and each item written the one way."""
    return spec_text(parse_spec(text))


def layer_names(layers: tuple[LayerSpec, ...]) -> list[str]:
    """Each layer's name: conv1, pool1, dropout1, conv2, …, flatten, dense1, …, and the output ``predictions``."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        names.append("flatten" if layer.kind == "flatten" else f"{layer.kind}{counts[layer.kind]}")
    return names + ["predictions"]


def _weighted_layers(text: str):
    """(inputs per output value, output values, output channels or units) of each conv and dense layer of a
    SPEC, the final Dense(10) included: the shapes both counts below are made of."""
    channels, size, flat = 1, IMAGE_SIZE, 0
    for layer in parse_spec(text):
        if layer.kind == "conv":
            size = conv_output_size(size, layer)
            yield layer.kernel * layer.kernel * channels, size * size * layer.size, layer.size
            channels = layer.size
        elif layer.kind == "pool":
            size //= 2
        elif layer.kind == "flatten":
            flat = size * size * channels
        elif layer.kind == "dense":
            yield flat, layer.size, layer.size
            flat = layer.size
    yield flat, len(CLASS_NAMES), len(CLASS_NAMES)


def parameter_count(text: str) -> int:
    """The number of weights a SPEC's model has (the final Dense(10) included), without building it."""
    return sum(units * (fan_in + 1) for fan_in, _, units in _weighted_layers(text))


def multiply_adds(text: str) -> int:
    """Multiply-adds of one picture's forward pass (conv and dense layers): what a training step's cost per
    picture scales with, to first order, from one architecture to another."""
    return sum(fan_in * values for fan_in, values, _ in _weighted_layers(text))


def build_model(spec: str = SEED_SPEC, dtype_policy: str | None = None, seed: int | None = None, initializer: str = "glorot_uniform"):
    """A member of the family from its SPEC (the seed by default: 225,034 parameters), layers named for diagrams.

    Args:
        spec: the architecture (see :data:`SPEC_HELP`).
        dtype_policy: e.g. ``"mixed_bfloat16"`` for faster CPU training; the softmax output always stays
            float32 so probabilities are exact.
        seed: seeds every layer's initial weights and dropout masks, so a training run is reproducible
            without reseeding the whole process (the app trains in a thread beside other sessions).
        initializer: the kernels' initial weights when seeded: ``"glorot_uniform"`` (Keras' default) or
            ``"he_uniform"`` (scaled for ReLU layers).
    """
    import keras
    from keras import layers as kl

    initializers = {"glorot_uniform": keras.initializers.GlorotUniform, "he_uniform": keras.initializers.HeUniform}
    if initializer not in initializers:
        raise ValueError(f"initializer must be one of {sorted(initializers)}, not {initializer!r}")
    kw = {"dtype": dtype_policy} if dtype_policy else {}
    parsed = parse_spec(spec)
    names = layer_names(parsed)
    random_layers = 0  # each conv, dropout and dense layer gets its own seed: seed + 1, seed + 2, …

    def seeded(key: str) -> dict:
        nonlocal random_layers
        random_layers += 1
        if seed is None:
            return {}
        offset = seed + random_layers
        return {"kernel_initializer": initializers[initializer](seed=offset)} if key == "kernel" else {"seed": offset}

    stack: list = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="image")]
    for layer, name in zip(parsed, names):
        if layer.kind == "conv":
            kernel = (layer.kernel, layer.kernel)
            stack.append(kl.Conv2D(layer.size, kernel, strides=layer.stride, activation="relu", name=name, **seeded("kernel"), **kw))
        elif layer.kind == "pool":
            stack.append(kl.MaxPooling2D((2, 2), name=name, **kw))
        elif layer.kind == "dropout":
            stack.append(kl.Dropout(layer.rate, name=name, **seeded("dropout"), **kw))
        elif layer.kind == "flatten":
            stack.append(kl.Flatten(name=name, **kw))
        else:
            stack.append(kl.Dense(layer.size, activation="relu", name=name, **seeded("kernel"), **kw))
    stack.append(kl.Dense(len(CLASS_NAMES), activation="softmax", name=names[-1], dtype="float32", **seeded("kernel")))
    return keras.Sequential(stack, name="fashion_cnn")


def spec_of_model(model) -> str:
    """The SPEC of a Keras model, read from its layers; the one check that a model belongs to the family.

    Raises:
        SpecError: the model is not a Sequential chain of the family's layers on 28x28x1 ending in Dense(10, softmax).
    """
    import keras

    if tuple(model.input_shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise SpecError(f"the model takes input of shape {model.input_shape[1:]}, not 28x28x1 pictures")
    layers = list(model.layers)
    if not layers:
        raise SpecError("the model has no layers")
    *body, last = layers
    if not (isinstance(last, keras.layers.Dense) and last.units == len(CLASS_NAMES) and _activation(last) == "softmax"):
        raise SpecError(f"the model's last layer {last.name!r} is not Dense(10, softmax)")
    tokens = []
    for layer in body:
        if isinstance(layer, keras.layers.Conv2D) and type(layer) is keras.layers.Conv2D:
            k, s = layer.kernel_size, layer.strides
            square = k[0] == k[1] and s[0] == s[1]
            if not square or k[0] not in KERNEL_SIZES or s[0] not in CONV_STRIDES or layer.padding != "valid" or _activation(layer) != "relu":
                raise SpecError(f"{layer.name} is not a 3x3 or 5x5 ReLU convolution with stride 1 or 2 and no padding")
            tokens.append(LayerSpec("conv", layer.filters, k[0], stride=s[0]).token)
        elif isinstance(layer, keras.layers.MaxPooling2D):
            if tuple(layer.pool_size) != (2, 2) or tuple(layer.strides) != (2, 2) or layer.padding != "valid":
                raise SpecError(f"{layer.name} is not 2x2 max pooling")
            tokens.append("pool")
        elif isinstance(layer, keras.layers.Dropout):
            tokens.append(LayerSpec("dropout", rate=float(layer.rate)).token)
        elif isinstance(layer, keras.layers.Flatten):
            tokens.append("flatten")
        elif isinstance(layer, keras.layers.Dense) and _activation(layer) == "relu":
            tokens.append(f"dense{layer.units}")
        else:
            raise SpecError(f"{layer.name} ({type(layer).__name__}) is not one of the family's layers")
    text = ",".join(tokens)
    if spec_text(parse_spec(text)) != text:
        raise SpecError(f"the layers {text} are not in the family's order (convolutions, then flatten, then dense layers)")
    return text


def _activation(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "")


def model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (28, 28) or (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1]: the one input scaling rule."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected 28x28 images, got an array of shape {images.shape}")
    return (images.astype(np.float32) / PIXEL_MAX)[..., None]
