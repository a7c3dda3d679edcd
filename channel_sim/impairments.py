"""Radio impairments (phase offset, Wiener phase noise, IQ imbalance, DAC clip) and ``Chain``.

Every block is called as ``block(x, snr_db=None)`` and returns complex64 of the shape of
``x``; the impairments ignore ``snr_db``, which is there so that a :class:`Chain` can hand
the same arguments to impairments, :class:`~channel_sim.AWGN` and the fading blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .awgn import _as_complex, _check_positive, _is_real_scalar, _make_rng

__all__ = ["Chain", "Clip", "IQImbalance", "PhaseNoise", "PhaseOffset"]


def _check_angle(name: str, value: object) -> float:
    if not _is_real_scalar(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite angle in radians, got {value!r}")
    return float(value)


class PhaseOffset:
    r"""Constant carrier phase offset: :math:`y = x\,e^{j\varphi}`.

    Parameters
    ----------
    phase : float
        :math:`\varphi` in radians (any finite value).

    Input
    -----
    x : numeric array ``[...]``; snr_db : ignored.

    Output
    ------
    complex64 ``[...]``.
    """

    def __init__(self, phase: float):
        self._phase = _check_angle("phase", phase)

    @property
    def phase(self) -> float:
        return self._phase

    def __call__(self, x: np.ndarray, snr_db: float | None = None) -> np.ndarray:
        rot = np.complex64(complex(math.cos(self._phase), math.sin(self._phase)))
        return _as_complex(x) * rot

    def __repr__(self) -> str:
        return f"PhaseOffset(phase={self._phase:g})"


class PhaseNoise:
    r"""Wiener (random-walk) phase noise of a free-running oscillator.

    Along the last axis (each row is one burst, locked at its first symbol):

    .. math::
        y_k = x_k\,e^{j\varphi_k}, \qquad \varphi_0 = 0, \qquad
        \varphi_k = \varphi_{k-1} + \Delta_k, \quad \Delta_k \sim \mathcal N(0, \sigma_\Delta^2),

    so :math:`\operatorname{Var}\varphi_k = k\,\sigma_\Delta^2`. For an oscillator with a
    Lorentzian spectrum of 3-dB (full) linewidth :math:`\beta` and symbol period :math:`T_s`,
    :math:`\sigma_\Delta^2 = 2\pi\beta T_s` (:meth:`from_linewidth`).

    Parameters
    ----------
    increment_variance : float
        :math:`\sigma_\Delta^2` in rad² per symbol, ``>= 0`` (0 = no phase noise).
    seed : int | np.random.Generator | None
        Seed or generator; the same seed gives the same phase path.

    Input
    -----
    x : numeric array ``[..., n]``; snr_db : ignored.

    Output
    ------
    complex64 ``[..., n]``.
    """

    def __init__(self, increment_variance: float, seed: int | np.random.Generator | None = None):
        if not _is_real_scalar(increment_variance) or not (
            math.isfinite(increment_variance) and increment_variance >= 0
        ):
            raise ValueError(
                f"increment_variance must be a finite variance >= 0 in rad^2 per symbol, "
                f"got {increment_variance!r}"
            )
        self._var = float(increment_variance)
        self._rng = _make_rng(seed)

    @classmethod
    def from_linewidth(
        cls,
        linewidth_hz: float,
        symbol_rate_hz: float,
        seed: int | np.random.Generator | None = None,
    ) -> PhaseNoise:
        r""":math:`\sigma_\Delta^2 = 2\pi\,\beta / R_s` from the 3-dB linewidth :math:`\beta`
        and the symbol rate :math:`R_s = 1/T_s` (both in Hz, ``> 0``)."""
        beta = _check_positive("linewidth_hz", linewidth_hz)
        rate = _check_positive("symbol_rate_hz", symbol_rate_hz)
        return cls(2.0 * math.pi * beta / rate, seed=seed)

    @property
    def increment_variance(self) -> float:
        return self._var

    def phases(self, shape: tuple[int, ...]) -> np.ndarray:
        r"""Draw one phase path :math:`\varphi` ``[..., n]`` (float64), advancing the generator."""
        if len(shape) == 0:
            raise ValueError("x must have at least one dimension: [..., n] symbols")
        steps = self._rng.standard_normal(shape, dtype=np.float32)
        steps[..., 0] = 0.0
        phi = np.cumsum(steps, axis=-1, dtype=np.float64)  # float64: no drift from rounding
        phi *= math.sqrt(self._var)
        return phi

    def __call__(self, x: np.ndarray, snr_db: float | None = None) -> np.ndarray:
        x = _as_complex(x)
        if x.ndim == 0:
            raise ValueError("x must have at least one dimension: [..., n] symbols")
        if x.shape[-1] == 0:
            return x.copy()
        phi = self.phases(x.shape).astype(np.float32)
        rot = np.empty(x.shape, dtype=np.complex64)
        np.cos(phi, out=rot.real)
        np.sin(phi, out=rot.imag)
        rot *= x
        return rot

    def __repr__(self) -> str:
        return f"PhaseNoise(increment_variance={self._var:g})"


class IQImbalance:
    r"""IQ amplitude/phase imbalance: :math:`y = \mu x + \nu x^*`.

    Symmetric model of Tubbax et al., "Compensation of IQ imbalance and phase noise in
    OFDM systems", IEEE Trans. Wireless Commun. 4(3), 2005 (also T. Schenk, *RF Imperfections
    in High-Rate Wireless Systems*, Springer 2008), with amplitude imbalance :math:`\epsilon`
    and phase imbalance :math:`\delta`:

    .. math::
        \mu = \cos\delta + j\,\epsilon\sin\delta, \qquad
        \nu = \epsilon\cos\delta - j\sin\delta,

    which is the I branch with gain :math:`1+\epsilon` and the Q branch with gain
    :math:`1-\epsilon`, each skewed by :math:`\delta` (:math:`x = a + jb`):

    .. math::
        \Re y = (1+\epsilon)(a\cos\delta - b\sin\delta), \qquad
        \Im y = (1-\epsilon)(b\cos\delta - a\sin\delta).

    :math:`\epsilon = \delta = 0` is the identity. The image rejection ratio is
    :math:`|\mu|^2/|\nu|^2`; for circular :math:`x`, :math:`\mathbb E|y|^2 = (1+\epsilon^2)
    \mathbb E|x|^2`.

    Parameters
    ----------
    amplitude : float
        :math:`\epsilon`, with :math:`|\epsilon| < 1` (both branch gains positive).
    phase : float
        :math:`\delta` in radians, with :math:`|\delta| < \pi/4` (the branches stay
        independent: :math:`|\mu|^2 - |\nu|^2 = (1-\epsilon^2)\cos 2\delta > 0`).

    Input
    -----
    x : numeric array ``[...]``; snr_db : ignored.

    Output
    ------
    complex64 ``[...]``.
    """

    def __init__(self, amplitude: float = 0.0, phase: float = 0.0):
        if not _is_real_scalar(amplitude) or not (math.isfinite(amplitude) and abs(amplitude) < 1):
            raise ValueError(
                f"amplitude (imbalance epsilon) must be a number with |epsilon| < 1, "
                f"got {amplitude!r}"
            )
        if not _is_real_scalar(phase) or not (math.isfinite(phase) and abs(phase) < math.pi / 4):
            raise ValueError(
                f"phase (imbalance delta) must be in radians with |delta| < pi/4, got {phase!r}"
            )
        self._eps = float(amplitude)
        self._delta = float(phase)

    @property
    def amplitude(self) -> float:
        return self._eps

    @property
    def phase(self) -> float:
        return self._delta

    @property
    def mu(self) -> complex:
        return complex(math.cos(self._delta), self._eps * math.sin(self._delta))

    @property
    def nu(self) -> complex:
        return complex(self._eps * math.cos(self._delta), -math.sin(self._delta))

    def __call__(self, x: np.ndarray, snr_db: float | None = None) -> np.ndarray:
        x = _as_complex(x)
        y = x * np.complex64(self.mu)
        y += np.conj(x) * np.complex64(self.nu)
        return y

    def __repr__(self) -> str:
        return f"IQImbalance(amplitude={self._eps:g}, phase={self._delta:g})"


class Clip:
    r"""Peak-amplitude clip of the DAC, phase kept:

    .. math::
        y = \begin{cases} x & |x| \le A \\ A\,x/|x| & |x| > A \end{cases}
          = x \cdot \frac{A}{\max(|x|, A)}.

    Symbols with :math:`|x| \le A` come out bit for bit unchanged; clipped ones have
    :math:`|y| = A` up to float32 rounding.

    Parameters
    ----------
    amplitude : float
        :math:`A > 0`, in the units of :math:`x` (with :math:`P = 1` the RMS amplitude is 1).

    Input
    -----
    x : numeric array ``[...]``; snr_db : ignored.

    Output
    ------
    complex64 ``[...]``.
    """

    def __init__(self, amplitude: float):
        self._amplitude = _check_positive("amplitude", amplitude)

    @property
    def amplitude(self) -> float:
        return self._amplitude

    def __call__(self, x: np.ndarray, snr_db: float | None = None) -> np.ndarray:
        x = _as_complex(x)
        a = np.float32(self._amplitude)
        scale = np.abs(x)
        np.maximum(scale, a, out=scale)
        np.divide(a, scale, out=scale)
        return x * scale

    def __repr__(self) -> str:
        return f"Clip(amplitude={self._amplitude:g})"


Block = Callable[..., np.ndarray]


class Chain:
    r"""Apply blocks in order: :math:`y = f_K(\cdots f_2(f_1(x)))`.

    Each block is called as ``block(x, snr_db)``; e.g.
    ``Chain([Clip(1.4), IQImbalance(0.05, 0.03), PhaseNoise(1e-4, seed=1), AWGN(2)])``
    models a clipped, IQ-imbalanced transmitter, oscillator phase noise, then thermal noise.

    Parameters
    ----------
    blocks : sequence of callables
        Non-empty; any object with ``__call__(x, snr_db)`` (every block in ``channel_sim``).
        Fading blocks are called without ``return_gains``.

    Input
    -----
    x : numeric array ``[..., n]``; snr_db : float or None (needed when a block adds noise).

    Output
    ------
    The last block's output (complex64 here, complex128 when it ends with a default AWGN).
    """

    def __init__(self, blocks: Sequence[Block]):
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
            raise ValueError(
                f"blocks must be a list or tuple of blocks, got {type(blocks).__name__}"
            )
        if len(blocks) == 0:
            raise ValueError("blocks must hold at least one block")
        for i, b in enumerate(blocks):
            if not callable(b):
                raise ValueError(
                    f"blocks[{i}] must be callable as block(x, snr_db), got {type(b).__name__}"
                )
        self._blocks = tuple(blocks)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self._blocks

    def __call__(self, x: np.ndarray, snr_db: float | None = None) -> np.ndarray:
        for block in self._blocks:
            x = block(x, snr_db)
        return x

    def __len__(self) -> int:
        return len(self._blocks)

    def __repr__(self) -> str:
        return f"Chain([{', '.join(repr(b) for b in self._blocks)}])"
