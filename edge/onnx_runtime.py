"""ONNX Runtime sessions of the edge graphs a bundle carries (written by
:mod:`firmware_export.onnx_export`): ``decoder_classifier.onnx`` (``z_hat -> (x_hat, probs)``) and
``classifier.onnx`` (``x -> probs``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def onnx_session(path: str | Path):
    """A quiet CPU ``onnxruntime.InferenceSession`` of ``path``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxEdge:
    """``onnxruntime`` session of ``decoder_classifier.onnx``: ``z_hat -> (x_hat, probs)``."""

    def __init__(self, path: str | Path) -> None:
        self.session = onnx_session(path)
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        self._order = [next(n for n in names if "x_hat" in n), next(n for n in names
                                                                   if "probs" in n)]

    def __call__(self, z_hat: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
        xs, ps = [], []
        for i in range(0, len(z_hat), batch):
            x, p = self.session.run(self._order, {self.input_name: z_hat[i:i + batch]
                                                  .astype(np.float32)})
            xs.append(x)
            ps.append(p)
        return np.concatenate(xs), np.concatenate(ps)


class OnnxClassifier:
    """``onnxruntime`` session of ``classifier.onnx``: ``x [n, *shape] -> probs [n, C]``."""

    def __init__(self, path: str | Path, input_shape: tuple[int, ...]) -> None:
        self.session = onnx_session(path)
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(input_shape)

    def __call__(self, x: np.ndarray, batch: int = 500) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(len(x), *self.input_shape)
        if not len(x):
            return np.zeros((0, 0), np.float32)
        return np.concatenate([self.session.run(None, {self.input_name: x[i:i + batch]})[0]
                               for i in range(0, len(x), batch)])
