"""Reward of eq. (2), the tabulated policy, and the DQN on a small synthetic environment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.svqvae.config import TrainConfig
from trainer.svqvae.rate_control import (
    RateEnvironment,
    RatePolicy,
    RewardParams,
    policy_regret,
    reward_terms,
    train_dqn,
)

P = RewardParams(n_concepts=64, k_min=5, k_max=64, q0=0.8, comp_alpha=0.2, adapt_alpha=0.1,
                 ber_lambda=0.5, extreme_penalty=0.05, snr_min_db=-10.0, snr_max_db=20.0)


def test_reward_terms_by_hand():
    # SNR 20 dB -> SNR_n = 1; K = 16 -> k_n = 11/59
    t = reward_terms(q_task=0.9, ber=0.1, k=16, snr_db=20.0, p=P)
    assert t["b_comp"] == pytest.approx(0.2 * math.log(4.0))
    assert t["b_a"] == pytest.approx(0.1 * (1 - 2) * 11 / 59)
    assert t["ber_term"] == pytest.approx(0.05)
    assert t["penalty"] == 0.0
    assert t["r"] == pytest.approx(0.9 + 0.2 * math.log(4.0) - 0.1 * 11 / 59 - 0.05)
    # below Q_0 no compression bonus; extreme K penalised; low SNR favours large K
    t = reward_terms(q_task=0.5, ber=0.0, k=64, snr_db=-10.0, p=P)
    assert t["b_comp"] == 0.0 and t["penalty"] == 0.05
    assert t["b_a"] == pytest.approx(0.1)
    assert reward_terms(0.9, 0.0, 5, 5.0, P)["penalty"] == 0.05


def test_actions_are_twelve_uniform_values():
    assert TrainConfig().actions == (5, 10, 16, 21, 26, 32, 37, 43, 48, 53, 59, 64)


def test_policy_lookup_and_round_trip(tmp_path):
    pol = RatePolicy((-10.0, 0.0, 10.0, 20.0), (40, 30, 20, 10))
    assert pol.k_for(-30) == 40 and pol.k_for(4.9) == 30 and pol.k_for(5.1) == 20
    assert pol.k_for(99) == 10
    pol.save(tmp_path / "policy.json")
    assert RatePolicy.load(tmp_path / "policy.json") == pol


def test_dqn_learns_channel_adaptive_policy():
    """Synthetic tables in which large K pays at low SNR and small K at high SNR."""
    snr = np.linspace(-10, 20, 7)
    acts = (5, 10, 16, 21, 26, 32, 37, 43, 48, 53, 59, 64)
    k = np.array(acts, float)
    low = (snr[:, None] < 5).astype(float)
    q = 0.3 + 0.5 * (low * k / 64 + (1 - low) * (1 - k / 64))
    env = RateEnvironment(snr, acts, q, np.zeros_like(q), P)
    net, info = train_dqn(env, 16, TrainConfig(dqn_steps=600).dqn_settings(), seed=0)
    pol = RatePolicy.from_q_network(net, 16, P, step_db=5.0)
    assert np.mean(np.array(pol.k)[snr < 5]) > np.mean(np.array(pol.k)[snr >= 5]) + 4
    regret = policy_regret(env, np.array(pol.k))
    assert regret["mean_regret"] < 0.1
