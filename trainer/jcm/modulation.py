r"""The fixed rectangular QAM of JCM and the sampling rules on it (Section III-B, III-D).

Per symbol ``i`` the encoder gives two logit vectors ``l^I_i, l^Q_i`` over the
:math:`L = \sqrt M` amplitude levels of one rail (Prop. 2, eq. 10: the rails are conditionally
independent, so :math:`P(Z_i = c_{rs}) = q^I_{ir} q^Q_{is}`; ``M = 4`` is the Bernoulli case of
Prop. 1 on each rail). A rail level is drawn by Gumbel-max (eqs. 15-16):

.. math:: t = \mathrm{onehot}\big(\arg\max_r\, [\tau_r + \log q_r]\big), \quad
          \tau_r \sim \mathrm{Gumbel}(0, 1),

and in training the backward pass uses the softmax relaxation (eqs. 17-18)
:math:`v_r = \mathrm{softmax}_r((\log q_r + \tau_r)/T)` (the paper's ``T = 1``) through the
straight-through form ``t + v - stop_gradient(v)`` (eq. 19). The amplitudes of the rail levels
are :math:`2p - (L - 1)`, ``p = 0..L-1``; the scale is irrelevant because the drawn sequence is
normalised to unit power over the symbols actually drawn,
:math:`z \leftarrow z / \sqrt{\tfrac1n \sum_i |z_i|^2}` (Section II-A, ``P = ||Z||^2 / n``).

Point labels (for ``Frame.labels``, SER and BER) are those of
:meth:`channel_sim.Constellation.rectangular_gray`: the point with I level ``p_I`` and Q level
``p_Q`` has label ``gray(p_I) * L + gray(p_Q)``, so the one Gray table is shared.
"""

from __future__ import annotations

import numpy as np

from channel_sim import Constellation

#: Orders JCM supports: square QAM with sqrt(M) levels per rail (M = 4: a Bernoulli per rail).
ORDERS = (4, 16, 64, 256, 1024)


def rail_levels(order: int) -> int:
    """``L = sqrt(M)`` levels per rail; ValueError (one line) for a non-square order."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in ORDERS:
        raise ValueError(f"JCM needs a square QAM order M in {ORDERS}, got {order!r}")
    return int(round(np.sqrt(order)))


def amplitudes(order: int) -> np.ndarray:
    """float32 ``[L]`` rail amplitudes ``2p - (L-1)`` for level index ``p = 0..L-1``."""
    n = rail_levels(order)
    return (2.0 * np.arange(n) - (n - 1)).astype(np.float32)


def constellation(order: int) -> Constellation:
    """The fixed point table (unit average power under uniform use) and its Gray labels."""
    rail_levels(order)
    return Constellation.rectangular_gray(order)


def label_table(order: int) -> np.ndarray:
    """int64 ``[L, L]``: label of the point with I level ``p_I`` and Q level ``p_Q``, read off
    :func:`constellation` (so the Gray rule is written once, in ``channel_sim``)."""
    n = rail_levels(order)
    pts = constellation(order).points
    unit = np.sqrt(2.0 * (order - 1) / 3.0)  # undo rectangular_gray's unit-power scaling
    p_i = np.rint((pts.real * unit + (n - 1)) / 2).astype(np.int64)
    p_q = np.rint((pts.imag * unit + (n - 1)) / 2).astype(np.int64)
    table = np.full((n, n), -1, np.int64)
    table[p_i, p_q] = np.arange(order)
    return table


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float64)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def gumbel_max(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""Eq. (15): level index :math:`\arg\max_r [\tau_r + l_r]` per row of ``logits [..., L]``
    (``log q`` and the logits differ by a per-row constant, which the argmax ignores).
    Returns int64 ``[...]``; its law is ``softmax(logits)``."""
    g = rng.gumbel(size=np.shape(logits))
    return np.argmax(np.asarray(logits, np.float64) + g, axis=-1)


def levels_to_symbols(levels: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """``levels`` int ``[n, S, 2]`` (I, Q level indices) -> (complex128 ``[n, S]`` with
    per-row mean ``|z|^2 = 1`` over the ``S`` symbols drawn, int64 labels ``[n, S]``)."""
    amp = amplitudes(order).astype(np.float64)
    z = amp[levels[..., 0]] + 1j * amp[levels[..., 1]]
    return normalise_rows(z), label_table(order)[levels[..., 0], levels[..., 1]]


def normalise_rows(z: np.ndarray) -> np.ndarray:
    r""":math:`z / \sqrt{\tfrac1S \sum_i |z_i|^2}` per row of ``z [n, S]`` (the power of what
    was drawn, ``P = ||Z||^2 / n`` of Section II-A)."""
    return z / np.sqrt(np.mean(np.abs(z) ** 2, axis=-1, keepdims=True))


def expected_usage(logits: np.ndarray, order: int) -> np.ndarray:
    r"""float64 ``[M]`` usage by label: :math:`\frac{1}{nS}\sum q^I_{r} q^Q_{s}` over rows and
    symbols of ``logits [n, S, 2, L]`` (eq. 10, summed), in the order of the point labels."""
    q = softmax(logits)
    joint = np.einsum("nsi,nsj->ij", q[..., 0, :], q[..., 1, :]) / (q.shape[0] * q.shape[1])
    out = np.zeros(order)
    out[label_table(order)] = joint
    return out


# ------------------------------------------------------------------ Keras (training graph)
def st_gumbel_softmax(logits, temperature, seed):
    r"""Straight-through Gumbel-softmax, eqs. (15)-(19): Gumbel noise
    :math:`\tau = -\log(-\log u)` on ``logits [..., L]``, then :func:`straight_through`."""
    from keras import ops, random

    u = random.uniform(ops.shape(logits), minval=1e-9, maxval=1.0, seed=seed)
    return straight_through(logits - ops.log(-ops.log(u)), temperature)


def straight_through(noisy, temperature):
    r"""One-hot :math:`\arg\max` of ``noisy = l + tau`` forward (eq. 15), the gradient of
    :math:`\mathrm{softmax}(noisy / T)` (eq. 17) backward: ``hard + soft - stop_grad(soft)``."""
    from keras import ops

    soft = ops.softmax(noisy / temperature, axis=-1)
    hard = ops.one_hot(ops.argmax(noisy, axis=-1), ops.shape(noisy)[-1], dtype=soft.dtype)
    return hard + soft - ops.stop_gradient(soft)


def normalise_power(z):
    """Keras form of :func:`normalise_rows` on real ``z [B, S, 2]`` (I, Q rails)."""
    from keras import ops

    power = ops.mean(ops.sum(ops.square(z), axis=-1), axis=-1, keepdims=True)
    return z / ops.sqrt(power + 1e-12)[..., None]
