"""A model's card: what it scores, how it was trained and chosen, and the checksum of its file.

Stored as JSON beside the model (``fashion_cnn.keras`` + ``fashion_cnn.json``). It also keeps the model's
exact probabilities for the embedded sample pictures, so the Home page can draw its first chart before
TensorFlow has loaded on a new server.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from fashion_viz import CLASS_NAMES


@dataclass
class ModelCard:
    """What a model scores, how it was trained and selected, and the checksum of its file.

    Stored as JSON beside the model; keys this version does not know are kept in
    ``extra`` and written back unchanged.
    """

    model_sha256: str = ""
    model_file: str = ""
    model_bytes: int = 0
    name: str = "fashion_cnn"
    created: str = ""
    test_accuracy: float | None = None
    test_images: int = 0
    per_class_accuracy: dict[str, float] = field(default_factory=dict)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    validation_accuracy: float | None = None
    validation_images: int = 0
    train_accuracy: float | None = None  # on the training part of the split, at inference (no dropout): the fit it reached
    history: list[dict] = field(default_factory=list)
    epochs_run: int = 0
    cancelled: bool = False
    config: dict = field(default_factory=dict)
    schedule: str = ""
    selection: dict | None = None  # how the schedule was chosen (validation only) and the candidates' scores
    training_seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    machine: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    notes: str = ""
    parameters: int = 0
    spec: str = ""  # the architecture (fashion_viz.architecture's SPEC); empty in cards written before SPECs: the seed
    # One sentence on where the test accuracy comes from and how the schedule was chosen, shown beside it.
    test_protocol: str = ""
    # The model's probabilities for each embedded sample picture ({"sample_sha256", "float32_base64"}), written when
    # the model is saved: the Home page draws its chart from them before TensorFlow has loaded on a new server.
    sample_probabilities: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelCard":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode()


def accuracy_protocol(card: ModelCard) -> str:
    """How the card's test accuracy was measured, for the Home and Evaluate pages: the card's own sentence
    (the shipped model's tells how its schedule was chosen), else what holds for any model trained here."""
    if card.test_accuracy is None:
        return "This model has no test accuracy on record."
    return card.test_protocol or f"Measured on the {card.test_images:,} Fashion-MNIST test images after training with the settings chosen on the Train page."


def sample_fingerprint(images: np.ndarray, test_indices: np.ndarray) -> str:
    """SHA-256 of the embedded sample's pictures and test indices: stored probabilities are only used for this sample."""
    digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(test_indices, dtype=np.int64).tobytes())
    return digest.hexdigest()


def sample_probabilities_entry(probabilities: np.ndarray, images: np.ndarray, test_indices: np.ndarray) -> dict:
    """The card's record of a model's output (``probabilities``, (n, 10)) for the embedded sample pictures (float32, exact)."""
    values = np.ascontiguousarray(probabilities, dtype=np.float32)
    if values.shape != (len(images), len(CLASS_NAMES)):
        raise ValueError(f"expected ({len(images)}, {len(CLASS_NAMES)}) sample probabilities, got {values.shape}")
    return {"sample_sha256": sample_fingerprint(images, test_indices), "float32_base64": base64.b64encode(values.tobytes()).decode("ascii")}


def stored_sample_probabilities(card: ModelCard, images: np.ndarray, test_indices: np.ndarray) -> np.ndarray | None:
    """(n, 10) probabilities the card stores for this sample, or None (none stored, another sample, unreadable)."""
    entry = card.sample_probabilities
    if not isinstance(entry, dict) or entry.get("sample_sha256") != sample_fingerprint(images, test_indices):
        return None
    try:
        values = np.frombuffer(base64.b64decode(entry["float32_base64"], validate=True), dtype=np.float32)
        return values.reshape(len(images), len(CLASS_NAMES))
    except (KeyError, TypeError, ValueError):
        return None
