"""The first convolution's filters: edge detectors, as the seed's document says?

Two looks at each filter of the first conv layer:

* its kernel matched against small templates of its own size (cosine similarity): oriented edges (a ramp
  across the window, 8 directions: an edge has a dark and a bright side), lines (a bright or dark stroke
  through the centre, 4 orientations), a centre-surround blob (bright or dark) and a uniform patch (bright
  or dark: a brightness detector);
* its responses to 28x28 synthetic pictures, tuning curves: straight edges through the centre in 8 directions (the
  mean of the filter's map over a central disk, which every edge crosses over the same length) and sinusoidal
  gratings at 8 orientations and ``PERIODS`` (4 phases each; the mean of the whole map). The strongest value
  anywhere in the map would not do: a 3x3 filter reaches its best on a corner of a diagonal edge as on a
  straight one.

A filter is called a *clearly oriented edge detector* when its best template is an edge with cosine at least
``EDGE_COSINE`` and its edge tuning curve is selective for direction (``selectivity`` at least
``EDGE_SELECTIVITY``: the length of the mean response vector over the 8 directions, 0 for a filter that answers
every direction alike, 1 for one that answers only one). Both thresholds were set before looking at the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_COSINE = 0.7
EDGE_SELECTIVITY = 0.3
DIRECTIONS = tuple(range(0, 360, 45))  # degrees; 0 = bright on the right, counter-clockwise
ORIENTATIONS = tuple(np.arange(0, 180, 22.5).tolist())
PERIODS = (3, 4, 6, 8, 12)  # pixels per cycle
PHASES = 4
SIZE = 28


def _coordinates(k: int):
    c = (k - 1) / 2
    y, x = np.mgrid[0:k, 0:k].astype(float)
    return x - c, c - y  # x to the right, y upwards


def templates(k: int) -> list[tuple[str, float | None, int, np.ndarray]]:
    """(kind, angle in degrees or None, sign, unit-length k x k template) for every template of size k."""
    x, y = _coordinates(k)
    out = []
    for angle in DIRECTIONS:
        t = np.cos(np.radians(angle)) * x + np.sin(np.radians(angle)) * y
        out.append(("edge", float(angle), 1, t))
    for angle in (0, 45, 90, 135):  # a line along this orientation
        distance = -np.sin(np.radians(angle)) * x + np.cos(np.radians(angle)) * y
        line = np.exp(-(distance**2) / 0.5)
        for sign in (1, -1):
            out.append(("line", float(angle), sign, sign * (line - line.mean())))
    blob = np.exp(-(x**2 + y**2) / 1.0)
    for sign in (1, -1):
        out.append(("blob", None, sign, sign * (blob - blob.mean())))
        out.append(("uniform", None, sign, sign * np.ones((k, k))))
    return [(kind, angle, sign, t / np.linalg.norm(t)) for kind, angle, sign, t in out]


DISK = 8  # pixels: edge responses are averaged over the map's positions within this radius of the centre

def edge_picture(angle: float) -> np.ndarray:
    """A 28x28 picture in [0, 1]: dark (0) on one side of a straight edge through the centre, bright (1) on the side ``angle`` points to."""
    x, y = _coordinates(SIZE)
    return (np.cos(np.radians(angle)) * x + np.sin(np.radians(angle)) * y > 0).astype(np.float32)


def central_disk(map_size: int, kernel: int, stride: int = 1) -> np.ndarray:
    """(map_size * map_size,) bool: the positions of a conv map whose window is centred within DISK pixels of the
    picture's centre. An edge through the centre crosses that disk over the same length in every direction."""
    centres = np.arange(map_size) * stride + (kernel - 1) / 2 - (SIZE - 1) / 2
    return ((centres[:, None] ** 2 + centres[None, :] ** 2) <= DISK**2).reshape(-1)


def grating(orientation: float, period: float, phase: float) -> np.ndarray:
    """A 28x28 sinusoidal grating in [0, 1] whose stripes run along ``orientation`` degrees."""
    x, y = _coordinates(SIZE)
    across = -np.sin(np.radians(orientation)) * x + np.cos(np.radians(orientation)) * y
    return (0.5 + 0.5 * np.sin(2 * np.pi * across / period + phase)).astype(np.float32)


