"""Flat block fading (Rayleigh, Rician) with AWGN and perfect-CSI zero-forcing equalisation."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from semqam.units import db_to_linear

from .awgn import AWGN, _as_complex, _is_real_scalar, _make_rng

__all__ = ["CHANNEL_NAMES", "RayleighBlockFading", "RicianBlockFading", "make_channel"]

CHANNEL_NAMES = ("awgn", "rayleigh", "rician")


class _BlockFading(ABC):
    r"""Shared machinery: one gain per block of ``block_length`` symbols, AWGN, ZF.

    Subclasses only say how the per-block gains :math:`h` are drawn (``_draw_gains``).
    """

    def __init__(
        self,
        seed: int | np.random.Generator | None,
        block_length: int,
        signal_power: float,
        equalize: bool,
    ):
        self._rng = _make_rng(seed)
        if (
            isinstance(block_length, bool)
            or not isinstance(block_length, (int, np.integer))
            or block_length < 1
        ):
            raise ValueError(
                f"block_length must be an int >= 1 (symbols per fading block), got {block_length!r}"
            )
        self._block_length = int(block_length)
        if not isinstance(equalize, bool):
            raise ValueError(f"equalize must be True or False, got {equalize!r}")
        self._equalize = equalize
        # Shares the generator: each call draws the gains first, then the noise.
        self._awgn = AWGN(self._rng, signal_power=signal_power, dtype=np.complex64)

    @property
    def block_length(self) -> int:
        return self._block_length

    @property
    def signal_power(self) -> float:
        return self._awgn.signal_power

    @property
    def equalize(self) -> bool:
        return self._equalize

    def noise_variance(self, snr_db: float) -> float:
        r""":math:`\sigma^2 = P / 10^{\mathrm{SNR_{dB}}/10}`, as :class:`~channel_sim.AWGN`."""
        return self._awgn.noise_variance(snr_db)

    @abstractmethod
    def _draw_gains(self, shape: tuple[int, ...]) -> np.ndarray:
        """Per-block complex64 gains ``shape`` with :math:`\\mathbb{E}|h|^2 = 1`."""

    def _cn01(self, shape: tuple[int, ...]) -> np.ndarray:
        r""":math:`\mathcal{CN}(0, 1)` as complex64 ``shape``, drawn as float64 normals: NumPy's
        float32 normals carry fewer random bits, which would coarsen the deepest fades."""
        g = self._rng.standard_normal((*shape, 2))
        g *= math.sqrt(0.5)
        return g.astype(np.float32).view(np.complex64)[..., 0]

    def __call__(
        self, x: np.ndarray, snr_db: float, return_gains: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        self._awgn.noise_variance(snr_db)  # check before anything is drawn
        x = _as_complex(x)
        if x.ndim == 0:
            raise ValueError("x must have at least one dimension: [..., n] symbols")
        n = x.shape[-1]
        n_blocks = -(-n // self._block_length)
        g = self._draw_gains((*x.shape[:-1], n_blocks))
        h = g if self._block_length == 1 else np.repeat(g, self._block_length, axis=-1)[..., :n]
        y = self._awgn(h * x, snr_db)
        if self._equalize:
            # y / h as y * (1 / h): one complex reciprocal per block, not per symbol.
            inv = np.reciprocal(g)
            if self._block_length > 1:
                inv = np.repeat(inv, self._block_length, axis=-1)[..., :n]
            y *= inv
        if return_gains:
            return y, np.ascontiguousarray(h)
        return y


class RayleighBlockFading(_BlockFading):
    r"""Flat Rayleigh block fading, AWGN, perfect-CSI zero-forcing equalisation.

    Along the last axis, each block of ``block_length`` consecutive symbols (the last block
    may be shorter) shares one gain drawn independently of every other block and row:

    .. math::
        h \sim \mathcal{CN}(0, 1), \quad \mathbb{E}|h|^2 = 1, \qquad
        y_k = h\,x_k + n_k, \quad n_k \sim \mathcal{CN}(0, \sigma^2), \qquad
        \hat x_k = y_k / h = x_k + n_k / h,

    with :math:`\sigma^2 = P/10^{\mathrm{SNR_{dB}}/10}` exactly as :class:`~channel_sim.AWGN`:
    the SNR is the *average* one; the instantaneous SNR of a block is :math:`|h|^2` times it.
    Equalisation assumes the receiver knows :math:`h` exactly (perfect CSI) and divides by it,
    so after equalisation the noise variance of a block is :math:`\sigma^2/|h|^2`.

    Parameters
    ----------
    seed : int | np.random.Generator | None
        Seed or generator; the same seed gives the same gains and noise.
    block_length : int
        Symbols per fading block, ``>= 1`` (default 1: i.i.d. fast fading).
    signal_power : float
        Nominal average symbol power ``P > 0`` (default 1).
    equalize : bool
        Return :math:`\hat x = y/h` (default) or the faded :math:`y = h x + n`.

    Input
    -----
    x : numeric array ``[..., n]`` (cast to complex64); snr_db : float;
    return_gains : bool, also return the per-symbol gains.

    Output
    ------
    complex64 ``[..., n]``; with ``return_gains`` a pair ``(y, h)``, ``h`` complex64
    ``[..., n]`` (constant within each block).
    """

    def __init__(
        self,
        seed: int | np.random.Generator | None = None,
        block_length: int = 1,
        signal_power: float = 1.0,
        equalize: bool = True,
    ):
        super().__init__(seed, block_length, signal_power, equalize)

    def _draw_gains(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._cn01(shape)

    def __repr__(self) -> str:
        return (
            f"RayleighBlockFading(block_length={self._block_length}, "
            f"signal_power={self.signal_power:g}, equalize={self._equalize})"
        )


class RicianBlockFading(_BlockFading):
    r"""Flat Rician block fading, AWGN, perfect-CSI zero-forcing equalisation.

    As :class:`RayleighBlockFading` with a line-of-sight part of K-factor
    :math:`\kappa` (LOS power over scattered power):

    .. math::
        h = \sqrt{\tfrac{\kappa}{\kappa+1}}\, e^{j\theta}
            + \sqrt{\tfrac{1}{\kappa+1}}\, g, \quad g \sim \mathcal{CN}(0, 1),
        \qquad \mathbb{E}|h|^2 = 1,

    then :math:`y = h x + n`, :math:`\hat x = y/h`. :math:`\kappa = 0` is Rayleigh;
    :math:`\kappa \to \infty` is AWGN with a fixed rotation.

    Parameters
    ----------
    seed : int | np.random.Generator | None
        Seed or generator.
    k_factor : float
        Linear K-factor :math:`\kappa \ge 0` (default 10, i.e. 10 dB). For dB use
        :meth:`from_k_factor_db`.
    los_phase : float | None
        LOS phase :math:`\theta` in radians (default 0), or ``None`` for an independent
        :math:`\theta \sim \mathcal U[0, 2\pi)` per block.
    block_length, signal_power, equalize
        As :class:`RayleighBlockFading`.

    Input
    -----
    x : numeric array ``[..., n]``; snr_db : float; return_gains : bool.

    Output
    ------
    complex64 ``[..., n]``, or ``(y, h)`` with ``h`` complex64 ``[..., n]``.
    """

    def __init__(
        self,
        seed: int | np.random.Generator | None = None,
        k_factor: float = 10.0,
        los_phase: float | None = 0.0,
        block_length: int = 1,
        signal_power: float = 1.0,
        equalize: bool = True,
    ):
        if not _is_real_scalar(k_factor) or not (math.isfinite(k_factor) and k_factor >= 0):
            raise ValueError(
                f"k_factor must be a finite linear ratio >= 0 (0 = Rayleigh; use "
                f"RicianBlockFading.from_k_factor_db for dB), got {k_factor!r}"
            )
        if los_phase is not None and not (_is_real_scalar(los_phase) and math.isfinite(los_phase)):
            raise ValueError(
                f"los_phase must be a finite angle in radians or None (random per block), "
                f"got {los_phase!r}"
            )
        super().__init__(seed, block_length, signal_power, equalize)
        self._k_factor = float(k_factor)
        self._los_phase = None if los_phase is None else float(los_phase)

    @classmethod
    def from_k_factor_db(cls, k_factor_db: float, **kwargs: Any) -> RicianBlockFading:
        r"""Same block with :math:`\kappa = 10^{K_{\mathrm{dB}}/10}`; ``kwargs`` as the
        constructor."""
        if not _is_real_scalar(k_factor_db) or not math.isfinite(k_factor_db):
            raise ValueError(f"k_factor_db must be a finite number of dB, got {k_factor_db!r}")
        return cls(k_factor=db_to_linear(float(k_factor_db)), **kwargs)

    @property
    def k_factor(self) -> float:
        return self._k_factor

    @property
    def los_phase(self) -> float | None:
        return self._los_phase

    def _draw_gains(self, shape: tuple[int, ...]) -> np.ndarray:
        k = self._k_factor
        h = self._cn01(shape)
        h *= np.float32(math.sqrt(1.0 / (k + 1.0)))
        los = math.sqrt(k / (k + 1.0))
        if self._los_phase is None:
            theta = self._rng.uniform(0.0, 2.0 * math.pi, size=shape)
            h.real += (los * np.cos(theta)).astype(np.float32)
            h.imag += (los * np.sin(theta)).astype(np.float32)
        else:
            h += np.complex64(los * complex(math.cos(self._los_phase), math.sin(self._los_phase)))
        return h

    def __repr__(self) -> str:
        return (
            f"RicianBlockFading(k_factor={self._k_factor:g}, los_phase={self._los_phase!r}, "
            f"block_length={self._block_length}, signal_power={self.signal_power:g}, "
            f"equalize={self._equalize})"
        )


_FACTORY_PARAMS: dict[str, tuple[str, ...]] = {
    "awgn": ("signal_power", "dtype"),
    "rayleigh": ("block_length", "signal_power", "equalize"),
    "rician": ("k_factor", "k_factor_db", "los_phase", "block_length", "signal_power", "equalize"),
}


def make_channel(
    name: str, seed: int | np.random.Generator | None, **params: Any
) -> AWGN | RayleighBlockFading | RicianBlockFading:
    """Channel block by name, for ``--channel awgn|rayleigh|rician``.

    Parameters
    ----------
    name : str
        One of :data:`CHANNEL_NAMES` (case-insensitive).
    seed : int | np.random.Generator | None
        Seed of the block's generator.
    **params
        Constructor keywords of that block. ``"awgn"``: ``signal_power``, ``dtype``
        (complex128 by default: the same noise stream as ``AWGN(seed)``). ``"rayleigh"``:
        ``block_length``, ``signal_power``, ``equalize``. ``"rician"``: those plus
        ``k_factor`` (linear) *or* ``k_factor_db``, and ``los_phase``.

    Output
    ------
    A block called as ``channel(x, snr_db)``.
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _FACTORY_PARAMS:
        raise ValueError(f"unknown channel {name!r}; allowed: {', '.join(CHANNEL_NAMES)}")
    unknown = sorted(set(params) - set(_FACTORY_PARAMS[key]))
    if unknown:
        raise ValueError(
            f"channel {key!r} does not take {', '.join(unknown)}; "
            f"allowed parameters: {', '.join(_FACTORY_PARAMS[key])}"
        )
    if key == "awgn":
        return AWGN(seed, **params)
    if key == "rayleigh":
        return RayleighBlockFading(seed, **params)
    if "k_factor_db" in params:
        if "k_factor" in params:
            raise ValueError("give k_factor (linear) or k_factor_db, not both")
        return RicianBlockFading.from_k_factor_db(params.pop("k_factor_db"), seed=seed, **params)
    return RicianBlockFading(seed, **params)
