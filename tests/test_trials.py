"""Layers on trial: each experiment on small real inputs, the claims' verdict rules, the stored results, the page and its CLI twins."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from fashion_viz.architecture import SEED_SPEC, build_model, parameter_count, parse_spec
from fashion_viz.engine import Engine
from fashion_viz.explain.arithmetic import softmax_with_temperature
from fashion_viz.trials import calibration, filters, shifts
from fashion_viz.trials.claims import NOT_MEASURED, NOT_SUPPORTED, PARTLY, SUPPORTED, VERDICTS, Difference, layer_claims
from fashion_viz.trials.variants import BASELINE, BY_NAME, VARIANTS, Run, VariantResults, variant_results


# ------------------------------------------------------------ calibration


def test_a_calibrated_model_has_no_calibration_error_and_an_overconfident_one_has_its_gap():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 20_000)
    labels = np.zeros(20_000, int)
    probabilities = np.zeros((20_000, 10))
    probabilities[:, 0] = confidence
    probabilities[:, 1:] = ((1 - confidence) / 9)[:, None]
    right = rng.random(20_000) < confidence  # right exactly as often as it says
    labels[~right] = 1
    calibrated = calibration.reliability(probabilities, labels)
    assert calibrated.ece < 0.01 and sum(calibrated.counts) == 20_000
    overconfident = calibration.reliability(probabilities, np.where(rng.random(20_000) < confidence - 0.1, 0, 1))
    assert overconfident.ece == pytest.approx(0.1, abs=0.01)
    for b in overconfident.to_json():
        if b["count"]:
            assert b["low"] < b["confidence"] <= b["high"]


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20_000, 10))
    drawn = softmax_with_temperature(logits, 2.5)
    labels = np.array([rng.choice(10, p=p) for p in drawn])
    assert calibration.fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.05)
    assert calibration.negative_log_likelihood(logits, labels, 2.5) < calibration.negative_log_likelihood(logits, labels, 1.0)


def test_calibrate_reads_the_models_logits(engine, fmnist):
    result = calibration.calibrate(engine, (fmnist.x_train[:500], fmnist.y_train[:500]), (fmnist.x_test[:1000], fmnist.y_test[:1000]))
    assert result.sum_error < 1e-5 and result.smallest >= 0
    assert 0 < result.temperature < 20 and result.validation_images == 500
    assert sum(result.before.counts) == 1000 and 0 <= result.after.ece <= 1


# ------------------------------------------------------------ the first layer's filters


def test_templates_are_unit_length_and_an_edge_kernel_is_found_as_an_oriented_edge():
    bank = filters.templates(3)
    assert all(np.linalg.norm(t) == pytest.approx(1.0) for *_, t in bank)
    model = build_model("conv4,flatten", seed=0)
    kernel, bias = model.layers[0].get_weights()
    edge_90 = next(t for kind, angle, _, t in bank if kind == "edge" and angle == 90.0)  # bright above
    blob = next(t for kind, _, sign, t in bank if kind == "blob" and sign == 1)
    kernel[:, :, 0, 0], kernel[:, :, 0, 1] = edge_90, -edge_90
    kernel[:, :, 0, 2], kernel[:, :, 0, 3] = blob, np.ones((3, 3)) / 3
    model.layers[0].set_weights([kernel, np.zeros_like(bias)])
    report = {m.filter: m for m in filters.first_layer_filters(Engine(model)).matches}
    assert (report[0].kind, report[0].angle, report[0].oriented_edge) == ("edge", 90.0, True)
    assert report[0].preferred_direction == 90.0 and report[0].selectivity > 0.5
    assert (report[1].kind, report[1].angle, report[1].preferred_direction) == ("edge", 270.0, 270.0)
    assert report[2].kind == "blob" and not report[2].oriented_edge
    assert report[3].kind == "uniform" and not report[3].oriented_edge and report[3].cosine == pytest.approx(1.0)


def test_stimuli_are_what_they_say():
    edge = filters.edge_picture(0)  # bright on the right
    assert edge[:, :13].max() == 0 and edge[:, 15:].min() == 1
    disk = filters.central_disk(26, 3).reshape(26, 26)
    assert disk[12, 12] and not disk[0, 0] and (disk == disk.T).all() and (disk == disk[::-1]).all()
    stripes = filters.grating(0, 4, 0.0)  # stripes run across: rows vary, columns do not
    assert np.ptp(stripes[:, 5]) > 0.6 and np.ptp(stripes[5, :]) == 0
    assert filters.direction_selectivity([1, 0, 0, 0, 0, 0, 0, 0], filters.DIRECTIONS) == pytest.approx(1.0)
    assert filters.direction_selectivity([1] * 8, filters.DIRECTIONS) == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------ shifts, probes, re-initialisation


def test_a_shift_moves_the_picture_and_fills_the_edge_with_background():
    images = np.arange(2 * 28 * 28, dtype=np.uint16).reshape(2, 28, 28)
    moved = shifts.shifted(images, 2, -1)
    np.testing.assert_array_equal(moved[:, 2:, :-1], images[:, :-2, 1:])
    assert not moved[:, :2].any() and not moved[:, :, -1].any()


def test_shift_tolerance_falls_with_the_distance(engine, fmnist):
    tolerance = shifts.shift_tolerance(engine, fmnist.x_test[:500], fmnist.y_test[:500])
    assert tolerance.shifts == (1, 2, 3) and tolerance.images == 500
    assert 1.0 >= tolerance.agreement[0] > tolerance.agreement[1] > tolerance.agreement[2] > 0.3
    assert tolerance.true_probability_change[2] < 0


def test_probes_have_one_row_per_layer_and_pass_through_layers_share_the_row_before(fmnist):
    from fashion_viz.trials.probes import INPUT, linear_probes

    model = build_model("conv4,pool,drop0.3,flatten,dense8", seed=0)
    small = Engine(model)
    probes = linear_probes(small, fmnist.x_train[:600], fmnist.y_train[:600], fmnist.x_test[:300], fmnist.y_test[:300])
    assert [p.layer for p in probes] == [INPUT, *small.names]
    by = {p.layer: p for p in probes}
    assert by[INPUT].accuracy > 0.5, "pixels alone separate Fashion-MNIST's classes well above chance"
    assert by["dropout1"].same_as == "pool1" and by["dropout1"].accuracy == by["pool1"].accuracy
    assert by["flatten"].same_as == "pool1"
    assert by["conv1"].features == 26 * 26 * 4 and by["pool1"].features == 13 * 13 * 4


def test_setting_a_layer_back_to_its_own_weights_changes_nothing_and_a_fresh_draw_hurts(engine, shipped, fmnist):
    from fashion_viz.trials.reinit import reinitialise

    trained = shipped.model.get_weights()
    result = reinitialise(engine, {"start": trained}, fmnist.x_test[:1000], fmnist.y_test[:1000])
    assert set(result.accuracy) == {"conv1", "conv2", "dense1", "predictions"}
    for layer, states in result.accuracy.items():
        assert states["start"] == result.trained, layer
        assert states["fresh"] < result.trained - 0.05, layer
        assert "epoch1" not in states
    assert all(result.robust(layer) for layer in result.accuracy)


# ------------------------------------------------------------ verdicts


def run(variant, seed, gap, test=0.9):
    return Run(variant, seed, BY_NAME[variant].spec, 1, 1, 1.0, 0.9 + gap, 0.9, test, [], {"shifts": [1, 2, 3], "agreement": [0.9, 0.8, 0.7], "true_probability_change": [0, 0, 0], "images": 1})


def results_of(**gaps):
    out = {}
    for name, values in gaps.items():
        out[name] = VariantResults(BY_NAME[name], [run(name, s, g) for s, g in enumerate(values, start=1)])
    return out


@pytest.mark.parametrize(
    "variant_gaps, verdict",
    [
        ((0.05, 0.051, 0.049), SUPPORTED),  # clearly larger without dropout
        ((0.021, 0.03, 0.012), PARTLY),  # larger, but within twice the standard error
        ((0.01, 0.011, 0.009), NOT_SUPPORTED),  # smaller without: dropout did not reduce it
    ],
)
def test_a_variant_claim_is_supported_only_beyond_its_spread(variant_gaps, verdict):
    results = results_of(**{BASELINE: (0.02, 0.021, 0.019), "no-dropout1-2": variant_gaps})
    infos = Engine(build_model(SEED_SPEC)).infos
    claim = {c.key: c for c in layer_claims(infos, None, results)}["dropout12_overfitting"]
    assert claim.verdict == verdict
    assert "points" in claim.finding


def test_one_run_each_has_no_spread_so_it_is_never_supported():
    assert Difference("v", "gap", 0.05, 0.0, 1, 1).verdict(+1) == PARTLY
    assert Difference("v", "gap", -0.05, 0.0, 1, 1).verdict(+1) == NOT_SUPPORTED
    assert Difference("v", "gap", -0.05, 0.01, 3, 3).verdict(-1) == SUPPORTED


def test_claims_follow_the_models_own_layers(engine, shipped):
    from fashion_viz.trials.prepare import load_trials

    trials = load_trials(shipped.path, shipped.card.model_sha256)
    seed = {c.key: c for c in layer_claims(engine.infos, trials, {})}
    assert seed["pool_half"].layers == ("pool1", "pool2") and seed["pool_half"].verdict == SUPPORTED
    assert seed["dropout12_overfitting"].layers == ("dropout1", "dropout2") and seed["dropout12_overfitting"].verdict == NOT_MEASURED
    assert seed["dropout3_rate"].layers == ("dropout3",)
    assert seed["softmax_valid"].verdict == SUPPORTED
    no_pool = {c.key for c in layer_claims(Engine(build_model("conv8,conv8,flatten,dense16")).infos, None, {})}
    assert not {k for k in no_pool if k.startswith("pool") or k.startswith("dropout")}
    assert {"conv1_edges", "conv2_complex", "dense1_classifier"} <= no_pool


# ------------------------------------------------------------ the variants and the shipped results


def test_each_variant_changes_one_thing_of_the_seed():
    assert VARIANTS[0].name == BASELINE and VARIANTS[0].spec == SEED_SPEC
    seed_layers = [layer.token for layer in parse_spec(SEED_SPEC)]
    for variant in VARIANTS[1:]:
        layers = [layer.token for layer in parse_spec(variant.spec)]
        assert variant.random_labels or layers != seed_layers, variant.name
        if variant.claim.startswith("dropout"):
            assert [t for t in layers if not t.startswith("drop")] == [t for t in seed_layers if not t.startswith("drop")], variant.name
    assert parameter_count(BY_NAME["no-pooling"].spec) > 20 * parameter_count(SEED_SPEC)


def test_the_shipped_variants_are_real_trained_models_with_their_runs():
    from fashion_viz.storage import load_checked_model
    from fashion_viz.trials.variants import model_path

    results = variant_results()
    assert set(results) == {v.name for v in VARIANTS}, "every variant has recorded runs (python tools/train_variants.py)"
    for name, result in results.items():
        variant = BY_NAME[name]
        assert len(result.runs) >= (1 if name == "no-pooling" else len(variant.seeds)), name
        assert all(len(r.history) == (variant.epochs or 20) for r in result.runs), "the fast schedule's 20 epochs, or the variant's own"
        loaded = load_checked_model(model_path(name))
        assert loaded.spec == variant.spec and loaded.card.test_accuracy == pytest.approx(result.runs[0].test_accuracy)
    for name in ("random-labels", "random-labels-full"):
        assert results[name].runs[0].test_accuracy < 0.15, f"{name}: labels shuffled, so test accuracy is chance"
    assert results[BASELINE].spread("test_accuracy").mean > 0.9


# ------------------------------------------------------------ the page and its CLI twins


def test_the_layers_page_gives_every_claim_a_verdict_and_draws_its_figures(shipped):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/layers.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [w.value for w in at.warning if "could not be drawn" in w.value]
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["layer", "claim", "verdict"] and set(table["verdict"]) <= set(VERDICTS)
    assert "edges and textures" in " ".join(table["claim"]) and "valid probability distribution" in " ".join(table["claim"])
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    for expected in ("Each filter's response to an edge", "How linearly separable", "Test accuracy with one layer set back", "Reliability on the test set", "Pictures that keep their answer"):
        assert any(t.startswith(expected) for t in titles), (expected, titles)


def test_every_trials_figure_passes_plotly_validation(shipped):
    import plotly.graph_objects as go

    from fashion_viz.figures import trials as figures
    from fashion_viz.trials.prepare import load_trials
    from fashion_viz.trials.reinit import STATE_TEXT, STATES

    trials = load_trials(shipped.path, shipped.card.model_sha256)
    results = results_of(**{BASELINE: (0.02, 0.03), "no-dropout3": (0.04, 0.05)})
    rows = [r.to_json() for r in results.values()]
    built = [
        figures.edge_tuning_figure(trials["filters"]["filters"], filters.DIRECTIONS),
        figures.probe_figure(trials["probes"]),
        figures.grating_tuning_figure(trials["filters"]["filters"][0], filters.ORIENTATIONS, filters.PERIODS),
        figures.variant_bars_figure(rows, "gap", "gap", BASELINE, ("no-dropout3",)),
        figures.variant_curves_figure([[dict(epoch=1, accuracy=0.5, val_accuracy=0.6)]] * 2, [[dict(epoch=1, accuracy=0.5, val_accuracy=0.6)]], BASELINE, "no-dropout3"),
        figures.reinit_figure(trials["reinit"]["accuracy"], trials["reinit"]["trained"], STATES, STATE_TEXT),
        figures.reliability_figure(trials["calibration"]["bins"], trials["calibration"]["bins_after"], 1.2),
        figures.shift_figure([("this model", trials["shifts"], False), ("seed", trials["shifts"], True)]),
    ]
    for fig in built:
        go.Figure(fig.to_dict())  # raises ValueError on any invalid property
    heat = built[0].data[0]
    assert len(heat.y) == 32 and np.nanmax(np.asarray(heat.z)) == pytest.approx(1.0), "each filter's row is a share of its own best"


def test_layers_and_calibration_cli_print_json(capsys):
    from fashion_viz.cli import main

    assert main(["layers", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"probes", "claims", "variants", "reinit", "probe_protocol"}
    assert list(report["probes"])[:2] == ["input", "conv1"] and all(0 < v <= 1 for v in report["probes"].values())
    assert all({"layer", "claim", "verdict"} <= set(c) and c["verdict"] in VERDICTS for c in report["claims"])
    assert set(report["reinit"]) == {"conv1", "conv2", "dense1", "predictions"}
    assert main(["calibration", "--json"]) == 0
    cal = json.loads(capsys.readouterr().out)
    assert len(cal["bins"]) == 15 and sum(b["count"] for b in cal["bins"]) == 10_000
    assert 0 < cal["ece_after"] <= cal["ece"] < 0.1 and cal["temperature"] > 0


def test_the_explorer_offers_the_calibrated_probabilities(shipped, engine, fmnist):
    from fashion_viz.trials.prepare import load_trials

    temperature = load_trials(shipped.path, shipped.card.model_sha256)["calibration"]["temperature"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()

    def prediction_bars():
        chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Prediction:"))
        x = chart["data"][0]["x"]
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]) if isinstance(x, dict) else np.asarray(x)

    raw = prediction_bars()
    at.toggle(key="calibrated").set_value(True).run()
    assert not at.exception
    logits = engine.activations(fmnist.x_test[at.session_state["test_index"]]).logits
    np.testing.assert_allclose(prediction_bars(), softmax_with_temperature(logits, temperature), atol=1e-5)
    assert prediction_bars().max() < raw.max(), "T > 1 softens an overconfident answer"



def test_the_architecture_guide_gives_each_tested_layer_its_verdict(shipped):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/architecture.py")
    at.run()
    verdicts = [c.value for c in at.caption if c.value.startswith("On trial:")]
    assert len(verdicts) >= 7, "conv1, both pooling layers, the dropouts, conv2, dense1 and the output"
    assert any("edges and textures" in v for v in verdicts) and all(any(f"**{w}**" in v for w in VERDICTS) for v in verdicts)


def test_data_randomisation_compares_maps_and_knows_a_flat_one(shipped, sample):
    from fashion_viz.explain.faithfulness import data_randomisation

    images = sample.images[:3]
    same, flat_share = data_randomisation(shipped.model, shipped.model, images)
    assert all(v == pytest.approx(1.0) for v in same.values()) and not any(flat_share.values())
    dead = build_model(SEED_SPEC)
    dead.set_weights([np.zeros_like(w) for w in shipped.model.get_weights()])  # learnt nothing: every map is flat
    rho, flat_share = data_randomisation(shipped.model, dead, images)
    assert all(v == 1.0 for v in flat_share.values()) and all(v == 0.0 for v in rho.values())
