"""Why: which pixels drove the decision (six attribution methods), how far each can be trusted, and what-if."""

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import comparison_model, comparison_probabilities, model_label, on_phone, require_model, show_figure
from app_pages.picker import image_picker
from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import model_input
from fashion_viz.explain.adversarial import MAX_EPS, PGD_STEPS, attack, smallest_changes
from fashion_viz.explain.attribution import METHODS, attribute
from fashion_viz.explain.faithfulness import load_report, report_path
from fashion_viz.explain.whatif import InputEdit, edit_image, explain_change, strongest_units
from fashion_viz.figures.attribution import adversarial_figure, attribution_grid_figure, faithfulness_table, smallest_change_table, whatif_figure
from fashion_viz.figures.prediction import probability_chart

ATTACKS = {"fgsm": "FGSM", "pgd": "PGD"}
LAB_MAPS = ("saliency", "gradcam")  # the adversarial lab's before-and-after maps

loaded = require_model()
engine = resources.current_engine()
no_units_off = {layer: [] for layer in engine.maskable}

st.title("Why does the model decide what it does?")
st.caption(
    "Attribution maps show which pixels pushed a class score up. Six methods answer the question differently; "
    "the table below says how well each passed checks of faithfulness on 500 test pictures."
)

with guarded("the attribution maps and what-if"):
    pick, settings = st.columns([2, 3])
    with pick:
        chosen = image_picker("why")
        comparison = comparison_model("why")
    if chosen is None:
        st.info("Upload a photo of a garment (or choose another input) to start.")
        st.stop()

    _, original = engine.predict(model_input(chosen.image))
    original = original[0]
    predicted = int(np.argmax(original))

    # ------------------------------------------------------------ what-if (applies to everything below)
    off = st.session_state.get(state.WHY_OFF)
    if not isinstance(off, dict) or set(off) != set(no_units_off):  # another model (its layers) since the last run
        off = st.session_state[state.WHY_OFF] = dict(no_units_off)
    with st.expander("What if… switch units off or change the picture", expanded=False):
        acts = engine.activations(chosen.image)
        for column, layer in zip(st.columns(len(engine.maskable)), engine.maskable):
            size, noun = engine.widths[layer], "unit" if engine.info(layer).kind == "dense" else "channel"
            key = f"why_off_{layer}"
            st.session_state[key] = off[layer]

            def changed(layer=layer, key=key) -> None:
                st.session_state[state.WHY_OFF][layer] = list(st.session_state[key])

            column.multiselect(f"{layer}: switch off", list(range(size)), key=key, on_change=changed,
                               format_func=lambda k, noun=noun: f"{noun} {k}")
            if column.button(f"Switch off the 5 strongest ({layer})", key=f"why_strongest_{layer}", width="stretch"):
                off[layer] = sorted(set(off[layer]) | set(strongest_units(acts.layer(layer).values)))
                st.rerun()
        st.markdown("**Change the picture**")
        e1, e2, e3, e4 = st.columns(4)
        edit = InputEdit(
            shift_x=e1.slider("Shift across (px)", -8, 8, 0, key="why_shift_x"),
            shift_y=e1.slider("Shift down (px)", -8, 8, 0, key="why_shift_y"),
            rotate=float(e2.slider("Rotate (degrees)", -90, 90, 0, 5, key="why_rotate")),
            scale=e2.slider("Scale", 0.5, 1.5, 1.0, 0.05, key="why_scale"),
            brightness=e3.slider("Brightness", -150, 150, 0, 10, key="why_brightness"),
            contrast=e3.slider("Contrast", 0.2, 2.0, 1.0, 0.1, key="why_contrast"),
            invert=e4.checkbox("Invert (light background)", key="why_invert"),
            noise=float(e4.slider("Noise (grey levels)", 0, 100, 0, 5, key="why_noise")),
            erase=(
                (e4.slider("Erase: top row", 0, 27, 4, key="why_erase_top"), e4.slider("Erase: left column", 0, 27, 8, key="why_erase_left"), 8, 12)
                if e4.checkbox("Erase a 8x12 patch", key="why_erase") else None
            ),
        )
        if st.button("Reset the what-if", icon=":material/restart_alt:"):
            for key in [k for k in st.session_state if str(k).startswith("why_") and k != "why_source"]:
                del st.session_state[key]
            st.session_state[state.WHY_OFF] = dict(no_units_off)
            st.rerun()

    image = edit_image(chosen.image, edit)
    switched_off = {layer: units for layer, units in off.items() if units}
    changed = bool(switched_off) or not edit.is_identity
    _, probabilities = engine.predict(model_input(image), switched_off)
    probabilities = probabilities[0]
    if changed:
        st.info(explain_change(original, probabilities, switched_off, edit), icon=":material/science:")

    with settings:
        s1, s2 = st.columns(2)
        target = s1.selectbox("Explain the class", range(len(CLASS_NAMES)), index=int(np.argmax(probabilities)), key=f"why_target_{predicted}",
                              format_func=lambda k: f"{CLASS_NAMES[k]} ({probabilities[k]:.0%})")
        contrast_choice = s2.selectbox("…rather than (contrastive)", [None, *range(len(CLASS_NAMES))], key="why_contrast_class",
                                       format_func=lambda k: "no other class" if k is None else CLASS_NAMES[k])
        methods = st.multiselect("Methods", METHODS, default=list(METHODS), format_func=lambda key: METHODS[key].title, key="why_methods")
        s3, s4, s5 = st.columns(3)
        opacity = s3.slider("Map opacity", 0.0, 1.0, 0.6, 0.05, key="why_opacity")
        cam_layer = s4.radio("Grad-CAM layer", list(reversed(engine.conv_names)), horizontal=True, key="why_cam_layer")
        patches = {"2 px, stride 1": (2, 1), "3 px, stride 1": (3, 1), "4 px, stride 2": (4, 2), "6 px, stride 2": (6, 2), "8 px, stride 4": (8, 4)}
        patch = patches[s5.select_slider("Occlusion patch", options=list(patches), value="4 px, stride 2", key="why_patch")]

    contrast = None if contrast_choice is None or contrast_choice == target else int(contrast_choice)
    options = {"gradcam": {"layer": cam_layer}, "gradcam++": {"layer": cam_layer}, "occlusion": {"patch": patch[0], "stride": patch[1]}}
    results = [attribute(engine, image, m, int(target), contrast, switched_off, **options.get(m, {})) for m in methods]

    maps, scores = st.columns([2.6, 1])
    with maps:
        if not results:
            st.info("Choose at least one method.")
        elif comparison is None:
            show_figure(attribution_grid_figure(image, results, opacity, columns=1 if on_phone() else 2), "why_maps")
        else:
            other_label, _, other_engine = comparison
            other_options = {**options, "gradcam": {"layer": other_engine.conv_names[-1]}, "gradcam++": {"layer": other_engine.conv_names[-1]}}
            other_results = [attribute(other_engine, image, m, int(target), contrast, None, **other_options.get(m, {})) for m in methods]
            mine = model_label(resources.model_path()).split(" · ")[0]
            theirs = other_label.split(" · ")[0]
            paired = [r for pair in zip(results, other_results) for r in pair]
            labels = [label for r in results for label in (f"{METHODS[r.method].title} (yours)", theirs)]
            show_figure(attribution_grid_figure(image, paired, opacity, columns=1 if on_phone() else 2, labels=labels), "why_maps")
            st.caption(f"Left: yours ({mine}); right: {theirs}. Both explain {CLASS_NAMES[int(target)]} for the same picture; units switched off apply to your model only, Grad-CAM uses the second model's last convolution.")
    with scores:
        show_figure(probability_chart(probabilities, chosen.label, title=f"{'After your changes: ' if changed else ''}{CLASS_NAMES[int(np.argmax(probabilities))]} ({probabilities.max():.0%})"), "why_probabilities")
        if comparison is not None:
            comparison_probabilities(comparison[0], comparison[2].predict(model_input(image))[1][0], chosen.label, "why_compare_probabilities")
        if changed:
            show_figure(whatif_figure(original, probabilities), "why_whatif")
        ig = next((r for r in results if r.method == "integrated-gradients"), None)
        if ig is not None:
            st.caption(f"Integrated Gradients used {ig.details['steps']} steps; its attributions add up to {ig.details['attribution_sum']:.3f} "
                       f"against a score change of {ig.details['score_change']:.3f} from a black picture ({ig.details['completeness_error']:.1%} off).")

