"""``python -m fashion_viz`` (or ``fashion-viz``): train, evaluate, predict, info, calc, explain, faithfulness, precompute, visualize, embed,
layers, calibration, replay, attack.

Errors are one readable sentence and a non-zero exit status; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from pathlib import Path

from fashion_viz import CLASS_NAMES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class TerminalProgress:
    """A training listener: Keras' progress bar on a terminal, one plain line per epoch otherwise
    (a log file or a pipe would get thousands of carriage-return updates from the bar)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.bar = None
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())

    def on_train_begin(self, config, steps_per_epoch):
        self.epochs = config.epochs
        self.steps = steps_per_epoch

    def on_batch_end(self, epoch, step, steps_per_epoch, loss, accuracy):
        if not self.interactive:
            return
        import keras

        if self.bar is None:
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self.stream)
            self.bar = keras.utils.Progbar(steps_per_epoch, stateful_metrics=["loss", "accuracy"])
        self.bar.update(step, values=[("loss", loss), ("accuracy", accuracy)], finalize=False)

    def on_epoch_end(self, record):
        if not self.interactive:
            print(
                f"Epoch {record.epoch}/{self.epochs}: loss {record.loss:.4f}, accuracy {record.accuracy:.4f}, "
                f"val_loss {record.val_loss:.4f}, val_accuracy {record.val_accuracy:.4f} ({record.seconds:.1f} s)",
                file=self.stream,
                flush=True,
            )
            return
        if self.bar is not None:
            self.bar.update(
                self.steps,
                values=[("loss", record.loss), ("accuracy", record.accuracy), ("val_loss", record.val_loss), ("val_accuracy", record.val_accuracy)],
                finalize=True,
            )
        self.bar = None


