"""``python -m tools bench``: the speed and size figures, each against its baseline in the same run.

Every figure is the median of several runs after a warm-up. Training figures
need the dataset; browser figures need Chromium and Playwright (they are
reported as null with a reason otherwise).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer
from tools.browser_bench import TARGETS as BROWSER_TARGETS

TARGETS = {
    "train_ratio": ("<=", 0.6),
    "activations_ms": ("<=", 2.0),
    "figures_ms": ("<=", 20.0),
    "payload_kb": ("<=", 400.0),
    "rerun_ms": ("<=", 100.0),
    "upload_to_chart_ms": ("<=", 1000.0),
    "cold_start_s": ("<=", 6.0),
    "live_progress_overhead_pct": ("<=", 5.0),
    "calc_panel_ms": ("<=", 50.0),
    "attr_saliency_ms": ("<=", 20.0),
    "attr_gradcam_ms": ("<=", 20.0),
    "attr_gradcam++_ms": ("<=", 20.0),
    "attr_integrated-gradients_ms": ("<=", 60.0),
    "attr_smoothgrad_ms": ("<=", 150.0),
    "attr_occlusion_ms": ("<=", 150.0),
    "whatif_change_ms": ("<=", 30.0),
    "attack_fgsm_ms": ("<=", 20.0),
    "attack_pgd20_ms": ("<=", 150.0),
    "attack_smallest_s": ("<=", 1.0),
    "units_page_ms": ("<=", 100.0),
    "map_place_ms": ("<=", 100.0),
    # What a person waits for in Chromium, as a ratio to a minimal Streamlit app in the same run.
    **{key: ("<=", limit) for key, limit in BROWSER_TARGETS.items()},
}


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_training(data, repeats: int = 3) -> dict:
    """One epoch of the project's training vs plain ``model.fit`` on numpy arrays, same process."""
    import keras

    from fashion_viz.architecture import build_model
    from fashion_viz.training import TrainConfig, compile_training_model, make_dataset

    config = TrainConfig()
    from fashion_viz.architecture import model_input

    x_float = model_input(data.x_train)
    y = np.asarray(data.y_train)

    baseline = build_model()
    baseline.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    baseline_epoch = median_time(lambda: baseline.fit(x_float, y, batch_size=128, epochs=1, verbose=0), repeats)

    steps = len(y) // config.batch_size
    model, _, bf16 = compile_training_model(config, steps)
    dataset = make_dataset(data.x_train, y, config.batch_size, shuffle=True, seed=0)
    ours = median_time(lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False), repeats)
    # The Train page's live progress: the server-wide job listener, fed per execution, read by a poller.
    from fashion_viz.jobs import TrainingJobs
    from fashion_viz.training import progress_callback

    jobs = TrainingJobs(models_dir=ROOT / "models")
    model.fashion_history = []
    callback = progress_callback(jobs, None, steps, lambda step: 0.0)
    with_progress = median_time(lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[callback]), repeats)
    keras.backend.clear_session()
    return {
        "train_epoch_s": round(ours, 2),
        "baseline_epoch_s": round(baseline_epoch, 2),
        "train_ratio": round(ours / baseline_epoch, 3),
        "live_progress_overhead_pct": round((with_progress / ours - 1) * 100, 1),
        "train_setup": f"batch {config.batch_size}, steps_per_execution {config.steps_per_execution}, {'bfloat16' if bf16 else 'float32'}, tf.data cache+prefetch",
    }


def figures_for_view(activations, infos, engine, layer_index: int) -> list:
    """Every figure the Explorer shows for one image with one layer selected."""
    from fashion_viz.figures.layers import image_figure, kernel_mosaic, layer_output_figure
    from fashion_viz.figures.prediction import probability_chart

    output, info = activations.layers[layer_index], infos[layer_index]
    figures = [probability_chart(activations.probabilities, 0), image_figure(activations.image, "input"), layer_output_figure(output, info, highlight=0, large=True, mark=(0, 0))]
    conv = info.name if info.kind == "conv" else "conv1"
    figures.append(kernel_mosaic(engine.kernels(conv), "filters"))
    return figures