with guarded("the adversarial lab"):
    st.subheader("Fool it: how little does it take to change the answer?")
    a, b, c, d = st.columns([1.2, 1.6, 1.4, 1.6])
    attack_method = a.segmented_control(
        "Attack", list(ATTACKS), format_func=ATTACKS.get, default="fgsm", key="why_attack_method",
        help="FGSM: one step of ε against the answer's gradient. PGD: many small steps, each kept within ε.",
    ) or "fgsm"
    eps = b.slider("ε: the most any pixel may change (grey levels of 255)", 0, MAX_EPS, 8, key="why_attack_eps")
    steps = c.slider("PGD steps", 1, 50, PGD_STEPS, key="why_attack_steps", disabled=attack_method != "pgd")
    towards = d.selectbox("Towards", ["any other class", *CLASS_NAMES], key="why_attack_target")
    attack_target = None if towards == "any other class" else CLASS_NAMES.index(towards)
    made = attack(engine, image, attack_method, eps, steps, attack_target)
    pictures, answer = st.columns([2.6, 1])
    with pictures:
        show_figure(adversarial_figure(made.original, made.adversarial, eps), "why_attack_pictures")
    with answer:
        verdict = "It now says" if made.adversarial_class != made.original_class else "It still says"
        show_figure(probability_chart(made.probabilities_after, chosen.label, title=f"{verdict} {CLASS_NAMES[made.adversarial_class]} ({made.probabilities_after.max():.0%})"), "why_attack_probabilities")
    # Where the model looks for its answer, before and after: the two fast maps (a few ms each), for the full model.
    explained = made.adversarial_class
    before_after = [r for m in LAB_MAPS for r in (attribute(engine, image, m, explained, **options.get(m, {})),
                                                  attribute(engine, made.adversarial, m, explained, **options.get(m, {})))]
    labels = [label for m in LAB_MAPS for label in (f"{METHODS[m].title} for {CLASS_NAMES[explained]}: before", "attacked")]
    show_figure(attribution_grid_figure(image, before_after, opacity, columns=1 if on_phone() else 2, labels=labels), "why_attack_maps")
    smallest_key = (str(resources.model_path()), image.tobytes(), steps)
    if st.button("Find the smallest change that flips it", key="why_attack_smallest"):
        st.session_state[state.WHY_SMALLEST] = (smallest_key, smallest_changes(engine, image, steps))
    stored = st.session_state.get(state.WHY_SMALLEST)
    if stored is not None and stored[0] == smallest_key:
        st.dataframe(smallest_change_table(stored[1]), hide_index=True, width="stretch")
    st.caption(
        "FGSM moves every pixel by ε at once in the direction that most raises the loss of the model's answer; PGD takes small steps "
        "and keeps the change within ε. A few grey levels, invisible to you, are often enough: the model reads edges and textures "
        "pixel by pixel, and a change spread over the whole picture adds up inside it. Limits: these attacks know the model's "
        "gradients (white box), and a printed or photographed picture would not keep such a fine change."
    )

