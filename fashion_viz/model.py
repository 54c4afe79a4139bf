"""The seed CNN: building it, saving it without optimizer state, loading it safely.

A shipped model is a ``.keras`` file plus a JSON model card beside it
(``fashion_cnn.keras`` + ``fashion_cnn.json``). Loading checks the file's
SHA-256 against the card before Keras ever opens it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_viz import IMAGE_SIZE

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_MODEL = MODELS_DIR / "fashion_cnn.keras"
TRAINED_DIR_VAR = "FASHION_VIZ_MODELS_DIR"
EXPECTED_PARAMS = 225_034
LAYER_NAMES = (
    "conv1",
    "pool1",
    "dropout1",
    "conv2",
    "pool2",
    "dropout2",
    "flatten",
    "dense1",
    "dropout3",
    "predictions",
)
RETRAIN_HINT = (
    "Retrain it on the Train page, or from a terminal with "
    "`python -m fashion_viz train --out models/fashion_cnn.keras`."
)


class ModelError(Exception):
    """A model file is missing, corrupt, or not the seed architecture; the message says how to retrain."""


@dataclass
class LoadedModel:
    """A checked model with its card and where it came from."""

    model: Any  # keras.Model
    card: dict
    path: Path
    shipped: bool = field(default=False)

    @property
    def test_accuracy(self) -> float | None:
        return self.card.get("test_accuracy")


def build_model(dtype_policy: str | None = None):
    """The seed architecture, exactly: 225,034 parameters, layers named for diagrams.

    Args:
        dtype_policy: e.g. ``"mixed_bfloat16"`` for faster CPU training; the
            softmax output always stays float32 so probabilities are exact.
    """
    import keras
    from keras import layers

    kw = {"dtype": dtype_policy} if dtype_policy else {}
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="image"),
            layers.Conv2D(32, (3, 3), activation="relu", name="conv1", **kw),
            layers.MaxPooling2D((2, 2), name="pool1", **kw),
            layers.Dropout(0.3, name="dropout1", **kw),
            layers.Conv2D(64, (3, 3), activation="relu", name="conv2", **kw),
            layers.MaxPooling2D((2, 2), name="pool2", **kw),
            layers.Dropout(0.3, name="dropout2", **kw),
            layers.Flatten(name="flatten", **kw),
            layers.Dense(128, activation="relu", name="dense1", **kw),
            layers.Dropout(0.5, name="dropout3", **kw),
            layers.Dense(10, activation="softmax", name="predictions", dtype="float32"),
        ],
        name="fashion_cnn",
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


def pending_card_path(model_path: Path) -> Path:
    """Where :func:`save_model` puts the new card until the new model file is in place."""
    return Path(model_path).with_suffix(".json.next")


def _finish_interrupted_save(path: Path, digest: str) -> dict | None:
    """If a save was interrupted after the model was renamed in, its pending card matches: complete it."""
    pending = pending_card_path(path)
    try:
        card = json.loads(pending.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or card.get("model_sha256") != digest:
        return None
    try:
        os.replace(pending, card_path(path))
    except OSError:
        pass  # read-only folder: the pending card still vouches for the file
    return card


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a model file should be readable like any other
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model, path: Path, card: dict) -> dict:
    """Save weights-only (a fresh float32 copy, so no optimizer state) and the card, both atomically.

    The card gets the model file's SHA-256. The model file is renamed into place
    before the card, and loading refuses a file whose hash is not in its card,
    so a crash in between never yields a half-written model that passes its check.
    """

    path = Path(path)
    clean = build_model()
    clean.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        tmp_model = Path(tmp) / "model.keras"
        clean.save(tmp_model)
        data = tmp_model.read_bytes()
    del clean
    card = dict(card, model_file=path.name, model_sha256=hashlib.sha256(data).hexdigest(), model_bytes=len(data))
    # Journal: the new card is written beside the old one first, then the model, then the card.
    # A crash at any point leaves a pair that passes its check (see load_checked_model).
    pending = pending_card_path(path)
    atomic_write_bytes(pending, json.dumps(card, indent=2).encode())
    atomic_write_bytes(path, data)
    os.replace(pending, card_path(path))
    return card


def read_card(model_path: Path) -> dict:
    path = card_path(model_path)
    if not path.is_file():
        raise ModelError(f"The model card {path} is missing, so {Path(model_path).name} cannot be checked. {RETRAIN_HINT}")
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"The model card {path} is unreadable ({exc}). {RETRAIN_HINT}") from exc
    if not isinstance(card, dict) or "model_sha256" not in card:
        raise ModelError(f"The model card {path} has no model checksum. {RETRAIN_HINT}")
    return card


def load_checked_model(path: Path = SHIPPED_MODEL) -> LoadedModel:
    """Load a model file only after its SHA-256 matches its card; ``safe_mode`` stays on.

    Raises:
        ModelError: missing file, checksum mismatch, unreadable file, or wrong architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"No model file at {path}. {RETRAIN_HINT}")
    digest = file_sha256(path)
    try:
        card = read_card(path)
    except ModelError:
        card = _finish_interrupted_save(path, digest)
        if card is None:
            raise
    if digest != card["model_sha256"]:
        card = _finish_interrupted_save(path, digest) or card
    if digest != card["model_sha256"]:
        raise ModelError(
            f"{path.name} does not match its model card (SHA-256 {digest[:12]}…, card says "
            f"{card['model_sha256'][:12]}…): the file is corrupt or was changed. {RETRAIN_HINT}"
        )
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad archive
        raise ModelError(f"{path.name} could not be read as a Keras model ({type(exc).__name__}). {RETRAIN_HINT}") from exc
    names = tuple(layer.name for layer in model.layers)
    if names != LAYER_NAMES or model.count_params() != EXPECTED_PARAMS:
        raise ModelError(f"{path.name} is not the seed architecture (layers {names}). {RETRAIN_HINT}")
    return LoadedModel(model=model, card=card, path=path, shipped=path.resolve() == SHIPPED_MODEL.resolve())


def trained_models_dir() -> Path:
    """Where newly trained models are saved: ``$FASHION_VIZ_MODELS_DIR`` (e.g. a writable volume), else ``models/``."""
    return Path(os.environ.get(TRAINED_DIR_VAR) or MODELS_DIR)


def list_model_files() -> list[Path]:
    """Model files with a card in ``models/`` and the trained-models folder: shipped first, then newest first."""
    folders = {MODELS_DIR.resolve(), trained_models_dir().resolve()}
    files = {p.resolve() for folder in folders for p in folder.glob("*.keras") if card_path(p).is_file()}
    return sorted(files, key=lambda p: (p != SHIPPED_MODEL.resolve(), -p.stat().st_mtime))
