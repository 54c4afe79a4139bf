"""The replay of training: its snapshots, their file, the views drawn from them, the CLI, the page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_app import open_page

from fashion_viz.replay.record import Snapshot, snapshot_steps
from fashion_viz.replay.store import decode_weights, encode_weights, load_replay, replay_path
from fashion_viz.replay.views import aligned_pca, layer_weights, learning_order, prepare_replay, probe_layer_outputs, require_replay


@pytest.mark.parametrize("epochs, steps_per_epoch", [(120, 906), (20, 226), (60, 906), (8, 226)])
def test_snapshots_are_dense_early_sparse_late_and_about_forty(epochs, steps_per_epoch):
    steps = np.array(snapshot_steps(epochs, steps_per_epoch, 8))
    total = epochs * steps_per_epoch
    assert steps[0] == 0 and steps[-1] == total and np.all(np.diff(steps) > 0)
    assert 25 <= len(steps) <= 50, len(steps)
    assert np.sum(steps < steps_per_epoch) >= 5, "at least four moments inside the first epoch besides the start"
    gaps = np.diff(steps)
    assert np.median(gaps[: len(gaps) // 3]) < np.median(gaps[-len(gaps) // 3 :]) / 2, "the early moments are closer together"
    inside = steps % steps_per_epoch
    assert np.all((inside == 0) | (inside % 8 == 0)), "inside an epoch, only at a compiled execution's start"


def test_float16_differences_keep_every_snapshot_close_and_the_last_exact():
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 1, 4), (4,), (16, 10), (10,)]
    weights = [rng.normal(0, 0.2, s).astype(np.float32) for s in shapes]
    snapshots = []
    for step in range(12):
        snapshots.append(Snapshot(step, tuple(w.copy() for w in weights)))
        weights = [w + rng.normal(0, 0.01, w.shape).astype(np.float32) for w in weights]
    arrays = encode_weights(snapshots)
    assert all(arrays[f"delta__{i}"].dtype == np.float16 for i in range(len(shapes)))
    decoded = decode_weights(arrays)
    assert len(decoded) == len(snapshots)
    for a, b in zip(decoded[-1], snapshots[-1].weights):
        np.testing.assert_array_equal(a, b)
    worst = max(float(np.abs(a - b).max()) for d, s in zip(decoded, snapshots) for a, b in zip(d, s.weights))
    assert worst < 1e-4, f"rounding does not add up along the chain (largest error {worst:.2g} against steps of about 0.01)"


def test_aligned_pca_turns_a_mirrored_scaled_map_back_onto_its_target():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 6)) * np.array([5, 2, 0.1, 0.1, 0.1, 0.1])
    target = aligned_pca(features, None)
    turned = features * np.array([-3.0, 3.0, 3.0, 3.0, 3.0, 3.0])  # mirrored on one axis and three times larger
    np.testing.assert_allclose(aligned_pca(turned, target), target, atol=1e-3)
    assert not np.any(aligned_pca(np.ones((5, 3)), target[:5])), "a map where every picture is alike is one point"


@pytest.fixture(scope="module")
def recorded(fmnist, tmp_path_factory):
    """A small run, saved with its recording and its prepared views."""
    from fashion_viz.engine import Engine
    from fashion_viz.storage import load_checked_model, save_model
    from fashion_viz.training import TrainConfig, train

    config = TrainConfig(epochs=3, batch_size=128, train_limit=3_000, test_limit=500, mixed_precision=False)
    result = train(fmnist, config)
    path = tmp_path_factory.mktemp("replay") / "recorded.keras"
    save_model(result.model, path, result.card, result.sample_probabilities, result.checkpoints, result.recording)
    loaded = load_checked_model(path)
    assert prepare_replay(Engine(loaded.model), path, loaded.card, fmnist)
    return result, loaded


def test_a_run_records_from_its_random_start_to_its_saved_weights(recorded):
    result, loaded = recorded
    snapshots = result.recording.snapshots
    assert [s.step for s in snapshots] == list(snapshot_steps(3, (3_000 - 600) // 128, 8))
    for a, b in zip(snapshots[0].weights, result.checkpoints["start"]):
        np.testing.assert_array_equal(a, b)
    replay = require_replay(loaded.path, loaded.card)
    for a, b in zip(replay.weights[-1], loaded.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(replay.weights[0][0], replay.weights[-1][0]), "the filters changed"
    assert load_replay(loaded.path, "0" * 64) is None, "tied to the model file"


def test_the_views_start_at_chance_and_end_at_the_models_own_scores(recorded, fmnist):
    result, loaded = recorded
    views = require_replay(loaded.path, loaded.card).views
    assert views["val_accuracy"][0] < 0.3, "the untrained network guesses"
    assert views["val_accuracy"][-1] == pytest.approx(result.validation.accuracy, abs=1e-6)
    assert views["val_accuracy"][-1] > views["val_accuracy"][0] + 0.3
    assert views["map"].shape == (len(views["val_accuracy"]), 1_000, 2) and views["probe_probabilities"].shape[1:] == (10, 10)
    assert list(np.asarray(views["map_labels"])[::100]) == list(range(10))
    np.testing.assert_allclose(views["probe_probabilities"].sum(axis=2), 1, atol=1e-5)
    from fashion_viz.engine import Engine

    served = Engine(loaded.model)
    embedding = views["embedding"][-1] * views["embedding_scale"][-1]
    exact = served.layer_features(fmnist.x_test[views["map_indices"]], served.dense_names[0])
    np.testing.assert_allclose(embedding, exact, atol=float(exact.max()) / 255)


def test_a_probe_pictures_layers_at_the_last_snapshot_are_the_models(recorded, fmnist):
    from fashion_viz.engine import Engine

    _, loaded = recorded
    replay = require_replay(loaded.path, loaded.card)
    served = Engine(loaded.model)
    image = fmnist.x_test[int(replay.views["probe_indices"][3])]
    layer = served.conv_names[0]
    outputs = probe_layer_outputs(Engine(loaded.model), replay, image, layer)
    assert outputs.shape == (len(replay), *served.activations(image).layer(layer).values.shape)
    np.testing.assert_allclose(outputs[-1], served.activations(image).layer(layer).values, atol=1e-6)
    assert not np.allclose(outputs[0], outputs[-1])
    kernels = layer_weights(served, replay, layer)
    np.testing.assert_array_equal(kernels[-1], served.kernels(layer))


def test_an_engine_takes_other_weights_without_tracing_again(recorded, fmnist):
    from fashion_viz.architecture import build_model, model_input
    from fashion_viz.engine import Engine

    _, loaded = recorded
    replay = require_replay(loaded.path, loaded.card)
    engine = Engine(loaded.model)
    engine.probabilities(fmnist.x_test[:4])
    traced = dict(engine._compiled)
    engine.load_weights(replay.weights[1])
    keras_model = build_model(loaded.card.spec)
    keras_model.set_weights(replay.weights[1])
    np.testing.assert_allclose(engine.probabilities(fmnist.x_test[:4]), keras_model(model_input(fmnist.x_test[:4])).numpy(), atol=1e-5)
    assert engine._compiled == traced
    with pytest.raises(ValueError, match="weight arrays"):
        engine.load_weights(replay.weights[1][:3])


def test_learning_order_ranks_every_class_once(recorded):
    _, loaded = recorded
    order = learning_order(require_replay(loaded.path, loaded.card))
    assert sorted(order.ranked()) == sorted(order.epoch) and len(order.epoch) == 10
    assert all(e >= 0 for e in order.epoch.values())


def player_data(html: str) -> dict:
    """The data the player's page carries (its ``const D = {...};``)."""
    start = html.index("const D = ") + len("const D = ")
    return json.loads(html[start : html.index(";\nconst $ =", start)])


