"""Units and map: the forward pass, exemplars, votes, visualisations and placement are right."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_png
from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import model_input


@pytest.fixture(scope="module")
def stored(shipped):
    """The shipped model's stored atlas and map (committed beside it)."""
    from fashion_viz.explain.precompute import stored_views

    views = stored_views(shipped.path, shipped.card.model_sha256)
    assert views.complete, "models/fashion_cnn.units.npz and .embedding.npz must match the shipped model: run `python -m fashion_viz precompute`"
    return views


@pytest.fixture(scope="module")
def small_atlas(fmnist):
    """An atlas built from scratch for an untrained seed-architecture model on 500 test images, 20 steps."""
    from fashion_viz.architecture import build_model
    from fashion_viz.engine import Engine
    from fashion_viz.explain.units import build_atlas

    model = build_model(seed=3)
    images, labels = fmnist.x_test[:500], fmnist.y_test[:500]
    engine = Engine(model)
    return engine, images, labels, build_atlas(engine, images, labels, "ab" * 32, steps=20)


def test_the_engines_pre_activations_match_the_keras_model(shipped, engine, fmnist):
    """The pre-activations the units are scored and visualised by: the engine's own, against Keras' layers."""
    import keras

    images = fmnist.x_test[:40]
    out = engine.trace(model_input(images))
    every_layer = keras.Model(shipped.model.inputs[0], [layer.output for layer in shipped.model.layers])
    layers = [np.asarray(o) for o in every_layer(model_input(images), training=False)]
    names = [layer.name for layer in shipped.model.layers]
    for name in ("conv1", "conv2", "dense1"):
        np.testing.assert_allclose(np.maximum(np.asarray(out["pre"][name]), 0), layers[names.index(name)], atol=1e-4)
    logits = np.asarray(out["logits"])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, layers[-1], atol=1e-5)


def test_exemplars_are_the_strongest_and_weakest_of_the_favourite_class(small_atlas):
    from fashion_viz.explain.units import layer_offsets

    engine, images, labels, atlas = small_atlas
    acts, _ = engine.forward(model_input(images))
    conv2 = acts[3].max(axis=(1, 2))  # (n, 64): each map's strongest value
    offsets = layer_offsets(atlas.sizes)
    for channel in (0, 7, 63):
        row = offsets["conv2"] + channel
        scores = conv2[:, channel]
        np.testing.assert_allclose(scores[atlas.top[row]], np.sort(scores)[::-1][:9], rtol=1e-5)
        favourite = int(atlas.favourite[row])
        assert favourite == int(np.argmax([scores[labels == k].mean() for k in range(10)]))
        members = scores[labels == favourite]
        assert (labels[atlas.bottom[row]] == favourite).all()
        np.testing.assert_allclose(scores[atlas.bottom[row]], np.sort(members)[:9], rtol=1e-5)
        # the outlined patch is where the map peaks
        r, c = atlas.top_position[row, 0]
        assert acts[3][atlas.top[row, 0], r, c, channel] == pytest.approx(scores[atlas.top[row, 0]])
    dense = acts[7]
    unit = 5
    np.testing.assert_allclose(dense[atlas.top[offsets["dense1"] + unit], unit], np.sort(dense[:, unit])[::-1][:9], rtol=1e-5)


def test_votes_equal_switching_the_unit_off(shipped, engine, fmnist):
    """The ablation votes computed in NumPy agree with the model run with the unit masked off."""
    from fashion_viz.explain.units import ablation_votes, layer_offsets, unit_scores, unit_sizes

    images = fmnist.x_test[:300]
    votes = ablation_votes(engine, unit_scores(engine, images))
    scorer = engine
    logits, _ = scorer.predict(model_input(images))
    offsets = layer_offsets(unit_sizes(engine))
    for layer, unit in (("conv2", 17), ("conv2", 40), ("dense1", 3)):
        without, _ = scorer.predict(model_input(images), off={layer: [unit]})
        np.testing.assert_allclose(votes[offsets[layer] + unit], (logits - without).mean(axis=0), atol=1e-3)
    assert np.isnan(votes[offsets["conv1"]]).all() and np.isnan(votes[offsets["predictions"]]).all()


