"""Attribution maps: which input pixels drove a class score, by six standard methods.

All methods run over the model's one engine (:class:`fashion_viz.engine.Engine`: its gradients
and its batched forward pass), so a map always explains the model being served, including its
what-if variants: any conv channel or hidden dense unit can be switched off (a 0/1 mask per layer). The score is a *logit*
(the predictions layer's input to softmax), or the difference of two logits
for "why A rather than B"; logits avoid the softmax saturating the gradients.

Not tf-keras-vis: its 0.8.7 release fails on Keras 3 ``Sequential`` models
(``'Sequential' object has no attribute 'output_names'``), and owning the tape
keeps every method batched and compiled once.

Maps are (28, 28) float arrays at input resolution. ``signed`` maps
(Integrated Gradients, occlusion) are positive where a pixel pushes the score
up and negative where it pushes it down; the others are unsigned importance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE
from fashion_viz.architecture import model_input
from fashion_viz.engine import Engine

SMOOTHGRAD_SAMPLES = 25
SMOOTHGRAD_SIGMA = 0.15  # noise level, as a share of the input range [0, 1]
IG_START_STEPS, IG_MAX_STEPS = 128, 4096  # doubled until completeness holds to COMPLETENESS_TOLERANCE
COMPLETENESS_TOLERANCE = 0.05


def class_index(value) -> int:
    """A class given as an index 0-9 or a class name (case-insensitive); ValueError otherwise."""
    if isinstance(value, (int, np.integer)):
        index = int(value)
    else:
        text = str(value).strip()
        names = [n.lower() for n in CLASS_NAMES]
        if text.isdigit():
            index = int(text)
        elif text.lower() in names:
            index = names.index(text.lower())
        else:
            raise ValueError(f"{value!r} is not a class; use 0-9 or one of: {', '.join(CLASS_NAMES)}.")
    if not 0 <= index < len(CLASS_NAMES):
        raise ValueError(f"class {index} is out of range; use 0-9.")
    return index


def score_direction(target: int, contrast: int | None = None) -> np.ndarray:
    """The logit combination a map explains: logit[target], or logit[target] - logit[contrast]."""
    direction = np.zeros(len(CLASS_NAMES), np.float32)
    direction[target] = 1.0
    if contrast is not None and contrast != target:
        direction[contrast] = -1.0
    return direction


@dataclass
class Attribution:
    """One method's map for one picture and one score."""

    method: str
    target: int
    contrast: int | None
    map: np.ndarray  # (28, 28) at input resolution
    signed: bool
    score: float  # the explained score (logit, or logit difference) for the picture
    details: dict


def _input(image: np.ndarray) -> np.ndarray:
    return model_input(image)


def saliency(engine: Engine, image, direction, off=None) -> Attribution:
    score, grad = engine.gradients(_input(image), direction, off)
    return Attribution("saliency", 0, None, np.abs(grad[0]), False, float(score[0]), {})


def smoothgrad(engine: Engine, image, direction, off=None, samples: int = SMOOTHGRAD_SAMPLES, sigma: float = SMOOTHGRAD_SIGMA, seed: int = 0) -> Attribution:
    x = _input(image)
    noisy = x + np.random.default_rng(seed).normal(0, sigma, (samples, *x.shape[1:])).astype(np.float32)
    _, grad = engine.gradients(noisy, direction, off)
    score, _ = engine.gradients(x, direction, off)
    return Attribution("smoothgrad", 0, None, np.abs(grad.mean(axis=0)), False, float(score[0]), {"samples": samples, "sigma": sigma})


def integrated_gradients(engine: Engine, image, direction, off=None, steps: int | None = None) -> Attribution:
    """Black baseline; trapezoidal path integral. The number of steps starts at 128 and doubles (reusing
    the points already computed) until completeness holds to 5 %, up to 4,096 steps."""
    x = _input(image)
    baseline = np.zeros_like(x)
    m = steps or IG_START_STEPS
    alphas = np.linspace(0.0, 1.0, m + 1, dtype=np.float32)
    scores, grads = engine.gradients(baseline + alphas[:, None, None, None] * (x - baseline), direction, off)
    while True:
        average = (grads[:-1] + grads[1:]).mean(axis=0) / 2.0
        attribution = (x - baseline)[0, ..., 0] * average
        change = float(scores[-1] - scores[0])
        error = abs(float(attribution.sum()) - change) / max(abs(change), 1e-6)
        if error <= COMPLETENESS_TOLERANCE or steps or m >= IG_MAX_STEPS:
            break
        midpoints = (np.arange(m, dtype=np.float32) + 0.5) / m  # the new points of 2m steps
        new_scores, new_grads = engine.gradients(baseline + midpoints[:, None, None, None] * (x - baseline), direction, off)
        merged_grads = np.empty((2 * m + 1, *grads.shape[1:]), grads.dtype)
        merged_grads[0::2], merged_grads[1::2] = grads, new_grads
        merged_scores = np.empty(2 * m + 1, scores.dtype)
        merged_scores[0::2], merged_scores[1::2] = scores, new_scores
        grads, scores, m = merged_grads, merged_scores, 2 * m
    return Attribution("integrated-gradients", 0, None, attribution, True, float(scores[-1]),
                       {"steps": m, "completeness_error": error, "score_change": change, "attribution_sum": float(attribution.sum())})


def field_geometry(engine: Engine, layer: str) -> tuple[int, float]:
    """(stride, offset of the first position's field centre) of a spatial layer's positions, in input pixels."""
    info = engine.info(layer)
    return info.stride, (info.receptive_field - 1) / 2.0


