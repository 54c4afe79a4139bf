"""One engine per model: the single forward pass under every view.

:class:`Engine` writes the model out once as TensorFlow operations over its own weights (read from the
Keras layers, checked against Keras in the tests) and compiles, with fixed signatures, what the views ask
of it: every layer's pre-activation and output, the logits and the probabilities, in one batched pass;
units switched off (a 0/1 mask per conv and hidden dense layer, for what-if and votes); dropout masks
drawn as in training (the Explorer's dropout panel, Monte-Carlo dropout); gradients of any logit
combination with respect to the input or to any layer's output (attribution, activation maximisation).

Every call runs on the engine's one long-lived worker thread: TensorFlow's first call in a new thread
costs about 50 ms, and Streamlit runs every rerun in a new thread. The pass over the test set that
Evaluate, Units and Map need is made once per engine and shared (:meth:`Engine.dataset_pass`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fashion_viz import CLASS_NAMES, IMAGE_SIZE
from fashion_viz.architecture import model_input
from fashion_viz.layer_guide import LayerInfo, describe_layers

BATCH = 2_000  # images per call for passes over many pictures


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
    logits: np.ndarray  # (10,) the output layer's pre-activation

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


@dataclass(frozen=True)
class DatasetPass:
    """What the views need from one pass over many pictures (the test set), eval mode.

    ``conv_max``/``conv_argmax``/``conv_active``: per conv layer, each channel's strongest value anywhere
    in its map (after ReLU), where (flat index into the map), and the share of positions above 0;
    ``dense``: each hidden dense layer's pre-activation; ``head_input``: the flattened vector the first
    dense layer reads.
    """

    probabilities: np.ndarray  # (n, 10)
    logits: np.ndarray  # (n, 10)
    conv_max: dict
    conv_argmax: dict
    conv_active: dict
    conv_width: dict  # conv layer -> its map's width (to turn a flat index into row, column)
    dense: dict
    head_input: np.ndarray  # (n, flat)


class Engine:
    """The compiled runner of one model (read-only use of the model)."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.infos: tuple[LayerInfo, ...] = tuple(describe_layers(model))
        self.names = tuple(info.name for info in self.infos)
        self.kinds = tuple(info.kind for info in self.infos)
        # Variables, not constants, so an engine of its own can be moved through a training's snapshots
        # (load_weights) without tracing its functions again.
        self.weights = {
            info.name: tuple(tf.Variable(np.asarray(w, np.float32), trainable=False) for w in model.layers[info.index].get_weights())
            for info in self.infos
            if info.kind in ("conv", "dense", "softmax")
        }
        # Units that can be switched off: every conv channel and every hidden dense unit.
        self.maskable = tuple(info.name for info in self.infos if info.kind in ("conv", "dense"))
        self.widths = {name: self.info(name).output_shape[-1] for name in self.maskable}
        self.dropouts = tuple(info.name for info in self.infos if info.kind == "dropout")
        self.conv_names = tuple(info.name for info in self.infos if info.kind == "conv")
        self.conv_strides = {name: int(model.layers[self.names.index(name)].strides[0]) for name in self.conv_names}
        self.dense_names = tuple(info.name for info in self.infos if info.kind == "dense")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fashion-viz-engine")
        self._compiled: dict = {}
        self._passes: dict = {}
        self._pass_lock = threading.Lock()

    # ------------------------------------------------------------ the one forward pass (traceable)

    def info(self, name: str) -> LayerInfo:
        return self.infos[self.names.index(name)]

    def trace(self, x, unit_masks: dict | None = None, dropout: dict | None = None) -> dict:
        """The forward pass as TensorFlow operations, for use inside a ``tf.function`` or a ``GradientTape``.

        Args:
            x: (n, 28, 28, 1) float32 in [0, 1].
            unit_masks: layer name -> (width,) 0/1 multiplier of that layer's output (units switched off).
            dropout: dropout layer name -> (n, *shape) multiplier drawn as training draws it (kept / (1 - rate)).

        Returns:
            ``outputs`` (every layer's output, in order), ``pre`` (conv and dense layers' pre-activations by
            name; the output layer's is the logits) and ``logits``.
        """
        import tensorflow as tf

        unit_masks, dropout = unit_masks or {}, dropout or {}
        outputs, pre = [], {}
        for info in self.infos:
            kind, name = info.kind, info.name
            if kind == "conv":
                kernel, bias = self.weights[name]
                pre[name] = tf.nn.conv2d(x, kernel, self.conv_strides[name], "VALID") + bias
                x = tf.nn.relu(pre[name])
            elif kind in ("dense", "softmax"):
                kernel, bias = self.weights[name]
                pre[name] = tf.matmul(x, kernel) + bias
                x = tf.nn.relu(pre[name]) if kind == "dense" else tf.nn.softmax(pre[name])
            elif kind == "pool":
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            elif kind == "flatten":
                x = tf.reshape(x, (tf.shape(x)[0], -1))
            elif kind == "dropout" and name in dropout:
                x = x * dropout[name]
            if name in unit_masks:
                x = x * unit_masks[name]
            outputs.append(x)
        return {"outputs": outputs, "pre": pre, "logits": pre[self.names[-1]]}

    # ------------------------------------------------------------ compiled calls

    def _image_spec(self):
        import tensorflow as tf

        return tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)

    def _mask_specs(self) -> list:
        import tensorflow as tf

        return [tf.TensorSpec((self.widths[n],), tf.float32) for n in self.maskable]

    def _function(self, key: str):
        """A compiled function, traced on first use (only the worker thread calls this: no lock needed)."""
        if key in self._compiled:
            return self._compiled[key]
        import tensorflow as tf

        direction = tf.TensorSpec((len(CLASS_NAMES),), tf.float32)
        masks_of = lambda masks: dict(zip(self.maskable, masks))  # noqa: E731
        if key == "forward":

            def forward(x, *masks):
                out = self.trace(x, masks_of(masks))
                return (*out["outputs"], out["logits"])

            function = tf.function(forward, input_signature=[self._image_spec(), *self._mask_specs()])
        elif key == "predict":

            def predict(x, *masks):  # only what a prediction needs: no layer's output leaves the graph
                out = self.trace(x, masks_of(masks))
                return out["logits"], out["outputs"][-1]

            function = tf.function(predict, input_signature=[self._image_spec(), *self._mask_specs()])
        elif key == "gradients":

            def gradients(x, direction, *masks):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    score = tf.linalg.matvec(self.trace(x, masks_of(masks))["logits"], direction)
                return score, tape.gradient(score, x)

            function = tf.function(gradients, input_signature=[self._image_spec(), direction, *self._mask_specs()])
        elif key == "loss_gradients":

            def loss_gradients(x, labels):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    logits = self.trace(x)["logits"]
                    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
                return loss, tf.nn.softmax(logits), tape.gradient(loss, x)

            function = tf.function(loss_gradients, input_signature=[self._image_spec(), tf.TensorSpec((None,), tf.int32)])
        elif key.startswith("layer_gradients:"):
            index = self.names.index(key.split(":", 1)[1])

            def layer_gradients(x, direction, *masks):
                with tf.GradientTape() as tape:
                    tape.watch(x)  # the weights are not trainable variables: watching the input records every operation after it
                    out = self.trace(x, masks_of(masks))
                    feature = out["outputs"][index]
                    score = tf.linalg.matvec(out["logits"], direction)
                return score, feature, tape.gradient(score, feature)

            function = tf.function(layer_gradients, input_signature=[self._image_spec(), direction, *self._mask_specs()])
        elif key.startswith("layer:"):
            index = self.names.index(key.split(":", 1)[1])

            def layer_output(x):  # one layer's output, flattened: nothing else leaves the graph
                out = self.trace(x)["outputs"][index]
                return (tf.reshape(out, (tf.shape(out)[0], -1)),)

            function = tf.function(layer_output, input_signature=[self._image_spec()])
        elif key == "dropout":
            specs = [tf.TensorSpec((None, *self.info(n).output_shape), tf.float32) for n in self.dropouts]

            def with_dropout(x, *multipliers):
                return (tf.nn.softmax(self.trace(x, dropout=dict(zip(self.dropouts, multipliers)))["logits"]),)

            function = tf.function(with_dropout, input_signature=[self._image_spec(), *specs])
        elif key == "dataset":
            function = tf.function(self._reduced_pass, input_signature=[self._image_spec()])
        else:
            raise KeyError(key)
        self._compiled[key] = function
        return function

    def _call(self, key: str, *args) -> tuple[np.ndarray, ...]:
        """Run a compiled function on the worker thread; NumPy arrays back."""

        def run():
            out = self._function(key)(*args)
            return {k: np.asarray(v) for k, v in out.items()} if isinstance(out, dict) else tuple(np.asarray(v) for v in out)

        return self._worker.submit(run).result()

    def load_weights(self, weights: list[np.ndarray]) -> None:
        """Take other weights of the same architecture (as ``model.get_weights()`` orders them).

        Only for an engine of its own (the replay's, stepping through snapshots): an engine serving the app is
        shared by every session. The shared pass over the test set is forgotten.
        """
        variables = [v for name in self.names if name in self.weights for v in self.weights[name]]
        if len(variables) != len(weights):
            raise ValueError(f"expected {len(variables)} weight arrays, got {len(weights)}")

        def assign():
            for variable, value in zip(variables, weights):
                variable.assign(np.asarray(value, np.float32))

        self._worker.submit(assign).result()
        with self._pass_lock:
            self._passes.clear()

    def close(self) -> None:
        """Stop the worker thread (an engine built for one measurement, not kept for serving)."""
        self._worker.shutdown(wait=True)

    def unit_masks(self, off: dict[str, list[int]] | None = None) -> list[np.ndarray]:
        """Per maskable layer, 1 for every unit except those switched off (``{layer: [unit, ...]}``)."""
        unknown = set(off or {}) - set(self.maskable)
        if unknown:
            raise ValueError(f"units can be switched off in {', '.join(self.maskable)}, not in {', '.join(sorted(unknown))}")
        masks = []
        for name in self.maskable:
            mask = np.ones(self.widths[name], np.float32)
            for unit in (off or {}).get(name, []):
                mask[int(unit)] = 0.0
            masks.append(mask)
        return masks

    # ------------------------------------------------------------ what the views ask

    def forward(self, inputs: np.ndarray, off: dict | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """(every layer's output, logits) for a batch of model inputs (n, 28, 28, 1) in [0, 1]."""
        *outputs, logits = self._call("forward", np.asarray(inputs, np.float32), *self.unit_masks(off))
        return outputs, logits

    def activations(self, image: np.ndarray, off: dict | None = None) -> Activations:
        """Every layer's output for one 28x28 uint8 image."""
        outputs, logits = self.forward(model_input(image), off)
        layers = tuple(LayerOutput(name, kind, out[0]) for name, kind, out in zip(self.names, self.kinds, outputs))
        return Activations(image=np.asarray(image), layers=layers, logits=logits[0])

    def predict(self, inputs: np.ndarray, off: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities) for a batch of model inputs (n, 28, 28, 1) in [0, 1]."""
        return self._call("predict", np.asarray(inputs, np.float32), *self.unit_masks(off))

    def probabilities(self, images: np.ndarray, off: dict | None = None) -> np.ndarray:
        """(n, 10) class probabilities for uint8 pictures (n, 28, 28) or one (28, 28), in batches of :data:`BATCH`."""
        images = np.asarray(images)
        images = images[None] if images.ndim == 2 else images
        parts = [self.predict(model_input(images[i : i + BATCH]), off)[1] for i in range(0, len(images), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, len(CLASS_NAMES)), np.float32)

    def layer_features(self, images: np.ndarray, layer: str) -> np.ndarray:
        """(n, values) float32: one layer's output, flattened, for uint8 pictures (n, 28, 28), in batches."""
        parts = [self._call(f"layer:{layer}", model_input(images[i : i + BATCH]))[0] for i in range(0, len(images), BATCH)]
        return np.concatenate(parts)

    def gradients(self, inputs: np.ndarray, direction: np.ndarray, off: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(score, d score / d input) per input, where score = logits · direction."""
        score, grad = self._call("gradients", np.asarray(inputs, np.float32), np.asarray(direction, np.float32), *self.unit_masks(off))
        return score, grad[..., 0]

    def loss_gradients(self, inputs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cross-entropy of each input's label, probabilities, d loss / d input) for model inputs (n, 28, 28, 1)."""
        loss, probabilities, grad = self._call("loss_gradients", np.asarray(inputs, np.float32), np.asarray(labels, np.int32))
        return loss, probabilities, grad[..., 0]

    def layer_gradients(self, inputs: np.ndarray, direction: np.ndarray, layer: str, off: dict | None = None):
        """(score, the layer's output, d score / d that output) per input."""
        return self._call(f"layer_gradients:{layer}", np.asarray(inputs, np.float32), np.asarray(direction, np.float32), *self.unit_masks(off))

    def with_dropout(self, image: np.ndarray, keep: dict[str, np.ndarray]) -> np.ndarray:
        """(n, 10) probabilities when the named dropout layers drop what ``keep`` says (training mode: dropped
        units 0, survivors x 1 / (1 - rate)); the others pass through. ``keep``: layer -> (n, *shape) bool."""
        n = len(next(iter(keep.values())))
        multipliers = []
        for name in self.dropouts:
            shape = self.info(name).output_shape
            if name in keep:
                rate = float(self.model.layers[self.names.index(name)].rate)
                multipliers.append(np.asarray(keep[name], np.float32).reshape(n, *shape) / (1.0 - rate))
            else:
                multipliers.append(np.ones((n, *shape), np.float32))
        x = np.repeat(model_input(image), n, axis=0)
        return self._call("dropout", x, *multipliers)[0]

    def kernels(self, layer: str) -> np.ndarray:
        """A conv layer's kernel (kh, kw, in_channels, filters) or a dense layer's (inputs, units)."""
        return np.asarray(self.weights[layer][0])

    def biases(self, layer: str) -> np.ndarray:
        return np.asarray(self.weights[layer][1])

    # ------------------------------------------------------------ the pass over the test set

    def _reduced_pass(self, x):
        import tensorflow as tf

        out = self.trace(x)
        result = {"probabilities": out["outputs"][-1], "logits": out["logits"]}
        for name in self.conv_names:
            maps = out["outputs"][self.names.index(name)]
            shape = tf.shape(maps)
            flat_maps = tf.reshape(maps, (shape[0], shape[1] * shape[2], shape[3]))
            result[f"max:{name}"] = tf.reduce_max(flat_maps, axis=1)
            result[f"argmax:{name}"] = tf.argmax(flat_maps, axis=1, output_type=tf.int32)
            result[f"active:{name}"] = tf.reduce_mean(tf.cast(flat_maps > 0, tf.float32), axis=1)
        for name in self.dense_names:
            result[f"dense:{name}"] = out["pre"][name]
        result["head_input"] = out["outputs"][self.kinds.index("flatten")]
        return result

    def dataset_pass(self, images: np.ndarray, batch_size: int = 500) -> DatasetPass:
        """One pass over many uint8 pictures (the test set), made once per engine and array, then shared."""
        key = (id(images), len(images))
        with self._pass_lock:
            cached = self._passes.get(key)
            if cached is not None and cached[0] is images:
                return cached[1]
            parts: dict[str, list] = {}
            for start in range(0, len(images), batch_size):
                for name, value in self._call("dataset", model_input(images[start : start + batch_size])).items():
                    parts.setdefault(name, []).append(value)
            joined = {name: np.concatenate(values) for name, values in parts.items()}
            result = DatasetPass(
                probabilities=joined["probabilities"],
                logits=joined["logits"],
                conv_max={n: joined[f"max:{n}"] for n in self.conv_names},
                conv_argmax={n: joined[f"argmax:{n}"] for n in self.conv_names},
                conv_active={n: joined[f"active:{n}"] for n in self.conv_names},
                conv_width={n: self.info(n).output_shape[1] for n in self.conv_names},
                dense={n: joined[f"dense:{n}"] for n in self.dense_names},
                head_input=joined["head_input"],
            )
            for array in (result.probabilities, result.logits, result.head_input):
                array.flags.writeable = False
            self._passes[key] = (images, result)
            return result