def cmd_train(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.storage import card_path, release_reservation, reserve_new_model_path, save_model, trained_models_dir
    from fashion_viz.architecture import SpecError, normalised_spec, parameter_count
    from fashion_viz.training import schedule_config, train

    try:
        architecture = normalised_spec(args.architecture)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    config = schedule_config(
        args.schedule,
        architecture=architecture,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        seed=args.seed,
        train_limit=args.train_limit,
    )
    data = load_fashion_mnist()
    print(f"Training {architecture} ({parameter_count(architecture):,} weights) on {data.source}: {config.epochs} epochs, batch {config.batch_size}.", file=sys.stderr)
    result = train(data, config, TerminalProgress())
    out = Path(args.out) if args.out else reserve_new_model_path(trained_models_dir())
    try:
        card = save_model(result.model, out, result.card, result.sample_probabilities, result.checkpoints, result.recording)
    except BaseException:
        release_reservation(out)
        raise
    print(
        f"Test accuracy {result.test_accuracy:.2%} on {card.test_images:,} test images; "
        f"{result.seconds:.0f} s ({card.seconds_per_epoch:.1f} s/epoch). Saved {out} and {card_path(out).name}."
    )
    if not args.no_views:
        from fashion_viz.explain.precompute import prepare_views
        from fashion_viz.trials.prepare import prepare_trials

        print("Preparing the Units, Map and Layers pages' data for it…", file=sys.stderr, flush=True)
        engine = Engine(result.model)
        prepare_views(engine, out, card.model_sha256, data.x_test, data.y_test)
        prepare_trials(engine, out, card, data)
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.engine import Engine
    from fashion_viz.evaluation import evaluate
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model(Path(args.model))
    data = load_fashion_mnist()
    result = evaluate(Engine(loaded.model), data.x_test, data.y_test)
    report = {
        "model": str(loaded.path),
        "test_accuracy": result.accuracy,
        "test_images": int(len(data.y_test)),
        "per_class_accuracy": dict(zip(CLASS_NAMES, result.per_class_accuracy)),
        "card_test_accuracy": loaded.card.test_accuracy,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{loaded.path.name}: test accuracy {result.accuracy:.2%} on {len(data.y_test):,} images")
        for name, accuracy in report["per_class_accuracy"].items():
            print(f"  {name:<12} {accuracy:.2%}")
    return EXIT_OK


def per_image(paths: list[str], as_json: bool, compute, text) -> int:
    """The loop every per-file command shares: each file through the upload pipeline, then ``compute(path,
    prepared)`` -> result dict; one JSON line (``--json``) or ``text(result)`` per file; a file that fails
    gives ``path`` and ``error`` and the exit code 1, the others still run."""
    failed = False
    for path in paths:
        prepared, error = read_prepared(path)
        result = {"path": path, "error": error} if prepared is None else compute(path, prepared)
        failed |= "error" in result
        if as_json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{path}: error: {result['error']}", flush=True)
        else:
            print(f"{path}: {text(result)}", flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_predict(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.storage import load_checked_model

    engine = Engine(load_checked_model(Path(args.model)).model)

    def classify(path, prepared) -> dict:
        probabilities = engine.probabilities(prepared.image[None])[0]
        index = int(probabilities.argmax())
        result = {
            "path": path,
            "label": CLASS_NAMES[index],
            "index": index,
            "probabilities": {name: float(p) for name, p in zip(CLASS_NAMES, probabilities)},
        }
        if prepared.warnings:
            result["warnings"] = prepared.warnings
        return result

    return per_image(args.images, args.json, classify, lambda r: f"{r['label']} ({r['probabilities'][r['label']]:.1%})")


def cmd_attack(args) -> int:
    """Adversarial pictures: each file's picture changed by at most ε grey levels to make the model say something else."""
    from fashion_viz.engine import Engine
    from fashion_viz.explain.adversarial import MAX_EPS, attack, smallest_eps
    from fashion_viz.preprocessing import png_bytes
    from fashion_viz.storage import load_checked_model

    target = None
    if args.target is not None:
        if args.target not in CLASS_NAMES:
            raise UsageError(f"--target must be one of: {', '.join(CLASS_NAMES)}")
        target = CLASS_NAMES.index(args.target)
    if args.eps is None and not args.smallest:
        raise UsageError("give --eps GREY_LEVELS, or --smallest to find the fewest that change the answer")
    if args.eps is not None and not 0 <= args.eps <= 255:
        raise UsageError("--eps is in grey levels, 0-255")
    engine = Engine(load_checked_model(Path(args.model)).model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def attacked(path, prepared) -> dict:
        eps = args.eps
        if args.smallest:
            eps = smallest_eps(engine, prepared.image, args.method, args.steps, target, limit=args.eps or MAX_EPS)
        result = {"path": path, "method": args.method, "eps": eps, "steps": args.steps if args.method == "pgd" else 1,
                  "target": None if target is None else CLASS_NAMES[target]}
        if eps is None:
            before = engine.probabilities(prepared.image)[0]
            top = int(before.argmax())
            return {**result, "original": {"class": CLASS_NAMES[top], "probability": float(before[top])}, "adversarial": None, "linf": None, "png": None,
                    "note": f"no ε up to {args.eps or MAX_EPS} grey levels changes the answer"}
        made = attack(engine, prepared.image, args.method, eps, args.steps, target)
        png = out / f"{Path(path).stem}.{args.method}{eps}.png"
        png.write_bytes(png_bytes(made.adversarial))
        return {
            **result,
            "original": {"class": CLASS_NAMES[made.original_class], "probability": float(made.probabilities_before[made.original_class])},
            "adversarial": {"class": CLASS_NAMES[made.adversarial_class], "probability": float(made.probabilities_after[made.adversarial_class])},
            "succeeded": made.succeeded, "linf": made.linf, "png": str(png),
        }

    def text(r) -> str:
        if r["adversarial"] is None:
            return f"{r['original']['class']}: {r['note']}"
        return (f"{r['original']['class']} ({r['original']['probability']:.1%}) -> {r['adversarial']['class']} ({r['adversarial']['probability']:.1%}) "
                f"with ε {r['eps']} grey levels ({r['method']}); written to {r['png']}")

    return per_image(args.images, args.json, attacked, text)


def cmd_info(args) -> int:
    import keras
    import tensorflow as tf

    from fashion_viz.architecture import SEED_SPEC
    from fashion_viz.data import FILES, DatasetError, candidate_dirs, download_with_keras, find_dataset_dir, load_fashion_mnist
    from fashion_viz.storage import check_model_file, list_model_files

    if args.download and find_dataset_dir() is None:
        download_with_keras()
    info: dict = {"versions": {"tensorflow": tf.__version__, "keras": keras.__version__}}
    info["dataset_search_order"] = [f"{label}: {folder}" for label, folder in candidate_dirs()] + ["Keras download"]
    try:
        data = load_fashion_mnist(allow_download=False)
        info["dataset"] = {"source": data.source, "verified": True, "sha256_decompressed": {s.name: s.sha256 for s in FILES.values()}}
    except DatasetError as exc:
        info["dataset"] = {"verified": False, "error": str(exc)}
    models = []
    for path in list_model_files():
        card, digest, error = check_model_file(path)  # the loader's own decision (it completes interrupted saves too)
        entry = {"path": str(path), "sha256": digest, "matches_card": card is not None}
        if card is not None:
            entry["test_accuracy"] = card.test_accuracy
            entry["architecture"] = card.spec or SEED_SPEC  # cards written before SPECs were all the seed
        else:
            entry["error"] = error
        models.append(entry)
    info["models"] = models
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
        dataset = info["dataset"]
        print(f"Dataset: {dataset['source'] + ' (verified)' if dataset['verified'] else dataset['error']}")
        for entry in models:
            status = "ok" if entry.get("matches_card") else "FAILS its check"
            accuracy = f", test accuracy {entry['test_accuracy']:.2%}" if entry.get("test_accuracy") else ""
            shape = f", {entry['architecture']}" if entry.get("architecture") else ""
            print(f"Model: {entry['path']} sha256 {entry['sha256'][:16]}… {status}{accuracy}{shape}")
    return EXIT_OK


def read_prepared(path: str):
    """An image file through the upload pipeline (as ``predict`` does): (prepared, None) or (None, error sentence)."""
    from fashion_viz.preprocessing import ImageInputError, prepare_upload

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"The file could not be read: {exc.strerror or exc}."
    try:
        return prepare_upload(data), None
    except ImageInputError as exc:
        return None, str(exc)


class UsageError(Exception):
    """Bad arguments: one sentence, exit code 2."""


def parse_position(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--at takes R,C,K for a map layer or UNIT for a vector layer, not {text!r}.") from None


def cmd_calc(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.explain.arithmetic import PositionError, describe, explain_value, masked_dropout
    from fashion_viz.storage import load_checked_model

    at = parse_position(args.at)
    loaded = load_checked_model(Path(args.model))
    names = [layer.name for layer in loaded.model.layers]
    if args.layer not in names:
        raise UsageError(f"There is no layer named {args.layer!r}; the layers are {', '.join(names)}.")
    prepared, error = read_prepared(args.image)
    if prepared is None:
        print(json.dumps({"path": args.image, "error": error}) if args.json else f"{args.image}: error: {error}")
        return EXIT_FAILED
    engine = Engine(loaded.model)
    activations = engine.activations(prepared.image)
    try:
        calc = explain_value(loaded.model, prepared.image, activations, args.layer, at)
    except PositionError as exc:
        raise UsageError(str(exc)) from None
    result = {"path": args.image, **calc.to_json()}
    if args.train_mask is not None:
        if calc.kind != "dropout":
            raise UsageError(f"--train-mask applies to dropout layers; {args.layer} is a {calc.kind} layer.")
        masked = masked_dropout(engine, prepared.image, activations, args.layer, args.train_mask)
        result.update(
            train_mask_seed=args.train_mask,
            rate=masked.rate,
            scale=masked.scale,
            kept=bool(masked.mask[calc.at]),
            output=float(masked.after[calc.at]),
            probabilities_under_mask=masked.probabilities.tolist(),
        )
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.layer}[{', '.join(map(str, calc.at))}] ({calc.kind}) for {args.image}:")
        print(describe(calc).replace("**", ""))
        for note in calc.notes:
            print(note)
        if args.train_mask is not None:
            print(f"Training mask (seed {args.train_mask}): {'kept' if result['kept'] else 'dropped'}, output {result['output']:.4f}.")
    return EXIT_OK


def cmd_explain(args) -> int:
    from fashion_viz.figures.attribution import overlay_png
    from fashion_viz.architecture import model_input
    from fashion_viz.engine import Engine
    from fashion_viz.explain.attribution import attribute, class_index
    from fashion_viz.storage import load_checked_model

    try:
        target = None if args.target is None else class_index(args.target)
        contrast = None if args.contrast is None else class_index(args.contrast)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    loaded = load_checked_model(Path(args.model))
    scorer = Engine(loaded.model)
    png_dir = Path(args.png) if args.png else None
    if png_dir:
        png_dir.mkdir(parents=True, exist_ok=True)

    def explain(path, prepared) -> dict:
        _, probabilities = scorer.predict(model_input(prepared.image))
        predicted = int(probabilities[0].argmax())
        explained = attribute(scorer, prepared.image, args.method, predicted if target is None else target, contrast)
        peak = np.unravel_index(int(np.argmax(np.abs(explained.map))), explained.map.shape)
        result = {
            "path": path,
            "method": args.method,
            "target": explained.target,
            "contrast": explained.contrast,
            "predicted": predicted,
            "signed": explained.signed,
            "peak": [int(peak[0]), int(peak[1])],
            "map": np.round(explained.map, 6).tolist(),
            "probabilities": probabilities[0].tolist(),
        }
        if png_dir:
            out = png_dir / f"{Path(path).stem}-{args.method}.png"
            out.write_bytes(overlay_png(prepared.image, explained))
            result["png"] = str(out)
        return result

    def text(result) -> str:
        what = CLASS_NAMES[result["target"]] + (f" rather than {CLASS_NAMES[result['contrast']]}" if result["contrast"] is not None else "")
        row, col = result["peak"]
        return f"{args.method} map of {what}; strongest at row {row}, column {col}" + (f"; wrote {result['png']}" if png_dir else "")

    return per_image(args.images, args.json, explain, text)


def cmd_faithfulness(args) -> int:
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.explain.faithfulness import fixed_test_set, measure, report_path
    from fashion_viz.storage import load_checked_model

    if args.count < 10:
        raise UsageError("--count must be at least 10 (an equal share of each class).")
    loaded = load_checked_model(Path(args.model))
    data = load_fashion_mnist()
    indices = fixed_test_set(data.y_test, args.count)

    def progress(stage, done, total):
        if stage == "randomisation" or done % 50 == 0 or done == total:
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    report = measure(loaded.model, data.x_test[indices], progress=progress)
    report.test_indices = indices.tolist()
    report.model_sha256 = loaded.card.model_sha256
    path = report_path(loaded.path)
    if not args.no_save:
        path.write_text(report.to_json())
    if args.json:
        print(report.to_json())
    else:
        print(f"{report.images} test pictures, {report.seconds:.0f} s" + ("" if args.no_save else f"; saved {path}"))
        print(f"{'method':<22}{'deletion':>10}{'insertion':>11}   ρ after randomising 1-4 top layers")
        for method in report.randomisation_spearman:
            rho = "  ".join(f"{v:+.2f}" for v in report.randomisation_spearman[method].values())
            print(f"{method:<22}{report.deletion_auc[method]:>10.3f}{report.insertion_auc[method]:>11.3f}   {rho}")
        print(f"{'random order':<22}{report.deletion_auc['random']:>10.3f}{report.insertion_auc['random']:>11.3f}")
        c = report.ig_completeness
        print(f"Integrated Gradients completeness error: median {c['median']:.2%}, worst {c['max']:.2%}, within 5 %: {c['share_within_5pct']:.0%}")
    return EXIT_OK


def stored_or_prepared_trials(model_path: str):
    """(loaded model, engine, its layer trials): stored ones, or measured now (about a minute) and stored."""
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.engine import Engine
    from fashion_viz.storage import load_checked_model
    from fashion_viz.trials.prepare import load_trials, prepare_trials

    loaded = load_checked_model(Path(model_path))
    engine = Engine(loaded.model)
    trials = load_trials(loaded.path, loaded.card.model_sha256)
    if trials is None:
        print("Measuring the layer trials for this model (about a minute)…", file=sys.stderr, flush=True)
        trials = prepare_trials(engine, loaded.path, loaded.card, load_fashion_mnist())
    return loaded, engine, trials


def cmd_layers(args) -> int:
    from fashion_viz.trials.claims import layers_report
    from fashion_viz.trials.variants import variant_results

    loaded, engine, trials = stored_or_prepared_trials(args.model)
    report = {"model": str(loaded.path), **layers_report(engine.infos, trials, variant_results())}
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"{loaded.path.name}: the seed's claims about its layers, tested")
    for claim in report["claims"]:
        print(f"- {claim['layer']}: “{claim['claim']}” — {claim['verdict'].upper()}\n    {claim['finding']}")
    print("Linear probes (test accuracy): " + ", ".join(f"{k} {v:.1%}" for k, v in report["probes"].items()))
    return EXIT_OK


def cmd_calibration(args) -> int:
    loaded, _, trials = stored_or_prepared_trials(args.model)
    cal = trials["calibration"]
    report = {"model": str(loaded.path), **{k: cal[k] for k in ("ece", "bins", "temperature", "ece_after", "validation_images", "test_nll", "test_nll_after")}}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{loaded.path.name}: ECE {cal['ece']:.4f} on the test set (15 bins); temperature {cal['temperature']:.3f} fitted on "
              f"{cal['validation_images']:,} validation pictures; ECE after it {cal['ece_after']:.4f}")
    return EXIT_OK


def stored_or_prepared_views(loaded, data, need_map: bool = True):
    """The model's stored Units/Map data; computed and stored first when missing (says so on stderr)."""
    from fashion_viz.engine import Engine
    from fashion_viz.explain.precompute import prepare_views, stored_views

    views = stored_views(loaded.path, loaded.card.model_sha256)
    if views.atlas is None or (need_map and views.embedding is None):
        print(f"Preparing the unit pictures and the map for {loaded.path.name} (once per model, about a minute)…", file=sys.stderr, flush=True)
        views = prepare_views(Engine(loaded.model), loaded.path, loaded.card.model_sha256, data.x_test, data.y_test)
    return views


def cmd_precompute(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.explain.embedding import embedding_path
    from fashion_viz.explain.precompute import prepare_views
    from fashion_viz.explain.units import unit_atlas_path
    from fashion_viz.storage import load_checked_model
    from fashion_viz.replay.store import replay_path
    from fashion_viz.replay.views import prepare_replay
    from fashion_viz.trials.prepare import prepare_trials, trials_path

    loaded = load_checked_model(Path(args.model))
    data = load_fashion_mnist()
    last = {}

    def progress(stage, share):
        if last.get(stage) is None or share - last[stage] >= 0.25 or share >= 1.0:
            last[stage] = share
            print(f"{stage}: {share:.0%}", file=sys.stderr, flush=True)

    replay_engine = Engine(loaded.model)  # its own: the replay moves its weights through the snapshots
    replayed = prepare_replay(replay_engine, loaded.path, loaded.card, data, progress=lambda share: progress("replay", share), force=args.force)
    replay_engine.close()
    engine = Engine(loaded.model)
    views = prepare_views(engine, loaded.path, loaded.card.model_sha256, data.x_test, data.y_test, method=args.method, force=args.force, progress=progress)
    trials = prepare_trials(engine, loaded.path, loaded.card, data, progress=lambda share: progress("trials", share), force=args.force)
    report = {
        "model": str(loaded.path),
        "units": str(unit_atlas_path(loaded.path)),
        "units_seconds": round(views.atlas.seconds, 2),
        "map": str(embedding_path(loaded.path)),
        "map_method": views.embedding.method,
        "map_seconds": round(views.embedding.seconds, 2),
        "trials": str(trials_path(loaded.path)),
        "trials_seconds": round(sum(trials["seconds"].values()), 2),
        "replay": str(replay_path(loaded.path)) if replayed is not None else None,
    }
    print(json.dumps(report) if args.json else f"Wrote {report['units']} ({report['units_seconds']} s), {report['map']} ({report['map_method']}, {report['map_seconds']} s) and {report['trials']} ({report['trials_seconds']} s).")
    return EXIT_OK


def cmd_replay(args) -> int:
    """The model's recorded training: its snapshots, one of them as a model file, or a GIF of one view."""
    from fashion_viz.architecture import build_model
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.engine import Engine
    from fashion_viz.figures.replay import filter_pictures, gif_frames, map_pictures, save_gif, scatter_pictures
    from fashion_viz.replay.store import replay_path
    from fashion_viz.replay.views import layer_weights, prepare_replay, probe_layer_outputs, require_replay
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model(Path(args.model))
    replay = require_replay(loaded.path, loaded.card)
    if args.snapshot is not None:
        if not -len(replay) <= args.snapshot < len(replay):
            raise UsageError(f"--snapshot must be between 0 and {len(replay) - 1} (or negative, from the end)")
        k = args.snapshot % len(replay)
        if not args.out:
            raise UsageError("--snapshot needs --out F.keras")
        model = build_model(loaded.card.spec)
        model.set_weights(replay.weights[k])
        model.save(args.out)
        report = {"snapshot": k, "step": int(replay.steps[k]), "epoch": float(replay.epochs[k]), "out": str(args.out)}
        print(json.dumps(report) if args.json else f"Wrote snapshot {k} (epoch {replay.epochs[k]:.3g}, step {replay.steps[k]:,}) to {args.out}.")
        return EXIT_OK
    engine = Engine(loaded.model)
    if not replay.views:
        print(f"Preparing the replay's views for {loaded.path.name} (once per model, about half a minute)…", file=sys.stderr, flush=True)
        replay = prepare_replay(engine, loaded.path, loaded.card, load_fashion_mnist())
    views = replay.views
    if args.gif:
        first = engine.conv_names[0]
        if args.view == "filters":
            pictures = filter_pictures(layer_weights(engine, replay, first)[:, :, :, 0, :])
        elif args.view == "maps":
            image = load_fashion_mnist().x_test[int(views["probe_indices"][CLASS_NAMES.index(args.probe)])]
            pictures = map_pictures(probe_layer_outputs(engine, replay, image, first))
        else:
            pictures = scatter_pictures(views["map"], views["map_labels"])
        pictures = gif_frames(pictures, replay.epochs, views["val_accuracy"])
        save_gif(pictures, args.gif)
        report = {"gif": str(args.gif), "view": args.view, "frames": len(pictures)}
        print(json.dumps(report) if args.json else f"Wrote {args.gif}: {len(pictures)} frames of the {args.view} view.")
        return EXIT_OK
    snapshots = [
        {"step": int(step), "epoch": round(float(epoch), 4), "train_accuracy": float(views["train_accuracy"][k]), "val_accuracy": float(views["val_accuracy"][k]),
         "loss": float(views["train_loss"][k]), "val_loss": float(views["val_loss"][k])}
        for k, (step, epoch) in enumerate(zip(replay.steps, replay.epochs))
    ]
    report = {
        "model": str(loaded.path), "file": str(replay_path(loaded.path)), "bytes": replay_path(loaded.path).stat().st_size,
        "snapshots": snapshots, "probe_indices": views["probe_indices"].tolist(), "map_indices": views["map_indices"].tolist(),
    }
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"{loaded.path.name}: {len(snapshots)} snapshots ({report['bytes'] / 1e6:.1f} MB, {report['file']})")
    for k, snap in enumerate(snapshots):
        print(f"{k:>3}  epoch {snap['epoch']:>8.3f}  step {snap['step']:>7,}  training {snap['train_accuracy']:.1%}  validation {snap['val_accuracy']:.1%}  loss {snap['loss']:.3f}")
    return EXIT_OK


def cmd_visualize(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.explain.units import UnitError, unit_row, unit_sizes
    from fashion_viz.storage import load_checked_model
    from fashion_viz.preprocessing import png_bytes

    loaded = load_checked_model(Path(args.model))
    try:
        row = unit_row(unit_sizes(Engine(loaded.model)), args.layer, args.unit)
    except UnitError as exc:
        raise UsageError(str(exc)) from None
    atlas = stored_or_prepared_views(loaded, load_fashion_mnist(), need_map=False).atlas
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png_bytes(atlas.act_max[row]))
    result = {
        "layer": args.layer,
        "unit": args.unit,
        "activation": float(atlas.act_max_reached[row]),
        "test_p99": float(atlas.score_p99[row]),
        "exemplars": atlas.top[row].tolist(),
        "png": str(out),
    }
    print(json.dumps(result) if args.json else f"Wrote {out}: {args.layer} unit {args.unit} reaches {result['activation']:.2f} (test-set 99th percentile {result['test_p99']:.2f}).")
    return EXIT_OK


def cmd_embed(args) -> int:
    from fashion_viz.engine import Engine
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.explain.embedding import NeighbourIndex, map_features, map_layer, place
    from fashion_viz.storage import load_checked_model

    loaded = load_checked_model(Path(args.model))
    data = load_fashion_mnist()
    emap = stored_or_prepared_views(loaded, data).embedding
    engine = Engine(loaded.model)
    index = NeighbourIndex(map_features(engine, data.x_test))

    def embed(path, prepared) -> dict:
        placed = place(index, emap.xy, engine.activations(prepared.image).layer(map_layer(engine)).values)[0]
        return {
            "path": path,
            "xy": [round(float(v), 4) for v in placed.xy],
            "neighbours": placed.neighbours.tolist(),
            "neighbour_labels": [CLASS_NAMES[int(data.y_test[i])] for i in placed.neighbours],
        }

    def text(result) -> str:
        labels = result["neighbour_labels"]
        common = max(set(labels), key=labels.count)
        return f"at ({result['xy'][0]:.1f}, {result['xy'][1]:.1f}); {labels.count(common)} of its 10 nearest test images are {common}"

    return per_image(args.images, args.json, embed, text)


def build_parser() -> argparse.ArgumentParser:
    from fashion_viz.architecture import SEED_SPEC, SPEC_HELP
    from fashion_viz.storage import SHIPPED_MODEL
    from fashion_viz.training import TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="fashion-viz", description="Train, evaluate and query the fashion-viz CNN (also: python -m fashion_viz).")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model of the family (the seed by default) on Fashion-MNIST and save it with its model card")
    train.add_argument("--architecture", default=SEED_SPEC, metavar="SPEC", help=f"the layers: {SPEC_HELP} (default: the seed, {SEED_SPEC})")
    train.add_argument(
        "--schedule",
        choices=("full", "fast"),
        default="full",
        help="full: the shipped model's (about 16 min here); fast: 20 epochs with ramped dropout and weight decay, about 2 min here "
        "(README: its time and test accuracy)",
    )
    train.add_argument("--epochs", type=int, default=None, help="overrides the schedule's")
    train.add_argument("--batch-size", type=int, default=None, help="overrides the schedule's")
    train.add_argument("--learning-rate", type=float, default=None, help="overrides the schedule's peak")
    train.add_argument("--weight-decay", type=float, default=None, help="overrides the schedule's AdamW weight decay (0: plain Adam)")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    train.add_argument("--out", help="model path (default: a new timestamped file in models/)")
    train.add_argument("--no-views", action="store_true", help="skip preparing the Units and Map pages' data (about a minute)")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="test accuracy and per-class accuracy of a model")
    evaluate.add_argument("--model", default=str(SHIPPED_MODEL))
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="classify image files (PNG, JPEG, WebP, GIF, BMP)")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--model", default=str(SHIPPED_MODEL))
    predict.add_argument("--json", action="store_true", help="one JSON object per line per file")
    predict.set_defaults(func=cmd_predict)

    attack_cmd = sub.add_parser("attack", help="adversarial pictures: change each pixel by at most ε grey levels to make the model say something else")
    attack_cmd.add_argument("images", nargs="+")
    attack_cmd.add_argument("--model", default=str(SHIPPED_MODEL))
    attack_cmd.add_argument("--method", choices=("fgsm", "pgd"), default="fgsm")
    attack_cmd.add_argument("--eps", type=int, help="the largest change of a pixel, in grey levels (with --smallest: the search's limit, 32 by default)")
    attack_cmd.add_argument("--steps", type=int, default=20, help="PGD's steps")
    attack_cmd.add_argument("--target", help="push towards this class (by name) instead of away from the answer")
    attack_cmd.add_argument("--smallest", action="store_true", help="find the fewest grey levels that change the answer (or reach --target)")
    attack_cmd.add_argument("--out", required=True, help="folder for the adversarial pictures (28x28 8-bit PNG)")
    attack_cmd.add_argument("--json", action="store_true", help="one JSON object per line per file")
    attack_cmd.set_defaults(func=cmd_attack)

    info = sub.add_parser("info", help="where the data and models were found, checksums, versions")
    info.add_argument("--json", action="store_true")
    info.add_argument("--download", action="store_true", help="fill Keras' cache with Keras' own download if no files are found")
    info.set_defaults(func=cmd_info)

    calc = sub.add_parser("calc", help="how one value of one layer was computed for a picture: inputs, weights, sum, activation")
    calc.add_argument("image", help="a picture file (it goes through the same pipeline as predict)")
    calc.add_argument("--layer", required=True, help="conv1, pool1, dropout1, conv2, pool2, dropout2, flatten, dense1, dropout3 or predictions")
    calc.add_argument("--at", required=True, help="R,C,K (row, column, channel) for map layers; UNIT for vector layers")
    calc.add_argument("--model", default=str(SHIPPED_MODEL))
    calc.add_argument("--train-mask", type=int, metavar="SEED", help="dropout layers: apply a seeded training-mode mask")
    calc.add_argument("--json", action="store_true", help="one JSON object")
    calc.set_defaults(func=cmd_calc)

    from fashion_viz.explain.attribution import METHODS

    explain = sub.add_parser("explain", help="attribution maps: which pixels drove a class score")
    explain.add_argument("images", nargs="+")
    explain.add_argument("--method", required=True, choices=METHODS)
    explain.add_argument("--target", help="class index 0-9 or name (default: the predicted class)")
    explain.add_argument("--contrast", help="explain target rather than this class (logit difference)")
    explain.add_argument("--model", default=str(SHIPPED_MODEL))
    explain.add_argument("--png", metavar="DIR", help="also write each overlay as DIR/<name>-<method>.png")
    explain.add_argument("--json", action="store_true", help="one JSON object per line per file")
    explain.set_defaults(func=cmd_explain)

    faith = sub.add_parser("faithfulness", help="deletion, insertion, randomisation and completeness checks of every attribution method")
    faith.add_argument("--model", default=str(SHIPPED_MODEL))
    faith.add_argument("--count", type=int, default=500, help="test pictures (an equal share per class; default 500)")
    faith.add_argument("--no-save", action="store_true", help="do not store the report beside the model")
    faith.add_argument("--json", action="store_true")
    faith.set_defaults(func=cmd_faithfulness)

    units = sub.add_parser("precompute", help="compute and store the Units page's pictures and statistics, the Map page's projection and the layer trials")
    units.add_argument("--model", default=str(SHIPPED_MODEL))
    units.add_argument("--method", choices=("tsne", "pca"), default="tsne", help="the map's projection (default: openTSNE)")
    units.add_argument("--force", action="store_true", help="recompute even when stored files are up to date")
    units.add_argument("--json", action="store_true")
    units.set_defaults(func=cmd_precompute)

    visualize = sub.add_parser("visualize", help="the picture that excites one unit most (activation maximisation) as a 28x28 PNG")
    visualize.add_argument("--layer", required=True, help="conv1, conv2, dense1 or predictions")
    visualize.add_argument("--unit", required=True, type=int, help="channel, unit or class number")
    visualize.add_argument("--model", default=str(SHIPPED_MODEL))
    visualize.add_argument("--out", required=True, help="the PNG to write (8-bit grayscale, 0 = background)")
    visualize.add_argument("--json", action="store_true")
    visualize.set_defaults(func=cmd_visualize)

    embed = sub.add_parser("embed", help="place pictures on the model's map of the test set, with their 10 nearest test images")
    embed.add_argument("images", nargs="+")
    embed.add_argument("--model", default=str(SHIPPED_MODEL))
    embed.add_argument("--json", action="store_true", help="one JSON object per line per file")
    embed.set_defaults(func=cmd_embed)

    layers = sub.add_parser("layers", help="the seed's claims about each layer tested on a model: probes, variants, re-initialisation, verdicts")
    layers.add_argument("--model", default=str(SHIPPED_MODEL))
    layers.add_argument("--json", action="store_true")
    layers.set_defaults(func=cmd_layers)

    calibration = sub.add_parser("calibration", help="reliability of the probabilities: ECE, bins, a temperature fitted on validation, ECE after it")
    calibration.add_argument("--model", default=str(SHIPPED_MODEL))
    calibration.add_argument("--json", action="store_true")
    calibration.set_defaults(func=cmd_calibration)

    replay = sub.add_parser("replay", help="the model's recorded training: its snapshots, one of them as a .keras file, or a GIF for slides")
    replay.add_argument("--model", default=str(SHIPPED_MODEL))
    replay.add_argument("--snapshot", type=int, help="write this snapshot (0 = the untrained start; -1 = the last) as a model file to --out")
    replay.add_argument("--out", help="the .keras file for --snapshot")
    replay.add_argument("--gif", help="write an animated GIF of one view over the snapshots")
    replay.add_argument("--view", choices=("filters", "maps", "map"), default="filters",
                        help="for --gif: the first conv layer's filters, a probe picture's feature maps there, or the map of 1,000 test pictures")
    replay.add_argument("--probe", choices=CLASS_NAMES, default=CLASS_NAMES[0], help="for --gif --view maps: the probe picture's class")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(func=cmd_replay)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for value in (getattr(args, "epochs", 1), getattr(args, "batch_size", 1)):
            if value is not None and value < 1:
                parser.error("--epochs and --batch-size must be at least 1")
        return args.func(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - one sentence for the user, traceback only with --debug
        if args.debug:
            raise
        from fashion_viz.data import DatasetError
        from fashion_viz.storage import ModelError

        if isinstance(exc, (DatasetError, ModelError, ValueError)):
            print(f"error: {exc}", file=sys.stderr)
        else:
            print(f"error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILED
