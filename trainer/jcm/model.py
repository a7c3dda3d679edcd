r"""JCM networks and the training graph (Section II-A, III; Table I scaled to MLPs).

* probabilistic encoder-modulator :math:`p_{en}(z|x,\theta)`: MLP -> logits ``[S, 2, L]`` (the
  paper's MLP head of output size :math:`2\sqrt M \times n`, Table I);
* constellation symbol generator: straight-through Gumbel-softmax per rail (eqs. 15-19),
  amplitudes of the fixed QAM, power normalised over what was drawn;
* channel: AWGN at an SNR drawn per sample from the training range (the paper trains one model
  per SNR; ``snr_train_db`` may be a single value for that);
* source decoder :math:`f_\psi(\hat z)` -> ``x_hat`` and semantic decoder
  :math:`p_{de,s}(s|\hat z,\phi)` (the paper's SpinalNet head, here an MLP), both on the soft
  received symbols;
* the frozen task classifier ``T`` on ``x_hat`` (the compare protocol's metric and the
  ``loss="task"`` term).

Loss (eq. 13, minimised): :math:`\mathrm{CE}(p_{de,s}(\hat z), s) + \lambda \|x - f_\psi(\hat
z)\|_2^2` (squared error summed over the pixels, as the paper's norm), plus
:math:`\lambda_{sem}\,\mathrm{CE}(T(\hat x), s)` for ``loss="task"``. The uniform-usage
ablation adds :math:`w\,\mathrm{KL}(\bar q \,\|\, \mathcal U_M)`, :math:`\bar q` the batch
average of the per-symbol point probabilities :math:`q^I_r q^Q_s`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from semqam.units import noise_variance
from trainer.jcm.modulation import amplitudes, normalise_power, rail_levels, st_gumbel_softmax


def build_encoder(input_shape: tuple[int, ...], budget: int, order: int,
                  hidden: tuple[int, ...]) -> keras.Model:
    """``x [B, *input_shape]`` -> logits ``[B, S, 2, sqrt(M)]`` (I then Q rail)."""
    levels = rail_levels(order)
    x = keras.Input(shape=input_shape, name="x")
    h = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"enc_dense{i}")(h)
    logits = keras.layers.Dense(budget * 2 * levels, name="enc_logits")(h)
    logits = keras.layers.Reshape((budget, 2, levels), name="logits")(logits)
    return keras.Model(x, logits, name="encoder")


def build_decoder(output_shape: tuple[int, ...], budget: int,
                  hidden: tuple[int, ...]) -> keras.Model:
    """Soft received symbols ``y [B, S, 2]`` (real I, Q) -> ``x_hat`` in [0, 1]."""
    y = keras.Input(shape=(budget, 2), name="y")
    h = keras.layers.Flatten()(y)
    for i, units in enumerate(reversed(hidden)):
        h = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i}")(h)
    out = keras.layers.Dense(math.prod(output_shape), activation="sigmoid", name="dec_out")(h)
    return keras.Model(y, keras.layers.Reshape(output_shape, name="x_hat")(out), name="decoder")


def build_semantic_head(budget: int, n_classes: int, hidden: tuple[int, ...]) -> keras.Model:
    """``y [B, S, 2]`` -> class probabilities: the semantic decoder :math:`p_{de,s}` of eq. (2)."""
    y = keras.Input(shape=(budget, 2), name="y")
    h = keras.layers.Flatten()(y)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"sem_dense{i}")(h)
    p = keras.layers.Dense(n_classes, activation="softmax", name="sem_probs")(h)
    return keras.Model(y, p, name="semantic_head")


def sum_squared_error(y_true, y_pred):
    r""":math:`\|x - \hat x\|_2^2` per sample (eq. 13's norm, summed over every pixel)."""
    err = ops.reshape(ops.square(y_true - y_pred), (ops.shape(y_true)[0], -1))
    return ops.sum(err, axis=-1)


def uniform_kl(logits):
    r""":math:`\mathrm{KL}(\bar q \| \mathcal U_M) = \sum_m \bar q_m \log(M \bar q_m)`, with
    :math:`\bar q` the batch-and-symbol average of :math:`q^I_r q^Q_s` (``logits [B,S,2,L]``)."""
    q = ops.softmax(logits, axis=-1)
    joint = ops.mean(q[..., 0, :, None] * q[..., 1, None, :], axis=(0, 1))
    m = ops.cast(ops.size(joint), joint.dtype)
    return ops.sum(joint * ops.log(joint * m + 1e-12))


class JCM(keras.Model):
    """Training graph: encoder -> ST Gumbel-softmax per rail -> QAM amplitudes -> power
    normalisation -> AWGN -> (decoder -> T, semantic head).

    Outputs ``{"x_hat", "probs" (semantic head)}`` and, with ``task=True`` (``loss="task"``),
    ``"t_probs"`` = T(x_hat); compile with :func:`sum_squared_error` weighted by lambda on
    ``x_hat`` and sparse cross-entropies on the probability outputs.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, semantic_head: keras.Model,
                 classifier: keras.Model, order: int, snr_train_db: tuple[float, float],
                 temperature: float = 1.0, uniform_weight: float = 0.0, task: bool = False,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.semantic_head = encoder, decoder, semantic_head
        self.classifier = classifier
        self.classifier.trainable = False
        self.levels = ops.convert_to_tensor(amplitudes(order))
        self.snr_lo, self.snr_hi = (float(v) for v in snr_train_db)
        self.temperature = float(temperature)
        self.uniform_weight = float(uniform_weight)
        self.task = bool(task)
        self._seed = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        logits = self.encoder(x, training=training)
        one_hot = st_gumbel_softmax(logits, self.temperature, self._seed)
        z = normalise_power(ops.sum(one_hot * self.levels, axis=-1))  # [B, S, 2]
        batch = ops.shape(x)[0]
        snr = keras.random.uniform((batch, 1, 1), self.snr_lo, self.snr_hi + 1e-9,
                                   seed=self._seed)
        sigma = ops.sqrt(noise_variance(snr) / 2.0)  # per real dimension, Es = 1
        y = z + sigma * keras.random.normal(ops.shape(z), seed=self._seed)
        if self.uniform_weight > 0.0:
            self.add_loss(self.uniform_weight * uniform_kl(logits))
        x_hat = self.decoder(y, training=training)
        out = {"x_hat": x_hat, "probs": self.semantic_head(y, training=training)}
        if self.task:
            out["t_probs"] = self.classifier(x_hat, training=False)
        return out
