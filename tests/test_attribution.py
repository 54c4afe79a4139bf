"""Issue: attribution maps. A tiny model trained here on a planted trigger; the maps must find it."""

import json

import numpy as np
import pytest
from conftest import write_png
from test_cli import run_cli

from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import model_input
from fashion_viz.engine import Engine
from fashion_viz.explain.attribution import METHODS, attribute, class_index, score_direction
from fashion_viz.explain.faithfulness import auc, average_ranks, fixed_test_set, gaussian_blur, measure, spearman

TRIGGER_CLASS = 0
PATCH = (slice(1, 4), slice(1, 4))  # a bright 3x3 patch in the top-left corner


def with_trigger(images: np.ndarray) -> np.ndarray:
    out = images.copy()
    out[:, PATCH[0], PATCH[1]] = 255
    return out


@pytest.fixture(scope="module")
def trigger_model(fmnist):
    """Conv-conv-pool-dense, trained on real pictures where the patch alone means class 0."""
    import keras

    rng = np.random.default_rng(0)
    keep = np.flatnonzero(fmnist.y_train[:12_000] != TRIGGER_CLASS)
    x, y = fmnist.x_train[keep].copy(), fmnist.y_train[keep].astype(np.int64)
    planted = rng.random(len(x)) < 0.3
    x[planted] = with_trigger(x[planted])
    y[planted] = TRIGGER_CLASS
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=keras.initializers.GlorotUniform(seed=1)),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv2", kernel_initializer=keras.initializers.GlorotUniform(seed=2)),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="predictions", kernel_initializer=keras.initializers.GlorotUniform(seed=3)),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(model_input(x), y, batch_size=128, epochs=3, verbose=0, shuffle=False)
    test = with_trigger(fmnist.x_test[np.flatnonzero(fmnist.y_test != TRIGGER_CLASS)[:60]])
    return model, Engine(model), test


def test_the_trigger_model_learned_the_trigger(trigger_model):
    _, sm, test = trigger_model
    _, probabilities = sm.predict(model_input(test))
    assert (probabilities.argmax(axis=1) == TRIGGER_CLASS).mean() >= 0.95


@pytest.mark.parametrize("method, options", [("saliency", {}), ("integrated-gradients", {}), ("gradcam", {"layer": "conv1"})])
def test_maps_find_the_planted_trigger(trigger_model, method, options):
    """Grad-CAM runs on conv1 here: behind a Flatten + Dense head, Grad-CAM's averaged channel weights on
    the last conv layer light up the garment, not the patch (measured: 0 of 60); the Why page says so."""
    _, sm, test = trigger_model
    inside = 0
    for image in test:
        result = attribute(sm, image, method, TRIGGER_CLASS, **options)
        r, c = np.unravel_index(int(np.argmax(result.map)), result.map.shape)
        inside += PATCH[0].start <= r < PATCH[0].stop and PATCH[1].start <= c < PATCH[1].stop
    assert inside / len(test) >= 0.9, f"{method}: maximum inside the patch on only {inside} of {len(test)} pictures"


def test_integrated_gradients_completeness(shipped, sample):
    sm = Engine(shipped.model)
    for image in sample.images[::20]:
        for target, contrast in ((3, None), (6, 0)):
            result = attribute(sm, image, "integrated-gradients", target, contrast)
            logits, _ = sm.predict(np.concatenate([model_input(image), np.zeros((1, 28, 28, 1), np.float32)]))
            direction = score_direction(target, contrast)
            change = float(logits[0] @ direction - logits[1] @ direction)
            assert abs(result.map.sum() - change) <= 0.05 * abs(change), "attributions add up to the score's change"
            assert result.details["completeness_error"] <= 0.05 and result.signed