def test_the_player_carries_every_snapshot_for_the_browser_to_play(recorded, fmnist):
    from fashion_viz.engine import Engine
    from fashion_viz.figures.replay import PLAY_LABEL, filter_pictures, map_pictures, replay_player_html

    _, loaded = recorded
    replay = require_replay(loaded.path, loaded.card)
    engine = Engine(loaded.model)
    kernels = layer_weights(engine, replay, engine.conv_names[0])[:, :, :, 0, :]
    maps = np.random.default_rng(0).random((len(replay), 13, 13, 8)).astype(np.float32)
    html = replay_player_html(replay.epochs, replay.steps, replay.views, [("filters", filter_pictures(kernels)), ("maps", map_pictures(maps))], 2, fmnist.x_test[0])
    data = player_data(html)
    assert data["frames"] == len(replay) and data["labels"]["play"] == PLAY_LABEL
    for panel in data["panels"]:
        assert len(panel["frames"]) == len(replay) and all(f.startswith("data:image/png;base64,") for f in panel["frames"])
    assert len(data["map"]) == len(replay) and len(data["probabilities"]) == len(replay)
    assert data["title"][0].startswith("Epoch 0 ") and data["x"] == sorted(data["x"])
    assert data["ticks"][0] == data["x"][0] and data["tick_text"][0] == "0"


