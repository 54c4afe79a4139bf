import dataclasses
import random
import threading
import time

import numpy as np
import pytest

from fashion_viz.engine import Engine
from fashion_viz.evaluation import confusion_matrix, evaluate
from fashion_viz.training import (
    TrainConfig,
    dropout_ramp_model,
    dropout_share_in_epoch,
    SAVE_SECONDS,
    StepTiming,
    estimate_seconds,
    measure_step_timing,
    remaining_seconds,
    make_dataset,
    new_dropout_fraction,
    schedule_config,
    split_sizes,
    split_train_validation,
    train,
)


class Recorder:
    def __init__(self):
        self.batches, self.epochs, self.began, self.steps = 0, [], None, []

    def on_train_begin(self, config, steps_per_epoch):
        self.began = steps_per_epoch

    def on_batch_end(self, epoch, step, steps_per_epoch, loss, accuracy):
        self.batches += 1
        self.steps.append((epoch, step))

    def on_epoch_end(self, record):
        self.epochs.append(record)


@pytest.fixture(scope="module")
def short_run(fmnist):
    recorder = Recorder()
    config = TrainConfig(epochs=3, batch_size=64, train_limit=4_000, test_limit=2_000, seed=1)
    return train(fmnist, config, recorder), recorder


def test_short_training_learns(short_run):
    result, _ = short_run
    assert result.test_accuracy > 0.70, f"only {result.test_accuracy:.1%} on 2,000 held-out test images"
    assert result.validation.accuracy > 0.70 and result.card.validation_accuracy == result.validation.accuracy
    assert result.model.count_params() == 225_034
    assert not result.cancelled and result.steps_run == 3 * ((4_000 - 800) // 64)


def test_listener_hears_every_batch_and_epoch(short_run):
    result, recorder = short_run
    steps = recorder.began
    assert steps == (4_000 - 800) // 64
    # Progress comes once per compiled execution (8 batches) and always reaches the epoch's last batch.
    per_epoch = -(-steps // 8)
    assert recorder.batches == 3 * per_epoch
    for epoch in range(3):
        reported = [step for e, step in recorder.steps if e == epoch]
        assert reported == sorted(reported) and reported[-1] == steps
    assert [r.epoch for r in recorder.epochs] == [1, 2, 3]
    assert all(0 < r.val_accuracy <= 1 for r in recorder.epochs)
    assert result.card.epochs_run == 3 and len(result.card.history) == 3


@pytest.mark.slow
def test_training_is_reproducible_and_never_reseeds_the_process(fmnist):
    """The app trains in a thread beside other sessions: their random picks must not become the seed's sequence."""
    config = TrainConfig(epochs=1, batch_size=128, train_limit=1_500, test_limit=300, seed=7, mixed_precision=False)
    np.random.seed(123)
    numpy_state = np.random.get_state()[1].copy()
    first = train(fmnist, config)
    assert np.array_equal(np.random.get_state()[1], numpy_state), "NumPy's global generator was touched"
    reseeded = random.Random(config.seed).random()
    assert random.random() != reseeded, "Python's global generator was reseeded with the training seed"
    second = train(fmnist, config)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        assert np.allclose(a, b, atol=1e-5)


def test_a_run_keeps_its_starting_and_first_epoch_weights_and_its_fit(short_run, tmp_path):
    """The re-initialisation experiment's checkpoints travel with the saved model; the card has the training part's accuracy."""
    from fashion_viz.storage import load_checkpoints, save_model

    result, _ = short_run
    assert set(result.checkpoints) == {"start", "epoch1"}
    trained = result.model.get_weights()
    for name, weights in result.checkpoints.items():
        assert [w.shape for w in weights] == [w.shape for w in trained], name
        assert not np.allclose(weights[0], trained[0]), f"{name} differs from the trained weights"
    assert not np.allclose(result.checkpoints["start"][0], result.checkpoints["epoch1"][0])
    assert 0 < result.card.train_accuracy <= 1
    path = tmp_path / "m.keras"
    card = save_model(result.model, path, result.card, result.sample_probabilities, result.checkpoints)
    stored = load_checkpoints(path, card.model_sha256)
    np.testing.assert_array_equal(stored["start"][0], result.checkpoints["start"][0])
    assert load_checkpoints(path, "0" * 64) is None, "tied to the model file"


def test_random_labels_shuffle_the_labels_among_the_same_pictures(fmnist):
    config = TrainConfig(train_limit=5_000, random_labels=True)
    (x_tr, y_tr), (x_val, y_val) = split_train_validation(fmnist, config)
    (x_real, y_real), _ = split_train_validation(fmnist, TrainConfig(train_limit=5_000))
    np.testing.assert_array_equal(x_tr, x_real)
    assert np.bincount(np.concatenate([y_tr, y_val]), minlength=10).tolist() == np.bincount(fmnist.y_train[:5_000], minlength=10).tolist()
    assert (y_tr == y_real).mean() < 0.2, "about one label in ten stays right by chance"


def test_cancel_stops_at_once_and_nothing_is_evaluated(fmnist):
    """At most the execution in flight when the cancel came finishes; no further one starts."""
    cancel = threading.Event()
    config = TrainConfig(epochs=5, train_limit=3_000, test_limit=200)

    class CancelAtFirstReport(Recorder):
        cancelled_at = None

        def on_batch_end(self, epoch, step, *args):
            super().on_batch_end(epoch, step, *args)
            if self.cancelled_at is None:
                self.cancelled_at = epoch * self.began + step
                cancel.set()

    recorder = CancelAtFirstReport()
    result = train(fmnist, config, recorder, cancel)
    assert recorder.cancelled_at == config.steps_per_execution, "the first report comes after the first execution"
    assert result.steps_run <= recorder.cancelled_at + config.steps_per_execution, (
        f"{result.steps_run} steps ran; the cancel came after {recorder.cancelled_at}: at most one more execution may finish"
    )
    assert result.steps_run < recorder.began * config.epochs
    assert result.cancelled and result.card is None and result.evaluation is None and result.test_accuracy is None


def test_a_cancelled_job_writes_no_model(fmnist, tmp_path):
    from fashion_viz.jobs import TrainingJobs

    jobs = TrainingJobs(models_dir=tmp_path)

    real = jobs.on_batch_end
    jobs.on_batch_end = lambda *a: (real(*a), jobs.cancel())
    assert jobs.start(fmnist, TrainConfig(epochs=3, train_limit=3_000), owner="a")
    snapshot = jobs.wait(timeout=120)
    assert snapshot.state == "cancelled"
    assert list(tmp_path.iterdir()) == [], "a cancelled run leaves no model, card or reservation"


def test_evaluate_confusion_matrix(shipped, sample):
    result = evaluate(Engine(shipped.model), sample.images, sample.labels)
    assert result.confusion.sum() == 200
    assert result.confusion.sum(axis=1).tolist() == [20] * 10
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 200)
    assert confusion_matrix([0, 0, 3], [0, 2, 3])[0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_split_rule_and_time_estimate_arithmetic(fmnist):
    assert split_sizes(60_000, 2_000) == (58_000, 2_000) and split_sizes(5_000, 2_000) == (4_000, 1_000)
    (x_tr, _), (x_val, _) = split_train_validation(fmnist, TrainConfig(train_limit=5_000))
    assert (len(x_tr), len(x_val)) == split_sizes(5_000, 2_000)
    timing = StepTiming(step_s=2e-3, image_s=0.1e-3, trace_s=3.0)
    one, two = estimate_seconds(TrainConfig(epochs=1), timing), estimate_seconds(TrainConfig(epochs=2), timing)
    epoch = two - one
    assert epoch == pytest.approx((58_000 // 64) * (2e-3 + 64 * 0.1e-3) + 2_000 * 0.1e-3 / 3)
    assert one - epoch == pytest.approx(3.0 + 1.0 + (10_000 + 58_000) * 0.1e-3 / 3), "a run also traces its step, scores the test set and its training part, and saves"
    assert estimate_seconds(TrainConfig(epochs=1, batch_size=256), timing) < one, "bigger batches take fewer steps"
    assert estimate_seconds(TrainConfig(epochs=11), timing) == pytest.approx(one + 10 * epoch)
    assert remaining_seconds(30.0, 0.25) == pytest.approx(90.0) and remaining_seconds(1.0, 0.01) is None


@pytest.mark.slow
def test_the_measured_step_timing_predicts_a_real_run_on_this_machine(fmnist, sample):
    """The Train page's estimate comes from a few training steps timed on the machine it runs on: measured here
    and compared with a real run here, so it holds on a fast machine and a slow one alike."""
    timing = measure_step_timing(sample.images, sample.labels)
    assert timing.step_s >= 0 and timing.image_s > 0 and timing.trace_s > 0
    config = schedule_config("fast", epochs=2, train_limit=6_000)
    started = time.perf_counter()
    train(fmnist, config, evaluate_on_test=False)
    took = time.perf_counter() - started
    estimate = estimate_seconds(config, timing, test_images=0) - SAVE_SECONDS
    assert took / 2.5 < estimate < took * 2.5, f"estimated {estimate:.1f} s, took {took:.1f} s"


EXIT_DURING_A_JOB = """
import atexit, sys, threading, time
atexit.register(lambda: print("ended" if value.done else "cut off", flush=True))  # runs after the jobs' own exit hook
from fashion_viz.data import load_sample
from fashion_viz.jobs import BackgroundValue
from fashion_viz.training import measure_step_timing

sample, inside = load_sample(), threading.Event()

def compute():
    import tensorflow  # noqa: F401 - then the timing runs inside TensorFlow's C++
    inside.set()
    return measure_step_timing(sample.images, sample.labels, steps=8)

value = BackgroundValue(compute)
inside.wait(120)
time.sleep(0.5)
"""


def test_the_interpreter_exits_cleanly_while_a_background_job_runs_tensorflow():
    """Python's exit during a background job (the Train page's step timing, a training run, a preparation) waits for
    it: a daemon thread cut off inside TensorFlow aborted the process ("FATAL: exception not rethrown", status 134)."""
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, "-c", EXIT_DURING_A_JOB], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ended"), "the exit waited for the job to end"


def test_training_jobs_run_one_at_a_time(fmnist, tmp_path):
    from fashion_viz.jobs import TrainingJobs

    jobs = TrainingJobs(models_dir=tmp_path)
    config = TrainConfig(epochs=1, train_limit=2_000, test_limit=500)
    assert jobs.start(fmnist, config, owner="a")
    assert not jobs.start(fmnist, config, owner="b"), "a second job must wait"
    snapshot = jobs.wait(timeout=120)
    assert snapshot.state == "done", snapshot.error
    assert snapshot.model_path.parent == tmp_path and snapshot.model_path.is_file()
    assert snapshot.history and snapshot.fraction == 1.0


@pytest.mark.slow
def test_time_to_accuracy_bench_times_both_whole_processes(fmnist):
    """`bench-training` (shortened): the fast schedule (once per seed) and plain model.fit each run as a process and
    save a model; a run short of 92 % test accuracy has no time_to_92_s and does not meet the target."""
    from tools.training_bench import measure

    r = measure(epochs=1, plain_epochs=1, train_limit=3_000, seeds=[5, 6])
    assert r["both_saved"]
    assert r["fast_schedule"]["epochs"] == 1 and r["fast_schedule"]["weight_decay"] == 0.05
    assert [run["seed"] for run in r["fast_runs"]] == [5, 6], "one whole process per seed"
    assert r["fast_test_accuracy"] == r["fast_runs"][0]["test_accuracy"] and r["fast_runs_meeting_target"] == 0
    assert r["fast_runs"][0]["test_accuracy"] != r["fast_runs"][1]["test_accuracy"], "the seed reaches the run"
    assert 0.3 < r["fast_test_accuracy"] < 0.92 and 0.1 < r["plain_fit_test_accuracy"] < 0.92
    assert r["time_to_92_s"] is None and r["target_met"] is False
    assert r["fast_s"] > r["fast_training_s"] > 0 and r["plain_fit_s"] > 0  # launch to exit includes start-up
    # The capacity is a ratio of two timings on a shared machine (bench's figure, not a property): it read 2.54 "cores"
    # of 2 in a fresh-clone CI run, so only its presence is asserted here (issue 21: speed belongs in bench).
    assert r["parallel_capacity_cores"] > 0


def test_dropout_ramp_rises_from_none_in_the_first_epoch_to_full_rates_in_the_last():
    shares = [dropout_share_in_epoch(e, 5) for e in range(5)]
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert dropout_share_in_epoch(0, 1) == 1.0, "a one-epoch run trains with the full rates"


def test_a_ramped_twin_drops_its_share_of_each_rate_and_keeps_the_weights():
    from fashion_viz.architecture import build_model

    model = build_model(seed=3)
    share = new_dropout_fraction(0.0)
    twin = dropout_ramp_model(model, share)
    assert [type(layer).__name__ for layer in twin.layers].count("RampedDropout") == 3
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights()))
    ones = np.ones((256, 128), dtype=np.float32)
    layer = twin.get_layer("dropout3")  # rate 0.5
    assert np.array_equal(layer(ones, training=True).numpy(), ones), "share 0: nothing dropped"
    for value, expected in ((1.0, 0.5), (0.5, 0.25)):
        share.assign(value)
        out = layer(ones, training=True).numpy()
        assert abs((out == 0).mean() - expected) < 0.02, f"share {value}: drops {expected:.0%} of the units"
        assert np.allclose(out[out > 0], 1 / (1 - expected)), "survivors are scaled up to keep the mean"
    assert np.array_equal(layer(ones, training=False).numpy(), ones), "nothing is dropped outside training"
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    assert np.allclose(twin(x).numpy(), model(x).numpy()), "the twin predicts like the model"


@pytest.mark.slow
def test_a_ramped_run_saves_the_seed_architecture_and_says_how_it_trained(fmnist):
    import keras

    config = TrainConfig(epochs=2, batch_size=128, train_limit=3_000, test_limit=500, seed=5, dropout_ramp=True)
    result = train(fmnist, config)
    rates = [layer.rate for layer in result.model.layers if type(layer) is keras.layers.Dropout]
    assert rates == [0.3, 0.3, 0.5] and result.model.count_params() == 225_034
    assert "dropout rising linearly from none to full rates" in result.card.schedule
    assert result.card.config["dropout_ramp"] is True and result.validation.accuracy > 0.6


@pytest.mark.slow
def test_weight_decay_trains_with_adamw_shrinks_the_weights_and_is_on_the_card(fmnist):
    """The fast schedule's decoupled weight decay: same data and seed, the decayed run ends with smaller kernels."""
    import keras

    from fashion_viz.training import optimizer_for

    assert isinstance(optimizer_for(schedule_config("fast"), 1e-3), keras.optimizers.AdamW)
    assert type(optimizer_for(schedule_config("full"), 1e-3)) is keras.optimizers.Adam
    base = TrainConfig(epochs=1, batch_size=128, learning_rate=6e-3, train_limit=3_000, test_limit=200, seed=5)
    plain, decayed = train(fmnist, base), train(fmnist, dataclasses.replace(base, weight_decay=2.0))
    norm = lambda model: sum(float(np.square(w).sum()) for w in model.get_weights()[::2])  # kernels only
    assert norm(decayed.model) < 0.9 * norm(plain.model)
    assert decayed.card.schedule.startswith("AdamW (decoupled weight decay 2)") and plain.card.schedule.startswith("Adam, ")
    assert decayed.card.config["weight_decay"] == 2.0 and decayed.validation.accuracy > 0.6


def test_training_batches_come_shuffled_scaled_and_without_tf_data_autotuning(fmnist):
    """Autotuning made every epoch end wait up to 4 s for its sleeping thread (see make_dataset)."""
    images, labels = fmnist.x_train[:1_000], fmnist.y_train[:1_000]
    ds = make_dataset(images, labels, 100, shuffle=True, seed=0)
    assert ds.options().autotune.enabled is False
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 10 and batches[0][0].shape == (100, 28, 28, 1) and batches[0][0].dtype == np.float32
    assert 0.0 <= batches[0][0].min() and batches[0][0].max() <= 1.0
    first = batches[0][1]
    assert not np.array_equal(first, labels[:100]), "shuffled"
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == sorted(labels.tolist()), "every image once per epoch"


@pytest.mark.slow
def test_the_fast_schedule_is_the_candidate_chosen_on_validation(fmnist):
    from tools.select_fast_schedule import CANDIDATES, CHOSEN, WITHOUT_WEIGHT_DECAY, run_candidates

    chosen = dataclasses.replace(CANDIDATES[CHOSEN].config, validation_size=TrainConfig().validation_size)
    assert chosen == schedule_config("fast"), "SCHEDULES['fast'] drifted from the candidate the selection chose"
    best_on_42 = max(c.recorded[42] for c in CANDIDATES.values() if c.config.batch_size == 256)
    assert CANDIDATES[CHOSEN].recorded[42] >= best_on_42 - 0.0005
    without = CANDIDATES[WITHOUT_WEIGHT_DECAY]
    assert len(without.recorded) >= 3 and all(CANDIDATES[CHOSEN].recorded[seed] > accuracy for seed, accuracy in without.recorded.items())
    [row] = run_candidates([CHOSEN], train_limit=2_000, seed=3)
    assert row["seed"] == 3 and row["validation_images"] == 400 and row["validation_accuracy"] > 0.6
