"""Recording a training run: the moments of its snapshots and the Keras callback that takes them.

A snapshot is the model's weights after a number of optimizer steps. The moments are dense early, where
the filters change most, and sparse late: 0, 1/16, 1/8, 1/4 and 1/2 of the first epoch, then points spaced
both geometrically and evenly from epoch 1 to the last, about 40 in all whatever the run's length. Taking
one copies the weights (225k floats, under a millisecond); everything drawn from them is computed after
training (:mod:`fashion_viz.replay.views`), so recording costs the run next to nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

FIRST_EPOCH_SHARES = (1 / 16, 1 / 8, 1 / 4, 1 / 2)
LATER_POINTS = 18  # geometric and as many evenly spaced moments from epoch 1 to the last


@dataclass(frozen=True)
class Snapshot:
    """The weights (as ``model.get_weights()`` orders them, float32) after ``step`` optimizer steps."""

    step: int
    weights: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Recording:
    """A run's snapshots, first to last, and its epoch length (to turn steps into epochs)."""

    snapshots: tuple[Snapshot, ...]
    steps_per_epoch: int
    seconds: float = 0.0  # spent in the callback taking them (waiting for the device included)


def snapshot_steps(epochs: int, steps_per_epoch: int, steps_per_execution: int = 1) -> tuple[int, ...]:
    """The optimizer steps at which a run of ``epochs`` takes its snapshots (0 and the last included).

    A moment inside an epoch is moved to the next compiled execution's start (a multiple of
    ``steps_per_execution`` from the epoch's start), where the callback sees the weights.
    """
    total = epochs * steps_per_epoch
    later = np.concatenate([np.geomspace(1, epochs, LATER_POINTS), np.linspace(1, epochs, LATER_POINTS)]) if epochs >= 1 else []
    even_gap = (epochs - 1) / (LATER_POINTS - 1)
    moments: list[float] = [*FIRST_EPOCH_SHARES]
    for epoch in sorted(later):  # the two spacings merged; a moment close to the one before adds no frame
        if epoch / moments[-1] >= 1.1 or epoch - moments[-1] >= 0.4 * even_gap:
            moments.append(float(epoch))
    steps = {0, total}
    for epoch in moments:
        step = int(round(epoch * steps_per_epoch))
        whole, inside = divmod(step, steps_per_epoch)
        if inside:
            inside = -(-inside // steps_per_execution) * steps_per_execution
            step = whole * steps_per_epoch + min(inside, steps_per_epoch)
        steps.add(min(step, total))
    return tuple(sorted(steps))


def replay_callback(steps: tuple[int, ...], steps_per_epoch: int, snapshots: list[Snapshot], on_take=None, spent: list | None = None):
    """A Keras callback appending a :class:`Snapshot` to ``snapshots`` at each of ``steps`` (and passing it to
    ``on_take``, if given: the Train page follows a run's filters with it). ``spent[0]`` adds up the seconds taken.

    It looks at the start of each compiled execution and at each epoch's end, and reads the weights (a
    wait for the device) only when a snapshot is due; batch *begin* hooks run in the training loop itself,
    so it is safe beside the asynchronous progress callback.
    """
    import keras

    wanted = sorted(steps)

    class ReplayRecorder(keras.callbacks.Callback):
        async_safe = True

        def _append(self, step: int):
            started = time.perf_counter()
            snapshots.append(Snapshot(step, tuple(np.array(w, np.float32) for w in self.model.get_weights())))
            if spent is not None:
                spent[0] += time.perf_counter() - started
            if on_take is not None:
                on_take(snapshots[-1])

        def _take(self, step: int):
            taken = snapshots[-1].step if snapshots else -1
            if step > taken and any(taken < s <= step for s in wanted):
                self._append(step)

        def on_train_begin(self, logs=None):
            if 0 in wanted and not snapshots:
                self._append(0)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if batch:  # an epoch's start is its predecessor's end, taken there
                self._take(self._epoch * steps_per_epoch + batch)

        def on_epoch_end(self, epoch, logs=None):
            self._take((epoch + 1) * steps_per_epoch)

    return ReplayRecorder()
