"""Training the seed model: a seeded ``tf.data`` pipeline, a progress-listener interface, a model card.

Used by ``python -m fashion_viz train`` and by the app's Train page; both pass a
:class:`TrainingListener` for progress and a ``threading.Event`` to cancel.
Training builds its own model, so the model being served is never touched, and
seeds only its own layers and pipeline, never the process's random generators
(the app trains in a thread beside other sessions).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from fashion_viz import CLASS_NAMES
from fashion_viz.architecture import PIXEL_MAX, SEED_SPEC, multiply_adds
from fashion_viz.card import ModelCard
from fashion_viz.data import FashionMNIST
from fashion_viz.engine import Engine
from fashion_viz.evaluation import Evaluation, evaluate, sample_record


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run.

    The defaults are the schedule of the shipped model, chosen on validation
    accuracy among the candidates in ``tools/select_model.py`` (see the card's
    ``selection``): Adam, one warm-up epoch to lr 1e-3, cosine decay to zero,
    batch 64, 2,000 training images held out for validation, bfloat16 compute on
    CPUs that support it. ``dropout_ramp`` changes only how training drops units
    (see :func:`dropout_ramp_model`); the saved model has the architecture ``architecture`` either way
    (a SPEC of :mod:`fashion_viz.architecture`; the seed by default).
    """

    architecture: str = SEED_SPEC
    epochs: int = 120
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_epochs: int = 1
    validation_size: int = 2_000
    mixed_precision: bool = True
    steps_per_execution: int = 8  # batches per compiled call (less Python per step; progress every 8 batches)
    seed: int = 42
    dropout_ramp: bool = False  # curriculum dropout: rates rise linearly from 0 (first epoch) to the layers' own (last)
    initializer: str = "glorot_uniform"  # or "he_uniform"
    adam_beta_2: float = 0.999
    weight_decay: float = 0.0  # decoupled weight decay (AdamW), multiplied by the learning rate as in Keras
    train_limit: int | None = None  # use only the first N training images (quick runs and tests)
    test_limit: int | None = None
    random_labels: bool = False  # train on the training labels shuffled among the pictures (the data-randomisation check)


# Named schedules, each a set of TrainConfig fields. "full" is the shipped model's (chosen on validation;
# 92.82 % on test, about 16 min here). "fast" is the Train page's default and `train --schedule fast`:
# chosen by tools/select_fast_schedule.py on 10,000 held-out training images among runs of 18-22 epochs
# (ramped dropout, He init and Adam's beta_2 0.99 each helped; 20 and 22 epochs tied; then decoupled weight
# decay 0.05 added 0.24-0.31 points on each of three seeds), then trained with the usual 2,000-image split for
# its test score (README).
SCHEDULES = {
    "full": dict(epochs=120, batch_size=64, learning_rate=1e-3),
    "fast": dict(
        epochs=20, batch_size=256, learning_rate=6e-3, dropout_ramp=True, initializer="he_uniform", adam_beta_2=0.99, weight_decay=0.05
    ),
}


def schedule_config(name: str, **overrides) -> TrainConfig:
    """The TrainConfig of a named schedule; an override of ``None`` keeps the schedule's value."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, not {name!r}")
    return TrainConfig(**{**SCHEDULES[name], **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    learning_rate: float


class TrainingListener(Protocol):
    """Receives progress; every method is optional to act on."""

    def on_train_begin(self, config: TrainConfig, steps_per_epoch: int) -> None: ...
    def on_batch_end(self, epoch: int, step: int, steps_per_epoch: int, loss: float, accuracy: float) -> None: ...
    def on_epoch_end(self, record: EpochRecord) -> None: ...
    def on_snapshot(self, snapshot, steps_per_epoch: int) -> None: ...  # a replay snapshot was taken (fashion_viz.replay.record.Snapshot)


class SilentListener:
    def on_train_begin(self, config, steps_per_epoch):
        pass

    def on_batch_end(self, epoch, step, steps_per_epoch, loss, accuracy):
        pass

    def on_epoch_end(self, record):
        pass

    def on_snapshot(self, snapshot, steps_per_epoch):
        pass


@dataclass
class TrainResult:
    """A finished or cancelled run. A cancelled run has no evaluation and no card: nothing to save."""

    model: object  # keras.Model (float32 copy ready for serving)
    history: list[EpochRecord]
    seconds: float
    cancelled: bool  # stopped by a cancel request before its last step
    steps_run: int  # optimizer steps actually taken
    validation: Evaluation | None = None
    evaluation: Evaluation | None = None  # on the test set; None when cancelled or not asked for
    card: ModelCard | None = None
    sample_probabilities: dict | None = None  # the card's record of the sample pictures' probabilities, for save_model
    checkpoints: dict | None = None  # CHECKPOINTS name -> weights, for the re-initialisation experiment (save_model stores them)
    recording: object | None = None  # the replay's snapshots (fashion_viz.replay.record.Recording); save_model stores them

    @property
    def test_accuracy(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.accuracy


class TrainingCancelled(Exception):
    """Raised inside ``fit`` at a batch boundary once a cancel is requested (no further step starts)."""


def split_sizes(n_images: int, validation_size: int) -> tuple[int, int]:
    """(training, validation) image counts: the one rule for the split (at most a fifth held out)."""
    n_val = min(validation_size, n_images // 5)
    return n_images - n_val, n_val


def config_of_card(card: ModelCard) -> TrainConfig:
    """The TrainConfig a card records (fields this version does not know are left out; missing ones take their defaults)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in (card.config or {}).items() if k in known})


