"""Issue: the arithmetic of every layer. Every number agrees with the Keras model, for the shipped model and a fresh one."""

import json

import numpy as np
import pytest
from conftest import write_png
from test_cli import in_process, run_cli

from fashion_viz.engine import Engine
from fashion_viz.explain.arithmetic import (
    PositionError,
    dropout_masks,
    explain_value,
    flatten_index,
    masked_dropout,
    monte_carlo_dropout,
    field_of,
    softmax_with_temperature,
)
from fashion_viz.architecture import SEED_SPEC, build_model, layer_names, model_input, parse_spec

LAYER_NAMES = tuple(layer_names(parse_spec(SEED_SPEC)))  # the shipped model's layers

EXPECTED_FIELDS = {"conv1": 3, "pool1": 4, "dropout1": 4, "conv2": 8, "pool2": 10, "dropout2": 10}


@pytest.fixture(scope="module")
def fresh():
    """A freshly initialised seed model (no training), with its engine."""
    model = build_model(seed=3)
    return model, Engine(model)


def random_positions(shape, rng, count):
    return [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]


def keras_pre_activation(model, index, x):
    """The layer's linear output (before its activation), computed with Keras' own ops."""
    import keras

    layer = model.layers[index]
    kernel, bias = layer.get_weights()
    x = keras.ops.convert_to_tensor(x[None].astype(np.float32))
    if type(layer).__name__ == "Conv2D":
        out = keras.ops.conv(x, kernel, strides=1, padding="valid") + bias
    else:
        out = keras.ops.matmul(keras.ops.reshape(x, (1, -1)), kernel) + bias
    return np.asarray(out)[0]


@pytest.mark.parametrize("which", ["shipped", "fresh"])
def test_every_layer_every_number_matches_the_model(which, shipped, engine, fresh, sample):
    model, ex = (shipped.model, engine) if which == "shipped" else fresh
    rng = np.random.default_rng(0)
    for image in sample.images[::50]:
        acts = ex.activations(image)
        for index, name in enumerate(LAYER_NAMES):
            values = acts.layers[index].values
            positions = random_positions(values.shape, rng, 12)
            positions.append(tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape)))  # one non-zero value
            x = model_input(image)[0] if index == 0 else acts.layers[index - 1].values
            pre = keras_pre_activation(model, index, x) if acts.layers[index].kind in ("conv", "dense", "softmax") else None
            for at in positions:
                calc = explain_value(model, image, acts, name, at)
                assert calc.output == pytest.approx(calc.model_output, abs=1e-5, rel=1e-5), (name, at)
                assert calc.model_output == pytest.approx(float(values[at]), abs=0), "model_output is the layer's own value"
                if calc.inputs is not None:
                    assert len(calc.inputs) == len(calc.weights)
                    assert float(np.sum(calc.inputs * calc.weights) + calc.bias) == pytest.approx(calc.pre_activation, abs=1e-9)
                    assert calc.pre_activation == pytest.approx(float(pre[at]), abs=1e-5, rel=1e-5), (name, at, "pre-activation")
                if calc.kind in ("conv", "dense"):
                    assert calc.output == max(calc.pre_activation, 0.0)
                if calc.kind == "conv":
                    assert calc.per_channel.sum() == pytest.approx(calc.pre_activation - calc.bias, abs=1e-9)
                if calc.kind == "pool":
                    assert calc.output == calc.window.max() and calc.window[calc.window_argmax] == calc.output
                if calc.kind == "softmax":
                    assert calc.probabilities.sum() == pytest.approx(1.0)
                    assert calc.probabilities == pytest.approx(acts.probabilities, abs=1e-6)


def test_conv_inputs_and_weights_are_the_window_and_the_filter(shipped, engine, sample):
    image = sample.images[7]
    acts = engine.activations(image)
    calc = explain_value(shipped.model, image, acts, "conv2", (4, 5, 17))
    kernel, bias = shipped.model.get_layer("conv2").get_weights()
    np.testing.assert_array_equal(calc.weights.reshape(3, 3, 32), kernel[:, :, :, 17])
    np.testing.assert_array_equal(calc.inputs.reshape(3, 3, 32), acts.layer("dropout1").values[4:7, 5:8, :])
    assert calc.bias == pytest.approx(float(bias[17]))
    conv1 = explain_value(shipped.model, image, acts, "conv1", (10, 3, 2))
    np.testing.assert_allclose(conv1.inputs.reshape(3, 3), image[10:13, 3:6] / 255.0)