def bench_explorer(repeats: int = 200) -> dict:
    """Activations, figure building and payload for the Explorer's views."""
    from fashion_viz.architecture import model_input as as_model_batch
    from fashion_viz.data import load_sample
    from fashion_viz.engine import Engine
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model()
    engine = Engine(loaded.model)
    images = load_sample().images
    counter = iter(range(10**9))
    activations_s = median_time(lambda: engine.activations(images[next(counter) % len(images)]), repeats, warmup=5)
    predict_s = median_time(lambda: loaded.model.predict(as_model_batch(images[0]), verbose=0), 20, warmup=2)

    infos = engine.infos
    activations = engine.activations(images[0])
    per_view_ms, payload_kb = [], []
    for layer_index in range(len(infos)):
        seconds = median_time(lambda: figures_for_view(activations, infos, engine, layer_index), 15, warmup=2)
        per_view_ms.append(seconds * 1000)
        payload_kb.append(sum(len(fig.to_json()) for fig in figures_for_view(activations, infos, engine, layer_index)) / 1024)
    heaviest = int(np.argmax(per_view_ms))
    return {
        "activations_ms": round(activations_s * 1000, 3),
        "baseline_predict_ms": round(predict_s * 1000, 2),
        "figures_ms": round(max(per_view_ms), 2),
        "figures_view": infos[heaviest].name,
        "payload_kb": round(max(payload_kb), 1),
        "payload_view": infos[int(np.argmax(payload_kb))].name,
    }


def bench_arithmetic(repeats: int = 30) -> dict:
    """The arithmetic panel's compute and figures for one position of every layer (no model call),
    and the batched dropout calls, against the engine's own forward pass in the same run."""
    from fashion_viz.engine import Engine
    from fashion_viz.figures.arithmetic import number_grids_html, partial_sums_figure, receptive_field_picture, window_kernel_products
    from fashion_viz.data import load_sample
    from fashion_viz.explain.arithmetic import describe, explain_value, masked_dropout, monte_carlo_dropout
    from fashion_viz.storage import load_checked_model

    model = load_checked_model().model
    engine = Engine(model)
    image = load_sample().images[7]
    acts = engine.activations(image)
    positions = {o.name: tuple(int(i) for i in np.unravel_index(int(np.argmax(o.values)), o.values.shape)) for o in acts.layers}

    def panel(name: str) -> None:
        calc = explain_value(model, image, acts, name, positions[name])
        describe(calc)
        if calc.kind == "conv":
            kh, kw, cin = calc.kernel_shape
            receptive_field_picture(image, calc.receptive_field)
            number_grids_html(window_kernel_products(calc.inputs.reshape(kh, kw, cin)[:, :, 0], calc.weights.reshape(kh, kw, cin)[:, :, 0]))
            partial_sums_figure(calc.per_channel, "p").to_json()

    per_layer = {name: median_time(lambda n=name: panel(n), repeats, warmup=2) * 1000 for name in positions}
    slowest = max(per_layer, key=per_layer.get)
    forward = median_time(lambda: engine.activations(image), repeats, warmup=2) * 1000
    mask = median_time(lambda: masked_dropout(engine, image, acts, "dropout3", 1), 10, warmup=2) * 1000
    mc = median_time(lambda: monte_carlo_dropout(engine, image, 50), 10, warmup=2) * 1000
    return {
        "calc_panel_ms": round(per_layer[slowest], 2),
        "calc_panel_layer": slowest,
        "calc_forward_pass_ms": round(forward, 2),
        "calc_dropout_mask_ms": round(mask, 1),
        "calc_monte_carlo_50_ms": round(mc, 1),
    }


