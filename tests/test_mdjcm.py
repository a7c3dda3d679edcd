"""MDJCM (trainer/mdjcm, issue 14): hard modulation, entropy-guided lengths and the eta
bisection against hand-computed cases and closed forms; a tiny trained run through the scheme
contract (budget, per-frame power at every order, determinism, beats chance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.mdjcm.modulation import (
    ORDERS,
    gray_labels,
    half_distance,
    hard_modulate,
    length_bits,
    length_histogram,
    lengths,
    tune_eta,
)


def test_hard_modulation_hand_case_clips_and_rounds_each_rail():
    # 16-QAM with d = 1: levels -3, -1, 1, 3; clip at +-3, round each rail separately
    re = np.array([-5.0, -2.1, -1.9, 0.1, 2.5, 3.2, 0.9])
    im = np.array([0.2, 7.0, -0.8, -2.9, 1.1, -4.0, -1.2])
    got = hard_modulate(re + 1j * im, 16, d=1.0)
    np.testing.assert_array_equal(got.real, [-3, -3, -1, 1, 3, 3, 1])
    np.testing.assert_array_equal(got.imag, [1, 3, -1, -3, 1, -3, -1])


@pytest.mark.parametrize("order", ORDERS)
def test_default_grid_has_unit_average_energy(order):
    root = math.isqrt(order)
    levels = hard_modulate(np.linspace(-9, 9, 20001), order).real
    grid = np.unique(levels)
    assert len(grid) == root
    points = grid[:, None] + 1j * grid[None, :]
    assert np.mean(np.abs(points) ** 2) == pytest.approx(1.0)
    assert half_distance(order) == pytest.approx(math.sqrt(1.5 / (order - 1)))


def test_gray_labels_differ_by_one_bit_between_neighbours():
    d = half_distance(64)
    levels = (2 * np.arange(8) - 7) * d
    lab = gray_labels(levels + 1j * levels[0], 64)
    assert sorted(lab.tolist()) == sorted(set(lab.tolist()))
    for a, b in zip(lab[:-1], lab[1:], strict=True):
        assert bin(int(a) ^ int(b)).count("1") == 1


def test_lengths_hand_case():
    bits = np.array([[0.4, 3.6, 30.0], [0.1, 0.2, 0.3]])
    k = lengths(bits, 1.0, 8)
    np.testing.assert_array_equal(k, [[0, 4, 8], [0, 0, 1]])  # row 2: min one symbol
    np.testing.assert_array_equal(lengths(bits, 1.0, 8, min_total=0)[1], [0, 0, 0])
    assert length_bits(8, 8) == 8 * 4
    hist = length_histogram(k, 8)
    assert hist["vector"].sum() == 6 and hist["vector"][0] == 3 and hist["total"][12] == 1


@pytest.mark.parametrize("budget", [8, 16, 32])
def test_eta_bisection_hits_the_mean_length(budget):
    rng = np.random.default_rng(1)
    bits = rng.gamma(2.0, 6.0, size=(4000, 8))
    eta = tune_eta(bits, budget, k_max=16)
    mean = lengths(bits, eta, 16).sum(1).mean()
    assert mean <= budget
    assert budget - mean < 0.01 * budget  # within 1 % from below
    assert lengths(bits, eta * (1 + 1e-6) + 1e-9, 16).sum(1).mean() > mean - 1e-12
    with pytest.raises(ValueError, match="budget"):
        tune_eta(bits, 8 * 16 + 1, k_max=16)


def test_gaussian_likelihood_matches_the_normal_cdf():
    from scipy.stats import norm

    from trainer.mdjcm.model import gaussian_likelihood

    y = np.array([-2.0, 0.0, 0.3, 4.0], np.float32)
    mu = np.array([0.5, 0.0, -1.0, 1.0], np.float32)
    sig = np.array([1.0, 0.2, 2.0, 0.7], np.float32)
    want = norm.cdf(y + 0.5, mu, sig) - norm.cdf(y - 0.5, mu, sig)
    np.testing.assert_allclose(np.asarray(gaussian_likelihood(y, mu, sig)), want, atol=1e-6)


def test_factorized_density_sums_to_one_over_the_integers():
    import keras

    from trainer.mdjcm.model import FactorizedDensity

    z = keras.Input((3,))
    model = keras.Model(z, FactorizedDensity()(z))
    grid = np.arange(-200, 201, dtype=np.float32)[:, None].repeat(3, axis=1)
    total = np.asarray(model(grid)).sum(axis=0)
    np.testing.assert_allclose(total, 1.0, atol=1e-4)


def test_substitution_process_adds_the_uniform_and_channel_variances():
    import tensorflow as tf

    from trainer.mdjcm.model import channel_process, order_inputs

    n = 20000
    onehot, root, d = order_inputs(np.full(n, 64))
    s = np.full((n, 2), 1.0, np.float32) * d  # the inner point (d, d): |q(s)|^2 = 2 d^2
    m = np.ones_like(s)
    snr = np.full((n, 1), 10.0, np.float32)
    out = np.asarray(channel_process(tf.constant(s), tf.constant(m), tf.constant(root),
                                     tf.constant(d), tf.constant(snr), "substitution"))
    gain2 = 1.0 / (2 * float(d[0, 0]) ** 2)  # brings the sent power 2 d^2 to 1
    want = 2 * float(d[0, 0]) ** 2 / 3 + 0.1 / gain2 / 2
    assert np.var(out - s) == pytest.approx(want, rel=0.05)


# --- a tiny trained run through the scheme contract ------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import keras

    from trainer.data import Dataset
    from trainer.data.load import load_dataset
    from trainer.mdjcm.train import train
    from trainer.svqvae.models import build_classifier

    full = load_dataset("mnist")
    ds = Dataset("mnist", full.x_train[:1000], full.y_train[:1000], full.x_test[:300],
                 full.y_test[:300], full.class_names, full.source)
    folder = tmp_path_factory.mktemp("mdjcm")
    clf = build_classifier(ds.input_shape, ds.n_classes, (64,), 0.0, seed=0)
    clf.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    clf.fit(ds.x_train, ds.y_train, batch_size=64, epochs=4, verbose=0)
    clf.save(folder / "clf.keras")
    out = train(ds, folder / "run", budget=16, order=16, seed=0, classifier=folder / "clf.keras",
                hidden=64, batch_size=32, epochs_source=2, epochs_joint=4,
                epochs_receiver=1)
    return out, ds, clf


@pytest.mark.slow
def test_tiny_run_contract(tiny_run):
    from channel_sim import make_channel
    from trainer.mdjcm.run import Run
    from trainer.scheme import load_run
    from trainer.sweep import run_point

    out, ds, clf = tiny_run
    run = load_run(out)
    assert isinstance(run, Run) and run.name == "mdjcm" and run.variants == ["mdjcm"]
    assert run.budget == 16 and run.order == 16 and run.orders == ORDERS
    info = run.info
    assert info["format"] == 1 and info["scheme"] == "mdjcm" and info["timings"]["train_s"] > 0
    assert info["lengths"]["mean_train"] <= 16 and info["lengths"]["mean_train"] > 15
    x, y = ds.x_test, ds.y_test
    p_clean = clf.predict(x, verbose=0)
    k_max, n_vec = info["k_max"], info["config"]["n_vectors"]
    for order in ORDERS:
        r = run.with_order(order)
        frames = r.transmitter(x).transmit(30.0)
        sent = sum(f.symbols.size for f in frames)
        assert sent / len(x) == pytest.approx(16, abs=2.0)  # eta was tuned on the train split
        for f in frames:
            assert np.mean(np.abs(f.symbols) ** 2) == pytest.approx(1.0, abs=1e-5)
            grid = f.symbols / float(f.side["gain"][0])
            np.testing.assert_allclose(hard_modulate(grid, order), grid, atol=1e-6)
            assert f.side_bits == pytest.approx(n_vec * math.ceil(math.log2(k_max + 1))
                                                + 32 / len(f.samples))
            np.testing.assert_array_equal(f.side["lengths"].sum(1), f.k)
        clean = run_point(r.transmitter(x), r.receiver(), lambda v, snr: v, 30.0, p_clean, y,
                          r.bits_per_symbol).record  # noiseless: demodulation is exact
        assert clean["tx_energy"] == pytest.approx(1.0, abs=1e-5) and clean["ser"] == 0.0
        assert clean["accuracy"] > 0.3  # chance is 0.1
    rec = run_point(run.transmitter(x), run.receiver(), make_channel("awgn", 3), 15.0, p_clean,
                    y, run.bits_per_symbol).record
    assert rec["accuracy"] > 0.3 and rec["tx_energy"] == pytest.approx(1.0, abs=1e-5)
    a = run.transmitter(x, seed=5).transmit(3.0)
    b = run.transmitter(x, seed=5).transmit(3.0)
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.symbols, fb.symbols)
    hist = run.length_distribution(x)
    assert hist["vector"].sum() == len(x) * n_vec and hist["total"].sum() == len(x)
    with pytest.raises(ValueError, match="variant"):
        run.transmitter(x, "argmax")
    with pytest.raises(ValueError, match="order"):
        run.with_order(8)
