"""Fashion-MNIST: find, verify and load the four original IDX files.

Search order: ``$FASHION_MNIST_DIR``, Debian's ``dataset-fashion-mnist`` folder,
Keras' cache, then Keras' own download. Every file is checked against the
SHA-256 of its *decompressed* content (Debian recompressed the ``.gz`` files, so
their compressed bytes differ from Keras' download) and its IDX header.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
SAMPLE_PATH = Path(__file__).with_name("sample.npz")


@dataclass(frozen=True)
class IdxFile:
    """One of the four dataset files and what its content must be."""

    name: str
    sha256: str  # of the decompressed bytes
    magic: int
    count: int


FILES: dict[str, IdxFile] = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte.gz",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        2051,
        60_000,
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte.gz",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        2049,
        60_000,
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte.gz",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        2051,
        10_000,
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        2049,
        10_000,
    ),
}

HOW_TO_GET = (
    "Fashion-MNIST was not found. Get it one of three ways: "
    "(1) on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist` "
    f"(files land in {DEBIAN_DIR}); "
    f"(2) put the four original .gz files in a folder and set {ENV_VAR} to it; "
    f"(3) with network access, run `python -m fashion_viz info --download` once to fill Keras' cache ({KERAS_CACHE_DIR})."
)


class DatasetError(Exception):
    """The dataset is missing, corrupt or unreadable; the message says which file and how to fix it."""


@dataclass(frozen=True)
class FashionMNIST:
    """The full dataset as read-only uint8 arrays, plus where it came from."""

    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: str
    checksums: dict[str, str]


@dataclass(frozen=True)
class Sample:
    """The small embedded sample: real test images shipped with the package."""

    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) uint8
    test_indices: np.ndarray  # (n,) int: index in the Fashion-MNIST test set


def candidate_dirs() -> list[tuple[str, Path]]:
    """Folders to look in, in order, each with a short name for messages."""
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    dirs.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    dirs.append(("Keras cache", KERAS_CACHE_DIR))
    return dirs


def find_dataset_dir() -> Path | None:
    """The first candidate folder that holds all four files, or None."""
    for _, folder in candidate_dirs():
        if all((folder / spec.name).is_file() for spec in FILES.values()):
            return folder
    return None


def read_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Decompress, checksum and parse one IDX file; errors name the file."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path} is not a readable gzip file ({exc}); it is corrupt or truncated.") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DatasetError(
            f"{path} has the wrong content (SHA-256 {digest[:12]}…, expected {spec.sha256[:12]}…): "
            "the file is corrupt, truncated or not Fashion-MNIST. Reinstall or re-download it."
        )
    header_len = 16 if spec.magic == 2051 else 8
    if len(raw) < header_len:
        raise DatasetError(f"{path} is too short to hold an IDX header.")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != spec.magic or count != spec.count:
        raise DatasetError(f"{path} has header magic {magic} and count {count}; expected {spec.magic} and {spec.count}.")
    if spec.magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
            raise DatasetError(f"{path} holds {rows}x{cols} images; expected 28x28.")
        shape: tuple[int, ...] = (count, rows, cols)
    else:
        shape = (count,)
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_len)
    if array.size != int(np.prod(shape)):
        raise DatasetError(f"{path} holds {array.size} values; its header promises {int(np.prod(shape))}.")
    array = array.reshape(shape)
    array.flags.writeable = False
    return array


def load_from_dir(folder: Path, source: str | None = None) -> FashionMNIST:
    """Load and verify the four files in ``folder``."""
    arrays = {key: read_idx(folder / spec.name, spec) for key, spec in FILES.items()}
    if arrays["train_labels"].max() >= len(CLASS_NAMES) or arrays["test_labels"].max() >= len(CLASS_NAMES):
        raise DatasetError(f"Labels in {folder} fall outside 0-9.")
    return FashionMNIST(
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
        source=source or str(folder),
        checksums={spec.name: spec.sha256 for spec in FILES.values()},
    )


def download_with_keras() -> Path:
    """Fill Keras' cache with Keras' own download; raises DatasetError when offline."""
    try:
        import keras

        keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any network or file failure means "no data"
        raise DatasetError(f"{HOW_TO_GET} Keras' download also failed: {type(exc).__name__}: {exc}") from exc
    return KERAS_CACHE_DIR


class DatasetMissing(DatasetError):
    """No folder holds the four files (as opposed to a file that is there but corrupt)."""


@functools.lru_cache(maxsize=1)
def load_found_dataset() -> FashionMNIST:
    """The verified dataset from the first folder that holds it, loaded once per process.

    Raises:
        DatasetMissing: no folder holds the files.
        DatasetError: a file is corrupt.
    """
    for label, folder in candidate_dirs():
        if all((folder / spec.name).is_file() for spec in FILES.values()):
            return load_from_dir(folder, source=f"{folder} ({label})")
    raise DatasetMissing(HOW_TO_GET)


def load_fashion_mnist(allow_download: bool = True) -> FashionMNIST:
    """The verified dataset, loaded once per process (the same object whatever ``allow_download`` says); without
    it on disk, Keras' download fills Keras' cache first when ``allow_download``.

    Raises:
        DatasetError: no folder holds the files (and the download failed or was not allowed), or a file is corrupt.
    """
    try:
        return load_found_dataset()
    except DatasetMissing:
        if not allow_download:
            raise
    download_with_keras()
    load_found_dataset.cache_clear()
    return load_found_dataset()


def dataset_available() -> bool:
    """True when the files are on disk (no download attempted)."""
    return find_dataset_dir() is not None


@functools.lru_cache(maxsize=1)
def load_sample() -> Sample:
    """The embedded sample of real test images (20 per class), always available."""
    with np.load(SAMPLE_PATH) as npz:
        images, labels, indices = npz["images"], npz["labels"], npz["test_indices"]
    for array in (images, labels, indices):
        array.flags.writeable = False
    return Sample(images=images, labels=labels, test_indices=indices)
