"""The replay's file beside its model, ``<stem>.replay.npz``, tied to the model file's SHA-256.

The weights are stored compactly: the last snapshot exactly (float32: it is the saved model's weights),
every earlier one as the float16 difference from the one after it. The differences are taken from the
weights as they will be read back (closed loop), so rounding never adds up along the chain: each
snapshot is within float16's rounding of one step's change of its true weights. About 0.45 MB a snapshot
against 0.9 MB in float32. The views computed from the snapshots (:mod:`fashion_viz.replay.views`) are
stored in the same file once prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_viz.replay.record import Snapshot

VERSION = 1
VIEW_PREFIX = "view__"


def replay_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".replay.npz")


def encode_weights(snapshots: list[Snapshot]) -> dict[str, np.ndarray]:
    """``final__i`` (float32) and ``delta__i`` ((snapshots - 1, *shape) float16) per weight tensor i."""
    final = [np.asarray(w, np.float32) for w in snapshots[-1].weights]
    arrays = {f"final__{i}": w for i, w in enumerate(final)}
    deltas = [np.zeros((len(snapshots) - 1, *w.shape), np.float16) for w in final]
    later = [w.copy() for w in final]  # the snapshot after k, as decoding will read it
    for k in range(len(snapshots) - 2, -1, -1):
        for i, (true, after) in enumerate(zip(snapshots[k].weights, later)):
            deltas[i][k] = (after - true).astype(np.float16)
            later[i] = after - deltas[i][k].astype(np.float32)
    arrays.update({f"delta__{i}": d for i, d in enumerate(deltas)})
    return arrays


def decode_weights(arrays: dict) -> list[list[np.ndarray]]:
    """Every snapshot's weights, first to last, from :func:`encode_weights`' arrays."""
    count = sum(1 for key in arrays if key.startswith("final__"))
    current = [np.array(arrays[f"final__{i}"], np.float32) for i in range(count)]
    deltas = [arrays[f"delta__{i}"] for i in range(count)]
    out = [current]
    for k in range(len(deltas[0]) - 1, -1, -1):
        current = [w - d[k].astype(np.float32) for w, d in zip(current, deltas)]
        out.append(current)
    return out[::-1]


@dataclass(frozen=True)
class Replay:
    """A model's recorded training: each snapshot's step and weights, and the views once prepared."""

    model_sha256: str
    steps: np.ndarray  # (snapshots,) optimizer steps
    steps_per_epoch: int
    weights: list  # per snapshot, the weights as model.get_weights() orders them
    views: dict = field(default_factory=dict)  # name -> array (fashion_viz.replay.views), empty until prepared

    @property
    def epochs(self) -> np.ndarray:
        return self.steps / self.steps_per_epoch

    def __len__(self) -> int:
        return len(self.steps)


def save_replay(model_path: Path, model_sha256: str, steps: np.ndarray, steps_per_epoch: int, arrays: dict, views: dict | None = None) -> None:
    """Write (or rewrite, with its views) the replay file; ``arrays`` are :func:`encode_weights`' output."""
    from fashion_viz.storage import write_model_companion

    write_model_companion(
        replay_path(model_path), VERSION, model_sha256,
        steps=np.asarray(steps, np.int64), steps_per_epoch=np.int64(steps_per_epoch), **arrays,
        **{VIEW_PREFIX + name: np.asarray(value) for name, value in (views or {}).items()},
    )


def save_recording(model_path: Path, model_sha256: str, snapshots: list[Snapshot], steps_per_epoch: int) -> None:
    """A finished run's snapshots, beside the model saved from its last one."""
    save_replay(model_path, model_sha256, [s.step for s in snapshots], steps_per_epoch, encode_weights(snapshots))


def read_replay_arrays(model_path: Path, model_sha256: str) -> dict | None:
    from fashion_viz.storage import read_model_companion

    return read_model_companion(replay_path(model_path), VERSION, model_sha256)


def load_replay(model_path: Path, model_sha256: str) -> Replay | None:
    """The replay of this exact model file, or None (none recorded, unreadable, or another file's)."""
    stored = read_replay_arrays(model_path, model_sha256)
    return None if stored is None else replay_from_arrays(stored, model_sha256)


def replay_from_arrays(stored: dict, model_sha256: str) -> Replay:
    """A :class:`Replay` from the arrays of its file (:func:`read_replay_arrays`)."""
    return Replay(
        model_sha256=model_sha256,
        steps=np.asarray(stored["steps"]),
        steps_per_epoch=int(stored["steps_per_epoch"]),
        weights=decode_weights(stored),
        views={key[len(VIEW_PREFIX):]: value for key, value in stored.items() if key.startswith(VIEW_PREFIX)},
    )
