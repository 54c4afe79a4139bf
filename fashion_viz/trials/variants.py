"""The variants that test the seed's claims about pooling and dropout, and their stored results.

Each variant changes one thing of the seed, chosen and written down before any was trained (see
``docs/2026-12-01-layers-on-trial.md``). All are trained by ``python tools/train_variants.py`` with the
project's fast schedule on the same data, each seed of a variant paired with the same seed of the baseline
(the seed's own SPEC under the fast schedule), so a difference can be set against the spread over seeds.
The first seed's model of each variant is shipped in ``models/variants/`` with its card; every run's
figures are in ``models/variants/results.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_viz.architecture import SEED_SPEC
from fashion_viz.storage import VARIANTS_DIR
RESULTS_FILE = VARIANTS_DIR / "results.json"
SEEDS = (1, 2, 3)
SCHEDULE = "fast"


@dataclass(frozen=True)
class Variant:
    """One model trained to test a claim: ``changes`` says what differs from the seed."""

    name: str  # file stem in models/variants/
    spec: str
    changes: str
    claim: str  # the key of the claim it tests (see fashion_viz.trials.claims)
    random_labels: bool = False
    seeds: tuple[int, ...] = SEEDS
    schedule: str = SCHEDULE
    epochs: int | None = None  # None: the schedule's own
    train_limit: int | None = None  # only the first N training pictures (None: all 60,000)


BASELINE = "seed"
VARIANTS = (
    Variant(BASELINE, SEED_SPEC, "nothing: the seed's architecture under the fast schedule (the baseline)", "baseline"),
    Variant("no-pooling", "conv32,drop0.3,conv64,drop0.3,flatten,dense128,drop0.5", "both max-pooling layers removed", "pooling"),
    Variant("stride-2", "conv32s2,drop0.3,conv64s2,drop0.3,flatten,dense128,drop0.5", "pooling replaced by convolutions that move 2 pixels at a time", "pooling"),
    Variant("no-dropout1-2", "conv32,pool,conv64,pool,flatten,dense128,drop0.5", "dropout1 and dropout2 removed", "dropout12"),
    Variant("no-dropout3", "conv32,pool,drop0.3,conv64,pool,drop0.3,flatten,dense128", "dropout3 removed", "dropout3"),
    Variant("dropout3-0.3", "conv32,pool,drop0.3,conv64,pool,drop0.3,flatten,dense128,drop0.3", "dropout3 at 0.3 instead of 0.5", "dropout3"),
    Variant("no-dropout", "conv32,pool,conv64,pool,flatten,dense128", "every dropout layer removed", "dropout12"),
    Variant("random-labels", SEED_SPEC, "trained on the training labels shuffled among the pictures", "random_labels", random_labels=True, seeds=(1,)),
    # Added after the one above learnt nothing at all (10.0 % on its own shuffled labels, flat maps): the full schedule's
    # optimiser (Adam without weight decay, batch 64, dropout at full rate from the start) for 40 epochs, to memorise.
    Variant("random-labels-full", SEED_SPEC, "shuffled labels, trained 40 epochs with the full schedule's optimiser (no weight decay) to memorise them",
            "random_labels", random_labels=True, seeds=(1,), schedule="full", epochs=40),
    # Added after both above collapsed to the class prior (every picture the same answer): few enough pictures for
    # 225,034 weights to memorise, as the data-randomisation check needs a model that fitted its shuffled labels.
    Variant("random-labels-5k", SEED_SPEC, "shuffled labels of the first 5,000 training pictures, 150 epochs with the full schedule's optimiser, to memorise them",
            "random_labels", random_labels=True, seeds=(1,), schedule="full", epochs=150, train_limit=5_000),
)
BY_NAME = {variant.name: variant for variant in VARIANTS}


def model_path(name: str) -> Path:
    return VARIANTS_DIR / f"{name}.keras"


@dataclass
class Run:
    """One training run of a variant, as ``tools/train_variants.py`` records it."""

    variant: str
    seed: int
    spec: str
    parameters: int
    multiply_adds: int
    seconds: float
    train_accuracy: float  # the training part of the split, at inference
    validation_accuracy: float
    test_accuracy: float
    history: list[dict]  # fashion_viz.training.EpochRecord fields per epoch
    shifts: dict  # fashion_viz.trials.shifts.shift_tolerance(...).to_json()

    @property
    def shift_agreement_2px(self) -> float:
        """The share of test pictures that keep their answer when moved 2 pixels (mean of four directions)."""
        return self.shifts["agreement"][self.shifts["shifts"].index(2)]

    @property
    def gap(self) -> float:
        """Train minus validation accuracy: how much better the model does on pictures it was fitted to."""
        return self.train_accuracy - self.validation_accuracy


@dataclass(frozen=True)
class Spread:
    """Mean and spread (sample standard deviation; 0 for one run) of one figure over a variant's seeds."""

    mean: float
    std: float
    runs: int

    @classmethod
    def of(cls, values) -> "Spread":
        values = np.asarray(list(values), float)
        return cls(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values))

    def to_json(self) -> dict:
        return {"mean": self.mean, "std": self.std, "runs": self.runs}


@dataclass
class VariantResults:
    variant: Variant
    runs: list[Run] = field(default_factory=list)

    def spread(self, figure: str) -> Spread:
        return Spread.of(getattr(run, figure) for run in self.runs)

    def to_json(self) -> dict:
        v = self.variant
        return {
            "name": v.name, "spec": v.spec, "changes": v.changes, "claim": v.claim, "random_labels": v.random_labels,
            "runs": len(self.runs),
            **{f: self.spread(f).to_json() for f in ("train_accuracy", "validation_accuracy", "test_accuracy", "gap", "seconds")},
            "parameters": self.runs[0].parameters if self.runs else None,
            "multiply_adds": self.runs[0].multiply_adds if self.runs else None,
        }


def read_runs(path: Path = RESULTS_FILE) -> list[Run]:
    """Every recorded run (none when the file is missing)."""
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    return [Run(**run) for run in stored.get("runs", [])]


def write_runs(runs: list[Run], path: Path = RESULTS_FILE) -> None:
    """Record ``runs`` with those already in the file (a run of the same variant and seed is replaced)."""
    from dataclasses import asdict

    mine = {(r.variant, r.seed) for r in runs}
    runs = [r for r in read_runs(path) if (r.variant, r.seed) not in mine] + list(runs)
    ordered = sorted(runs, key=lambda r: ([v.name for v in VARIANTS].index(r.variant) if r.variant in BY_NAME else 99, r.seed))
    Path(path).write_text(json.dumps({"schedule": SCHEDULE, "runs": [asdict(r) for r in ordered]}, indent=1))


def variant_results(path: Path = RESULTS_FILE) -> dict[str, VariantResults]:
    """name -> that variant's runs, for every variant with at least one recorded run, in VARIANTS' order."""
    runs = read_runs(path)
    results = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r.variant == variant.name]
        if mine:
            results[variant.name] = VariantResults(variant, sorted(mine, key=lambda r: r.seed))
    return results
