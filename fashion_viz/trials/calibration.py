"""Softmax's probabilities: a valid distribution, yes, but do they mean what they say?

A reliability diagram over the test set (15 equal-width bins of the top class's probability), the expected
calibration error (each bin's |accuracy - mean confidence|, weighted by its share of the pictures), and
temperature scaling (Guo et al., 2017): one number T dividing the logits, fitted on the validation split by
minimising the negative log-likelihood, then the ECE again on the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_viz.explain.arithmetic import softmax_with_temperature

BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Per bin of top-class probability: how many test pictures, their mean confidence and their accuracy."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    confidence: tuple[float | None, ...]
    accuracy: tuple[float | None, ...]
    ece: float

    def to_json(self) -> list[dict]:
        return [
            {"low": lo, "high": hi, "count": n, "confidence": c, "accuracy": a}
            for lo, hi, n, c, a in zip(self.edges[:-1], self.edges[1:], self.counts, self.confidence, self.accuracy)
        ]


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)  # bin i holds (edges[i], edges[i+1]]
    counts, mean_conf, accuracy, ece = [], [], [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        counts.append(n)
        if n:
            c, a = float(confidence[inside].mean()), float(correct[inside].mean())
            ece += n / len(labels) * abs(a - c)
            mean_conf.append(c)
            accuracy.append(a)
        else:
            mean_conf.append(None)
            accuracy.append(None)
    return Reliability(tuple(float(e) for e in edges), tuple(counts), tuple(mean_conf), tuple(accuracy), float(ece))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax_with_temperature(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(p, 1e-300)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the validation split's negative log-likelihood of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


@dataclass(frozen=True)
class Calibration:
    before: Reliability
    after: Reliability
    temperature: float
    validation_images: int
    sum_error: float  # the largest |sum of the ten probabilities - 1| over the test set
    smallest: float  # the smallest probability any class got
    nll_before: float  # test set
    nll_after: float

    def to_json(self) -> dict:
        return {
            "ece": self.before.ece, "bins": self.before.to_json(), "temperature": self.temperature, "ece_after": self.after.ece,
            "bins_after": self.after.to_json(), "validation_images": self.validation_images,
            "test_nll": self.nll_before, "test_nll_after": self.nll_after, "largest_sum_error": self.sum_error, "smallest_probability": self.smallest,
        }


def calibrate(engine, validation: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> Calibration:
    """Fit the temperature on ``validation`` (images, labels) and measure both diagrams on ``test``."""
    from fashion_viz.architecture import model_input

    def logits_and_probabilities(images):
        parts = [engine.predict(model_input(images[i : i + 2000])) for i in range(0, len(images), 2000)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    val_logits, _ = logits_and_probabilities(validation[0])
    test_logits, test_probabilities = logits_and_probabilities(test[0])
    temperature = fit_temperature(val_logits, validation[1])
    return Calibration(
        before=reliability(test_probabilities, test[1]),
        after=reliability(softmax_with_temperature(test_logits, temperature), test[1]),
        temperature=temperature,
        validation_images=len(validation[1]),
        sum_error=float(np.abs(test_probabilities.astype(np.float64).sum(axis=1) - 1).max()),
        smallest=float(test_probabilities.min()),
        nll_before=negative_log_likelihood(test_logits, test[1]),
        nll_after=negative_log_likelihood(test_logits, test[1], temperature),
    )