def split_train_validation(data: FashionMNIST, config: TrainConfig):
    """Seeded split of the 60,000 training images into train and validation parts (with ``random_labels``,
    the labels shuffled among the pictures first, seeded: both parts then carry no information)."""
    x, y = data.x_train, data.y_train
    if config.train_limit:
        x, y = x[: config.train_limit], y[: config.train_limit]
    if config.random_labels:
        y = np.random.default_rng(config.seed + 1).permutation(y)
    order = np.random.default_rng(config.seed).permutation(len(x))
    _, n_val = split_sizes(len(x), config.validation_size)
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


SAVE_SECONDS = 1.0  # writing the model, its card and its companion files
TIMED_BATCH_SIZES = (64, 256)  # a training step's cost is measured at these two sizes and interpolated between


@dataclass(frozen=True)
class StepTiming:
    """What a training step costs on this machine, measured (:func:`measure_step_timing`), not assumed:
    a step of batch B takes ``step_s + image_s * B``; a run also traces its step once (``trace_s``)."""

    step_s: float
    image_s: float
    trace_s: float

    def seconds_per_step(self, batch_size: int) -> float:
        return self.step_s + self.image_s * batch_size


def measure_step_timing(images: np.ndarray, labels: np.ndarray, config: TrainConfig | None = None, steps: int = 16) -> StepTiming:
    """Time the training step of ``config`` (the fast schedule by default) at two batch sizes on this machine.

    Each size: a fresh model compiled as a run compiles it, one fit to trace it, then ``steps`` steps timed.
    ``images``/``labels`` are repeated to fill the steps (the sample of real pictures is enough: the cost does
    not depend on the pixels). About 4-6 s of CPU in all.
    """
    config = config or schedule_config("fast")
    per_step, trace = {}, []
    for batch_size in TIMED_BATCH_SIZES:
        sized = dataclasses.replace(config, batch_size=batch_size)
        model, _, _ = compile_training_model(sized, steps)
        n = batch_size * steps
        repeat = -(-n // len(images))
        dataset = make_dataset(np.tile(images, (repeat, 1, 1))[:n], np.tile(labels, repeat)[:n], batch_size, shuffle=True, seed=0)
        started = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        first = time.perf_counter() - started
        started = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        steady = time.perf_counter() - started
        per_step[batch_size] = steady / steps
        trace.append(max(0.0, first - steady))
    small, large = TIMED_BATCH_SIZES
    image_s = max(0.0, (per_step[large] - per_step[small]) / (large - small))
    step_s = max(0.0, per_step[small] - image_s * small)
    return StepTiming(step_s=step_s, image_s=image_s, trace_s=float(np.mean(trace)))


def estimate_seconds(config: TrainConfig, timing: StepTiming, n_images: int = 60_000, test_images: int = 10_000) -> float:
    """Expected wall time of a run on this machine: its training steps at the measured cost, the validation and
    test passes (a forward pass costs about a third of a training step per image), one trace and the save. The
    step is timed on the seed; another architecture's cost per picture is scaled by its multiply-adds."""
    n_train, n_val = split_sizes(min(n_images, config.train_limit or n_images), config.validation_size)
    steps = n_train // config.batch_size
    image_s = timing.image_s * multiply_adds(config.architecture) / multiply_adds(SEED_SPEC)
    epoch = steps * (timing.step_s + image_s * config.batch_size) + n_val * image_s / 3
    inference = (test_images + n_train) * image_s / 3  # the test set and the training part's accuracy
    return timing.trace_s + SAVE_SECONDS + inference + config.epochs * epoch


def remaining_seconds(elapsed: float, fraction: float) -> float | None:
    """The rest of a run at the pace it has kept so far; None before it has a pace (the first steps trace)."""
    if fraction <= 0.02 or elapsed <= 0:
        return None
    return elapsed * (1 - fraction) / fraction


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, *, shuffle: bool, seed: int):
    """uint8 arrays -> cached, shuffled, batched, scaled, prefetched ``tf.data`` pipeline.

    tf.data's autotuning is switched off. With it on, Keras' fit dropped each epoch's
    iterators (training and validation), and dropping one waited for the autotuner's
    thread to wake from its sleep: measured here, the whole process sat idle for up to
    4 s in most epochs (stacks in ``RootDataset::Iterator::~Iterator`` waiting on
    ``Model::OptimizeLoop``); 6 epochs of the fast schedule took 58-59 s instead of 40-42 s.
    The pipeline costs 0.25 s of CPU per epoch, so fixed settings lose nothing.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels.astype(np.int32))).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=shuffle)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / PIXEL_MAX, y))
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def distribution_strategy():
    """MirroredStrategy over several visible GPUs, the default strategy otherwise."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cpu_supports_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """Linear warm-up, then cosine decay to zero over the remaining steps."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, config.warmup_epochs * steps_per_epoch) if config.epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup),
        alpha=0.0,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def progress_callback(listener: TrainingListener, cancel: threading.Event | None, steps_per_epoch: int, schedule):
    import keras

    lock = threading.Lock()
    last_reported = [(-1, 0)]

    class ProgressCallback(keras.callbacks.Callback):
        # Batch progress is dispatched on Keras' callback thread pool instead of blocking training
        # to fetch the loss after every execution (that sync cost 25 % of epoch time). Calls may
        # then overlap or arrive out of order, so on_train_batch_end reports under a lock, in order.
        # Batch *begin* hooks always run in the training loop itself: the cancel check lives there,
        # so no execution starts once a cancel is requested.
        async_safe = True

        def on_train_begin(self, logs=None):
            last_reported[0] = (-1, 0)  # a callback reused for another fit starts afresh

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled()

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            # With steps_per_execution, Keras reports the execution's nominal last step, which can pass the epoch's end.
            step = min(batch + 1, steps_per_epoch)
            with lock:  # async dispatch may run calls concurrently: report each step once, in order
                if (self._epoch, step) <= last_reported[0]:
                    return
                last_reported[0] = (self._epoch, step)
                listener.on_batch_end(self._epoch, step, steps_per_epoch, float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            step = self.model.optimizer.iterations
            record = EpochRecord(
                epoch=epoch + 1,
                loss=float(logs.get("loss", math.nan)),
                accuracy=float(logs.get("accuracy", math.nan)),
                val_loss=float(logs.get("val_loss", math.nan)),
                val_accuracy=float(logs.get("val_accuracy", math.nan)),
                seconds=time.perf_counter() - self._start,
                learning_rate=float(schedule(step)),
            )
            self.model.fashion_history.append(record)
            listener.on_epoch_end(record)

    return ProgressCallback()


CHECKPOINTS = ("start", "epoch1")  # the weights before the first step and after the first epoch


def checkpoint_callback(checkpoints: dict):
    """Keeps the weights after the first epoch in ``checkpoints["epoch1"]`` (float32 copies)."""
    import keras

    class FirstEpochWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                checkpoints["epoch1"] = [np.asarray(w, np.float32) for w in self.model.get_weights()]

    return FirstEpochWeights()


def dropout_share_in_epoch(epoch: int, epochs: int) -> float:
    """Share of each Dropout layer's rate in force during ``epoch`` (0-based) of a ramped run: 0 in the first, 1 in the last."""
    return 1.0 if epochs < 2 else min(1.0, epoch / (epochs - 1))


def dropout_ramp_model(model, fraction):
    """A twin of ``model`` (same weights) whose Dropout layers drop ``fraction`` times their rate.

    Curriculum dropout (Morerio et al., ICCV 2017): a short run starts underfitted, so dropping units
    from the first step slows it down; rising from none to the full rates lets it fit first and be
    regularised by the end. Measured on 10,000 held-out training images, 18 epochs: 92.17 % against
    91.72 % with the full rates throughout. ``fraction`` is a variable the caller moves between
    epochs (:func:`dropout_ramp_callback`); Keras' own Dropout needs a fixed rate, hence the subclass.
    Only training uses the twin: the saved model is built by ``build_model``.
    """
    import keras

    class RampedDropout(keras.layers.Dropout):
        def call(self, inputs, training=False):
            if not training:
                return inputs
            rate = fraction * self.rate  # float32 tensor
            keep = keras.random.uniform(keras.ops.shape(inputs), seed=self.seed_generator) >= rate
            return inputs * keras.ops.cast(keep, inputs.dtype) / keras.ops.cast(1.0 - rate, inputs.dtype)

    def clone(layer):
        cls = RampedDropout if isinstance(layer, keras.layers.Dropout) else layer.__class__
        return cls.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def dropout_ramp_callback(fraction, epochs: int):
    """Sets ``fraction`` to :func:`dropout_share_in_epoch` at the start of every epoch."""
    import keras

    class DropoutRamp(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            fraction.assign(dropout_share_in_epoch(epoch, epochs))

    return DropoutRamp()


def use_bfloat16(config: TrainConfig) -> bool:
    import tensorflow as tf

    return config.mixed_precision and cpu_supports_bf16() and not tf.config.list_logical_devices("GPU")


def new_dropout_fraction(value: float = 1.0):
    """The variable a ramped run's Dropout layers read their share of the rate from."""
    import tensorflow as tf

    return tf.Variable(value, trainable=False, dtype=tf.float32, name="dropout_fraction")


def optimizer_for(config: TrainConfig, schedule):
    """Adam, or AdamW when the config asks for decoupled weight decay (Keras scales it by the learning rate)."""
    import keras

    if config.weight_decay:
        return keras.optimizers.AdamW(learning_rate=schedule, beta_2=config.adam_beta_2, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(learning_rate=schedule, beta_2=config.adam_beta_2)


def compile_training_model(config: TrainConfig, steps_per_epoch: int, strategy=None, dropout_fraction=None):
    """A fresh model of ``config.architecture`` compiled for training: (model, learning-rate schedule, uses bfloat16).

    With ``config.dropout_ramp`` its Dropout layers read ``dropout_fraction`` (default: a new variable at 1).
    """
    import keras

    from fashion_viz.architecture import build_model

    strategy = strategy or distribution_strategy()
    bf16 = use_bfloat16(config)
    with strategy.scope():
        model = build_model(config.architecture, "mixed_bfloat16" if bf16 else None, seed=config.seed, initializer=config.initializer)
        if config.dropout_ramp:
            model = dropout_ramp_model(model, dropout_fraction if dropout_fraction is not None else new_dropout_fraction())
        schedule = learning_rate_schedule(config, steps_per_epoch)
        model.compile(
            optimizer=optimizer_for(config, schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            steps_per_execution=config.steps_per_execution,
        )
    return model, schedule, bf16


def train(
    data: FashionMNIST,
    config: TrainConfig = TrainConfig(),
    listener: TrainingListener | None = None,
    cancel: threading.Event | None = None,
    strategy=None,
    evaluate_on_test: bool = True,
    record_replay: bool = True,
) -> TrainResult:
    """Train a fresh model of ``config.architecture`` on ``data``; score it on the validation split and (unless told not to) the test set.

    A cancelled run stops at the next batch boundary and is neither evaluated nor
    given a card. ``evaluate_on_test=False`` is for choosing among schedules:
    the choice must see the validation split only.

    ``strategy``: a ``tf.distribute`` strategy; by default MirroredStrategy over
    several visible GPUs, else the default (single-device) strategy.

    ``record_replay``: take the replay's snapshots (:mod:`fashion_viz.replay.record`); the last is the
    trained weights. Off only to measure what recording costs.
    """
    from fashion_viz.architecture import build_model
    from fashion_viz.replay.record import Recording, replay_callback, snapshot_steps

    listener = listener or SilentListener()
    (x_tr, y_tr), (x_val, y_val) = split_train_validation(data, config)
    steps_per_epoch = len(x_tr) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch size {config.batch_size} is larger than the {len(x_tr)} training images")
    train_ds = make_dataset(x_tr, y_tr, config.batch_size, shuffle=True, seed=config.seed)
    val_ds = make_dataset(x_val, y_val, 1_000, shuffle=False, seed=config.seed)
    strategy = strategy or distribution_strategy()
    fraction = new_dropout_fraction(0.0) if config.dropout_ramp else None
    model, schedule, use_bf16 = compile_training_model(config, steps_per_epoch, strategy, fraction)
    checkpoints = {"start": [np.asarray(w, np.float32) for w in model.get_weights()]}
    callbacks = [progress_callback(listener, cancel, steps_per_epoch, schedule), checkpoint_callback(checkpoints)]
    if fraction is not None:
        callbacks.insert(0, dropout_ramp_callback(fraction, config.epochs))
    snapshots: list = []
    recording_seconds = [0.0]
    if record_replay:
        steps = snapshot_steps(config.epochs, steps_per_epoch, config.steps_per_execution)
        def snapshot_taken(snapshot) -> None:  # listeners written before the replay have no on_snapshot
            if hasattr(listener, "on_snapshot"):
                listener.on_snapshot(snapshot, steps_per_epoch)

        callbacks.append(replay_callback(steps, steps_per_epoch, snapshots, snapshot_taken, recording_seconds))
    model.fashion_history = []
    listener.on_train_begin(config, steps_per_epoch)
    start = time.perf_counter()
    cancelled = False
    try:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=0,
            callbacks=callbacks,
        )
    except TrainingCancelled:
        cancelled = True
    seconds = time.perf_counter() - start
    history = list(model.fashion_history)
    steps_run = int(model.optimizer.iterations.numpy())
    serving = build_model(config.architecture)
    serving.set_weights(model.get_weights())
    if cancelled:
        return TrainResult(serving, history, seconds, True, steps_run, checkpoints=checkpoints)
    engine = Engine(serving)
    validation = evaluate(engine, x_val, y_val)
    result = TrainResult(
        serving, history, seconds, False, steps_run, validation,
        checkpoints=checkpoints if len(checkpoints) == len(CHECKPOINTS) else None,
        recording=Recording(tuple(snapshots), steps_per_epoch, recording_seconds[0]) if snapshots else None,
    )
    if evaluate_on_test:
        x_test, y_test = data.x_test, data.y_test
        if config.test_limit:
            x_test, y_test = x_test[: config.test_limit], y_test[: config.test_limit]
        result.evaluation = evaluate(engine, x_test, y_test)
    result.card = model_card(config, result, data, bf16=use_bf16, strategy=strategy)
    result.card.train_accuracy = evaluate(engine, x_tr, y_tr).accuracy
    result.sample_probabilities = sample_record(engine)
    return result


def schedule_text(config: TrainConfig, bf16: bool) -> str:
    """One line for the model card: how the run trained."""
    settings = [f"beta_2 {config.adam_beta_2:g}"] * (config.adam_beta_2 != TrainConfig.adam_beta_2)
    settings += [f"decoupled weight decay {config.weight_decay:g}"] * bool(config.weight_decay)
    adam = ("AdamW" if config.weight_decay else "Adam") + (f" ({', '.join(settings)})" if settings else "")
    parts = [
        f"{adam}, {config.warmup_epochs} warm-up epoch(s) to lr {config.learning_rate:g}, cosine decay to 0 over {config.epochs} epochs",
        f"batch {config.batch_size}",
        *(["dropout rising linearly from none to full rates over the run"] if config.dropout_ramp else []),
        *(["He-uniform initial weights"] if config.initializer == "he_uniform" else []),
        "no augmentation",
        f"compute: {'mixed bfloat16' if bf16 else 'float32'}",
        f"validation: {config.validation_size:,} held-out training images",
        *(["labels shuffled among the training pictures (random labels)"] if config.random_labels else []),
    ]
    return "; ".join(parts)


def model_card(config: TrainConfig, result: TrainResult, data: FashionMNIST, *, bf16: bool, strategy) -> ModelCard:
    """The card saved beside a model: what it scores, how it was trained, on what."""
    import keras
    import tensorflow as tf

    evaluation, history = result.evaluation, result.history
    card = ModelCard(
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        class_names=list(CLASS_NAMES),
        validation_accuracy=result.validation.accuracy if result.validation else None,
        validation_images=int(result.validation.confusion.sum()) if result.validation else 0,
        history=[asdict(r) for r in history],
        epochs_run=len(history),
        cancelled=result.cancelled,
        config=asdict(config),
        schedule=schedule_text(config, bf16),
        training_seconds=round(result.seconds, 1),
        seconds_per_epoch=round(result.seconds / max(1, len(history)), 2),
        machine={
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
        },
        versions={"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        dataset={"source": data.source, "sha256_decompressed": data.checksums},
    )
    if evaluation is not None:
        record_test_scores(card, evaluation)
    return card


def record_test_scores(card: ModelCard, evaluation: Evaluation) -> None:
    """Write a test-set evaluation into a card: accuracy, image count, per-class accuracy, confusion matrix."""
    card.test_accuracy = evaluation.accuracy
    card.test_images = int(evaluation.confusion.sum())
    card.per_class_accuracy = dict(zip(CLASS_NAMES, evaluation.per_class_accuracy))
    card.confusion_matrix = evaluation.confusion.tolist()
