"""One training job per server, run in a background thread, observable from any session.

The job trains a fresh model, saves it under a new, reserved name, then loads
it back through the same checked loader the app uses; only then is it offered
for use. A cancelled job saves nothing.
"""

from __future__ import annotations

import atexit
import dataclasses
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fashion_viz.training import EpochRecord, TrainConfig

STATES = ("idle", "running", "cancelling", "done", "cancelled", "failed")
EXIT_WAIT_S = 30.0  # how long the interpreter's exit waits for each background thread still running

_exiting = threading.Event()
_background: list[tuple[threading.Thread, threading.Event | None]] = []
_background_lock = threading.Lock()


class ServerExiting(Exception):
    """Raised inside a background job when the interpreter is exiting: the job stops at its next progress report."""


def start_joined_at_exit(thread: threading.Thread, stop: threading.Event | None = None) -> threading.Thread:
    """Start ``thread`` (a daemon) and, when the interpreter exits, set ``stop`` and wait for it (at most
    ``EXIT_WAIT_S``). A daemon thread still inside TensorFlow when Python finalizes is unwound by force, and
    TensorFlow's C++ turns that into an abort ("FATAL: exception not rethrown", exit status 134): a test run that
    opened the Train page, or a server stopped during a job, ended that way."""
    with _background_lock:
        _background[:] = [(t, e) for t, e in _background if t.is_alive()]
        _background.append((thread, stop))
    thread.start()
    return thread


@atexit.register
def _finish_background_threads() -> None:
    _exiting.set()
    with _background_lock:
        running = list(_background)
    for _, stop in running:
        if stop is not None:
            stop.set()
    for thread, _ in running:
        thread.join(EXIT_WAIT_S)


def log_failure() -> None:
    """A background job's failure, with its traceback, to the server log; not while the interpreter exits, when the
    exit itself breaks what the job was doing (its thread pools refuse new work, for one)."""
    if not _exiting.is_set():
        traceback.print_exc()


