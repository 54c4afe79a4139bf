"""The one engine under every view: every number agrees with Keras, for the seed and for other members of the family."""

import threading

import numpy as np
import pytest

from fashion_viz.architecture import build_model, model_input
from fashion_viz.engine import Engine

SHAPES = {
    "conv1": (26, 26, 32),
    "pool1": (13, 13, 32),
    "dropout1": (13, 13, 32),
    "conv2": (11, 11, 64),
    "pool2": (5, 5, 64),
    "dropout2": (5, 5, 64),
    "flatten": (1600,),
    "dense1": (128,),
    "dropout3": (128,),
    "predictions": (10,),
}
VARIANTS = ["conv16,pool,conv48,flatten,dense64", "conv8,conv8,flatten", "conv12k5,pool,drop0.2,flatten,dense32,dense16", "conv8s2,conv16s2,flatten,dense16"]


def keras_outputs(model, images: np.ndarray) -> list[np.ndarray]:
    """Every layer's output by Keras' own graph: the reference the engine is checked against."""
    import keras

    every_layer = keras.Model(model.inputs[0], [layer.output for layer in model.layers])
    return [np.asarray(out) for out in every_layer(model_input(images), training=False)]


def test_every_layer_has_its_shape(engine, sample):
    acts = engine.activations(sample.images[0])
    assert [(o.name, o.values.shape) for o in acts.layers] == list(SHAPES.items())
    assert acts.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("spec", [None, *VARIANTS])
def test_every_layer_agrees_with_keras(spec, shipped, sample):
    model = shipped.model if spec is None else build_model(spec, seed=1)
    engine = Engine(model)
    images = sample.images[::20]
    outputs, logits = engine.forward(model_input(images))
    for name, got, want in zip(engine.names, outputs, keras_outputs(model, images)):
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(engine.probabilities(images), outputs[-1], atol=1e-6)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(outputs[-1], expected, atol=1e-5)


def test_inference_dropout_passes_values_through(engine, sample):
    acts = engine.activations(sample.images[40])
    assert np.array_equal(acts.layer("dropout1").values, acts.layer("pool1").values)
    assert np.array_equal(acts.layer("flatten").values, acts.layer("dropout2").values.reshape(-1))


def test_bad_shape_is_refused(engine):
    with pytest.raises(ValueError, match="28x28"):
        engine.activations(np.zeros((32, 32), np.uint8))


def test_switching_units_off_is_zeroing_their_outputs(engine, sample):
    x = model_input(sample.images[:6])
    outputs, _ = engine.forward(x, {"conv2": [3, 17], "dense1": [5]})
    assert not outputs[engine.names.index("conv2")][..., [3, 17]].any()
    assert not outputs[engine.names.index("dense1")][:, 5].any()
    plain, _ = engine.forward(x)
    np.testing.assert_array_equal(outputs[0], plain[0]), "layers before a switched-off unit do not change"
    with pytest.raises(ValueError, match="switched off in conv1, conv2, dense1"):
        engine.forward(x, {"pool1": [0]})


def test_gradients_match_keras_own_tape(shipped, engine, sample):
    """d score / d input and d score / d conv2 by the engine equal the tape over Keras' layers (the finite-difference
    check of the gradient is in test_attribution)."""
    import keras
    import tensorflow as tf

    x = model_input(sample.images[5:8])
    direction = np.eye(10, dtype=np.float32)[4] - np.eye(10, dtype=np.float32)[2]
    score, grad = engine.gradients(x, direction)
    head = shipped.model.layers[-1]
    pre_softmax = keras.Model(shipped.model.inputs[0], shipped.model.layers[-2].output)
    kernel, bias = (tf.constant(w) for w in head.get_weights())
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        keras_score = tf.linalg.matvec(tf.matmul(pre_softmax(inputs, training=False), kernel) + bias, direction)
    np.testing.assert_allclose(score, keras_score.numpy(), atol=1e-4)
    np.testing.assert_allclose(grad, tape.gradient(keras_score, inputs).numpy()[..., 0], atol=1e-4)
    _, feature, layer_grad = engine.layer_gradients(x, direction, "conv2")
    assert feature.shape == (3, 11, 11, 64) and layer_grad.shape == feature.shape and np.abs(layer_grad).sum() > 0


def test_dropout_masks_as_training_draws_them(engine, sample):
    image = sample.images[3]
    acts = engine.activations(image)
    keep = np.zeros((1, 128), bool)
    keep[0, :64] = True
    masked = engine.with_dropout(image, {"dropout3": keep})[0]
    kernel, bias = engine.kernels("predictions"), engine.biases("predictions")
    logits = (acts.layer("dense1").values * keep[0] * 2.0) @ kernel + bias
    np.testing.assert_allclose(masked, np.exp(logits) / np.exp(logits).sum(), atol=1e-5)


def test_one_worker_thread_and_one_test_set_pass(engine, sample):
    before = {t.name for t in threading.enumerate()}
    for _ in range(3):
        engine.activations(sample.images[0])
        engine.predict(model_input(sample.images[:2]))
    assert {t.name for t in threading.enumerate()} - before == set(), "no new threads per call"
    first = engine.dataset_pass(sample.images)
    assert engine.dataset_pass(sample.images) is first, "the pass over a picture set is made once and shared"
    np.testing.assert_allclose(first.probabilities, engine.probabilities(sample.images), atol=1e-6)
    np.testing.assert_allclose(first.conv_max["conv1"], engine.forward(model_input(sample.images))[0][0].max(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(first.head_input, engine.forward(model_input(sample.images))[0][engine.names.index("flatten")], atol=1e-6)
