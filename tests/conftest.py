"""Shared fixtures: the real dataset, the shipped model, a small trained model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fashion_viz.data import DatasetError, load_fashion_mnist  # noqa: E402

# Strict mode turns a missing dataset or browser into a failure instead of a skip. `.ci/run` sets it
# itself (CI=1), so CI is strict whatever runner calls it; FASHION_VIZ_STRICT=1 does the same by hand.
IN_CI = any(os.environ.get(var, "").lower() in ("1", "true", "yes") for var in ("CI", "FASHION_VIZ_STRICT"))


@pytest.fixture(scope="session")
def fmnist():
    """The real Fashion-MNIST; skipped locally without it, a failure in strict mode (CI installs it)."""
    try:
        return load_fashion_mnist(allow_download=False)
    except DatasetError as exc:
        if IN_CI:
            pytest.fail(f"CI (strict mode) must have the dataset: {exc}")
        pytest.skip(f"Fashion-MNIST not installed ({exc})")


@pytest.fixture(scope="session")
def shipped():
    from fashion_viz.storage import load_checked_model

    return load_checked_model()


@pytest.fixture(scope="session")
def engine(shipped):
    from fashion_viz.engine import Engine

    return Engine(shipped.model)


@pytest.fixture(scope="session")
def sample():
    from fashion_viz.data import load_sample

    return load_sample()


@pytest.fixture()
def model_copy(tmp_path, shipped):
    """A copy of the shipped model and its card in a temp folder (safe to damage)."""
    import shutil

    from fashion_viz.storage import card_path

    target = tmp_path / "model.keras"
    shutil.copy(shipped.path, target)
    shutil.copy(card_path(shipped.path), card_path(target))
    return target


def write_png(path: Path, image: np.ndarray) -> Path:
    from fashion_viz.preprocessing import png_bytes

    path.write_bytes(png_bytes(image))
    return path
