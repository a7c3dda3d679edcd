"""JCM (trainer/jcm): the sampling rules against closed forms and, on a tiny trained run, the
issue-14 scheme checks (budget, per-frame power, same seed -> same output, beats chance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channel_sim import Constellation
from trainer.jcm.modulation import (
    ORDERS,
    expected_usage,
    gumbel_max,
    label_table,
    levels_to_symbols,
    rail_levels,
)

LOGITS = np.array([2.0, 0.5, -1.0, 0.0])


def closed_form_softmax(logits) -> np.ndarray:
    e = [math.exp(v) for v in logits]
    return np.array([v / sum(e) for v in e])


def test_gumbel_max_histogram_converges_to_softmax():
    """Eq. (15): over many draws the level frequencies match softmax(logits) (chi-square and
    total variation against the closed form)."""
    from scipy.stats import chisquare

    n = 100_000
    draws = gumbel_max(np.tile(LOGITS, (n, 1)), np.random.default_rng(1))
    counts = np.bincount(draws, minlength=4)
    p = closed_form_softmax(LOGITS)
    assert 0.5 * np.abs(counts / n - p).sum() < 0.007
    assert chisquare(counts, n * p).pvalue > 1e-3
    # and a deliberately wrong law is rejected by the same test
    assert chisquare(counts, n * closed_form_softmax(LOGITS / 2)).pvalue < 1e-6


def test_straight_through_forward_histogram_and_softmax_gradient():
    """Eqs. (15)-(19) in the training graph: the forward pass is one-hot with frequencies
    softmax(logits); the backward pass is the softmax Jacobian at (l + tau) / T."""
    import tensorflow as tf
    from keras import random

    from trainer.jcm.modulation import st_gumbel_softmax, straight_through

    n = 40_000
    hot = np.asarray(st_gumbel_softmax(tf.constant(np.tile(LOGITS, (n, 1)), tf.float32), 1.0,
                                       random.SeedGenerator(3)))
    assert np.allclose(hot.sum(1), 1.0, atol=1e-6) and np.allclose(hot.max(1), 1.0, atol=1e-6)
    assert 0.5 * np.abs(hot.mean(0) - closed_form_softmax(LOGITS)).sum() < 0.015

    noisy = tf.constant([[0.3, 1.2, -0.4]], tf.float64)
    w = np.array([1.0, -2.0, 0.5])
    temp = 0.7
    with tf.GradientTape() as tape:
        tape.watch(noisy)
        out = straight_through(noisy, temp)
        f = tf.reduce_sum(out * w)
    grad = tape.gradient(f, noisy).numpy()[0]
    assert np.allclose(out.numpy()[0], [0, 1, 0])
    v = closed_form_softmax(noisy.numpy()[0] / temp)
    assert np.allclose(grad, v * (w - v @ w) / temp)  # d/dl sum_r w_r softmax_r(l / T)


def test_label_table_is_the_gray_qam():
    for order in ORDERS:
        n = rail_levels(order)
        table = label_table(order)
        assert sorted(table.ravel()) == list(range(order))
        pts = Constellation.rectangular_gray(order).points * math.sqrt(2 * (order - 1) / 3)
        p_i, p_q = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        assert np.allclose(pts[table], (2 * p_i - (n - 1)) + 1j * (2 * p_q - (n - 1)))


def test_symbols_normalised_over_what_was_drawn_by_hand():
    levels = np.array([[[0, 0], [3, 3]], [[1, 2], [1, 2]]])  # 16-QAM, levels -3, -1, 1, 3
    z, labels = levels_to_symbols(levels, 16)
    assert np.allclose(z[0], np.array([-3 - 3j, 3 + 3j]) / math.sqrt(18))
    assert np.allclose(z[1], np.array([-1 + 1j, -1 + 1j]) / math.sqrt(2))
    assert np.allclose(np.mean(np.abs(z) ** 2, axis=1), 1.0)
    assert labels[0, 0] == label_table(16)[0, 0] and labels[1, 1] == label_table(16)[1, 2]


def test_expected_usage_by_hand():
    """I rail certain at level 1, Q rail uniform over two levels -> usage 1/2 on two points."""
    big = 50.0
    logits = np.array([[[[-big, big, -big, -big], [0, 0, -big, -big]]]])
    u = expected_usage(logits, 16)
    t = label_table(16)
    assert u.sum() == pytest.approx(1.0)
    assert u[t[1, 0]] == pytest.approx(0.5) and u[t[1, 1]] == pytest.approx(0.5)


def test_bad_input_one_line_errors():
    from trainer.jcm.train import make_config

    for bad in (8, 32, 2, True):
        with pytest.raises(ValueError, match="square QAM order"):
            rail_levels(bad)
    with pytest.raises(ValueError, match="does not take option"):
        make_config("quick", epoch=3)
    with pytest.raises(ValueError, match="unknown JCM profile"):
        make_config("fast")
    with pytest.raises(ValueError, match="snr_train_db"):
        make_config("quick", snr_train_db=(10, -10))


# ------------------------------------------------------------------ a tiny trained run
BUDGET, ORDER = 8, 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import keras

    from trainer.data import Dataset, load_dataset
    from trainer.jcm.train import train
    from trainer.scheme import load_run
    from trainer.svqvae.models import build_classifier

    full = load_dataset("mnist")
    ds = Dataset(full.name, full.x_train[:1200], full.y_train[:1200], full.x_test[:300],
                 full.y_test[:300], full.class_names, full.source)
    root = tmp_path_factory.mktemp("jcm")
    keras.utils.set_random_seed(0)
    clf = build_classifier(ds.input_shape, ds.n_classes, (128,), 0.0, seed=0)
    clf.compile("adam", "sparse_categorical_crossentropy")
    clf.fit(ds.x_train, ds.y_train, batch_size=64, epochs=3, verbose=0)
    clf.save(root / "T.keras")
    with pytest.raises(ValueError, match="unknown loss"):
        train(ds, root / "bad", budget=BUDGET, order=ORDER, seed=0, loss="mse",
              classifier=root / "T.keras")
    with pytest.raises(FileNotFoundError, match="no classifier"):
        train(ds, root / "bad", budget=BUDGET, order=ORDER, seed=0, classifier=root / "no")
    path = train(ds, root / "run", budget=BUDGET, order=ORDER, seed=0, loss="task",
                 classifier=root / "T.keras", epochs=8, hidden=(128,), batch_size=32,
                 lambda_x=0.02, learning_rate=2e-3, uniform_ablation=True,
                 snr_train_db=(10.0, 20.0))
    return ds, load_run(path)


@pytest.mark.slow
def test_run_folder_and_variants(tiny):
    ds, run = tiny
    assert run.name == "jcm" and run.variants == ["sample", "argmax", "uniform"]
    assert (run.budget, run.order, run.bits_per_symbol) == (BUDGET, ORDER, 4)
    info = run.info
    assert info["format"] == 1 and info["scheme"] == "jcm" and info["loss"] == "task"
    assert info["seed"] == 0 and info["side_bits"] == 0 and info["timings"]["train_s"] > 0
    assert run.dataset_name == "mnist" and run.input_shape == (28, 28)
    with pytest.raises(ValueError, match="unknown JCM variant"):
        run.transmitter(ds.x_test, "nearest")


@pytest.mark.slow
def test_frames_budget_power_labels_and_seed(tiny):
    ds, run = tiny
    x = ds.x_test[:64]
    pts = Constellation.rectangular_gray(ORDER).points
    for variant in run.variants:
        (frame,) = run.transmitter(x, variant, seed=5).transmit(0.0)
        assert frame.symbols.shape == (64, BUDGET) and frame.k == BUDGET
        assert frame.side_bits == 0 and frame.side == {}
        assert frame.energy == pytest.approx(1.0, abs=1e-12)  # measured, per frame
        assert np.allclose(np.mean(np.abs(frame.symbols) ** 2, axis=1), 1.0)
        # each symbol is the point its label names, up to the row's power scale
        scale = frame.symbols / pts[frame.labels]
        assert np.allclose(scale.imag, 0) and np.allclose(scale.real, scale.real[:, :1])
        again = run.transmitter(x, variant, seed=5).transmit(10.0)[0]
        assert np.array_equal(again.symbols, frame.symbols)
        other = run.transmitter(x, variant, seed=6).transmit(0.0)[0]
        assert np.array_equal(other.labels, frame.labels) == (variant == "argmax")


@pytest.mark.slow
def test_tiny_train_beats_chance_and_usage(tiny, tmp_path):
    from channel_sim import make_channel
    from evaluation.jcm_shaping import write_usage_figure
    from trainer.jcm.run import usage_histogram
    from trainer.sweep import run_point

    ds, run = tiny
    p_clean = run.classifier.predict(ds.x_test, verbose=0)
    acc = {}
    for variant in run.variants:
        tx, rx = run.transmitter(ds.x_test, variant), run.receiver(variant)
        rec = run_point(tx, rx, make_channel("awgn", 0), 20.0, p_clean, ds.y_test, 4).record
        acc[variant] = rec["accuracy"]
        assert rec["tx_energy"] == pytest.approx(1.0)
        assert rec["symbols_per_sample"] == BUDGET and rec["ser"] < 0.5
    assert min(acc.values()) > 0.3, acc  # chance: 0.1
    tv = {}
    for variant in run.variants:
        u = usage_histogram(run, ds.x_test, variant)
        assert u.shape == (ORDER,) and u.sum() == pytest.approx(1.0) and (u >= 0).all()
        tv[variant] = 0.5 * np.abs(u - 1 / ORDER).sum()
    assert tv["uniform"] < tv["sample"]  # the ablation's usage is held near uniform
    png = write_usage_figure(run, ds.x_test[:100], tmp_path / "usage.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_usage_summary_by_hand():
    from evaluation.jcm_shaping import usage_summary

    flat = usage_summary(np.full(16, 1 / 16))
    assert flat["usage_tv_from_uniform"] == pytest.approx(0.0)
    assert flat["usage_entropy_bits"] == pytest.approx(4.0)
    assert flat["usage_power_gain_db"] == pytest.approx(0.0, abs=1e-12)
    inner = np.zeros(16)
    inner[label_table(16)[1:3, 1:3].ravel()] = 0.25  # the four inner points, |c|^2 = 2 / 10
    s = usage_summary(inner)
    assert s["usage_tv_from_uniform"] == pytest.approx(0.75)
    assert s["usage_entropy_bits"] == pytest.approx(2.0)
    assert s["usage_power_gain_db"] == pytest.approx(10 * math.log10(5))
