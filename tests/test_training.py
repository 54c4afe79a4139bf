import threading

import numpy as np
import pytest

from fashion_viz.training import TrainConfig, evaluate, train


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
    config = TrainConfig(epochs=3, batch_size=64, train_limit=4_000, test_limit=2_000, augment=False, seed=1)
    return train(fmnist, config, recorder), recorder


def test_short_training_learns(short_run):
    result, _ = short_run
    assert result.test_accuracy > 0.70, f"only {result.test_accuracy:.1%} on 2,000 held-out test images"
    assert result.model.count_params() == 225_034


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
    assert result.card["epochs_run"] == 3 and len(result.card["history"]) == 3


def test_training_is_reproducible_with_a_seed(fmnist):
    config = TrainConfig(epochs=1, batch_size=128, train_limit=1_500, test_limit=300, augment=True, seed=7, mixed_precision=False)
    first = train(fmnist, config)
    second = train(fmnist, config)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        assert np.allclose(a, b, atol=1e-5)


def test_cancel_stops_after_the_current_batch(fmnist):
    cancel = threading.Event()

    class CancelAtOnce(Recorder):
        def on_batch_end(self, *args):
            super().on_batch_end(*args)
            cancel.set()

    recorder = CancelAtOnce()
    result = train(fmnist, TrainConfig(epochs=5, train_limit=3_000, test_limit=200), recorder, cancel)
    assert result.cancelled
    assert len(recorder.epochs) <= 1 and recorder.batches < recorder.began * 5


def test_evaluate_confusion_matrix(shipped, sample):
    result = evaluate(shipped.model, sample.images, sample.labels)
    assert result.confusion.sum() == 200
    assert result.confusion.sum(axis=1).tolist() == [20] * 10
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 200)


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
