"""Linear probes (Alain & Bengio, 2016): how linearly separable are the ten classes after each layer?

For each layer, a multinomial logistic regression (scikit-learn, L2 with C = 1, lbfgs, at most
``MAX_ITER`` iterations) is fitted on the layer's flattened outputs for the first 10,000 training pictures,
each feature standardised on those pictures, and scored on all 10,000 test pictures. The input pixels are
the first row. Dropout and flatten pass values through unchanged at inference, so they share the row of
the layer before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

PROBE_TRAIN = 10_000
MAX_ITER = 300
INPUT = "input"


@dataclass(frozen=True)
class Probe:
    layer: str  # a layer name, or "input"
    features: int
    accuracy: float  # on the test pictures
    train_accuracy: float
    seconds: float
    same_as: str | None = None  # dropout and flatten: the layer whose outputs they pass on

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("layer", "features", "accuracy", "train_accuracy", "seconds", "same_as")}


def protocol(train_images: int = PROBE_TRAIN, test_images: int = 10_000) -> str:
    """The probes' protocol in one sentence (stored with their numbers)."""
    return (
        f"multinomial logistic regression (scikit-learn, C=1, lbfgs, at most {MAX_ITER} iterations) on each layer's flattened "
        f"outputs, standardised, fitted on the first {train_images:,} training pictures and scored on {test_images:,} test pictures"
    )


def standardise(train_x: np.ndarray, test_x: np.ndarray) -> None:
    """Scale each feature to mean 0 and standard deviation 1 on the training pictures, in place (float32: conv1's
    outputs for 10,000 pictures are 865 MB, so no copies), the test pictures with the same numbers."""
    mean = train_x.mean(axis=0, dtype=np.float64).astype(np.float32)
    train_x -= mean
    scale = np.sqrt(np.einsum("ij,ij->j", train_x, train_x, dtype=np.float64) / len(train_x)).astype(np.float32)
    scale[scale == 0] = 1.0
    train_x /= scale
    test_x -= mean
    test_x /= scale


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> tuple[float, float]:
    """(test accuracy, train accuracy) of one standardised logistic-regression probe (the arrays are standardised in place)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    train_x, test_x = np.asarray(train_x, np.float32), np.asarray(test_x, np.float32)
    standardise(train_x, test_x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the iteration cap is part of the protocol
        probe = LogisticRegression(C=1.0, max_iter=MAX_ITER).fit(train_x, train_y)
    return float(probe.score(test_x, test_y)), float(probe.score(train_x, train_y))


def linear_probes(engine, train_images, train_labels, test_images, test_labels, progress=None) -> list[Probe]:
    """One probe per distinct layer output (and the input), in the model's order."""
    report = progress or (lambda share: None)
    probes = []
    started = time.perf_counter()
    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255.0  # noqa: E731
    acc, train_acc = fit_probe(flat(train_images), train_labels, flat(test_images), test_labels)
    probes.append(Probe(INPUT, train_images[0].size, acc, train_acc, time.perf_counter() - started))
    previous = probes[0]
    for i, info in enumerate(engine.infos):
        report(i / len(engine.infos))
        if info.kind in ("dropout", "flatten"):
            probes.append(Probe(info.name, previous.features, previous.accuracy, previous.train_accuracy, 0.0, same_as=previous.same_as or previous.layer))
            continue
        started = time.perf_counter()
        acc, train_acc = fit_probe(engine.layer_features(train_images, info.name), train_labels, engine.layer_features(test_images, info.name), test_labels)
        features = int(np.prod(info.output_shape))
        probes.append(Probe(info.name, features, acc, train_acc, time.perf_counter() - started))
        previous = probes[-1]
    report(1.0)
    return probes