def test_filter_pictures_keep_one_sign_scale_for_every_moment():
    from fashion_viz.figures.replay import filter_pictures
    from fashion_viz.palette import NEGATIVE_COLOUR, POSITIVE_COLOUR, ZERO_COLOUR, hex_to_rgb

    kernels = np.zeros((2, 3, 3, 2), np.float32)
    kernels[1, :, :, 0], kernels[1, :, :, 1] = 1.0, -1.0  # the last moment: a + filter and a − filter
    kernels[0, :, :, 0] = 0.5  # the first: the + filter half as large, the − filter still 0
    first, last = (np.asarray(p) for p in filter_pictures(kernels))
    assert tuple(last[0, 0]) == hex_to_rgb(POSITIVE_COLOUR) and tuple(last[0, 4]) == hex_to_rgb(NEGATIVE_COLOUR)
    assert tuple(first[0, 4]) == hex_to_rgb(ZERO_COLOUR), "0 is the scale's middle"
    assert tuple(first[0, 0]) not in (hex_to_rgb(POSITIVE_COLOUR), hex_to_rgb(ZERO_COLOUR)), "half the weight, a paler orange"
    assert tuple(last[0, 3]) == (255, 255, 255), "the gap between tiles is white"


def test_map_pictures_scale_each_moment_to_its_own_largest_value():
    from fashion_viz.figures.replay import ACTIVATION_SCALE, colour_table, map_pictures

    outputs = np.zeros((2, 4, 4, 2), np.float32)
    outputs[0, 0, 0, 0], outputs[1, 0, 0, 0] = 0.1, 10.0
    small, large = (np.asarray(p) for p in map_pictures(outputs))
    np.testing.assert_array_equal(small[0, 0], large[0, 0])
    assert tuple(small[0, 0]) == tuple(colour_table(ACTIVATION_SCALE)[254]), "each moment's largest value at the scale's top"
    assert tuple(small[0, 4]) == (255, 255, 255), "the gap between tiles is white"


def run_cli(*args) -> tuple[int, str, str]:
    import contextlib
    import io

    from fashion_viz.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_cli_lists_snapshots_writes_one_as_a_model_and_a_gif(recorded, tmp_path):
    import keras
    from PIL import Image

    _, loaded = recorded
    replay = require_replay(loaded.path, loaded.card)
    code, out, _ = run_cli("replay", "--model", str(loaded.path), "--json")
    report = json.loads(out)
    assert code == 0 and len(report["snapshots"]) == len(replay) and report["bytes"] == replay_path(loaded.path).stat().st_size
    assert set(report["snapshots"][0]) >= {"step", "epoch", "train_accuracy", "val_accuracy", "loss"}
    assert len(report["probe_indices"]) == 10

    out_model = tmp_path / "start.keras"
    code, out, _ = run_cli("replay", "--model", str(loaded.path), "--snapshot", "0", "--out", str(out_model), "--json")
    assert code == 0 and json.loads(out)["step"] == 0
    for a, b in zip(keras.models.load_model(out_model).get_weights(), replay.weights[0]):
        np.testing.assert_array_equal(a, b)

    for view in ("filters", "maps", "map"):
        gif = tmp_path / f"{view}.gif"
        code, _, _ = run_cli("replay", "--model", str(loaded.path), "--gif", str(gif), "--view", view)
        assert code == 0
        with Image.open(gif) as picture:
            assert picture.n_frames == len(replay) and picture.width >= 200


