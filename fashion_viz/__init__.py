"""fashion-viz: open up a small Keras CNN trained on Fashion-MNIST.

The package holds the compute (data, model, training, activations, figures) and
never imports streamlit; the app's pages only wire widgets to these functions.
"""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU feature notes) is noise for our users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SIZE = 28

__version__ = "0.1.0"
