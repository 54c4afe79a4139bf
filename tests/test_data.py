import gzip
import shutil

import numpy as np
import pytest

from fashion_viz import CLASS_NAMES, data as data_module
from fashion_viz.data import FILES, DatasetError, find_dataset_dir, load_from_dir


def test_real_dataset_counts_and_balance(fmnist):
    assert fmnist.x_train.shape == (60_000, 28, 28) and fmnist.x_train.dtype == np.uint8
    assert fmnist.x_test.shape == (10_000, 28, 28)
    assert np.bincount(fmnist.y_train, minlength=10).tolist() == [6_000] * 10
    assert np.bincount(fmnist.y_test, minlength=10).tolist() == [1_000] * 10
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[9] == "Ankle boot"


def test_arrays_are_read_only_and_loaded_once(fmnist):
    with pytest.raises(ValueError):
        fmnist.x_train[0, 0, 0] = 1
    assert data_module.load_fashion_mnist(allow_download=False) is fmnist
    assert data_module.load_fashion_mnist() is fmnist, "one dataset per process, whatever the caller allows"


def test_a_well_formed_file_with_other_content_is_refused(fmnist, tmp_path):
    """The checksum is what decides: a test-labels file with a valid IDX header, the right length and valid labels,
    but two labels swapped, is refused by name."""
    folder = _copy_dataset(tmp_path)
    target = folder / FILES["test_labels"].name
    raw = bytearray(gzip.decompress(target.read_bytes()))
    first, other = 8, next(i for i in range(9, len(raw)) if raw[i] != raw[8])
    raw[first], raw[other] = raw[other], raw[first]
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*wrong content"):
        load_from_dir(folder)
    (tmp_path / "intact").mkdir()
    assert load_from_dir(_copy_dataset(tmp_path / "intact")).checksums == fmnist.checksums, "the untouched copy loads"


def _copy_dataset(tmp_path):
    folder = find_dataset_dir()
    for spec in FILES.values():
        shutil.copy(folder / spec.name, tmp_path / spec.name)
    return tmp_path


def test_corrupt_file_names_the_file(fmnist, tmp_path):
    folder = _copy_dataset(tmp_path)
    target = folder / FILES["test_labels"].name
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*wrong content"):
        load_from_dir(folder)


def test_truncated_gzip_names_the_file(fmnist, tmp_path):
    folder = _copy_dataset(tmp_path)
    target = folder / FILES["test_images"].name
    target.write_bytes(target.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*corrupt or truncated"):
        load_from_dir(folder)


def test_env_var_folder_comes_first(fmnist, tmp_path, monkeypatch):
    folder = _copy_dataset(tmp_path)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    assert find_dataset_dir() == folder


def test_no_files_and_no_network_names_three_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(data_module, "DEBIAN_DIR", tmp_path / "nodeb")
    monkeypatch.setattr(data_module, "KERAS_CACHE_DIR", tmp_path / "nocache")

    def offline():
        raise DatasetError(data_module.HOW_TO_GET + " Keras' download also failed: no network")

    monkeypatch.setattr(data_module, "download_with_keras", offline)
    data_module.load_found_dataset.cache_clear()
    try:
        with pytest.raises(DatasetError) as info:
            data_module.load_fashion_mnist()
    finally:
        data_module.load_found_dataset.cache_clear()
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "FASHION_MNIST_DIR" in message
    assert "download" in message and "no network" in message


def test_embedded_sample_is_real_test_images(sample, fmnist):
    assert sample.images.shape == (200, 28, 28)
    assert np.bincount(sample.labels, minlength=10).tolist() == [20] * 10
    assert np.array_equal(fmnist.x_test[sample.test_indices], sample.images)
    assert np.array_equal(fmnist.y_test[sample.test_indices], sample.labels)
    assert data_module.SAMPLE_PATH.stat().st_size < 1_000_000
