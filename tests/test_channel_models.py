"""Fading, impairments, SNR estimators, the channel factory and the benchmark (channel_sim).

References are computed here independently of the code under test: closed-form fading error
rates, the Greenstein moment estimate of the Rician K-factor, IQ imbalance written per branch,
and the noise streams rebuilt from ``np.random.default_rng``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from channel_sim import (
    AWGN,
    CHANNEL_NAMES,
    Chain,
    Clip,
    Constellation,
    IQImbalance,
    PhaseNoise,
    PhaseOffset,
    RayleighBlockFading,
    RicianBlockFading,
    estimate_snr_decision_directed_db,
    estimate_snr_m2m4_db,
    estimate_snr_pilot_db,
    make_channel,
    qam_kurtosis,
)
from channel_sim.bench import format_table, run_channel_benchmark

BPSK = Constellation(np.array([1.0, -1.0]), name="bpsk")
QPSK = Constellation.rectangular_gray(4)
QAM16 = Constellation.rectangular_gray(16)


def rayleigh_ber_bpsk(gamma: float) -> float:
    r"""Coherent BPSK over Rayleigh, perfect CSI, bit SNR :math:`\gamma`."""
    return 0.5 * (1.0 - math.sqrt(gamma / (1.0 + gamma)))


def greenstein_k(h: np.ndarray) -> float:
    """Moment-method K-factor (Greenstein, Michelson & Erceg, IEEE Commun. Lett., 1999)."""
    p = np.abs(h.astype(np.complex128)) ** 2
    ga, gv2 = np.mean(p), np.var(p)
    los = math.sqrt(ga**2 - gv2)
    return los / (ga - los)


def qam16(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).integers(0, 16, n)
    return idx, QAM16.map(idx).astype(np.complex64)


# ------------------------------------------------------------------------ fading
@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0])
def test_rayleigh_bpsk_ber_matches_closed_form(snr_db):
    rng = np.random.default_rng(11)
    idx = rng.integers(0, 2, 500_000)
    out = RayleighBlockFading(seed=int(snr_db) + 1)(BPSK.map(idx), snr_db)
    ber = np.mean(BPSK.demap(out) != idx)
    # Es/N0 = Eb/N0 for BPSK; rel. std of the estimate <= 1 % at these points
    assert ber == pytest.approx(rayleigh_ber_bpsk(10 ** (snr_db / 10)), rel=0.03)


@pytest.mark.parametrize("snr_db", [5.0, 15.0])
def test_rayleigh_block_fading_qpsk_gray_ber(snr_db):
    # Gray QPSK = two BPSK rails at half the symbol SNR; block fading leaves the mean BER
    # unchanged, only correlates errors within a block (rel. std here about 1.2 %).
    rng = np.random.default_rng(12)
    idx = rng.integers(0, 4, 800_000)
    out = RayleighBlockFading(seed=3, block_length=8)(QPSK.map(idx), snr_db)
    wrong_bits = np.unpackbits((QPSK.demap(out) ^ idx).astype(np.uint8)).sum()
    ber = wrong_bits / (2 * idx.size)
    assert ber == pytest.approx(rayleigh_ber_bpsk(10 ** (snr_db / 10) / 2), rel=0.05)


@pytest.mark.parametrize(
    "make", [lambda: RayleighBlockFading(4), lambda: RicianBlockFading(4, k_factor=3.0)]
)
def test_fading_noise_follows_the_awgn_snr_convention(make):
    ch = make()
    _, x = qam16(200_000, 1)
    snr_db = 7.0
    sigma2 = 10 ** (-snr_db / 10)
    x_hat, h = ch(x, snr_db, return_gains=True)
    assert x_hat.dtype == np.complex64 and h.dtype == np.complex64 and x_hat.shape == x.shape
    n = (x_hat.astype(np.complex128) - x) * h  # ZF: x_hat = x + n / h
    assert np.mean(np.abs(n) ** 2) == pytest.approx(sigma2, rel=0.02)
    assert np.var(n.real) == pytest.approx(sigma2 / 2, rel=0.02)
    assert np.var(n.imag) == pytest.approx(sigma2 / 2, rel=0.02)
    assert abs(np.mean(n.real * n.imag)) < 0.01 * sigma2


def test_equalize_false_returns_faded_symbols_and_zf_divides_by_h():
    _, x = qam16(5000, 2)
    y, h = RayleighBlockFading(5, block_length=3, equalize=False)(x, 12.0, return_gains=True)
    x_hat, h2 = RayleighBlockFading(5, block_length=3)(x, 12.0, return_gains=True)
    assert np.array_equal(h, h2)
    np.testing.assert_allclose(x_hat, y / h, rtol=2e-6, atol=1e-7)
    sigma2 = 10 ** (-1.2)
    assert np.mean(np.abs(y - h * x) ** 2) == pytest.approx(sigma2, rel=0.1)
    # the raw output is far from x: the fading is really applied
    assert np.mean(np.abs(y - x) ** 2) > 0.5


def test_rayleigh_gain_power_and_distribution():
    _, h = RayleighBlockFading(6)(np.ones(200_000, np.complex64), 20.0, return_gains=True)
    p = np.abs(h.astype(np.complex128)) ** 2
    assert np.mean(p) == pytest.approx(1.0, rel=0.015)
    assert abs(np.mean(h)) < 0.01
    for t in (0.05, 0.5, 1.0, 3.0):  # |h|^2 ~ Exp(1)
        assert np.mean(p <= t) == pytest.approx(1 - math.exp(-t), abs=0.005)


@pytest.mark.parametrize(("k_factor", "los_phase"), [(1.0, 0.0), (5.0, 0.7), (10.0, None)])
def test_rician_unit_power_and_k_factor_recovered(k_factor, los_phase):
    ch = RicianBlockFading(7, k_factor=k_factor, los_phase=los_phase)
    _, h = ch(np.ones(300_000, np.complex64), 20.0, return_gains=True)
    assert np.mean(np.abs(h.astype(np.complex128)) ** 2) == pytest.approx(1.0, rel=0.01)
    assert greenstein_k(h) == pytest.approx(k_factor, rel=0.06)
    los = math.sqrt(k_factor / (k_factor + 1))
    expected_mean = 0.0 if los_phase is None else los * np.exp(1j * los_phase)
    assert abs(np.mean(h) - expected_mean) < 0.01


def test_rician_from_db_and_k_zero_is_rayleigh():
    assert RicianBlockFading.from_k_factor_db(10.0).k_factor == pytest.approx(10.0)
    assert RicianBlockFading.from_k_factor_db(-3.0, block_length=4).block_length == 4
    _, h = RicianBlockFading(8, k_factor=0.0)(np.ones(100_000), 0.0, return_gains=True)
    p = np.abs(h) ** 2
    assert np.mean(p) == pytest.approx(1.0, rel=0.02)
    assert np.mean(p <= 1.0) == pytest.approx(1 - math.exp(-1), abs=0.006)


@pytest.mark.parametrize("make", [RayleighBlockFading, RicianBlockFading])
def test_block_structure(make):
    length, n = 5, 23  # 4 full blocks and one of 3
    x = np.ones((3, n), np.complex64)
    y, h = make(9, block_length=length)(x, 10.0, return_gains=True)
    assert y.shape == h.shape == (3, n)
    starts = list(range(0, n, length))
    for row in h:
        for s in starts:
            assert np.all(row[s : s + length] == row[s])
        firsts = row[starts]
        assert len(set(firsts.tolist())) == len(starts)  # a new gain in every block
    assert not np.array_equal(h[0], h[1])  # rows fade independently
    noise = y * h - x  # noise still changes symbol by symbol inside a block
    assert len(set(noise[0, :length].tolist())) == length


def test_fading_shapes_dtypes_and_empty_input():
    ch = RayleighBlockFading(1, block_length=4)
    assert ch(np.ones(7, np.complex128), 5.0).dtype == np.complex64
    assert ch(np.array([1, -1, 1]), 5.0).dtype == np.complex64  # int input is fine
    assert ch(np.zeros((2, 0), np.complex64), 5.0).shape == (2, 0)
    with pytest.raises(ValueError, match="at least one dimension"):
        ch(np.complex64(1), 5.0)


# ------------------------------------------------------------------- impairments
def test_phase_offset_rotates_by_exactly_phi():
    phi = 0.3
    y = PhaseOffset(phi)(np.array([1 + 0j, 2j, -0.5 + 0.5j]))
    assert y.dtype == np.complex64
    assert np.angle(y[0]) == pytest.approx(phi, abs=1e-7)
    assert abs(y[0]) == pytest.approx(1.0, abs=1e-7)
    np.testing.assert_allclose(np.angle(y[1]), math.pi / 2 + phi, atol=1e-6)
    np.testing.assert_allclose(y, np.array([1, 2j, -0.5 + 0.5j]) * np.exp(1j * phi), atol=1e-6)
    np.testing.assert_allclose(PhaseOffset(-math.pi)(np.ones(2)), -np.ones(2), atol=1e-7)


def test_phase_noise_is_a_wiener_walk_with_the_given_increment_variance():
    var = 1e-3
    x = np.full((2000, 100), 0.6 - 0.8j, np.complex64)
    y = PhaseNoise(var, seed=3)(x)
    assert y.dtype == np.complex64 and y.shape == x.shape
    assert np.array_equal(y[:, 0], x[:, 0])  # phi_0 = 0
    np.testing.assert_allclose(np.abs(y), 1.0, rtol=1e-6)  # |e^{j phi}| = 1
    phi = np.angle(y.astype(np.complex128) / x)  # small: no wrapping
    steps = np.diff(phi, axis=1)
    assert np.var(steps) == pytest.approx(var, rel=0.03)
    assert abs(np.mean(steps)) < 0.01 * math.sqrt(var)
    rho = np.mean(steps[:, 1:] * steps[:, :-1]) / np.var(steps)
    assert abs(rho) < 0.02  # independent increments
    assert np.var(phi[:, -1]) == pytest.approx(99 * var, rel=0.12)  # Var phi_k = k var


def test_phase_noise_from_linewidth_and_zero_variance():
    pn = PhaseNoise.from_linewidth(100e3, 10e6, seed=0)
    assert pn.increment_variance == pytest.approx(2 * math.pi * 100e3 / 10e6)
    x = np.arange(6, dtype=np.complex64).reshape(2, 3)
    assert np.array_equal(PhaseNoise(0.0, seed=1)(x), x)


def test_iq_imbalance_identity_and_hand_computed_case():
    x = np.array([1 + 2j, -0.5 + 0.25j, 0.3 - 1.1j], np.complex64)
    assert np.array_equal(IQImbalance(0.0, 0.0)(x), x)
    eps, delta = 0.1, 0.2
    y = IQImbalance(eps, delta)(x)
    a, b = x.real.astype(np.float64), x.imag.astype(np.float64)
    re = (1 + eps) * (a * math.cos(delta) - b * math.sin(delta))  # I branch
    im = (1 - eps) * (b * math.cos(delta) - a * math.sin(delta))  # Q branch
    np.testing.assert_allclose(y, re + 1j * im, rtol=1e-6, atol=1e-6)
    # x = 1 + 2j by hand: 1.1 (0.980067 - 2 * 0.198669), 0.9 (2 * 0.980067 - 0.198669)
    assert y[0].real == pytest.approx(0.641001, abs=2e-6)
    assert y[0].imag == pytest.approx(1.585318, abs=2e-6)
    iq = IQImbalance(eps, delta)
    assert iq.mu == pytest.approx(complex(math.cos(delta), eps * math.sin(delta)))
    assert iq.nu == pytest.approx(complex(eps * math.cos(delta), -math.sin(delta)))


def test_iq_imbalance_power_and_image():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000)) / math.sqrt(2)
    iq = IQImbalance(0.2, 0.1)
    y = iq(x)
    assert np.mean(np.abs(y) ** 2) == pytest.approx(1 + 0.2**2, rel=0.02)
    # the image term nu x* shows up as a non-zero pseudo-covariance E[y^2] = 2 mu nu E|x|^2
    assert np.mean(y.astype(np.complex128) ** 2) == pytest.approx(2 * iq.mu * iq.nu, abs=0.01)


def test_clip_bounds_amplitude_and_leaves_small_symbols_alone():
    rng = np.random.default_rng(5)
    x = (3 * rng.random(10_000) * np.exp(2j * np.pi * rng.random(10_000))).astype(np.complex64)
    amp = 1.3
    y = Clip(amp)(x)
    assert y.dtype == np.complex64
    assert np.all(np.abs(y) <= amp * (1 + 1e-6))
    small = np.abs(x) <= amp
    assert 0.2 < small.mean() < 0.8
    assert np.array_equal(y[small], x[small])  # bit for bit
    np.testing.assert_allclose(np.abs(y[~small]), amp, rtol=1e-6)
    np.testing.assert_allclose(np.angle(y[~small] / x[~small]), 0.0, atol=1e-6)
    assert np.array_equal(Clip(1.0)(np.zeros(3)), np.zeros(3))


def test_chain_applies_blocks_in_order_and_forwards_snr():
    _, x = qam16(4000, 3)
    po, clip, iq = PhaseOffset(0.4), Clip(1.0), IQImbalance(0.1, 0.05)
    assert np.array_equal(Chain([po, clip])(x), clip(po(x)))
    assert not np.allclose(Chain([clip, iq])(x), Chain([iq, clip])(x))
    chained = Chain([po, AWGN(3, dtype=np.complex64)])(x, 10.0)
    assert np.array_equal(chained, AWGN(3, dtype=np.complex64)(po(x), 10.0))
    faded = Chain((iq, RayleighBlockFading(2)))(x, 10.0)
    assert np.array_equal(faded, RayleighBlockFading(2)(iq(x), 10.0))
    with pytest.raises(ValueError, match="snr_db"):
        Chain([po, AWGN(0)])(x)
    assert len(Chain([po])) == 1 and "PhaseOffset" in repr(Chain([po]))


# --------------------------------------------------------------- seeds and replay
RANDOM_BLOCKS = {
    "awgn-c64": lambda s: AWGN(s, dtype=np.complex64),
    "rayleigh": lambda s: RayleighBlockFading(s, block_length=4),
    "rician": lambda s: RicianBlockFading(s, k_factor=2.0),
    "rician-random-los": lambda s: RicianBlockFading(s, los_phase=None),
    "phase-noise": lambda s: PhaseNoise(1e-2, seed=s),
    "chain": lambda s: Chain([Clip(1.2), PhaseNoise(1e-3, seed=s), AWGN(s + 1)]),
}


@pytest.mark.parametrize("name", sorted(RANDOM_BLOCKS))
def test_same_seed_replays_different_seed_differs(name):
    make = RANDOM_BLOCKS[name]
    _, x = qam16(3000, 4)
    x = x.reshape(30, 100)
    a, b, c = make(1)(x, 8.0), make(1)(x, 8.0), make(2)(x, 8.0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    if name != "chain":
        assert np.array_equal(make(np.random.default_rng(1))(x, 8.0), a)
    block = make(1)
    assert not np.array_equal(block(x, 8.0), block(x, 8.0))  # the generator moves on


def test_awgn_default_stream_is_unchanged_and_complex64_stream_is_float32_normals():
    x = np.linspace(-1, 1, 1001).astype(np.complex64) * (1 + 0.5j)
    snr_db = 3.0
    scale = math.sqrt(1.0 / 10 ** (snr_db / 10) / 2)  # sigma^2 = P / 10^(SNR/10), P = 1
    legacy = np.random.default_rng(5).standard_normal(2 * x.size).view(np.complex128) * scale + x
    assert np.array_equal(AWGN(5)(x, snr_db), legacy)
    normals = np.random.default_rng(5).standard_normal(2 * x.size, dtype=np.float32)
    fast = normals.view(np.complex64) * np.float32(scale) + x
    out = AWGN(5, dtype="complex64")(x, snr_db)
    assert out.dtype == np.complex64
    assert np.array_equal(out, fast)


def test_awgn_complex64_noise_statistics():
    ch = AWGN(7, signal_power=2.0, dtype=np.complex64)
    sigma2 = 2.0 / 10**0.5
    x = np.full((1000, 1000), 0.3 - 0.2j, np.complex64)
    n = ch(x, 5.0).astype(np.complex128) - x
    assert n.shape == x.shape
    assert np.mean(np.abs(n) ** 2) == pytest.approx(sigma2, rel=0.01)
    assert np.var(n.real) == pytest.approx(sigma2 / 2, rel=0.01)
    assert np.var(n.imag) == pytest.approx(sigma2 / 2, rel=0.01)
    assert abs(np.mean(n.real * n.imag)) < 0.005 * sigma2


# ------------------------------------------------------------------ SNR estimation
@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0, 20.0])
def test_pilot_estimator_within_half_a_db(snr_db):
    _, pilots = qam16(4096, 100 + int(snr_db))
    y = AWGN(200 + int(snr_db))(pilots, snr_db)
    assert estimate_snr_pilot_db(y, pilots) == pytest.approx(snr_db, abs=0.5)


def test_pilot_estimator_uses_the_nominal_power_and_sees_phase_errors_as_noise():
    _, pilots = qam16(4096, 1)
    y = AWGN(2, signal_power=4.0)(2 * pilots, 15.0)  # transmitter normalised to P = 4
    assert estimate_snr_pilot_db(y, 2 * pilots, signal_power=4.0) == pytest.approx(15, abs=0.5)
    rotated = PhaseOffset(0.2)(AWGN(3)(pilots, 15.0))  # |e^{j.2} - 1|^2 = 0.04: 14 dB floor
    assert estimate_snr_pilot_db(rotated, pilots) < 12.0
    assert estimate_snr_pilot_db(pilots, pilots) == math.inf


def test_decision_directed_estimator_accurate_high_biased_up_low():
    _, x = qam16(20_000, 5)
    assert estimate_snr_decision_directed_db(AWGN(1)(x, 20.0), QAM16) == pytest.approx(
        20.0, abs=0.3
    )
    low = estimate_snr_decision_directed_db(AWGN(2)(x, 0.0), QAM16)
    assert low > 3.0  # wrong decisions hide noise: documented upward bias at low SNR
    idx = np.random.default_rng(6).integers(0, 4, 20_000)
    y = AWGN(3)(QPSK.map(idx), 12.0)
    assert estimate_snr_decision_directed_db(y, QPSK) == pytest.approx(12.0, abs=0.3)


def test_m2m4_estimator():
    assert qam_kurtosis(QPSK) == pytest.approx(1.0)
    assert qam_kurtosis(QAM16) == pytest.approx(1.32)
    idx = np.random.default_rng(7).integers(0, 4, 8192)
    x = QPSK.map(idx)
    for snr_db in (5.0, 10.0, 15.0):
        y = AWGN(int(snr_db))(x, snr_db)
        est = estimate_snr_m2m4_db(y, QPSK)
        assert est == pytest.approx(snr_db, abs=1.0)
        # blind to the carrier phase; a kurtosis number gives the same result
        assert estimate_snr_m2m4_db(PhaseOffset(1.1)(y), QPSK) == pytest.approx(est, abs=1e-3)
        assert estimate_snr_m2m4_db(y, 1.0) == pytest.approx(est, abs=1e-12)
    _, x16 = qam16(50_000, 8)
    est16 = estimate_snr_m2m4_db(AWGN(9)(x16, 10.0), QAM16)
    assert est16 == pytest.approx(10.0, abs=1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: estimate_snr_pilot_db(np.ones(4), np.ones(3)), "as many symbols"),
        (lambda: estimate_snr_pilot_db(np.array([]), np.array([])), "at least one"),
        (lambda: estimate_snr_pilot_db(np.array([np.nan]), np.ones(1)), "finite"),
        (lambda: estimate_snr_pilot_db(np.ones(2), np.ones(2), signal_power=0), "signal_power"),
        (lambda: estimate_snr_decision_directed_db(np.ones(2), QPSK.points), "Constellation"),
        (lambda: estimate_snr_m2m4_db(np.ones(2), 2.5), r"\[1, 2\)"),
        (lambda: estimate_snr_m2m4_db(np.ones(2), "qpsk"), "kurtosis"),
    ],
)
def test_estimator_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------ factory
def test_make_channel_builds_each_name():
    assert CHANNEL_NAMES == ("awgn", "rayleigh", "rician")
    x = np.ones(64, np.complex64)
    awgn = make_channel("awgn", 3)
    assert isinstance(awgn, AWGN) and np.array_equal(awgn(x, 5.0), AWGN(3)(x, 5.0))
    ray = make_channel("Rayleigh", 3, block_length=8)
    assert isinstance(ray, RayleighBlockFading) and ray.block_length == 8
    assert np.array_equal(ray(x, 5.0), RayleighBlockFading(3, block_length=8)(x, 5.0))
    assert make_channel("rician", 0, k_factor_db=6.0).k_factor == pytest.approx(10**0.6)
    ric = make_channel("rician", 0, k_factor=2.0, los_phase=None)
    assert ric.k_factor == 2.0 and ric.los_phase is None


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_channel("rayleigh-fast", 0), "allowed: awgn, rayleigh, rician"),
        (lambda: make_channel(3, 0), "allowed: awgn, rayleigh, rician"),
        (lambda: make_channel("awgn", 0, block_length=4), "allowed parameters: signal_power"),
        (lambda: make_channel("rician", 0, k_factor=1.0, k_factor_db=0.0), "not both"),
    ],
)
def test_make_channel_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RayleighBlockFading(0, block_length=0), "block_length must be an int >= 1"),
        (lambda: RayleighBlockFading(0, block_length=2.5), "block_length"),
        (lambda: RayleighBlockFading(-1), "non-negative"),
        (lambda: RayleighBlockFading(0, signal_power=-1.0), "signal_power"),
        (lambda: RayleighBlockFading(0, equalize="yes"), "equalize"),
        (lambda: RayleighBlockFading(0)(np.ones(3), float("nan")), "snr_db"),
        (lambda: RayleighBlockFading(0)(np.array(["a"]), 1.0), "numeric"),
        (lambda: RicianBlockFading(0, k_factor=-1.0), "k_factor must be a finite linear"),
        (lambda: RicianBlockFading(0, k_factor=math.inf), "from_k_factor_db"),
        (lambda: RicianBlockFading(0, los_phase=math.nan), "los_phase"),
        (lambda: RicianBlockFading.from_k_factor_db(math.nan), "k_factor_db"),
        (lambda: AWGN(0, dtype=np.float32), "complex64 or np.complex128"),
        (lambda: AWGN(0, dtype="nonsense"), "dtype"),
        (lambda: PhaseOffset(math.inf), "phase"),
        (lambda: PhaseNoise(-1e-3), "increment_variance"),
        (lambda: PhaseNoise.from_linewidth(0.0, 1e6), "linewidth_hz"),
        (lambda: PhaseNoise(1e-3, seed=1)(np.complex64(1)), "at least one dimension"),
        (lambda: IQImbalance(amplitude=1.0), r"\|epsilon\| < 1"),
        (lambda: IQImbalance(phase=math.pi / 4), r"\|delta\| < pi/4"),
        (lambda: Clip(0.0), "amplitude must be a positive"),
        (lambda: Clip(True), "amplitude"),
        (lambda: Chain([]), "at least one block"),
        (lambda: Chain([PhaseOffset(0.1), 3]), r"blocks\[1\] must be callable"),
        (lambda: Chain(PhaseOffset(0.1)), "list or tuple"),
    ],
)
def test_bad_parameters_raise_helpful_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------- benchmark
def test_benchmark_smoke():
    result = run_channel_benchmark(n_symbols=20_000, repeats=2)
    names = ["awgn", "awgn-c64", "rayleigh", "rayleigh-L64", "rician", "impairments"]
    assert list(result["blocks"]) == names
    for row in result["blocks"].values():
        assert row["median_s"] >= row["min_s"] > 0
        assert row["symbols_per_s"] == pytest.approx(20_000 / row["median_s"])
    assert result["blocks"]["awgn"]["out_dtype"] == "complex128"
    assert result["blocks"]["rayleigh"]["out_dtype"] == "complex64"
    table = format_table(result)
    assert table.count("\n| ") == len(names) + 2  # header, separator, one row per block
    assert "20,000 complex64 symbols" in table and "target of 10 Msymbols/s" in table
    with pytest.raises(ValueError, match="repeats"):
        run_channel_benchmark(n_symbols=10, repeats=0)
