"""ISFR + OPHD (trainer/isfr): the BER proxy and its slope against independent references, the
KKT power allocation against a generic constrained optimiser, OPHD against a brute-force search
on a small case, the bit/symbol mapping, and the scheme contract on a tiny trained run."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, optimize

from channel_sim import ser_square_qam
from trainer.isfr.ophd import (
    allocate_power,
    equal_protection,
    ophd,
    order_candidates,
    qam_ber,
    qam_ber_slope,
    symbols_per_feature,
)
from trainer.isfr.pipeline import feature_labels, feature_symbols

# ------------------------------------------------------------------ the BER proxy (eq. 19)


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 7.0])
def test_qpsk_ber_is_exact(snr_db):
    """For 4-QAM eq. (19) is the exact Gray BER, the per-rail error p with SER = 1 - (1-p)^2."""
    ser = float(ser_square_qam(4, snr_db))
    assert qam_ber(1.0, 2, 10 ** (snr_db / 10)) == pytest.approx(1 - math.sqrt(1 - ser), rel=1e-9)


@pytest.mark.parametrize("bits", [2, 4, 6])
def test_rayleigh_model_is_the_fading_average(bits):
    """'rayleigh' = eq. (19) averaged over an exponential SNR of mean gamma (numerical integral)."""
    g = 3.0
    ref, _ = integrate.quad(lambda s: qam_ber(1.0, bits, s) * math.exp(-s / g) / g, 0, np.inf)
    assert qam_ber(1.0, bits, g, "rayleigh") == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("model", ["awgn", "rayleigh"])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_slope_is_minus_the_derivative(model, bits):
    p, h = np.array([0.05, 0.7, 3.0]), 1e-6
    num = -(qam_ber(p + h, bits, 2.0, model) - qam_ber(p - h, bits, 2.0, model)) / (2 * h)
    np.testing.assert_allclose(qam_ber_slope(p, bits, 2.0, model), num, rtol=1e-5)


def test_unknown_ber_model_is_named():
    with pytest.raises(ValueError, match="unknown BER model 'x'"):
        qam_ber(1.0, 2, 1.0, "x")


# ------------------------------------------------------------- power allocation (P1.4)


@pytest.mark.parametrize("model", ["awgn", "rayleigh"])
def test_kkt_power_matches_a_generic_optimiser(model):
    w = np.array([0.5, 0.3, 0.2])
    bits = np.array([2, 4, 4])
    n = np.array([4.0, 2.0, 2.0])
    g = 10 ** (3 / 10)
    p = allocate_power(w, bits, g, n, model=model)
    assert np.all(p > 0) and np.sum(n * p) == pytest.approx(n.sum(), rel=1e-12)

    def j(v):
        return float(np.sum(w * qam_ber(v, bits, g, model)))

    ref = optimize.minimize(j, np.ones(3), method="SLSQP", bounds=[(1e-9, None)] * 3,
                            constraints=[{"type": "eq", "fun": lambda v: n @ v - n.sum()}],
                            options={"ftol": 1e-14, "maxiter": 500})
    assert ref.success
    assert j(p) <= ref.fun + 1e-9
    np.testing.assert_allclose(p, ref.x, rtol=2e-3, atol=1e-4)


def test_power_rejects_bad_input():
    with pytest.raises(ValueError, match="must all be > 0"):
        allocate_power([0.5, 0.0], [2, 2], 1.0, [1, 1])


# ------------------------------------------------------------------ OPHD (Algorithm 1)


def _simplex(k: int, grid: int) -> np.ndarray:
    """All k-part energy shares on a grid of 1/grid, every share > 0: [m, k]."""
    if k == 1:
        return np.ones((1, 1))
    pts = [c for c in itertools.product(range(1, grid), repeat=k - 1) if sum(c) < grid]
    head = np.array(pts, float)
    return np.hstack([head, grid - head.sum(1, keepdims=True)]) / grid


def _brute_force(w, gamma, bits_per_feature, budget, bit_set, d_t, grid=300):
    """(P1.2)'s space searched blindly: every truncation k (the leading k features), every
    order per feature (no monotonicity, no eq. 26 pruning), powers on a grid of the energy
    simplex sum_j n_j p_j = sum_j n_j: the minimum of eq. (23)."""
    best = (math.inf, None)
    n_feat = len(w)
    for k in range(1, n_feat + 1):
        shares = _simplex(k, grid)
        for subset in [tuple(range(k))]:
            for combo in itertools.product(bit_set, repeat=k):
                n = np.array([symbols_per_feature(bits_per_feature, b) for b in combo], float)
                if n.sum() > budget:
                    continue
                rest = d_t * sum(w[j] for j in range(n_feat) if j not in subset)
                ws = np.array([w[j] for j in subset])
                p = shares * n.sum() / n  # [m, k]
                vals = (ws * qam_ber(p, np.array(combo), gamma)).sum(1) + rest
                i = int(np.argmin(vals))
                if vals[i] < best[0]:
                    best = (float(vals[i]), (subset, combo, p[i]))
    return best


@pytest.mark.parametrize("snr_db", [-8.0, 0.0, 6.0, 14.0])
@pytest.mark.parametrize("prune", ["none", "full"])
def test_ophd_matches_brute_force(snr_db, prune):
    """3 features of 4 bits, 4- or 16-QAM, 6 symbols: OPHD searching every k (with or without
    the eq. 26 pruning) reaches the brute-force minimum of eq. (23) with its k and orders."""
    w = np.array([0.6, 0.3, 0.1])
    gamma = 10 ** (snr_db / 10)
    a = ophd(w, gamma, bits_per_feature=4, budget=6, bit_set=(2, 4), discard_penalty=0.22,
             search="exhaustive", prune=prune)
    ref, (subset, combo, p_ref) = _brute_force(w, gamma, 4, 6, (2, 4), 0.22)
    assert a.distortion <= ref + 1e-9  # the grid can only be worse than the exact optimum
    assert a.distortion == pytest.approx(ref, rel=2e-3, abs=1e-6)
    assert subset == tuple(range(a.k)) and combo == a.bits
    np.testing.assert_allclose(a.power, p_ref, rtol=0.03, atol=0.02)


@pytest.mark.parametrize("snr_db", [-8.0, 0.0, 6.0, 14.0])
def test_early_stopping_is_the_paper_heuristic(snr_db):
    """Algorithm 1's early stop (stop when J_k rises) equals the full search where J_k is
    unimodal (0, 6, 14 dB here) and can only be worse: at -8 dB J_3 < J_2 > J_1 and it stops at
    k = 3 while k = 1 is optimal (docs/schemes.md)."""
    w = np.array([0.6, 0.3, 0.1])
    kw = dict(bits_per_feature=4, budget=6, bit_set=(2, 4), discard_penalty=0.22)
    early = ophd(w, 10 ** (snr_db / 10), search="early_stop", **kw)
    full = ophd(w, 10 ** (snr_db / 10), search="exhaustive", **kw)
    assert early.distortion >= full.distortion - 1e-12
    if snr_db == -8.0:
        assert (early.k, full.k) == (3, 1) and early.searched == (3, 2)
    else:
        assert (early.k, early.bits) == (full.k, full.bits)


@pytest.mark.parametrize("snr_db", [-10.0, -4.0, 2.0, 10.0, 25.0])
@pytest.mark.parametrize("model", ["awgn", "rayleigh"])
def test_ophd_allocation_satisfies_its_constraints(snr_db, model, rng):
    w = np.sort(rng.dirichlet(np.ones(8)))[::-1]
    budget, b_f = 16, 16
    a = ophd(w, 10 ** (snr_db / 10), bits_per_feature=b_f, budget=budget, bit_set=(2, 4, 6, 8),
             model=model)
    assert 1 <= a.k <= 8 and len(a.bits) == len(a.power) == len(a.symbols) == a.k
    assert list(a.bits) == sorted(a.bits)  # eq. (25): non-decreasing with the feature index
    assert set(a.bits) <= {2, 4, 6, 8}
    assert a.symbols == tuple(math.ceil(b_f / b) for b in a.bits)
    assert a.n_symbols <= budget  # the rate budget
    p, n = np.array(a.power), np.array(a.symbols)
    assert np.all(p > 0)
    assert np.sum(n * p) == pytest.approx(n.sum(), rel=1e-12)  # mean power 1 per sent symbol
    assert a.searched[0] == 8


def test_ophd_trends_with_snr():
    """Low SNR: fewer features on robust orders; high SNR: every feature (Section V.B.1)."""
    w = np.array([0.4, 0.2, 0.15, 0.1, 0.07, 0.04, 0.03, 0.01])
    low = ophd(w, 10 ** (-8 / 10), bits_per_feature=16, budget=16, bit_set=(2, 4, 6, 8),
               search="exhaustive")
    high = ophd(w, 10 ** (30 / 10), bits_per_feature=16, budget=16, bit_set=(2, 4, 6, 8))
    assert high.k == 8 and low.k < 8 and max(low.bits) < 8


def test_order_candidates_use_the_budget():
    full = order_candidates(2, (2, 4), 4, 6, "full")
    every = order_candidates(2, (2, 4), 4, 6, "none")
    # 4 bits per feature: 2 symbols at 4-QAM, 1 at 16-QAM; non-decreasing vectors only
    assert every == [(2, 2), (2, 4), (4, 4)]  # 4, 3 and 2 symbols: all fit in 6
    assert full == [(2, 2)]  # eq. (26): the most symbols that fit
    assert order_candidates(3, (2,), 4, 5) == []


def test_equal_protection_sends_every_feature_at_one_order():
    a = equal_protection(8, 8, 16, 4)
    assert a.k == 8 and a.bits == (4,) * 8 and a.power == (1.0,) * 8 and a.n_symbols == 16
    with pytest.raises(ValueError, match="more than the budget"):
        equal_protection(8, 16, 3, 4)


# ------------------------------------------------------------------ bits <-> symbols


@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_feature_bits_round_trip(bits, rng):
    labels = rng.integers(0, 4, size=(5, 7))  # L = 7 elements of N_b = 2 bits = 14 bits
    sym = feature_symbols(labels, 2, bits)
    assert sym.shape == (5, math.ceil(14 / bits)) and sym.max() < (1 << bits)
    np.testing.assert_array_equal(feature_labels(sym, 2, bits, 7), labels)


def test_feature_symbols_by_hand():
    # labels 3, 1 -> bits 11 01 -> 16-QAM index 0b1101 = 13; 4-QAM: 3, 1
    assert feature_symbols(np.array([[3, 1]]), 2, 4).tolist() == [[13]]
    assert feature_symbols(np.array([[3, 1]]), 2, 2).tolist() == [[3, 1]]
    assert feature_symbols(np.array([[3, 1]]), 2, 6).tolist() == [[0b110100]]


# ------------------------------------------------------------ the scheme on a tiny run


@pytest.fixture(scope="module")
def isfr_run(tmp_path_factory):
    """A tiny ISFR run (500 digits, S = 16, M = 16) and the 200 test digits."""
    import keras

    from conftest import tiny_dataset
    from trainer.isfr.train import train
    from trainer.svqvae.models import build_classifier

    ds = tiny_dataset()
    root = tmp_path_factory.mktemp("isfr")
    clf = build_classifier(ds.input_shape, ds.n_classes, seed=0)
    clf.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    clf.fit(ds.x_train, ds.y_train, batch_size=64, epochs=3, verbose=0)
    clf.save(root / "t.keras")
    out = train(ds, root / "run", budget=16, order=16, seed=0, loss="task",
                classifier=root / "t.keras", profile="quick", stage1_epochs=3, stage2_epochs=3,
                batch_size=64)
    return out, ds


@pytest.mark.slow
def test_tiny_run_contract(isfr_run):
    from trainer.scheme import load_run
    from trainer.sweep import run_point

    path, ds = isfr_run
    run = load_run(path)
    assert run.name == "isfr" and run.variants == ["ophd", "equal_protection"]
    assert (run.budget, run.order, run.bits_per_symbol) == (16, 16, 4)
    assert run.info["format"] == 1 and run.info["scheme"] == "isfr"
    assert "train_s" in run.info["timings"] and run.info["loss"] == "task"
    w = np.array(run.info["importance"]["weights"])
    assert w.shape == (8,) and w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    x, y = ds.x_test, ds.y_test
    p_clean = run.pipeline.classify(x)
    for variant in run.variants:
        for snr in (-6.0, 20.0):
            tx = run.transmitter(x, variant, seed=3)
            (frame,) = tx.transmit(snr)
            alloc = run.allocation(variant, snr)
            # budget: symbols <= S, side bits as documented
            assert frame.symbols.shape == (len(x), alloc.n_symbols) and frame.k <= 16
            k_bits = 3 if variant == "ophd" else 0
            m_bits = 1 if variant == "ophd" else 0  # orders {4, 16}: 1 bit each
            assert frame.side_bits == pytest.approx(k_bits + alloc.k * m_bits + 32 / len(x))
            assert frame.energy == pytest.approx(1.0, abs=1e-12)  # measured, per frame
            again = run.transmitter(x, variant, seed=3).transmit(snr)[0]
            np.testing.assert_array_equal(again.symbols, frame.symbols)
            # noiseless channel: the reception is the no-channel decoding of the sent features
            got = run.receiver(variant).receive(frame.symbols, frame)
            idx = run.pipeline.encode(x)
            _, ref = run.pipeline.decode_classify(
                run.pipeline.features(idx, np.arange(8) < alloc.k))
            np.testing.assert_allclose(got.probs, ref, atol=1e-6)
            assert got.x_hat.shape == (len(x), 28, 28)
    # a tiny train beats chance (10 classes) through the channel at 20 dB
    point = run_point(run.transmitter(x, "ophd"), run.receiver("ophd"), lambda s, snr: s,
                      20.0, p_clean, y, run.bits_per_symbol)
    assert point.record["accuracy"] > 0.3
    assert point.record["tx_energy"] == pytest.approx(1.0)


@pytest.mark.slow
def test_unknown_variant_and_bad_budget_are_named(isfr_run, tmp_path):
    from trainer.isfr.config import feature_geometry
    from trainer.isfr.run import load_run

    run = load_run(isfr_run[0])
    with pytest.raises(ValueError, match="unknown ISFR variant 'argmax'"):
        run.transmitter(isfr_run[1].x_test, "argmax")
    with pytest.raises(ValueError, match="choose a budget S"):
        feature_geometry(10, 16, 8, 2)
    with pytest.raises(ValueError, match="unknown OPHD setting"):
        run.set_ophd(d_t=0.5)
    before = run.allocation("ophd", -6.0)
    run.set_ophd(discard_penalty=5.0, ophd_search="exhaustive")  # the cache is cleared
    assert run.allocation("ophd", -6.0) == ophd(
        run.importance, 10 ** -0.6, bits_per_feature=8, budget=16, bit_set=(2, 4),
        discard_penalty=5.0, search="exhaustive")
    run.set_ophd(discard_penalty=0.22, ophd_search="early_stop")
    assert run.allocation("ophd", -6.0) == before


def test_train_rejects_bad_arguments_before_training(tmp_path):
    from conftest import tiny_dataset
    from trainer.isfr.config import IsfrConfig
    from trainer.isfr.train import train

    ds = tiny_dataset()
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        train(ds, tmp_path / "r", budget=16, order=16, seed=0, loss="mse",
              classifier=tmp_path / "t.keras")
    with pytest.raises(FileNotFoundError, match="no such classifier file"):
        train(ds, tmp_path / "r", budget=16, order=16, seed=0, classifier=tmp_path / "t.keras")
    with pytest.raises(ValueError, match="unknown ISFR option"):
        IsfrConfig.for_profile("quick", n_feature=4)
    assert not (tmp_path / "r").exists()


def test_feature_geometry_fills_the_budget_at_order_m():
    from trainer.isfr.config import feature_geometry
    from trainer.isfr.run import allowed_bits

    assert feature_geometry(16, 16, 8, 2) == (4, 8)  # 64 bits: 8 features of 4 two-bit elements
    assert feature_geometry(16, 256, 8, 2) == (8, 16)
    assert allowed_bits((2, 4, 6), 16) == (2, 4)
    assert allowed_bits((2, 4, 6), 256) == (2, 4, 6, 8)
    assert allowed_bits((2, 4, 6), 4) == (2,)
