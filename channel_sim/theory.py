"""Closed-form error rates of square M-QAM in AWGN (reference for the simulator)."""

from __future__ import annotations

import math

import numpy as np

from semqam.units import bits_per_symbol, db_to_linear

__all__ = ["ber_gray_square_qam_approx", "ser_square_qam"]


def _check_square_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise ValueError(f"order must be an int, got {order!r}")
    order = int(order)
    k = order.bit_length() - 1
    if order < 4 or order & (order - 1) or k % 2:
        raise ValueError(f"order must be a square QAM order 4**k (4, 16, 64, ...), got {order}")
    return order


def _qfunc(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    flat = [0.5 * math.erfc(v / math.sqrt(2.0)) for v in x.reshape(-1).tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(x.shape)


def ser_square_qam(order: int, snr_db: float | np.ndarray) -> np.ndarray:
    r"""Exact SER of square M-QAM, minimum-distance detection, complex AWGN.

    With :math:`\gamma = E_s/N_0 = 10^{\mathrm{SNR_{dB}}/10}` (SNR as defined by
    :class:`~channel_sim.awgn.AWGN`):

    .. math::
        p = 2\left(1 - \tfrac{1}{\sqrt M}\right) Q\!\left(\sqrt{\tfrac{3\gamma}{M-1}}\right),
        \qquad P_s = 1 - (1-p)^2,

    :math:`Q(x) = \tfrac12\,\mathrm{erfc}(x/\sqrt2)`.

    Input
    -----
    order : int, 4**k; snr_db : float or array.

    Output
    ------
    float64 array with the shape of ``snr_db``.
    """
    order = _check_square_order(order)
    snr = db_to_linear(np.asarray(snr_db, dtype=np.float64))
    p = 2.0 * (1.0 - 1.0 / math.sqrt(order)) * _qfunc(np.sqrt(3.0 * snr / (order - 1)))
    return np.asarray(1.0 - (1.0 - p) ** 2, dtype=np.float64)


def ber_gray_square_qam_approx(order: int, snr_db: float | np.ndarray) -> np.ndarray:
    r"""Approximate BER of Gray-labelled square M-QAM: :math:`P_b \approx P_s/\log_2 M`.

    Nearest-neighbour approximation (each symbol error is assumed to land on an adjacent
    point, i.e. one bit error); tight at high SNR, optimistic at low SNR. Not exact.
    """
    order = _check_square_order(order)
    return ser_square_qam(order, snr_db) / bits_per_symbol(order)
