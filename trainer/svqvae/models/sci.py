"""SCI-weighted soft top-K selection (Section III.B.1): the normalised SCI weight ``w_i`` that
scales each embedding ``z_i`` before quantisation during training (hard top-K at inference).

The paper names the ingredients (normalised SCI weight, temperature tau annealed 1.0 -> 0.1,
hard top-K at inference) but not a formula; two forms are implemented (``TrainConfig.
sci_weighting``, docs/models.md has the measurements behind the default):

``softmax_cap`` (default)
    .. math:: w_i = \\min\\left(1,\\; K\\,\\operatorname{softmax}_i(I / \\tau)\\right)

    The weights sum to at most K and depend on the *levels* of the scores, so the task loss
    spreads them: a concept is only kept at full weight if its score stands out.
``sigmoid_rank``
    .. math:: w_i = \\sigma\\left(\\frac{I_i - t_K}{\\tau\\, s}\\right),\\quad
        t_K = \\tfrac12\\left(I_{(K)} + I_{(K+1)}\\right),\\quad s = \\operatorname{std}_i(I_i)

    with ``t_K``, ``s`` held constant for the gradient. It depends only on the *order* of the
    scores, so nothing pins their level: measured, the scores saturate (median slot score
    0.993) and every normalisation of the eq. (3) weights becomes flat.

``K = N`` selects everything in both forms.
"""

from __future__ import annotations

from keras import ops

WEIGHTINGS = ("softmax_cap", "sigmoid_rank")


def soft_topk_mask(scores, k, tau, weighting: str = "softmax_cap"):
    """Soft and hard top-K masks.

    Input: ``scores`` [batch, N] in (0, 1); ``k`` [batch] int (1..N); ``tau`` scalar > 0;
    ``weighting`` one of :data:`WEIGHTINGS` (module docstring).
    Output: ``(soft, hard)``, both [batch, N] float32; ``hard`` is 1 where ``I_i >= I_(K)``.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"sci_weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    n = ops.shape(scores)[-1]
    k = ops.cast(ops.reshape(k, (-1, 1)), "int32")
    desc = ops.flip(ops.sort(scores, axis=-1), axis=-1)
    kth = ops.take_along_axis(desc, k - 1, axis=-1)
    nxt = ops.take_along_axis(desc, ops.minimum(k, n - 1), axis=-1)
    if weighting == "softmax_cap":
        kf = ops.cast(k, "float32")
        soft = ops.minimum(1.0, kf * ops.softmax(scores / tau, axis=-1))
    else:
        thresh = ops.stop_gradient(0.5 * (kth + nxt))
        spread = ops.stop_gradient(ops.std(scores, axis=-1, keepdims=True)) + 1e-6
        soft = ops.sigmoid((scores - thresh) / (tau * spread))
    everything = ops.cast(k >= n, "float32")
    soft = everything + (1.0 - everything) * soft
    hard = ops.cast(scores >= ops.stop_gradient(kth), "float32")
    return soft, hard
