"""Complex additive white Gaussian noise channel (Section V: AWGN over [-10, 20] dB)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from semqam.units import noise_variance

__all__ = ["AWGN"]

_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))


def _make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """The one seed rule of every random block: an int >= 0, a Generator (shared) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")


def _is_real_scalar(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _check_positive(name: str, value: object) -> float:
    """``value`` as a float; ValueError unless it is a positive finite real number."""
    if not _is_real_scalar(value) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _as_complex(x: object, dtype: DTypeLike = np.complex64, name: str = "x") -> np.ndarray:
    """``x`` as an array of ``dtype`` (no copy when it already is one); numeric input only."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric (complex or real), got dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)


class AWGN:
    r"""Complex AWGN: :math:`y = x + n`, :math:`n \sim \mathcal{CN}(0, \sigma^2)`.

    The SNR is :math:`P/\sigma^2` with :math:`P` the nominal average symbol power
    (``signal_power``, default 1, matching the power constraint of Section II.A.2), so

    .. math::
        \sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}, \qquad
        \Re n, \Im n \sim \mathcal{N}(0, \sigma^2/2) \text{ independent}.

    The nominal power is used, not the power of the batch.

    Parameters
    ----------
    seed : int | np.random.Generator | None
        Seed or generator; the same seed gives the same noise (per ``dtype``).
    signal_power : float
        Nominal average symbol power ``P > 0``.
    dtype : complex64 | complex128
        Output dtype. ``complex128`` (default) draws float64 normals and keeps the noise
        stream of earlier versions bit for bit; ``complex64`` draws float32 normals straight
        into the output buffer (about half the memory traffic, a different stream for the
        same seed, the same statistics).

    Input
    -----
    x : numeric array ``[...]``; snr_db : float.

    Output
    ------
    ``dtype`` array ``[...]``.
    """

    def __init__(
        self,
        seed: int | np.random.Generator | None = None,
        signal_power: float = 1.0,
        dtype: DTypeLike = np.complex128,
    ):
        self._rng = _make_rng(seed)
        self._signal_power = _check_positive("signal_power", signal_power)
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt not in _DTYPES:
            raise ValueError(f"dtype must be np.complex64 or np.complex128, got {dtype!r}")
        self._dtype = dt

    @property
    def signal_power(self) -> float:
        return self._signal_power

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def noise_variance(self, snr_db: float) -> float:
        r""":math:`\sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}` (total, both real dimensions)."""
        if not _is_real_scalar(snr_db):
            raise ValueError(f"snr_db must be a real scalar, got {snr_db!r}")
        snr_db = float(snr_db)
        if not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite, got {snr_db}")
        return noise_variance(snr_db, self._signal_power)

    def __call__(self, x: np.ndarray, snr_db: float) -> np.ndarray:
        sigma2 = self.noise_variance(snr_db)
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"x must be numeric, got dtype {x.dtype}")
        if self._dtype == np.complex128:
            # The original stream: float64 normals, pairs viewed as (re, im).
            noise = self._rng.standard_normal(2 * x.size).view(np.complex128)
            noise *= math.sqrt(sigma2 / 2.0)
            noise += x.reshape(-1)
            return noise.reshape(x.shape)
        out = np.empty(x.size, dtype=np.complex64)
        self._rng.standard_normal(dtype=np.float32, out=out.view(np.float32))
        out *= np.float32(math.sqrt(sigma2 / 2.0))
        np.add(out, x.reshape(-1), out=out, casting="unsafe")
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        return f"AWGN(signal_power={self._signal_power:g}, dtype={self._dtype.name})"