def stop_if_exiting() -> None:
    """A background job's check at each progress report (:class:`ServerExiting` once the interpreter exits)."""
    if _exiting.is_set():
        raise ServerExiting("the server is shutting down")


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
    first_filters: object | None = None  # the first layer's kernel at the newest replay snapshot (a NumPy array), to follow the run
    filters_epoch: float = 0.0  # ... and when that snapshot was taken

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
    after_save: Callable[[Path], object] | None = None  # e.g. start preparing the new model's Units and Map views
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
            thread = threading.Thread(target=self._run, args=(data, config, self._cancel), daemon=True, name="fashion-viz-training")
            self._thread = start_joined_at_exit(thread, self._cancel)
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

    def on_snapshot(self, snapshot, steps_per_epoch):
        kernel = snapshot.weights[0]
        if kernel.ndim == 4:  # a conv layer's filters
            self._update(first_filters=kernel, filters_epoch=snapshot.step / steps_per_epoch)

    def _run(self, data, config: TrainConfig, cancel: threading.Event) -> None:
        from fashion_viz.storage import load_checked_model, release_reservation, reserve_new_model_path, save_model
        from fashion_viz.training import train

        path = None
        try:
            result = train(data, config, listener=self, cancel=cancel)
            if result.cancelled:
                self._update(state="cancelled", finished=time.time())
                return
            path = reserve_new_model_path(self.models_dir)
            save_model(result.model, path, result.card, result.sample_probabilities, result.checkpoints, result.recording)
            checked = load_checked_model(path)  # the same check the app applies before serving
            self._update(state="done", finished=time.time(), model_path=checked.path, test_accuracy=result.test_accuracy)
            if self.after_save is not None:
                try:
                    self.after_save(checked.path)
                except Exception:  # noqa: BLE001 - the model is saved and usable; its extra views can be prepared later
                    log_failure()
        except Exception as exc:  # noqa: BLE001 - reported to the page, never raised into a session
            log_failure()
            if path is not None:
                release_reservation(path)
            self._update(state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class PreparationSnapshot:
    """One model's background preparation of its Replay, Units, Map and Layers views."""

    state: str = "idle"  # idle, queued, running, done, failed
    stage: str = ""
    share: float = 0.0  # of the whole preparation
    started: float | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state in ("queued", "running")


@dataclass
class PreparationJobs:
    """Server-wide: prepares each model's views once, one model at a time, in a background thread.

    Keyed by the model file's SHA-256, so two paths to one file share a job and a
    replaced file gets a new one.
    """

    method: str = "tsne"  # the map's projection ("pca" makes tests fast)
    steps: int | None = None  # activation-maximisation steps (None: the default)
    probe_sizes: tuple[int, int] | None = None  # the layer trials' probe pictures (None: the protocol's; tests use fewer)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _jobs: dict = field(default_factory=dict)
    _run_lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self, sha: str) -> PreparationSnapshot:
        with self._lock:
            return self._jobs.get(sha, PreparationSnapshot())

    def _set(self, sha: str, **changes) -> None:
        with self._lock:
            self._jobs[sha] = dataclasses.replace(self._jobs.get(sha, PreparationSnapshot()), **changes)

    def _report(self, sha: str, stage: str, share: float) -> None:
        """A stage's progress; where the job stops when the server exits."""
        from fashion_viz.explain.precompute import overall_share

        stop_if_exiting()
        self._set(sha, stage=stage, share=overall_share(stage, share))

    def start(self, path: Path, data) -> bool:
        """Prepare the views of the model file at ``path`` unless that is already done or under way.

        The file is loaded through the checked loader in the job's own thread.
        """
        from fashion_viz.storage import check_model_file

        card, sha, error = check_model_file(path)
        if error is not None or card is None:
            return False
        with self._lock:
            if self._jobs.get(sha, PreparationSnapshot()).state in ("queued", "running", "done"):
                return False
            self._jobs[sha] = PreparationSnapshot(state="queued", started=time.time())
        start_joined_at_exit(threading.Thread(target=self._run, args=(Path(path), sha, data), daemon=True, name="fashion-viz-preparation"))
        return True

    def wait(self, sha: str, timeout: float = 300.0) -> PreparationSnapshot:
        deadline = time.time() + timeout
        while self.snapshot(sha).running and time.time() < deadline:
            time.sleep(0.05)
        return self.snapshot(sha)

    def _run(self, path: Path, sha: str, data) -> None:
        from fashion_viz.engine import Engine
        from fashion_viz.explain.precompute import prepare_views
        from fashion_viz.replay.views import prepare_replay
        from fashion_viz.storage import load_checked_model
        from fashion_viz.trials.prepare import prepare_trials

        with self._run_lock:  # one preparation at a time: each uses every core
            try:
                self._set(sha, state="running")
                loaded = load_checked_model(path)
                if loaded.card.model_sha256 != sha:
                    raise RuntimeError("the model file changed while its preparation was queued")
                replay_engine = Engine(loaded.model)  # its own: the replay moves its weights through the snapshots
                try:
                    prepare_replay(replay_engine, path, loaded.card, data, progress=lambda share: self._report(sha, "replay", share))
                finally:
                    replay_engine.close()
                engine = Engine(loaded.model)
                prepare_views(
                    engine, path, sha, data.x_test, data.y_test, method=self.method,
                    progress=lambda stage, share: self._report(sha, stage, share),
                    **({} if self.steps is None else {"steps": self.steps}),
                )
                prepare_trials(
                    engine, path, loaded.card, data, progress=lambda share: self._report(sha, "trials", share),
                    probe_sizes=self.probe_sizes,
                )
                self._set(sha, state="done", share=1.0)
            except Exception as exc:  # noqa: BLE001 - reported to the page, never raised into a session
                log_failure()
                self._set(sha, state="failed", error=f"{type(exc).__name__}: {exc}")


class BackgroundValue:
    """One value computed once in a background thread (after ``wait_for`` has finished, if given); any session
    reads ``done``, ``value`` and ``error`` without waiting. The Train page's time estimate uses it for the
    measured cost of a training step, which takes a few seconds of CPU and is the same for every visitor."""

    def __init__(self, compute: Callable[[], object], wait_for: threading.Thread | None = None, name: str = "fashion-viz-background"):
        self.value: object | None = None
        self.error: str | None = None

        def run() -> None:
            if wait_for is not None:
                wait_for.join()
            try:
                self.value = compute()
            except Exception as exc:  # noqa: BLE001 - reported to the page as a message
                self.error = f"{type(exc).__name__}: {exc}"

        self._thread = start_joined_at_exit(threading.Thread(target=run, daemon=True, name=name))

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()
