"""Vector quantiser with an exponential-moving-average codebook (van den Oord et al. 2017, App. A).

Nearest-neighbour lookup (Section II.A.1): ``k* = argmin_k ||z - e_k||``.
EMA update over the vectors assigned in a batch, with decay ``g`` and Laplace smoothing:

.. math::
    N_k \\leftarrow g N_k + (1-g) n_k,\\quad
    m_k \\leftarrow g m_k + (1-g) \\sum_{j: k^*_j = k} w_j z_j,\\quad
    e_k = m_k / \\tilde N_k,\\quad
    \\tilde N_k = \\frac{N_k + \\epsilon}{\\sum_l N_l + M\\epsilon} \\sum_l N_l

where ``w_j`` in {0, 1} marks the vectors that take part (the hard top-K selection in phase 2).
The straight-through estimator (STE, [13]) passes the decoder's gradient to ``z`` unchanged:
``z_q = z + sg(e_{k*} - z)``.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="semqam")
class VectorQuantizerEMA(keras.layers.Layer):
    """Codebook of ``num_codes`` vectors of size ``dim`` updated by EMA, not by gradients.

    Input: ``z`` [batch, N, D] float32 and optional ``weights`` [batch, N] in {0, 1}.
    Output: ``(z_q_st, indices, z_q)``: STE output [batch, N, D], indices [batch, N] int32,
    and the raw quantised vectors [batch, N, D].
    """

    def __init__(
        self,
        num_codes: int,
        dim: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        dead_code_threshold: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if num_codes < 2 or dim < 1:
            raise ValueError(f"need num_codes >= 2 and dim >= 1, got {num_codes}, {dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.num_codes = num_codes
        self.dim = dim
        self.decay = decay
        self.epsilon = epsilon
        self.dead_code_threshold = dead_code_threshold
        self.seed = seed
        self._seed_gen = keras.random.SeedGenerator(seed)

    def build(self, input_shape) -> None:
        lim = 1.0 / self.num_codes
        init = keras.initializers.RandomUniform(-lim, lim, self.seed)
        self.codebook = self.add_weight(
            shape=(self.num_codes, self.dim), initializer=init, trainable=False, name="codebook"
        )
        self.ema_count = self.add_weight(
            shape=(self.num_codes,), initializer="ones", trainable=False, name="ema_count"
        )
        self.ema_sum = self.add_weight(
            shape=(self.num_codes, self.dim), initializer=init, trainable=False, name="ema_sum"
        )
        # 1.0 while dead codes may be restarted (phase 1), 0.0 afterwards.
        self.restart_enabled = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="restart_enabled"
        )

    def set_codebook(self, codes) -> None:
        """Replace the codebook (e.g. data-dependent initialisation) and reset the EMA state."""
        self.codebook.assign(codes)
        self.ema_sum.assign(codes)
        self.ema_count.assign(ops.ones((self.num_codes,)))

    def nearest(self, flat):
        """Indices of the nearest codewords, ``flat`` [n, D] -> [n] int32."""
        e = self.codebook
        d = (
            ops.sum(flat * flat, axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(e))
            + ops.sum(e * e, axis=1)[None, :]
        )
        return ops.cast(ops.argmin(d, axis=1), "int32")

    def call(self, z, weights=None, training=False):
        flat = ops.reshape(z, (-1, self.dim))
        idx = self.nearest(flat)
        z_q = ops.reshape(ops.take(self.codebook, idx, axis=0), ops.shape(z))
        if training:
            w = ops.ones((ops.shape(flat)[0],)) if weights is None else ops.reshape(weights, (-1,))
            self._ema_update(ops.stop_gradient(flat), idx, ops.stop_gradient(w))
        z_q_st = z + ops.stop_gradient(z_q - z)
        return z_q_st, ops.reshape(idx, ops.shape(z)[:-1]), z_q

    def _ema_update(self, flat, idx, w) -> None:
        g = self.decay
        onehot = ops.one_hot(idx, self.num_codes) * w[:, None]  # [n, M]
        n_k = ops.sum(onehot, axis=0)
        sum_k = ops.matmul(ops.transpose(onehot), flat)
        count = g * self.ema_count + (1.0 - g) * n_k
        summ = g * self.ema_sum + (1.0 - g) * sum_k
        total = ops.sum(count)
        smoothed = (count + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        codes = summ / smoothed[:, None]
        if self.dead_code_threshold > 0.0:
            # Restart codes whose usage decayed away with randomly drawn batch vectors.
            dead = ops.cast(count < self.dead_code_threshold, "float32") * self.restart_enabled
            pick = keras.random.randint(
                (self.num_codes,), 0, ops.shape(flat)[0], seed=self._seed_gen
            )
            fresh = ops.take(flat, pick, axis=0)
            codes = dead[:, None] * fresh + (1.0 - dead[:, None]) * codes
            summ = dead[:, None] * fresh + (1.0 - dead[:, None]) * summ
            count = dead + (1.0 - dead) * count
        self.ema_count.assign(count)
        self.ema_sum.assign(summ)
        self.codebook.assign(codes)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(
            num_codes=self.num_codes,
            dim=self.dim,
            decay=self.decay,
            epsilon=self.epsilon,
            dead_code_threshold=self.dead_code_threshold,
            seed=self.seed,
        )
        return cfg
