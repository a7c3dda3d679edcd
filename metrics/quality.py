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



#: Floor of the per-sample MSE relative to R^2, so a perfect reconstruction gives 100 dB, not inf.
PSNR_MSE_FLOOR = 1e-10


def psnr(x: np.ndarray, x_hat: np.ndarray, data_range: float) -> float:
    r"""Mean per-sample peak signal-to-noise ratio of a reconstruction, in dB.

    .. math::
        \mathrm{PSNR} = \frac1n\sum_n 10\log_{10}\frac{R^2}{\max(\mathrm{MSE}_n,\ 10^{-10}R^2)},
        \qquad \mathrm{MSE}_n = \frac1d\sum_i (x_{n,i} - \hat x_{n,i})^2

    with :math:`R` the data range of the data set (1 for inputs in [0, 1]); the floor caps a
    perfect reconstruction at 100 dB. ``x``, ``x_hat``: ``[n, ...]`` of one shape.
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape or x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"x {x.shape} and x_hat {x_hat.shape} must be non-empty [n, ...] of "
                         "one shape")
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range!r}")
    mse = np.mean((x - x_hat).reshape(len(x), -1) ** 2, axis=1)
    mse = np.maximum(mse, PSNR_MSE_FLOOR * data_range**2)
    return float(np.mean(10.0 * np.log10(data_range**2 / mse)))
