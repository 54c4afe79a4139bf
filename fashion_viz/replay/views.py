"""What the replay shows, computed from its snapshots after training: one engine stepped through them.

Per snapshot: the loss and accuracy on the validation split and on 2,000 fixed pictures of the training
part (eval mode, so every moment is measured alike), the per-class validation accuracy and F1, the probabilities
of the 10 probe pictures (the first test picture of each class), and the dense-layer embedding of 1,000 fixed
test pictures (the first 100 of each class; 8-bit, ``embedding * embedding_scale``) with its 2-D map. Each moment's map is its own PCA turned,
mirrored onto the last moment's (orthogonal Procrustes) and scaled to its spread, so the points move rather than jump.
A probe picture's layer outputs over the snapshots are computed when asked (:func:`probe_layer_outputs`).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.replay.store import Replay

PROBES_PER_CLASS = 1
MAP_PER_CLASS = 100
TRAIN_PICTURES = 2_000
LEARNT_SHARE = 0.9  # a class counts as learnt once its validation F1 reaches this share of its final one


def first_of_each_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` pictures of each class, class by class."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CLASS_NAMES))])


def aligned_pca(features: np.ndarray, target: np.ndarray | None) -> np.ndarray:
    """(n, 2): the features' first two principal components; when ``target`` is given, turned (and mirrored) onto it
    and scaled to its spread. Least squares would shrink an early moment's map towards a point, its fit being poor."""
    centred = features - features.mean(axis=0)
    if not np.any(centred):
        return np.zeros((len(features), 2), np.float32)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    if target is None:
        return points.astype(np.float32)
    from scipy.linalg import orthogonal_procrustes

    rotation, _ = orthogonal_procrustes(points, target)
    spread = np.sqrt(np.sum((target - target.mean(axis=0)) ** 2) / max(np.sum(points**2), 1e-12))
    return (points @ rotation * spread).astype(np.float32)


def _loss_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, 1e-7)))), float(np.mean(probabilities.argmax(1) == labels))


def compute_views(engine, replay: Replay, data, config, progress: Callable[[float], None] | None = None) -> dict:
    """The replay's stored views (arrays by name), one engine pass per snapshot over every picture they need.

    ``engine`` is one of its own (its weights are replaced, snapshot by snapshot); ``config`` is the run's
    TrainConfig, for its validation split.
    """
    from fashion_viz.training import split_train_validation

    (x_tr, y_tr), (x_val, y_val) = split_train_validation(data, config)
    train_pick = np.random.default_rng(0).permutation(len(x_tr))[:TRAIN_PICTURES]
    probes = first_of_each_class(data.y_test, PROBES_PER_CLASS)
    mapped = first_of_each_class(data.y_test, MAP_PER_CLASS)
    scored = np.concatenate([x_val, x_tr[train_pick], data.x_test[probes]])  # one pass per snapshot for every score
    cut = np.cumsum([len(x_val), len(train_pick)])
    embedding = engine.dense_names[0]
    out = {name: [] for name in ("val_loss", "val_accuracy", "train_loss", "train_accuracy", "class_accuracy", "class_f1", "probe_probabilities", "map")}
    features = []
    for k, weights in enumerate(replay.weights):
        engine.load_weights(weights)
        probabilities = engine.probabilities(scored)
        features.append(engine.layer_features(data.x_test[mapped], embedding))
        val, train, probe = probabilities[: cut[0]], probabilities[cut[0] : cut[1]], probabilities[cut[1] :]
        for name, value in zip(("val_loss", "val_accuracy"), _loss_and_accuracy(val, y_val)):
            out[name].append(value)
        for name, value in zip(("train_loss", "train_accuracy"), _loss_and_accuracy(train, y_tr[train_pick])):
            out[name].append(value)
        predicted = val.argmax(1)
        recall = np.array([np.mean(predicted[y_val == c] == c) if np.any(y_val == c) else np.nan for c in range(len(CLASS_NAMES))])
        precision = np.array([np.mean(y_val[predicted == c] == c) if np.any(predicted == c) else 0.0 for c in range(len(CLASS_NAMES))])
        out["class_accuracy"].append(recall)
        out["class_f1"].append(np.where(recall + precision > 0, 2 * recall * precision / np.maximum(recall + precision, 1e-12), 0.0))
        out["probe_probabilities"].append(probe)
        if progress:
            progress(0.9 * (k + 1) / len(replay))
    final = aligned_pca(features[-1], None)
    out["map"] = [aligned_pca(f, final) for f in features]
    views = {name: np.asarray(value, np.float32) for name, value in out.items()}
    # The embedding itself, 8-bit: each snapshot's values over its own largest (ReLU outputs: 0 up), about 2 MB compressed.
    scale = np.array([max(float(f.max()), 1e-12) for f in features], np.float32)
    views["embedding"] = np.stack([np.round(f / s * 255) for f, s in zip(features, scale)]).astype(np.uint8)
    views["embedding_scale"] = scale / 255
    views["probe_indices"] = probes.astype(np.int32)
    views["map_indices"] = mapped.astype(np.int32)
    views["map_labels"] = data.y_test[mapped].astype(np.int8)
    return views


