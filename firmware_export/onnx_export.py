"""Edge decoder for the server: VQ-VAE decoder + frozen classifier T as one ONNX graph, and T
alone (the reference probabilities ``p = T(x)`` of Q_sem when the host evaluates).

``decoder_classifier.onnx``: ``z_hat`` [batch, N, D] float32 (zero rows where nothing was
received) -> ``x_hat`` [batch, *input_shape] and ``probs`` [batch, C]. ``classifier.onnx``:
``x`` [batch, *input_shape] -> ``probs`` [batch, C]. Converted by ``tf2onnx`` from a ``tf.function``
(Keras 3 models are not accepted by ``tf2onnx.convert.from_keras``), checked with
``onnx.checker``.
"""

from __future__ import annotations

from pathlib import Path

import keras

OPSET = 17


def export_decoder_classifier(decoder: keras.Model, classifier: keras.Model, path: Path) -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx

    n, d = decoder.inputs[0].shape[1:]
    spec = (tf.TensorSpec((None, n, d), tf.float32, name="z_hat"),)

    @tf.function(input_signature=spec)
    def edge(z_hat):
        x_hat = decoder(z_hat, training=False)
        probs = classifier(x_hat, training=False)
        return {"x_hat": tf.identity(x_hat, name="x_hat"), "probs": tf.identity(probs, "probs")}

    proto, _ = tf2onnx.convert.from_function(edge, input_signature=spec, opset=OPSET)
    onnx.checker.check_model(proto, full_check=True)
    path.write_bytes(proto.SerializeToString())


def export_classifier(classifier: keras.Model, path: Path) -> None:
    """The frozen classifier T alone: ``x`` [batch, *input_shape] -> ``probs``."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *classifier.inputs[0].shape[1:]), tf.float32, name="x"),)

    @tf.function(input_signature=spec)
    def classify(x):
        return {"probs": tf.identity(classifier(x, training=False), name="probs")}

    proto, _ = tf2onnx.convert.from_function(classify, input_signature=spec, opset=OPSET)
    onnx.checker.check_model(proto, full_check=True)
    path.write_bytes(proto.SerializeToString())
