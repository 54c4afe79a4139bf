import dataclasses
import json
import os
import threading

import numpy as np
import pytest

import fashion_viz.storage as storage_module
from fashion_viz.architecture import SEED_PARAMETERS, SEED_SPEC, build_model, layer_names, parse_spec
from fashion_viz.card import ModelCard, accuracy_protocol
from fashion_viz.engine import Engine
from fashion_viz.evaluation import sample_record
from fashion_viz.storage import ModelError, card_path, check_model_file, file_identity, file_sha256, list_model_files, load_checked_model, pending_card_paths, reserve_new_model_path, save_model

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
SEED_LAYER_NAMES = tuple(layer_names(parse_spec(SEED_SPEC)))
PROBE = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)


def outputs(model) -> np.ndarray:
    return np.asarray(model(PROBE, training=False))


@pytest.mark.parametrize("seed", [None, 5])
def test_seed_architecture_exactly(seed):
    model = build_model(seed=seed)
    assert model.count_params() == SEED_PARAMETERS == 225_034
    assert tuple(model.inputs[0].shape) == (None, 28, 28, 1)
    got = [(l.name, type(l).__name__, tuple(l.output.shape[1:]), l.count_params()) for l in model.layers]
    assert got == EXPECTED
    rates = [l.rate for l in model.layers if type(l).__name__ == "Dropout"]
    assert rates == [0.3, 0.3, 0.5]
    activations = [l.activation.__name__ for l in model.layers if hasattr(l, "activation")]
    assert activations == ["relu", "relu", "relu", "softmax"]


def test_seeded_build_is_reproducible_without_touching_global_random_state():
    import random

    state = random.getstate(), np.random.get_state()[1].copy()
    a, b = build_model(seed=3), build_model(seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])


def test_shipped_model_loads_and_card_is_complete(shipped):
    assert tuple(l.name for l in shipped.model.layers) == SEED_LAYER_NAMES
    card = shipped.card
    assert isinstance(card, ModelCard)
    assert card.test_accuracy is not None and card.per_class_accuracy and card.confusion_matrix and card.schedule
    assert card.history and card.epochs_run == len(card.history) and card.training_seconds > 0
    assert card.machine and card.versions and card.dataset
    assert card.model_sha256 == file_sha256(shipped.path)
    assert card.history[0].keys() >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert shipped.path.stat().st_size < 1_000_000, "shipped without optimizer state"


def test_shipped_model_was_selected_on_validation_only(shipped):
    """The card records the protocol: candidates scored on validation, the test set measured once, after."""
    selection = shipped.card.selection
    assert selection, "the shipped card must say how its schedule was chosen"
    assert "validation" in selection["protocol"] and "test set played no part" in selection["protocol"]
    candidates = selection["candidates"]
    assert len(candidates) >= 2
    best = max(candidates, key=lambda c: c["validation_accuracy"])
    assert selection["chosen"] == best["name"], "the chosen schedule is the best on validation"
    assert all("test_accuracy" not in c for c in candidates), "no candidate was scored on the test set"
    assert shipped.card.config == best["config"]
    assert shipped.card.validation_images == 2_000 and shipped.card.test_images == 10_000
    assert "chosen among 4 candidates" in accuracy_protocol(shipped.card)
    rounds = selection["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[0]["test_accuracy"] < 0.925, "round 1's one look at the test set is recorded"


def test_shipped_model_card_matches_fresh_evaluation(shipped, fmnist):
    from fashion_viz.evaluation import evaluate

    result = evaluate(Engine(shipped.model), fmnist.x_test, fmnist.y_test)
    assert result.accuracy >= 0.925
    assert result.accuracy == pytest.approx(shipped.card.test_accuracy, abs=1e-4)
    assert result.confusion.tolist() == shipped.card.confusion_matrix


def test_card_round_trips_unknown_keys(tmp_path):
    data = {"model_sha256": "ab", "test_accuracy": 0.5, "training_note": "from an older version"}
    card = ModelCard.from_dict(data)
    assert card.test_accuracy == 0.5 and card.extra == {"training_note": "from an older version"}
    assert ModelCard.from_dict(json.loads(card.to_json())).to_dict() == card.to_dict()


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
    path = tmp_path / "copy.keras"
    card = save_model(shipped.model, path, ModelCard(test_accuracy=0.5), sample_record(Engine(shipped.model)))
    assert card.model_sha256 == file_sha256(path)
    assert not list(tmp_path.glob(".*")), "no temp or journal files left behind"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644) and oct(card_path(path).stat().st_mode & 0o777) == oct(0o644)
    loaded = load_checked_model(path)
    assert np.allclose(outputs(loaded.model), outputs(shipped.model), atol=1e-6)


