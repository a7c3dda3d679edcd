"""semqam.units against hand-computed values, and the NumPy / TensorFlow twins of one rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semqam.units import (
    bits_per_symbol,
    db_to_linear,
    linear_to_db,
    noise_variance,
    raw_symbols_per_sample,
)


def test_raw_symbols_mnist():
    assert raw_symbols_per_sample(28 * 28, 1024) == pytest.approx(627.2)
    assert raw_symbols_per_sample(784, 16) == pytest.approx(1568.0)
    assert raw_symbols_per_sample(784, 2) == pytest.approx(6272.0)
    with pytest.raises(ValueError, match="power of two"):
        raw_symbols_per_sample(784, 1)
    with pytest.raises(ValueError, match="input_bytes"):
        raw_symbols_per_sample(-1, 16)


@pytest.mark.parametrize("order, bits", [(2, 1), (4, 2), (16, 4), (256, 8), (1024, 10)])
def test_bits_per_symbol(order, bits):
    assert bits_per_symbol(order) == bits


@pytest.mark.parametrize("bad", [0, 1, 3, 12, 2.0, True, "16"])
def test_bits_per_symbol_rejects(bad):
    with pytest.raises(ValueError, match="power of two"):
        bits_per_symbol(bad)


def test_db_conversions_by_hand():
    assert db_to_linear(10.0) == pytest.approx(10.0)
    assert db_to_linear(-3.0) == pytest.approx(0.501187, rel=1e-6)
    assert linear_to_db(100.0) == pytest.approx(20.0)
    assert linear_to_db(0.0) == -math.inf
    assert linear_to_db(math.inf) == math.inf
    # sigma^2 = P / 10^(SNR/10): 20 dB at P = 2 -> 0.02
    assert noise_variance(20.0, 2.0) == pytest.approx(0.02)
    np.testing.assert_allclose(noise_variance(np.array([0.0, 10.0])), [1.0, 0.1])


def test_noise_variance_is_the_same_rule_on_tensors():
    """The trainer's differentiable channel calls the same function on backend tensors."""
    keras = pytest.importorskip("keras")
    snr = np.array([-10.0, 0.0, 7.5, 20.0], np.float32)
    got = keras.ops.convert_to_numpy(noise_variance(keras.ops.convert_to_tensor(snr), 1.5))
    np.testing.assert_allclose(got, 1.5 / 10.0 ** (snr / 10.0), rtol=1e-6)