_probe_lock = threading.Lock()


def probe_layer_outputs(engine, replay: Replay, image: np.ndarray, layer: str) -> np.ndarray:
    """(snapshots, *shape): one picture's output of ``layer`` at every snapshot (the replay's own engine)."""
    index = engine.names.index(layer)
    with _probe_lock:  # the engine's weights are moved: one walk through the snapshots at a time
        outputs = []
        for weights in replay.weights:
            engine.load_weights(weights)
            outputs.append(engine.activations(image).layers[index].values)
    return np.stack(outputs)


def layer_weights(engine, replay: Replay, layer: str) -> np.ndarray:
    """(snapshots, *kernel shape): a conv or dense layer's kernel at every snapshot."""
    weighted = [name for name in engine.names if name in engine.weights]
    index = 2 * weighted.index(layer)
    return np.stack([weights[index] for weights in replay.weights])


class NoReplay(ValueError):
    """The model has no recorded training (trained before recording existed, or the file was not kept)."""


def require_replay(model_path, card) -> Replay:
    from fashion_viz.replay.store import load_replay

    replay = load_replay(model_path, card.model_sha256)
    if replay is None:
        raise NoReplay(f"{Path(model_path).name} has no replay: it was trained without recording its snapshots. "
                       "Train a model (python -m fashion_viz train, or the Train page) to get one.")
    return replay


@dataclass(frozen=True)
class LearningOrder:
    """When each class was learnt: the first epoch its validation F1 reached LEARNT_SHARE of its final one. F1, not
    accuracy: an early network that calls everything a Coat has every coat right, and has learnt nothing."""

    epoch: dict  # class name -> epoch (float)
    final: dict  # class name -> final validation accuracy

    def ranked(self) -> list[str]:
        return sorted(self.epoch, key=lambda name: (self.epoch[name], -self.final[name]))


def learning_order(replay: Replay) -> LearningOrder:
    f1, accuracy = np.asarray(replay.views["class_f1"]), np.asarray(replay.views["class_accuracy"])
    epochs = replay.epochs
    learnt, final = {}, {}
    for c, name in enumerate(CLASS_NAMES):
        reached = np.flatnonzero(f1[:, c] >= LEARNT_SHARE * f1[-1, c])
        learnt[name] = float(epochs[reached[0]])
        final[name] = float(accuracy[-1, c])
    return LearningOrder(learnt, final)


def prepare_replay(engine, model_path, card, data, progress: Callable[[float], None] | None = None, force: bool = False) -> Replay | None:
    """The model's recorded replay with its views, computed and stored first unless they are; None without a recording.

    ``engine`` is moved through the snapshots, so it must be the preparation's own.
    """
    from fashion_viz.replay.store import read_replay_arrays, replay_from_arrays, save_replay
    from fashion_viz.training import config_of_card

    stored = read_replay_arrays(model_path, card.model_sha256)
    if stored is None:
        return None
    replay = replay_from_arrays(stored, card.model_sha256)
    if replay.views and not force:
        return replay
    views = compute_views(engine, replay, data, config_of_card(card), progress)
    weights = {key: value for key, value in stored.items() if key.startswith(("final__", "delta__"))}
    save_replay(model_path, card.model_sha256, replay.steps, replay.steps_per_epoch, weights, views)
    if progress:
        progress(1.0)
    return dataclasses.replace(replay, views=views)
