"""Regenerate ``fashion_viz/sample.npz``, the embedded sample of real test images (20 per class).

    python tools/write_sample.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_viz import CLASS_NAMES  # noqa: E402
from fashion_viz.data import SAMPLE_PATH, FashionMNIST, load_fashion_mnist  # noqa: E402


def write_sample(data: FashionMNIST, per_class: int = 20, path: Path = SAMPLE_PATH, seed: int = 0) -> Path:
    """Pick ``per_class`` test images of each class and save them compressed (for shipping)."""
    rng = np.random.default_rng(seed)
    indices = np.concatenate(
        [np.sort(rng.choice(np.flatnonzero(data.y_test == c), per_class, replace=False)) for c in range(len(CLASS_NAMES))]
    )
    np.savez_compressed(path, images=data.x_test[indices], labels=data.y_test[indices], test_indices=indices)
    return path


if __name__ == "__main__":
    print(write_sample(load_fashion_mnist()))
