"""Saving and loading models safely, and the registry of model files.

Loading reads the file's bytes once, checks their SHA-256 against the card, and builds the model from those
same bytes, so a file swapped between the check and the load is never served; a model outside the family
(:func:`fashion_viz.architecture.spec_of_model`) is refused, and the shipped file must be the seed.

Several servers and threads may share ``models/``: new names are reserved with ``O_EXCL``, every save writes
its own journal file, and no process-wide state (umask, random seeds) is touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_viz.architecture import SEED_SPEC, SpecError, build_model, spec_of_model
from fashion_viz.card import ModelCard

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_MODEL = MODELS_DIR / "fashion_cnn.keras"
VARIANTS_DIR = MODELS_DIR / "variants"  # the variants that test the seed's claims (fashion_viz.trials.variants)
TRAINED_DIR_VAR = "FASHION_VIZ_MODELS_DIR"
TRAINED_PREFIX = "fashion_cnn-"
FILE_MODE = 0o644
RETRAIN_HINT = (
    "Retrain it on the Train page, or from a terminal with "
    "`python -m fashion_viz train --out models/fashion_cnn.keras`."
)


class ModelError(Exception):
    """A model file is missing, corrupt, or not a model of the family; the message says how to retrain."""


@dataclass
class LoadedModel:
    """A checked model with its card and where it came from."""

    model: Any  # keras.Model
    card: ModelCard
    path: Path
    shipped: bool = False
    spec: str = SEED_SPEC  # its architecture, read from the model itself


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
    clean = build_model(spec_of_model(model))
    clean.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        tmp_model = Path(tmp) / "model.keras"
        clean.save(tmp_model)
        return tmp_model.read_bytes()


def is_shipped(path: Path) -> bool:
    """Whether a model path is the model shipped in ``models/`` (any spelling of it)."""
    return Path(path).resolve() == SHIPPED_MODEL.resolve()


CHECKPOINTS_VERSION = 1


def checkpoints_path(model_path: Path) -> Path:
    """``<stem>.checkpoints.npz``: the model's weights before training and after its first epoch."""
    return Path(model_path).with_suffix(".checkpoints.npz")


def save_checkpoints(model_path: Path, model_sha256: str, checkpoints: dict[str, list]) -> None:
    arrays = {f"{name}__{i}": np.asarray(w, np.float32) for name, weights in checkpoints.items() for i, w in enumerate(weights)}
    write_model_companion(checkpoints_path(model_path), CHECKPOINTS_VERSION, model_sha256, **arrays)


def load_checkpoints(model_path: Path, model_sha256: str) -> dict[str, list[np.ndarray]] | None:
    """name -> the model's weights at that point of its training (as ``get_weights`` orders them), or None
    when the model has none stored (models trained before they were kept) or they belong to another file."""
    stored = read_model_companion(checkpoints_path(model_path), CHECKPOINTS_VERSION, model_sha256)
    if stored is None:
        return None
    checkpoints: dict[str, list] = {}
    for key in sorted((k for k in stored if "__" in k), key=lambda k: (k.split("__")[0], int(k.split("__")[1]))):
        checkpoints.setdefault(key.split("__")[0], []).append(stored[key])
    return checkpoints


def save_model(model, path: Path, card: ModelCard, sample_probabilities: dict | None, checkpoints: dict | None = None, recording=None) -> ModelCard:
    """Save weights-only and the card, both atomically, with a journal of this save's own.

    The caller passes the card's record of the model's sample probabilities
    (:func:`fashion_viz.card.sample_probabilities_entry`): saving never runs the model. The card gets the
    model file's SHA-256 and the model's SPEC. Order: the new card goes to a journal file unique to this
    save, then the model is renamed into place, then the journal becomes the card. Loading refuses a file
    whose hash is in no card and completes a save whose journal matches, so a crash at any point leaves a
    pair that passes its check. ``checkpoints`` (weights before and during training) go to their companion file,
    and so does ``recording``, the replay's snapshots (:class:`fashion_viz.replay.record.Recording`).
    """
    path = Path(path)
    data = model_bytes(model)
    card = dataclasses.replace(
        card,
        model_file=path.name,
        model_sha256=hashlib.sha256(data).hexdigest(),
        model_bytes=len(data),
        parameters=int(model.count_params()),
        spec=spec_of_model(model),
        sample_probabilities=sample_probabilities,
    )
    pending = path.parent / f".{path.stem}.json.next.{os.getpid()}-{secrets.token_hex(4)}"
    atomic_write_bytes(pending, card.to_json())
    with folder_lock(path.parent):  # writers of one folder rename one pair at a time: never model A with card B
        atomic_write_bytes(path, data)
        _commit_card(pending, path)
    if checkpoints:
        save_checkpoints(path, card.model_sha256, checkpoints)
    if recording is not None:
        from fashion_viz.replay.store import save_recording

        save_recording(path, card.model_sha256, list(recording.snapshots), recording.steps_per_epoch)
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
        ModelError: missing file, checksum mismatch, unreadable file, a model outside the family, or a shipped
            file that is not the seed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"No model file at {path}. {RETRAIN_HINT}") from exc
    card = checked_card(path, hashlib.sha256(data).hexdigest())
    model = _load_keras_bytes(data, path.name)
    try:
        spec = spec_of_model(model)
    except SpecError as exc:
        raise ModelError(f"{path.name} is not a model this app can explain: {exc}. {RETRAIN_HINT}") from exc
    shipped = is_shipped(path)
    if shipped and spec != SEED_SPEC:
        raise ModelError(f"{path.name} is not the seed architecture (its layers are {spec}). {RETRAIN_HINT}")
    return LoadedModel(model=model, card=card, path=path, shipped=shipped, spec=spec)


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
    """Model files with a card (or a recoverable journal) in ``models/``, the trained-models folder and
    ``models/variants/``: shipped first, then trained ones newest first, then the variants by name."""
    folders = {MODELS_DIR.resolve(), trained_models_dir().resolve(), VARIANTS_DIR.resolve()}
    files = {p.resolve() for folder in folders for p in folder.glob("*.keras") if p.stat().st_size and has_card(p)}

    def order(p: Path):
        if is_variant(p):
            return (2, 0.0, p.name)
        try:
            return (int(p != SHIPPED_MODEL.resolve()), -p.stat().st_mtime, p.name)
        except OSError:
            return (1, 0.0, p.name)

    return sorted(files, key=order)


def is_variant(path: Path) -> bool:
    """Whether a model file is one of the shipped variants (``models/variants/``)."""
    return Path(path).resolve().parent == VARIANTS_DIR.resolve()


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