def test_each_class_picture_is_read_back_as_its_class(engine, stored):
    from fashion_viz.explain.units import class_picture_probabilities

    probabilities = class_picture_probabilities(engine, stored.atlas)
    assert probabilities.min() >= 0.9, dict(zip(CLASS_NAMES, probabilities.round(3)))


def test_conv2_pictures_beat_the_99th_percentile(engine, stored, fmnist):
    from fashion_viz.explain.units import conv_reach_ratio, layer_offsets, objectives_reached, unit_scores

    atlas = stored.atlas
    assert conv_reach_ratio(atlas, "conv2").min() > 1.0
    # the stored figures are what the stored pictures really do, and the percentile is the test set's
    np.testing.assert_allclose(objectives_reached(engine, atlas.act_max), atlas.act_max_reached, rtol=1e-4, atol=1e-4)
    start = layer_offsets(atlas.sizes)["conv2"]
    scores = unit_scores(engine, fmnist.x_test).scores[:, start : start + 64]
    np.testing.assert_allclose(np.percentile(scores, 99, axis=0), atlas.score_p99[start : start + 64], rtol=1e-4)


def test_visualisations_are_reproducible_from_the_seed(engine, stored):
    from fashion_viz.explain.units import activation_maximisation, layer_offsets, to_uint8

    offsets = layer_offsets(stored.atlas.sizes)
    rows = np.array([offsets["conv2"] + 17, offsets["dense1"] + 5, offsets["predictions"] + 1])
    prior = stored.atlas.act_max  # any fixed picture; only rows that use a prior see it
    first = to_uint8(activation_maximisation(engine, stored.atlas.score_p99 + 1, steps=30, rows=rows, prior=prior[0]))
    second = to_uint8(activation_maximisation(engine, stored.atlas.score_p99 + 1, steps=30, rows=rows, prior=prior[0]))
    np.testing.assert_array_equal(first, second)
    assert first[rows].std(axis=(1, 2)).min() > 1  # a picture, not a blank


def test_atlas_is_stored_beside_the_model_and_tied_to_its_file(small_atlas, tmp_path):
    from fashion_viz.explain.units import load_atlas, save_atlas, unit_atlas_path

    _, _, _, atlas = small_atlas
    path = unit_atlas_path(tmp_path / "m.keras")
    assert path.name == "m.units.npz"
    save_atlas(atlas, path)
    loaded = load_atlas(path, "ab" * 32)
    np.testing.assert_array_equal(loaded.act_max, atlas.act_max)
    assert loaded.sizes == {"conv1": 32, "conv2": 64, "dense1": 128, "predictions": 10}
    assert loaded.kinds == {"conv1": "conv", "conv2": "conv", "dense1": "dense", "predictions": "softmax"}
    assert load_atlas(path, "cd" * 32) is None  # another model file: not shown
    path.write_bytes(b"not an npz")
    assert load_atlas(path) is None


def test_neighbour_index_is_exact(fmnist):
    from fashion_viz.explain.embedding import NeighbourIndex

    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 16)).astype(np.float32)
    index = NeighbourIndex(features)
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    found, distances = index.query(queries)
    for q, row, dist in zip(queries, found, distances):
        brute = np.linalg.norm(features - q, axis=1)
        np.testing.assert_array_equal(row, np.argsort(brute)[:10])
        np.testing.assert_allclose(dist, np.sort(brute)[:10], rtol=1e-4)
    own, _ = index.query(features[:3], exclude=np.arange(3))
    assert not any(i in row for i, row in zip(range(3), own))