def bench_attribution(repeats: int = 15) -> dict:
    """Each attribution method on one picture (warm, compiled once), one what-if change, and the
    engine's plain forward pass as the baseline in the same run."""
    from fashion_viz.data import load_sample
    from fashion_viz.engine import Engine
    from fashion_viz.explain.attribution import METHODS, attribute
    from fashion_viz.explain.whatif import InputEdit, edit_image
    from fashion_viz.architecture import model_input
    from fashion_viz.storage import load_checked_model

    model = load_checked_model().model
    scorer = Engine(model)
    images = load_sample().images
    results = {}
    for method in METHODS:
        counter = iter(range(10**6))
        results[f"attr_{method}_ms"] = round(median_time(lambda m=method: attribute(scorer, images[next(counter) % 200], m, 3), repeats, warmup=2) * 1000, 1)
    off = {"conv2": [3, 17, 40]}
    edit = InputEdit(shift_x=2, rotate=10.0)

    def change() -> None:  # what the Why page does when a person moves a what-if control (probabilities of the changed model)
        scorer.predict(model_input(edit_image(images[7], edit)), off)

    results["whatif_change_ms"] = round(median_time(change, 30, warmup=2) * 1000, 2)
    results["attr_baseline_forward_ms"] = round(median_time(lambda: scorer.activations(images[7]), 30, warmup=2) * 1000, 2)
    return results


def bench_adversarial(repeats: int = 10) -> dict:
    """The Why page's adversarial lab on the sample pictures: one FGSM, one PGD of 20 steps, one smallest-ε search
    (every whole ε up to 32 at once), beside the engine's plain forward pass in the same run."""
    from fashion_viz.data import load_sample
    from fashion_viz.engine import Engine
    from fashion_viz.explain.adversarial import attack, smallest_eps
    from fashion_viz.storage import load_checked_model

    engine = Engine(load_checked_model().model)
    images = load_sample().images
    counter = iter(range(10**6))

    def picture():
        return images[next(counter) % len(images)]

    return {
        "attack_fgsm_ms": round(median_time(lambda: attack(engine, picture(), "fgsm", 8), repeats, warmup=2) * 1000, 1),
        "attack_pgd20_ms": round(median_time(lambda: attack(engine, picture(), "pgd", 8, 20), repeats, warmup=2) * 1000, 1),
        "attack_smallest_s": round(median_time(lambda: smallest_eps(engine, picture(), "pgd", 20), 5, warmup=1), 3),
        "attack_baseline_forward_ms": round(median_time(lambda: engine.activations(picture()), 30, warmup=2) * 1000, 2),
    }


def bench_faithfulness(count: int = 500) -> dict:
    """The faithfulness table on the fixed set of test pictures (stored beside the shipped model for the Why page)."""
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.explain.faithfulness import fixed_test_set, measure, report_path
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model()
    data = load_fashion_mnist(allow_download=False)
    indices = fixed_test_set(data.y_test, count)
    report = measure(loaded.model, data.x_test[indices])
    report.test_indices, report.model_sha256 = indices.tolist(), loaded.card.model_sha256
    report_path(loaded.path).write_text(report.to_json())
    out = {"faithfulness_images": report.images, "faithfulness_s": report.seconds}
    for method in report.randomisation_spearman:
        out[f"deletion_auc_{method}"] = round(report.deletion_auc[method], 3)
        out[f"insertion_auc_{method}"] = round(report.insertion_auc[method], 3)
        out[f"randomised_rho_{method}"] = [round(v, 2) for v in report.randomisation_spearman[method].values()]
    out["deletion_auc_random"] = round(report.deletion_auc["random"], 3)
    out["insertion_auc_random"] = round(report.insertion_auc["random"], 3)
    out["ig_completeness_median"] = round(report.ig_completeness["median"], 4)
    out["ig_completeness_max"] = round(report.ig_completeness["max"], 4)
    return out


def bench_rerun(photos: int = 8) -> dict:
    """Server-side time of one Explorer interaction: upload a new photo, run the page.

    ``rerun_ms`` is the app script's own run (timed in ``app.py``, which is what a
    server spends); ``apptest_round_trip_ms`` adds AppTest's harness, which parses
    every element and chart spec the run produced.
    """
    from streamlit.testing.v1 import AppTest

    from fashion_viz.data import load_sample
    from fashion_viz.preprocessing import png_bytes

    sample = load_sample()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    at.radio(key="explorer_source").set_value("Upload a photo").run()
    script_ms, round_trip_ms = [], []
    for i in range(photos + 2):
        upload = png_bytes(sample.images[(i * 23) % len(sample.images)])
        at.get("file_uploader")[0].set_value((f"photo{i}.png", upload, "image/png"))
        start = time.perf_counter()
        at.run()
        round_trip_ms.append((time.perf_counter() - start) * 1000)
        script_ms.append(at.session_state["_last_run_ms"])
        if at.exception:
            raise RuntimeError(f"the Explorer raised: {at.exception[0].message}")
    return {
        "rerun_ms": round(statistics.median(script_ms[2:]), 1),
        "apptest_round_trip_ms": round(statistics.median(round_trip_ms[2:]), 1),
    }