def test_a_saved_card_holds_the_models_sample_probabilities(tmp_path, shipped, sample):
    """The card records the parameter count and the model's exact output for every embedded sample picture (Home
    draws its chart from them before TensorFlow loads); another sample or a damaged record gives None, not numbers."""
    import dataclasses

    from fashion_viz.engine import Engine
    from fashion_viz.card import stored_sample_probabilities

    model = build_model(seed=3)
    card = save_model(model, tmp_path / "m.keras", ModelCard(), sample_record(Engine(model)))
    model = load_checked_model(tmp_path / "m.keras").model
    assert card.parameters == 225_034
    stored = stored_sample_probabilities(card, sample.images, sample.test_indices)
    np.testing.assert_allclose(stored, Engine(model).probabilities(sample.images), atol=1e-6)
    assert stored_sample_probabilities(card, sample.images[:-1], sample.test_indices[:-1]) is None
    damaged = dataclasses.replace(card, sample_probabilities={**card.sample_probabilities, "float32_base64": "not base64!"})
    assert stored_sample_probabilities(damaged, sample.images, sample.test_indices) is None
    assert stored_sample_probabilities(ModelCard(), sample.images, sample.test_indices) is None


def test_the_shipped_card_stores_the_shipped_models_own_sample_probabilities(shipped, sample):
    from fashion_viz.engine import Engine
    from fashion_viz.card import stored_sample_probabilities

    stored = stored_sample_probabilities(shipped.card, sample.images, sample.test_indices)
    np.testing.assert_allclose(stored, Engine(shipped.model).probabilities(sample.images), atol=1e-6)
    assert shipped.card.parameters == shipped.model.count_params() == 225_034


def test_save_never_changes_the_process_umask(tmp_path, shipped, monkeypatch):
    def no_umask(*args):
        raise AssertionError("os.umask is process-wide; a save must not touch it while other threads run")

    monkeypatch.setattr(os, "umask", no_umask)
    save_model(shipped.model, tmp_path / "m.keras", ModelCard(), sample_record(Engine(shipped.model)))


class Killed(Exception):
    pass


@pytest.mark.parametrize(
    "crash, expected",
    [
        ("before the journal", "old"),
        ("after the journal", "old"),
        ("after the model rename", "new"),
        ("no crash", "new"),
    ],
)
def test_save_interrupted_at_each_step_leaves_one_whole_generation(tmp_path, shipped, monkeypatch, crash, expected):
    """Kill the save after each of its steps: the pair on disk is the old generation until the
    model file is renamed in, the new one from then on, and its weights give that generation's outputs."""
    path = tmp_path / "m.keras"
    save_model(shipped.model, path, ModelCard(notes="old"), sample_record(Engine(shipped.model)))
    new_model = build_model(seed=11)  # different weights
    old_out, new_out = outputs(shipped.model), outputs(new_model)
    assert not np.allclose(old_out, new_out, atol=1e-3)
    real_write = storage_module.atomic_write_bytes
    writes = {"n": 0}

    def write(target, data):
        if crash == "before the journal":
            raise Killed()
        real_write(target, data)
        writes["n"] += 1
        if (crash, writes["n"]) in (("after the journal", 1), ("after the model rename", 2)):
            raise Killed()

    monkeypatch.setattr(storage_module, "atomic_write_bytes", write)
    try:
        save_model(new_model, path, ModelCard(notes="new"), sample_record(Engine(new_model)))
    except Killed:
        pass
    monkeypatch.setattr(storage_module, "atomic_write_bytes", real_write)
    assert bool(pending_card_paths(path)) == (crash in ("after the journal", "after the model rename"))
    loaded = load_checked_model(path)
    assert loaded.card.notes == expected
    assert np.allclose(outputs(loaded.model), old_out if expected == "old" else new_out, atol=1e-6)
    if expected == "new":
        assert not pending_card_paths(path), "loading completed the interrupted save"
        assert json.loads(card_path(path).read_text())["notes"] == "new"


