"""Record the shipped model's replay by training it again, and check the rerun is the shipped model.

    python tools/record_shipped_replay.py

Trains the shipped card's config (same seed, same schedule) with the replay's recording on, then compares
the rerun's weights with the shipped file's, bit for bit, and its test confusion matrix with the card's.
Only when both are identical is the recording written beside the shipped model (``fashion_cnn.replay.npz``)
and its views prepared; otherwise it says where they differ and writes nothing. About 25 min here.
Run it from a copy of the repository if you edit the code meanwhile: TensorFlow reads a function's source
again when it first traces it, and a file changed under a running process fails there.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fashion_viz.data import load_fashion_mnist  # noqa: E402
from fashion_viz.engine import Engine  # noqa: E402
from fashion_viz.replay.store import save_recording  # noqa: E402
from fashion_viz.replay.views import prepare_replay  # noqa: E402
from fashion_viz.storage import SHIPPED_MODEL, load_checked_model  # noqa: E402
from fashion_viz.training import config_of_card, train  # noqa: E402


def main() -> int:
    data = load_fashion_mnist()
    shipped = load_checked_model(SHIPPED_MODEL)
    config = config_of_card(shipped.card)
    started = time.perf_counter()
    from fashion_viz.cli import TerminalProgress

    result = train(data, config, listener=TerminalProgress())
    snapshots = result.recording.snapshots
    print(f"trained in {time.perf_counter() - started:.0f} s; {len(snapshots)} snapshots", flush=True)
    differing = [i for i, (a, b) in enumerate(zip(result.model.get_weights(), shipped.model.get_weights())) if not np.array_equal(a, b)]
    same_confusion = result.card.confusion_matrix == shipped.card.confusion_matrix
    last_is_model = all(np.array_equal(a, b) for a, b in zip(snapshots[-1].weights, result.model.get_weights()))
    print(f"weights differing from the shipped file: {differing or 'none'}; same confusion matrix: {same_confusion}; last snapshot is the model: {last_is_model}")
    if differing or not same_confusion or not last_is_model:
        for i in differing:
            a, b = result.model.get_weights()[i], shipped.model.get_weights()[i]
            print(f"  tensor {i}: largest difference {np.abs(a - b).max():.3g}")
        return 1
    save_recording(SHIPPED_MODEL, shipped.card.model_sha256, list(snapshots), result.recording.steps_per_epoch)
    print(f"written: {SHIPPED_MODEL.with_suffix('.replay.npz')}; preparing its views", flush=True)
    prepare_replay(Engine(shipped.model), SHIPPED_MODEL, shipped.card, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
