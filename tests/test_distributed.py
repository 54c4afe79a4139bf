"""Training runs under a tf.distribute strategy; MirroredStrategy over two logical CPUs learns."""

import subprocess
import sys

from conftest import ROOT

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


def test_default_strategy_without_gpus():
    from fashion_viz.training import distribution_strategy

    assert distribution_strategy().num_replicas_in_sync == 1