def test_cli_says_plainly_when_a_model_has_no_replay(model_copy):
    code, _, err = run_cli("replay", "--model", str(model_copy))
    assert code == 1 and "has no replay" in err and "Traceback" not in err


def test_the_shipped_model_ships_with_its_replay(shipped):
    replay = load_replay(shipped.path, shipped.card.model_sha256)
    assert replay is not None, "models/fashion_cnn.replay.npz, tied to the shipped file"
    assert 30 <= len(replay) <= 50 and replay.steps[0] == 0
    for a, b in zip(replay.weights[-1], shipped.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    views = replay.views
    assert 0.05 < views["val_accuracy"][0] < 0.2, "snapshot 0 is the untrained network"
    assert views["val_accuracy"][-1] == pytest.approx(shipped.card.validation_accuracy, abs=1e-6)


def player_html(at) -> str:
    """The HTML of the page's one player (``st.iframe``)."""
    frames = [e for e in at.get("iframe")]
    assert len(frames) == 1, "one player"
    return frames[0].proto.srcdoc


def test_replay_page_plays_the_shipped_models_training(fmnist, shipped):
    at = open_page("replay")
    replay = load_replay(shipped.path, shipped.card.model_sha256)
    data = player_data(player_html(at))
    assert data["frames"] == len(replay) and len(data["panels"]) == 3
    assert any("learnt first" in m.value for m in at.markdown)
    at.selectbox(key="replay_layer_widget").set_value("pool1").run()
    assert not at.exception
    data = player_data(player_html(at))
    assert data["panels"][-1]["title"].startswith("The probe picture at pool1")
    at.selectbox(key="replay_layer_widget").set_value("dense1").run()  # a vector layer: its units as a grid
    assert not at.exception
    assert player_data(player_html(at))["panels"][-1]["title"].startswith("The probe picture at dense1")


def test_replay_page_explains_a_model_without_one(fmnist):
    from fashion_viz.storage import list_model_files, is_variant

    variant = next(p for p in list_model_files() if is_variant(p))
    at = open_page("replay", variant)
    assert any("has no replay" in i.value for i in at.info)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["conv10k5,pool,conv20s2,flatten,dense40,dense20", "conv8,pool,flatten,dense16"])
def test_replay_page_plays_any_model_of_the_family(spec, fmnist, tmp_path, monkeypatch):
    """Another shape, trained here with its recording: the page finds its layers from the model (one conv layer too)."""
    from fashion_viz.engine import Engine
    from fashion_viz.storage import load_checked_model, save_model
    from fashion_viz.training import TrainConfig, train

    result = train(fmnist, TrainConfig(architecture=spec, epochs=2, batch_size=128, train_limit=2_000, test_limit=300, mixed_precision=False))
    path = tmp_path / "shape.keras"
    save_model(result.model, path, result.card, result.sample_probabilities, result.checkpoints, result.recording)
    loaded = load_checked_model(path)
    prepare_replay(Engine(loaded.model), path, loaded.card, fmnist)
    monkeypatch.setenv("FASHION_VIZ_MODELS_DIR", str(tmp_path))
    at = open_page("replay", path)
    assert not at.error, [e.value for e in at.error] + [i.value for i in at.info]
    data = player_data(player_html(at))
    assert data["frames"] == len(result.recording.snapshots) and len(data["panels"]) == (3 if spec.count("conv") > 1 else 2)
    assert any(s.key == "replay_filter_widget" for s in at.number_input) == (spec.count("conv") > 1)
