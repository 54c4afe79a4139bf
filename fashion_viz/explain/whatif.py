"""What-if: edit the picture or switch units off, and say in plain words what changed.

Switching units off uses the engine's unit masks (:meth:`fashion_viz.engine.Engine.unit_masks`), so the
probabilities and every attribution map are recomputed for the changed model in the same call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fashion_viz import CLASS_NAMES, IMAGE_SIZE


@dataclass(frozen=True)
class InputEdit:
    """Changes to the 28x28 picture, applied in this order: geometry, brightness/contrast, invert, noise, erase."""

    shift_x: int = 0  # pixels, + right
    shift_y: int = 0  # pixels, + down
    rotate: float = 0.0  # degrees, + anticlockwise
    scale: float = 1.0
    brightness: int = 0  # added to every pixel (-255..255)
    contrast: float = 1.0  # multiplies every pixel (the background stays black)
    invert: bool = False
    noise: float = 0.0  # Gaussian noise, standard deviation in grey levels
    erase: tuple[int, int, int, int] | None = None  # (top, left, height, width) set to black
    seed: int = 0

    @property
    def is_identity(self) -> bool:
        return self == InputEdit(seed=self.seed)

    def describe(self) -> list[str]:
        parts = []
        if self.shift_x or self.shift_y:
            parts.append(f"shifted {self.shift_x:+d} px across and {self.shift_y:+d} px down")
        if self.rotate:
            parts.append(f"rotated {self.rotate:+g}°")
        if self.scale != 1.0:
            parts.append(f"scaled x{self.scale:g}")
        if self.brightness:
            parts.append(f"brightness {self.brightness:+d}")
        if self.contrast != 1.0:
            parts.append(f"contrast x{self.contrast:g}")
        if self.invert:
            parts.append("inverted")
        if self.noise:
            parts.append(f"noise σ={self.noise:g}")
        if self.erase:
            top, left, h, w = self.erase
            parts.append(f"a {h}x{w} patch erased at row {top}, column {left}")
        return parts


def edit_image(image: np.ndarray, edit: InputEdit) -> np.ndarray:
    """The (28, 28) uint8 picture after ``edit``."""
    picture = Image.fromarray(np.asarray(image, np.uint8))
    if edit.rotate or edit.scale != 1.0 or edit.shift_x or edit.shift_y:
        # Rotate and scale about the centre, then shift; the background stays black.
        angle = np.deg2rad(edit.rotate)
        cos, sin = np.cos(angle) / edit.scale, np.sin(angle) / edit.scale
        cx = cy = (IMAGE_SIZE - 1) / 2
        # Inverse map (output -> input) for Image.transform.
        a, b = cos, -sin
        d, e = sin, cos
        c = cx - a * (cx + edit.shift_x) - b * (cy + edit.shift_y)
        f = cy - d * (cx + edit.shift_x) - e * (cy + edit.shift_y)
        picture = picture.transform(picture.size, Image.Transform.AFFINE, (a, b, c, d, e, f), resample=Image.Resampling.BILINEAR, fillcolor=0)
    values = np.asarray(picture, np.float64)
    values = values * edit.contrast + edit.brightness
    if edit.invert:
        values = 255.0 - values
    if edit.noise:
        values = values + np.random.default_rng(edit.seed).normal(0, edit.noise, values.shape)
    values = np.clip(values, 0, 255)
    if edit.erase:
        top, left, h, w = edit.erase
        values[top : top + h, left : left + w] = 0
    return np.round(values).astype(np.uint8)


def strongest_units(values: np.ndarray, count: int = 5) -> list[int]:
    """The channels (of a map layer) or units (of a vector layer) that respond most to this picture."""
    values = np.asarray(values)
    peak = values.reshape(-1, values.shape[-1]).max(axis=0) if values.ndim == 3 else values
    return [int(k) for k in np.argsort(-peak)[:count]]


def _units_text(off: dict[str, list[int]]) -> str:
    parts = []
    for layer, units in off.items():
        if not units:
            continue
        kind = "units" if layer.startswith("dense") else "channels"
        shown = ", ".join(str(u) for u in sorted(units)[:8]) + (f" and {len(units) - 8} more" if len(units) > 8 else "")
        parts.append(f"{layer} {kind if len(units) > 1 else kind[:-1]} {shown}")
    return " and ".join(parts)


def explain_change(before: np.ndarray, after: np.ndarray, off: dict[str, list[int]], edit: InputEdit) -> str:
    """One sentence: what was changed and what the model now says, against what it said."""
    changes = []
    units = _units_text(off)
    if units:
        changes.append(f"without {units}")
    edits = edit.describe()
    if edits:
        changes.append("with the picture " + ", ".join(edits))
    if not changes:
        return "Nothing is changed yet: switch units off or edit the picture to see what the model makes of it."
    old, new = int(np.argmax(before)), int(np.argmax(after))
    what = " and ".join(changes)
    if old != new:
        return (
            f"{what[0].upper()}{what[1:]}, the model no longer says {CLASS_NAMES[old]} ({before[old]:.1%}): "
            f"it says {CLASS_NAMES[new]} ({after[new]:.1%}; {CLASS_NAMES[old]} now {after[old]:.1%})."
        )
    direction = "more" if after[old] > before[old] else "less"
    return f"{what[0].upper()}{what[1:]}, the model still says {CLASS_NAMES[old]}, {direction} sure: {after[old]:.1%} instead of {before[old]:.1%}."