def direction_selectivity(responses: np.ndarray, angles_degrees) -> float:
    """|sum r e^(i angle)| / sum r: 0 when every direction gets the same response, 1 when only one does."""
    r = np.clip(np.asarray(responses, float), 0, None)
    if r.sum() <= 0:
        return 0.0
    return float(abs((r * np.exp(1j * np.radians(angles_degrees))).sum()) / r.sum())


@dataclass(frozen=True)
class FilterMatch:
    filter: int
    kind: str  # the best template's kind
    angle: float | None
    sign: int
    cosine: float
    edge_responses: tuple[float, ...]  # per DIRECTIONS
    selectivity: float
    preferred_direction: float
    grating_responses: tuple[tuple[float, ...], ...]  # per PERIODS, per ORIENTATIONS
    preferred_period: float
    oriented_edge: bool

    def to_json(self) -> dict:
        return {
            "filter": self.filter, "template": self.kind, "angle": self.angle, "sign": self.sign, "cosine": self.cosine,
            "edge_responses": list(self.edge_responses), "selectivity": self.selectivity, "preferred_direction": self.preferred_direction,
            "grating_responses": [list(r) for r in self.grating_responses], "preferred_period": self.preferred_period, "oriented_edge": self.oriented_edge,
        }


@dataclass(frozen=True)
class FilterReport:
    layer: str
    matches: tuple[FilterMatch, ...]

    @property
    def edge_share(self) -> float:
        return float(np.mean([m.oriented_edge for m in self.matches]))

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.matches:
            counts[m.kind] = counts.get(m.kind, 0) + 1
        return counts

    def to_json(self) -> dict:
        return {"layer": self.layer, "edge_share": self.edge_share, "kinds": self.kind_counts(), "filters": [m.to_json() for m in self.matches],
                "thresholds": {"cosine": EDGE_COSINE, "selectivity": EDGE_SELECTIVITY}}


def first_layer_filters(engine) -> FilterReport:
    """Templates and tuning curves for every filter of the model's first conv layer."""
    layer = engine.conv_names[0]
    kernels = engine.kernels(layer)[:, :, 0, :]  # (k, k, filters)
    k = kernels.shape[0]
    bank = templates(k)
    edges = np.stack([edge_picture(a) for a in DIRECTIONS])
    gratings = np.stack([grating(o, p, 2 * np.pi * i / PHASES) for p in PERIODS for o in ORIENTATIONS for i in range(PHASES)])
    edge_maps = engine.layer_features((edges * 255).round().astype(np.uint8), layer).reshape(len(edges), -1, kernels.shape[-1])
    grating_maps = engine.layer_features((gratings * 255).round().astype(np.uint8), layer).reshape(len(gratings), -1, kernels.shape[-1])
    side = engine.info(layer).output_shape[0]
    edge_response = edge_maps[:, central_disk(side, k, engine.conv_strides[layer])].mean(axis=1)  # (directions, filters)
    grating_response = grating_maps.mean(axis=1).reshape(len(PERIODS), len(ORIENTATIONS), PHASES, -1).mean(axis=2)
    matches = []
    for f in range(kernels.shape[-1]):
        kernel = kernels[:, :, f]
        norm = np.linalg.norm(kernel) or 1.0
        cosines = [float((t * kernel).sum() / norm) for _, _, _, t in bank]
        best = int(np.argmax(cosines))
        kind, angle, sign, _ = bank[best]
        responses = edge_response[:, f]
        selectivity = direction_selectivity(responses, DIRECTIONS)
        tuned = grating_response[:, :, f]
        matches.append(
            FilterMatch(
                filter=f, kind=kind, angle=angle, sign=sign, cosine=cosines[best],
                edge_responses=tuple(float(r) for r in responses), selectivity=selectivity,
                preferred_direction=float(DIRECTIONS[int(np.argmax(responses))]),
                grating_responses=tuple(tuple(float(v) for v in row) for row in tuned),
                preferred_period=float(PERIODS[int(np.argmax(tuned.max(axis=1)))]),
                oriented_edge=kind == "edge" and cosines[best] >= EDGE_COSINE and selectivity >= EDGE_SELECTIVITY,
            )
        )
    order = sorted(matches, key=lambda m: (["edge", "line", "blob", "uniform"].index(m.kind), m.angle if m.angle is not None else 0, -m.cosine))
    return FilterReport(layer, tuple(order))