def logits_float64(model, x: np.ndarray) -> np.ndarray:
    """The seed model's logits for one (28, 28) input, recomputed in float64 with NumPy (a reference
    implementation: valid 3x3 convolutions, ReLU, 2x2 max pooling, dense layers)."""
    from numpy.lib.stride_tricks import sliding_window_view

    h = x[..., None].astype(np.float64)
    for layer in model.layers[:-1]:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kernel, bias = (w.astype(np.float64) for w in layer.get_weights())
            windows = sliding_window_view(h, (3, 3), axis=(0, 1))  # (h, w, c, 3, 3)
            h = np.maximum(np.einsum("ijcab,abck->ijk", windows, kernel) + bias, 0)
        elif kind == "MaxPooling2D":
            n, m = h.shape[0] // 2, h.shape[1] // 2
            h = h[: 2 * n, : 2 * m].reshape(n, 2, m, 2, -1).max(axis=(1, 3))
        elif kind == "Flatten":
            h = h.reshape(-1)
        elif kind == "Dense":
            kernel, bias = (w.astype(np.float64) for w in layer.get_weights())
            h = np.maximum(h @ kernel + bias, 0)
    kernel, bias = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    return h @ kernel + bias


def test_gradient_agrees_with_a_finite_difference(shipped, sample):
    """Float64 finite differences match the saliency gradient wherever the score is differentiable.

    A ReLU network with max pooling has kinks: over the black background, and where saturated (255)
    pixels repeat, max pooling compares exactly equal values, so the derivative from the left and from
    the right differ. Those pixels are recognised (one-sided differences disagree) and skipped; at
    least 60 of the 120 probed pixels must be checked."""
    sm = Engine(shipped.model)
    rng = np.random.default_rng(0)
    checked = 0
    for image in sample.images[[40, 80, 130, 160]]:  # pullover, coat, shirt, bag: broad garments
        x = model_input(image)[0, ..., 0].astype(np.float64)
        target = int(np.argmax(logits_float64(shipped.model, x)))
        _, grad = sm.gradients(model_input(image), score_direction(target))
        assert np.allclose(logits_float64(shipped.model, x), sm.predict(model_input(image))[0][0], atol=1e-4), "the reference agrees"
        centre = logits_float64(shipped.model, x)[target]
        for r, c in zip(rng.integers(2, 26, 30), rng.integers(2, 26, 30)):
            up, down = x.copy(), x.copy()
            up[r, c] += 1e-7
            down[r, c] -= 1e-7
            right = (logits_float64(shipped.model, up)[target] - centre) / 1e-7
            left = (centre - logits_float64(shipped.model, down)[target]) / 1e-7
            if abs(right - left) > 1e-4 * max(1.0, abs(right)):
                continue  # a kink: no single derivative to compare with
            checked += 1
            assert grad[0, r, c] == pytest.approx((right + left) / 2, rel=1e-3, abs=1e-4), (r, c)
    assert checked >= 60, f"only {checked} differentiable pixels probed"


def test_every_method_gives_a_picture_sized_map_and_contrast_changes_it(shipped, sample):
    sm = Engine(shipped.model)
    image = sample.images[130]  # a shirt
    for method in METHODS:
        alone = attribute(sm, image, method, class_index("Shirt"))
        versus = attribute(sm, image, method, class_index("Shirt"), class_index("T-shirt/top"))
        assert alone.map.shape == versus.map.shape == (28, 28) and np.isfinite(alone.map).all()
        assert versus.contrast == 0 and not np.allclose(alone.map, versus.map), method
        if not alone.signed:
            assert alone.map.min() >= 0


def test_switching_units_off_changes_maps_and_scores(shipped, sample):
    sm = Engine(shipped.model)
    image = sample.images[130]
    x = model_input(image)
    _, base = sm.predict(x)
    _, all_off = sm.predict(x, {"dense1": list(range(128))})
    np.testing.assert_allclose(all_off[0], np.exp(sm.biases("predictions")) / np.exp(sm.biases("predictions")).sum(), atol=1e-5)
    _, some_off = sm.predict(x, {"conv2": [1, 2, 3]})
    assert not np.allclose(base, some_off)
    _, none_off = sm.predict(x, {})
    np.testing.assert_allclose(none_off, shipped.model(x, training=False).numpy(), atol=1e-5)


