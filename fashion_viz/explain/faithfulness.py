"""How far each attribution method can be trusted, measured on test images.

- Deletion: remove the most important pixels first (set to 0, the background), 8 per step; the
  area under the curve of the original class's probability (lower = the map found what matters).
- Insertion: start from a blurred copy and restore the most important pixels first (higher = better).
  Both are reported next to the same figure for a random pixel order. On Fashion-MNIST the
  background is already 0, so deletion alone flatters maps that light up the background.
- Model randomisation (Adebayo et al. 2018): re-initialise the weights from the top layer down, one
  layer more at a time; the median Spearman rank correlation between the trained model's map and the
  randomised model's. A method that explains the model falls towards 0; one that only finds edges
  of the picture stays high.
- Integrated Gradients completeness: |sum of attributions - (F(x) - F(black))| / |F(x) - F(black)|.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fashion_viz import IMAGE_SIZE
from fashion_viz.architecture import build_model, model_input, spec_of_model
from fashion_viz.engine import Engine
from fashion_viz.explain.attribution import METHODS, attribute

PIXELS_PER_STEP = 8
BLUR_SIGMA = 3.0


def fixed_test_set(labels: np.ndarray, count: int = 500, seed: int = 0) -> np.ndarray:
    """The same ``count`` test indices every time: an equal share of each class, seeded."""
    rng = np.random.default_rng(seed)
    per_class = count // 10
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]))


def gaussian_blur(images: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Separable Gaussian blur of (n, 28, 28) arrays, edges reflected."""
    radius = int(3 * sigma)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(images, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    rows = sum(kernel[i] * padded[:, i : i + IMAGE_SIZE, :] for i in range(len(kernel)))
    return sum(kernel[i] * rows[:, :, i : i + IMAGE_SIZE] for i in range(len(kernel)))


def _curve_inputs(start: np.ndarray, end: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Pictures that go from ``start`` to ``end`` by taking ``end``'s pixels in ``order``, 8 at a time."""
    steps = int(np.ceil(order.size / PIXELS_PER_STEP))
    frames = np.repeat(start.reshape(1, -1), steps + 1, axis=0)
    for k in range(1, steps + 1):
        chosen = order[: k * PIXELS_PER_STEP]
        frames[k, chosen] = end.reshape(-1)[chosen]
    return frames.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1).astype(np.float32)


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps over [0, 1] (trapezoid)."""
    curve = np.asarray(curve, np.float64)
    return float(((curve[:-1] + curve[1:]) / 2).mean())


def deletion_insertion(engine: Engine, image: np.ndarray, importance: np.ndarray, target: int) -> tuple[float, float]:
    """(deletion AUC, insertion AUC) of the target class's probability, most important pixels first."""
    x = model_input(image)[0, ..., 0]
    order = np.argsort(-importance.reshape(-1), kind="stable")
    blurred = gaussian_blur(x[None])[0]
    frames = np.concatenate([_curve_inputs(x, np.zeros_like(x), order), _curve_inputs(blurred, x, order)])
    _, probabilities = engine.predict(frames)
    half = len(frames) // 2
    return auc(probabilities[:half, target]), auc(probabilities[half:, target])


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing their average rank (as scipy.stats.rankdata, without scipy)."""
    values = np.ravel(values)
    sorter = np.argsort(values, kind="mergesort")
    inverse = np.empty_like(sorter)
    inverse[sorter] = np.arange(values.size)
    ordered = values[sorter]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = starts.cumsum()[inverse]
    bounds = np.r_[np.flatnonzero(starts), values.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); 0 when either map is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def randomisation_order(model) -> tuple[str, ...]:
    """The layers with weights, top layer first: the order in which the randomisation check re-initialises them."""
    return tuple(layer.name for layer in reversed(model.layers) if layer.get_weights())


def randomised_model(model, layers: tuple[str, ...], seed: int = 0):
    """A copy of ``model`` whose named layers get fresh random weights (the others keep the trained ones)."""
    spec = spec_of_model(model)
    fresh = build_model(spec, seed=seed)
    copy = build_model(spec)
    copy.set_weights(model.get_weights())
    for name in layers:
        copy.get_layer(name).set_weights(fresh.get_layer(name).get_weights())
    return copy


def ranking_map(result) -> np.ndarray:
    """What a method says is important, as one value per pixel: the map itself, |map| for signed maps."""
    return np.abs(result.map) if result.signed else result.map


@dataclass
class FaithfulnessReport:
    """Per method: deletion and insertion AUC (mean) next to the random order's, and the median Spearman
    correlation with the map of a model randomised from the top down (one entry per stage)."""

    images: int
    test_indices: list[int]
    deletion_auc: dict[str, float] = field(default_factory=dict)
    insertion_auc: dict[str, float] = field(default_factory=dict)
    randomisation_spearman: dict[str, dict[str, float]] = field(default_factory=dict)
    randomisation_images: int = 0
    ig_completeness: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    model_sha256: str = ""
    method_options: dict = field(default_factory=dict)
    # The data-randomisation check (Adebayo et al., 2018): per method, the median Spearman correlation with the maps
    # of the same architecture trained on shuffled labels (the random-labels variant); empty when not measured.
    data_randomisation_spearman: dict[str, float] = field(default_factory=dict)
    data_randomisation_model: str = ""
    data_randomisation_flat: dict[str, float] = field(default_factory=dict)  # share of the random-label model's maps that are constant (ρ then says nothing)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def data_randomisation(model, random_labels_model, images: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Per method: the median Spearman correlation between this model's map and the random-label model's map of the
    same picture and class (this model's prediction), and the share of the random-label model's maps that are flat
    (a model that learnt nothing can give constant maps, whose correlation of 0 says nothing). A method that explains
    what the model learnt gives maps that differ (towards 0); one that stays high shows the picture more than the model."""
    engine, other = Engine(model), Engine(random_labels_model)
    _, probabilities = engine.predict(model_input(images))
    targets = probabilities.argmax(axis=1)
    rho, flat = {}, {}
    for method in METHODS:
        pairs = [(ranking_map(attribute(engine, image, method, int(t))), ranking_map(attribute(other, image, method, int(t)))) for image, t in zip(images, targets)]
        rho[method] = float(np.median([spearman(a, b) for a, b in pairs]))
        flat[method] = float(np.mean([np.ptp(b) == 0 for _, b in pairs]))
    return rho, flat


def add_data_randomisation(model_path: Path, model, model_sha256: str, random_labels_path: Path, random_labels_model, images: np.ndarray) -> FaithfulnessReport | None:
    """Add the data-randomisation row to a model's stored report (on its randomisation pictures); None without a report."""
    report = load_report(model_path, model_sha256)
    if report is None:
        return None
    report.data_randomisation_spearman, report.data_randomisation_flat = data_randomisation(model, random_labels_model, images[: report.randomisation_images])
    report.data_randomisation_model = Path(random_labels_path).name
    report_path(model_path).write_text(report.to_json())
    return report


def measure(model, images: np.ndarray, randomisation_images: int | None = None, seed: int = 0, progress=None) -> FaithfulnessReport:
    """Every figure of :class:`FaithfulnessReport` for the given uint8 pictures (target: each picture's predicted class)."""
    start = time.perf_counter()
    engine = Engine(model)
    _, probabilities = engine.predict(model_input(images))
    order = randomisation_order(model)
    targets = probabilities.argmax(axis=1)
    rng = np.random.default_rng(seed)
    deletion = {m: [] for m in (*METHODS, "random")}
    insertion = {m: [] for m in (*METHODS, "random")}
    trained_maps = {m: [] for m in METHODS}
    completeness = []
    for i, (image, target) in enumerate(zip(images, targets)):
        for method in METHODS:
            result = attribute(engine, image, method, int(target))
            importance = result.map  # signed maps: the most positive (pushing the class up) first
            d, ins = deletion_insertion(engine, image, importance, int(target))
            deletion[method].append(d)
            insertion[method].append(ins)
            trained_maps[method].append(ranking_map(result))
            if method == "integrated-gradients":
                completeness.append(result.details["completeness_error"])
        d, ins = deletion_insertion(engine, image, rng.random((IMAGE_SIZE, IMAGE_SIZE)), int(target))
        deletion["random"].append(d)
        insertion["random"].append(ins)
        if progress:
            progress("maps", i + 1, len(images))
    n_random = len(images) if randomisation_images is None else min(randomisation_images, len(images))
    spearman_by_stage: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    for depth in range(1, len(order) + 1):
        stage = order[:depth]
        randomised = Engine(randomised_model(model, stage, seed=seed + 100))
        for method in METHODS:
            values = [spearman(trained_maps[method][i], ranking_map(attribute(randomised, images[i], method, int(targets[i])))) for i in range(n_random)]
            spearman_by_stage[method]["+".join(stage)] = float(np.median(values))
        if progress:
            progress("randomisation", depth, len(order))
    completeness = np.asarray(completeness)
    return FaithfulnessReport(
        images=len(images),
        test_indices=[],
        deletion_auc={m: float(np.mean(v)) for m, v in deletion.items()},
        insertion_auc={m: float(np.mean(v)) for m, v in insertion.items()},
        randomisation_spearman=spearman_by_stage,
        randomisation_images=n_random,
        ig_completeness={
            "median": float(np.median(completeness)),
            "p95": float(np.percentile(completeness, 95)),
            "max": float(completeness.max()),
            "share_within_5pct": float((completeness <= 0.05).mean()),
        },
        seconds=round(time.perf_counter() - start, 1),
        method_options={"pixels_per_step": PIXELS_PER_STEP, "blur_sigma": BLUR_SIGMA, "deleted_value": 0.0, "signed_maps_ranked_by": "value (deletion, insertion), |value| (randomisation)", "signed_methods": sorted(k for k, m in METHODS.items() if m.signed)},
    )


def report_path(model_path: Path) -> Path:
    """Where a model's faithfulness report is stored: beside it, ``<name>.faithfulness.json``."""
    return Path(model_path).with_suffix(".faithfulness.json")


def load_report(model_path: Path, model_sha256: str) -> FaithfulnessReport | None:
    """The stored report for this exact model file, or None (missing, unreadable or for other weights)."""
    try:
        data = json.loads(report_path(model_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("model_sha256") != model_sha256:
        return None
    try:
        return FaithfulnessReport(**data)
    except TypeError:
        return None
