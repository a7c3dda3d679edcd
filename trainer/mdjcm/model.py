r"""MDJCM networks and differentiable processes (TensorFlow backend), scaled to MLPs.

Pieces (paper Fig. 1(b), Fig. 3, Section II):

* analysis / synthesis transforms :math:`y = g_a(x)`, :math:`\tilde x = g_s(\tilde y)`;
* hyperprior :math:`z = h_a(y)`, :math:`(\mu, \sigma) = h_s(\tilde z)`, the Gaussian conditional
  eq. (3)-(4) and the non-parametric factorized density of :math:`\tilde z`, eq. (5) (Ballé et
  al.'s univariate CDF network);
* the JSC encoder :math:`s = f_a(y; \gamma, M)` with the two-step (hierarchical) cut of
  Section IV.B (masks eq. (19)) and the SNR / modulation-order conditional modules (SCM, MCM,
  Section IV.C: the feature times softplus of an MLP of the SNR plus a linear map of the
  one-hot order);
* the receiver: a residual denoiser ("turbo decoder", Fig. 5) before the JSC decoder
  :math:`y_{MD} = f_s(\bar s; \gamma, M)`, then :math:`\hat x_{MD} = g_s(y_{MD})`;
* the channel processes: the substitution process (10) :math:`s + u_1 \to` channel
  :math:`\to + u_2`, :math:`u \sim \mathcal U(-d, d)` per rail, and the hard process (9) with
  straight-through gradients.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from semqam.units import noise_variance
from trainer.mdjcm.config import Config
from trainer.mdjcm.modulation import ORDERS, half_distance

_LIKELIHOOD_FLOOR = 1e-9


@keras.saving.register_keras_serializable(package="mdjcm")
class FactorizedDensity(keras.layers.Layer):
    r"""Eq. (5): per-channel non-parametric density convolved with :math:`\mathcal U(-\frac12,
    \frac12)`: :math:`P(\tilde z_c) = c_c(\tilde z_c+\frac12) - c_c(\tilde z_c-\frac12)` with
    :math:`c_c` a monotone CDF network (softplus matrices, tanh gates)."""

    def __init__(self, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters, self.init_scale = tuple(filters), float(init_scale)

    def build(self, input_shape) -> None:
        channels = int(input_shape[-1])
        dims = (1, *self.filters, 1)
        scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
        self._h, self._b, self._a = [], [], []
        for k in range(len(dims) - 1):
            init = math.log(math.expm1(1.0 / scale / dims[k + 1]))
            self._h.append(self.add_weight(
                shape=(channels, dims[k + 1], dims[k]), name=f"h{k}",
                initializer=keras.initializers.Constant(init)))
            self._b.append(self.add_weight(
                shape=(channels, dims[k + 1], 1), name=f"b{k}",
                initializer=keras.initializers.RandomUniform(-0.5, 0.5)))
            if k < len(dims) - 2:
                self._a.append(self.add_weight(shape=(channels, dims[k + 1], 1), name=f"a{k}",
                                               initializer="zeros"))

    def _logits(self, x):
        f = tf.transpose(x)[:, None, :]  # [C, 1, B]
        for k, (h, b) in enumerate(zip(self._h, self._b, strict=True)):
            f = tf.matmul(tf.nn.softplus(h), f) + b
            if k < len(self._a):
                f = f + tf.tanh(self._a[k]) * tf.tanh(f)
        return f

    def call(self, z):
        lo, up = self._logits(z - 0.5), self._logits(z + 0.5)
        sign = tf.stop_gradient(-tf.sign(lo + up))
        lik = tf.abs(tf.sigmoid(sign * up) - tf.sigmoid(sign * lo))
        return tf.transpose(lik[:, 0, :])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": list(self.filters),
                "init_scale": self.init_scale}


def gaussian_likelihood(y, mu, sigma):
    r"""Eq. (3): :math:`P(\tilde y|\tilde z) = \Phi(\frac{\frac12-|y-\mu|}{\sigma}) -
    \Phi(\frac{-\frac12-|y-\mu|}{\sigma})` (the symmetric form, stable in the tails)."""
    v = tf.abs(y - mu)
    phi = lambda t: 0.5 * tf.math.erfc(-t / math.sqrt(2.0))  # noqa: E731
    return phi((0.5 - v) / sigma) - phi((-0.5 - v) / sigma)


def _cond(h, snr, onehot, name: str):
    """SCM + MCM (Section IV.C): ``h * softplus(MLP(snr) + W onehot(M))``."""
    width = int(h.shape[-1])
    a = keras.layers.Dense(32, activation="relu", name=f"{name}_scm0")(snr)
    g = keras.layers.Add(name=f"{name}_add")([
        keras.layers.Dense(width, name=f"{name}_scm1")(a),
        keras.layers.Dense(width, use_bias=False, name=f"{name}_mcm")(onehot)])
    return keras.layers.Multiply(name=f"{name}_mul")(
        [h, keras.layers.Activation("softplus", name=f"{name}_sp")(g)])


class Networks:
    """Every sub-network of one MDJCM model (built from :class:`Config` and the input shape)."""

    TRANSMITTER = ("g_a", "h_a", "h_s", "density", "f_e")
    RECEIVER = ("f_d", "g_s")

    def __init__(self, cfg: Config, input_shape: tuple[int, ...], k_max: int) -> None:
        self.cfg, self.input_shape, self.k_max = cfg, tuple(input_shape), int(k_max)
        n_x = int(np.prod(input_shape))
        n_vec, c, h, nz = cfg.n_vectors, cfg.latent_dim, cfg.hidden, cfg.hyper_dim
        n_y, n_s = n_vec * c, n_vec * self.k_max * 2
        D = keras.layers.Dense  # noqa: N806

        x = keras.Input(input_shape, name="x")
        t = D(h, activation="relu")(keras.layers.Flatten()(x))
        self.g_a = keras.Model(x, D(n_y)(D(h, activation="relu")(t)), name="g_a")

        y = keras.Input((n_y,), name="y")
        self.h_a = keras.Model(y, D(nz)(D(64, activation="relu")(y)), name="h_a")
        zin = keras.Input((nz,), name="z")
        u = D(64, activation="relu")(zin)
        sigma = keras.layers.Lambda(lambda v: tf.nn.softplus(v) + 0.11)(D(n_y)(u))
        self.h_s = keras.Model(zin, [D(n_y)(u), sigma], name="h_s")
        self.density = keras.Model(zin, FactorizedDensity(name="fd")(zin), name="density")

        yy = keras.Input((n_y,), name="y_in")
        rate = keras.Input((n_vec,), name="rate")
        snr = keras.Input((1,), name="snr")
        oh = keras.Input((len(ORDERS),), name="order")
        m1 = keras.Input((n_s,), name="mask1")
        m2 = keras.Input((n_s,), name="mask2")
        e = D(h, activation="relu")(keras.layers.Concatenate()([yy, rate]))
        e = _cond(e, snr, oh, "enc1")
        e = keras.layers.Multiply()([D(n_s)(e), m1])  # first cut k^1 (eta_1)
        e = D(h, activation="relu")(keras.layers.Concatenate()([e, m1]))
        e = _cond(e, snr, oh, "enc2")
        s = keras.layers.Multiply()([D(n_s)(e), m2])  # final cut k^2 (eta_2)
        self.f_e = keras.Model([yy, rate, snr, oh, m1, m2], s, name="f_e")

        r = keras.Input((n_s,), name="received")
        rm = keras.Input((n_s,), name="mask")
        rs = keras.Input((1,), name="snr_rx")
        ro = keras.Input((len(ORDERS),), name="order_rx")
        v = r
        for b in range(cfg.denoiser_blocks):  # residual denoiser before the decoder (Fig. 5)
            w = D(h, activation="relu", name=f"dn{b}_0")(keras.layers.Concatenate()([v, rm, rs]))
            v = keras.layers.Multiply()([keras.layers.Add()([v, D(n_s, name=f"dn{b}_1")(w)]), rm])
        d = D(h, activation="relu")(keras.layers.Concatenate()([v, rm]))
        d = _cond(d, rs, ro, "dec")
        self.f_d = keras.Model([r, rm, rs, ro], D(n_y)(D(h, activation="relu")(d)), name="f_d")

        yi = keras.Input((n_y,), name="y_hat")
        out = D(n_x, activation="sigmoid")(D(h, activation="relu")(D(h, activation="relu")(yi)))
        self.g_s = keras.Model(yi, keras.layers.Reshape(input_shape)(out), name="g_s")

    def models(self) -> dict[str, keras.Model]:
        return {n: getattr(self, n) for n in (*self.TRANSMITTER, *self.RECEIVER)}

    def variables(self, names) -> list:
        return [v for n in names for v in getattr(self, n).trainable_variables]

    def save(self, folder) -> None:
        for name, model in self.models().items():
            model.save_weights(str(folder / f"{name}.weights.h5"))

    def load(self, folder) -> None:
        for name, model in self.models().items():
            model.load_weights(str(folder / f"{name}.weights.h5"))

    # -- the source coder -------------------------------------------------------------------

    def source(self, x, noisy: bool):
        r"""``(y, y_q, bits_y [B, n_y], bits_z [B, n_z], x_tilde)``: uniform noise in training
        (``noisy``), rounding at test (Section II.A); bits are :math:`-\log_2` likelihoods."""
        y = self.g_a(x)
        z = self.h_a(y)
        if noisy:
            z_q = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
            y_q = y + tf.random.uniform(tf.shape(y), -0.5, 0.5)
        else:
            z_q, y_q = tf.round(z), tf.round(y)
        mu, sigma = self.h_s(z_q)
        lik_y = tf.maximum(gaussian_likelihood(y_q, mu, sigma), _LIKELIHOOD_FLOOR)
        lik_z = tf.maximum(self.density(z_q), _LIKELIHOOD_FLOOR)
        bits_y = -tf.math.log(lik_y) / math.log(2.0)
        bits_z = -tf.math.log(lik_z) / math.log(2.0)
        return y, y_q, bits_y, bits_z, self.g_s(y_q)

    def vector_bits(self, bits_y):
        r""":math:`b_i = -\sum_c \log_2 P(\hat y_{i,c}|\hat z)` per latent vector, [B, l]."""
        return tf.reduce_sum(tf.reshape(bits_y, (-1, self.cfg.n_vectors, self.cfg.latent_dim)),
                             axis=-1)

    def length_bits(self, y):
        r"""Test-mode :math:`b_i` [B, l] from :math:`\hat y = \mathrm{round}(y)`,
        :math:`\hat z = \mathrm{round}(h_a(y))`: what the lengths are computed from."""
        mu, sigma = self.h_s(tf.round(self.h_a(y)))
        lik = tf.maximum(gaussian_likelihood(tf.round(y), mu, sigma), _LIKELIHOOD_FLOOR)
        return self.vector_bits(-tf.math.log(lik) / math.log(2.0))

    def mask(self, k):
        """[B, l] lengths -> [B, l*k_max*2] mask of eq. (19), both rails of each symbol."""
        keep = tf.cast(tf.range(self.k_max)[None, None, :] < tf.cast(k, tf.int32)[..., None],
                       tf.float32)
        return tf.reshape(tf.repeat(keep[..., None], 2, axis=-1), (tf.shape(k)[0], -1))

    def tf_lengths(self, vbits, eta):
        """Eq. (19) lengths ``clip(round(eta b_i), 0, k_max)`` in the graph (for training)."""
        return tf.clip_by_value(tf.round(eta * vbits), 0.0, float(self.k_max))

    # -- transmitter / receiver halves ------------------------------------------------------

    def encode(self, y, vbits, snr, onehot, m1, m2):
        """``f_a`` then the power constraint: each sample's sent symbols rescaled to mean
        :math:`|s|^2 = \\mathcal E_s = 1` (Section II.B), before the clip of Section III.A.1."""
        s = self.f_e([y, vbits / float(self.cfg.latent_dim), snr, onehot, m1, m2])
        n_sym = tf.maximum(tf.reduce_sum(m2, axis=1, keepdims=True) / 2.0, 1.0)
        p = tf.reduce_sum(tf.square(s), axis=1, keepdims=True) / n_sym
        return s * tf.math.rsqrt(p + 1e-9)

    def decode(self, r, m2, snr, onehot):
        return self.g_s(self.f_d([r, m2, snr, onehot]))


def order_inputs(orders) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample ``(one-hot [n, 5], sqrt M [n, 1], d [n, 1])`` of the orders ``orders`` [n]."""
    orders = np.asarray(orders, np.int64)
    onehot = np.stack([(orders == m) for m in ORDERS], axis=1).astype(np.float32)
    root = np.sqrt(orders).astype(np.float32)[:, None]
    d = np.array([half_distance(int(m)) for m in orders], np.float32)[:, None]
    return onehot, root, d