with guarded("the method notes"):
    with st.expander("What each method measures, and its known weaknesses", expanded=False):
        for method in METHODS.values():
            st.markdown(f"**{method.title}** ({'signed' if method.signed else 'unsigned'}): {method.note}")

with guarded("the faithfulness table"):
    st.subheader("How far can each map be trusted?")
    report = load_report(loaded.path, loaded.card.model_sha256)
    if report is None:
        st.info(
            f"Not measured for this model yet. `python -m fashion_viz faithfulness --model {loaded.path}` measures it "
            f"(a few minutes) and stores `{report_path(loaded.path).name}` beside the model."
        )
    else:
        table = faithfulness_table(report)
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            column: st.column_config.NumberColumn(format="%.3f") for column in table.columns if column != "method"
        })
        st.caption(
            f"Measured on {report.images} test pictures (50 per class), explaining each one's predicted class. Deletion: the most important "
            "pixels are set to black, 8 at a time; the area under the probability curve is lower when the map found what matters. "
            "Insertion: from a blurred copy, the most important pixels come back first; higher is better. Each is beside the same "
            f"figure for a random pixel order. ρ: the median rank correlation ({report.randomisation_images} pictures) between this "
            "model's map and the map of a copy whose top layers were re-initialised at random; a method that explains the model falls "
            "towards 0, one that stays high shows the picture more than the model. Integrated Gradients' completeness: median "
            f"{report.ig_completeness['median']:.1%}, worst {report.ig_completeness['max']:.1%}."
        )
