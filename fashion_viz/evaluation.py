"""Scoring a model on labelled images: the one home of accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.card import sample_probabilities_entry


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_class_accuracy: list[float]
    confusion: np.ndarray  # (10, 10): rows true class, columns predicted class
    predictions: np.ndarray  # (n,) predicted class per image
    probabilities: np.ndarray  # (n, 10)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(10, 10) counts: row = true class, column = predicted class."""
    n = len(CLASS_NAMES)
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    return np.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)


def per_class_accuracy(confusion: np.ndarray) -> list[float]:
    """Share of each true class classified correctly (0 for a class with no images)."""
    return (np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)).tolist()


def score_predictions(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None = None) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix from predicted classes."""
    labels = np.asarray(labels, dtype=np.int64)
    confusion = confusion_matrix(labels, predictions)
    return Evaluation(
        accuracy=float((np.asarray(predictions) == labels).mean()) if len(labels) else 0.0,
        per_class_accuracy=per_class_accuracy(confusion),
        confusion=confusion,
        predictions=np.asarray(predictions),
        probabilities=probabilities if probabilities is not None else np.zeros((len(labels), len(CLASS_NAMES)), np.float32),
    )


def evaluate(engine, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Score a model (its :class:`fashion_viz.engine.Engine`) on labelled uint8 images."""
    probabilities = engine.probabilities(images)
    return score_predictions(labels, probabilities.argmax(axis=1), probabilities)


def sample_record(engine) -> dict:
    """The card's record of a model's probabilities for the embedded sample pictures (Home draws its first chart
    from it before TensorFlow has loaded), to pass to :func:`fashion_viz.storage.save_model`."""
    from fashion_viz.data import load_sample

    sample = load_sample()
    return sample_probabilities_entry(engine.probabilities(sample.images), sample.images, sample.test_indices)
