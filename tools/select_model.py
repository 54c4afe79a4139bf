"""Choose the shipped model's training schedule on the validation split, then measure the test set once.

    python tools/select_model.py [--out models/fashion_cnn.keras] [--candidates NAME,...]

Every candidate is trained with ``evaluate_on_test=False``: the choice sees only
the 2,000 held-out training images. The winner (highest validation accuracy,
fewer epochs on a tie) is then scored on the 10,000 test images, once, and saved
with a card whose ``selection`` records the protocol and every candidate's
validation figures. The candidate list is fixed here, before any run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_viz.training import TrainConfig  # noqa: E402

CANDIDATES: dict[str, TrainConfig] = {
    "adam-b64-lr1e-3-80ep": TrainConfig(epochs=80, batch_size=64, learning_rate=1e-3),
    "adam-b128-lr2e-3-40ep": TrainConfig(epochs=40, batch_size=128, learning_rate=2e-3),
    "adam-b64-lr1e-3-40ep": TrainConfig(epochs=40, batch_size=64, learning_rate=1e-3),
    # Round 2 (added after round 1's choice scored below the 92.5 % bar on the test set; see ROUNDS).
    "adam-b64-lr1e-3-120ep": TrainConfig(epochs=120, batch_size=64, learning_rate=1e-3),
}
# Each round chooses among all candidates trained so far, by validation only, with the same rule.
ROUNDS = [
    {
        "round": 1,
        "candidates": ["adam-b64-lr1e-3-80ep", "adam-b128-lr2e-3-40ep", "adam-b64-lr1e-3-40ep"],
        "chosen": "adam-b128-lr2e-3-40ep",
        "validation_accuracy": 0.9335,
        "test_accuracy": 0.9197,
        "outcome": "All three tied at 93.35 % on validation; the rule (fewer epochs on a tie) chose the 40-epoch batch-128 "
        "schedule, which scored 91.97 % on the test set, below the project's 92.5 % bar. That test figure is the one "
        "look the round took; it was not used to choose in round 2 beyond the decision to train a longer schedule.",
    },
    {"round": 2, "candidates": ["adam-b64-lr1e-3-120ep"], "reason": "a longer schedule, since validation could not tell the round-1 schedules apart"},
]
PROTOCOL = (
    "Candidates fixed in tools/select_model.py before training; each trained on the same 58,000 training images "
    "(seed 42 split) and scored on the 2,000 held-out validation images only; the one with the highest validation "
    "accuracy (fewer epochs on a tie) was evaluated once on the 10,000 test images. Round 1's choice scored below "
    "the project's 92.5 % bar, so, as the issue asked, round 2 added a longer schedule and chose again among all "
    "candidates by the same validation-only rule (see rounds). The test set played no part in choosing the schedule "
    "or the number of epochs."
)


class EpochLog:
    """One line per epoch to stdout (for a log file)."""

    def __init__(self, name: str):
        self.name = name

    def on_train_begin(self, config, steps_per_epoch):
        print(f"[{self.name}] {config.epochs} epochs of {steps_per_epoch} steps", flush=True)

    def on_batch_end(self, *args):
        pass

    def on_epoch_end(self, record):
        print(
            f"[{self.name}] epoch {record.epoch}: loss {record.loss:.4f} val_loss {record.val_loss:.4f} "
            f"val_accuracy {record.val_accuracy:.4f} ({record.seconds:.1f} s)",
            flush=True,
        )


def main() -> int:
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.evaluation import evaluate, sample_record
    from fashion_viz.storage import SHIPPED_MODEL, save_model
    from fashion_viz.training import record_test_scores, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED_MODEL))
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="all rounds' candidates; finished ones are read back, not retrained")
    parser.add_argument("--work", default="/tmp/fashion-viz-selection", help="where every candidate's weights and figures are kept")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_fashion_mnist()
    results = {}
    for name in args.candidates.split(","):
        config = CANDIDATES[name]
        done = work / f"{name}.json"
        if done.is_file():  # resumable: a finished candidate is not trained again
            results[name] = json.loads(done.read_text())
            continue
        result = train(data, config, EpochLog(name), evaluate_on_test=False)
        result.model.save_weights(work / f"{name}.weights.h5")
        record = {
            "name": name,
            "config": dataclasses.asdict(config),
            "validation_accuracy": result.validation.accuracy,
            "final_val_loss": result.history[-1].val_loss,
            "training_seconds": round(result.seconds, 1),
            "card": result.card.to_dict(),
        }
        done.write_text(json.dumps(record))
        results[name] = record
        print(f"[{name}] validation accuracy {result.validation.accuracy:.4f} in {result.seconds:.0f} s", flush=True)
    ranked = sorted(results.values(), key=lambda r: (-r["validation_accuracy"], r["config"]["epochs"]))
    chosen = ranked[0]
    print(f"chosen on validation: {chosen['name']} ({chosen['validation_accuracy']:.4f})", flush=True)

    from fashion_viz.architecture import build_model
    from fashion_viz.card import ModelCard
    from fashion_viz.engine import Engine

    model = build_model()
    model.load_weights(work / f"{chosen['name']}.weights.h5")
    engine = Engine(model)
    evaluation = evaluate(engine, data.x_test, data.y_test)  # the one look at the test set
    card = ModelCard.from_dict(chosen["card"])
    record_test_scores(card, evaluation)
    card.selection = {
        "protocol": PROTOCOL,
        "rounds": ROUNDS,
        "chosen": chosen["name"],
        "candidates": [
            {k: r[k] for k in ("name", "validation_accuracy", "final_val_loss", "training_seconds")} | {"config": r["config"]}
            for r in ranked
        ],
        "selected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    card.test_protocol = protocol_sentence(card)
    card.notes = "Trained by tools/select_model.py on the 2-core CPU machine while other work shared the cores, so training_seconds overstates a quiet run."
    save_model(model, Path(args.out), card, sample_record(engine))
    print(f"test accuracy {evaluation.accuracy:.4f}; saved {args.out}", flush=True)
    return 0


def protocol_sentence(card) -> str:
    """The shipped card's ``test_protocol``: how its schedule was chosen, and what the test set did."""
    n = len(card.selection.get("candidates", []))
    rounds = card.selection.get("rounds") or []
    scored = [r for r in rounds if r.get("test_accuracy") is not None]
    if len(rounds) > 1 and scored:
        first = scored[0]
        return (
            f"Measured on the {card.test_images:,} Fashion-MNIST test images. The training schedule was chosen among "
            f"{n} candidates by their accuracy on {card.validation_images:,} held-out training images, in "
            f"{len(rounds)} rounds: round {first['round']}'s choice scored {first['test_accuracy']:.2%} on the test set, "
            "below the 92.5 % bar, so a longer schedule was added and the choice made again by validation alone. "
            "The test set only scored each round's choice."
        )
    return (
        f"Measured once on the {card.test_images:,} Fashion-MNIST test images, after the training schedule was "
        f"chosen among {n} candidates by their accuracy on {card.validation_images:,} held-out training images "
        "(the test set played no part in the choice)."
    )


if __name__ == "__main__":
    raise SystemExit(main())
