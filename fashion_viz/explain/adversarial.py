"""Adversarial examples: how few grey levels it takes to make the model say something else.

FGSM (Goodfellow et al., 2015) moves every pixel by ε in the direction that raises the loss of the model's
answer (or, towards a class, lowers that class's loss); PGD (Madry et al., 2018) takes ``steps`` smaller
steps of 2.5ε/steps, each projected back into the ε-box around the picture. ε is in grey levels (0-255),
and every result is rounded to whole grey levels and clipped to the box again, so the 8-bit picture that is
scored (and written by the CLI) changes no pixel by more than ε.

The smallest ε that flips the answer is found for all whole ε up to a limit at once (one batch, one ε per
row) rather than by bisection: exact among whole grey levels, and one attack's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import PIXEL_MAX, model_input

METHODS = ("fgsm", "pgd")
MAX_EPS = 32  # grey levels: the lab's range, and the smallest-change search's limit
PGD_STEPS = 20
PGD_STEP_SHARE = 2.5  # each PGD step is this share of ε / steps


@dataclass(frozen=True)
class Attack:
    """One attack on one picture: what the model said before and after, and the 8-bit picture it saw."""

    method: str
    eps: int  # grey levels
    steps: int
    target: int | None  # the class it was pushed towards; None: away from the model's answer
    original: np.ndarray  # (28, 28) uint8
    adversarial: np.ndarray  # (28, 28) uint8
    probabilities_before: np.ndarray  # (10,)
    probabilities_after: np.ndarray  # (10,)

    @property
    def original_class(self) -> int:
        return int(np.argmax(self.probabilities_before))

    @property
    def adversarial_class(self) -> int:
        return int(np.argmax(self.probabilities_after))

    @property
    def linf(self) -> int:
        """The largest change of any pixel, in grey levels."""
        return int(np.abs(self.adversarial.astype(int) - self.original.astype(int)).max())

    @property
    def succeeded(self) -> bool:
        if self.target is None:
            return self.adversarial_class != self.original_class
        return self.adversarial_class == self.target


def _perturb(engine, image: np.ndarray, eps: np.ndarray, method: str, steps: int, label: int, towards: bool) -> tuple[np.ndarray, np.ndarray]:
    """(adversarial pictures (k, 28, 28) uint8, their probabilities (k, 10)), one per ε in ``eps``: the loss of
    ``label`` pushed up (away from the model's answer) or, ``towards`` it, down."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    eps = np.asarray(eps, np.float32)
    x0 = np.repeat(model_input(image), len(eps), axis=0)
    box = (eps / PIXEL_MAX)[:, None, None, None]
    labels = np.full(len(eps), label, np.int32)
    sign = -1.0 if towards else 1.0
    x = x0.copy()
    for _ in range(1 if method == "fgsm" else steps):
        grad = engine.loss_gradients(x, labels)[2][..., None]
        step = box if method == "fgsm" else box * PGD_STEP_SHARE / steps
        x = np.clip(np.clip(x + sign * step * np.sign(grad), x0 - box, x0 + box), 0.0, 1.0)
    grey = image.astype(np.float32)[None]
    adversarial = np.clip(np.round(x[..., 0] * PIXEL_MAX), grey - eps[:, None, None], grey + eps[:, None, None])
    adversarial = np.clip(adversarial, 0, 255).astype(np.uint8)
    return adversarial, engine.probabilities(adversarial)


def attack(engine, image: np.ndarray, method: str = "fgsm", eps: int = 8, steps: int = PGD_STEPS, target: int | None = None) -> Attack:
    """One attack on a (28, 28) uint8 picture with ε ``eps`` grey levels (``steps``: PGD's)."""
    if not 0 <= eps <= 255:
        raise ValueError(f"ε must be between 0 and 255 grey levels, not {eps}")
    if target is not None and not 0 <= target < len(CLASS_NAMES):
        raise ValueError(f"target must be a class number 0-{len(CLASS_NAMES) - 1}")
    image = np.asarray(image, np.uint8)
    before = engine.probabilities(image)[0]
    label = int(np.argmax(before)) if target is None else target
    adversarial, probabilities = _perturb(engine, image, [eps], method, steps, label, towards=target is not None)
    return Attack(method, int(eps), steps if method == "pgd" else 1, target, image, adversarial[0], before, probabilities[0])


def smallest_eps(engine, image: np.ndarray, method: str, steps: int = PGD_STEPS, target: int | None = None, limit: int = MAX_EPS) -> int | None:
    """The fewest whole grey levels for which the attack changes the answer (or reaches ``target``); None up to ``limit``."""
    image = np.asarray(image, np.uint8)
    answer = int(np.argmax(engine.probabilities(image)[0]))
    eps = np.arange(1, limit + 1)
    _, probabilities = _perturb(engine, image, eps, method, steps, answer if target is None else target, towards=target is not None)
    predicted = probabilities.argmax(axis=1)
    flipped = predicted != answer if target is None else predicted == target
    for candidate in eps[flipped]:  # confirmed alone, as attack() makes it: a batch can round a gradient's sign otherwise
        if attack(engine, image, method, int(candidate), steps, target).succeeded:
            return int(candidate)
    return None


def smallest_changes(engine, image: np.ndarray, steps: int = PGD_STEPS, limit: int = MAX_EPS) -> dict:
    """"How many grey levels it takes": FGSM and PGD away from the answer, and PGD towards each other class."""
    answer = int(np.argmax(engine.probabilities(np.asarray(image, np.uint8))[0]))
    table = {"fgsm": smallest_eps(engine, image, "fgsm", limit=limit), "pgd": smallest_eps(engine, image, "pgd", steps, limit=limit)}
    table["towards"] = {CLASS_NAMES[c]: smallest_eps(engine, image, "pgd", steps, c, limit) for c in range(len(CLASS_NAMES)) if c != answer}
    return table
