"""Argument checks shared by the metric modules (one message style: name, what was wrong)."""

from __future__ import annotations

import numpy as np

#: Clip of probabilities inside the KL term of Q_sem.
KL_CLIP = 1e-12
# Samples per co-occurrence block: float32 counts stay exact below 2**24.
COOC_BLOCK = 1 << 16


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def int_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a


def check_range(name: str, a: np.ndarray, order: int) -> None:
    if a.size and (a.min() < 0 or a.max() >= order):
        raise ValueError(
            f"{name} must lie in 0..{order - 1}, got range [{int(a.min())}, {int(a.max())}]"
        )


def popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    count = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        count += (x & np.uint64(1)).astype(np.int64)
        x >>= np.uint64(1)
    return count


def as_points(points) -> np.ndarray:
    x = np.asarray(getattr(points, "points", points))
    if x.ndim != 1 or x.shape[0] < 2 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"points must be a numeric 1-D array of M >= 2 values, got {x.shape}")
    return x.astype(np.complex128, copy=False)


def as_cooc(cooc, order: int | None = None) -> np.ndarray:
    p = np.asarray(cooc, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ValueError(f"cooc must be a square [M, M] array with M >= 2, got {p.shape}")
    if order is not None and p.shape[0] != order:
        raise ValueError(f"cooc is {p.shape} but the constellation has M = {order} points")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("cooc must be finite and non-negative")
    return p


def as_sci(mean_sci, order: int | None = None) -> np.ndarray:
    s = np.asarray(mean_sci, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] < 1:
        raise ValueError(f"mean_sci must be a non-empty 1-D array, got shape {s.shape}")
    if order is not None and s.shape[0] != order:
        raise ValueError(f"mean_sci has {s.shape[0]} entries but M = {order}")
    if not np.all(np.isfinite(s)):
        raise ValueError("mean_sci must be finite")
    return s


def sci_deviation(mean_sci: np.ndarray) -> np.ndarray:
    r""":math:`\delta_i = \bar I_i - \frac1M\sum_k \bar I_k`, with round-off (|δ_i| below
    ``64 eps max|I|``) snapped to 0 so that equal scores give an empty :math:`S_{top}`."""
    dev = mean_sci - mean_sci.mean()
    tol = 64.0 * np.finfo(np.float64).eps * float(np.max(np.abs(mean_sci)))
    dev[np.abs(dev) <= tol] = 0.0
    return dev


