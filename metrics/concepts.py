"""Concept statistics of transmitted index sets: mean SCI, usage, co-occurrence (eq. 4)."""

from __future__ import annotations

import numpy as np

from metrics._checks import COOC_BLOCK, check_int, check_range, int_array


def mean_sci_per_concept(indices: np.ndarray, scores: np.ndarray, order: int) -> np.ndarray:
    r""":math:`\bar I_i`: mean SCI score over every transmission of concept ``i`` (eq. 4).

    Input
    -----
    indices : int array (any shape) in ``0..order-1``; scores : float array, same shape.

    Output
    ------
    float64 ``[order]``; 0 for concepts never transmitted.
    """
    order = check_int("order", order, 1)
    idx = int_array("indices", indices)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != idx.shape:
        raise ValueError(f"scores must have the shape of indices {idx.shape}, got {sc.shape}")
    check_range("indices", idx, order)
    flat = idx.reshape(-1)
    total = np.bincount(flat, weights=sc.reshape(-1), minlength=order)
    count = np.bincount(flat, minlength=order)
    return np.divide(total, count, out=np.zeros(order), where=count > 0)


def concept_usage(indices: np.ndarray, order: int) -> np.ndarray:
    """Number of transmissions of each concept: int64 ``[order]``."""
    order = check_int("order", order, 1)
    idx = int_array("indices", indices)
    check_range("indices", idx, order)
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
    order = check_int("order", order, 2)
    sets = int_array("index_sets", index_sets)
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
    check_range("index_sets (valid entries)", sets[valid], order)
    counts = np.zeros((order, order), dtype=np.int64)
    n = sets.shape[0]
    for start in range(0, n, COOC_BLOCK):
        s = sets[start : start + COOC_BLOCK]
        v = valid[start : start + COOC_BLOCK]
        rows = np.broadcast_to(np.arange(s.shape[0])[:, None], s.shape)[v]
        b = np.zeros((s.shape[0], order), dtype=np.float32)
        b[rows, s[v]] = 1.0
        counts += np.rint(b.T @ b).astype(np.int64)
    np.fill_diagonal(counts, 0)
    total = counts.sum()
    if total == 0:
        return np.zeros((order, order), dtype=np.float64)
    return counts / float(total)


def pooled_concept_stats(
    index_sets: list[np.ndarray], scores: list[np.ndarray], weights: list[int], order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per-concept mean SCI :math:`\bar I_i`, usage and co-occurrence :math:`P(i, j)` of
    the index sets ``index_sets[g]`` [n_g, K_g] (scores alike), each group repeated
    ``weights[g]`` times.

    Exactly equal to `mean_sci_per_concept`,
    `concept_usage` and `cooccurrence` of
    the concatenation of every group ``weights[g]`` times (padded to one width with a mask),
    without materialising the repeats.

    Output
    ------
    ``(mean_sci float64 [M], usage int64 [M], cooc float64 [M, M])``.
    """
    sci_sum = np.zeros(order)
    usage = np.zeros(order, np.int64)
    pair_counts = np.zeros((order, order))
    for idx, sc, w in zip(index_sets, scores, weights, strict=True):
        flat = idx.reshape(-1)
        sci_sum += w * np.bincount(flat, weights=sc.reshape(-1), minlength=order)
        usage += w * np.bincount(flat, minlength=order)
        srt = np.sort(idx, axis=1)
        distinct = 1 + np.count_nonzero(np.diff(srt, axis=1), axis=1)
        total = float(np.sum(distinct * (distinct - 1)))  # ordered pairs i != j per sample
        if total > 0:
            pair_counts += w * total * cooccurrence(idx, None, order)
    mean_sci = np.divide(sci_sum, usage, out=np.zeros(order), where=usage > 0)
    grand = pair_counts.sum()
    cooc = pair_counts / grand if grand > 0 else pair_counts
    return mean_sci, usage, cooc
