"""The seed's claims about its layers, each with the numbers that test it and a verdict in plain words.

Verdicts: *supported*, *partly* or *not supported* on this model (or *not measured* when what would test it
is missing). A claim tested by comparing trained variants is *supported* only when the difference is in
the claimed direction and larger than twice its standard error over the seeds; in the claimed direction but
within that spread it is *partly*. The rules are written next to each claim; they were fixed before the
variants were trained, except where ``rule`` says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fashion_viz.trials.variants import BASELINE, VariantResults

SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_MEASURED = "supported", "partly", "not supported", "not measured"
VERDICTS = (SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_MEASURED)
PROBE_STEP = 0.01  # a probe's gain, in accuracy, that counts as "more separable"
POOL_LOSS = 0.01  # the probe accuracy pooling may lose and still "retain the most important features"


@dataclass(frozen=True)
class Difference:
    """variant minus baseline of one figure, with the standard error of that difference over the seeds."""

    variant: str
    figure: str
    value: float
    standard_error: float
    variant_runs: int
    baseline_runs: int

    def verdict(self, claimed_sign: int) -> str:
        signed = self.value * claimed_sign
        if signed > 2 * self.standard_error and self.standard_error > 0:
            return SUPPORTED
        return PARTLY if signed > 0 else NOT_SUPPORTED

    def text(self, points: bool = True) -> str:
        scale = 100 if points else 1
        unit = " points" if points else ""
        return f"{self.value * scale:+.2f}{unit} ± {self.standard_error * scale:.2f} s.e. ({self.variant_runs} and {self.baseline_runs} seeds)"

    def to_json(self) -> dict:
        return {"variant": self.variant, "figure": self.figure, "difference": self.value, "standard_error": self.standard_error, "runs": [self.variant_runs, self.baseline_runs]}


def difference(results: dict[str, VariantResults], variant: str, figure: str) -> Difference | None:
    if variant not in results or BASELINE not in results:
        return None
    a, b = results[variant].spread(figure), results[BASELINE].spread(figure)
    se = math.sqrt(a.std**2 / a.runs + b.std**2 / b.runs)
    return Difference(variant, figure, a.mean - b.mean, se, a.runs, b.runs)


@dataclass(frozen=True)
class Claim:
    key: str
    layers: tuple[str, ...]
    words: str  # the seed document's words
    experiment: str
    verdict: str
    finding: str  # the numbers, in a sentence
    would_change: str
    rule: str
    numbers: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"key": self.key, "layer": ", ".join(self.layers), "claim": self.words, "experiment": self.experiment, "verdict": self.verdict,
                "finding": self.finding, "would_change": self.would_change, "rule": self.rule, "numbers": self.numbers}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _gap_claim(key, layers, words, results, variant, what, also: tuple[tuple[str, str], ...] = ()) -> Claim:
    """A "helps prevent overfitting" claim: the train-validation gap with the layer(s) against without (``variant``);
    ``also``: (variant, what it lacks) reported beside it."""
    d = difference(results, variant, "gap")
    rule = "supported when the train-validation gap is larger without it by more than twice the standard error over seeds"
    experiment = f"The seed's architecture against a variant with {what}, both trained with the fast schedule on the same data, each on 3 seeds: the gap between training and validation accuracy."
    if d is None:
        return Claim(key, layers, words, experiment, NOT_MEASURED, "The variants have not been trained (python tools/train_variants.py).", "Training the variants.", rule)
    base, other = results[BASELINE], results[variant]
    test = difference(results, variant, "test_accuracy")
    finding = (
        f"Gap {_pct(base.spread('gap').mean)} with it, {_pct(other.spread('gap').mean)} without: {d.text()}. "
        f"Test accuracy {_pct(base.spread('test_accuracy').mean)} with it, {_pct(other.spread('test_accuracy').mean)} without: {test.text()}."
    )
    for name, lacks in also:
        extra = difference(results, name, "gap")
        if extra is not None:
            finding += f" Without {lacks}: gap {_pct(results[name].spread('gap').mean)} ({extra.text()})."
    verdict = d.verdict(+1)
    change = {
        SUPPORTED: "A gap difference inside twice its standard error (more seeds might show that), or the variant generalising better on test.",
        PARTLY: "More seeds, if the difference stays while its standard error shrinks; a longer schedule, where overfitting has more time to show.",
        NOT_SUPPORTED: "A schedule that overfits (longer, without the fast schedule's weight decay and ramped dropout), where dropout would have something to prevent.",
    }[verdict]
    numbers = {"gap_difference": d.to_json(), "test_difference": test.to_json(), "gap": {"with": base.spread("gap").to_json(), "without": other.spread("gap").to_json()}}
    return Claim(key, layers, words, experiment, verdict, finding, change, rule, numbers)


def layer_claims(infos, trials: dict | None, results: dict[str, VariantResults]) -> list[Claim]:
    """Every claim, in the order of the layers, for a model described by ``infos`` (Engine.infos)."""
    by_kind = lambda kind: [i for i in infos if i.kind == kind]  # noqa: E731
    convs, pools, denses = by_kind("conv"), by_kind("pool"), by_kind("dense")
    dropouts = by_kind("dropout")
    claims: list[Claim] = []
    probes = {p["layer"]: p["accuracy"] for p in trials["probes"]} if trials else {}

    # --- the first convolution
    first = convs[0].name
    rule = "supported when at least half the filters are clearly oriented edge detectors; partly when at least half are oriented (edge or stroke templates, cosine ≥ 0.7)"
    experiment = "Each kernel matched against edge, stroke (line), blob and uniform templates of its size; responses to edges in 8 directions and to gratings at 8 orientations and 5 periods."
    if trials:
        f = trials["filters"]
        n = len(f["filters"])
        edges = sum(m["oriented_edge"] for m in f["filters"])
        oriented = sum(m["template"] in ("edge", "line") and m["cosine"] >= 0.7 for m in f["filters"])
        kinds = f["kinds"]
        verdict = SUPPORTED if edges >= n / 2 else PARTLY if oriented >= n / 2 else NOT_SUPPORTED
        finding = (
            f"{edges} of {n} filters ({_pct(edges / n)}) are clearly oriented edge detectors; best templates: "
            + ", ".join(f"{kinds.get(k, 0)} {k}" for k in ("edge", "line", "blob", "uniform"))
            + f". {oriented} of {n} match an edge or a stroke with cosine ≥ 0.7."
        )
        change = "Counting strokes (thin bright or dark lines) as edges, or a looser cosine threshold than 0.7, would raise the share; 3x3 kernels can barely tell an edge from a stroke."
        claims.append(Claim("conv1_edges", (first,), "extracts low-level features such as edges and textures", experiment, verdict, finding, change,
                            rule + " (the stroke count was added after seeing that most filters match strokes)",
                            {"oriented_edge": edges, "oriented": oriented, "filters": n, "kinds": kinds}))
    else:
        claims.append(Claim("conv1_edges", (first,), "extracts low-level features such as edges and textures", experiment, NOT_MEASURED, "Not measured for this model yet.", "", rule))

    # --- pooling
    pool_names = tuple(p.name for p in pools)
    if pools:
        halved = all(p.output_shape[0] == p.input_shape[0] // 2 for p in pools)
        shapes = "; ".join(f"{p.name}: {p.input_shape[0]}x{p.input_shape[1]} → {p.output_shape[0]}x{p.output_shape[1]}" for p in pools)
        claims.append(Claim("pool_half", pool_names, "reduces the spatial dimensions by half", "The shapes of the maps before and after each pooling layer.",
                            SUPPORTED if halved else NOT_SUPPORTED, shapes + " (odd sides round down).", "Nothing: this is arithmetic.", "supported when every pooling layer halves its maps' sides (rounding down)"))
        # retaining the most important features
        rule = f"supported when the probe loses at most {POOL_LOSS * 100:.0f} point at every pooling layer and the seed's test accuracy is not below the no-pooling variant's by more than twice the standard error"
        parts, ok_probe = [], None
        if probes:
            ok_probe = True
            for p in pools:
                before = infos[p.index - 1].name
                loss = probes.get(before, math.nan) - probes.get(p.name, math.nan)
                ok_probe = ok_probe and loss <= POOL_LOSS
                parts.append(f"probe {before} {_pct(probes[before])} → {p.name} {_pct(probes[p.name])}")
        test, ok_test = difference(results, "no-pooling", "test_accuracy"), None
        if test is not None:  # the seed is not clearly worse on test than the variant without pooling
            ok_test = not (test.value > 2 * test.standard_error and test.standard_error > 0)
            parts.append(f"no-pooling minus seed test accuracy {test.text()}")
        known = [x for x in (ok_probe, ok_test) if x is not None]
        verdict = NOT_MEASURED if not known else SUPPORTED if all(known) and len(known) == 2 else PARTLY if any(known) else NOT_SUPPORTED
        claims.append(Claim("pool_retains", pool_names, "retaining the most important features",
                            "Linear probes just before and just after each pooling layer; the test accuracy of a variant without pooling.",
                            verdict, "; ".join(parts) + "." if parts else "Not measured.", "A probe that loses more than a point at pooling, or a no-pooling variant clearly better on test.", rule,
                            {"probe_ok": ok_probe, "test_ok": ok_test, **({"test_difference": test.to_json()} if test else {})}))
        # cost
        if BASELINE in results and "no-pooling" in results:
            base, other = results[BASELINE], results["no-pooling"]
            ratio = other.runs[0].multiply_adds / base.runs[0].multiply_adds
            seconds = other.spread("seconds").mean / base.spread("seconds").mean
            finding = (
                f"Without pooling: {other.runs[0].multiply_adds / 1e6:.1f} M multiply-adds a picture against {base.runs[0].multiply_adds / 1e6:.1f} M ({ratio:.1f}x), "
                f"{other.runs[0].parameters:,} weights against {base.runs[0].parameters:,}, and training took {seconds:.1f}x as long."
            )
            claims.append(Claim("pool_cost", pool_names, "reduces computational complexity", "Multiply-adds per picture, weights and measured training time of the seed's architecture and of a variant without pooling.",
                                SUPPORTED if ratio > 1 else NOT_SUPPORTED, finding, "Nothing short of another architecture: the counts follow from the shapes.", "supported when removing pooling makes the forward pass dearer",
                                {"multiply_adds_ratio": ratio, "training_time_ratio": seconds}))
        claims.append(_gap_claim("pool_overfitting", pool_names, "helps prevent overfitting", results, "no-pooling", "no pooling layers"))
        # shifts (said of pooling, not in the seed's words)
        d = difference(results, "no-pooling", "shift_agreement_2px")
        if d is not None:
            a, b = results[BASELINE].spread("shift_agreement_2px"), results["no-pooling"].spread("shift_agreement_2px")
            change = {n: results[n].runs[0].shifts["true_probability_change"][1] for n in (BASELINE, "no-pooling")}
            finding = (
                f"Moved 2 pixels, a picture keeps its answer {_pct(a.mean)} of the time with pooling, {_pct(b.mean)} without (no pooling: {d.text()}); "
                f"the true class's probability moves by {change[BASELINE]:+.3f} with pooling, {change['no-pooling']:+.3f} without (first seed)."
            )
            if "stride-2" in results:
                finding += f" With stride-2 convolutions instead: {_pct(results['stride-2'].spread('shift_agreement_2px').mean)}."
            claims.append(Claim("pool_shifts", pool_names, "(often said of pooling, not in the seed's words) makes the answer tolerant to small shifts",
                                "Every test picture moved 1-3 pixels in four directions and classified again: the share that keeps its answer.",
                                d.verdict(-1), finding, "A difference within its spread over seeds.", "supported when the agreement at 2 pixels is higher with pooling by more than twice the standard error",
                                {"agreement_difference": d.to_json()}))

    # --- dropout after the convolutions
    conv_dropouts = tuple(d.name for d in dropouts if any(i.kind in ("conv", "pool") for i in infos[: d.index]) and not any(i.kind == "dense" for i in infos[: d.index]))
    dense_dropouts = tuple(d.name for d in dropouts if any(i.kind == "dense" for i in infos[: d.index]))
    if conv_dropouts:
        claims.append(_gap_claim("dropout12_overfitting", conv_dropouts, "helps prevent overfitting", results, "no-dropout1-2", "no dropout after the convolution blocks",
                                 also=(("no-dropout", "any dropout"),)))

    # --- the second convolution
    if len(convs) > 1:
        second = convs[1]
        before = infos[second.index - 1].name
        after = [second.name] + [i.name for i in infos[second.index + 1 :] if i.kind == "pool"][:1]
        rule = f"supported when a probe after {second.name} (or its pooling) beats the one before it by at least {PROBE_STEP * 100:.0f} point"
        if probes:
            gain = max(probes[n] for n in after) - probes[before]
            verdict = SUPPORTED if gain >= PROBE_STEP else PARTLY if gain > 0 else NOT_SUPPORTED
            finding = (
                f"Probe {before} {_pct(probes[before])} → " + ", ".join(f"{n} {_pct(probes[n])}" for n in after)
                + f" ({gain * 100:+.1f} points). Each {second.name} value sees {second.receptive_field}x{second.receptive_field} input pixels, against {convs[0].receptive_field}x{convs[0].receptive_field} for {first}."
            )
        else:
            verdict, finding = NOT_MEASURED, "Not measured for this model yet."
        claims.append(Claim("conv2_complex", (second.name,), "learns more complex patterns, such as shapes and textures",
                            "Linear probes before and after it, and the size of its receptive field; the Units page shows what its units respond to.",
                            verdict, finding, "A probe that gains nothing after it; what its units respond to (Units) is the qualitative half.", rule))

    # --- the first dense layer
    if denses:
        dense = denses[0]
        flat = infos[dense.index - 1].name
        rule = f"supported when the probe on its outputs beats the probe on its inputs by at least {PROBE_STEP * 100:.0f} point"
        if probes:
            gain = probes[dense.name] - probes[flat]
            verdict = SUPPORTED if gain >= PROBE_STEP else PARTLY if gain > 0 else NOT_SUPPORTED
            reinit = trials["reinit"]
            drop = reinit["trained"] - reinit["accuracy"][dense.name].get("start", reinit["accuracy"][dense.name].get("fresh"))
            finding = (
                f"Probe on its inputs ({flat}) {_pct(probes[flat])}, on its outputs {_pct(probes[dense.name])} ({gain * 100:+.1f} points), "
                f"with {dense.output_shape[-1]} values instead of {dense.input_shape[-1]:,}. "
                f"Put back to its starting weights the model scores {drop * 100:.1f} points less."
            )
        else:
            verdict, finding = NOT_MEASURED, "Not measured for this model yet."
        claims.append(Claim("dense1_classifier", (dense.name,), "acts as a classifier by learning complex interactions between features",
                            "A linear probe on its inputs against one on its outputs; re-initialising it.", verdict, finding,
                            "A probe on its inputs as good as on its outputs (a linear classifier would then do its job).", rule))

    if dense_dropouts:
        claims.append(_higher_rate_claim(dense_dropouts, results))

    # --- softmax
    out = infos[-1].name
    if trials:
        cal = trials["calibration"]
        valid = cal["largest_sum_error"] < 1e-5 and cal["smallest_probability"] >= 0
        claims.append(Claim("softmax_valid", (out,), "produces probabilities … a valid probability distribution", "The ten outputs of every test picture: are they ≥ 0 and do they sum to 1?",
                            SUPPORTED if valid else NOT_SUPPORTED, f"Largest |sum − 1| over the 10,000 test pictures: {cal['largest_sum_error']:.1e}; smallest probability {cal['smallest_probability']:.1e}.",
                            "Nothing: softmax guarantees it.", "supported when every sum is 1 within 1e-5 and no probability is negative"))
        ece, after = cal["ece"], cal["ece_after"]
        verdict = SUPPORTED if ece <= 0.02 else PARTLY if ece <= 0.05 else NOT_SUPPORTED
        claims.append(Claim("softmax_calibrated", (out,), "(the question a reader asks next) a probability of 0.9 is right 9 times in 10",
                            "A reliability diagram on the test set: 15 bins of the top class's probability; expected calibration error (ECE); a temperature fitted on the validation split.",
                            verdict, f"ECE {ece:.4f}; after dividing the logits by T = {cal['temperature']:.2f} (fitted on {cal['validation_images']:,} validation pictures): {after:.4f}.",
                            "An ECE above 0.02 (partly) or 0.05 (not supported); the fitted temperature shows which way it errs (T > 1: overconfident).",
                            "supported when the ECE is at most 0.02, partly up to 0.05"))
    return claims


def _higher_rate_claim(layers, results) -> Claim:
    rule = "supported when the gap is larger with the rate at 0.3 than at 0.5 by more than twice the standard error"
    experiment = "The seed (dropout3 at 0.5) against variants with dropout3 at 0.3 and without dropout3, fast schedule, 3 seeds each: the train-validation gap."
    lower, none = difference(results, "dropout3-0.3", "gap"), difference(results, "no-dropout3", "gap")
    if lower is None:
        return Claim("dropout3_rate", layers, "higher rate … significantly reduces overfitting in the dense layers", experiment, NOT_MEASURED, "The variants have not been trained.", "", rule)
    verdict = lower.verdict(+1)
    finding = f"Gap at 0.3 minus gap at 0.5: {lower.text()}." + (f" Without dropout3: {none.text()}." if none else "")
    change = "More seeds or a schedule that overfits more; the fast schedule ramps dropout up from zero, so the rate is in full force only at the end."
    return Claim("dropout3_rate", layers, "higher rate … significantly reduces overfitting in the dense layers", experiment, verdict, finding, change, rule,
                 {"lower_rate": lower.to_json(), **({"none": none.to_json()} if none else {})})


def layers_report(infos, trials: dict, results: dict[str, VariantResults]) -> dict:
    """The ``layers`` CLI's JSON: probes, claims, variants and re-initialisation of one model."""
    return {
        "probes": {p["layer"]: p["accuracy"] for p in trials["probes"]},
        "probe_protocol": trials["probe_protocol"],
        "claims": [c.to_json() for c in layer_claims(infos, trials, results)],
        "variants": [r.to_json() for r in results.values()],
        "reinit": trials["reinit"]["accuracy"],
        "reinit_trained": trials["reinit"]["trained"],
        "filters": {k: v for k, v in trials["filters"].items() if k != "filters"},
        "shifts": trials["shifts"],
    }