def test_a_recoverable_save_is_listed_and_info_agrees_with_the_loader(tmp_path, shipped, monkeypatch):
    monkeypatch.setenv("FASHION_VIZ_MODELS_DIR", str(tmp_path))
    path = tmp_path / "fashion_cnn-x.keras"
    card = save_model(shipped.model, path, ModelCard(notes="new"), sample_record(Engine(shipped.model)))
    pending = tmp_path / f".{path.stem}.json.next.123-abc"
    card_path(path).rename(pending)  # as if killed right after the model was renamed in
    assert path.resolve() in list_model_files(), "the loader can recover it, so it is listed"
    found, digest, error = check_model_file(path)
    assert error is None and found.model_sha256 == digest == card.model_sha256
    assert load_checked_model(path).card.notes == "new"


def test_loaded_bytes_are_the_hashed_bytes(model_copy, monkeypatch):
    """A file swapped between the checksum and the load must not be served."""
    original = outputs(load_checked_model(model_copy).model)
    other = storage_module.model_bytes(build_model(seed=99))
    real_checked_card = storage_module.checked_card

    def swap_after_check(path, digest):
        card = real_checked_card(path, digest)
        path.write_bytes(other)  # another process replaces the file right after the hash was checked
        return card

    monkeypatch.setattr(storage_module, "checked_card", swap_after_check)
    served = load_checked_model(model_copy)
    assert np.allclose(outputs(served.model), original, atol=1e-6)


def test_file_identity_changes_when_a_file_is_replaced_with_the_same_mtime(tmp_path, shipped):
    path = tmp_path / "m.keras"
    save_model(shipped.model, path, ModelCard(), sample_record(Engine(shipped.model)))
    before = file_identity(path)
    stat = path.stat()
    other = build_model(seed=1)
    save_model(other, path, ModelCard(), sample_record(Engine(other)))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert file_identity(path) != before
    assert file_identity(tmp_path / "." / "m.keras") == file_identity(path), "one file, one cache entry"


def test_new_model_names_are_unique_across_threads(tmp_path):
    found: list = []
    threads = [threading.Thread(target=lambda: found.append(reserve_new_model_path(tmp_path))) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 24 and all(p.is_file() and p.name.startswith("fashion_cnn-") for p in found)
    assert list_model_files() == list_model_files(), "reservations have no card and are never listed"
    assert not set(found) & set(list_model_files())


def test_concurrent_saves_to_one_path_leave_a_whole_pair(tmp_path, shipped):
    """Each save writes its own journal; whichever finishes last wins, whole."""
    path = tmp_path / "m.keras"
    models = {name: build_model(seed=s) for name, s in (("a", 1), ("b", 2), ("c", 3))}
    errors = []

    def save(name):
        try:
            save_model(models[name], path, ModelCard(notes=name), sample_record(Engine(models[name])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    loaded = load_checked_model(path)
    assert np.allclose(outputs(loaded.model), outputs(models[loaded.card.notes]), atol=1e-6)
    assert not pending_card_paths(path)


def test_card_replace_keeps_type():
    card = dataclasses.replace(ModelCard(), test_accuracy=0.9)
    assert isinstance(card, ModelCard) and accuracy_protocol(card).startswith("Measured on the")