def test_map_placement_and_neighbour_checks(engine, stored, fmnist):
    """Test images placed by the stored transform land where the map put them; neighbours agree with the model."""
    from fashion_viz.explain.embedding import NeighbourIndex, map_features, placement_checks

    index = NeighbourIndex(map_features(engine, fmnist.x_test))
    predictions = engine.probabilities(fmnist.x_test).argmax(axis=1)
    sample = np.random.default_rng(0).choice(10_000, 1_000, replace=False)
    checks = placement_checks(index, stored.embedding, fmnist.y_test, predictions, sample)
    assert checks["within_2pct_share"] >= 0.9, checks
    assert checks["median_error_share"] <= 0.01, checks
    assert checks["majority_equals_prediction"] >= 0.9, checks
    assert stored.embedding.method == "tsne" and stored.embedding.xy.shape == (10_000, 2)


def test_pca_map_and_preparation_job(model_copy, fmnist):
    """A model without stored views gets them from the background job, tied to its file."""
    from fashion_viz.explain.embedding import embedding_path, load_map
    from fashion_viz.explain.precompute import stored_views
    from fashion_viz.explain.units import unit_atlas_path
    from fashion_viz.jobs import PreparationJobs
    from fashion_viz.storage import file_sha256

    assert not unit_atlas_path(model_copy).exists()
    jobs = PreparationJobs(method="pca", steps=10, probe_sizes=(500, 500))
    assert jobs.start(model_copy, fmnist)
    assert not jobs.start(model_copy, fmnist)  # one job per model file
    sha = file_sha256(model_copy)
    done = jobs.wait(sha, timeout=240)
    assert done.state == "done", done.error
    views = stored_views(model_copy, sha)
    assert views.complete and views.embedding.method == "pca" and views.atlas.steps == 10
    assert load_map(embedding_path(model_copy), "0" * 64) is None


def test_cli_visualize_then_predict_reads_the_class_back(tmp_path, capsys):
    from fashion_viz.cli import main

    assert main(["visualize", "--layer", "predictions", "--unit", "7", "--out", str(tmp_path / "sneaker.png"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["layer"] == "predictions" and shown["unit"] == 7 and len(shown["exemplars"]) == 9
    assert shown["activation"] > shown["test_p99"]
    from PIL import Image

    with Image.open(tmp_path / "sneaker.png") as png:
        assert png.mode == "L" and png.size == (28, 28)
        assert np.asarray(png)[0, 0] < 40  # background is dark, as in the dataset
    assert main(["predict", str(tmp_path / "sneaker.png"), "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert predicted["label"] == "Sneaker" and predicted["probabilities"]["Sneaker"] >= 0.9
    assert main(["visualize", "--layer", "conv2", "--unit", "64", "--out", str(tmp_path / "x.png")]) == 2
    assert "0-63" in capsys.readouterr().err


def test_cli_embed_places_a_test_image_on_itself(tmp_path, capsys, fmnist, stored):
    from fashion_viz.cli import main

    path = write_png(tmp_path / "coat.png", fmnist.x_test[10])
    assert main(["embed", str(path), str(tmp_path / "missing.png"), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["neighbours"][0] == 10  # the picture itself is its nearest test image
    assert len(lines[0]["neighbours"]) == 10 and len(lines[0]["neighbour_labels"]) == 10
    assert lines[0]["neighbour_labels"][0] == CLASS_NAMES[int(fmnist.y_test[10])]
    assert np.linalg.norm(np.array(lines[0]["xy"]) - stored.embedding.xy[10]) <= 0.02 * stored.embedding.width
    assert lines[1]["path"].endswith("missing.png") and "error" in lines[1]


def test_a_model_that_gives_every_picture_the_same_vector_gets_a_map_not_a_crash():
    """openTSNE divided by the spread of its PCA start and crashed the process (a segmentation fault) on a model that
    learnt nothing; such features get their PCA positions, all at one point."""
    from fashion_viz.explain.embedding import fit_map

    same = np.ones((300, 16), np.float32)
    xy = fit_map(same, "tsne")
    assert xy.shape == (300, 2) and np.isfinite(xy).all() and np.ptp(xy) == 0
    line = np.c_[np.arange(300.0), np.zeros(300)].astype(np.float32)  # one direction of spread only
    assert np.isfinite(fit_map(line, "tsne")).all()