@pytest.mark.parametrize("name, size", EXPECTED_FIELDS.items())
def test_receptive_field_sizes(shipped, name, size):
    index = LAYER_NAMES.index(name)
    top, left, bottom, right = field_of(shipped.model, index, 1, 2)
    assert (bottom - top, right - left) == (size, size)


@pytest.mark.parametrize("name", list(EXPECTED_FIELDS))
def test_receptive_field_is_exactly_where_the_gradient_reaches(fresh, name):
    """Input pixels with a non-zero gradient lie inside the field; over many inputs they fill it."""
    import tensorflow as tf

    import keras

    model, _ = fresh
    index = LAYER_NAMES.index(name)
    every_layer = keras.Model(model.inputs[0], [layer.output for layer in model.layers])  # Keras' own graph, not the engine
    shape = every_layer.outputs[index].shape[1:]
    rng = np.random.default_rng(1)
    for r, c, k in random_positions(shape, rng, 3):
        images = tf.constant(rng.random((96, 28, 28, 1), dtype=np.float32))
        with tf.GradientTape() as tape:
            tape.watch(images)
            value = tf.reduce_sum(every_layer(images, training=False)[index][:, r, c, k])
        reached = np.abs(tape.gradient(value, images).numpy()[..., 0]).max(axis=0) > 0
        top, left, bottom, right = field_of(model, index, r, c)
        field = np.zeros((28, 28), bool)
        field[top:bottom, left:right] = True
        assert not (reached & ~field).any(), f"{name}[{r},{c},{k}]: gradient outside the field"
        assert reached[field].all(), f"{name}[{r},{c},{k}]: the field is larger than what the value depends on"


def test_stride_2_convolutions_take_every_other_window(sample):
    """conv s2: the value at (r, c) is the window at (2r, 2c), and its field is where the gradient reaches."""
    import tensorflow as tf

    model = build_model("conv8s2,conv16s2,flatten,dense16", seed=2)
    strided = Engine(model)
    image = sample.images[3]
    acts = strided.activations(image)
    for name, at in (("conv1", (5, 7, 3)), ("conv2", (4, 2, 9))):
        calc = explain_value(model, image, acts, name, at)
        assert calc.output == pytest.approx(calc.model_output, abs=1e-5)
        assert calc.window_origin == (2 * at[0], 2 * at[1])
    x = tf.constant(model_input(image))
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = strided.trace(x)["pre"]["conv2"][0, 4, 2, 9]
    reached = np.abs(tape.gradient(value, x).numpy()[0, ..., 0]) > 0
    top, left, bottom, right = strided.info("conv2").field(4, 2)
    assert (bottom - top, right - left) == (7, 7) and (top, left) == (16, 8)
    assert not reached[:top].any() and not reached[bottom:].any() and not reached[:, :left].any() and not reached[:, right:].any()


def test_flatten_maps_positions_both_ways(shipped, engine, sample):
    acts = engine.activations(sample.images[3])
    for r, c, ch in [(0, 0, 0), (2, 3, 17), (4, 4, 63)]:
        unit = flatten_index((5, 5, 64), r, c, ch)
        calc = explain_value(shipped.model, sample.images[3], acts, "flatten", (unit,))
        assert calc.source == (r, c, ch) and calc.output == acts.layer("dropout2").values[r, c, ch]
    assert flatten_index((5, 5, 64), 1, 0, 0) == 320


def test_bad_positions_are_refused_with_a_sentence(shipped, engine, sample):
    acts = engine.activations(sample.images[0])
    with pytest.raises(PositionError, match="no layer named"):
        explain_value(shipped.model, sample.images[0], acts, "conv3", (0, 0, 0))
    with pytest.raises(PositionError, match="row 26 is out of range for conv1"):
        explain_value(shipped.model, sample.images[0], acts, "conv1", (26, 0, 0))
    with pytest.raises(PositionError, match="give row,column,channel"):
        explain_value(shipped.model, sample.images[0], acts, "conv2", (3,))


