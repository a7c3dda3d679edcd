"""Constellation, AWGN and the closed-form SER reference (channel_sim)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from channel_sim import AWGN, Constellation, ber_gray_square_qam_approx, ser_square_qam


# ------------------------------------------------------------------ constellation
@pytest.mark.parametrize("order", [16, 64])
def test_rectangular_gray_neighbours_differ_in_one_bit(order):
    c = Constellation.rectangular_gray(order)
    x = c.points
    d = {(i, j): abs(x[i] - x[j]) for i, j in itertools.combinations(range(order), 2)}
    d_min = min(d.values())
    neighbours = [ij for ij, v in d.items() if abs(v - d_min) < 1e-9]
    # a square m x m grid has 2 m (m - 1) nearest-neighbour pairs
    m = math.isqrt(order)
    assert len(neighbours) == 2 * m * (m - 1)
    for i, j in neighbours:
        assert bin(i ^ j).count("1") == 1, (i, j)


@pytest.mark.parametrize("order", [4, 16, 64, 256, 1024])
def test_rectangular_gray_power_and_grid(order):
    c = Constellation.rectangular_gray(order)
    assert c.order == order and c.bits_per_symbol == int(math.log2(order))
    assert c.average_power == pytest.approx(1.0, abs=1e-12)
    m = math.isqrt(order)
    scale = math.sqrt(2 * (order - 1) / 3)
    levels = np.arange(-(m - 1), m, 2)
    grid = {(a, b) for a in levels for b in levels}
    got = {(round(p.real * scale), round(p.imag * scale)) for p in c.points}
    assert got == grid
    # label = I-Gray bits then Q-Gray bits: same upper half of the index -> same real part
    re = np.round(c.points.real * scale).reshape(m, m)
    assert np.all(re == re[:, :1])


def test_min_distance_16qam():
    c = Constellation.rectangular_gray(16)
    assert c.min_distance == pytest.approx(2 / math.sqrt(10), rel=1e-12)
    assert Constellation.rectangular_gray(16, power=4.0).min_distance == pytest.approx(
        4 / math.sqrt(10), rel=1e-12
    )


def test_map_demap_round_trip_and_nudged(rng):
    c = Constellation.rectangular_gray(64)
    idx = rng.integers(0, 64, size=(50, 40))
    assert np.array_equal(c.demap(c.map(idx)), idx)
    r = 0.49 * c.min_distance * rng.random(idx.shape)
    y = c.map(idx) + r * np.exp(2j * np.pi * rng.random(idx.shape))
    out = c.demap(y, chunk=97)
    assert out.dtype == np.int64 and out.shape == idx.shape
    assert np.array_equal(out, idx)


def test_demap_matches_brute_force_on_irregular_points(rng):
    pts = rng.standard_normal(32) + 1j * rng.standard_normal(32)
    c = Constellation(pts).normalized(2.0)
    assert c.average_power == pytest.approx(2.0)
    y = 2 * (rng.standard_normal(3000) + 1j * rng.standard_normal(3000))
    ref = np.array([np.argmin(np.abs(v - c.points)) for v in y])
    assert np.array_equal(c.demap(y, chunk=256), ref)


def test_points_read_only_and_copied():
    src = np.array([1, -1, 1j, -1j])
    c = Constellation(src, name="qpsk")
    src[0] = 5
    assert c.points[0] == 1 and c.points.dtype == np.complex128
    with pytest.raises(ValueError):
        c.points[0] = 2


def test_save_load_round_trip(tmp_path):
    c = Constellation.rectangular_gray(16)
    path = tmp_path / "const.npy"
    c.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["const.npy"]  # temp file gone
    raw = np.load(path)
    assert raw.dtype == np.complex64 and raw.shape == (16,)
    back = Constellation.load(path)
    assert np.allclose(back.points, c.points, atol=1e-6)
    assert back.name == "const"


def test_save_failure_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "const.npy"
    Constellation.rectangular_gray(4).save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError):
        Constellation.rectangular_gray(16).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["const.npy"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Constellation.rectangular_gray(8),  # odd log2 M
        lambda: Constellation.rectangular_gray(32),
        lambda: Constellation.rectangular_gray(16, power=0.0),
        lambda: Constellation(np.ones(3, complex)),  # not a power of two
        lambda: Constellation(np.ones(1, complex)),
        lambda: Constellation(np.ones((2, 2), complex)),
        lambda: Constellation(np.array([1, np.nan, 0, 1j])),
        lambda: Constellation(np.array(["a", "b"])),
        lambda: Constellation.rectangular_gray(4).map(np.array([0, 4])),
        lambda: Constellation.rectangular_gray(4).map(np.array([-1])),
        lambda: Constellation.rectangular_gray(4).map(np.array([0.0, 1.0])),
        lambda: Constellation.rectangular_gray(4).demap(np.zeros(3), chunk=0),
        lambda: Constellation(np.zeros(4)).normalized(),
    ],
)
def test_constellation_value_errors(make):
    with pytest.raises(ValueError):
        make()


# ---------------------------------------------------------------------------- AWGN
@pytest.mark.parametrize(("snr_db", "power"), [(0.0, 1.0), (10.0, 2.0)])
def test_awgn_noise_variance(snr_db, power):
    ch = AWGN(seed=7, signal_power=power)
    sigma2 = power / 10 ** (snr_db / 10)
    assert ch.noise_variance(snr_db) == pytest.approx(sigma2)
    x = np.full(10**6, 0.3 - 0.2j)
    n = ch(x, snr_db) - x
    assert np.mean(np.abs(n) ** 2) == pytest.approx(sigma2, rel=0.02)
    assert np.var(n.real) == pytest.approx(sigma2 / 2, rel=0.02)
    assert np.var(n.imag) == pytest.approx(sigma2 / 2, rel=0.02)
    assert abs(np.mean(n.real * n.imag)) < 0.01 * sigma2


def test_awgn_seeded_and_shape():
    x = np.zeros((3, 5), dtype=np.complex64)
    a, b, c = AWGN(1)(x, 5.0), AWGN(1)(x, 5.0), AWGN(2)(x, 5.0)
    assert a.shape == (3, 5) and a.dtype == np.complex128
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(AWGN(np.random.default_rng(1))(x, 5.0), a)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AWGN(seed="x"),
        lambda: AWGN(signal_power=0.0),
        lambda: AWGN(signal_power=float("inf")),
        lambda: AWGN(0).noise_variance(float("nan")),
        lambda: AWGN(0)(np.array(["a"]), 3.0),
    ],
)
def test_awgn_value_errors(make):
    with pytest.raises(ValueError):
        make()


# --------------------------------------------------------- simulation vs. theory
@pytest.mark.parametrize(("order", "snrs_db"), [(16, (8.0, 12.0, 15.0)), (64, (14.0, 18.0, 21.0))])
def test_simulated_ser_matches_closed_form(order, snrs_db):
    c = Constellation.rectangular_gray(order)
    rng = np.random.default_rng(2024)
    ch = AWGN(seed=rng)
    n = 400_000
    for snr in snrs_db:
        idx = rng.integers(0, order, n)
        ser = np.mean(c.demap(ch(c.map(idx), snr)) != idx)
        theory = float(ser_square_qam(order, snr))
        assert 1e-3 < theory < 0.5
        assert ser == pytest.approx(theory, rel=0.05), (order, snr, ser, theory)


def test_ser_qpsk_reference_and_shapes():
    snr_db = np.array([0.0, 6.0, 10.0])
    g = 10 ** (snr_db / 10)
    q = np.array([0.5 * math.erfc(math.sqrt(v) / math.sqrt(2)) for v in g])
    assert np.allclose(ser_square_qam(4, snr_db), 2 * q - q**2, rtol=1e-12)
    assert ser_square_qam(16, 10.0).shape == ()
    assert np.allclose(ber_gray_square_qam_approx(64, snr_db), ser_square_qam(64, snr_db) / 6)
    for bad in (8, 2, 3, 0):
        with pytest.raises(ValueError):
            ser_square_qam(bad, 10.0)
