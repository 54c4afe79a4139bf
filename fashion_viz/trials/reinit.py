"""Which layers matter: put one layer back to an earlier state and see what is left (Zhang, Bengio & Singer, 2019).

For each weighted layer on its own, its weights (kernel and bias) are replaced by (a) the weights it had
before training (stored when the model was trained), (b) a fresh random draw of the same initialiser, or
(c) its weights after the first epoch, and the model, otherwise unchanged, is scored on the test set. A
layer is *robust* when putting it back to its starting weights keeps the accuracy within
``ROBUST_POINTS`` of the trained model's, *critical* otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROBUST_POINTS = 0.05
STATES = ("start", "fresh", "epoch1")
STATE_TEXT = {"start": "its weights before training", "fresh": "a fresh random draw", "epoch1": "its weights after epoch 1"}


@dataclass(frozen=True)
class Reinitialisation:
    trained: float  # test accuracy of the model as trained
    accuracy: dict  # layer -> state -> test accuracy (a state missing where no checkpoint is stored)
    images: int

    def robust(self, layer: str) -> bool | None:
        start = self.accuracy[layer].get("start", self.accuracy[layer].get("fresh"))
        return None if start is None else self.trained - start <= ROBUST_POINTS

    def to_json(self) -> dict:
        return {"trained": self.trained, "accuracy": self.accuracy, "images": self.images, "robust": {layer: self.robust(layer) for layer in self.accuracy}}


def _accuracy(model, images, labels) -> float:
    from fashion_viz.engine import Engine

    from fashion_viz.evaluation import evaluate

    engine = Engine(model)
    try:
        return evaluate(engine, images, labels).accuracy
    finally:
        engine.close()


def reinitialise(engine, checkpoints: dict | None, images: np.ndarray, labels: np.ndarray, initializer: str = "glorot_uniform", seed: int = 1234) -> Reinitialisation:
    """Score the model with each weighted layer, one at a time, set to each available earlier state."""
    from fashion_viz.architecture import build_model, spec_of_model

    model = engine.model
    spec = spec_of_model(model)
    trained = model.get_weights()
    fresh = build_model(spec, seed=seed, initializer=initializer).get_weights()
    states = {"fresh": fresh, **(checkpoints or {})}
    copy = build_model(spec)
    slots, position = {}, 0  # layer -> indices of its kernel and bias in get_weights()
    for layer in model.layers:
        count = len(layer.get_weights())
        if count:
            slots[layer.name] = (position, position + 1)
        position += count
    accuracy: dict = {}
    for name, (k, b) in slots.items():
        accuracy[name] = {}
        for state in STATES:
            if state not in states:
                continue
            weights = list(trained)
            weights[k], weights[b] = states[state][k], states[state][b]
            copy.set_weights(weights)
            accuracy[name][state] = _accuracy(copy, images, labels)
    from fashion_viz.evaluation import evaluate

    return Reinitialisation(evaluate(engine, images, labels).accuracy, accuracy, len(labels))
