"""Where a picture sits among all the others: the last hidden layer's representation projected to 2-D.

The activations (after ReLU) of the last hidden dense layer (:func:`map_layer`: dense1's 128 in the
seed) of the 10,000 test images are the model's own description of each picture. The map projects them to 2-D once
per model with openTSNE (measured on the 2-core machine: about 20 s to fit;
PCA is the instant fallback, and what the tests use on small sets), and is
stored beside the model as ``<stem>.embedding.npz``.

A new picture is placed the way openTSNE initialises new points
(``prepare_partial(initialization="median")``): at the median map position
of its 10 nearest test images in the 128-d space. That takes about a
millisecond, where openTSNE's own ``transform`` optimises for about a second
and UMAP's first ``transform`` compiles for a minute; its neighbours are
exactly the ones shown as "the model thinks your photo looks like these".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_viz.storage import read_model_companion, write_model_companion

NEIGHBOURS = 10
METHODS = ("tsne", "pca")
EMBEDDING_VERSION = 1
TSNE_PERPLEXITY = 30
SEED = 0


@dataclass(frozen=True)
class EmbeddingMap:
    """The stored 2-D map of the test set for one model."""

    model_sha256: str
    method: str
    xy: np.ndarray  # (n, 2) float32 map positions of the test images
    seconds: float = 0.0  # time to fit the projection

    @property
    def width(self) -> float:
        """The map's extent along x (the unit of the placement check's 2 % tolerance)."""
        return float(np.ptp(self.xy[:, 0]))


@dataclass(frozen=True)
class Placement:
    """A picture placed on the map: its position, and its nearest test images in the 128-d space."""

    xy: np.ndarray  # (2,)
    neighbours: np.ndarray  # (10,) test indices, nearest first
    distances: np.ndarray  # (10,) Euclidean distances in the map layer's space


def embedding_path(model_path: Path) -> Path:
    """Where a model's map is stored: beside it, ``<stem>.embedding.npz``."""
    return Path(model_path).with_suffix(".embedding.npz")


def map_layer(engine) -> str:
    """The layer whose outputs the map projects: the last hidden dense layer (dense1 in the seed), else flatten."""
    return engine.dense_names[-1] if engine.dense_names else "flatten"


def map_features(engine, images: np.ndarray) -> np.ndarray:
    """(n, width) the map layer's outputs (after ReLU, eval mode) for many pictures: from the engine's shared pass."""
    shared = engine.dataset_pass(images)
    if engine.dense_names:
        return np.maximum(shared.dense[map_layer(engine)], 0).astype(np.float32)
    return np.asarray(shared.head_input, np.float32)


def fit_map(features: np.ndarray, method: str = "tsne", seed: int = SEED, n_jobs: int = 2) -> np.ndarray:
    """(n, 2) map positions: openTSNE (PCA-initialised, so reruns agree) or plain PCA (also when the features
    spread in fewer than two directions)."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pca = (centred @ vt[:2].T).astype(np.float32)
    # t-SNE needs two directions of spread: openTSNE's PCA start divides by their size. A model that learnt nothing
    # (the random-label variants) gives every picture the same vector, and openTSNE then crashed the whole process.
    if method == "pca" or not (pca.std(axis=0) > 1e-6).all():
        return pca
    from openTSNE import TSNE

    embedding = TSNE(
        n_components=2,
        perplexity=TSNE_PERPLEXITY,
        initialization="pca",
        random_state=seed,
        n_jobs=n_jobs,
        verbose=False,
    ).fit(features)
    return np.asarray(embedding, np.float32)


def build_map(engine, images: np.ndarray, model_sha256: str = "", method: str = "tsne") -> EmbeddingMap:
    started = time.perf_counter()
    xy = fit_map(map_features(engine, images), method)
    return EmbeddingMap(model_sha256, method, xy, time.perf_counter() - started)


class NeighbourIndex:
    """Exact nearest neighbours among the test images' map-layer vectors (10,000 x 128 in the seed: a matrix product)."""

    def __init__(self, features: np.ndarray):
        self.features = np.asarray(features, np.float32)
        self.squared_norms = (self.features**2).sum(axis=1)

    def query(self, vectors: np.ndarray, k: int = NEIGHBOURS, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances), each (m, k), nearest first; ``exclude[i]`` (a test index or -1) is left out of row i."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        squared = self.squared_norms[None] - 2 * vectors @ self.features.T + (vectors**2).sum(axis=1)[:, None]
        if exclude is not None:
            rows = np.flatnonzero(np.asarray(exclude) >= 0)
            squared[rows, np.asarray(exclude)[rows]] = np.inf
        part = np.argpartition(squared, k, axis=1)[:, :k]
        order = np.take_along_axis(squared, part, axis=1).argsort(axis=1, kind="stable")
        indices = np.take_along_axis(part, order, axis=1)
        distances = np.sqrt(np.maximum(np.take_along_axis(squared, indices, axis=1), 0))
        return indices, distances


def place(index: NeighbourIndex, xy: np.ndarray, vectors: np.ndarray, exclude: np.ndarray | None = None) -> list[Placement]:
    """Place pictures (their map-layer vectors) on the map: the median position of their 10 nearest test images."""
    indices, distances = index.query(vectors, exclude=exclude)
    return [Placement(np.median(xy[row], axis=0), row, dist) for row, dist in zip(indices, distances)]


def majority_label(labels: np.ndarray) -> int:
    """The most common label among neighbours (ties: the one that appears first, i.e. the nearest)."""
    counts = np.bincount(labels, minlength=10)
    best = np.flatnonzero(counts == counts.max())
    return int(next(label for label in labels if label in best))


def save_map(emap: EmbeddingMap, path: Path) -> None:
    write_model_companion(path, EMBEDDING_VERSION, emap.model_sha256, method=np.array(emap.method), xy=emap.xy.astype(np.float32), seconds=np.float32(emap.seconds))


def load_map(path: Path, model_sha256: str | None = None) -> EmbeddingMap | None:
    """The stored map, or None when missing, unreadable, of another version or of another model file."""
    values = read_model_companion(path, EMBEDDING_VERSION, model_sha256)
    if values is None:
        return None
    return EmbeddingMap(values["model_sha256"], str(values["method"]), values["xy"], float(values["seconds"]))


def placement_checks(index: NeighbourIndex, emap: EmbeddingMap, labels: np.ndarray, predictions: np.ndarray, sample: np.ndarray) -> dict:
    """The map's checks on test images: placed by the stored transform, how far each lands from its
    stored position (share within 2 % of the map's width, median), and how often the majority label
    of its 10 nearest *other* test images equals the model's prediction."""
    sample = np.asarray(sample)
    placed = place(index, emap.xy, index.features[sample])
    error = np.array([np.linalg.norm(p.xy - emap.xy[i]) for p, i in zip(placed, sample)]) / emap.width
    others, _ = index.query(index.features[sample], exclude=sample)
    majority = np.array([majority_label(labels[row]) for row in others])
    return {
        "within_2pct_share": float((error <= 0.02).mean()),
        "median_error_share": float(np.median(error)),
        "majority_equals_prediction": float((majority == predictions[sample]).mean()),
        "images": int(len(sample)),
    }
