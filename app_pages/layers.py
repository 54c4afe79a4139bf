"""Layers on trial: the seed's claims about each layer, each tested on the model you chose, with a verdict."""

import pandas as pd
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import require_model, require_views, show_figure
from fashion_viz.explain.attribution import METHODS
from fashion_viz.explain.faithfulness import load_report
from fashion_viz.figures.trials import edge_tuning_figure, filter_label, grating_tuning_figure, probe_figure, reinit_figure, reliability_figure, shift_figure, variant_bars_figure, variant_curves_figure
from fashion_viz.trials.claims import NOT_SUPPORTED, PARTLY, SUPPORTED, layer_claims
from fashion_viz.trials.filters import DIRECTIONS, ORIENTATIONS, PERIODS
from fashion_viz.trials.reinit import ROBUST_POINTS, STATE_TEXT, STATES
from fashion_viz.trials.variants import BASELINE, BY_NAME

TABLE_ROW_PX = 35  # a data grid's row: the verdict table is as tall as its rows, with no scroll bar of its own
VERDICT_ICONS = {SUPPORTED: ":material/check_circle:", PARTLY: ":material/contrast:", NOT_SUPPORTED: ":material/cancel:"}

loaded = require_model()
st.title("Layers on trial")
st.markdown(
    "The document that describes this network says what each layer is *for*. Here every such claim is an experiment "
    "on the model you chose: the claim in the document's words, what was measured, the numbers and a verdict "
    "(**supported**, **partly** or **not supported** on this model) with the rule behind it and what would change it. "
    "Rerun any of it with `python -m fashion_viz layers`."
)
data, views = require_views(loaded, "trials", "The layer trials")
trials = views.trials
results = resources.variant_results()
engine = resources.current_engine()
claims = {claim.key: claim for claim in layer_claims(engine.infos, trials, results)}


def rows_for(*claims_tested: str) -> list[dict]:
    """The baseline and the variants that test these claims, as the bar charts take them."""
    return [r.to_json() for name, r in results.items() if name == BASELINE or BY_NAME[name].claim in claims_tested]


def show_claim(key: str) -> None:
    claim = claims.get(key)
    if claim is None:
        return
    st.markdown(f"**{', '.join(claim.layers)}** · “{claim.words}”")
    st.markdown(f"{VERDICT_ICONS.get(claim.verdict, ':material/help:')} **{claim.verdict.capitalize()}.** {claim.finding}")
    change = f" What would change it: {claim.would_change}" if claim.would_change else ""
    st.caption(f"Experiment: {claim.experiment} Rule: {claim.rule}.{change}")


def variant_row(result) -> dict:
    """One line of the variants table."""
    def spread(figure):
        s = result.spread(figure)
        return f"{s.mean:.2%} ± {s.std:.2%}" if s.runs > 1 else f"{s.mean:.2%}"

    first = result.runs[0]
    return {
        "variant": result.variant.name, "what changes": result.variant.changes, "seeds": len(result.runs),
        "weights": first.parameters, "M multiply-adds": round(first.multiply_adds / 1e6, 2), "training s": round(result.spread("seconds").mean),
        "train": spread("train_accuracy"), "validation": spread("validation_accuracy"), "test": spread("test_accuracy"), "gap": spread("gap"),
        "same answer, 2 px": spread("shift_agreement_2px"), "SPEC": result.variant.spec,
    }


with guarded("the verdicts"):
    st.subheader("The verdicts")
    st.dataframe(
        pd.DataFrame([{"layer": ", ".join(c.layers), "claim": c.words, "verdict": c.verdict, "what was found": c.finding} for c in claims.values()]),
        hide_index=True, width="stretch", height=TABLE_ROW_PX * (len(claims) + 1) + 3, column_config={"what was found": st.column_config.TextColumn(width="large")},
    )
    if BASELINE in results:
        st.caption(
            "Comparisons with variants use the seed's architecture trained with the fast schedule (the baseline, "
            f"{results[BASELINE].spread('test_accuracy').runs} seeds), not the shipped model: every variant was trained the same way, on the same data."
        )

