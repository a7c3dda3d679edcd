r"""Unit conversions, each written once: dB <-> linear, SNR -> noise variance, bits per symbol,
raw symbols per sample.

:func:`noise_variance` and :func:`db_to_linear` use only ``/`` and ``**``, so the same function
serves floats, NumPy arrays and backend tensors (``keras.ops`` / TensorFlow overload both): the
trainer's differentiable channel and :mod:`channel_sim` share one rule.
"""

from __future__ import annotations

import math


def db_to_linear(db):
    r""":math:`10^{x_{dB}/10}`."""
    return 10.0 ** (db / 10.0)


def linear_to_db(ratio: float) -> float:
    r""":math:`10 \log_{10} r` (``-inf`` for 0)."""
    return 10.0 * math.log10(ratio) if ratio > 0 else -math.inf


def noise_variance(snr_db, signal_power=1.0):
    r"""Total complex noise variance (both real dimensions) at ``snr_db`` for signal power
    :math:`P`: :math:`\sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}`."""
    return signal_power / db_to_linear(snr_db)


def bits_per_symbol(order: int) -> int:
    """``log2 M`` of an M-point constellation, M a power of two >= 2."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 2 or order & (order - 1):
        raise ValueError(f"the order M must be a power of two >= 2, got {order!r}")
    return order.bit_length() - 1


def raw_symbols_per_sample(input_bytes: int, order: int) -> float:
    """M-QAM symbols that carry one raw sample of ``input_bytes`` 8-bit values uncoded:
    ``8 B / log2 M`` (627.2 for a 28x28 image at M = 1024)."""
    if input_bytes < 1:
        raise ValueError(f"input_bytes must be >= 1, got {input_bytes}")
    return 8.0 * input_bytes / bits_per_symbol(order)