def bench_units(fresh: bool = True) -> dict:
    """Units and Map: precompute time per model, the Units page's server time per unit from the
    stored atlas, placing a new picture on the map (warm), and the measured checks."""
    from streamlit.testing.v1 import AppTest

    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.engine import Engine
    from fashion_viz.explain.embedding import NeighbourIndex, build_map, map_features, place, placement_checks
    from fashion_viz.explain.precompute import stored_views
    from fashion_viz.explain.units import build_atlas, class_picture_probabilities, conv_reach_ratio
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model()
    data = load_fashion_mnist(allow_download=False)
    views = stored_views(loaded.path, loaded.card.model_sha256)
    if not views.complete:
        raise RuntimeError("the shipped model's Units/Map files are missing: run `python -m fashion_viz precompute`")
    out: dict = {}
    engine = Engine(loaded.model)
    if fresh:
        out["precompute_units_s"] = round(build_atlas(engine, data.x_test, data.y_test).seconds, 1)
        out["precompute_map_tsne_s"] = round(build_map(engine, data.x_test, method="tsne").seconds, 1)
        out["precompute_map_pca_s"] = round(build_map(engine, data.x_test, method="pca").seconds, 2)
    else:
        out["precompute_units_s_stored"] = round(views.atlas.seconds, 1)
        out["precompute_map_tsne_s_stored"] = round(views.embedding.seconds, 1)

    features = map_features(engine, data.x_test)
    index = NeighbourIndex(features)
    photos = [data.x_test[i] for i in range(0, 4000, 200)]
    counter = iter(range(10**6))
    out["map_place_ms"] = round(
        median_time(lambda: place(index, views.embedding.xy, engine.activations(photos[next(counter) % len(photos)]).layer("dense1").values), 30, warmup=3) * 1000, 2
    )

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/units.py")
    at.run()
    page_ms = []
    for layer, unit in [("conv2", 17), ("conv2", 3), ("dense1", 40), ("predictions", 6), ("conv1", 9), ("dense1", 100), ("conv2", 60)] * 2:
        at.session_state["units_layer"], at.session_state["units_unit"] = layer, unit
        at.run()
        if at.exception:
            raise RuntimeError(f"the Units page raised: {at.exception[0].message}")
        page_ms.append(at.session_state["_last_run_ms"])
    out["units_page_ms"] = round(statistics.median(page_ms[2:]), 1)
    at.switch_page("app_pages/map.py")
    at.run()
    map_ms = []
    for i in range(8):
        at.session_state["test_index"] = 100 + i
        at.run()
        map_ms.append(at.session_state["_last_run_ms"])
    out["map_page_ms"] = round(statistics.median(map_ms[2:]), 1)

    probabilities = class_picture_probabilities(engine, views.atlas)
    ratio = conv_reach_ratio(views.atlas, "conv2")
    predictions = engine.probabilities(data.x_test).argmax(axis=1)
    checks = placement_checks(index, views.embedding, data.y_test, predictions, np.arange(10_000))
    out.update(
        {
            "check_class_picture_min_probability": round(float(probabilities.min()), 4),
            "check_conv2_above_p99": f"{int((ratio > 1).sum())}/64 (lowest {ratio.min():.2f}x)",
            "check_map_within_2pct": round(checks["within_2pct_share"], 4),
            "check_map_median_error_share": round(checks["median_error_share"], 4),
            "check_neighbour_majority_equals_prediction": round(checks["majority_equals_prediction"], 4),
        }
    )
    return out


def bench_browser() -> dict:
    """Browser figures beside the minimal app (see tools/browser_bench.py)."""
    if not os.path.exists(CHROMIUM):
        return {"browser_note": "Chromium not installed"}
    from tools.browser_bench import measure

    return measure()