def qam_rails(v, root, d):
    """Process (9) per rail in the graph: clip to ``±(sqrt M - 1) d``, round to a level."""
    lim = (root - 1.0) * d
    c = tf.clip_by_value(v, -lim, lim)
    return (2.0 * tf.round((c / d + root - 1.0) / 2.0) - root + 1.0) * d


def channel_process(s, m2, root, d, snr_db, mode: str):
    r"""What the receiver sees in training, ``mode``:

    * ``"substitution"``: process (10), :math:`\bar o = s + u_1 + n + u_2`,
      :math:`u_{1,2} \sim \mathcal U(-d, d)` per rail (eqs. (14)-(18) justify it);
    * ``"hard"``: process (9), :math:`\bar s = q(q(s) + n)` with straight-through gradients
      (forward hard, backward identity), the real test-time process.

    ``s`` is clipped to :math:`\pm(\sqrt M-1)d` first (the distribution constraint). The noise
    is :math:`\mathcal{CN}(0, \sigma^2/g^2)` with :math:`g^2` the gain that brings the batch's
    hard-modulated sent symbols to unit power, as the transmitter's per-frame normalisation
    does at test time.
    """
    lim = (root - 1.0) * d
    s = tf.clip_by_value(s, -lim, lim) * m2
    hard = qam_rails(s, root, d) * m2
    n_sym = tf.maximum(tf.reduce_sum(m2) / 2.0, 1.0)
    gain2 = tf.stop_gradient(n_sym / tf.maximum(tf.reduce_sum(tf.square(hard)), 1e-9))
    std = tf.sqrt(noise_variance(snr_db) / gain2 / 2.0)
    noise = tf.random.normal(tf.shape(s)) * std
    if mode == "substitution":
        u1 = tf.random.uniform(tf.shape(s), -1.0, 1.0) * d
        u2 = tf.random.uniform(tf.shape(s), -1.0, 1.0) * d
        return (s + u1 + noise + u2) * m2
    sent = s + tf.stop_gradient(hard - s)
    rx = sent + noise
    return (rx + tf.stop_gradient(qam_rails(rx, root, d) - rx)) * m2
