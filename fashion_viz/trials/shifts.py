"""Tolerance to small shifts: does the answer survive moving the picture 1-3 pixels?

The seed's document says pooling keeps "the most important features" while halving the maps; one thing
that should follow is that a picture moved by a pixel or two gets the same answer. Each test picture is
moved up, down, left and right (the uncovered edge filled with the background's 0) and classified again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHIFTS = (1, 2, 3)  # pixels
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def shifted(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``images`` (n, 28, 28) moved by (rows, cols) pixels, the uncovered edge set to 0."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = images[:, max(-rows, 0) : h + min(-rows, 0), max(-cols, 0) : w + min(-cols, 0)]
    return out


@dataclass(frozen=True)
class ShiftTolerance:
    """Per shift in pixels (averaged over the four directions): the share of pictures whose answer is the
    unshifted picture's, and the mean change of the true class's probability."""

    shifts: tuple[int, ...]
    agreement: tuple[float, ...]
    true_probability_change: tuple[float, ...]
    images: int

    def to_json(self) -> dict:
        return {"shifts": list(self.shifts), "agreement": list(self.agreement), "true_probability_change": list(self.true_probability_change), "images": self.images}

    @classmethod
    def from_json(cls, data: dict) -> "ShiftTolerance":
        return cls(tuple(data["shifts"]), tuple(data["agreement"]), tuple(data["true_probability_change"]), int(data["images"]))


def shift_tolerance(engine, images: np.ndarray, labels: np.ndarray, shifts=SHIFTS) -> ShiftTolerance:
    base = engine.probabilities(images)
    answer, rows = base.argmax(axis=1), np.arange(len(labels))
    agreement, change = [], []
    for pixels in shifts:
        moved = [engine.probabilities(shifted(images, dr * pixels, dc * pixels)) for dr, dc in DIRECTIONS]
        agreement.append(float(np.mean([(p.argmax(axis=1) == answer).mean() for p in moved])))
        change.append(float(np.mean([(p[rows, labels] - base[rows, labels]).mean() for p in moved])))
    return ShiftTolerance(tuple(shifts), tuple(agreement), tuple(change), len(labels))
