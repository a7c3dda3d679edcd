"""SCI-weighted soft top-K selection (Section III.B.1).

Each embedding ``z_i`` is scaled by its normalised SCI weight before quantisation:

.. math::
    w_i = \\sigma\\left(\\frac{I_i - t_K}{\\tau\\, s}\\right),\\qquad
    t_K = \\tfrac12\\left(I_{(K)} + I_{(K+1)}\\right),\\qquad s = \\operatorname{std}_i(I_i)

with ``I_(K)`` the K-th largest score of the sample and ``t_K``, ``s`` held constant for the
gradient. As the temperature ``tau`` anneals 1.0 -> 0.1 the weights harden towards the hard
top-K mask used at inference (``w_i = 1`` for the K most important concepts, 0 otherwise);
``K = N`` selects everything. The exact form is our choice (docs/models.md): the paper names the
ingredients (normalised SCI weight, temperature, hard top-K at inference) but not a formula.
"""

from __future__ import annotations

from keras import ops


def soft_topk_mask(scores, k, tau):
    """Soft and hard top-K masks.

    Input: ``scores`` [batch, N] in (0, 1); ``k`` [batch] int (1..N); ``tau`` scalar > 0.
    Output: ``(soft, hard)``, both [batch, N] float32; ``hard`` is 1 where ``I_i >= I_(K)``.
    """
    n = ops.shape(scores)[-1]
    k = ops.cast(ops.reshape(k, (-1, 1)), "int32")
    desc = ops.flip(ops.sort(scores, axis=-1), axis=-1)
    kth = ops.take_along_axis(desc, k - 1, axis=-1)
    nxt = ops.take_along_axis(desc, ops.minimum(k, n - 1), axis=-1)
    thresh = ops.stop_gradient(0.5 * (kth + nxt))
    spread = ops.stop_gradient(ops.std(scores, axis=-1, keepdims=True)) + 1e-6
    soft = ops.sigmoid((scores - thresh) / (tau * spread))
    everything = ops.cast(k >= n, "float32")
    soft = everything + (1.0 - everything) * soft
    hard = ops.cast(scores >= ops.stop_gradient(kth), "float32")
    return soft, hard
