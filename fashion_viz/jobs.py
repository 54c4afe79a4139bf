"""One training job per server, run in a background thread, observable from any session.

The job trains a fresh model, saves it under a new name, then loads it back
through the same checked loader the app uses; only then is it offered for use.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from fashion_viz.training import EpochRecord, TrainConfig


@dataclass
class JobSnapshot:
    """A consistent copy of a job's state for drawing."""

    state: str  # idle | running | cancelling | done | cancelled | failed
    config: TrainConfig | None
    epoch: int
    step: int
    steps_per_epoch: int
    history: list[EpochRecord]
    started: float | None
    finished: float | None
    model_path: Path | None
    test_accuracy: float | None
    error: str | None
    owner: str | None

    @property
    def running(self) -> bool:
        return self.state in ("running", "cancelling")

    @property
    def fraction(self) -> float:
        if not self.config or not self.steps_per_epoch:
            return 0.0
        done = self.epoch * self.steps_per_epoch + self.step
        return min(1.0, done / (self.config.epochs * self.steps_per_epoch))


@dataclass
class TrainingJobs:
    """Server-wide training coordinator: at most one job at a time."""

    models_dir: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _state: str = "idle"
    _config: TrainConfig | None = None
    _epoch: int = 0
    _step: int = 0
    _steps_per_epoch: int = 0
    _history: list = field(default_factory=list)
    _started: float | None = None
    _finished: float | None = None
    _model_path: Path | None = None
    _test_accuracy: float | None = None
    _error: str | None = None
    _owner: str | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(
                self._state,
                self._config,
                self._epoch,
                self._step,
                self._steps_per_epoch,
                list(self._history),
                self._started,
                self._finished,
                self._model_path,
                self._test_accuracy,
                self._error,
                self._owner,
            )

    def start(self, data, config: TrainConfig, owner: str, save_path: Path | None = None) -> bool:
        """Start a job; False when one is already running."""
        with self._lock:
            if self._state in ("running", "cancelling"):
                return False
            self._state, self._config, self._owner = "running", config, owner
            self._epoch = self._step = self._steps_per_epoch = 0
            self._history = []
            self._started, self._finished = time.time(), None
            self._model_path = self._test_accuracy = self._error = None
            self._cancel = threading.Event()
            path = save_path or self.models_dir / f"fashion_cnn-{time.strftime('%Y%m%d-%H%M%S')}.keras"
            self._thread = threading.Thread(target=self._run, args=(data, config, path, self._cancel), daemon=True, name="fashion-viz-training")
            self._thread.start()
            return True

    def cancel(self) -> None:
        with self._lock:
            if self._state == "running":
                self._state = "cancelling"
                self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    # TrainingListener interface, called from the training thread.
    def on_train_begin(self, config, steps_per_epoch):
        with self._lock:
            self._steps_per_epoch = steps_per_epoch

    def on_batch_end(self, epoch, step, steps_per_epoch, loss, accuracy):
        with self._lock:
            self._epoch, self._step = epoch, step

    def on_epoch_end(self, record):
        with self._lock:
            self._history.append(record)
            self._epoch, self._step = record.epoch, 0

    def _run(self, data, config, path: Path, cancel: threading.Event) -> None:
        from fashion_viz.model import load_checked_model, save_model
        from fashion_viz.training import train

        try:
            result = train(data, config, listener=self, cancel=cancel)
            if result.cancelled:
                with self._lock:
                    self._state, self._finished = "cancelled", time.time()
                return
            save_model(result.model, path, result.card)
            checked = load_checked_model(path)  # the same check the app applies before serving
            with self._lock:
                self._state, self._finished = "done", time.time()
                self._model_path, self._test_accuracy = checked.path, result.test_accuracy
        except Exception as exc:  # noqa: BLE001 - reported to the page, never raised into a session
            traceback.print_exc()
            with self._lock:
                self._state, self._finished = "failed", time.time()
                self._error = f"{type(exc).__name__}: {exc}"
