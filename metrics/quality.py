"""Semantic quality Q_sem (Section V) of a received reconstruction through the frozen T."""

from __future__ import annotations

import math

import numpy as np

from metrics._checks import KL_CLIP, check_range, int_array


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
    labels = int_array("labels", labels)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"labels must have shape ({p.shape[0]},), got {labels.shape}")
    check_range("labels", labels, p.shape[1])

    q_task = float(np.mean(np.argmax(p_hat, axis=1) == labels))
    p_c = 1.0 - float(np.mean(np.abs(p.max(axis=1) - p_hat.max(axis=1))))
    pc = np.clip(p, KL_CLIP, 1.0)
    qc = np.clip(p_hat, KL_CLIP, 1.0)
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


