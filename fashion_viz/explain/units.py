"""What each unit has learned: dataset exemplars, activation maximisation, votes and statistics.

A *unit* is one conv1 or conv2 channel, one dense1 neuron or one output class
(32 + 64 + 128 + 10 = 234 for the seed architecture). Everything here runs
over the served model's own weights in eval mode (dropout off) through one
pure-TensorFlow forward pass (:class:`UnitForward`) that also exposes the
pre-activations the ReLU and softmax hide.

The results for all 234 units form a :class:`UnitAtlas`, computed once per
model (a few seconds of statistics over the 10,000 test images and one batched,
compiled optimisation loop) and stored beside the model as
``<stem>.units.npz``, so a visitor never waits for it.

Activation maximisation follows what works at 28 px (Olah et al., "Feature
Visualization", Distill 2017, scaled down): optimise the pre-activation (the
logit for classes, not the softmax), keep the input in [0, 1], jitter it by
1-2 px, and penalise total variation and the L2 norm; 300 Adam steps from a
fixed seed, so reruns give the same picture. For conv units the objective is
the centre position of the map, not the channel mean.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE
from fashion_viz.architecture import model_input
from fashion_viz.storage import read_model_companion, write_model_companion

UNIT_LAYERS = ("conv1", "conv2", "dense1", "predictions")
LAYER_TITLES = {"conv1": "conv1 channel", "conv2": "conv2 channel", "dense1": "dense1 unit", "predictions": "class"}
EXEMPLARS = 9
STEPS = 300
LEARNING_RATE = 0.02
JITTER_PX = 1
# Per-layer settings, relative to the unit's typical strongest response (its 99th percentile on the test
# set). Conv units' objectives see only a 3x3 (conv1) or 8x8 (conv2) patch: plain pixels, light penalties.
# Dense1 units and classes see the whole picture and otherwise fill it with high-frequency edges: their
# picture is a Gaussian-blurred parameter that starts from the mean test image (a generic garment-shaped
# prior, the same for every unit; Nguyen et al. 2016), and classes weigh their logit 3x. Chosen by eye
# and by the checks in the tests (each class's picture is classified as that class with p >= 0.9; each
# conv2 picture beats the channel's 99th percentile), on the shipped model.
TV_WEIGHT = {"conv1": 0.1, "conv2": 0.1, "dense1": 0.1, "predictions": 0.1}  # total variation
L2_WEIGHT = {"conv1": 0.01, "conv2": 0.01, "dense1": 0.01, "predictions": 0.01}
BLUR_SIGMA = {"conv1": 0.0, "conv2": 0.0, "dense1": 1.0, "predictions": 1.0}  # px
OBJECTIVE_WEIGHT = {"conv1": 1.0, "conv2": 1.0, "dense1": 1.0, "predictions": 3.0}
PRIOR_LAYERS = ("dense1", "predictions")
SEED = 0
ATLAS_VERSION = 1
START = (0.0, 0.05)  # uniform noise from the fixed seed, added to the prior where there is one
CHUNK_STEPS = 50  # optimisation steps per compiled call (progress is reported between calls)

Progress = Callable[[str, float], None]


def _no_progress(stage: str, share: float) -> None:
    pass


class UnitError(ValueError):
    """A layer or unit number that the model does not have; the message lists the valid ones."""


def unit_sizes(model) -> dict[str, int]:
    """How many units each of ``UNIT_LAYERS`` has in this model (its output's last dimension)."""
    names = [layer.name for layer in model.layers]
    missing = [n for n in UNIT_LAYERS if n not in names]
    if missing:
        raise UnitError(f"the model has no layer {', '.join(missing)}; units need the seed architecture")
    return {name: int(model.get_layer(name).output.shape[-1]) for name in UNIT_LAYERS}


class UnitForward:
    """The model's forward pass written out over its weights, returning every unit's pre-activation.

    ``conv1`` (n, 26, 26, 32) and ``conv2`` (n, 11, 11, 64) before their ReLU, ``flat``
    (n, 1600) the flattened pool2 output, ``dense1`` (n, 128) before its ReLU and
    ``logits`` (n, 10) before the softmax. Checked against the Keras model in the tests.
    """

    def __init__(self, model):
        import tensorflow as tf

        self.sizes = unit_sizes(model)
        self.weights = {name: [tf.constant(np.asarray(w, np.float32)) for w in model.get_layer(name).get_weights()] for name in UNIT_LAYERS}
        self.pool_size = tuple(model.get_layer("pool1").pool_size)

    def __call__(self, x):
        import tensorflow as tf

        (k1, b1), (k2, b2), (w3, b3), (w4, b4) = (self.weights[n] for n in UNIT_LAYERS)
        conv1 = tf.nn.conv2d(x, k1, 1, "VALID") + b1
        pool1 = tf.nn.max_pool2d(tf.nn.relu(conv1), self.pool_size, self.pool_size, "VALID")
        conv2 = tf.nn.conv2d(pool1, k2, 1, "VALID") + b2
        pool2 = tf.nn.max_pool2d(tf.nn.relu(conv2), self.pool_size, self.pool_size, "VALID")
        flat = tf.reshape(pool2, (tf.shape(x)[0], -1))
        dense1 = tf.matmul(flat, w3) + b3
        logits = tf.matmul(tf.nn.relu(dense1), w4) + b4
        return {"conv1": conv1, "conv2": conv2, "flat": flat, "dense1": dense1, "logits": logits}


def layer_offsets(sizes: dict[str, int]) -> dict[str, int]:
    """Row of each layer's first unit in the atlas arrays (layers in ``UNIT_LAYERS`` order)."""
    offsets, start = {}, 0
    for name in UNIT_LAYERS:
        offsets[name] = start
        start += sizes[name]
    return offsets


def unit_row(sizes: dict[str, int], layer: str, unit: int) -> int:
    """The atlas row of ``layer``'s unit ``unit``; UnitError names the valid range otherwise."""
    if layer not in sizes:
        raise UnitError(f"{layer!r} has no units to show; choose one of {', '.join(UNIT_LAYERS)}.")
    if not 0 <= int(unit) < sizes[layer]:
        raise UnitError(f"{layer} has units 0-{sizes[layer] - 1}; {unit} is out of range.")
    return layer_offsets(sizes)[layer] + int(unit)


def unit_name(layer: str, unit: int) -> str:
    """How the app names a unit: 'conv2 channel 17', 'dense1 unit 5', 'class 3 (Dress)'."""
    if layer == "predictions":
        return f"class {unit} ({CLASS_NAMES[unit]})"
    return f"{LAYER_TITLES[layer]} {unit}"


@dataclass(frozen=True)
class UnitAtlas:
    """Everything the Units page shows, for every unit of one model (row order: ``UNIT_LAYERS``).

    Scores are per test image: for conv channels the highest value anywhere in the map
    (after ReLU), for dense1 units the activation, for classes the logit.
    """

    model_sha256: str
    sizes: dict
    act_max: np.ndarray  # (units, 28, 28) uint8: the activation-maximisation pictures, 0 = background
    act_max_reached: np.ndarray  # (units,) the objective reached by the uint8 picture (pre-activation, centre for conv)
    top: np.ndarray  # (units, 9) test indices, strongest first
    top_position: np.ndarray  # (units, 9, 2) row, column of the map's maximum (-1 for vectors)
    favourite: np.ndarray  # (units,) the class with the highest mean score
    bottom: np.ndarray  # (units, 9) weakest test images of the favourite class, weakest first
    bottom_position: np.ndarray  # (units, 9, 2)
    score_p99: np.ndarray  # (units,) 99th percentile of the score over the test set
    active_share: np.ndarray  # (units,) conv: share of map positions > 0; dense1: share of images > 0; class: share predicted
    class_means: np.ndarray  # (units, 10) mean score per true class
    votes: np.ndarray  # (units, 10) mean change of each class logit when the unit is switched off (NaN where not defined)
    feeders: np.ndarray  # (10, 128) mean contribution of each dense1 unit to each class's logit, over that class's images
    steps: int = STEPS
    seconds: float = 0.0

    def row(self, layer: str, unit: int) -> int:
        return unit_row(self.sizes, layer, unit)


def unit_atlas_path(model_path: Path) -> Path:
    """Where a model's unit atlas is stored: beside it, ``<stem>.units.npz``."""
    return Path(model_path).with_suffix(".units.npz")


def save_atlas(atlas: UnitAtlas, path: Path) -> None:
    """Write the atlas atomically (a reader sees the old file or the new one, never half)."""
    arrays = {f.name: getattr(atlas, f.name) for f in fields(atlas) if isinstance(getattr(atlas, f.name), np.ndarray)}
    sizes = np.array([atlas.sizes[n] for n in UNIT_LAYERS], np.int32)
    write_model_companion(path, ATLAS_VERSION, atlas.model_sha256, sizes=sizes, steps=np.int32(atlas.steps), seconds=np.float32(atlas.seconds), **arrays)


def load_atlas(path: Path, model_sha256: str | None = None) -> UnitAtlas | None:
    """The stored atlas, or None when it is missing, unreadable, of another version or of another model file."""
    values = read_model_companion(path, ATLAS_VERSION, model_sha256)
    if values is None:
        return None
    scalars = ("model_sha256", "sizes", "steps", "seconds")
    arrays = {f.name: values[f.name] for f in fields(UnitAtlas) if f.name in values and f.name not in scalars}
    return UnitAtlas(
        model_sha256=values["model_sha256"],
        sizes=dict(zip(UNIT_LAYERS, (int(s) for s in values["sizes"]))),
        steps=int(values["steps"]),
        seconds=float(values["seconds"]),
        **arrays,
    )


# ---------------------------------------------------------------- statistics over the test set


@dataclass(frozen=True)
class UnitScores:
    """Per test image and unit: the score, and for conv units where the map peaks."""

    scores: np.ndarray  # (n, units) float32
    positions: np.ndarray  # (n, units, 2) int16, -1 for vector units
    conv_active: dict  # conv layer -> (n, channels) share of positions > 0
    flat: np.ndarray  # (n, 1600) pool2 output, for the votes
    dense1: np.ndarray  # (n, 128) pre-activation
    logits: np.ndarray  # (n, 10)


def unit_scores(forward: UnitForward, images: np.ndarray, batch_size: int = 500) -> UnitScores:
    """Every unit's score on every image (one batched pass; conv maps are reduced batch by batch)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)])
    def reduced(x):
        out = forward(x)
        result = {}
        for name in ("conv1", "conv2"):
            maps = tf.nn.relu(out[name])
            n, h, w, c = tf.shape(maps)[0], tf.shape(maps)[1], tf.shape(maps)[2], tf.shape(maps)[3]
            flat_maps = tf.reshape(maps, (n, h * w, c))
            result[name + "_max"] = tf.reduce_max(flat_maps, axis=1)
            result[name + "_arg"] = tf.argmax(flat_maps, axis=1, output_type=tf.int32)
            result[name + "_active"] = tf.reduce_mean(tf.cast(flat_maps > 0, tf.float32), axis=1)
            result[name + "_width"] = w
        for name in ("flat", "dense1", "logits"):
            result[name] = out[name]
        return result

    parts: dict[str, list] = {}
    for start in range(0, len(images), batch_size):
        out = reduced(model_input(images[start : start + batch_size]))
        for key, value in out.items():
            parts.setdefault(key, []).append(np.asarray(value))
    joined = {key: (np.concatenate(v) if np.ndim(v[0]) else int(v[0])) for key, v in parts.items()}
    dense1 = joined["dense1"]
    scores = np.concatenate([joined["conv1_max"], joined["conv2_max"], np.maximum(dense1, 0), joined["logits"]], axis=1)
    n = len(images)
    positions = np.full((n, scores.shape[1], 2), -1, np.int16)
    column = 0
    for name in ("conv1", "conv2"):
        arg, width = joined[name + "_arg"], joined[name + "_width"]
        positions[:, column : column + arg.shape[1], 0] = arg // width
        positions[:, column : column + arg.shape[1], 1] = arg % width
        column += arg.shape[1]
    return UnitScores(
        scores=scores.astype(np.float32),
        positions=positions,
        conv_active={name: joined[name + "_active"] for name in ("conv1", "conv2")},
        flat=joined["flat"],
        dense1=dense1,
        logits=joined["logits"],
    )


def ablation_votes(forward: UnitForward, scores: UnitScores) -> np.ndarray:
    """(units, 10): the mean change of each class logit over the images when a unit is switched off
    (eval mode), as ``logit(with) - logit(without)``: positive means the unit pushes that class up.

    Defined for conv2 channels (their 25 pool2 positions set to 0) and dense1 units; exact and
    cheap because both sit before the dense layers, whose arithmetic is redone in NumPy.
    NaN rows for conv1 channels and classes.
    """
    sizes = forward.sizes
    w3, _ = (np.asarray(w) for w in forward.weights["dense1"])
    w4, b4 = (np.asarray(w) for w in forward.weights["predictions"])
    offsets = layer_offsets(sizes)
    votes = np.full((sum(sizes.values()), len(CLASS_NAMES)), np.nan, np.float32)
    channels = sizes["conv2"]
    for c in range(channels):
        idx = np.arange(c, scores.flat.shape[1], channels)  # Flatten is row-major over (row, column, channel)
        dense_without = scores.dense1 - scores.flat[:, idx] @ w3[idx]
        logits_without = np.maximum(dense_without, 0) @ w4 + b4
        votes[offsets["conv2"] + c] = (scores.logits - logits_without).mean(axis=0)
    hidden = np.maximum(scores.dense1, 0)
    votes[offsets["dense1"] : offsets["dense1"] + sizes["dense1"]] = hidden.mean(axis=0)[:, None] * w4
    return votes


def class_feeders(forward: UnitForward, scores: UnitScores, labels: np.ndarray) -> np.ndarray:
    """(10, 128): mean of activation x weight from each dense1 unit into each class's logit, over that class's test images."""
    w4 = np.asarray(forward.weights["predictions"][0])
    hidden = np.maximum(scores.dense1, 0)
    means = np.stack([hidden[labels == k].mean(axis=0) for k in range(len(CLASS_NAMES))])
    return (means * w4.T).astype(np.float32)


# ---------------------------------------------------------------- activation maximisation


def _objective_index(sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """For each layer, the batch rows that optimise its units and the unit each row optimises."""
    offsets = layer_offsets(sizes)
    return {name: np.arange(offsets[name], offsets[name] + sizes[name]) for name in UNIT_LAYERS}


def _objectives(out: dict, sizes: dict[str, int]):
    """Each batch row's objective: its own unit's pre-activation (the centre of the map for conv units)."""
    import tensorflow as tf

    rows = _objective_index(sizes)
    parts = []
    for name, key in (("conv1", "conv1"), ("conv2", "conv2"), ("dense1", "dense1"), ("predictions", "logits")):
        r = tf.constant(rows[name], tf.int32)
        units = tf.range(sizes[name], dtype=tf.int32)
        values = tf.gather(out[key], r)
        if name in ("conv1", "conv2"):
            h, w = values.shape[1], values.shape[2]
            values = values[:, h // 2, w // 2, :]
        parts.append(tf.gather(values, units, axis=1, batch_dims=1))
    return tf.concat(parts, axis=0)


def centre_position(layer_shape: tuple[int, ...]) -> tuple[int, int]:
    """The map position a conv unit's visualisation optimises: the centre (h // 2, w // 2)."""
    return layer_shape[0] // 2, layer_shape[1] // 2


def activation_maximisation(
    forward: UnitForward,
    scale: np.ndarray,
    steps: int = STEPS,
    seed: int = SEED,
    rows: np.ndarray | None = None,
    progress: Progress = _no_progress,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """(units, 28, 28) float pictures in [0, 1], each built by the model's gradients to excite one unit.

    All units are one batch in one compiled loop (run ``CHUNK_STEPS`` steps per call so
    progress can be reported). Each row's loss is ``-objective / scale + TV + L2``; ``scale``
    (the unit's 99th-percentile score on the test set) puts every unit's objective on a
    comparable footing so one pair of penalty weights suits all of them.

    Args:
        rows: optimise only these atlas rows (the others are returned as zeros); all by default.
    """
    import tensorflow as tf

    total = sum(forward.sizes.values())
    chosen = np.arange(total) if rows is None else np.asarray(rows)
    per_row = lambda weights: tf.constant(np.repeat([float(weights[n]) for n in UNIT_LAYERS], [forward.sizes[n] for n in UNIT_LAYERS])[chosen], tf.float32)  # noqa: E731
    weight_all = np.repeat([OBJECTIVE_WEIGHT[n] for n in UNIT_LAYERS], [forward.sizes[n] for n in UNIT_LAYERS])
    scale_t = tf.constant(np.maximum(np.asarray(scale, np.float32), 1e-3) / weight_all.astype(np.float32))
    tv_weight, l2_weight = per_row(TV_WEIGHT), per_row(L2_WEIGHT)
    sigmas = {n for n in BLUR_SIGMA.values() if n > 0}
    if len(sigmas) > 1:
        raise ValueError("one blur width for every blurred layer")
    gaussian = tf.constant(_gaussian_kernel(sigmas.pop() if sigmas else 1.0))
    blurred_rows = per_row({n: BLUR_SIGMA[n] > 0 for n in UNIT_LAYERS})[:, None, None, None]

    def picture(p):
        return blurred_rows * tf.nn.conv2d(p, gaussian, 1, "SAME") + (1 - blurred_rows) * p
    chosen_t = tf.constant(chosen, tf.int32)
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    @tf.function
    def run(p, m, v, first_step, count):
        for i in tf.range(count):
            step = first_step + i
            shift = tf.random.stateless_uniform((2,), seed=tf.stack([seed, step]), minval=-JITTER_PX, maxval=JITTER_PX + 1, dtype=tf.int32)
            with tf.GradientTape() as tape:
                tape.watch(p)
                x = picture(p)
                full = tf.scatter_nd(chosen_t[:, None], x, (total, IMAGE_SIZE, IMAGE_SIZE, 1))
                out = forward(tf.roll(full, shift, axis=(1, 2)))
                objective = tf.gather(_objectives(out, forward.sizes) / scale_t, chosen_t)
                tv = tf.reduce_sum(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3)) + tf.reduce_sum(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
                l2 = tf.reduce_sum(tf.square(x), axis=(1, 2, 3))
                loss = tf.reduce_sum(-objective + (tv_weight * tv + l2_weight * l2) / IMAGE_SIZE)
            grad = tape.gradient(loss, p)
            t = tf.cast(step + 1, tf.float32)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * tf.square(grad)
            update = LEARNING_RATE * (m / (1 - beta1**t)) / (tf.sqrt(v / (1 - beta2**t)) + eps)
            p = tf.clip_by_value(p - update, 0.0, 1.0)
        return p, m, v

    start = tf.random.stateless_uniform((len(chosen), IMAGE_SIZE, IMAGE_SIZE, 1), seed=(seed, 2**20), minval=START[0], maxval=START[1])
    if prior is not None:
        uses_prior = per_row({n: n in PRIOR_LAYERS for n in UNIT_LAYERS})
        start = start + uses_prior[:, None, None, None] * tf.constant(np.asarray(prior, np.float32)[None, :, :, None])
    x, m, v = start, tf.zeros_like(start), tf.zeros_like(start)
    done = 0
    while done < steps:
        count = min(CHUNK_STEPS, steps - done)
        x, m, v = run(x, m, v, tf.constant(done), tf.constant(count))
        done += count
        progress("visualisations", done / steps)
    pictures = np.zeros((total, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    pictures[chosen] = np.asarray(picture(x))[..., 0]
    return pictures


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """(5, 5, 1, 1) normalised Gaussian kernel for ``tf.nn.conv2d``."""
    g = np.exp(-0.5 * (np.arange(-2, 3, dtype=np.float32) / sigma) ** 2)
    kernel = np.outer(g, g)
    return (kernel / kernel.sum())[:, :, None, None].astype(np.float32)


def to_uint8(pictures: np.ndarray) -> np.ndarray:
    """[0, 1] pictures -> uint8, 0 = background as in the dataset."""
    return np.clip(np.rint(np.asarray(pictures) * 255), 0, 255).astype(np.uint8)


def objectives_reached(forward: UnitForward, pictures_uint8: np.ndarray) -> np.ndarray:
    """(units,) each picture's own objective (pre-activation; conv units at the centre), read back from the uint8 picture."""
    out = forward(model_input(pictures_uint8))
    return np.asarray(_objectives(out, forward.sizes))


# ---------------------------------------------------------------- the atlas


def _exemplars(scores: np.ndarray, positions: np.ndarray, labels: np.ndarray, class_means: np.ndarray):
    units = scores.shape[1]
    top = np.argsort(-scores, axis=0, kind="stable")[:EXEMPLARS].T.astype(np.int32)
    favourite = class_means.argmax(axis=1).astype(np.int8)
    bottom = np.zeros((units, EXEMPLARS), np.int32)
    for u in range(units):
        members = np.flatnonzero(labels == favourite[u])
        bottom[u] = members[np.argsort(scores[members, u], kind="stable")[:EXEMPLARS]]
    take = lambda idx: np.stack([positions[idx[u], u] for u in range(units)])  # noqa: E731
    return top, take(top), favourite, bottom, take(bottom)


def build_atlas(model, images: np.ndarray, labels: np.ndarray, model_sha256: str = "", steps: int = STEPS, progress: Progress = _no_progress) -> UnitAtlas:
    """Compute every unit's exemplars, statistics, votes and visualisation (the test set is the usual ``images``)."""
    import time

    started = time.perf_counter()
    forward = UnitForward(model)
    progress("statistics", 0.0)
    scores = unit_scores(forward, images)
    labels = np.asarray(labels)
    class_means = np.stack([scores.scores[labels == k].mean(axis=0) for k in range(len(CLASS_NAMES))], axis=1)
    top, top_pos, favourite, bottom, bottom_pos = _exemplars(scores.scores, scores.positions, labels, class_means)
    offsets = layer_offsets(forward.sizes)
    active = np.concatenate(
        [
            scores.conv_active["conv1"].mean(axis=0),
            scores.conv_active["conv2"].mean(axis=0),
            (scores.dense1 > 0).mean(axis=0),
            np.bincount(scores.logits.argmax(axis=1), minlength=len(CLASS_NAMES)) / len(images),
        ]
    ).astype(np.float32)
    p99 = np.percentile(scores.scores, 99, axis=0).astype(np.float32)
    # Logits can be negative; scale the class objectives by their typical spread instead.
    classes = slice(offsets["predictions"], offsets["predictions"] + forward.sizes["predictions"])
    scale = p99.copy()
    scale[classes] = np.percentile(np.abs(scores.logits), 99, axis=0)
    votes = ablation_votes(forward, scores)
    feeders = class_feeders(forward, scores, labels)
    progress("statistics", 1.0)
    prior = np.asarray(images, np.float32).mean(axis=0) / 255.0
    pictures = to_uint8(activation_maximisation(forward, scale, steps=steps, progress=progress, prior=prior))
    reached = objectives_reached(forward, pictures)
    return UnitAtlas(
        model_sha256=model_sha256,
        sizes=dict(forward.sizes),
        act_max=pictures,
        act_max_reached=reached.astype(np.float32),
        top=top,
        top_position=top_pos,
        favourite=favourite,
        bottom=bottom,
        bottom_position=bottom_pos,
        score_p99=p99,
        active_share=active,
        class_means=class_means.astype(np.float32),
        votes=votes,
        feeders=feeders,
        steps=steps,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- checks (tests and bench)


def class_picture_probabilities(model, atlas: UnitAtlas) -> np.ndarray:
    """(10,) each class's probability for its own visualisation, read back as ``predict`` reads a file:
    PNG bytes through the upload pipeline, then the Keras model."""
    from fashion_viz.preprocessing import png_bytes, prepare_upload

    start = layer_offsets(atlas.sizes)["predictions"]
    pictures = np.stack([prepare_upload(png_bytes(atlas.act_max[start + k])).image for k in range(atlas.sizes["predictions"])])
    probabilities = np.asarray(model(model_input(pictures), training=False))
    return probabilities[np.arange(len(pictures)), np.arange(len(pictures))]


def conv2_reach_ratio(atlas: UnitAtlas) -> np.ndarray:
    """(64,) what each conv2 picture reaches at the centre over the channel's 99th-percentile maximum on the test set."""
    start = layer_offsets(atlas.sizes)["conv2"]
    rows = slice(start, start + atlas.sizes["conv2"])
    return atlas.act_max_reached[rows] / np.maximum(atlas.score_p99[rows], 1e-6)
