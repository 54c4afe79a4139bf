"""Attribution maps: which input pixels drove a class score, by six standard methods.

All methods run ``tf.GradientTape`` over one forward pass through the served
model's own layers (:class:`ScoreModel`), so a map always explains the model
being served, including its what-if variants: any conv1/conv2 channel or dense1
unit can be switched off (a 0/1 mask per layer). The score is a *logit*
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

from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE
from fashion_viz.architecture import model_input

METHODS = ("saliency", "smoothgrad", "integrated-gradients", "gradcam", "gradcam++", "occlusion")
SIGNED = {"integrated-gradients", "occlusion"}
TITLES = {
    "saliency": "Gradient saliency",
    "smoothgrad": "SmoothGrad",
    "integrated-gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "occlusion": "Occlusion",
}
NOTES = {
    "saliency": "How much the score changes for a tiny change of each pixel (|gradient|). Fast, but noisy, and it shows sensitivity rather than what the score is made of.",
    "smoothgrad": "The gradient averaged over 25 noisy copies of the picture, which removes much of the noise. Still sensitivity, not contribution.",
    "integrated-gradients": "Each pixel's contribution on the straight path from a black picture to this one; the contributions add up to the score's change (completeness). Pixels that are black contribute nothing by construction.",
    "gradcam": "Where, in the chosen convolution layer's maps, the features that raise the score sit (coarse: 11x11 for conv2, spread onto the picture). Says where, not which pixel. It weighs each channel by its gradient averaged over all positions, which suits networks that average their maps; ours flattens them into a dense layer, so on conv2 the map can follow where a channel is active rather than where it matters (a planted 3x3 trigger was found on conv1, not on conv2).",
    "gradcam++": "Grad-CAM with per-location weights, which spreads credit better when a class's evidence sits in several places. Equally coarse.",
    "occlusion": "How much the score falls when a patch set to black covers each place. Model-agnostic and easy to read, but slow and blocky; a black patch changes nothing over the black background.",
}
SMOOTHGRAD_SAMPLES = 25
SMOOTHGRAD_SIGMA = 0.15  # noise level, as a share of the input range [0, 1]
IG_START_STEPS, IG_MAX_STEPS = 128, 4096  # doubled until completeness holds to COMPLETENESS_TOLERANCE
COMPLETENESS_TOLERANCE = 0.05
MASKABLE = ("conv1", "conv2", "dense1")


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


class ScoreModel:
    """The served model's layers as one TF computation: logits, probabilities and the conv maps,
    with optional 0/1 masks that switch conv1/conv2 channels or dense1 units off.

    Every call is a compiled ``tf.function`` with fixed signatures (traced once), run on one
    long-lived worker thread: as for the activation extractor, TensorFlow's first call in each new
    thread costs about 50 ms, and Streamlit runs every rerun in a new thread.
    """

    def __init__(self, model):
        from concurrent.futures import ThreadPoolExecutor

        import tensorflow as tf

        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fashion-viz-attribution")
        self.model = model
        self.layers = list(model.layers)
        self.names = [layer.name for layer in self.layers]
        head = self.layers[-1]
        self.head_kernel, self.head_bias = (tf.constant(w) for w in head.get_weights())
        self.widths = {name: int(self.layers[self.names.index(name)].output.shape[-1]) for name in MASKABLE if name in self.names}
        self.conv_names = [layer.name for layer in self.layers if type(layer).__name__ == "Conv2D"]
        image = tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)
        masks = [tf.TensorSpec((self.widths[n],), tf.float32) for n in self.widths]
        direction = tf.TensorSpec((len(CLASS_NAMES),), tf.float32)
        self._forward = tf.function(self._forward_py, input_signature=[image, *masks])
        self._gradients = tf.function(self._gradients_py, input_signature=[image, direction, *masks])
        self._cam_gradients = {name: tf.function(self._cam_function(name), input_signature=[image, direction, *masks]) for name in self.conv_names}

    def default_masks(self, off: dict[str, list[int]] | None = None) -> list[np.ndarray]:
        """Per maskable layer, 1 for every unit except those switched off."""
        masks = []
        for name, width in self.widths.items():
            mask = np.ones(width, np.float32)
            for unit in (off or {}).get(name, []):
                mask[int(unit)] = 0.0
            masks.append(mask)
        return masks

    def _run(self, x, masks):
        import tensorflow as tf

        by_name = dict(zip(self.widths, masks))
        features = {}
        for layer in self.layers[:-1]:
            x = layer(x, training=False)
            if layer.name in by_name:
                x = x * by_name[layer.name]
            if layer.name in self.conv_names:
                features[layer.name] = x
        logits = tf.matmul(x, self.head_kernel) + self.head_bias
        return logits, features

    def _cam_function(self, name: str):
        def cam_gradients(x, direction, *masks):
            return self._cam_gradients_py(x, direction, name, *masks)

        return cam_gradients

    def _forward_py(self, x, *masks):
        import tensorflow as tf

        logits, _ = self._run(x, masks)
        return logits, tf.nn.softmax(logits)

    def _gradients_py(self, x, direction, *masks):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            logits, _ = self._run(x, masks)
            score = tf.linalg.matvec(logits, direction)
        return score, tape.gradient(score, x)

    def _cam_gradients_py(self, x, direction, name, *masks):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            logits, features = self._run(x, masks)
            feature = features[name]
            tape.watch(feature)
            # Recompute the score from the watched feature map so the tape sees it.
            score = tf.linalg.matvec(logits, direction)
        return score, feature, tape.gradient(score, feature)

    def predict(self, images: np.ndarray, off: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities) for a batch of model inputs (n, 28, 28, 1) in [0, 1]."""
        logits, probabilities = self._call(self._forward, np.asarray(images, np.float32), *self.default_masks(off))
        return logits, probabilities

    def gradients(self, images: np.ndarray, direction: np.ndarray, off: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        score, grad = self._call(self._gradients, np.asarray(images, np.float32), direction, *self.default_masks(off))
        return score, grad[..., 0]

    def cam_gradients(self, images: np.ndarray, direction: np.ndarray, layer: str, off: dict | None = None):
        return self._call(self._cam_gradients[layer], np.asarray(images, np.float32), direction, *self.default_masks(off))

    def _call(self, function, *args) -> tuple[np.ndarray, ...]:
        """Run a compiled function on the worker thread; NumPy arrays back."""
        return self._worker.submit(lambda: tuple(np.asarray(out) for out in function(*args))).result()


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


def saliency(sm: ScoreModel, image, direction, off=None) -> Attribution:
    score, grad = sm.gradients(_input(image), direction, off)
    return Attribution("saliency", 0, None, np.abs(grad[0]), False, float(score[0]), {})


def smoothgrad(sm: ScoreModel, image, direction, off=None, samples: int = SMOOTHGRAD_SAMPLES, sigma: float = SMOOTHGRAD_SIGMA, seed: int = 0) -> Attribution:
    x = _input(image)
    noisy = x + np.random.default_rng(seed).normal(0, sigma, (samples, *x.shape[1:])).astype(np.float32)
    _, grad = sm.gradients(noisy, direction, off)
    score, _ = sm.gradients(x, direction, off)
    return Attribution("smoothgrad", 0, None, np.abs(grad.mean(axis=0)), False, float(score[0]), {"samples": samples, "sigma": sigma})


def integrated_gradients(sm: ScoreModel, image, direction, off=None, steps: int | None = None) -> Attribution:
    """Black baseline; trapezoidal path integral. The number of steps starts at 128 and doubles (reusing
    the points already computed) until completeness holds to 5 %, up to 4,096 steps."""
    x = _input(image)
    baseline = np.zeros_like(x)
    m = steps or IG_START_STEPS
    alphas = np.linspace(0.0, 1.0, m + 1, dtype=np.float32)
    scores, grads = sm.gradients(baseline + alphas[:, None, None, None] * (x - baseline), direction, off)
    while True:
        average = (grads[:-1] + grads[1:]).mean(axis=0) / 2.0
        attribution = (x - baseline)[0, ..., 0] * average
        change = float(scores[-1] - scores[0])
        error = abs(float(attribution.sum()) - change) / max(abs(change), 1e-6)
        if error <= COMPLETENESS_TOLERANCE or steps or m >= IG_MAX_STEPS:
            break
        midpoints = (np.arange(m, dtype=np.float32) + 0.5) / m  # the new points of 2m steps
        new_scores, new_grads = sm.gradients(baseline + midpoints[:, None, None, None] * (x - baseline), direction, off)
        merged_grads = np.empty((2 * m + 1, *grads.shape[1:]), grads.dtype)
        merged_grads[0::2], merged_grads[1::2] = grads, new_grads
        merged_scores = np.empty(2 * m + 1, scores.dtype)
        merged_scores[0::2], merged_scores[1::2] = scores, new_scores
        grads, scores, m = merged_grads, merged_scores, 2 * m
    return Attribution("integrated-gradients", 0, None, attribution, True, float(scores[-1]),
                       {"steps": m, "completeness_error": error, "score_change": change, "attribution_sum": float(attribution.sum())})


def field_geometry(model, layer: str) -> tuple[int, int, float]:
    """(stride, field size, offset of the first field's centre) of a conv layer's positions in input pixels."""
    from fashion_viz.explain.arithmetic import receptive_field

    index = [l.name for l in model.layers].index(layer)
    top0, _, bottom0, _ = receptive_field(model, index, 0, 0)
    top1, _, _, _ = receptive_field(model, index, 1, 0)
    size = bottom0 - top0
    return top1 - top0, size, (size - 1) / 2.0


def to_input_resolution(cam: np.ndarray, stride: int, centre: float) -> np.ndarray:
    """Spread a coarse map onto the 28x28 picture: each value sits at its receptive field's centre,
    bilinear in between, constant beyond the outermost centres."""
    h, w = cam.shape
    rows = centre + stride * np.arange(h)
    cols = centre + stride * np.arange(w)
    grid = np.arange(IMAGE_SIZE, dtype=np.float64)
    by_row = np.stack([np.interp(grid, cols, cam[r]) for r in range(h)])
    return np.stack([np.interp(grid, rows, by_row[:, c]) for c in range(IMAGE_SIZE)], axis=1)


def gradcam(sm: ScoreModel, image, direction, off=None, layer: str = "conv2", plus: bool = False) -> Attribution:
    score, feature, grad = sm.cam_gradients(_input(image), direction, layer, off)
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
    stride, size, centre = field_geometry(sm.model, layer)
    method = "gradcam++" if plus else "gradcam"
    return Attribution(method, 0, None, to_input_resolution(cam, stride, centre), False, float(score[0]), {"layer": layer, "coarse": cam})


def occlusion(sm: ScoreModel, image, direction, off=None, patch: int = 4, stride: int = 2) -> Attribution:
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
    logits, _ = sm.predict(np.concatenate([x, np.stack(batch)]), off)
    scores = logits @ direction
    drops = scores[0] - scores[1:]
    total, count = np.zeros((IMAGE_SIZE, IMAGE_SIZE)), np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for (r, c), drop in zip(boxes, drops):
        total[r : r + patch, c : c + patch] += drop
        count[r : r + patch, c : c + patch] += 1
    return Attribution("occlusion", 0, None, total / np.maximum(count, 1), True, float(scores[0]), {"patch": patch, "stride": stride, "patches": len(boxes)})


def attribute(sm: ScoreModel, image: np.ndarray, method: str, target: int, contrast: int | None = None, off: dict | None = None, **options) -> Attribution:
    """One method's map of ``logit[target]`` (minus ``logit[contrast]``) for a (28, 28) uint8 picture."""
    direction = score_direction(target, contrast)
    if method == "saliency":
        result = saliency(sm, image, direction, off)
    elif method == "smoothgrad":
        result = smoothgrad(sm, image, direction, off, **options)
    elif method == "integrated-gradients":
        result = integrated_gradients(sm, image, direction, off, **options)
    elif method in ("gradcam", "gradcam++"):
        result = gradcam(sm, image, direction, off, plus=method == "gradcam++", **options)
    elif method == "occlusion":
        result = occlusion(sm, image, direction, off, **options)
    else:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    result.target, result.contrast = target, contrast if contrast != target else None
    return result