def to_input_resolution(cam: np.ndarray, stride: int, centre: float) -> np.ndarray:
    """Spread a coarse map onto the 28x28 picture: each value sits at its receptive field's centre,
    bilinear in between, constant beyond the outermost centres."""
    h, w = cam.shape
    rows = centre + stride * np.arange(h)
    cols = centre + stride * np.arange(w)
    grid = np.arange(IMAGE_SIZE, dtype=np.float64)
    by_row = np.stack([np.interp(grid, cols, cam[r]) for r in range(h)])
    return np.stack([np.interp(grid, rows, by_row[:, c]) for c in range(IMAGE_SIZE)], axis=1)


def gradcam(engine: Engine, image, direction, off=None, layer: str | None = None, plus: bool = False) -> Attribution:
    """Grad-CAM (or Grad-CAM++) on a conv layer's maps: the last convolution by default."""
    layer = layer or engine.conv_names[-1]
    score, feature, grad = engine.layer_gradients(_input(image), direction, layer, off)
    A, g = feature[0].astype(np.float64), grad[0].astype(np.float64)
    if plus:
        # Grad-CAM++ (Chattopadhyay et al. 2018) with the exponential-score closed form.
        g2, g3 = g**2, g**3
        denominator = 2 * g2 + A.sum(axis=(0, 1), keepdims=True) * g3
        alphas = np.where(denominator != 0, g2 / np.where(denominator != 0, denominator, 1), 0)
        weights = (alphas * np.maximum(g, 0)).sum(axis=(0, 1))
    else:
        weights = g.mean(axis=(0, 1))
    cam = np.maximum((A * weights).sum(axis=-1), 0)
    stride, centre = field_geometry(engine, layer)
    method = "gradcam++" if plus else "gradcam"
    return Attribution(method, 0, None, to_input_resolution(cam, stride, centre), False, float(score[0]), {"layer": layer, "coarse": cam})


def occlusion(engine: Engine, image, direction, off=None, patch: int = 4, stride: int = 2) -> Attribution:
    """Score drop when a patch is set to 0 (background), averaged over the patches covering each pixel; one batch."""
    x = _input(image)
    starts = list(range(0, IMAGE_SIZE - patch + 1, stride))
    if starts[-1] != IMAGE_SIZE - patch:
        starts.append(IMAGE_SIZE - patch)
    batch, boxes = [], []
    for r in starts:
        for c in starts:
            occluded = x[0].copy()
            occluded[r : r + patch, c : c + patch] = 0.0
            batch.append(occluded)
            boxes.append((r, c))
    logits, _ = engine.predict(np.concatenate([x, np.stack(batch)]), off)
    scores = logits @ direction
    drops = scores[0] - scores[1:]
    total, count = np.zeros((IMAGE_SIZE, IMAGE_SIZE)), np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for (r, c), drop in zip(boxes, drops):
        total[r : r + patch, c : c + patch] += drop
        count[r : r + patch, c : c + patch] += 1
    return Attribution("occlusion", 0, None, total / np.maximum(count, 1), True, float(scores[0]), {"patch": patch, "stride": stride, "patches": len(boxes)})


@dataclass(frozen=True)
class Method:
    """One attribution method: its name, what it says and how far (``note``), whether its maps are signed,
    and its computation. All share one :meth:`attribute` signature (the way Captum shapes its methods), so
    the Why page, the CLI, the faithfulness table and the benchmarks loop over :data:`METHODS` without
    knowing any of them."""

    key: str
    title: str
    signed: bool
    note: str
    compute: Callable[..., Attribution]

    def attribute(self, engine: Engine, image: np.ndarray, target: int, contrast: int | None = None, off: dict | None = None, **options) -> Attribution:
        """This method's map of ``logit[target]`` (minus ``logit[contrast]``) for a (28, 28) uint8 picture."""
        result = self.compute(engine, image, score_direction(target, contrast), off, **options)
        result.method, result.target, result.contrast = self.key, target, contrast if contrast != target else None
        return result


METHODS: dict[str, Method] = {
    method.key: method
    for method in (
        Method("saliency", "Gradient saliency", False,
               "How much the score changes for a tiny change of each pixel (|gradient|). Fast, but noisy, and it shows sensitivity rather than what the score is made of.",
               saliency),
        Method("smoothgrad", "SmoothGrad", False,
               f"The gradient averaged over {SMOOTHGRAD_SAMPLES} noisy copies of the picture, which removes much of the noise. Still sensitivity, not contribution.",
               smoothgrad),
        Method("integrated-gradients", "Integrated Gradients", True,
               "Each pixel's contribution on the straight path from a black picture to this one; the contributions add up to the score's change (completeness). Pixels that are black contribute nothing by construction.",
               integrated_gradients),
        Method("gradcam", "Grad-CAM", False,
               "Where, in the chosen convolution layer's maps, the features that raise the score sit (coarse: one value per position of those maps, spread onto the picture). Says where, not which pixel. It weighs each channel by its gradient averaged over all positions, which suits networks that average their maps; ours flattens them into a dense layer, so on the last convolution the map can follow where a channel is active rather than where it matters (a planted 3x3 trigger was found on the first convolution, not the last).",
               gradcam),
        Method("gradcam++", "Grad-CAM++", False,
               "Grad-CAM with per-location weights, which spreads credit better when a class's evidence sits in several places. Equally coarse.",
               functools.partial(gradcam, plus=True)),
        Method("occlusion", "Occlusion", True,
               "How much the score falls when a patch set to black covers each place. Model-agnostic and easy to read, but slow and blocky; a black patch changes nothing over the black background.",
               occlusion),
    )
}


def attribute(engine: Engine, image: np.ndarray, method: str, target: int, contrast: int | None = None, off: dict | None = None, **options) -> Attribution:
    """The map of method ``method`` (a key of :data:`METHODS`); ValueError names the methods otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return METHODS[method].attribute(engine, image, target, contrast, off, **options)