with guarded("the first layer's filters"):
    st.subheader(f"{engine.conv_names[0]}: edges?")
    show_claim("conv1_edges")
    filters = trials["filters"]["filters"]
    edges, gratings = st.columns([3, 2])
    with edges:
        show_figure(edge_tuning_figure(filters, DIRECTIONS), "layers_edge_tuning")
    with gratings:
        by_number = {f["filter"]: f for f in filters}
        number = st.selectbox("Filter", [f["filter"] for f in filters], format_func=lambda n: filter_label(by_number[n]), key=state.LAYERS_FILTER)
        show_figure(grating_tuning_figure(by_number[number], ORIENTATIONS, PERIODS), "layers_grating_tuning")
        st.caption("Gratings test textures: a filter tuned to one orientation and period answers stripes of that kind wherever they are.")
    with st.expander("Every filter's best template and tuning"):
        st.dataframe(
            pd.DataFrame([
                {"filter": f["filter"], "best template": filter_label(f).split(" ", 1)[1], "cosine": round(f["cosine"], 2),
                 "direction selectivity": round(f["selectivity"], 2), "preferred grating period (px)": f["preferred_period"],
                 "clearly oriented edge": "✓" if f["oriented_edge"] else ""}
                for f in filters
            ]),
            hide_index=True, width="stretch",
        )
        st.page_link(state.PAGES["explorer"], label="See these filters' weights and maps in the Explorer", icon=":material/arrow_forward:")

with guarded("pooling"):
    st.subheader("Pooling: half the size, the important part kept, cheaper, less overfitting?")
    for key in ("pool_half", "pool_retains", "pool_cost", "pool_overfitting", "pool_shifts"):
        show_claim(key)
    pool_rows = rows_for("pooling")
    if len(pool_rows) > 1:
        left, right = st.columns(2)
        with left:
            show_figure(variant_bars_figure(pool_rows, "test_accuracy", "Test accuracy (mean ± s.d. over seeds)", BASELINE, ("no-pooling", "stride-2")), "layers_pool_test")
        with right:
            show_figure(variant_bars_figure(pool_rows, "gap", "Train − validation accuracy (the gap)", BASELINE, ("no-pooling", "stride-2")), "layers_pool_gap")
        series = [("this model", trials["shifts"], False)]
        series += [(f"{name} (fast schedule, seed {results[name].runs[0].seed})", results[name].runs[0].shifts, name == BASELINE) for name in (BASELINE, "no-pooling", "stride-2") if name in results]
        show_figure(shift_figure(series), "layers_shifts")

with guarded("dropout"):
    st.subheader("Dropout: does it prevent overfitting?")
    for key in ("dropout12_overfitting", "dropout3_rate"):
        show_claim(key)
    dropout_variants = [name for name in results if BY_NAME[name].claim in ("dropout12", "dropout3")]
    if dropout_variants:
        if st.session_state.get(state.LAYERS_VARIANT) not in dropout_variants:
            st.session_state[state.LAYERS_VARIANT] = dropout_variants[0]
        chosen = st.segmented_control("Variant beside the seed", dropout_variants, key=state.LAYERS_VARIANT)
        chosen = chosen or dropout_variants[0]
        st.caption(f"{chosen}: {BY_NAME[chosen].changes} (`{BY_NAME[chosen].spec}`).")
        if BASELINE in results:
            show_figure(variant_curves_figure([r.history for r in results[BASELINE].runs], [r.history for r in results[chosen].runs], BASELINE, chosen), "layers_dropout_curves")
        show_figure(variant_bars_figure(rows_for("dropout12", "dropout3"), "gap", "Train − validation accuracy (the gap)", BASELINE, (chosen,)), "layers_dropout_gap")

