"""Fixed-point tables the node reads: int8 codebook, Q-format constellations, policy LUT."""

from __future__ import annotations

import math

import numpy as np

from trainer.svqvae.rate_control import RatePolicy

INT16_MAX = 32767


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def codebook_int8(codebook: np.ndarray, z_scale: float, z_zero_point: int
                  ) -> tuple[np.ndarray, int]:
    """Codebook [M, D] in the quantization of the encoder's z output:
    ``c_q = clamp(round(e / s_z) + zp_z, −128, 127)``. Returns (int8 [M, D], clipped count)."""
    return _codebook_q(codebook, z_scale, z_zero_point, np.int8)


def codebook_int16(codebook: np.ndarray, z_scale: float) -> tuple[np.ndarray, int]:
    """The same for a 16x8 z (zero point 0): ``clamp(round(e / s_z), −32768, 32767)``."""
    return _codebook_q(codebook, z_scale, 0, np.int16)


def _codebook_q(codebook: np.ndarray, z_scale: float, z_zero_point: int, dtype: type
                ) -> tuple[np.ndarray, int]:
    info = np.iinfo(dtype)
    q = round_half_away(np.asarray(codebook, np.float64) / float(z_scale)) + int(z_zero_point)
    clipped = int(np.count_nonzero((q < info.min) | (q > info.max)))
    return np.clip(q, info.min, info.max).astype(dtype), clipped


def q_format_bits(points: np.ndarray) -> int:
    """Largest number of fractional bits f (<= 15) with ``round(max|I|, |Q| · 2^f) <= 32767``,
    so no point clips: Q(15−f).f in int16."""
    peak = float(np.max(np.abs(np.stack([np.real(points), np.imag(points)]))))
    if not math.isfinite(peak):
        raise ValueError("constellation holds NaN or inf points; retrain the run")
    f = 15
    while f > 0 and round_half_away(np.array(peak * 2.0**f))[()] > INT16_MAX:
        f -= 1
    return f


def constellation_q(points: np.ndarray) -> tuple[np.ndarray, int]:
    """Complex [M] -> (int16 [M, 2] I/Q in Q(15−f).f, f)."""
    f = q_format_bits(points)
    iq = np.stack([np.real(points), np.imag(points)], axis=1) * 2.0**f
    return round_half_away(iq).astype(np.int16), f


def policy_lut(policy: RatePolicy) -> tuple[np.ndarray, int, int]:
    """The DQN policy as a LUT over its uniform SNR grid in centi-dB: (K uint16 [L], min, step).

    The node picks ``i = clamp(floor((snr_cdb − min + step/2 − 1) / step), 0, L − 1)``, the nearest
    grid point with ties to the lower one, as :meth:`RatePolicy.k_for`.
    """
    grid = np.asarray(policy.snr_db, np.float64)
    cdb = np.round(grid * 100).astype(np.int64)
    steps = np.diff(cdb)
    if len(grid) < 2 or np.any(steps != steps[0]) or steps[0] <= 0 or steps[0] % 2:
        raise ValueError("policy.json must hold a uniform SNR grid with an even step in 0.01 dB; "
                         "retrain the run")
    return np.asarray(policy.k, np.uint16), int(cdb[0]), int(steps[0])


def policy_index(snr_cdb: np.ndarray, n: int, min_cdb: int, step_cdb: int) -> np.ndarray:
    """Grid index for SNR feedback in centi-dB (docs/bundle.md step 5), integer arithmetic."""
    d = np.asarray(snr_cdb, np.int64) - min_cdb + step_cdb // 2 - 1
    return np.clip(np.floor_divide(d, step_cdb), 0, n - 1)
