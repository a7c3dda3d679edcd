"""Keras encoder + SCI -> TFLite flatbuffers (float and full-integer int8), batch 1.

The int8 model is converted by ``tf.lite.TFLiteConverter`` with a representative data set drawn
from the training split, ``inference_input_type = inference_output_type = int8`` and only
``TFLITE_BUILTINS_INT8`` ops, so the node never touches a float. The batch dimension is fixed to 1
(one sensor sample per inference) so the graph holds no dynamic-shape ops.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np


def deployable(model: keras.Model) -> keras.Model:
    """The encoder + SCI behind a batch-1 input with three outputs ``(z, sci_logit, sci)``.

    The SCI head's last Dense is split into a linear Dense (the logit, an output of its own) and
    a sigmoid, so the int8 node can rank concepts on the logit: the int8 sigmoid output has the
    fixed scale 1/256 and saturates (about half of the MNIST SCI scores quantize to 127), which
    would turn top-K into ties broken by slot index. The sigmoid is monotonic, so the float order
    is unchanged (docs/bundle.md).
    """
    sci_layer = model.get_layer("sci")
    base = keras.Model(model.inputs, [model.get_layer("z").output, sci_layer.input])
    x = keras.Input(batch_shape=(1, *model.inputs[0].shape[1:]), name="x")
    z, h = base(x)
    logit_layer = keras.layers.Dense(sci_layer.units, name="sci_logit")
    logit_layer.build(h.shape)
    logit_layer.set_weights(sci_layer.get_weights())
    logit = logit_layer(h)
    sci = keras.layers.Activation("sigmoid", name="sci_prob")(logit)
    return keras.Model(x, [z, logit, sci], name=f"{model.name}_deploy")


def representative_samples(x_train: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` calibration samples drawn without replacement from the training split, plus an
    all-zero and an all-one sample so the input range is exactly [0, 1] (scale 1/255, zp -128)."""
    if n < 1:
        raise ValueError(f"calibration set size must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x_train), size=min(n, len(x_train)), replace=False)
    shape = x_train.shape[1:]
    extremes = np.stack([np.zeros(shape, np.float32), np.ones(shape, np.float32)])
    return np.concatenate([extremes, x_train[np.sort(pick)].astype(np.float32)])


#: Integer activation widths the exporter converts to: TFLite's full-integer int8, or 16x8
#: (int16 activations with zero point 0, int8 weights, int64 biases; docs/bundle.md "16x8").
ACTIVATIONS = ("int8", "int16")


def to_tflite(model: keras.Model, calibration: np.ndarray | None = None,
              activations: str = "int8") -> bytes:
    """Convert ``model`` (x -> (z, sci)) as :func:`deployable` (x -> (z, sci_logit, sci)); full
    integer when ``calibration`` [n, *shape] is given, with ``activations`` int8 or int16."""
    import tensorflow as tf

    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")

    converter = tf.lite.TFLiteConverter.from_keras_model(deployable(model))
    if calibration is not None:
        def dataset() -> Iterator[list[np.ndarray]]:
            for sample in calibration:
                yield [sample[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        if activations == "int16":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
    return bytes(converter.convert())