def bench_server() -> dict:
    """Cold start to the first page's content, upload-to-chart in Chromium, and the server's memory."""
    if not os.path.exists(CHROMIUM):
        return {"cold_start_s": None, "upload_to_chart_ms": None, "rss_mb": None, "server_note": "Chromium not installed"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"cold_start_s": None, "upload_to_chart_ms": None, "rss_mb": None, "server_note": "Playwright not installed"}
    import tempfile

    from fashion_viz.data import load_sample
    from fashion_viz.preprocessing import png_bytes

    server = AppServer()
    url = server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        server.launch()
        try:
            while True:
                try:
                    page.goto(url, timeout=2_000)
                    break
                except Exception:  # noqa: BLE001 - server not listening yet
                    if time.perf_counter() - start > 60:
                        raise
                    time.sleep(0.05)
            page.wait_for_selector("[data-testid='stPlotlyChart'] .gtitle", timeout=60_000)
            cold = time.perf_counter() - start
            page.goto(f"{url}/explorer")
            page.wait_for_selector("[data-test-script-state='notRunning']", timeout=60_000)
            page.get_by_text("Upload a photo", exact=True).click()
            page.wait_for_selector("input[type='file']", state="attached", timeout=60_000)
            sample = load_sample()
            times = []
            with tempfile.TemporaryDirectory() as tmp:
                for i in range(6):
                    path = Path(tmp) / f"photo{i}.png"
                    path.write_bytes(png_bytes(sample.images[i * 31 % len(sample.images)]))
                    marker = f" · upload: photo{i}.png"
                    t0 = time.perf_counter()
                    page.locator("input[type='file']").set_input_files(str(path))
                    page.wait_for_function(
                        """m => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")].some(t => t.textContent.endsWith(m))""",
                        arg=marker,
                        timeout=30_000,
                    )
                    times.append(time.perf_counter() - t0)
            for name in ("architecture", "train", "evaluate", ""):
                page.goto(f"{url}/{name}")
                page.wait_for_selector("[data-test-script-state='notRunning']", timeout=60_000)
            rss = server.rss
        finally:
            browser.close()
            server.stop()
    return {"cold_start_s": round(cold, 2), "upload_to_chart_ms": round(statistics.median(times[1:]) * 1000, 1), "rss_mb": round(rss, 1)}


def check_targets(results: dict) -> dict:
    verdicts = {}
    for key, (_, limit) in TARGETS.items():
        value = results.get(key)
        verdicts[key] = None if value is None else bool(value <= limit)
    return verdicts


def run_benchmarks(quick: bool = False, as_json: bool = False) -> int:
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(), "quick": quick}
    def bench_units_on_dataset() -> dict:
        return bench_units(fresh=not quick)  # --quick reports the stored precompute times instead of measuring them

    sections = [bench_explorer, bench_arithmetic, bench_attribution, bench_adversarial, bench_rerun, bench_units_on_dataset, bench_browser, bench_server]
    if not quick:
        from fashion_viz.data import load_fashion_mnist

        def bench_training_on_dataset() -> dict:
            return bench_training(load_fashion_mnist(allow_download=False))

        sections.insert(0, bench_training_on_dataset)
        sections.append(bench_faithfulness)
    for section in sections:
        try:
            results.update(section())
        except Exception as exc:  # noqa: BLE001 - report the failure, keep the other figures
            name = section.__name__.removeprefix("bench_").removesuffix("_on_dataset")
            results[f"error_{name}"] = f"{type(exc).__name__}: {exc}"[:300]
    results["targets_met"] = check_targets(results)
    if as_json:
        print(json.dumps(results))
    else:
        width = max(map(len, results))
        for key, value in results.items():
            if key == "targets_met":
                continue
            target = TARGETS.get(key)
            verdict = results["targets_met"].get(key)
            mark = "" if target is None or verdict is None else f"   (target {target[0]} {target[1]:g}: {'met' if verdict else 'NOT met'})"
            print(f"{key:<{width}}  {value}{mark}")
    return 0
