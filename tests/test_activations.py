import numpy as np
import pytest

from fashion_viz.activations import ActivationExtractor
from fashion_viz.architecture import model_input as as_model_batch

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


def test_every_layer_has_its_shape(extractor, sample):
    acts = extractor(sample.images[0])
    assert [(o.name, o.values.shape) for o in acts.layers] == list(SHAPES.items())


def test_probabilities_sum_to_one_and_match_the_model(extractor, shipped, sample):
    acts = extractor(sample.images[5])
    assert acts.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    direct = shipped.model(as_model_batch(sample.images[5]), training=False).numpy()[0]
    assert np.allclose(acts.probabilities, direct, atol=1e-6)


def test_inference_dropout_passes_values_through(extractor, sample):
    acts = extractor(sample.images[40])
    assert np.array_equal(acts.layer("dropout1").values, acts.layer("pool1").values)
    assert np.array_equal(acts.layer("flatten").values, acts.layer("dropout2").values.reshape(-1))


def test_batch_call_and_bad_shape(extractor, sample):
    probs = extractor.probabilities(sample.images[:8])
    assert probs.shape == (8, 10)
    with pytest.raises(ValueError, match="28x28"):
        extractor(np.zeros((32, 32), np.uint8))


def test_extractor_is_general_over_models():
    """Any chain of layers works, e.g. a smaller model offered beside the seed one."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 5, name="c"), keras.layers.Flatten(name="f"), keras.layers.Dense(10, activation="softmax", name="out")])
    acts = ActivationExtractor(model)(np.zeros((28, 28), np.uint8))
    assert [o.values.shape for o in acts.layers] == [(24, 24, 4), (2304,), (10,)]
