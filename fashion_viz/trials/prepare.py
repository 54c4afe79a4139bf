"""The layer trials of one model, computed once and stored beside it (``<stem>.trials.json``).

What is measured on the model itself: its first layer's filters, the linear probes, its calibration, the
re-initialisation of each layer and its tolerance to shifts. Tied to the model file's SHA-256 like the
other companion files; the app computes it in the background for a model that lacks it, as it does for the
Units and Map pages.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from fashion_viz.trials.calibration import calibrate
from fashion_viz.trials.filters import first_layer_filters
from fashion_viz.trials.probes import PROBE_TRAIN, linear_probes, protocol
from fashion_viz.trials.reinit import reinitialise
from fashion_viz.trials.shifts import shift_tolerance

VERSION = 1


def trials_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".trials.json")


def load_trials(model_path: Path, model_sha256: str) -> dict | None:
    """The stored trials of this exact model file, or None (missing, unreadable, another version or other weights)."""
    try:
        data = json.loads(trials_path(model_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("model_sha256") != model_sha256:
        return None
    return data


def measure_trials(engine, card, data, checkpoints: dict | None, progress: Callable[[float], None] | None = None, probe_sizes: tuple[int, int] | None = None) -> dict:
    """Every per-model trial: the ``layers`` CLI's and the page's numbers (seconds per part included).

    ``probe_sizes``: (training, test) pictures for the probes instead of the protocol's 10,000 and all 10,000 (tests).
    """
    from fashion_viz.training import config_of_card, split_train_validation

    report = progress or (lambda share: None)
    seconds, out = {}, {"version": VERSION, "model_sha256": card.model_sha256}

    def timed(name, compute):
        started = time.perf_counter()
        out[name] = compute()
        seconds[name] = round(time.perf_counter() - started, 2)

    timed("filters", lambda: first_layer_filters(engine).to_json())
    report(0.02)
    n_train, n_test = probe_sizes or (PROBE_TRAIN, len(data.y_test))
    probe_train, probe_test = (data.x_train[:n_train], data.y_train[:n_train]), (data.x_test[:n_test], data.y_test[:n_test])
    timed("probes", lambda: [p.to_json() for p in linear_probes(engine, *probe_train, *probe_test, lambda s: report(0.02 + 0.85 * s))])
    out["probe_protocol"] = protocol(n_train, n_test)
    config = config_of_card(card)
    _, validation = split_train_validation(data, config)
    timed("calibration", lambda: calibrate(engine, validation, (data.x_test, data.y_test)).to_json())
    report(0.9)
    timed("reinit", lambda: reinitialise(engine, checkpoints, data.x_test, data.y_test, config.initializer).to_json())
    report(0.97)
    timed("shifts", lambda: shift_tolerance(engine, data.x_test, data.y_test).to_json())
    out["seconds"] = seconds
    out["random_labels"] = bool(config.random_labels)
    report(1.0)
    return out


def save_trials(model_path: Path, trials: dict) -> None:
    from fashion_viz.storage import atomic_write_bytes

    atomic_write_bytes(trials_path(model_path), json.dumps(trials, indent=1).encode())


def prepare_trials(engine, model_path: Path, card, data, progress=None, force: bool = False, probe_sizes: tuple[int, int] | None = None) -> dict:
    """The stored trials of ``model_path``, measured and stored first when missing (or with ``force``)."""
    from fashion_viz.storage import load_checkpoints

    existing = None if force else load_trials(model_path, card.model_sha256)
    if existing is not None:
        return existing
    trials = measure_trials(engine, card, data, load_checkpoints(model_path, card.model_sha256), progress, probe_sizes)
    save_trials(model_path, trials)
    return trials


def probe_accuracy(trials: dict) -> dict[str, float]:
    """layer (and "input") -> the probe's test accuracy."""
    return {p["layer"]: p["accuracy"] for p in trials["probes"]}
