"""One training job per server, run in a background thread, observable from any session.

The job trains a fresh model, saves it under a new, reserved name, then loads
it back through the same checked loader the app uses; only then is it offered
for use. A cancelled job saves nothing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from fashion_viz.training import EpochRecord, TrainConfig

STATES = ("idle", "running", "cancelling", "done", "cancelled", "failed")


@dataclass(frozen=True)
class JobSnapshot:
    """A job's state: the coordinator keeps one and hands out copies for drawing."""

    state: str = "idle"  # one of STATES
    config: TrainConfig | None = None
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    history: tuple[EpochRecord, ...] = ()
    started: float | None = None
    finished: float | None = None
    model_path: Path | None = None
    test_accuracy: float | None = None
    error: str | None = None
    owner: str | None = None

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
    _job: JobSnapshot = field(default_factory=JobSnapshot)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return self._job

    def _update(self, **changes) -> None:
        with self._lock:
            self._job = dataclasses.replace(self._job, **changes)

    def start(self, data, config: TrainConfig, owner: str) -> bool:
        """Start a job; False when one is already running."""
        with self._lock:
            if self._job.running:
                return False
            self._job = JobSnapshot(state="running", config=config, owner=owner, started=time.time())
            self._cancel = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(data, config, self._cancel), daemon=True, name="fashion-viz-training")
            self._thread.start()
            return True

    def cancel(self) -> None:
        with self._lock:
            if self._job.state == "running":
                self._job = dataclasses.replace(self._job, state="cancelling")
                self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    # TrainingListener interface, called from the training thread.
    def on_train_begin(self, config, steps_per_epoch):
        self._update(steps_per_epoch=steps_per_epoch)

    def on_batch_end(self, epoch, step, steps_per_epoch, loss, accuracy):
        self._update(epoch=epoch, step=step)

    def on_epoch_end(self, record):
        with self._lock:
            self._job = dataclasses.replace(self._job, history=self._job.history + (record,), epoch=record.epoch, step=0)

    def _run(self, data, config: TrainConfig, cancel: threading.Event) -> None:
        from fashion_viz.model import load_checked_model, release_reservation, reserve_new_model_path, save_model
        from fashion_viz.training import train

        path = None
        try:
            result = train(data, config, listener=self, cancel=cancel)
            if result.cancelled:
                self._update(state="cancelled", finished=time.time())
                return
            path = reserve_new_model_path(self.models_dir)
            save_model(result.model, path, result.card)
            checked = load_checked_model(path)  # the same check the app applies before serving
            self._update(state="done", finished=time.time(), model_path=checked.path, test_accuracy=result.test_accuracy)
        except Exception as exc:  # noqa: BLE001 - reported to the page, never raised into a session
            traceback.print_exc()
            if path is not None:
                release_reservation(path)
            self._update(state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
