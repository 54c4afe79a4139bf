"""Train the variants that put the seed's claims to the test, and the shipped model's first-epoch weights.

    python tools/train_variants.py [--only NAME,...] [--seeds 1,2,3] [--no-checkpoints]

Every variant of ``fashion_viz.trials.variants.VARIANTS`` is trained with ``train --schedule fast``'s
schedule (one random-label variant with the full schedule's), once per seed; each run's figures (train, validation and test accuracy, curves, shift tolerance)
go to ``models/variants/results.json`` as soon as it ends, so an interrupted run resumes where it stopped
(runs already recorded are skipped). The first seed's model of each variant is saved with its card in
``models/variants/``; the random-label one also adds the data-randomisation row to the shipped model's
faithfulness report. Then, unless told not to, the shipped model's weights before training and after its
first epoch are written to ``models/fashion_cnn.checkpoints.npz`` for the re-initialisation experiment:
its card's own config, replayed for one epoch (on 2 cores, about 55 minutes for everything).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_viz.architecture import multiply_adds, parameter_count  # noqa: E402
from fashion_viz.data import load_fashion_mnist  # noqa: E402
from fashion_viz.engine import Engine  # noqa: E402
from fashion_viz.storage import SHIPPED_MODEL, load_checked_model, save_checkpoints, save_model  # noqa: E402
from fashion_viz.training import CHECKPOINTS, SilentListener, config_of_card, schedule_config, train  # noqa: E402
from fashion_viz.trials.shifts import shift_tolerance  # noqa: E402
from fashion_viz.trials.variants import VARIANTS, VARIANTS_DIR, Run, model_path, read_runs, write_runs  # noqa: E402


def train_run(data, variant, seed: int) -> tuple[Run, object]:
    config = schedule_config(variant.schedule, architecture=variant.spec, seed=seed, random_labels=variant.random_labels, epochs=variant.epochs, train_limit=variant.train_limit)
    result = train(data, config)
    engine = Engine(result.model)
    run = Run(
        variant=variant.name, seed=seed, spec=variant.spec, parameters=parameter_count(variant.spec), multiply_adds=multiply_adds(variant.spec),
        seconds=round(result.seconds, 1), train_accuracy=result.card.train_accuracy, validation_accuracy=result.validation.accuracy,
        test_accuracy=result.test_accuracy, history=[dataclasses.asdict(r) for r in result.history],
        shifts=shift_tolerance(engine, data.x_test, data.y_test).to_json(),
    )
    return run, result


class StopAfterFirstEpoch(SilentListener):
    def __init__(self):
        self.cancel = threading.Event()

    def on_epoch_end(self, record):
        self.cancel.set()


def shipped_checkpoints(data) -> None:
    """The shipped model's starting weights and its weights after one epoch, from its card's config."""
    loaded = load_checked_model(SHIPPED_MODEL)
    config = config_of_card(loaded.card)
    listener = StopAfterFirstEpoch()
    result = train(data, config, listener, listener.cancel)
    save_checkpoints(SHIPPED_MODEL, loaded.card.model_sha256, {name: result.checkpoints[name] for name in CHECKPOINTS})
    print(f"shipped model's checkpoints written ({result.seconds:.0f} s)", flush=True)


def shipped_data_randomisation(data, name: str, random_labels_model) -> None:
    """The faithfulness table's data-randomisation row for the shipped model, on its report's own pictures."""
    from fashion_viz.explain.faithfulness import add_data_randomisation, load_report

    loaded = load_checked_model(SHIPPED_MODEL)
    report = load_report(SHIPPED_MODEL, loaded.card.model_sha256)
    if report is not None:
        images = data.x_test[report.test_indices]
        add_data_randomisation(SHIPPED_MODEL, loaded.model, loaded.card.model_sha256, model_path(name), random_labels_model, images)
        print("the shipped model's faithfulness report has its data-randomisation row", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated variant names")
    parser.add_argument("--seeds", help="comma-separated seeds (default: each variant's own)")
    parser.add_argument("--no-checkpoints", action="store_true", help="skip the shipped model's first-epoch weights")
    args = parser.parse_args(argv)
    data = load_fashion_mnist()
    if not args.no_checkpoints:
        shipped_checkpoints(data)
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only.split(",")]
    chosen.sort(key=lambda v: multiply_adds(v.spec) * (v.epochs or 20) * (v.train_limit or 60_000))  # the cheapest first: an interrupted run has the most variants
    VARIANTS_DIR.mkdir(parents=True, exist_ok=True)
    runs = read_runs()
    for variant in chosen:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else variant.seeds
        for seed in seeds:
            if any(r.variant == variant.name and r.seed == seed for r in runs):
                continue
            started = time.perf_counter()
            run, result = train_run(data, variant, seed)
            runs.append(run)
            write_runs(runs)
            if seed == variant.seeds[0]:
                card = dataclasses.replace(result.card, name=f"variant {variant.name}", notes=f"Trained by tools/train_variants.py: {variant.changes}.")
                save_model(result.model, model_path(variant.name), card, result.sample_probabilities)
                if variant.random_labels:
                    shipped_data_randomisation(data, variant.name, result.model)
            print(
                f"{variant.name} seed {seed}: train {run.train_accuracy:.4f} val {run.validation_accuracy:.4f} test {run.test_accuracy:.4f} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
