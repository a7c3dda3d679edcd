"""Reward of eq. (2), the tabulated policy, and the DQN on a small synthetic environment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channel_sim import Constellation
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
                 ber_lambda=0.5, extreme_penalty=0.05, snr_min_db=-10.0, snr_max_db=20.0,
                 adapt_shape="linear", comp_gate_width=0.0)


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


def test_compression_gate_step_and_logistic_by_hand():
    """Width 0 is the paper's step; width w is the logistic 1 / (1 + exp(-(Q - Q_0) / w)):
    0.5 at Q_0, 0.75 at Q_0 + w ln 3, 0.25 at Q_0 - w ln 3."""
    from trainer.svqvae.rate_control import compression_gate

    step = RewardParams(64, 5, 64, q0=0.8, comp_gate_width=0.0)
    assert compression_gate(0.8001, step) == 1.0 and compression_gate(0.8, step) == 0.0
    soft = RewardParams(64, 5, 64, q0=0.8, comp_gate_width=0.01)
    assert compression_gate(0.8, soft) == pytest.approx(0.5)
    assert compression_gate(0.8 + 0.01 * math.log(3), soft) == pytest.approx(0.75)
    assert compression_gate(0.8 - 0.01 * math.log(3), soft) == pytest.approx(0.25)
    assert compression_gate(-50.0, soft) == 0.0 and compression_gate(50.0, soft) == 1.0
    t = reward_terms(0.8, 0.0, 16, 5.0, soft)
    assert t["b_comp"] == pytest.approx(0.5 * 0.2 * math.log(4.0))


def test_environment_table_is_isotonic_in_snr():
    """Hand case: a dip in Q_task (0.5 then 0.4) pools to 0.45; a bump in P_e pools down."""
    from trainer.svqvae.rate_control import make_environment, monotone_in_snr

    q = np.array([[0.3, 0.2], [0.5, 0.3], [0.4, 0.6], [0.6, 0.7]])
    np.testing.assert_allclose(monotone_in_snr(q)[:, 0], [0.3, 0.45, 0.45, 0.6])
    np.testing.assert_allclose(monotone_in_snr(q)[:, 1], q[:, 1])  # already monotone
    ber = np.array([[0.2], [0.25], [0.1], [0.0]])
    np.testing.assert_allclose(monotone_in_snr(ber, increasing=False)[:, 0],
                               [0.225, 0.225, 0.1, 0.0])
    snr = np.array([0.0, 5.0, 10.0, 15.0])
    env = make_environment(snr, (5, 10), q, np.zeros_like(q), P, monotone=True)
    assert np.all(np.diff(env.q_task, axis=0) >= 0) and env.q_task_raw is q
    assert make_environment(snr, (5, 10), q, np.zeros_like(q), P, monotone=False).q_task is q


def test_bump_bonus_by_hand():
    b = RewardParams(64, 5, 64, 0.8, adapt_alpha=0.1, adapt_shape="bump", adapt_k_high=36.0,
                     adapt_k_low=8.0, adapt_width=8.0)
    # -10 dB: target 36; 5 dB (SNR_n = 0.5): target 22; 20 dB: target 8
    assert reward_terms(0.5, 0.0, 36, -10.0, b)["b_a"] == pytest.approx(0.1)
    assert reward_terms(0.5, 0.0, 44, -10.0, b)["b_a"] == pytest.approx(0.1 * math.exp(-0.5))
    assert reward_terms(0.5, 0.0, 22, 5.0, b)["b_a"] == pytest.approx(0.1)
    assert reward_terms(0.5, 0.0, 8, 20.0, b)["b_a"] == pytest.approx(0.1)


def test_reward_optimal_k_on_a_synthetic_table():
    """Issue 13, finding 3: where Q_task is flat in K (pure noise at -10 dB), the linear
    bonus puts the reward's argmax at K_max; the bump puts it near its target, and the optimal
    K does not increase with SNR."""
    snr = np.array([-10.0, 0.0, 10.0, 20.0])
    acts = (5, 10, 16, 21, 26, 32, 37, 43, 48, 53, 59, 64)
    k = np.array(acts, float)
    # accuracy: flat 0.3 at -10 dB; saturating in K elsewhere, higher with SNR
    q = np.stack([np.full(12, 0.30), 0.80 * (1 - np.exp(-k / 12)),
                  0.92 * (1 - np.exp(-k / 6)), 0.95 * (1 - np.exp(-k / 4))])
    common = dict(n_concepts=64, k_min=5, k_max=64, q0=0.97 * 0.95)
    linear = RateEnvironment(snr, acts, q, np.zeros_like(q),
                             RewardParams(**common, adapt_shape="linear"))
    bump = RateEnvironment(snr, acts, q, np.zeros_like(q), RewardParams(**common))
    k_linear = [acts[a] for a in linear.reward_table().argmax(1)]
    k_bump = [acts[a] for a in bump.reward_table().argmax(1)]
    assert k_linear[0] == 59  # K_max itself carries the extreme-K penalty
    assert k_bump[0] == 37  # the target at -10 dB is 36
    assert all(a >= b for a, b in zip(k_bump, k_bump[1:], strict=False))
    assert k_bump[-1] <= 16


def test_environment_averages_noise_draws(tmp_path):
    """Two draws per cell: each cell is the mean of two passes of one continuing stream."""
    from trainer.svqvae.rate_control import build_environment

    class Pipe:  # a chain whose accuracy is the fraction of correctly demapped first symbols
        n_concepts = 4

        def encode(self, x):
            return np.zeros((len(x), 4, 1), np.float32), np.tile([[0.9, 0.1, 0.5, 0.3]],
                                                                   (len(x), 1))

        def classify(self, x):
            return np.eye(2)[np.asarray(x[:, 0, 0], int)]

        def quantize(self, z, pos):
            return np.asarray(pos % 2, np.int64)

        def reconstruct(self, idx, pos):
            return idx

        def decode_classify(self, idx):
            return None, np.eye(2)[idx[:, 0]]

    const = Constellation(np.array([1 + 0j, -1 + 0j]))
    x = np.zeros((400, 1, 1))
    y = np.zeros(400, np.int64)  # top slot 0 -> index 0 -> label 0 when decoded right
    env1 = build_environment(Pipe(), const, x, y, np.array([0.0]), (1, 2), P, 3, draws=1)
    env2 = build_environment(Pipe(), const, x, y, np.array([0.0]), (1, 2), P, 3, draws=2)
    # BPSK at 0 dB: P_e = Q(sqrt(2)) = 0.0786; both near it, and the two-draw table differs
    assert abs(env1.q_task[0, 0] - (1 - 0.0786)) < 0.05
    assert abs(env2.q_task[0, 0] - (1 - 0.0786)) < 0.035
    assert env1.q_task[0, 0] != env2.q_task[0, 0]
    with pytest.raises(ValueError, match="draws"):
        build_environment(Pipe(), const, x, y, np.array([0.0]), (1,), P, 3, draws=0)


def test_regret_target_is_reported():
    snr = np.array([0.0, 10.0])
    acts = (5, 10)
    q = np.array([[0.5, 0.9], [0.9, 0.5]])
    env = RateEnvironment(snr, acts, q, np.zeros_like(q), P)
    best = env.reward_table().argmax(1)
    r = policy_regret(env, best)
    assert r["mean_regret"] == 0.0 and r["regret_target_met"] and r["regret_target"] == 0.01
    r = policy_regret(env, 1 - best)
    assert not r["regret_target_met"] and r["agreement"] == 0.0


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


def test_retune_rewrites_only_the_rate_controller(tmp_path):
    """`semqam retune`: the DQN re-trained on a run's stored table with new reward settings;
    policy.json, dqn.keras and run.json are replaced, every other file is kept, and the new
    policy's regret is measured against the table's argmax under the new reward."""
    import json

    from semqam.fileio import savez
    from trainer.svqvae.retune import retune_policy

    snr = np.linspace(-10, 20, 7)
    acts = TrainConfig().actions
    k = np.array(acts, float)
    low = (snr[:, None] < 5).astype(float)
    q = 0.3 + 0.5 * (low * k / 64 + (1 - low) * (1 - k / 64))
    run = tmp_path / "run"
    run.mkdir()
    cfg = TrainConfig(order=16, dqn_steps=600, env_snr_step_db=5.0).to_dict()
    del cfg["comp_gate_width"]  # a run written before the field existed
    (run / "run.json").write_text(json.dumps(
        {"config": cfg, "metrics": {"q0": 0.97 * 0.8}, "dqn": {"mean_regret": 0.5}}))
    savez(run / "rate_env.npz", snr_db=snr, actions=np.array(acts), q_task=q,
          ber=np.zeros_like(q))
    (run / "codebook.npy").write_bytes(b"kept")
    info = retune_policy(run, {"comp_gate_width": 0.0, "q0_fraction": 0.9})
    out = json.loads((run / "run.json").read_text())
    assert out["metrics"]["q0"] == pytest.approx(0.9 * 0.8)
    assert out["config"]["comp_gate_width"] == 0.0 and out["dqn"] == info
    assert out["retuned"]["previous_mean_regret"] == 0.5
    assert info["mean_regret"] < 0.1 and "k_non_increasing" in info
    pol = RatePolicy.load(run / "policy.json")
    assert set(pol.k) <= set(acts) and (run / "dqn.keras").is_file()
    assert (run / "codebook.npy").read_bytes() == b"kept"
    with pytest.raises(ValueError, match="cannot retune order"):
        retune_policy(run, {"order": 4})


def test_monotone_argmax_matches_brute_force():
    """The DP's sequence is non-increasing and as good as the best of every non-increasing
    sequence (brute force over 5 SNRs x 4 actions); where greedy is already monotone it is
    greedy."""
    import itertools

    from trainer.svqvae.rate_control import monotone_argmax

    rng = np.random.default_rng(3)
    for _ in range(30):
        v = rng.normal(size=(5, 4))
        got = monotone_argmax(v)
        assert all(a >= b for a, b in zip(got, got[1:], strict=False))
        best = max(sum(v[g, a] for g, a in enumerate(seq))
                   for seq in itertools.product(range(4), repeat=5)
                   if all(a >= b for a, b in zip(seq, seq[1:], strict=False)))
        assert sum(v[g, a] for g, a in enumerate(got)) == pytest.approx(best)
    v = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])
    assert monotone_argmax(v).tolist() == [2, 1, 0]
    # greedy 2, 0, 1 is not monotone; 2, 0, 0 sums to 2.0, ahead of 2, 1, 1 (1.9)
    v = np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 0.9, 0.5]])
    assert monotone_argmax(v).tolist() == [2, 0, 0]
