"""SCI-weighted VQ-VAE (S-VQ-VAE, Section III.B) with the frozen task classifier in the loop.

Sub-models (each saved as its own ``.keras`` file, each what one side of the link runs):

* ``encoder_sci``: x -> (Z [N, D], I [N]). The encoder MLP (hidden units [512, 256]) ends in a
  linear layer reshaped to N concept embeddings; the SCI network is a two-layer MLP with sigmoid
  output on the encoder's last hidden layer ("operates in parallel", Section II.A.1).
* ``decoder``: zero-filled quantised grid Z_hat [N, D] -> x_hat in [0, 1].
* ``classifier``: the frozen task classifier T.

Training losses (both phases): ``L_VQ = E||x - x_hat||^2 + beta ||sg[Z_q] - Z||^2`` (phase 1)
and eq. (1) ``L_total = L_VQ + lambda_sem L_cls(y, T(x_hat))`` (phase 2, semantic activation).
The codebook follows the EMA rule of ``VectorQuantizerEMA`` rather than a codebook loss.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from trainer.svqvae.models.sci import soft_topk_mask
from trainer.svqvae.models.vq import VectorQuantizerEMA


def build_encoder_sci(
    input_shape: tuple[int, ...],
    n_concepts: int,
    latent_dim: int,
    hidden: tuple[int, ...] = (512, 256),
    sci_hidden: int = 128,
) -> keras.Model:
    """``x`` [batch, *input_shape] -> ``(z [batch, N, D], sci [batch, N])``."""
    x = keras.Input(shape=input_shape, name="x")
    h = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"enc_dense{i}")(h)
    z = keras.layers.Dense(n_concepts * latent_dim, name="enc_concepts")(h)
    z = keras.layers.Reshape((n_concepts, latent_dim), name="z")(z)
    s = keras.layers.Dense(sci_hidden, activation="relu", name="sci_dense0")(h)
    s = keras.layers.Dense(n_concepts, activation="sigmoid", name="sci")(s)
    return keras.Model(x, [z, s], name="encoder_sci")


def build_decoder(
    output_shape: tuple[int, ...],
    n_concepts: int,
    latent_dim: int,
    hidden: tuple[int, ...] = (512, 256),
) -> keras.Model:
    """``z_hat`` [batch, N, D] (zero rows where nothing was received) -> ``x_hat`` in [0, 1]."""
    zh = keras.Input(shape=(n_concepts, latent_dim), name="z_hat")
    h = keras.layers.Flatten()(zh)
    for i, units in enumerate(reversed(hidden)):
        h = keras.layers.Dense(units, activation="relu", name=f"dec_dense{i}")(h)
    out = keras.layers.Dense(math.prod(output_shape), activation="sigmoid", name="dec_out")(h)
    out = keras.layers.Reshape(output_shape, name="x_hat")(out)
    return keras.Model(zh, out, name="decoder")


class SVQVAE(keras.Model):
    """Training graph: encoder + SCI -> soft top-K weighting -> EMA VQ (STE) -> decoder -> T.

    Outputs a dict ``{"x_hat": [batch, *shape], "probs": [batch, C]}``; compile with an MSE
    loss on ``x_hat`` and a sparse cross-entropy on ``probs`` weighted by ``lambda_sem``
    (0 in phase 1). The commitment term is added with ``add_loss``. During training each
    sample draws its own K from the DQN's action set so the model serves every K.
    """

    def __init__(
        self,
        encoder_sci: keras.Model,
        decoder: keras.Model,
        classifier: keras.Model,
        quantizer: VectorQuantizerEMA,
        actions: tuple[int, ...],
        beta: float = 0.25,
        seed: int | None = None,
        weighting: str = "softmax_cap",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.weighting = weighting
        self.encoder_sci = encoder_sci
        self.decoder = decoder
        self.classifier = classifier
        self.classifier.trainable = False
        self.quantizer = quantizer
        self.actions = tuple(int(a) for a in actions)
        self.beta = beta
        self._seed_gen = keras.random.SeedGenerator(seed)
        self.tau = self.add_weight(shape=(), initializer="ones", trainable=False, name="tau")
        # 0.0: phase 1 (plain VQ-VAE, every concept kept); 1.0: phase 2 (SCI weighting active).
        self.semantic = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="semantic"
        )

    def sample_k(self, batch: int):
        """Per-sample K drawn uniformly from the action set."""
        pick = keras.random.randint((batch,), 0, len(self.actions), seed=self._seed_gen)
        return ops.take(ops.convert_to_tensor(self.actions, dtype="int32"), pick)

    def selection_weights(self, sci, k):
        """(soft weights used in the forward pass, hard mask used for EMA/commitment)."""
        soft, hard = soft_topk_mask(sci, k, self.tau, self.weighting)
        sem = self.semantic
        return sem * soft + (1.0 - sem), sem * hard + (1.0 - sem)

    def call(self, x, training=False):
        z, sci = self.encoder_sci(x, training=training)
        n = ops.shape(sci)[-1]
        k = self.sample_k(ops.shape(x)[0]) if training else ops.full((ops.shape(x)[0],), n)
        w, hard = self.selection_weights(sci, k)
        z_w = z * w[..., None]
        z_q_st, _, z_q = self.quantizer(z_w, weights=hard, training=training)
        err = ops.mean(ops.square(ops.stop_gradient(z_q) - z_w), axis=-1)
        self.add_loss(self.beta * ops.sum(err * hard) / (ops.sum(hard) + 1e-9))
        x_hat = self.decoder(z_q_st * w[..., None], training=training)
        probs = self.classifier(x_hat, training=False)
        return {"x_hat": x_hat, "probs": probs}
