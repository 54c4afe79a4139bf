import json

import numpy as np
import pytest

from fashion_viz.model import (
    EXPECTED_PARAMS,
    LAYER_NAMES,
    ModelError,
    build_model,
    card_path,
    file_sha256,
    load_checked_model,
)

EXPECTED = [
    ("conv1", "Conv2D", (26, 26, 32), 320),
    ("pool1", "MaxPooling2D", (13, 13, 32), 0),
    ("dropout1", "Dropout", (13, 13, 32), 0),
    ("conv2", "Conv2D", (11, 11, 64), 18_496),
    ("pool2", "MaxPooling2D", (5, 5, 64), 0),
    ("dropout2", "Dropout", (5, 5, 64), 0),
    ("flatten", "Flatten", (1600,), 0),
    ("dense1", "Dense", (128,), 204_928),
    ("dropout3", "Dropout", (128,), 0),
    ("predictions", "Dense", (10,), 1_290),
]


def test_seed_architecture_exactly():
    model = build_model()
    assert model.count_params() == EXPECTED_PARAMS == 225_034
    assert tuple(model.inputs[0].shape) == (None, 28, 28, 1)
    got = [(l.name, type(l).__name__, tuple(l.output.shape[1:]), l.count_params()) for l in model.layers]
    assert got == EXPECTED
    rates = [l.rate for l in model.layers if type(l).__name__ == "Dropout"]
    assert rates == [0.3, 0.3, 0.5]
    activations = [l.activation.__name__ for l in model.layers if hasattr(l, "activation")]
    assert activations == ["relu", "relu", "relu", "softmax"]


def test_shipped_model_loads_and_card_is_complete(shipped):
    assert tuple(l.name for l in shipped.model.layers) == LAYER_NAMES
    card = shipped.card
    for key in ("test_accuracy", "per_class_accuracy", "confusion_matrix", "history", "epochs_run", "schedule",
                "training_seconds", "machine", "versions", "dataset", "model_sha256"):
        assert key in card, key
    assert card["model_sha256"] == file_sha256(shipped.path)
    assert card["history"][0].keys() >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert shipped.path.stat().st_size < 1_000_000, "shipped without optimizer state"


def test_shipped_model_card_matches_fresh_evaluation(shipped, fmnist):
    from fashion_viz.training import evaluate

    result = evaluate(shipped.model, fmnist.x_test, fmnist.y_test)
    assert result.accuracy >= 0.925
    assert result.accuracy == pytest.approx(shipped.card["test_accuracy"], abs=1e-4)
    assert result.confusion.tolist() == shipped.card["confusion_matrix"]


def test_one_changed_byte_is_refused(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its model card.*Retrain"):
        load_checked_model(model_copy)


def test_missing_model_and_missing_card(tmp_path, model_copy):
    with pytest.raises(ModelError, match="No model file"):
        load_checked_model(tmp_path / "nothing.keras")
    card_path(model_copy).unlink()
    with pytest.raises(ModelError, match="card .* is missing"):
        load_checked_model(model_copy)


def test_not_a_keras_file_with_matching_card_is_refused(tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip archive")
    card_path(fake).write_text(json.dumps({"model_sha256": file_sha256(fake)}))
    with pytest.raises(ModelError, match="could not be read as a Keras model"):
        load_checked_model(fake)


def test_save_roundtrip_is_weights_only_and_atomic(tmp_path, shipped):
    from fashion_viz.model import save_model

    path = tmp_path / "copy.keras"
    card = save_model(shipped.model, path, {"test_accuracy": 0.5})
    assert card["model_sha256"] == file_sha256(path)
    assert not list(tmp_path.glob(".*.tmp")), "no temp files left behind"
    loaded = load_checked_model(path)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    assert np.allclose(loaded.model(x), shipped.model(x), atol=1e-6)


def test_save_interrupted_at_any_step_leaves_a_model_that_passes_its_check(tmp_path, shipped, monkeypatch):
    """Kill the save after each of its writes: what is on disk always loads and passes its check."""
    import fashion_viz.model as model_module

    path = tmp_path / "m.keras"
    model_module.save_model(shipped.model, path, {"test_accuracy": 0.1})
    new_model = build_model()  # different (random) weights
    real_write, real_replace = model_module.atomic_write_bytes, model_module.os.replace

    class Killed(Exception):
        pass

    for crash_after in range(1, 3 + 1):
        calls = {"n": 0}

        def counted(fn):
            def wrapper(*args, **kwargs):
                fn(*args, **kwargs)
                calls["n"] += 1
                if calls["n"] == crash_after:
                    raise Killed()
            return wrapper

        monkeypatch.setattr(model_module, "atomic_write_bytes", counted(real_write))
        monkeypatch.setattr(model_module.os, "replace", counted(real_replace))
        try:
            model_module.save_model(new_model, path, {"test_accuracy": 0.2})
        except Killed:
            pass
        monkeypatch.setattr(model_module, "atomic_write_bytes", real_write)
        monkeypatch.setattr(model_module.os, "replace", real_replace)
        loaded = load_checked_model(path)  # must not raise
        assert loaded.card["model_sha256"] == file_sha256(path)
        assert loaded.card["test_accuracy"] in (0.1, 0.2)
        model_module.save_model(shipped.model, path, {"test_accuracy": 0.1})  # reset to the old model
