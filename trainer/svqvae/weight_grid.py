"""Training on the node's int8 weight grid (opt-in phase 3; docs/models.md "Weight grid").

The node stores each encoder Dense kernel ``W [in, out]`` as TFLite's per-channel symmetric int8:
``s_c = max_i |W[i, c]| / 127``, ``q = round(W / s_c)`` (half away from zero). Whatever the
activation format, a node whose weights are rounded this way cannot agree with the float model
better than the model with only its weights rounded (``precision_study``'s ``float-act`` row).
Phase 3 removes that loss by training the float model *on* the grid: a straight-through
estimator (STE) keeps latent float kernels ``W``, runs each batch with ``grid(W)`` and applies
the gradient taken there to ``W``; at the end the kernels are ``grid(W)``, so the float model
and the bundle hold the same weights.
"""

from __future__ import annotations

import keras
import numpy as np


def int8_grid(w: np.ndarray) -> np.ndarray:
    """``s_c · round(W / s_c)`` with ``s_c = max_i |W[i, c]| / 127`` per output channel ``c``
    (the last axis), rounding half away from zero; an all-zero channel stays zero."""
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max(axis=0) / 127.0
    safe = np.where(scale > 0, scale, 1.0)
    q = np.sign(w) * np.floor(np.abs(w) / safe + 0.5)
    return (q * safe).astype(np.float32)


def node_kernels(encoder: keras.Model) -> list:
    """The kernel variables of the encoder's Dense layers: trunk, z head and SCI head, which are
    exactly the layers the node runs (``build_encoder_sci``)."""
    return [layer.kernel for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]


class WeightGridSTE(keras.callbacks.Callback):
    """STE on the int8 grid for ``kernels``: before each batch the variables hold ``grid(W)``;
    after it, ``W ← W + (v − grid(W))`` where ``v`` is what the optimizer left (so ``W`` takes
    the update computed at ``grid(W)``); at the end of training the variables hold ``grid(W)``."""

    def __init__(self, kernels: list) -> None:
        super().__init__()
        if not kernels:
            raise ValueError("no kernels to put on the int8 grid: the encoder has no Dense layer")
        self.kernels = kernels
        self.latent = [np.asarray(keras.ops.convert_to_numpy(k), np.float32) for k in kernels]
        self.snapped: list[np.ndarray] = []

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self.snapped = [int8_grid(w) for w in self.latent]
        for var, g in zip(self.kernels, self.snapped, strict=True):
            var.assign(g)

    def on_train_batch_end(self, batch, logs=None) -> None:
        for i, (var, g) in enumerate(zip(self.kernels, self.snapped, strict=True)):
            self.latent[i] = self.latent[i] + (np.asarray(keras.ops.convert_to_numpy(var)) - g)

    def on_train_end(self, logs=None) -> None:
        for var, w in zip(self.kernels, self.latent, strict=True):
            var.assign(int8_grid(w))
