"""M-point complex constellation with a one-to-one concept-index mapping (Section II.A.2-3)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from semqam.units import bits_per_symbol

__all__ = ["Constellation"]

# Upper bound on the number of float64 metric entries held per demapping block (~64 MB).
_DEMAP_BLOCK_ELEMENTS = 1 << 23


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and (n & (n - 1)) == 0


def _gray_to_binary(g: np.ndarray) -> np.ndarray:
    """Inverse Gray code, elementwise on non-negative integers."""
    b = g.copy()
    shift = g >> 1
    while np.any(shift):
        b ^= shift
        shift >>= 1
    return b


class Constellation:
    r"""M complex points indexed by concept index :math:`i = 0, \dots, M-1`.

    Implements the semantic M-QAM map of Section II.A.2: codebook size equals the
    modulation order, so concept index ``i`` is sent as symbol :math:`x_i`. The bit label
    of index ``i`` is the natural binary of ``i`` (:math:`b = \log_2 M` bits).

    Parameters
    ----------
    points : np.ndarray
        1-D array of ``M`` numeric (complex or real) values; ``M`` must be a power of two
        ``>= 2`` (the paper uses 4 ... 1024). Copied to a read-only ``complex128`` array.
    name : str
        Label used in reports.

    Notes
    -----
    The average power :math:`\frac1M\sum_i |x_i|^2` is *not* forced to any value here;
    use :meth:`normalized` to meet the power constraint of Section II.A.2.
    """

    def __init__(self, points: np.ndarray, name: str = "custom"):
        arr = np.asarray(points)
        if arr.ndim != 1:
            raise ValueError(f"points must be a 1-D array, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.bool_)):
            raise ValueError(f"points must be numeric (complex or real), got dtype {arr.dtype}")
        m = arr.shape[0]
        if not _is_power_of_two(m):
            raise ValueError(f"number of points must be a power of two >= 2, got {m}")
        arr = arr.astype(np.complex128, copy=True)
        if not np.all(np.isfinite(arr)):
            raise ValueError("points must all be finite")
        if not isinstance(name, str):
            raise ValueError(f"name must be a str, got {type(name).__name__}")
        arr.setflags(write=False)
        self._points = arr
        self._name = name
        self._min_distance: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self._name

    @property
    def order(self) -> int:
        """Modulation order ``M``."""
        return int(self._points.shape[0])

    @property
    def bits_per_symbol(self) -> int:
        r""":math:`b = \log_2 M`."""
        return bits_per_symbol(self.order)

    @property
    def points(self) -> np.ndarray:
        """Read-only ``complex128`` array ``[M]``; ``points[i]`` carries concept index ``i``."""
        return self._points

    @property
    def average_power(self) -> float:
        r""":math:`\frac1M \sum_i |x_i|^2`."""
        p = self._points
        return float(np.mean(p.real**2 + p.imag**2))

    @property
    def min_distance(self) -> float:
        r""":math:`d_{\min} = \min_{i \ne j} |x_i - x_j|`."""
        if self._min_distance is None:
            p = self._points
            best = np.inf
            for i in range(self.order - 1):  # row-wise: O(M) memory, M <= 1024 in practice
                d = p[i + 1 :] - p[i]
                best = min(best, float(np.min(d.real**2 + d.imag**2)))
            self._min_distance = float(np.sqrt(best))
        return self._min_distance

    def __repr__(self) -> str:
        return (
            f"Constellation(name={self._name!r}, order={self.order}, "
            f"average_power={self.average_power:.6g})"
        )

    # ---------------------------------------------------------------- constructors
    @classmethod
    def rectangular_gray(cls, order: int, power: float = 1.0) -> Constellation:
        r"""Square Gray-coded M-QAM (the *standard M-QAM* baseline of Section V).

        With :math:`m = \sqrt M` levels per axis, level position :math:`p \in \{0..m-1\}`
        has amplitude :math:`2p - (m-1)` and Gray label :math:`g = p \oplus (p \gg 1)`.
        The index of the point with labels :math:`(g_I, g_Q)` is
        :math:`i = g_I \cdot m + g_Q` (I-Gray bits then Q-Gray bits), so nearest
        neighbours differ in exactly one bit of ``i``. Scaled to average power ``power``
        (unnormalised power is :math:`2(M-1)/3`).

        Parameters
        ----------
        order : int
            ``M`` in {4, 16, 64, 256, 1024, ...}: a power of two with even
            :math:`\log_2 M`.
        power : float
            Target average power ``P > 0``.
        """
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
            raise ValueError(f"order must be an int, got {order!r}")
        order = int(order)
        if not _is_power_of_two(order) or (order.bit_length() - 1) % 2:
            raise ValueError(
                f"rectangular_gray supports only square orders M = 4**k "
                f"(4, 16, 64, 256, 1024, ...), got {order}"
            )
        _check_power(power)
        m = 1 << ((order.bit_length() - 1) // 2)
        idx = np.arange(order, dtype=np.int64)
        g_i, g_q = idx // m, idx % m
        p_i, p_q = _gray_to_binary(g_i), _gray_to_binary(g_q)
        pts = (2 * p_i - (m - 1)) + 1j * (2 * p_q - (m - 1))
        pts = pts * np.sqrt(power / (2.0 * (order - 1) / 3.0))
        return cls(pts, name=f"rect-gray-{order}")

    def normalized(self, power: float = 1.0) -> Constellation:
        r"""Copy scaled so that :math:`\frac1M\sum_i|x_i|^2 = P` (``power``)."""
        _check_power(power)
        avg = self.average_power
        if avg <= 0.0:
            raise ValueError("cannot normalise a constellation whose points are all zero")
        return Constellation(self._points * np.sqrt(power / avg), name=self._name)

    # ------------------------------------------------------------- map / demap
    def map(self, indices: np.ndarray) -> np.ndarray:
        """Concept indices to symbols.

        Input
        -----
        indices : int array ``[...]`` with values in ``0..M-1``.

        Output
        ------
        complex128 array ``[...]``: ``points[indices]``.
        """
        idx = np.asarray(indices)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be an integer array, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.order):
            raise ValueError(
                f"indices must lie in 0..{self.order - 1}, got range "
                f"[{int(idx.min())}, {int(idx.max())}]"
            )
        return self._points[idx]

    def demap(self, y: np.ndarray, chunk: int = 65536) -> np.ndarray:
        r"""Minimum-distance detection (Section II.A.3).

        :math:`\hat i = \arg\min_i |y - x_i|^2 = \arg\max_i \left(\Re(y\,x_i^*) -
        \tfrac12|x_i|^2\right)`, evaluated block-wise.

        Parameters
        ----------
        chunk : int
            Maximum number of received symbols per block; blocks are further limited to
            about :math:`2^{23}` metric entries (~64 MB) so that ``M = 1024`` stays small.

        Input
        -----
        y : complex array ``[...]``.

        Output
        ------
        int64 array ``[...]`` of detected indices.
        """
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise ValueError(f"chunk must be a positive int, got {chunk!r}")
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"y must be numeric, got dtype {y.dtype}")
        flat = y.reshape(-1)
        out = np.empty(flat.shape[0], dtype=np.int64)
        x = self._points
        basis = np.stack([x.real, x.imag])  # [2, M]
        half_energy = 0.5 * (x.real**2 + x.imag**2)  # [M]
        step = int(max(1, min(chunk, _DEMAP_BLOCK_ELEMENTS // self.order)))
        for start in range(0, flat.shape[0], step):
            yb = flat[start : start + step]
            y2 = np.stack([yb.real, yb.imag], axis=1).astype(np.float64, copy=False)
            metric = y2 @ basis  # Re(y x*) [n, M]
            metric -= half_energy
            out[start : start + step] = np.argmax(metric, axis=1)
        return out.reshape(y.shape)

    # ------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> None:
        """Write the points as a ``.npy`` complex64 array ``[M]`` (atomic: temp file + replace)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, self._points.astype(np.complex64), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Constellation:
        """Read a constellation written by :meth:`save` (name = file stem)."""
        path = Path(path)
        arr = np.load(path, allow_pickle=False)
        return cls(arr, name=path.stem)


def _check_power(power: float) -> None:
    if isinstance(power, bool) or not isinstance(power, (int, float, np.number)):
        raise ValueError(f"power must be a positive finite number, got {power!r}")
    if not (np.isfinite(power) and power > 0):
        raise ValueError(f"power must be a positive finite number, got {power!r}")
