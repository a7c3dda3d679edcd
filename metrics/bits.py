"""Bit-level errors of index streams (Gray labels = indices)."""

from __future__ import annotations

import numpy as np

from metrics._checks import check_int, check_range, int_array, popcount


def bit_errors(tx: np.ndarray, rx: np.ndarray, bits_per_symbol: int) -> int:
    r"""Number of differing index bits: :math:`\sum_n \mathrm{popcount}(tx_n \oplus rx_n)`.

    Input
    -----
    tx, rx : int arrays of the same shape, values in ``0..2**bits_per_symbol - 1``.

    Output
    ------
    int.
    """
    b = check_int("bits_per_symbol", bits_per_symbol, 1)
    if b > 62:
        raise ValueError(f"bits_per_symbol must be <= 62, got {b}")
    tx, rx = int_array("tx", tx), int_array("rx", rx)
    if tx.shape != rx.shape:
        raise ValueError(f"tx and rx must have the same shape, got {tx.shape} and {rx.shape}")
    check_range("tx", tx, 1 << b)
    check_range("rx", rx, 1 << b)
    return int(popcount(np.bitwise_xor(tx.astype(np.int64), rx.astype(np.int64))).sum())


def bit_error_rate(tx: np.ndarray, rx: np.ndarray, bits_per_symbol: int) -> float:
    r"""BER over the :math:`\log_2 M` index bits of every transmitted symbol (the
    :math:`P_e` of eq. 2): ``bit_errors / (tx.size * bits_per_symbol)``."""
    n = np.asarray(tx).size
    errors = bit_errors(tx, rx, bits_per_symbol)
    if n == 0:
        raise ValueError("tx is empty: the BER is undefined")
    return errors / (n * int(bits_per_symbol))


