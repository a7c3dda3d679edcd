r"""ISFR's codec and its training graph (Sections II-III of the ISFR paper), in Keras.

* ``encoder``: x -> Y, N channel-wise features of L elements each, stored ``[N, L]`` (eq. 1;
  an MLP of the S-VQ-VAE family instead of the paper's CNN, docs/schemes.md);
* :class:`ScalarQuantizer`: the learnable scalar quantiser of eq. (3),
  :math:`g_q(y) = \Delta_0 + \sum_{t=1}^{2^{N_b}-1} (\Delta_t - \Delta_{t-1})
  \sigma(T(y - \Delta_t))`, soft in training with the annealed temperature T, hard (its
  :math:`T\to\infty` limit) at inference;
* ``decoder``: :math:`\hat Z` [N, L] (zero rows for features not received) -> :math:`\hat X`;
* :class:`IsfrTrainer`: stage 1 (analog features + nested dropout, eqs. 13-15) and stage 2
  (quantiser + BER-matched binary symmetric channel, eqs. 11-12, + nested dropout), loss
  eq. (16) (MSE) plus, under ``loss="task"``, :math:`\lambda_{sem}\,CE(T(\hat X), y)`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def build_encoder(input_shape: tuple[int, ...], n_features: int, length: int,
                  hidden: tuple[int, ...] = (512, 256)) -> keras.Model:
    """``x`` [batch, *input_shape] -> ``y`` [batch, N, L] (linear output, eq. 1)."""
    x = keras.Input(shape=input_shape, name="x")
    h = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"enc_dense{i}")(h)
    y = keras.layers.Dense(n_features * length, name="enc_features")(h)
    y = keras.layers.Reshape((n_features, length), name="y")(y)
    return keras.Model(x, y, name="encoder")


def build_decoder(output_shape: tuple[int, ...], n_features: int, length: int,
                  hidden: tuple[int, ...] = (512, 256)) -> keras.Model:
    """``z_hat`` [batch, N, L] -> ``x_hat`` in [0, 1] of ``output_shape``."""
    z = keras.Input(shape=(n_features, length), name="z_hat")
    h = keras.layers.Flatten()(z)
    for i, units in enumerate(reversed(hidden)):
        h = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i}")(h)
    out = keras.layers.Dense(math.prod(output_shape), activation="sigmoid", name="dec_out")(h)
    out = keras.layers.Reshape(output_shape, name="x_hat")(out)
    return keras.Model(z, out, name="decoder")


def level_labels(quant_bits: int, kind: str) -> np.ndarray:
    """g_ad (eq. 4): the N_b-bit label of each level index, Gray (``t ^ (t >> 1)``: adjacent
    levels differ in one bit) or natural binary."""
    t = np.arange(1 << quant_bits, dtype=np.int64)
    if kind == "gray":
        return t ^ (t >> 1)
    if kind == "binary":
        return t
    raise ValueError(f"unknown level labelling {kind!r}; allowed: gray, binary")


def hard_indices(y: np.ndarray, levels: np.ndarray) -> np.ndarray:
    r"""Level index of each element, the :math:`T\to\infty` limit of eq. (3): the number of
    levels :math:`\Delta_t, t \ge 1` that y exceeds."""
    return np.sum(np.asarray(y)[..., None] > np.asarray(levels)[1:], axis=-1).astype(np.int64)


class ScalarQuantizer(keras.layers.Layer):
    r"""Learnable scalar quantiser, eq. (3). The levels are kept ordered (our choice): the
    layer learns :math:`\Delta_0` and softplus increments, so the hard index is the number of
    levels exceeded. Initial levels evenly spaced over [-1.5, 1.5]."""

    def __init__(self, quant_bits: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_levels = 1 << int(quant_bits)
        init = np.linspace(-1.5, 1.5, self.n_levels)
        steps = np.diff(init)
        self.first = self.add_weight(shape=(), initializer=keras.initializers.Constant(init[0]),
                                     name="delta0")
        # softplus^-1(step)
        self.raw_steps = self.add_weight(
            shape=(self.n_levels - 1,), name="raw_steps",
            initializer=keras.initializers.Constant(np.log(np.expm1(steps))))

    def levels(self):
        steps = ops.softplus(self.raw_steps)
        return ops.concatenate([ops.reshape(self.first, (1,)),
                                self.first + ops.cumsum(steps)])

    def soft(self, y, temperature):
        """Eq. (3) at temperature T (differentiable in y and in the levels)."""
        lv = self.levels()
        steps = lv[1:] - lv[:-1]
        return lv[0] + ops.sum(steps * ops.sigmoid(temperature * (y[..., None] - lv[1:])), -1)

    def hard_index(self, y):
        lv = self.levels()
        return ops.sum(ops.cast(y[..., None] > lv[1:], "int32"), -1)


class IsfrTrainer(keras.Model):
    """Training graph: encoder -> [stage 2: quantiser -> BER-matched BSC] -> nested dropout ->
    decoder -> frozen T. Outputs ``{"x_hat", "probs"}``; compile with MSE on ``x_hat`` and a
    sparse cross-entropy on ``probs`` weighted 0 (``loss="paper"``) or lambda_sem (``"task"``).

    ``digital`` (a Python flag; recompile after changing it) selects stage 2. Inference
    (``training=False``) uses the hard quantiser and no channel or dropout.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, classifier: keras.Model,
                 quantizer: ScalarQuantizer, labels: np.ndarray, ber_max: float,
                 nested_dropout: bool = True, ber_matching: bool = True,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        self.classifier = classifier
        self.classifier.trainable = False
        self.ber_max = float(ber_max)
        self.nested_dropout, self.ber_matching = nested_dropout, ber_matching
        self.digital = False
        self._labels = np.asarray(labels, np.int32)
        self._inverse = np.argsort(self._labels).astype(np.int32)
        self._seed = keras.random.SeedGenerator(seed)
        self.temperature = self.add_weight(shape=(), initializer="ones", trainable=False,
                                           name="temperature")

    def bsc(self, idx, n_feat: int):
        r"""Eqs. (11)-(12): per sample, N BERs drawn from U(0, BER_max) and sorted ascending,
        the j-th applied to every bit of feature j (our choice: drawn per sample)."""
        batch = ops.shape(idx)[0]
        ber = ops.sort(keras.random.uniform((batch, n_feat), 0.0, self.ber_max,
                                            seed=self._seed), axis=-1)
        label = ops.take(ops.convert_to_tensor(self._labels), idx)
        mask = ops.zeros_like(label)
        for b in range(int(np.log2(len(self._labels)))):
            u = keras.random.uniform(ops.shape(label), seed=self._seed)
            mask = mask + ops.cast(u < ber[:, :, None], "int32") * (1 << b)
        return ops.take(ops.convert_to_tensor(self._inverse), ops.bitwise_xor(label, mask))

    def call(self, x, training=False):
        y = self.encoder(x, training=training)
        n_feat = y.shape[1]
        z = y
        if self.digital:
            idx = self.quantizer.hard_index(y)
            levels = self.quantizer.levels()
            if training:
                z = self.quantizer.soft(y, self.temperature)
                if self.ber_matching and self.ber_max > 0:
                    flipped = self.bsc(idx, n_feat)
                    z = z + ops.stop_gradient(ops.take(levels, flipped) - ops.take(levels, idx))
            else:
                z = ops.take(levels, idx)
        if training and self.nested_dropout:
            # Eqs. (13)-(15): n_nd ~ U{1..N}, keep the first n_nd features.
            keep = keras.random.randint((ops.shape(y)[0], 1), 1, n_feat + 1, seed=self._seed)
            mask = ops.cast(ops.arange(n_feat)[None, :] < keep, z.dtype)
            z = z * mask[:, :, None]
        x_hat = self.decoder(z, training=training)
        return {"x_hat": x_hat, "probs": self.classifier(x_hat, training=False)}