with guarded("the probes"):
    st.subheader("Layer by layer: more complex patterns, then a classifier?")
    for key in ("conv2_complex", "dense1_classifier"):
        show_claim(key)
    show_figure(probe_figure(trials["probes"]), "layers_probes")
    st.caption(f"Protocol: {trials['probe_protocol']}.")
    if len(engine.conv_names) > 1:
        st.page_link(state.PAGES["units"], label=f"What {engine.conv_names[1]}'s units respond to: the Units page", icon=":material/neurology:")

with guarded("the variants"):
    if results:
        st.subheader("The variants")
        st.caption("Each trained with the fast schedule on the same data (`python tools/train_variants.py`); figures are means over the seeds, ± their standard deviation.")
        st.dataframe(pd.DataFrame([variant_row(r) for r in results.values()]), hide_index=True, width="stretch")

with guarded("re-initialisation"):
    st.subheader("Which layers matter?")
    reinit = trials["reinit"]
    critical = [layer for layer, robust in reinit["robust"].items() if robust is False]
    robust = [layer for layer, ok in reinit["robust"].items() if ok]
    st.markdown(
        f"Each weighted layer in turn is set back, the rest left as trained (Zhang, Bengio & Singer, 2019). **Critical**: {', '.join(critical) or 'none'}; "
        f"**robust** (within {ROBUST_POINTS:.0%} of the trained accuracy when set back to its starting weights): {', '.join(robust) or 'none'}."
    )
    shown = [s for s in STATES if any(s in row for row in reinit["accuracy"].values())]
    show_figure(reinit_figure(reinit["accuracy"], reinit["trained"], shown, STATE_TEXT), "layers_reinit")
    if "start" not in shown:
        st.caption("This model was trained before its starting weights were kept, so only a fresh random draw is shown.")

with guarded("softmax"):
    st.subheader("Softmax: valid probabilities, and honest ones?")
    for key in ("softmax_valid", "softmax_calibrated"):
        show_claim(key)
    cal = trials["calibration"]
    show_figure(reliability_figure(cal["bins"], cal["bins_after"], cal["temperature"]), "layers_reliability")
    st.caption(f"Test negative log-likelihood {cal['test_nll']:.4f} as given, {cal['test_nll_after']:.4f} with T = {cal['temperature']:.2f}.")

with guarded("random labels"):
    st.subheader("Random labels: what a model learns when there is nothing to learn")
    shuffled = [results[name] for name in results if BY_NAME[name].random_labels]
    for result in shuffled:
        run = result.runs[0]
        memorised = run.train_accuracy >= 0.2
        st.markdown(
            f"**{result.variant.name}**: the seed's architecture, {result.variant.changes}: **{run.train_accuracy:.1%}** right on the pictures it was "
            f"trained on (their shuffled labels), **{run.test_accuracy:.1%}** on the test set (chance: 10 %). "
            + ("It memorised labels that carry no information, and the test set shows it." if memorised else
               "With the fast schedule's weight decay and ramped dropout it did not even memorise them: it learnt nothing, and its maps are flat.")
        )
    if shuffled:
        st.markdown(
            "On **Why**, choose one under *compare with* to see its attribution maps beside this model's: a method whose maps look the same for both "
            "shows the picture, not what the model learnt (Adebayo et al., 2018)."
        )
        report = load_report(loaded.path, loaded.card.model_sha256)
        if report is not None and report.data_randomisation_spearman:
            rho, flat = report.data_randomisation_spearman, report.data_randomisation_flat
            st.markdown(
                f"Median rank correlation between this model's maps and those of `{report.data_randomisation_model}`, on {report.randomisation_images} test pictures: "
                + ", ".join(f"{METHODS[m].title} **{'flat maps' if flat.get(m, 0) > 0.5 else f'{v:+.2f}'}**" for m, v in rho.items())
                + ". Near 0: the method follows what the model learnt; high: it shows the picture whatever the model."
            )
        st.page_link(state.PAGES["why"], label="Compare the attribution maps on Why", icon=":material/arrow_forward:")
    else:
        st.markdown("The random-label variants have not been trained yet (`python tools/train_variants.py`).")
