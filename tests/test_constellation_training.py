"""Learned constellation (eq. 3): power constraint after every step, importance shapes geometry."""

from __future__ import annotations

import numpy as np
import pytest

from channel_sim import Constellation
from trainer.svqvae.constellation import AveragePowerConstraint, train_semantic_constellation


def test_power_projection_only_scales_down():
    c = AveragePowerConstraint(1.0)
    big = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)  # average power 4
    np.testing.assert_allclose(np.asarray(c(big)), big / 2.0, rtol=1e-6)
    small = np.array([[0.5, 0.0], [0.0, 0.5]], np.float32)
    np.testing.assert_allclose(np.asarray(c(small)), small)


def test_power_constraint_holds_after_every_step_and_snapshots():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 16, 4000)
    sci = np.where(idx < 4, 0.95, 0.05)
    powers = []
    const, snaps, info = train_semantic_constellation(
        idx, sci, 16, steps=60, batch=256, learning_rate=0.05, seed=0,
        snapshot_steps=(0, 30, 60), on_step=lambda s: powers.append(s),
    )
    assert powers == list(range(1, 61))
    assert info["max_power_after_step"] <= 1.0 + 1e-5
    assert const.average_power <= 1.0 + 1e-5
    assert sorted(snaps) == [0, 30, 60]
    np.testing.assert_allclose(snaps[0], Constellation.rectangular_gray(16).points, atol=1e-6)
    assert not np.allclose(snaps[60], snaps[0])


def test_important_symbols_end_up_better_separated():
    """Concepts 0..3 carry all the importance: after training, their nearest-neighbour
    distance exceeds that of the unimportant ones (the mechanism behind Fig. 2)."""
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 16, 20000)
    sci = np.where(idx < 4, 1.0, 0.02)
    const, _, _ = train_semantic_constellation(
        idx, sci, 16, steps=400, batch=512, learning_rate=0.01, seed=1,
        snr_range_db=(0.0, 10.0),
    )
    p = const.points
    d = np.abs(p[:, None] - p[None, :]) + np.eye(16) * 1e9
    nn = d.min(1)
    assert nn[:4].mean() > 1.3 * nn[4:].mean()


def test_usage_weighted_power_constraint_by_hand():
    """The "fair" variant constrains what is sent: sum_i p_i |x_i|^2 <= P."""
    w = np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)  # energies 4 and 1
    c = AveragePowerConstraint(1.0, weights=[0.25, 0.75])  # sent power 0.25*4 + 0.75*1 = 1.75
    np.testing.assert_allclose(np.asarray(c(w)), w / np.sqrt(1.75), rtol=1e-6)
    assert AveragePowerConstraint(1.0, [0.25, 0.75]).get_config()["weights"] == [0.25, 0.75]


def test_kkt_power_term_puts_important_points_outside():
    """Issue 13, finding 2: with the power term of the KKT condition (7) in the loss and a
    working step size, the four important concepts end on the outside (more power than the
    average point), the unimportant ones crowd the centre."""
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 16, 30000)
    sci = np.where(idx < 4, 1.0, 0.05)
    const, _, _ = train_semantic_constellation(
        idx, sci, 16, steps=500, batch=512, learning_rate=0.01, seed=2,
        snr_range_db=(0.0, 10.0), kkt_zeta=0.1)
    energy = np.abs(const.points) ** 2
    assert energy[:4].mean() > 1.5 * energy[4:].mean()
    assert const.average_power <= 1.0 + 1e-5


def test_fair_variant_spends_the_budget_on_what_is_sent():
    rng = np.random.default_rng(3)
    idx = np.where(rng.random(20000) < 0.8, rng.integers(0, 4, 20000), rng.integers(4, 16, 20000))
    sci = np.where(idx < 4, 1.0, 0.05)
    const, _, info = train_semantic_constellation(
        idx, sci, 16, steps=100, batch=512, learning_rate=0.01, seed=3, kkt_zeta=0.1,
        usage_power=True, name="fair")
    p = np.bincount(idx, minlength=16) / idx.size
    sent = float(p @ (np.abs(const.points.astype(np.complex128)) ** 2))
    assert sent <= 1.0 + 1e-5 and info["max_power_after_step"] <= 1.0 + 1e-5
    assert const.name == "fair"


def test_sci_pair_weights_by_hand():
    """mean: I / mean over the sent pairs; sample_softmax: K_n softmax(I / tau) per sample."""
    from trainer.svqvae.constellation import sci_pair_weights

    scores = np.array([[0.9, 0.5, 0.0], [0.6, 0.6, 0.6]])
    mask = np.array([[True, True, False], [True, True, True]])
    w = sci_pair_weights(scores, mask, "mean")
    np.testing.assert_allclose(w, [[0.9 / 0.64, 0.5 / 0.64, 0], [0.6 / 0.64] * 3])
    w = sci_pair_weights(scores, mask, "sample_softmax", tau=0.1)
    e = np.exp(4.0)  # exp((0.9 - 0.5) / 0.1)
    np.testing.assert_allclose(w[0], [2 * e / (e + 1), 2 / (e + 1), 0])
    np.testing.assert_allclose(w[1], [1, 1, 1])
    with pytest.raises(ValueError, match="phy_weighting"):
        sci_pair_weights(scores, mask, "rank")
