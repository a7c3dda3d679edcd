r"""MDJCM's digital pieces that need no model (NumPy only): the square-QAM grid of each order,
hard modulation/demodulation (process (9)), Gray labels, the entropy-guided lengths of
Section II.B / IV.B and the bisection that tunes :math:`\eta` to a symbol budget.

Square M-QAM with minimum distance :math:`2d` has rail levels :math:`(2m-\sqrt M-1)d`,
:math:`m = 1..\sqrt M` (Fig. 2); with unit average energy over equally likely points
:math:`\mathcal E_s = 2(M-1)d^2/3 = 1`, so :math:`d = \sqrt{3/(2(M-1))}`.
"""

from __future__ import annotations

import math

import numpy as np

#: The modulation set of the paper (Section V.A.1): one model serves all of them.
ORDERS: tuple[int, ...] = (4, 16, 64, 256, 1024)


def check_order(order: int) -> int:
    """``order`` as an int; ValueError unless it is one of :data:`ORDERS`."""
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order not in ORDERS:
        raise ValueError(f"MDJCM order M must be one of {ORDERS} (square QAM), got {order!r}")
    return int(order)


def half_distance(order: int, energy: float = 1.0) -> float:
    r""":math:`d` of square M-QAM with average energy ``energy``: :math:`\sqrt{3E_s/(2(M-1))}`."""
    return math.sqrt(3.0 * energy / (2.0 * (check_order(order) - 1)))


def rail_index(v: np.ndarray, order: int, d: float | None = None) -> np.ndarray:
    r"""Index :math:`m-1 \in [0, \sqrt M)` of the nearest rail level after clipping to
    :math:`\pm(\sqrt M-1)d` (Section III.A.1): :math:`\mathrm{round}((c/d+\sqrt M-1)/2)`."""
    root = math.isqrt(check_order(order))
    d = half_distance(order) if d is None else float(d)
    c = np.clip(np.asarray(v, np.float64), -(root - 1) * d, (root - 1) * d)
    return np.rint((c / d + root - 1) / 2).astype(np.int64)


def rail_level(index: np.ndarray, order: int, d: float | None = None) -> np.ndarray:
    r"""Rail value :math:`(2i-\sqrt M+1)d` of index ``i``."""
    root = math.isqrt(check_order(order))
    d = half_distance(order) if d is None else float(d)
    return (2 * np.asarray(index, np.float64) - root + 1) * d


def hard_modulate(s: np.ndarray, order: int, d: float | None = None) -> np.ndarray:
    r"""Process (9) modulation :math:`q_a` (and demodulation :math:`q_s`, the same map):
    clip each rail of complex ``s`` to :math:`\pm(\sqrt M-1)d` and round it to the nearest
    level."""
    s = np.asarray(s)
    return (rail_level(rail_index(s.real, order, d), order, d)
            + 1j * rail_level(rail_index(s.imag, order, d), order, d))


def gray_labels(s: np.ndarray, order: int, d: float | None = None) -> np.ndarray:
    """Per-symbol label of the nearest point, Gray-coded on each rail (I bits high, Q low), so
    one rail step is one bit error (for BER/SER in :mod:`trainer.sweep`)."""
    half = (check_order(order).bit_length() - 1) // 2
    i, q = rail_index(np.real(s), order, d), rail_index(np.imag(s), order, d)
    return ((i ^ (i >> 1)) << half) | (q ^ (q >> 1))


def lengths(bits: np.ndarray, eta: float, k_max: int, min_total: int = 1) -> np.ndarray:
    r"""Entropy-guided length of each latent vector (Section II.B, eq. (19)):
    :math:`k_i = \mathrm{clip}(\mathrm{round}(\eta\,b_i), 0, k_{max})` with
    :math:`b_i = -\sum_c \log_2 P(\hat y_{i,c}|\hat z)` the bits of vector ``i`` ([n, l]).
    A sample whose lengths would all be 0 sends ``min_total`` symbols on its most informative
    vector (a frame needs at least one symbol)."""
    bits = np.asarray(bits, np.float64)
    if bits.ndim != 2:
        raise ValueError(f"bits must be [n, l], got shape {bits.shape}")
    k = np.clip(np.rint(eta * bits), 0, k_max).astype(np.int64)
    empty = k.sum(axis=1) < min_total
    if np.any(empty):
        rows = np.flatnonzero(empty)
        k[rows, np.argmax(bits[rows], axis=1)] = min(min_total, k_max)
    return k


def tune_eta(bits: np.ndarray, budget: float, k_max: int, iters: int = 60) -> float:
    r"""Bisection on :math:`\eta` so that the mean total length
    :math:`\bar k(\eta) = \frac1n\sum_n\sum_i k_i(\eta)` reaches the budget ``S`` from below:
    the largest :math:`\eta` (to ``iters`` halvings) with :math:`\bar k(\eta) \le S`.
    :math:`\bar k` is non-decreasing in :math:`\eta`, so bisection applies."""
    bits = np.asarray(bits, np.float64)
    n_vec = bits.shape[1]
    if not 1 <= budget <= n_vec * k_max:
        raise ValueError(f"budget S = {budget} is outside [1, l*k_max = {n_vec * k_max}]; "
                         "raise k_max or lower the budget")
    if np.any(bits < 0) or not np.all(np.isfinite(bits)):
        raise ValueError("bits must be finite and >= 0")

    def mean_len(eta: float) -> float:
        return float(lengths(bits, eta, k_max).sum(axis=1).mean())

    lo, hi = 0.0, 1.0
    while mean_len(hi) <= budget and hi < 1e9:
        lo, hi = hi, hi * 2.0
    if mean_len(hi) <= budget:  # every vector already at k_max
        return hi
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean_len(mid) <= budget else (lo, mid)
    return lo


def length_histogram(k: np.ndarray, k_max: int) -> dict[str, np.ndarray]:
    """The variable-length distribution: counts of per-vector lengths ``0..k_max`` and of the
    per-sample totals ``0..l*k_max`` (``k`` is [n, l])."""
    k = np.asarray(k, np.int64)
    return {
        "vector": np.bincount(k.reshape(-1), minlength=k_max + 1),
        "total": np.bincount(k.sum(axis=1), minlength=k.shape[1] * k_max + 1),
    }


def length_bits(n_vectors: int, k_max: int) -> int:
    r"""Side bits per sample for the lengths: :math:`l\lceil\log_2(k_{max}+1)\rceil`."""
    return int(n_vectors * math.ceil(math.log2(k_max + 1)))
