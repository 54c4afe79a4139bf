"""Any model of the family: three small variants (other filter counts, no pooling, no dropout with 5x5 filters and a
second dense layer) on every page and through every CLI twin, with the arithmetic checked against Keras on each."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, write_png
from streamlit.testing.v1 import AppTest

from fashion_viz.architecture import model_input

pytestmark = pytest.mark.slow

VARIANTS = {
    "filters": "conv8,pool,drop0.3,conv16,pool,drop0.3,flatten,dense32,drop0.5",
    "no-pooling": "conv6,conv12,flatten,dense24",
    "no-dropout": "conv10k5,pool,conv20,flatten,dense40,dense20",
}
PAGES = ("home", "architecture", "explorer", "why", "units", "map", "layers", "train", "replay", "evaluate")


@pytest.fixture(scope="module")
def variants(tmp_path_factory, fmnist):
    """Each variant, briefly trained, saved with its card in a models folder of its own, its Units and Map views prepared."""
    import keras

    from fashion_viz.architecture import build_model
    from fashion_viz.card import ModelCard
    from fashion_viz.engine import Engine
    from fashion_viz.evaluation import evaluate, sample_record
    from fashion_viz.explain.precompute import prepare_views
    from fashion_viz.storage import load_checked_model, save_model
    from fashion_viz.training import record_test_scores
    from fashion_viz.trials.prepare import prepare_trials

    folder = tmp_path_factory.mktemp("variants")
    saved = {}
    for name, spec in VARIANTS.items():
        model = build_model(spec, seed=1)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        model.fit(model_input(fmnist.x_train[:4000]), fmnist.y_train[:4000], batch_size=128, epochs=1, verbose=0)
        engine = Engine(model)
        card = ModelCard(notes=f"test variant {name}")
        record_test_scores(card, evaluate(engine, fmnist.x_test, fmnist.y_test))
        path = folder / f"variant-{name}.keras"
        save_model(model, path, card, sample_record(engine))
        loaded = load_checked_model(path)
        prepare_views(Engine(loaded.model), path, loaded.card.model_sha256, fmnist.x_test, fmnist.y_test, method="pca", steps=10)
        prepare_trials(Engine(loaded.model), path, loaded.card, fmnist, probe_sizes=(1000, 1000))
        saved[name] = loaded
    return saved


def test_the_card_records_the_spec_and_info_prints_it(variants, capsys, monkeypatch):
    from fashion_viz.cli import main

    folder = next(iter(variants.values())).path.parent
    monkeypatch.setenv("FASHION_VIZ_MODELS_DIR", str(folder))
    assert main(["info", "--json"]) == 0
    models = {entry["path"]: entry for entry in json.loads(capsys.readouterr().out)["models"]}
    for name, loaded in variants.items():
        assert loaded.card.spec == VARIANTS[name] == loaded.spec
        assert models[str(loaded.path.resolve())]["architecture"] == VARIANTS[name]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_page_works_on_the_variant(variant, variants, monkeypatch):
    loaded = variants[variant]
    monkeypatch.setenv("FASHION_VIZ_MODELS_DIR", str(loaded.path.parent))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["model_path"] = str(loaded.path)
    at.run()
    names = [layer.name for layer in loaded.model.layers]
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        problems = [e.value for e in at.error] + [w.value for w in at.warning if "could not be drawn" in w.value]
        assert not problems, (page, problems)
        if page == "explorer":
            for _ in names[1:]:
                at.button[1].click().run()  # Next, through every layer of this model
                assert not at.exception, (page, [e.message for e in at.exception])
            assert at.session_state["explorer_layer"] == names[-1] and at.button[1].disabled, "the variant's own layers, to its last"
            checks = [c.value for c in at.caption if "recomputed here" in c.value]
            assert checks and checks[0].startswith("✓"), checks
        if page == "units":
            assert at.session_state["units_layer_widget"] == [n for n in names if n.startswith("conv")][-1], "opens on the last convolution"
            assert at.subheader[0].value.startswith(at.session_state["units_layer_widget"].capitalize())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_calc_agrees_with_keras_on_every_layer(variant, variants, fmnist, tmp_path, capsys):
    import keras

    from fashion_viz.cli import main

    loaded = variants[variant]
    image = fmnist.x_test[21]
    path = write_png(tmp_path / "picture.png", image)
    from fashion_viz.preprocessing import prepare_upload

    seen = prepare_upload(path.read_bytes()).image  # what the CLI feeds the model
    every_layer = keras.Model(loaded.model.inputs[0], [layer.output for layer in loaded.model.layers])
    outputs = [np.asarray(o)[0] for o in every_layer(model_input(seen), training=False)]
    for layer, values in zip(loaded.model.layers, outputs):
        at = np.unravel_index(int(np.argmax(values)), values.shape)
        assert main(["calc", str(path), "--layer", layer.name, "--at", ",".join(map(str, at)), "--model", str(loaded.path), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["output"] == pytest.approx(float(values[at]), abs=1e-4), layer.name
        assert result["model_output"] == pytest.approx(float(values[at]), abs=1e-5), layer.name


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_cli_twin_runs_on_the_variant(variant, variants, fmnist, tmp_path, capsys):
    from fashion_viz.cli import main

    loaded = variants[variant]
    model = ["--model", str(loaded.path)]
    picture = str(write_png(tmp_path / "coat.png", fmnist.x_test[10]))
    assert main(["predict", picture, "--json", *model]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert sum(predicted["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    for method in ("saliency", "gradcam", "occlusion"):
        assert main(["explain", picture, "--method", method, "--json", *model]) == 0
        explained = json.loads(capsys.readouterr().out)
        assert np.asarray(explained["map"]).shape == (28, 28), method
    last_conv = [layer.name for layer in loaded.model.layers if layer.name.startswith("conv")][-1]
    assert main(["visualize", "--layer", last_conv, "--unit", "1", "--out", str(tmp_path / "unit.png"), "--json", *model]) == 0
    assert json.loads(capsys.readouterr().out)["png"].endswith("unit.png")
    assert main(["visualize", "--layer", "dense1", "--unit", "999", "--out", str(tmp_path / "x.png"), *model]) == 2
    capsys.readouterr()
    assert main(["embed", picture, "--json", *model]) == 0
    placed = json.loads(capsys.readouterr().out)
    assert len(placed["neighbours"]) == 10
    assert main(["precompute", "--method", "pca", "--json", *model]) == 0
    assert json.loads(capsys.readouterr().out)["map_method"] == "pca"
    assert main(["layers", "--json", *model]) == 0
    layers = json.loads(capsys.readouterr().out)
    assert list(layers["probes"]) == ["input", *(layer.name for layer in loaded.model.layers)]
    assert set(layers["reinit"]) == {layer.name for layer in loaded.model.layers if layer.get_weights()}
    assert main(["calibration", "--json", *model]) == 0
    assert len(json.loads(capsys.readouterr().out)["bins"]) == 15
