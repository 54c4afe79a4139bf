"""The family of models: SPECs written, checked, built and read back from Keras models."""

import numpy as np
import pytest

from fashion_viz.architecture import (
    PRESETS,
    SEED_PARAMETERS,
    SEED_SPEC,
    SpecError,
    build_model,
    layer_names,
    normalised_spec,
    parameter_count,
    parse_spec,
    spec_of_model,
)

VARIANTS = ["conv16,pool,conv48,flatten,dense64", "conv8,conv8,flatten,dense16", "conv12k5,pool,drop0.2,flatten", "conv8s2,conv16k5s2,flatten", *PRESETS.values()]


@pytest.mark.parametrize("spec", VARIANTS)
def test_every_variant_builds_reads_back_and_counts_its_weights(spec):
    model = build_model(spec)
    assert spec_of_model(model) == normalised_spec(spec)
    assert model.count_params() == parameter_count(spec)
    assert [l.name for l in model.layers] == layer_names(parse_spec(spec))
    assert model.layers[-1].name == "predictions" and model.layers[-1].units == 10
    probabilities = np.asarray(model(np.zeros((2, 28, 28, 1), np.float32)))
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_the_seed_is_the_default_with_its_225034_weights():
    assert parameter_count(SEED_SPEC) == SEED_PARAMETERS == build_model().count_params() == 225_034
    assert spec_of_model(build_model()) == SEED_SPEC


def test_a_missing_flatten_goes_before_the_first_dense_layer():
    assert normalised_spec(" Conv16 , pool,conv48,dense64 ") == "conv16,pool,conv48,flatten,dense64"
    assert normalised_spec("conv32,pool") == "conv32,pool,flatten"


@pytest.mark.parametrize(
    "spec, says",
    [
        ("", "empty"),
        ("pool,conv32", "starts with a convolution"),
        ("conv32,flatten,conv16", "after flatten"),
        ("conv32,dense16,flatten", "before flatten"),
        ("conv32k7", "3x3 \\(conv32\\) or 5x5"),
        ("conv32,drop1.5", "between 0 and 1"),
        ("conv32,pool,pool,pool,pool,pool", "shrunk to nothing"),
        ("conv32,flatten,flatten", "more than one flatten"),
        ("conv32,relu", "'relu', is not a layer"),
        ("conv0", "1 to 512 filters"),
        ("conv32s3", "1 pixel at a time \\(conv32\\) or 2"),
    ],
)
def test_a_bad_spec_is_refused_with_what_to_change(spec, says):
    with pytest.raises(SpecError, match=says):
        parse_spec(spec)


def test_a_stride_2_convolution_halves_the_map_as_pooling_does():
    model = build_model("conv32s2,conv64s2,flatten,dense128")
    assert [tuple(l.output.shape[1:]) for l in model.layers[:2]] == [(13, 13, 32), (6, 6, 64)]
    assert parameter_count("conv32s2,conv64s2,flatten,dense128") == model.count_params() == 315_146


def test_seeded_builds_repeat_and_differ_by_seed():
    a, b, c = (build_model("conv8,pool,flatten,dense16", seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_models_outside_the_family_are_named_for_what_is_wrong():
    import keras
    from keras import layers

    def chain(*stack):
        return keras.Sequential([keras.Input((28, 28, 1)), *stack])

    cases = [
        (chain(layers.Conv2D(8, 3, activation="tanh"), layers.Flatten(), layers.Dense(10, activation="softmax")), "ReLU convolution"),
        (chain(layers.Conv2D(8, 3, activation="relu"), layers.Flatten(), layers.Dense(10)), "not Dense\\(10, softmax\\)"),
        (chain(layers.Conv2D(8, 3, activation="relu"), layers.AveragePooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")), "not one of the family"),
        (chain(layers.Conv2D(8, 3, activation="relu", padding="same"), layers.Flatten(), layers.Dense(10, activation="softmax")), "no padding"),
        (keras.Sequential([keras.Input((32, 32, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")]), "not 28x28x1"),
    ]
    for model, says in cases:
        with pytest.raises(SpecError, match=says):
            spec_of_model(model)
