"""Bit-level, semantic-quality (Section V) and vulnerability (Section IV.A) metrics."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "bit_error_rate",
    "bit_errors",
    "concept_usage",
    "cooccurrence",
    "cooccurrence_asymmetry",
    "critical_set",
    "mean_sci_per_concept",
    "q_sem",
    "sci_concentration",
    "semantic_vulnerability_report",
    "spp",
    "ssv_weighted",
    "symbol_vulnerability",
]

_KL_CLIP = 1e-12
# Samples per co-occurrence block: float32 counts stay exact below 2**24.
_COOC_BLOCK = 1 << 16


# --------------------------------------------------------------------------- helpers
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _int_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a


def _check_range(name: str, a: np.ndarray, order: int) -> None:
    if a.size and (a.min() < 0 or a.max() >= order):
        raise ValueError(
            f"{name} must lie in 0..{order - 1}, got range [{int(a.min())}, {int(a.max())}]"
        )


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    count = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        count += (x & np.uint64(1)).astype(np.int64)
        x >>= np.uint64(1)
    return count


def _points(points) -> np.ndarray:
    x = np.asarray(getattr(points, "points", points))
    if x.ndim != 1 or x.shape[0] < 2 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"points must be a numeric 1-D array of M >= 2 values, got {x.shape}")
    return x.astype(np.complex128, copy=False)


def _cooc(cooc, order: int | None = None) -> np.ndarray:
    p = np.asarray(cooc, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ValueError(f"cooc must be a square [M, M] array with M >= 2, got {p.shape}")
    if order is not None and p.shape[0] != order:
        raise ValueError(f"cooc is {p.shape} but the constellation has M = {order} points")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("cooc must be finite and non-negative")
    return p


def _sci(mean_sci, order: int | None = None) -> np.ndarray:
    s = np.asarray(mean_sci, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] < 1:
        raise ValueError(f"mean_sci must be a non-empty 1-D array, got shape {s.shape}")
    if order is not None and s.shape[0] != order:
        raise ValueError(f"mean_sci has {s.shape[0]} entries but M = {order}")
    if not np.all(np.isfinite(s)):
        raise ValueError("mean_sci must be finite")
    return s


def _sci_deviation(mean_sci: np.ndarray) -> np.ndarray:
    r""":math:`\delta_i = \bar I_i - \frac1M\sum_k \bar I_k`, with round-off (|δ_i| below
    ``64 eps max|I|``) snapped to 0 so that equal scores give an empty :math:`S_{top}`."""
    dev = mean_sci - mean_sci.mean()
    tol = 64.0 * np.finfo(np.float64).eps * float(np.max(np.abs(mean_sci)))
    dev[np.abs(dev) <= tol] = 0.0
    return dev


# ------------------------------------------------------------------------ bit level
def bit_errors(tx: np.ndarray, rx: np.ndarray, bits_per_symbol: int) -> int:
    r"""Number of differing index bits: :math:`\sum_n \mathrm{popcount}(tx_n \oplus rx_n)`.

    Input
    -----
    tx, rx : int arrays of the same shape, values in ``0..2**bits_per_symbol - 1``.

    Output
    ------
    int.
    """
    b = _check_int("bits_per_symbol", bits_per_symbol, 1)
    if b > 62:
        raise ValueError(f"bits_per_symbol must be <= 62, got {b}")
    tx, rx = _int_array("tx", tx), _int_array("rx", rx)
    if tx.shape != rx.shape:
        raise ValueError(f"tx and rx must have the same shape, got {tx.shape} and {rx.shape}")
    _check_range("tx", tx, 1 << b)
    _check_range("rx", rx, 1 << b)
    return int(_popcount(np.bitwise_xor(tx.astype(np.int64), rx.astype(np.int64))).sum())


def bit_error_rate(tx: np.ndarray, rx: np.ndarray, bits_per_symbol: int) -> float:
    r"""BER over the :math:`\log_2 M` index bits of every transmitted symbol (the
    :math:`P_e` of eq. 2): ``bit_errors / (tx.size * bits_per_symbol)``."""
    n = np.asarray(tx).size
    errors = bit_errors(tx, rx, bits_per_symbol)
    if n == 0:
        raise ValueError("tx is empty: the BER is undefined")
    return errors / (n * int(bits_per_symbol))


# ---------------------------------------------------------------- semantic quality
def q_sem(
    p: np.ndarray, p_hat: np.ndarray, labels: np.ndarray, kl_mode: str = "per_sample"
) -> dict[str, float]:
    r"""Composite semantic quality of Section V.

    .. math::
        Q_{sem} = 0.6\,Q_{task} + 0.25\,P_c + 0.15\,\exp(-D_{KL}(p\|\hat p)),

    :math:`Q_{task} = \frac1n\sum_n \mathbf 1(\arg\max \hat p_n = y_n)`,
    :math:`P_c = 1 - \frac1n\sum_n |\max p_n - \max \hat p_n|`,
    :math:`D_{KL}(p_n\|\hat p_n) = \sum_c p_{n,c}\log(p_{n,c}/\hat p_{n,c})` with both
    distributions clipped to :math:`[10^{-12}, 1]`.

    Parameters
    ----------
    kl_mode : {"per_sample", "of_mean"}
        ``"per_sample"`` (preferred): :math:`\frac1n\sum_n e^{-D_{KL}(p_n\|\hat p_n)}`;
        ``"of_mean"``: :math:`e^{-\frac1n\sum_n D_{KL}(p_n\|\hat p_n)}`.

    Input
    -----
    p, p_hat : float ``[n, C]`` softmax outputs of the frozen classifier on original and
    reconstructed inputs; labels : int ``[n]`` in ``0..C-1``.

    Output
    ------
    dict with ``q_sem``, ``q_task``, ``p_c``, ``kl_similarity`` (the exp term) and
    ``kl_mean`` (:math:`\frac1n\sum_n D_{KL}`).
    """
    if kl_mode not in ("per_sample", "of_mean"):
        raise ValueError(f"kl_mode must be 'per_sample' or 'of_mean', got {kl_mode!r}")
    p = np.asarray(p, dtype=np.float64)
    p_hat = np.asarray(p_hat, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"p must be a non-empty [n, C] array, got shape {p.shape}")
    if p_hat.shape != p.shape:
        raise ValueError(f"p_hat must have the shape of p {p.shape}, got {p_hat.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(p_hat))):
        raise ValueError("p and p_hat must be finite")
    labels = _int_array("labels", labels)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"labels must have shape ({p.shape[0]},), got {labels.shape}")
    _check_range("labels", labels, p.shape[1])

    q_task = float(np.mean(np.argmax(p_hat, axis=1) == labels))
    p_c = 1.0 - float(np.mean(np.abs(p.max(axis=1) - p_hat.max(axis=1))))
    pc = np.clip(p, _KL_CLIP, 1.0)
    qc = np.clip(p_hat, _KL_CLIP, 1.0)
    kl = np.sum(pc * (np.log(pc) - np.log(qc)), axis=1)
    kl_mean = float(np.mean(kl))
    kl_sim = float(np.mean(np.exp(-kl))) if kl_mode == "per_sample" else math.exp(-kl_mean)
    return {
        "q_sem": 0.6 * q_task + 0.25 * p_c + 0.15 * kl_sim,
        "q_task": q_task,
        "p_c": p_c,
        "kl_similarity": kl_sim,
        "kl_mean": kl_mean,
    }


# ------------------------------------------------------------- concept statistics
def mean_sci_per_concept(indices: np.ndarray, scores: np.ndarray, order: int) -> np.ndarray:
    r""":math:`\bar I_i`: mean SCI score over every transmission of concept ``i`` (eq. 4).

    Input
    -----
    indices : int array (any shape) in ``0..order-1``; scores : float array, same shape.

    Output
    ------
    float64 ``[order]``; 0 for concepts never transmitted.
    """
    order = _check_int("order", order, 1)
    idx = _int_array("indices", indices)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != idx.shape:
        raise ValueError(f"scores must have the shape of indices {idx.shape}, got {sc.shape}")
    _check_range("indices", idx, order)
    flat = idx.reshape(-1)
    total = np.bincount(flat, weights=sc.reshape(-1), minlength=order)
    count = np.bincount(flat, minlength=order)
    return np.divide(total, count, out=np.zeros(order), where=count > 0)


def concept_usage(indices: np.ndarray, order: int) -> np.ndarray:
    """Number of transmissions of each concept: int64 ``[order]``."""
    order = _check_int("order", order, 1)
    idx = _int_array("indices", indices)
    _check_range("indices", idx, order)
    return np.bincount(idx.reshape(-1), minlength=order).astype(np.int64)


def cooccurrence(index_sets: np.ndarray, mask: np.ndarray | None, order: int) -> np.ndarray:
    r"""Joint co-occurrence probability :math:`P(i, j)` of eq. 4.

    With :math:`B_{n,i} = 1` iff concept ``i`` is in sample ``n``'s transmitted set
    (set membership: repeats count once), :math:`C = B^\top B` with zeroed diagonal
    counts, per sample, each ordered pair :math:`(i, j), i \ne j`;
    :math:`P = C / \sum_{i \ne j} C_{ij}` is symmetric with zero diagonal and
    :math:`\sum_{i \ne j} P(i,j) = 1` (all zeros if no sample holds two distinct concepts).

    Input
    -----
    index_sets : int ``[n, K]``; mask : bool ``[n, K]`` marking valid entries (``None``:
    all valid; masked-out entries may hold any value, e.g. -1 padding); order : ``M``.

    Output
    ------
    float64 ``[M, M]``.
    """
    order = _check_int("order", order, 2)
    sets = _int_array("index_sets", index_sets)
    if sets.ndim != 2:
        raise ValueError(f"index_sets must be a 2-D [n_samples, K] array, got shape {sets.shape}")
    if mask is None:
        valid = np.ones(sets.shape, dtype=bool)
    else:
        valid = np.asarray(mask)
        if valid.dtype != np.bool_ or valid.shape != sets.shape:
            raise ValueError(
                f"mask must be a bool array of shape {sets.shape}, got {valid.dtype} {valid.shape}"
            )
    _check_range("index_sets (valid entries)", sets[valid], order)
    counts = np.zeros((order, order), dtype=np.int64)
    n = sets.shape[0]
    for start in range(0, n, _COOC_BLOCK):
        s = sets[start : start + _COOC_BLOCK]
        v = valid[start : start + _COOC_BLOCK]
        rows = np.broadcast_to(np.arange(s.shape[0])[:, None], s.shape)[v]
        b = np.zeros((s.shape[0], order), dtype=np.float32)
        b[rows, s[v]] = 1.0
        counts += np.rint(b.T @ b).astype(np.int64)
    np.fill_diagonal(counts, 0)
    total = counts.sum()
    if total == 0:
        return np.zeros((order, order), dtype=np.float64)
    return counts / float(total)


# ------------------------------------------------------ vulnerability (Section IV.A)
def symbol_vulnerability(points, cooc: np.ndarray) -> np.ndarray:
    r"""Per-symbol vulnerability, the bracket of eq. 4:

    .. math:: \mathcal S_i = M^2 \sum_{j \ne i} P(i, j)\, \exp(-|x_i - x_j|^2).

    Input
    -----
    points : complex ``[M]`` or :class:`~channel_sim.Constellation`; cooc : ``[M, M]``.

    Output
    ------
    float64 ``[M]``.
    """
    x = _points(points)
    m = x.shape[0]
    p = _cooc(cooc, m)
    d = x[:, None] - x[None, :]
    kernel = np.exp(-(d.real**2 + d.imag**2))
    np.fill_diagonal(kernel, 0.0)
    return float(m) ** 2 * np.sum(p * kernel, axis=1)


def ssv_weighted(points, mean_sci: np.ndarray, cooc: np.ndarray) -> float:
    r"""SCI-weighted SSV, eq. 4: :math:`\mathcal S_w = \frac1M\sum_i \bar I_i\,\mathcal S_i`."""
    x = _points(points)
    s = _sci(mean_sci, x.shape[0])
    return float(np.mean(s * symbol_vulnerability(x, cooc)))


def sci_concentration(mean_sci: np.ndarray) -> float:
    r"""SCI score concentration :math:`\delta = \max_i \delta_i`,
    :math:`\delta_i = \bar I_i - \frac1M\sum_k \bar I_k` (Section IV.A); 0 for equal scores."""
    return float(np.max(_sci_deviation(_sci(mean_sci))))


def critical_set(mean_sci: np.ndarray) -> np.ndarray:
    r""":math:`\mathcal S_{top} = \{i : \delta_i > 0\}` as a bool mask ``[M]``."""
    return _sci_deviation(_sci(mean_sci)) > 0.0


def spp(points, mean_sci: np.ndarray, cooc: np.ndarray) -> float:
    r"""Semantic protection probability, eq. 5:

    .. math::
        \mathcal S_p = \frac{1}{|\mathcal S_{top}|}\sum_{i\in\mathcal S_{top}}
        \mathbf 1(\mathcal S_i < \mu_S),\qquad \mu_S = \frac1M\sum_i \mathcal S_i.

    Output
    ------
    float in [0, 1]; ``nan`` if :math:`\mathcal S_{top}` is empty (all SCI scores equal).
    """
    x = _points(points)
    top = critical_set(_sci(mean_sci, x.shape[0]))
    if not top.any():
        return math.nan
    s = symbol_vulnerability(x, cooc)
    return float(np.mean(s[top] < s.mean()))


def cooccurrence_asymmetry(cooc: np.ndarray) -> float:
    r"""Co-occurrence asymmetry :math:`\gamma = \max_{i \ne j} P(i,j) - \min_{i \ne j} P(i,j)`.

    The diagonal is excluded (:math:`P(i,i)` is not a co-occurrence and is 0 by
    construction in :func:`cooccurrence`, which would otherwise pin the minimum at 0).
    """
    p = _cooc(cooc)
    off = p[~np.eye(p.shape[0], dtype=bool)]
    return float(off.max() - off.min())


def semantic_vulnerability_report(points, mean_sci: np.ndarray, cooc: np.ndarray) -> dict:
    """All Section IV.A quantities: ``ssv`` (eq. 4), ``spp`` (eq. 5), ``delta``, ``gamma``,
    ``n_critical`` (:math:`|S_{top}|`)."""
    x = _points(points)
    s = _sci(mean_sci, x.shape[0])
    return {
        "ssv": ssv_weighted(x, s, cooc),
        "spp": spp(x, s, cooc),
        "delta": sci_concentration(s),
        "gamma": cooccurrence_asymmetry(cooc),
        "n_critical": int(critical_set(s).sum()),
    }
