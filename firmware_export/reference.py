"""The node's per-sample computation in NumPy (docs/bundle.md, steps 2-5): the reference the
device runtime must reproduce index for index."""

from __future__ import annotations

import numpy as np


def top_k_slots(rank_scores: np.ndarray, k: int) -> np.ndarray:
    """The K slots with the largest int8 score, most important first, ties to the lower slot.
    ``rank_scores`` [n, N] -> int64 [n, K]."""
    n_slots = rank_scores.shape[-1]
    if not 1 <= k <= n_slots:
        raise ValueError(f"K must lie in [1, {n_slots}], got {k}")
    return np.argsort(-rank_scores.astype(np.int32), axis=-1, kind="stable")[:, :k]


def nearest_codewords_int8(z_q: np.ndarray, positions: np.ndarray, codebook_q: np.ndarray
                           ) -> np.ndarray:
    """``argmin_m Σ_d (z_q[p, d] − c_q[m, d])²`` for the selected slots only, integer arithmetic,
    ties to the lower ``m``. ``z_q`` [n, N, D] int8, ``positions`` [n, K] -> int64 [n, K]."""
    picked = np.take_along_axis(z_q, positions[..., None], axis=1).astype(np.int32)
    cb = codebook_q.astype(np.int32)
    out = np.empty(positions.shape, np.int64)
    for i in range(len(picked)):  # bounded memory: [K, M, D] per sample
        d = ((picked[i][:, None, :] - cb[None]) ** 2).sum(-1)
        out[i] = d.argmin(-1)
    return out


def node_indices(z_q: np.ndarray, logit_q: np.ndarray, codebook_q: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(positions [n, K], concept indices [n, K]) as the node computes them."""
    pos = top_k_slots(logit_q, k)
    return pos, nearest_codewords_int8(z_q, pos, codebook_q)
