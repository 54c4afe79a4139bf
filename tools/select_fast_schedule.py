"""How the fast schedule was chosen: short runs scored on 10,000 held-out training images, never the test set.

    python tools/select_fast_schedule.py [--candidates NAME,...] [--seed S] [--json]

The fast schedule has to reach a good model in about two minutes here, so the
candidates are runs of 17-22 epochs. The usual 2,000-image validation split is too
small to tell them apart (one image is 0.05 points), so this selection holds out
10,000 training images instead (same seeded rule, ``split_train_validation``) and
trains on the other 50,000. ``CANDIDATES`` keeps the figures of the selection runs
(2026-11-27, this 2-core machine; one per seed tried) next to the candidates; rerunning
a candidate trains it again with ``fashion_viz.training.train(..., evaluate_on_test=False)``.
The winner became ``SCHEDULES["fast"]``, which trains with the usual 2,000-image
split; ``python -m tools bench-training`` measures its one test score.
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

from fashion_viz.training import TrainConfig, schedule_config  # noqa: E402

VALIDATION_SIZE = 10_000
_OLD_FAST = dict(batch_size=256, learning_rate=6e-3, validation_size=VALIDATION_SIZE)
_NEW = dict(dropout_ramp=True, initializer="he_uniform", adam_beta_2=0.99, validation_size=VALIDATION_SIZE)


@dataclasses.dataclass(frozen=True)
class Candidate:
    config: TrainConfig  # with the default seed; ``recorded`` may hold runs with other seeds too
    recorded: dict[int, float]  # seed -> validation accuracy on the 10,000 held-out images in the selection runs

    def mean(self) -> float:
        """Mean recorded validation accuracy over the recorded seeds."""
        return sum(self.recorded.values()) / len(self.recorded)


# Round 1 (one seed, 42). Its ramp gave epoch e (0-based) the share e / epochs (0.95 in the last of 20); the
# product's ramp reaches 1.0 in the last epoch. Also tried and dropped: the ramp over the first half only
# (91.89 %), an exponential ramp (92.01 %), inputs standardised for training and folded into conv1 afterwards
# (92.27 % against 92.66 % without). After that choice, on the chosen 20-epoch schedule with seeds 42 and 7
# (mean 92.57 %): label smoothing 0.1 (92.51 and 92.46 %) and random 1-pixel shifts of each picture (92.58 and
# 92.34 %) did not help either.
# Round 2 (2026-11-27, the product's ramp, paired seeds 42, 7 and 3): decoupled weight decay (AdamW). Also
# tried and dropped, seed 42: an exponential moving average of the weights (Keras' ``use_ema``), momentum 0.999
# 92.22 % and 0.995 92.54 %, against 92.53 % without (the cosine decay to zero already averages the last steps).
# With weight decay 0.05 (92.78 / 92.61 % on seeds 42 / 7), also dropped: linear decay to zero instead of cosine
# (92.61 / 92.45 %), peak lr 8e-3 (92.45 % on seed 42), no warm-up (91.87 / 91.62 %), two warm-up epochs (92.53 / 92.55 %),
# batch 128 with lr 4e-3 for 17 epochs, about the same time (92.58 / 92.46 / 92.23 % on seeds 42 / 7 / 3, mean 92.42 %).
_FAST_20 = dict(epochs=20, batch_size=256, learning_rate=6e-3, **_NEW)
CANDIDATES: dict[str, Candidate] = {
    "previous fast (b256, lr 6e-3), 18 ep": Candidate(TrainConfig(epochs=18, **_OLD_FAST), {42: 0.9172}),
    "+ dropout ramp over the run": Candidate(TrainConfig(epochs=18, dropout_ramp=True, **_OLD_FAST), {42: 0.9217}),
    "+ ramp, He init": Candidate(TrainConfig(epochs=18, dropout_ramp=True, initializer="he_uniform", **_OLD_FAST), {42: 0.9234}),
    "+ ramp, Adam beta_2 0.99": Candidate(TrainConfig(epochs=18, dropout_ramp=True, adam_beta_2=0.99, **_OLD_FAST), {42: 0.9255}),
    "+ ramp, batch 128 / lr 4e-3": Candidate(
        TrainConfig(epochs=18, batch_size=128, learning_rate=4e-3, dropout_ramp=True, validation_size=VALIDATION_SIZE), {42: 0.9240}
    ),
    "ramp + He + beta_2 0.99, b256 / 6e-3, 18 ep": Candidate(TrainConfig(epochs=18, batch_size=256, learning_rate=6e-3, **_NEW), {42: 0.9253}),
    "ramp + He + beta_2 0.99, b128 / 4e-3, 18 ep": Candidate(TrainConfig(epochs=18, batch_size=128, learning_rate=4e-3, **_NEW), {42: 0.9266}),
    "ramp + He + beta_2 0.99, b256 / 6e-3, 22 ep": Candidate(TrainConfig(epochs=22, batch_size=256, learning_rate=6e-3, **_NEW), {42: 0.9262}),
    # Round 1's choice (92.63 % with its ramp), run again with the product's ramp on three seeds:
    "ramp + He + beta_2 0.99, b256 / 6e-3, 20 ep": Candidate(TrainConfig(**_FAST_20), {42: 0.9253, 7: 0.9230, 3: 0.9200}),
    "+ weight decay 0.02": Candidate(TrainConfig(**_FAST_20, weight_decay=0.02), {42: 0.9249}),
    "+ weight decay 0.05": Candidate(TrainConfig(**_FAST_20, weight_decay=0.05), {42: 0.9278, 7: 0.9261, 3: 0.9224}),
    "+ weight decay 0.1": Candidate(TrainConfig(**_FAST_20, weight_decay=0.1), {42: 0.9250, 7: 0.9254}),
}
CHOSEN = "+ weight decay 0.05"
WITHOUT_WEIGHT_DECAY = "ramp + He + beta_2 0.99, b256 / 6e-3, 20 ep"
RULE = (
    "Round 1 (one seed): the highest validation accuracy among the runs that fit the time budget (batch 128 costs "
    "about 1.2x the time of batch 256 per epoch here, so its 18 epochs cost about as much as 22 at batch 256; within "
    "0.05 points the cheaper run wins): 20 epochs at batch 256. Round 2: weight decay 0.05 beat the same schedule "
    "without it on each of three seeds (+0.25, +0.31, +0.24 points); on seeds 42 and 7, 0.05 averaged 92.70 %, 0.1 "
    "92.52 % and none 92.42 %; 0.02 did not help on seed 42."
)


def run_candidates(names: list[str], train_limit: int | None = None, seed: int | None = None) -> list[dict]:
    """Train each named candidate (validation only; with ``seed`` instead of its own) and return its figures."""
    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.training import train

    data = load_fashion_mnist()
    rows = []
    for name in names:
        config = dataclasses.replace(CANDIDATES[name].config, train_limit=train_limit, seed=CANDIDATES[name].config.seed if seed is None else seed)
        start = time.perf_counter()
        result = train(data, config, evaluate_on_test=False)
        rows.append({
            "candidate": name,
            "seed": config.seed,
            "validation_accuracy": result.validation.accuracy,
            "validation_images": int(result.validation.confusion.sum()),
            "seconds": round(time.perf_counter() - start, 1),
            "recorded": CANDIDATES[name].recorded.get(config.seed),
        })
        assert result.evaluation is None, "the selection never looks at the test set"
    return rows


def recorded_text(candidate: Candidate) -> str:
    runs = ", ".join(f"seed {seed} {accuracy:.2%}" for seed, accuracy in candidate.recorded.items())
    return runs if len(candidate.recorded) == 1 else f"{runs} (mean {candidate.mean():.2%})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default=None, help="comma-separated names (default: print the recorded table only)")
    parser.add_argument("--seed", type=int, default=None, help="train with this seed instead of the candidate's own (42)")
    parser.add_argument("--train-limit", type=int, default=None, help="quick check on the first N training images")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.candidates:
        rows = run_candidates([n.strip() for n in args.candidates.split(",")], args.train_limit, args.seed)
    else:
        rows = [{"candidate": name, "recorded": candidate.recorded, "recorded_mean": candidate.mean()} for name, candidate in CANDIDATES.items()]
    if args.json:
        print(json.dumps({"rows": rows, "chosen": CHOSEN, "rule": RULE, "fast": schedule_config("fast").__dict__}))
        return 0
    for row in rows:
        mark = "  <- chosen" if row["candidate"] == CHOSEN else ""
        if "validation_accuracy" in row:
            was = "not recorded" if row["recorded"] is None else f"{row['recorded']:.2%}"
            print(f"{row['candidate']:<46} seed {row['seed']}: {row['validation_accuracy']:.2%} now ({row['seconds']:.0f} s), recorded {was}{mark}")
        else:
            print(f"{row['candidate']:<46} {recorded_text(CANDIDATES[row['candidate']])}{mark}")
    print(RULE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
