"""Complex additive white Gaussian noise channel (Section V: AWGN over [-10, 20] dB)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["AWGN"]


class AWGN:
    r"""Complex AWGN: :math:`y = x + n`, :math:`n \sim \mathcal{CN}(0, \sigma^2)`.

    The SNR is :math:`P/\sigma^2` with :math:`P` the nominal average symbol power
    (``signal_power``, default 1, matching the power constraint of Section II.A.2), so
    :math:`\sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}` and each real dimension has
    variance :math:`\sigma^2/2`. The nominal power is used, not the power of the batch.

    Parameters
    ----------
    seed : int | np.random.Generator | None
        Seed or generator; the same seed gives the same noise.
    signal_power : float
        Nominal average symbol power ``P > 0``.

    Input
    -----
    x : complex array ``[...]``; snr_db : float.

    Output
    ------
    complex128 array ``[...]``.
    """

    def __init__(self, seed: int | np.random.Generator | None = None, signal_power: float = 1.0):
        if isinstance(seed, np.random.Generator):
            self._rng = seed
        elif seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
            if seed is not None and seed < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed}")
            self._rng = np.random.default_rng(seed)
        else:
            raise ValueError(
                f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}"
            )
        if (
            isinstance(signal_power, bool)
            or not isinstance(signal_power, (int, float, np.number))
            or not (math.isfinite(signal_power) and signal_power > 0)
        ):
            raise ValueError(f"signal_power must be a positive finite number, got {signal_power!r}")
        self._signal_power = float(signal_power)

    @property
    def signal_power(self) -> float:
        return self._signal_power

    def noise_variance(self, snr_db: float) -> float:
        r""":math:`\sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}` (total, both real dimensions)."""
        if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.number)):
            raise ValueError(f"snr_db must be a real scalar, got {snr_db!r}")
        snr_db = float(snr_db)
        if not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite, got {snr_db}")
        return self._signal_power / 10.0 ** (snr_db / 10.0)

    def __call__(self, x: np.ndarray, snr_db: float) -> np.ndarray:
        sigma2 = self.noise_variance(snr_db)
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"x must be numeric, got dtype {x.dtype}")
        noise = self._rng.standard_normal(2 * x.size).view(np.complex128)
        noise *= math.sqrt(sigma2 / 2.0)
        noise += x.reshape(-1)
        return noise.reshape(x.shape)
