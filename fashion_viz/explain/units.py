"""What each unit has learned: dataset exemplars, activation maximisation, votes and statistics.

A *unit* is one channel of a convolution, one neuron of a hidden dense layer or one output class
(32 + 64 + 128 + 10 = 234 for the seed architecture; :func:`unit_layers` says which layers a model has).
Everything here runs over the model's engine (:class:`fashion_viz.engine.Engine`) in eval mode (dropout
off): its one pass over the test set for the statistics, and its traced forward pass, which also exposes
the pre-activations the ReLU and softmax hide, for the visualisations.

The results for all units form a :class:`UnitAtlas`, computed once per
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
from fashion_viz.engine import DatasetPass
from fashion_viz.storage import read_model_companion, write_model_companion

EXEMPLARS = 9
STEPS = 300
LEARNING_RATE = 0.02
JITTER_PX = 1
# Settings per kind of unit, relative to the unit's typical strongest response (its 99th percentile on the
# test set). Conv units' objectives see only a patch (3x3 for the seed's conv1, 8x8 for conv2): plain pixels,
# light penalties. Dense units and classes see the whole picture and otherwise fill it with high-frequency
# edges: their picture is a Gaussian-blurred parameter that starts from the mean test image (a generic
# garment-shaped prior, the same for every unit; Nguyen et al. 2016), and classes weigh their logit 3x.
# Chosen by eye and by the checks in the tests (each class's picture is classified as that class with
# p >= 0.9; each conv2 picture beats the channel's 99th percentile), on the shipped model.
TV_WEIGHT = {"conv": 0.1, "dense": 0.1, "softmax": 0.1}  # total variation
L2_WEIGHT = {"conv": 0.01, "dense": 0.01, "softmax": 0.01}
BLUR_SIGMA = {"conv": 0.0, "dense": 1.0, "softmax": 1.0}  # px
OBJECTIVE_WEIGHT = {"conv": 1.0, "dense": 1.0, "softmax": 3.0}
PRIOR_KINDS = ("dense", "softmax")
UNIT_NOUNS = {"conv": "channel", "dense": "unit", "softmax": "class"}
SEED = 0
ATLAS_VERSION = 2  # 2: the atlas names its layers and their kinds (any model of the family)
START = (0.0, 0.05)  # uniform noise from the fixed seed, added to the prior where there is one
CHUNK_STEPS = 50  # optimisation steps per compiled call (progress is reported between calls)

Progress = Callable[[str, float], None]


def _no_progress(stage: str, share: float) -> None:
    pass


class UnitError(ValueError):
    """A layer or unit number that the model does not have; the message lists the valid ones."""


def unit_layers(engine) -> dict[str, str]:
    """The layers whose units the Units page shows, in order, with their kind: every convolution (conv), every
    hidden dense layer (dense) and the output (softmax)."""
    return {info.name: info.kind for info in engine.infos if info.kind in ("conv", "dense", "softmax")}


def unit_sizes(engine) -> dict[str, int]:
    """How many units each of :func:`unit_layers` has (its output's last dimension)."""
    return {name: int(engine.info(name).output_shape[-1]) for name in unit_layers(engine)}


def layer_offsets(sizes: dict[str, int]) -> dict[str, int]:
    """Row of each layer's first unit in the atlas arrays (layers in the order of ``sizes``)."""
    offsets, start = {}, 0
    for name in sizes:
        offsets[name] = start
        start += sizes[name]
    return offsets


def unit_row(sizes: dict[str, int], layer: str, unit: int) -> int:
    """The atlas row of ``layer``'s unit ``unit``; UnitError names the valid range otherwise."""
    if layer not in sizes:
        raise UnitError(f"{layer!r} has no units to show; choose one of {', '.join(sizes)}.")
    if not 0 <= int(unit) < sizes[layer]:
        raise UnitError(f"{layer} has units 0-{sizes[layer] - 1}; {unit} is out of range.")
    return layer_offsets(sizes)[layer] + int(unit)


def unit_name(layer: str, kind: str, unit: int) -> str:
    """How the app names a unit: 'conv2 channel 17', 'dense1 unit 5', 'class 3 (Dress)'."""
    if kind == "softmax":
        return f"class {unit} ({CLASS_NAMES[unit]})"
    return f"{layer} {UNIT_NOUNS[kind]} {unit}"


@dataclass(frozen=True)
class UnitAtlas:
    """Everything the Units page shows, for every unit of one model (row order: the layers of ``sizes``).

    Scores are per test image: for conv channels the highest value anywhere in the map
    (after ReLU), for dense1 units the activation, for classes the logit.
    """

    model_sha256: str
    sizes: dict  # layer -> units, in row order (:func:`unit_layers`)
    kinds: dict  # layer -> conv, dense or softmax
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
    feeders: np.ndarray  # (10, width) mean contribution of each unit of the feeder layer (:func:`feeder_layer`) to each class's logit, over that class's images
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
    names = list(atlas.sizes)
    sizes = np.array([atlas.sizes[n] for n in names], np.int32)
    write_model_companion(
        path, ATLAS_VERSION, atlas.model_sha256, layers=np.array(names), layer_kinds=np.array([atlas.kinds[n] for n in names]), sizes=sizes, steps=np.int32(atlas.steps), seconds=np.float32(atlas.seconds), **arrays
    )


def load_atlas(path: Path, model_sha256: str | None = None) -> UnitAtlas | None:
    """The stored atlas, or None when it is missing, unreadable, of another version or of another model file."""
    values = read_model_companion(path, ATLAS_VERSION, model_sha256)
    if values is None:
        return None
    scalars = ("model_sha256", "sizes", "kinds", "steps", "seconds")
    arrays = {f.name: values[f.name] for f in fields(UnitAtlas) if f.name in values and f.name not in scalars}
    names = [str(n) for n in values["layers"]]
    return UnitAtlas(
        model_sha256=values["model_sha256"],
        sizes=dict(zip(names, (int(s) for s in values["sizes"]))),
        kinds=dict(zip(names, (str(k) for k in values["layer_kinds"]))),
        steps=int(values["steps"]),
        seconds=float(values["seconds"]),
        **arrays,
    )


# ---------------------------------------------------------------- statistics over the test set


@dataclass(frozen=True)
class UnitScores:
    """Per test image and unit: the score, and for conv units where the map peaks; and the engine's pass they came from."""

    scores: np.ndarray  # (n, units) float32
    positions: np.ndarray  # (n, units, 2) int16, -1 for vector units
    shared: DatasetPass


def unit_scores(engine, images: np.ndarray) -> UnitScores:
    """Every unit's score on every image, from the engine's one pass over them: a conv channel's strongest value
    anywhere in its map (after ReLU), a dense unit's activation, a class's logit."""
    shared = engine.dataset_pass(images)
    columns, positions = [], []
    n = len(images)
    for name, kind in unit_layers(engine).items():
        if kind == "conv":
            columns.append(shared.conv_max[name])
            arg, width = shared.conv_argmax[name], shared.conv_width[name]
            positions.append(np.stack([arg // width, arg % width], axis=-1))
        else:
            columns.append(np.maximum(shared.dense[name], 0) if kind == "dense" else shared.logits)
            positions.append(np.full((n, columns[-1].shape[1], 2), -1))
    return UnitScores(np.concatenate(columns, axis=1).astype(np.float32), np.concatenate(positions, axis=1).astype(np.int16), shared)


def _head(engine) -> list[tuple[np.ndarray, np.ndarray]]:
    """The dense layers after flatten (hidden ones, then the output), as (kernel, bias) in float64."""
    return [(engine.kernels(n).astype(np.float64), engine.biases(n).astype(np.float64)) for n in (*engine.dense_names, engine.names[-1])]


def _logits_from(head, k: int, pre: np.ndarray) -> np.ndarray:
    """The logits, given head layer ``k``'s pre-activation (the layers after it run as the model runs them)."""
    for kernel, bias in head[k + 1 :]:
        pre = np.maximum(pre, 0) @ kernel + bias
    return pre


def ablation_votes(engine, scores: UnitScores) -> np.ndarray:
    """(units, 10): the mean change of each class logit over the images when a unit is switched off
    (eval mode), as ``logit(with) - logit(without)``: positive means the unit pushes that class up.

    Defined for the last convolution's channels (their flattened positions set to 0: pooling and dropout
    keep a channel that is all zeros at zero) and every hidden dense unit; exact and cheap because all of
    them sit before the dense layers, whose arithmetic is redone in NumPy from the unit's own layer on.
    NaN rows for earlier convolutions and for classes.
    """
    sizes, shared = unit_sizes(engine), scores.shared
    offsets = layer_offsets(sizes)
    head = _head(engine)
    pre = [shared.dense[n].astype(np.float64) for n in engine.dense_names] + [shared.logits.astype(np.float64)]
    logits = pre[-1]
    votes = np.full((sum(sizes.values()), len(CLASS_NAMES)), np.nan, np.float32)
    last_conv = engine.conv_names[-1]
    flat = np.asarray(shared.head_input, np.float64)
    channels = sizes[last_conv]
    for c in range(channels):
        idx = np.arange(c, flat.shape[1], channels)  # Flatten is row-major over (row, column, channel)
        without = _logits_from(head, 0, pre[0] - flat[:, idx] @ head[0][0][idx])
        votes[offsets[last_conv] + c] = (logits - without).mean(axis=0)
    for k, name in enumerate(engine.dense_names):
        hidden = np.maximum(pre[k], 0)
        kernel = head[k + 1][0]
        for u in range(sizes[name]):
            without = _logits_from(head, k + 1, pre[k + 1] - hidden[:, u : u + 1] * kernel[u])
            votes[offsets[name] + u] = (logits - without).mean(axis=0)
    return votes


def feeder_layer(engine) -> str:
    """The layer whose units feed the classes directly: the last hidden dense layer (dense1 in the seed), else flatten."""
    return engine.dense_names[-1] if engine.dense_names else "flatten"


def class_feeders(engine, scores: UnitScores, labels: np.ndarray) -> np.ndarray:
    """(10, width): mean of activation x weight from each unit of :func:`feeder_layer` into each class's logit, over that class's test images."""
    shared = scores.shared
    hidden = np.maximum(shared.dense[engine.dense_names[-1]], 0) if engine.dense_names else np.asarray(shared.head_input)
    kernel = engine.kernels(engine.names[-1])
    means = np.stack([hidden[labels == k].mean(axis=0) for k in range(len(CLASS_NAMES))])
    return (means * kernel.T).astype(np.float32)


# ---------------------------------------------------------------- activation maximisation


def _objectives(out: dict, layers: dict[str, str], sizes: dict[str, int]):
    """Each batch row's objective: its own unit's pre-activation (the centre of the map for conv units, the
    logit for classes), rows in atlas order."""
    import tensorflow as tf

    offsets = layer_offsets(sizes)
    parts = []
    for name, kind in layers.items():
        rows = tf.constant(np.arange(offsets[name], offsets[name] + sizes[name]), tf.int32)
        values = tf.gather(out["pre"][name], rows)
        if kind == "conv":
            h, w = values.shape[1], values.shape[2]
            values = values[:, h // 2, w // 2, :]
        parts.append(tf.gather(values, tf.range(sizes[name], dtype=tf.int32), axis=1, batch_dims=1))
    return tf.concat(parts, axis=0)


def activation_maximisation(
    engine,
    scale: np.ndarray,
    steps: int = STEPS,
    seed: int = SEED,
    rows: np.ndarray | None = None,
    progress: Progress = _no_progress,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """(units, 28, 28) float pictures in [0, 1], each built by the model's gradients to excite one unit.

    All units are one batch in one compiled loop over the engine's traced forward pass (run ``CHUNK_STEPS``
    steps per call so progress can be reported), in the caller's thread: a background preparation must not
    hold the engine's worker, which answers the visitors, for seconds. Each row's loss is ``-objective / scale + TV + L2``;
    ``scale`` (the unit's 99th-percentile score on the test set) puts every unit's objective on a comparable
    footing so one pair of penalty weights suits all of them.

    Args:
        rows: optimise only these atlas rows (the others are returned as zeros); all by default.
    """
    import tensorflow as tf

    layers, sizes = unit_layers(engine), unit_sizes(engine)
    total = sum(sizes.values())
    chosen = np.arange(total) if rows is None else np.asarray(rows)
    by_row = lambda table: np.repeat([float(table[kind]) for kind in layers.values()], list(sizes.values()))  # noqa: E731
    per_row = lambda table: tf.constant(by_row(table)[chosen], tf.float32)  # noqa: E731
    scale_t = tf.constant(np.maximum(np.asarray(scale, np.float32), 1e-3) / by_row(OBJECTIVE_WEIGHT).astype(np.float32))
    tv_weight, l2_weight = per_row(TV_WEIGHT), per_row(L2_WEIGHT)
    sigmas = {n for n in BLUR_SIGMA.values() if n > 0}
    if len(sigmas) > 1:
        raise ValueError("one blur width for every blurred layer")
    gaussian = tf.constant(_gaussian_kernel(sigmas.pop() if sigmas else 1.0))
    blurred_rows = per_row({k: BLUR_SIGMA[k] > 0 for k in BLUR_SIGMA})[:, None, None, None]

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
                out = engine.trace(tf.roll(full, shift, axis=(1, 2)))
                objective = tf.gather(_objectives(out, layers, sizes) / scale_t, chosen_t)
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
        uses_prior = per_row({k: k in PRIOR_KINDS for k in BLUR_SIGMA})
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


def objectives_reached(engine, pictures_uint8: np.ndarray) -> np.ndarray:
    """(units,) each picture's own objective (pre-activation; conv units at the centre), read back from the uint8 picture."""
    out = engine.trace(model_input(pictures_uint8))
    return np.asarray(_objectives(out, unit_layers(engine), unit_sizes(engine)))


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


def build_atlas(engine, images: np.ndarray, labels: np.ndarray, model_sha256: str = "", steps: int = STEPS, progress: Progress = _no_progress) -> UnitAtlas:
    """Compute every unit's exemplars, statistics, votes and visualisation (the test set is the usual ``images``)."""
    import time

    started = time.perf_counter()
    layers, sizes = unit_layers(engine), unit_sizes(engine)
    progress("statistics", 0.0)
    scores = unit_scores(engine, images)
    shared = scores.shared
    labels = np.asarray(labels)
    class_means = np.stack([scores.scores[labels == k].mean(axis=0) for k in range(len(CLASS_NAMES))], axis=1)
    top, top_pos, favourite, bottom, bottom_pos = _exemplars(scores.scores, scores.positions, labels, class_means)
    active = []
    for name, kind in layers.items():
        if kind == "conv":
            active.append(shared.conv_active[name].mean(axis=0))
        elif kind == "dense":
            active.append((shared.dense[name] > 0).mean(axis=0))
        else:
            active.append(np.bincount(shared.logits.argmax(axis=1), minlength=len(CLASS_NAMES)) / len(images))
    p99 = np.percentile(scores.scores, 99, axis=0).astype(np.float32)
    # Logits can be negative; scale the class objectives by their typical spread instead.
    output = engine.names[-1]
    start = layer_offsets(sizes)[output]
    scale = p99.copy()
    scale[start : start + sizes[output]] = np.percentile(np.abs(shared.logits), 99, axis=0)
    votes = ablation_votes(engine, scores)
    feeders = class_feeders(engine, scores, labels)
    progress("statistics", 1.0)
    prior = np.asarray(images, np.float32).mean(axis=0) / 255.0
    pictures = to_uint8(activation_maximisation(engine, scale, steps=steps, progress=progress, prior=prior))
    reached = objectives_reached(engine, pictures)
    return UnitAtlas(
        model_sha256=model_sha256,
        sizes=sizes,
        kinds=layers,
        act_max=pictures,
        act_max_reached=reached.astype(np.float32),
        top=top,
        top_position=top_pos,
        favourite=favourite,
        bottom=bottom,
        bottom_position=bottom_pos,
        score_p99=p99,
        active_share=np.concatenate(active).astype(np.float32),
        class_means=class_means.astype(np.float32),
        votes=votes,
        feeders=feeders,
        steps=steps,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- checks (tests and bench)


def class_picture_probabilities(engine, atlas: UnitAtlas) -> np.ndarray:
    """(10,) each class's probability for its own visualisation, read back as ``predict`` reads a file:
    PNG bytes through the upload pipeline, then the model."""
    from fashion_viz.preprocessing import png_bytes, prepare_upload

    output = next(name for name, kind in atlas.kinds.items() if kind == "softmax")
    start = layer_offsets(atlas.sizes)[output]
    pictures = np.stack([prepare_upload(png_bytes(atlas.act_max[start + k])).image for k in range(atlas.sizes[output])])
    probabilities = engine.probabilities(pictures)
    return probabilities[np.arange(len(pictures)), np.arange(len(pictures))]


def conv_reach_ratio(atlas: UnitAtlas, layer: str) -> np.ndarray:
    """(channels,) what each of a conv layer's pictures reaches at the centre over the channel's 99th-percentile maximum on the test set."""
    start = layer_offsets(atlas.sizes)[layer]
    rows = slice(start, start + atlas.sizes[layer])
    return atlas.act_max_reached[rows] / np.maximum(atlas.score_p99[rows], 1e-6)
