"""Training runs under a tf.distribute strategy; MirroredStrategy over two logical CPUs learns."""

import subprocess
import sys
import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPT = r"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from fashion_viz.data import load_fashion_mnist
from fashion_viz.training import TrainConfig, train

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
config = TrainConfig(epochs=2, batch_size=64, train_limit=3_000, test_limit=1_000, mixed_precision=False, steps_per_execution=1)
result = train(load_fashion_mnist(allow_download=False), config, strategy=strategy)
print("REPLICAS", result.card.machine["replicas"], "ACCURACY", result.test_accuracy)
"""


def test_mirrored_strategy_over_two_logical_cpus_learns(fmnist):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert words[words.index("REPLICAS") + 1] == "2"
    assert float(words[words.index("ACCURACY") + 1]) > 0.65


def test_one_replica_unless_several_gpus(monkeypatch):
    """MirroredStrategy only over several GPUs: with none or one (faked here, whatever this machine has), the
    default strategy and one replica; on this machine, as many replicas as it has GPUs when it has several."""
    import tensorflow as tf

    from fashion_viz.training import distribution_strategy

    gpus = len(tf.config.list_logical_devices("GPU"))
    assert distribution_strategy().num_replicas_in_sync == (gpus if gpus > 1 else 1)
    for fake in ([], ["/gpu:0"]):
        monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None, fake=fake: list(fake) if kind == "GPU" else [])
        assert distribution_strategy().num_replicas_in_sync == 1
