"""The seed CNN: building it, its input scaling, its model card, saving and loading it safely.

A model is a ``.keras`` file plus a JSON model card beside it
(``fashion_cnn.keras`` + ``fashion_cnn.json``). Loading reads the file's bytes
once, checks their SHA-256 against the card, and builds the model from those
same bytes, so a file swapped between the check and the load is never served.

Several servers and threads may share ``models/``: new names are reserved with
``O_EXCL``, every save writes its own journal file, and no process-wide state
(umask, random seeds) is touched.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_MODEL = MODELS_DIR / "fashion_cnn.keras"
TRAINED_DIR_VAR = "FASHION_VIZ_MODELS_DIR"
TRAINED_PREFIX = "fashion_cnn-"
EXPECTED_PARAMS = 225_034
PIXEL_MAX = 255.0
FILE_MODE = 0o644
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


def model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (28, 28) or (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1]: the one input scaling rule."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected 28x28 images, got an array of shape {images.shape}")
    return (images.astype(np.float32) / PIXEL_MAX)[..., None]


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

    @property
    def how_measured(self) -> str:
        """One sentence on where the test accuracy comes from, for the Home and Evaluate pages."""
        if self.test_accuracy is None:
            return "This model has no test accuracy on record."
        if self.selection:
            n = len(self.selection.get("candidates", []))
            rounds = self.selection.get("rounds") or []
            scored = [r for r in rounds if r.get("test_accuracy") is not None]
            if len(rounds) > 1 and scored:
                first = scored[0]
                return (
                    f"Measured on the {self.test_images:,} Fashion-MNIST test images. The training schedule was chosen among "
                    f"{n} candidates by their accuracy on {self.validation_images:,} held-out training images, in "
                    f"{len(rounds)} rounds: round {first['round']}'s choice scored {first['test_accuracy']:.2%} on the test set, "
                    "below the 92.5 % bar, so a longer schedule was added and the choice made again by validation alone. "
                    "The test set only scored each round's choice."
                )
            return (
                f"Measured once on the {self.test_images:,} Fashion-MNIST test images, after the training schedule was "
                f"chosen among {n} candidates by their accuracy on {self.validation_images:,} held-out training images "
                "(the test set played no part in the choice)."
            )
        return f"Measured on the {self.test_images:,} Fashion-MNIST test images after training with the settings chosen on the Train page."


@dataclass
class LoadedModel:
    """A checked model with its card and where it came from."""

    model: Any  # keras.Model
    card: ModelCard
    path: Path
    shipped: bool = False

    @property
    def test_accuracy(self) -> float | None:
        return self.card.test_accuracy


def build_model(dtype_policy: str | None = None, seed: int | None = None, initializer: str = "glorot_uniform"):
    """The seed architecture, exactly: 225,034 parameters, layers named for diagrams.

    Args:
        dtype_policy: e.g. ``"mixed_bfloat16"`` for faster CPU training; the
            softmax output always stays float32 so probabilities are exact.
        seed: seeds every layer's initial weights and dropout masks, so a training
            run is reproducible without reseeding the whole process (the app trains
            in a thread beside other sessions).
        initializer: the kernels' initial weights when seeded: ``"glorot_uniform"``
            (Keras' default) or ``"he_uniform"`` (scaled for ReLU layers).
    """
    import keras
    from keras import layers

    kw = {"dtype": dtype_policy} if dtype_policy else {}
    initializers = {"glorot_uniform": keras.initializers.GlorotUniform, "he_uniform": keras.initializers.HeUniform}
    if initializer not in initializers:
        raise ValueError(f"initializer must be one of {sorted(initializers)}, not {initializer!r}")

    def init(offset: int) -> dict:
        return {} if seed is None else {"kernel_initializer": initializers[initializer](seed=seed + offset)}

    def drop(offset: int) -> dict:
        return {} if seed is None else {"seed": seed + offset}

    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="image"),
            layers.Conv2D(32, (3, 3), activation="relu", name="conv1", **init(1), **kw),
            layers.MaxPooling2D((2, 2), name="pool1", **kw),
            layers.Dropout(0.3, name="dropout1", **drop(2), **kw),
            layers.Conv2D(64, (3, 3), activation="relu", name="conv2", **init(3), **kw),
            layers.MaxPooling2D((2, 2), name="pool2", **kw),
            layers.Dropout(0.3, name="dropout2", **drop(4), **kw),
            layers.Flatten(name="flatten", **kw),
            layers.Dense(128, activation="relu", name="dense1", **init(5), **kw),
            layers.Dropout(0.5, name="dropout3", **drop(6), **kw),
            layers.Dense(10, activation="softmax", name="predictions", dtype="float32", **init(7)),
        ],
        name="fashion_cnn",
    )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


def pending_card_paths(model_path: Path) -> list[Path]:
    """Journal files of interrupted saves of ``model_path`` (each save writes its own), newest first."""
    path = Path(model_path)
    found = list(path.parent.glob(f".{path.stem}.json.next.*"))
    return sorted(found, key=lambda p: p.stat().st_mtime_ns if p.exists() else 0, reverse=True)


def _pending_card_for(path: Path, digest: str) -> Path | None:
    """The journal whose card vouches for a model file with this SHA-256, if any."""
    for pending in pending_card_paths(path):
        try:
            data = json.loads(pending.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("model_sha256") == digest:
            return pending
    return None


def _finish_interrupted_save(path: Path, digest: str) -> ModelCard | None:
    """If a save was interrupted after the model was renamed in, its journal matches: complete it."""
    pending = _pending_card_for(path, digest)
    if pending is None:
        return None
    card = ModelCard.from_dict(json.loads(pending.read_text()))
    try:
        with folder_lock(path.parent):
            if hashlib.sha256(path.read_bytes()).hexdigest() == digest:  # still the file this journal vouches for
                _commit_card(pending, path)
    except OSError:
        pass  # read-only folder: the journal still vouches for the file
    return card


@contextlib.contextmanager
def folder_lock(folder: Path):
    """An exclusive ``flock`` on a folder, across threads and processes (a no-op where flock is missing)."""
    try:
        import fcntl
    except ImportError:  # not on Linux/macOS: no cross-process lock
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over ``path``, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; no process-wide umask change while threads run
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_model_companion(path: Path, version: int, model_sha256: str, **arrays) -> None:
    """Store arrays computed from one model file beside it (``.npz``, atomically), tied to that file's SHA-256."""
    import io

    buffer = io.BytesIO()
    sha = np.frombuffer(bytes.fromhex(model_sha256 or "00" * 32), np.uint8)
    np.savez_compressed(buffer, version=np.int32(version), model_sha256=sha, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def read_model_companion(path: Path, version: int, model_sha256: str | None = None) -> dict | None:
    """The arrays of a companion file (read-only, plus its ``model_sha256`` as hex), or None when it is
    missing, unreadable, of another format version or computed from another model file."""
    try:
        with np.load(Path(path), allow_pickle=False) as stored:
            if int(stored["version"]) != version:
                return None
            values = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None
    values["model_sha256"] = bytes(values["model_sha256"]).hex()
    if model_sha256 is not None and values["model_sha256"] != model_sha256:
        return None
    for value in values.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return values


def reserve_new_model_path(folder: Path) -> Path:
    """A new, unique model file name in ``folder``, reserved on disk with ``O_EXCL``.

    The name carries the time to the microsecond and a random part, so two
    servers or threads saving at once never pick the same name. The reservation
    is an empty file that :func:`save_model` replaces; an empty file has no card,
    so it is never listed or served.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() // 1000 % 1_000_000:06d}-{secrets.token_hex(3)}"
        path = folder / f"{TRAINED_PREFIX}{stamp}.keras"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return path


def release_reservation(path: Path) -> None:
    """Remove a reserved name that was never written (an empty file), e.g. after a failed save."""
    try:
        if Path(path).stat().st_size == 0:
            Path(path).unlink()
    except OSError:
        pass


def model_bytes(model) -> bytes:
    """The ``.keras`` bytes of a weights-only float32 copy (no optimizer state: Keras 3.15 ignores
    ``include_optimizer=False``, so a fresh uncompiled model gets the weights)."""
    clean = build_model()
    clean.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        tmp_model = Path(tmp) / "model.keras"
        clean.save(tmp_model)
        return tmp_model.read_bytes()


def is_shipped(path: Path) -> bool:
    """Whether a model path is the model shipped in ``models/`` (any spelling of it)."""
    return Path(path).resolve() == SHIPPED_MODEL.resolve()


def sample_fingerprint(images: np.ndarray, test_indices: np.ndarray) -> str:
    """SHA-256 of the embedded sample's pictures and test indices: stored probabilities are only used for this sample."""
    digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(test_indices, dtype=np.int64).tobytes())
    return digest.hexdigest()


def sample_probabilities_entry(model) -> dict:
    """The card's record of the model's output for every embedded sample picture (float32, exact)."""
    from fashion_viz.data import load_sample
    from fashion_viz.evaluation import predict_batched

    sample = load_sample()
    probabilities = np.ascontiguousarray(predict_batched(model, sample.images), dtype=np.float32)
    return {
        "sample_sha256": sample_fingerprint(sample.images, sample.test_indices),
        "float32_base64": base64.b64encode(probabilities.tobytes()).decode("ascii"),
    }


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


def save_model(model, path: Path, card: ModelCard) -> ModelCard:
    """Save weights-only and the card, both atomically, with a journal of this save's own.

    The card gets the model file's SHA-256. Order: the new card goes to a journal
    file unique to this save, then the model is renamed into place, then the
    journal becomes the card. Loading refuses a file whose hash is in no card and
    completes a save whose journal matches, so a crash at any point leaves a
    pair that passes its check.
    """
    path = Path(path)
    data = model_bytes(model)
    card = dataclasses.replace(
        card,
        model_file=path.name,
        model_sha256=hashlib.sha256(data).hexdigest(),
        model_bytes=len(data),
        parameters=int(model.count_params()),
        sample_probabilities=sample_probabilities_entry(model),
    )
    pending = path.parent / f".{path.stem}.json.next.{os.getpid()}-{secrets.token_hex(4)}"
    atomic_write_bytes(pending, card.to_json())
    with folder_lock(path.parent):  # writers of one folder rename one pair at a time: never model A with card B
        atomic_write_bytes(path, data)
        _commit_card(pending, path)
    return card


def _commit_card(pending: Path, path: Path) -> None:
    """The save's last step: its journal becomes the model's card."""
    os.replace(pending, card_path(path))
    fsync_dir(path.parent)


def read_card(model_path: Path) -> ModelCard:
    path = card_path(model_path)
    if not path.is_file():
        raise ModelError(f"The model card {path} is missing, so {Path(model_path).name} cannot be checked. {RETRAIN_HINT}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"The model card {path} is unreadable ({exc}). {RETRAIN_HINT}") from exc
    if not isinstance(data, dict) or "model_sha256" not in data:
        raise ModelError(f"The model card {path} has no model checksum. {RETRAIN_HINT}")
    return ModelCard.from_dict(data)


def checked_card(path: Path, digest: str) -> ModelCard:
    """The card that vouches for a model file with this SHA-256: its card, or the journal of an
    interrupted save (which is then completed).

    Raises:
        ModelError: no card vouches for these bytes.
    """
    try:
        card = read_card(path)
    except ModelError:
        card = _finish_interrupted_save(path, digest)
        if card is None:
            raise
    if digest != card.model_sha256:
        card = _finish_interrupted_save(path, digest) or card
    if digest != card.model_sha256:
        raise ModelError(
            f"{path.name} does not match its model card (SHA-256 {digest[:12]}…, card says "
            f"{card.model_sha256[:12]}…): the file is corrupt or was changed. {RETRAIN_HINT}"
        )
    return card


def _load_keras_bytes(data: bytes, name: str):
    """Build a Keras model from the checked bytes (never from the path again), ``safe_mode`` on."""
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        private = Path(tmp) / "model.keras"
        private.write_bytes(data)
        try:
            return keras.models.load_model(private, compile=False, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad archive
            raise ModelError(f"{name} could not be read as a Keras model ({type(exc).__name__}). {RETRAIN_HINT}") from exc


def load_checked_model(path: Path = SHIPPED_MODEL) -> LoadedModel:
    """Load a model file only after its SHA-256 matches its card; the bytes hashed are the bytes loaded.

    Raises:
        ModelError: missing file, checksum mismatch, unreadable file, or wrong architecture.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"No model file at {path}. {RETRAIN_HINT}") from exc
    card = checked_card(path, hashlib.sha256(data).hexdigest())
    model = _load_keras_bytes(data, path.name)
    names = tuple(layer.name for layer in model.layers)
    if names != LAYER_NAMES or model.count_params() != EXPECTED_PARAMS:
        raise ModelError(f"{path.name} is not the seed architecture (layers {names}). {RETRAIN_HINT}")
    return LoadedModel(model=model, card=card, path=path, shipped=is_shipped(path))


def file_identity(path: Path) -> tuple:
    """(resolved path, device, inode, size, mtime_ns): changes whenever the file is replaced or
    rewritten, and is the same for every spelling of the path. The cache key for loaded models."""
    resolved = Path(path).resolve()
    try:
        st = resolved.stat()
    except OSError:
        return (str(resolved), 0, 0, -1, 0)
    return (str(resolved), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def trained_models_dir() -> Path:
    """Where newly trained models are saved: ``$FASHION_VIZ_MODELS_DIR`` (e.g. a writable volume), else ``models/``."""
    return Path(os.environ.get(TRAINED_DIR_VAR) or MODELS_DIR)


def has_card(path: Path) -> bool:
    """A card or the journal of an interrupted save sits beside the model file."""
    return card_path(path).is_file() or bool(pending_card_paths(path))


def list_model_files() -> list[Path]:
    """Model files with a card (or a recoverable journal) in ``models/`` and the trained-models
    folder: shipped first, then newest first."""
    folders = {MODELS_DIR.resolve(), trained_models_dir().resolve()}
    files = {p.resolve() for folder in folders for p in folder.glob("*.keras") if p.stat().st_size and has_card(p)}

    def newest_first(p: Path):
        try:
            return (p != SHIPPED_MODEL.resolve(), -p.stat().st_mtime)
        except OSError:
            return (True, 0.0)

    return sorted(files, key=newest_first)


def check_model_file(path: Path) -> tuple[ModelCard | None, str, str | None]:
    """(card, sha256, error) for ``info``: the same decision the loader makes, without building the model."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, "", f"unreadable: {exc}"
    digest = hashlib.sha256(data).hexdigest()
    try:
        return checked_card(Path(path), digest), digest, None
    except ModelError as exc:
        return None, digest, str(exc)
