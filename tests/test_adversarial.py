"""The adversarial lab: FGSM and PGD within ε grey levels, the smallest change that flips the answer, its CLI twin and the Why page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_png

from fashion_viz.explain.adversarial import attack, smallest_changes, smallest_eps


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_an_attack_changes_no_pixel_by_more_than_eps_and_is_scored_as_written(engine, sample, method):
    image = sample.images[0]
    for eps in (0, 3, 12):
        made = attack(engine, image, method, eps)
        assert made.adversarial.dtype == np.uint8 and made.linf <= eps
        np.testing.assert_allclose(made.probabilities_after, engine.probabilities(made.adversarial)[0], atol=1e-6)
    assert attack(engine, image, method, 0).linf == 0 and not attack(engine, image, method, 0).succeeded


def test_pgd_towards_a_class_raises_that_class(engine, sample):
    image = sample.images[0]
    before = engine.probabilities(image)[0]
    target = int(np.argsort(before)[-3])  # the third most likely class
    made = attack(engine, image, "pgd", 12, target=target)
    assert made.probabilities_after[target] > before[target] * 10
    assert made.succeeded == (made.adversarial_class == target)


def test_the_smallest_change_flips_the_answer_and_one_grey_level_less_does_not(engine, sample):
    image = sample.images[0]
    eps = smallest_eps(engine, image, "pgd")
    assert eps is not None, "a PGD of 32 grey levels fools this model on its first sample picture"
    assert attack(engine, image, "pgd", eps).succeeded
    assert eps == 1 or not attack(engine, image, "pgd", eps - 1).succeeded
    table = smallest_changes(engine, image, limit=16)
    assert set(table) == {"fgsm", "pgd", "towards"} and len(table["towards"]) == 9
    assert table["pgd"] == smallest_eps(engine, image, "pgd", limit=16)


def test_the_loss_gradient_matches_keras(engine, shipped, sample):
    import tensorflow as tf

    from fashion_viz.architecture import model_input

    x = model_input(sample.images[:3])
    labels = np.array([1, 2, 3])
    loss, probabilities, grad = engine.loss_gradients(x, labels)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        keras_loss = tf.keras.losses.sparse_categorical_crossentropy(labels, shipped.model(tensor, training=False))
    np.testing.assert_allclose(loss, keras_loss.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, tape.gradient(keras_loss, tensor).numpy()[..., 0], rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_cli_writes_pictures_that_predict_classifies_as_it_says(sample, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    paths = [str(write_png(tmp_path / f"s{k}.png", sample.images[k])) for k in range(2)]
    out = tmp_path / "adversarial"
    run = subprocess.run([sys.executable, "-m", "fashion_viz", "attack", *paths, "--method", "pgd", "--smallest", "--out", str(out), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in results] == paths
    for r in results:
        assert r["succeeded"] and r["linf"] <= r["eps"] <= 32 and r["adversarial"]["class"] != r["original"]["class"]
    predicted = subprocess.run([sys.executable, "-m", "fashion_viz", "predict", *[r["png"] for r in results], "--json"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    labels = [json.loads(line)["label"] for line in predicted.stdout.splitlines()]
    assert labels == [r["adversarial"]["class"] for r in results], "the written PNG is classified as the attack says"


def test_cli_refuses_an_unknown_target_in_a_sentence(sample, tmp_path, capsys):
    from fashion_viz.cli import main

    path = str(write_png(tmp_path / "s.png", sample.images[0]))
    assert main(["attack", path, "--eps", "4", "--target", "Hat", "--out", str(tmp_path)]) == 2
    assert "--target must be one of" in capsys.readouterr().err


def test_why_page_fools_the_model_and_finds_the_smallest_change(fmnist):
    from streamlit.testing.v1 import AppTest
    from test_app import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/why.py")
    at.run()
    assert not at.exception
    assert any(s.value.startswith("Fool it") for s in at.subheader)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("Your picture, attacked (ε = 8") for t in titles)
    assert any(t.startswith(("It now says", "It still says")) for t in titles)
    at.slider(key="why_attack_eps").set_value(0).run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("It still says") for t in titles), "no change, no new answer"
    [b for b in at.button if b.label == "Find the smallest change that flips it"][0].click().run()
    assert not at.exception
    tables = [d.value for d in at.dataframe if list(d.value.columns) == ["attack", "grey levels"]]
    assert len(tables) == 1 and len(tables[0]) == 11


def test_the_bench_times_the_lab_beside_a_plain_forward_pass():
    from tools.bench import TARGETS, bench_adversarial

    figures = bench_adversarial(repeats=2)
    assert set(figures) == {"attack_fgsm_ms", "attack_pgd20_ms", "attack_smallest_s", "attack_baseline_forward_ms"}
    assert all(value > 0 for value in figures.values())
    assert {"attack_fgsm_ms", "attack_pgd20_ms", "attack_smallest_s"} <= set(TARGETS), "each has its target in bench"