def test_class_names_and_bad_classes():
    assert class_index("shirt") == 6 and class_index("9") == 9 and class_index(2) == 2
    with pytest.raises(ValueError, match="not a class"):
        class_index("hat")
    with pytest.raises(ValueError, match="out of range"):
        class_index(10)


def test_faithfulness_measures_on_a_few_pictures(shipped, fmnist):
    indices = fixed_test_set(fmnist.y_test, 10)
    assert len(indices) == 10 and np.array_equal(indices, fixed_test_set(fmnist.y_test, 10)), "the same set every time"
    report = measure(shipped.model, fmnist.x_test[indices], randomisation_images=4)
    assert set(report.deletion_auc) == set(METHODS) | {"random"}
    assert report.deletion_auc["occlusion"] < report.deletion_auc["random"], "removing what occlusion marks hurts more than random pixels"
    assert report.insertion_auc["integrated-gradients"] > report.insertion_auc["random"]
    assert set(report.randomisation_spearman["saliency"]) == {"predictions", "predictions+dense1", "predictions+dense1+conv2", "predictions+dense1+conv2+conv1"}
    assert report.ig_completeness["share_within_5pct"] == 1.0


def test_curve_helpers():
    assert auc(np.ones(5)) == 1.0 and auc(np.linspace(1, 0, 11)) == pytest.approx(0.5)
    assert list(average_ranks(np.array([3, 1, 3, 2]))) == [3.5, 1.0, 3.5, 2.0]
    assert spearman(np.arange(10), np.arange(10) ** 2) == pytest.approx(1.0) and spearman(np.ones(4), np.arange(4)) == 0.0
    flat = np.full((1, 28, 28), 0.5)
    assert np.allclose(gaussian_blur(flat), 0.5)


@pytest.mark.slow
def test_explain_cli_json_and_png(tmp_path, shipped, sample):
    images = [write_png(tmp_path / f"p{i}.png", sample.images[i]) for i in (130, 199)]
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    out = tmp_path / "overlays"
    result = run_cli("explain", *map(str, images), str(bad), "--method", "gradcam", "--target", "Shirt", "--contrast", "0", "--json", "--png", str(out))
    assert result.returncode == 1, result.stderr  # one file failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("method") for line in lines[:2]] == ["gradcam", "gradcam"] and lines[0]["target"] == 6
    assert len(lines[0]["map"]) == 28 and all(len(row) == 28 for row in lines[0]["map"])
    assert sum(lines[0]["probabilities"]) == pytest.approx(1.0, abs=1e-5) and len(lines[0]["probabilities"]) == len(CLASS_NAMES)
    assert lines[2]["path"] == str(bad) and "error" in lines[2]
    assert sorted(p.name for p in out.iterdir()) == ["p130-gradcam.png", "p199-gradcam.png"]
    ok = run_cli("explain", str(images[0]), "--method", "occlusion", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["target"] == json.loads(ok.stdout)["predicted"]
    usage = run_cli("explain", str(images[0]), "--method", "magic")
    assert usage.returncode == 2
    usage = run_cli("explain", str(images[0]), "--method", "saliency", "--target", "hat")
    assert usage.returncode == 2 and "not a class" in usage.stderr


@pytest.mark.slow
def test_faithfulness_cli_stores_a_report_the_page_reads(tmp_path, model_copy, fmnist):
    from fashion_viz.explain.faithfulness import load_report, report_path
    from fashion_viz.storage import read_card

    result = run_cli("faithfulness", "--model", str(model_copy), "--count", "10")
    assert result.returncode == 0, result.stderr
    assert "deletion" in result.stdout and "Integrated Gradients completeness" in result.stdout
    report = load_report(model_copy, read_card(model_copy).model_sha256)
    assert report is not None and report.images == 10 and len(report.test_indices) == 10
    assert load_report(model_copy, "another model") is None, "a report is only shown for the weights it measured"
    assert report_path(model_copy).name == "model.faithfulness.json"
    assert run_cli("faithfulness", "--model", str(model_copy), "--count", "3").returncode == 2
