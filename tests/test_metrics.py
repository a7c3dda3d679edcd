"""Hand-computed checks of metrics (BER, Q_sem, SCI statistics, eqs. 4-5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channel_sim import Constellation
from metrics import (
    bit_error_rate,
    bit_errors,
    concept_usage,
    cooccurrence,
    cooccurrence_asymmetry,
    critical_set,
    mean_sci_per_concept,
    q_sem,
    sci_concentration,
    semantic_vulnerability_report,
    spp,
    ssv_weighted,
    symbol_vulnerability,
)


# ------------------------------------------------------------------------------ BER
def test_bit_errors_by_hand():
    tx = np.array([0, 3, 5])
    rx = np.array([1, 3, 2])
    # 000^001 = 001 -> 1 bit; 011^011 -> 0 bits; 101^010 = 111 -> 3 bits; total 4 of 3*3 = 9
    assert bit_errors(tx, rx, 3) == 4
    assert bit_error_rate(tx, rx, 3) == pytest.approx(4 / 9)
    # any shape; 1023 ^ 0 has 10 bits set
    assert bit_errors(np.array([[1023]]), np.array([[0]]), 10) == 10


@pytest.mark.parametrize(
    "call",
    [
        lambda: bit_errors(np.array([0, 8]), np.array([0, 0]), 3),  # 8 needs 4 bits
        lambda: bit_errors(np.array([0, 1]), np.array([0]), 3),
        lambda: bit_errors(np.array([0.0]), np.array([0.0]), 3),
        lambda: bit_errors(np.array([0]), np.array([0]), 0),
        lambda: bit_error_rate(np.array([], int), np.array([], int), 2),
    ],
)
def test_bit_error_value_errors(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------------------- Q_sem
def test_q_sem_by_hand():
    p = np.array([[0.8, 0.2], [0.4, 0.6]])
    p_hat = np.array([[0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 0])
    # argmax p_hat = [0, 1] -> Q_task = 1/2
    # max p = [0.8, 0.6], max p_hat = [0.6, 0.7] -> P_c = 1 - (0.2 + 0.1)/2 = 0.85
    kl1 = 0.8 * math.log(0.8 / 0.6) + 0.2 * math.log(0.2 / 0.4)  # ~0.091516
    kl2 = 0.4 * math.log(0.4 / 0.3) + 0.6 * math.log(0.6 / 0.7)  # ~0.022582
    per_sample = (math.exp(-kl1) + math.exp(-kl2)) / 2  # ~0.945109
    of_mean = math.exp(-(kl1 + kl2) / 2)  # ~0.944547

    r = q_sem(p, p_hat, labels)
    assert r["q_task"] == pytest.approx(0.5)
    assert r["p_c"] == pytest.approx(0.85)
    assert r["kl_mean"] == pytest.approx((kl1 + kl2) / 2)
    assert r["kl_similarity"] == pytest.approx(per_sample)
    assert r["q_sem"] == pytest.approx(0.6 * 0.5 + 0.25 * 0.85 + 0.15 * per_sample)
    assert r["q_sem"] == pytest.approx(0.654266, abs=1e-6)

    r2 = q_sem(p, p_hat, labels, kl_mode="of_mean")
    assert r2["kl_similarity"] == pytest.approx(of_mean)
    assert r2["q_sem"] == pytest.approx(0.6 * 0.5 + 0.25 * 0.85 + 0.15 * of_mean)


def test_q_sem_perfect_and_zero_probabilities():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    r = q_sem(p, p.copy(), np.array([0, 1]))
    assert r["q_sem"] == pytest.approx(1.0) and r["kl_mean"] == pytest.approx(0.0, abs=1e-10)
    # p_hat puts zero mass on the true class: KL is finite thanks to the 1e-12 clip
    r = q_sem(p, p[::-1].copy(), np.array([0, 1]))
    assert math.isfinite(r["kl_mean"]) and r["kl_mean"] == pytest.approx(math.log(1e12), rel=1e-6)
    assert r["q_task"] == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: q_sem(np.ones((2, 2)) / 2, np.ones((2, 3)) / 3, np.array([0, 1])),
        lambda: q_sem(np.ones((2, 2)) / 2, np.ones((2, 2)) / 2, np.array([0, 2])),
        lambda: q_sem(np.ones((2, 2)) / 2, np.ones((2, 2)) / 2, np.array([0])),
        lambda: q_sem(np.ones((2, 2)) / 2, np.ones((2, 2)) / 2, np.array([0, 1]), "avg"),
        lambda: q_sem(np.ones(2) / 2, np.ones(2) / 2, np.array([0])),
    ],
)
def test_q_sem_value_errors(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------ concept stats
def test_mean_sci_and_usage_with_unused_concept():
    idx = np.array([[0, 2], [2, 0]])
    sci = np.array([[0.5, 0.9], [0.7, 0.1]])
    # concept 0: (0.5 + 0.1)/2 = 0.3; concept 2: (0.9 + 0.7)/2 = 0.8; 1 and 3 never sent
    assert np.allclose(mean_sci_per_concept(idx, sci, 4), [0.3, 0.0, 0.8, 0.0])
    assert concept_usage(idx, 4).tolist() == [2, 0, 2, 0]
    with pytest.raises(ValueError):
        mean_sci_per_concept(idx, sci[:, :1], 4)
    with pytest.raises(ValueError):
        concept_usage(np.array([4]), 4)


def test_cooccurrence_by_hand():
    sets = np.array([[0, 1, 1], [0, 1, 2], [2, 3, -1]])
    mask = np.array([[True, True, True], [True, True, True], [True, True, False]])
    # sample 0: set {0,1} (1 repeated, counted once) -> pair {0,1}
    # sample 1: {0,1,2} -> {0,1}, {0,2}, {1,2};  sample 2: {2,3} (-1 masked out)
    # unordered counts: {0,1}: 2, {0,2}: 1, {1,2}: 1, {2,3}: 1 -> 5 pairs, 10 ordered entries
    expected = np.array(
        [
            [0.0, 0.2, 0.1, 0.0],
            [0.2, 0.0, 0.1, 0.0],
            [0.1, 0.1, 0.0, 0.1],
            [0.0, 0.0, 0.1, 0.0],
        ]
    )
    got = cooccurrence(sets, mask, 4)
    assert np.allclose(got, expected)
    assert got.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):  # -1 is only allowed where masked out
        cooccurrence(sets, None, 4)


def test_cooccurrence_no_pairs_and_errors():
    assert not cooccurrence(np.array([[3, 3], [1, 1]]), None, 4).any()
    assert not cooccurrence(np.zeros((0, 3), int), None, 4).any()
    with pytest.raises(ValueError):
        cooccurrence(np.array([0, 1]), None, 4)
    with pytest.raises(ValueError):
        cooccurrence(np.array([[0, 1]]), np.array([[1, 1]]), 4)  # mask not bool


# ------------------------------------------------------- eqs. 4 and 5, delta, gamma
X4 = np.array([1, -1, 1j, -1j])
P4 = np.array(
    [
        [0.0, 0.2, 0.1, 0.0],
        [0.2, 0.0, 0.1, 0.0],
        [0.1, 0.1, 0.0, 0.1],
        [0.0, 0.0, 0.1, 0.0],
    ]
)
SCI4 = np.array([0.9, 0.2, 0.3, 0.6])
# |x0-x1|^2 = |x2-x3|^2 = 4; every other pair (axis to axis) is at squared distance 2
E2, E4 = math.exp(-2), math.exp(-4)
S_EXPECTED = 16 * np.array(
    [
        0.2 * E4 + 0.1 * E2,  # S_0: j=1 (d^2 4), j=2 (d^2 2)
        0.2 * E4 + 0.1 * E2,  # S_1: j=0 (4), j=2 (2)
        0.1 * E2 + 0.1 * E2 + 0.1 * E4,  # S_2: j=0 (2), j=1 (2), j=3 (4)
        0.1 * E4,  # S_3: j=2 (4)
    ]
)  # ~[0.2751, 0.2751, 0.4624, 0.0293], mean mu_S ~0.2605


def test_symbol_vulnerability_and_ssv_by_hand():
    assert np.allclose(symbol_vulnerability(X4, P4), S_EXPECTED)
    s_w = 0.9 * S_EXPECTED[0] + 0.2 * S_EXPECTED[1] + 0.3 * S_EXPECTED[2] + 0.6 * S_EXPECTED[3]
    assert ssv_weighted(X4, SCI4, P4) == pytest.approx(s_w / 4)
    assert ssv_weighted(Constellation(X4), SCI4, P4) == pytest.approx(0.1147394, abs=1e-7)
    # the diagonal of P is ignored (j != i)
    assert np.allclose(symbol_vulnerability(X4, P4 + np.eye(4)), S_EXPECTED)


def test_delta_critical_set_spp_gamma_by_hand():
    # mean SCI = 0.5 -> delta_i = [0.4, -0.3, -0.2, 0.1]; delta = 0.4; S_top = {0, 3}
    assert sci_concentration(SCI4) == pytest.approx(0.4)
    assert critical_set(SCI4).tolist() == [True, False, False, True]
    # mu_S ~0.2605: S_0 ~0.2751 is not below it, S_3 ~0.0293 is -> S_p = 1/2
    assert spp(X4, SCI4, P4) == pytest.approx(0.5)
    # gamma = max_{i!=j} P - min_{i!=j} P = 0.2 - 0.0
    assert cooccurrence_asymmetry(P4) == pytest.approx(0.2)
    report = semantic_vulnerability_report(Constellation(X4), SCI4, P4)
    assert report["spp"] == pytest.approx(0.5) and report["n_critical"] == 2
    assert report["delta"] == pytest.approx(0.4) and report["gamma"] == pytest.approx(0.2)
    assert report["ssv"] == pytest.approx(ssv_weighted(X4, SCI4, P4))


def test_edge_cases():
    equal = np.full(4, 0.1)
    assert sci_concentration(equal) == 0.0
    assert not critical_set(equal).any()
    assert math.isnan(spp(X4, equal, P4))
    assert math.isnan(semantic_vulnerability_report(X4, equal, P4)["spp"])
    # uniform off-diagonal P with a non-zero diagonal: the diagonal is excluded -> gamma = 0
    uniform = np.full((4, 4), 1 / 12) + 0.5 * np.eye(4)
    assert cooccurrence_asymmetry(uniform) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError):
        symbol_vulnerability(X4, np.zeros((3, 3)))
    with pytest.raises(ValueError):
        ssv_weighted(X4, np.ones(3), P4)
    with pytest.raises(ValueError):
        symbol_vulnerability(X4, -P4)


def test_policy_independent_spp_on_four_points_by_hand():
    """All-slot statistics (every slot of every encoding, issue 13) on 3 samples of N = 2:
    concept 0 is the only one above the mean SCI (0.9 vs 0.1), and it co-occurs with 1 and 2
    (P = 1/6 for each ordered pair of (0,1), (0,2), (3,1)). A constellation that keeps 0 away
    from 1 and 2 protects it (SPP = 1); one that puts 0 next to them does not (SPP = 0)."""
    from metrics import pooled_concept_stats

    idx = np.array([[0, 1], [0, 2], [3, 1]])
    sci = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.1]])
    mean_sci, usage, cooc = pooled_concept_stats([idx], [sci], [1], 4)
    np.testing.assert_allclose(mean_sci, [0.9, 0.1, 0.1, 0.1])
    assert usage.tolist() == [2, 2, 1, 1]
    want = np.zeros((4, 4))
    for i, j in ((0, 1), (0, 2), (3, 1)):
        want[i, j] = want[j, i] = 1 / 6
    np.testing.assert_allclose(cooc, want)
    protective = np.array([3.0, -0.5, -0.5 + 2j, -0.5 - 0.3j])
    exposed = np.array([0.0, 0.3, 0.3j, 4.0])
    assert spp(protective, mean_sci, cooc) == 1.0
    assert spp(exposed, mean_sci, cooc) == 0.0
