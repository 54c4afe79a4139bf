"""Every layer's output for an image, from one compiled call.

A multi-output ``keras.Model`` over the served model's layers, wrapped in a
``tf.function`` with a fixed input signature: one trace, then about a
millisecond per image. Gradient-based explanations (saliency, Grad-CAM) can reuse
:meth:`ActivationExtractor.multi_output_model` under a ``GradientTape``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fashion_viz import IMAGE_SIZE
from fashion_viz.layer_guide import layer_kind
from fashion_viz.architecture import model_input


@dataclass(frozen=True)
class LayerOutput:
    """One layer's output for one image (batch axis removed)."""

    name: str
    kind: str
    values: np.ndarray  # (h, w, c) for spatial layers, (n,) for vectors

    @property
    def is_spatial(self) -> bool:
        return self.values.ndim == 3


@dataclass(frozen=True)
class Activations:
    """All layer outputs for one image, in layer order, and the class probabilities."""

    image: np.ndarray  # (28, 28) uint8, what the model saw
    layers: tuple[LayerOutput, ...]

    @property
    def probabilities(self) -> np.ndarray:
        return self.layers[-1].values

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.probabilities))

    def layer(self, name: str) -> LayerOutput:
        for output in self.layers:
            if output.name == name:
                return output
        raise KeyError(f"no layer named {name!r}; layers are {[o.name for o in self.layers]}")


class ActivationExtractor:
    """Compiled extractor of every layer's activations for a model (read-only use of the model)."""

    def __init__(self, model):
        import keras

        self.model = model
        self.layer_names = tuple(layer.name for layer in model.layers)
        self.layer_kinds = tuple(layer_kind(layer) for layer in model.layers)
        self.multi_output_model = keras.Model(model.inputs[0], [layer.output for layer in model.layers])
        self._compiled = None
        # TensorFlow's first call in a new thread costs ~50 ms, and Streamlit runs every rerun in a
        # new thread: so all calls go through one long-lived worker thread (2 ms a call once warm).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fashion-viz-activations")

    def _function(self):
        """The traced call, created on first use (tracing costs ~0.15 s, so not at start-up).

        Only the worker thread calls this, so no lock is needed.
        """
        if self._compiled is None:
            import tensorflow as tf

            multi = self.multi_output_model
            self._compiled = tf.function(
                lambda x: multi(x, training=False),
                input_signature=[tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)],
            )
        return self._compiled

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(out) for out in self._function()(batch)]

    def batch(self, images: np.ndarray) -> list[np.ndarray]:
        """Activations for a batch: one array per layer, each with the batch axis first."""
        return self._worker.submit(self._run, model_input(images)).result()

    def __call__(self, image: np.ndarray) -> Activations:
        """Activations for one 28x28 uint8 image."""
        outputs = self.batch(image)
        layers = tuple(
            LayerOutput(name, kind, out[0]) for name, kind, out in zip(self.layer_names, self.layer_kinds, outputs)
        )
        return Activations(image=np.asarray(image), layers=layers)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(n, 10) class probabilities, the same numbers the layer view shows."""
        return self.batch(images)[-1]


def conv_kernels(model, layer_name: str) -> np.ndarray:
    """The kernel of a Conv2D layer, (kh, kw, in_channels, filters)."""
    return np.asarray(model.get_layer(layer_name).get_weights()[0])
