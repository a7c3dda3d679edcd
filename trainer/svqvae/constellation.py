"""Learned semantic M-QAM constellation (Section III.D, eq. 3).

M trainable complex points, initialised on the rectangular Gray grid, trained with the
SCI-weighted cross-entropy of eq. (3) on the (concept index, SCI) pairs the trained encoder
actually transmits:

.. math::
    \\mathcal{L}_{QAM} = -\\frac{1}{N_{sym}} \\sum_j I_j \\log
        \\frac{\\exp(-\\|\\hat y_j - x_{y_j}\\|^2/N_0)}
             {\\sum_i \\exp(-\\|\\hat y_j - x_i\\|^2/N_0)},
    \\qquad \\hat y_j = x_{y_j} + n_j,\\; n_j \\sim \\mathcal{CN}(0, N_0),\\; N_0 = P/\\mathrm{SNR}

with SNR drawn uniformly in [SNR_min, SNR_max] dB once per step and ``I_j`` the SCI score
normalised to mean 1 over the training pairs. After every optimiser step the points are
projected onto the power constraint ``(1/M) sum_i |x_i|^2 <= P`` (Section II.A.2) by a Keras
weight constraint, so the constraint holds after each step, not only at the end.

The power term of the Lagrangian behind the KKT condition (7), ``zeta (1/M) sum_i |x_i|^2``,
is added to the loss (``kkt_zeta``; 0 gives eq. (3) alone). Measured (docs/models.md): without
it a larger step pushes the low-weight points outward at full Adam step while the projection
only rescales all points together, so important points end *inside*; with it every point feels
a restoring force proportional to its power and the important ones end outside.

``power_weights`` (the usage frequency of each point) turns the constraint into the power of
what is actually sent, ``sum_i p_i |x_i|^2 <= P``: the "fair" variant, whose symbols cost the
same energy on average as the Gray grid's (docs/metrics.md, equal transmitted energy).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from channel_sim import Constellation
from semqam.units import noise_variance
from trainer.svqvae.config import PAIR_WEIGHTINGS


@keras.saving.register_keras_serializable(package="semqam")
class AveragePowerConstraint(keras.constraints.Constraint):
    """Scale ``[M, 2]`` real points down to average power ``power`` when they exceed it; the
    average is uniform over the points, or weighted by ``weights`` (usage frequencies, summing
    to 1) when given."""

    def __init__(self, power: float = 1.0, weights: list[float] | None = None) -> None:
        self.power = power
        self.weights = None if weights is None else [float(v) for v in weights]

    def __call__(self, w):
        energy = ops.sum(ops.square(w), axis=-1)
        if self.weights is None:
            avg = ops.mean(energy)
        else:
            avg = ops.sum(energy * ops.convert_to_tensor(self.weights, dtype=energy.dtype))
        return w * ops.minimum(1.0, ops.sqrt(self.power / (avg + 1e-12)))

    def get_config(self) -> dict:
        return {"power": self.power, "weights": self.weights}


class SemanticMapper(keras.Model):
    """Trainable constellation + AWGN + eq. (3) logits.

    Input: concept indices ``y`` [batch] int32. Output: logits ``-|y_hat - x_i|^2 / N0``
    [batch, M]; with ``sparse_categorical_crossentropy(from_logits=True)`` and the SCI scores
    as ``sample_weight`` the compiled loss is exactly eq. (3).
    """

    def __init__(
        self,
        init_points: np.ndarray,
        power: float = 1.0,
        snr_range_db: tuple[float, float] = (-10.0, 20.0),
        seed: int | None = None,
        kkt_zeta: float = 0.0,
        power_weights: np.ndarray | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        pts = np.stack([init_points.real, init_points.imag], axis=-1).astype("float32")
        self.order = pts.shape[0]
        self.power = power
        self.snr_range_db = snr_range_db
        self.kkt_zeta = float(kkt_zeta)
        weights = None if power_weights is None else list(np.asarray(power_weights, float))
        self.points = self.add_weight(
            shape=pts.shape,
            initializer=keras.initializers.Constant(pts),
            constraint=AveragePowerConstraint(power, weights),
            name="points",
        )
        self._seed_gen = keras.random.SeedGenerator(seed)

    def call(self, y, training=False):
        x = ops.take(self.points, ops.reshape(ops.cast(y, "int32"), (-1,)), axis=0)  # [b, 2]
        lo, hi = self.snr_range_db
        snr_db = keras.random.uniform((), lo, hi, seed=self._seed_gen)
        n0 = noise_variance(snr_db, self.power)
        noise = keras.random.normal(ops.shape(x), seed=self._seed_gen) * ops.sqrt(n0 / 2.0)
        y_hat = x + noise
        d2 = ops.sum(ops.square(y_hat[:, None, :] - self.points[None, :, :]), axis=-1)
        if training and self.kkt_zeta:
            self.add_loss(self.kkt_zeta * ops.mean(ops.sum(ops.square(self.points), axis=-1)))
        return -d2 / n0

    def constellation(self) -> np.ndarray:
        p = ops.convert_to_numpy(self.points)
        return (p[:, 0] + 1j * p[:, 1]).astype(np.complex64)


def sci_pair_weights(scores: np.ndarray, mask: np.ndarray, mode: str = "mean",
                     tau: float = 0.1) -> np.ndarray:
    """Weights ``I_j`` of eq. (3) for the transmitted (index, SCI) pairs ``[n, K_max]``
    (``mask`` marks the sent slots); 0 where nothing is sent.

    * ``mean`` (default): ``I_j / mean(I)`` over every sent pair -- the paper's "normalized
      SCI weight" read literally; favours S_w and SPP;
    * ``sample_softmax``: ``K_n softmax(I_{n,.} / tau)`` within each sample's sent set of
      ``K_n`` slots (mean 1 per sample); concentrates the weight on each sample's top concepts
      and favours Q_sem at low SNR (docs/models.md has the measured trade-off).
    """
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if mode == "mean":
        return np.where(mask, scores / scores[mask].mean(), 0.0)
    if mode == "sample_softmax":
        if tau <= 0:
            raise ValueError(f"phy_weight_tau must be > 0, got {tau}")
        shifted = np.where(mask, scores, -np.inf)
        e = np.where(mask, np.exp((shifted - shifted.max(1, keepdims=True)) / tau), 0.0)
        return e / e.sum(1, keepdims=True) * mask.sum(1, keepdims=True)
    raise ValueError(f"phy_weighting {mode!r} is unknown; choose one of {PAIR_WEIGHTINGS}")


class _Snapshots(keras.callbacks.Callback):
    def __init__(self, steps: tuple[int, ...], on_step: Callable[[int], None] | None,
                 power_weights: np.ndarray | None = None) -> None:
        super().__init__()
        self.power_weights = power_weights
        self.steps = set(steps)
        self.taken: dict[int, np.ndarray] = {}
        self.on_step = on_step
        self.max_power = 0.0

    def on_train_begin(self, logs=None) -> None:
        if 0 in self.steps:
            self.taken[0] = self.model.constellation()

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = batch + 1
        pts = self.model.constellation()
        e = np.abs(pts.astype(np.complex128)) ** 2
        p = float(np.mean(e)) if self.power_weights is None else float(e @ self.power_weights)
        self.max_power = max(self.max_power, p)
        if step in self.steps:
            self.taken[step] = pts
        if self.on_step is not None:
            self.on_step(step)


def train_semantic_constellation(
    indices: np.ndarray,
    scores: np.ndarray,
    order: int,
    *,
    steps: int = 4000,
    batch: int = 512,
    learning_rate: float = 1e-3,
    power: float = 1.0,
    snr_range_db: tuple[float, float] = (-10.0, 20.0),
    seed: int = 0,
    snapshot_steps: tuple[int, ...] = (0, 4000),
    on_step: Callable[[int], None] | None = None,
    kkt_zeta: float = 0.0,
    usage_power: bool = False,
    name: str = "semantic",
) -> tuple[Constellation, dict[int, np.ndarray], dict]:
    """Train the semantic constellation on transmitted ``(index, SCI)`` pairs.

    ``kkt_zeta``: weight of the power term (module docstring); ``usage_power``: constrain the
    power of what is sent (usage-weighted) instead of the plain average over the M points.
    Returns ``(constellation, snapshots {step: points}, info)``; ``info`` holds the final
    loss and the largest constrained power seen after any step (never above ``power``).
    """
    indices = np.asarray(indices).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if indices.size == 0 or indices.shape != scores.shape:
        raise ValueError("need the same, non-zero number of concept indices and SCI scores")
    if indices.min() < 0 or indices.max() >= order:
        raise ValueError(f"concept indices must lie in [0, {order}), got {indices.min()}..")
    weights = (scores / scores.mean()).astype("float32")  # normalised SCI, mean 1
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, indices.size, size=steps * batch)
    y = indices[draw].astype("int32")
    w = weights[draw]

    init = Constellation.rectangular_gray(order, power).points
    usage = np.bincount(indices, minlength=order).astype(np.float64)
    p_use = usage / usage.sum() if usage_power else None
    mapper = SemanticMapper(init, power=power, snr_range_db=snr_range_db, seed=seed,
                            kkt_zeta=kkt_zeta, power_weights=p_use)
    mapper.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    snaps = _Snapshots(snapshot_steps, on_step, p_use)
    hist = mapper.fit(
        y, y, sample_weight=w, batch_size=batch, epochs=1, shuffle=False, verbose=0,
        callbacks=[snaps],
    )
    points = mapper.constellation()
    info = {"final_loss": float(hist.history["loss"][-1]), "max_power_after_step": snaps.max_power}
    return Constellation(points, name=name), snaps.taken, info