def test_dropout_training_masks(shipped, engine, sample):
    image = sample.images[150]
    acts = engine.activations(image)
    a = masked_dropout(engine, image, acts, "dropout3", seed=4)
    b = masked_dropout(engine, image, acts, "dropout3", seed=4)
    assert np.array_equal(a.mask, b.mask) and np.allclose(a.probabilities, b.probabilities), "a seed draws the same mask"
    assert a.scale == 2.0 and abs(a.mask.mean() - 0.5) < 0.15
    np.testing.assert_allclose(a.after, acts.layer("dropout3").values * a.mask * 2.0)
    assert a.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    spatial = masked_dropout(engine, image, acts, "dropout1", seed=1)
    assert spatial.scale == pytest.approx(1 / 0.7) and abs(spatial.mask.mean() - 0.7) < 0.05
    # Keeping every unit and scaling by 2 doubles dropout3's output; the prediction follows that, not inference.
    doubled = engine.with_dropout(image, {"dropout3": np.ones((1, 128), bool)})[0]
    logits = (acts.layer("dropout3").values * 2.0) @ shipped.model.get_layer("predictions").get_weights()[0] + shipped.model.get_layer("predictions").get_weights()[1]
    np.testing.assert_allclose(doubled, softmax_with_temperature(logits, 1.0), atol=1e-5)
    unsure = sample.images[int(np.argmin(engine.probabilities(sample.images).max(axis=1)))]
    samples = monte_carlo_dropout(engine, unsure, samples=50, seed=0)
    assert samples.shape == (50, 10) and np.allclose(samples.sum(axis=1), 1, atol=1e-5)
    assert samples.std(axis=0).max() > 0.02, "on a picture the model is unsure about, the masks make the answer wobble"
    assert np.array_equal(samples, monte_carlo_dropout(engine, unsure, samples=50, seed=0))
    assert dropout_masks((10,), 0.3, 0, samples=3).shape == (3, 10)


def test_softmax_temperature_keeps_the_ranking():
    logits = np.array([2.0, -1.0, 0.5, 3.0])
    for t in (0.25, 1.0, 4.0):
        p = softmax_with_temperature(logits, t)
        assert p.sum() == pytest.approx(1.0) and list(np.argsort(p)) == list(np.argsort(logits))
    assert softmax_with_temperature(logits, 0.25).max() > softmax_with_temperature(logits, 4.0).max()


def test_calc_cli_json_agrees_with_the_model(tmp_path, engine, shipped, sample, capsys):
    image = sample.images[45]
    path = write_png(tmp_path / "dress.png", image)
    acts = engine.activations(image)
    for layer, at in [("conv1", "3,4,5"), ("pool1", "6,6,2"), ("dropout1", "1,2,3"), ("conv2", "4,5,17"), ("pool2", "2,2,9"),
                      ("dropout2", "0,1,2"), ("flatten", "777"), ("dense1", "9"), ("dropout3", "9"), ("predictions", "3")]:
        code, stdout, stderr = in_process(capsys, "calc", str(path), "--layer", layer, "--at", at, "--json")
        assert code == 0, stderr
        out = json.loads(stdout)
        position = tuple(int(a) for a in at.split(","))
        expected = float(acts.layer(layer).values[position])
        assert out["layer"] == layer and out["at"] == list(position) and out["model_output"] == pytest.approx(expected, abs=1e-6)
        assert out["output"] == pytest.approx(expected, abs=1e-5)
        if out["kind"] in ("conv", "dense", "softmax"):
            assert len(out["inputs"]) == len(out["weights"])
            assert sum(i * w for i, w in zip(out["inputs"], out["weights"])) + out["bias"] == pytest.approx(out["pre_activation"], abs=1e-6)
        if out["kind"] == "pool":
            assert max(max(row) for row in out["window"]) == out["output"]
        if out["kind"] == "softmax":
            assert out["probabilities"][3] == pytest.approx(out["output"]) and len(out["logits"]) == len(out["exps"]) == 10


@pytest.mark.slow
def test_calc_cli_training_mask_and_usage_errors(tmp_path, sample):
    path = write_png(tmp_path / "boot.png", sample.images[-1])
    masked = run_cli("calc", str(path), "--layer", "dropout3", "--at", "5", "--train-mask", "3", "--json")
    assert masked.returncode == 0, masked.stderr
    out = json.loads(masked.stdout)
    assert out["scale"] == 2.0 and out["output"] == pytest.approx(out["model_output"] * 2.0 if out["kept"] else 0.0, abs=1e-6)
    assert sum(out["probabilities_under_mask"]) == pytest.approx(1.0, abs=1e-5)
    for args, message in [(("--layer", "conv9", "--at", "1,1,1"), "no layer named"), (("--layer", "conv1", "--at", "26,0,0"), "out of range"),
                          (("--layer", "dense1", "--at", "a,b"), "--at takes"), (("--layer", "conv1", "--at", "1,1,1", "--train-mask", "2"), "dropout layers")]:
        result = run_cli("calc", str(path), *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    text = run_cli("calc", str(path), "--layer", "conv2", "--at", "4,5,17")
    assert text.returncode == 0 and "partial sums" in text.stdout and "ReLU" in text.stdout
