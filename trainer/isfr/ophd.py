r"""OPHD: the ordered-prior-assisted hierarchical decoupling allocator of ISFR (Section V,
Algorithm 1), NumPy only.

Given importance weights :math:`w` (eq. 18), the normalised SNR of each subchannel
:math:`\gamma` and the symbol budget, it chooses how many leading features to send (k), a
modulation order per feature and a power per feature that minimise the importance-weighted
total semantic distortion (eqs. 20, 23):

.. math::
    J_k = \sum_{j \le k} w_j\,\mu_j(p_j, m_j, \gamma^*_j) + \sum_{j > k} w_j D_T,

with the BER proxy of eq. (19) for Gray square :math:`2^{m}`-QAM (:func:`qam_ber`). Here the
rate budget is the symbol budget S of the comparison: feature j carries ``bits_per_feature``
bits in :math:`n_j = \lceil B_f / m_j \rceil` symbols and :math:`\sum_{j\le k} n_j \le S`
(replaces the paper's (C3), docs/schemes.md). The power constraint (C1) is the energy actually
sent: :math:`\sum_j n_j p_j = \sum_j n_j` (mean power 1 per sent symbol).

The four sub-problems:

1. (P1.1) channel matching: the j-th most important feature gets the j-th best subchannel;
2. (P1.2) ordered truncation search over k = N, N-1, ... with early stopping (Algorithm 1);
3. (P1.3) modulation orders non-decreasing with the feature index (eq. 25) and the rate
   budget used as fully as possible (eq. 26);
4. (P1.4) power by the KKT conditions (eq. 29): for a multiplier :math:`\lambda`, each
   :math:`p_j` solves :math:`t_j(p_j) = \lambda n_j` by Newton's method (safeguarded by a
   bracket), and :math:`\lambda` is found by bisection so the energy constraint holds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

#: The paper's modulation set (C4): 4-, 16- and 64-QAM, as bits per symbol.
PAPER_BITS = (2, 4, 6)
#: The paper's feature discarding penalty D_T (Section VI.A.2).
PAPER_DISCARD_PENALTY = 0.22
BER_MODELS = ("awgn", "rayleigh")


def _coefficients(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    r"""(a, b, c, d) of eq. (27) for square :math:`2^m`-QAM: with :math:`r = \sqrt{2^m}`,
    :math:`a = (r-1)/(r\log_2 r)`, :math:`b = (r-2)/(r\log_2 r)`, :math:`c = 3`,
    :math:`d = 3/(2(2^m-1))`."""
    bits = np.asarray(bits, dtype=np.float64)
    r = 2.0 ** (bits / 2.0)
    den = r * (bits / 2.0)
    return (r - 1.0) / den, (r - 2.0) / den, 3.0, 1.5 / (2.0**bits - 1.0)


def qam_ber(p, bits, gamma, model: str = "awgn") -> np.ndarray:
    r"""BER proxy :math:`\mu(p, m, \gamma)` of eq. (19) (elementwise, broadcast).

    ``"awgn"``: eq. (19), :math:`a\,\mathrm{erfc}\sqrt{dp\gamma} +
    b\,\mathrm{erfc}(c\sqrt{dp\gamma})` at the SNR :math:`p\gamma`. ``"rayleigh"`` (our
    variant for a transmitter that knows only the average SNR of a Rayleigh subchannel):
    eq. (19) averaged over :math:`\gamma \sim
    \mathrm{Exp}(\bar\gamma)`, using :math:`\mathbb E\,\mathrm{erfc}\sqrt{x\gamma} =
    1 - \sqrt{x\bar\gamma/(1 + x\bar\gamma)}`.
    """
    a, b, c, d = _coefficients(bits)
    x = d * np.asarray(p, dtype=np.float64) * np.asarray(gamma, dtype=np.float64)
    if model == "awgn":
        s = np.sqrt(x)
        return a * erfc(s) + b * erfc(c * s)
    if model == "rayleigh":
        u = c * c * x
        return a * (1.0 - np.sqrt(x / (1.0 + x))) + b * (1.0 - np.sqrt(u / (1.0 + u)))
    raise ValueError(f"unknown BER model {model!r}; allowed: {', '.join(BER_MODELS)}")


def qam_ber_slope(p, bits, gamma, model: str = "awgn") -> np.ndarray:
    r""":math:`t(p) = -\partial\mu/\partial p` (> 0, strictly decreasing in p; eq. 28): for
    ``"awgn"`` :math:`\sqrt{d\gamma/(\pi p)}\,[a e^{-d\gamma p} + b c\,e^{-c^2 d\gamma p}]`
    (eq. 29 without :math:`w_j`)."""
    return np.exp(_log_slope(np.log(np.asarray(p, np.float64)), bits, gamma, model)[0])


def _log_slope(s: np.ndarray, bits, gamma, model: str) -> tuple[np.ndarray, np.ndarray]:
    r"""(:math:`\ln t(e^s)`, :math:`d \ln t / ds`) with :math:`t = -\partial\mu/\partial p`,
    written so that nothing underflows at large :math:`p\gamma`."""
    a, b, c, d = _coefficients(bits)
    dg = d * np.asarray(gamma, np.float64)
    x = dg * np.exp(s)
    if model == "awgn":
        # ln t = ln sqrt(dg / (pi p)) - x + ln(a + b c e^{-(c^2-1) x})
        e = b * c * np.exp(-(c * c - 1.0) * x)
        value = 0.5 * (np.log(dg / math.pi) - s) - x + np.log(a + e)
        return value, -0.5 - x - (c * c - 1.0) * x * e / (a + e)
    if model == "rayleigh":
        # t = dg (T1 + T2), T_i = a_i / (2 sqrt(u_i) (1 + u_i)^1.5) * c_i^2, u = (x, c^2 x)
        u2 = c * c * x
        t1 = a / (2.0 * np.sqrt(x) * (1.0 + x) ** 1.5)
        t2 = b * c * c / (2.0 * np.sqrt(u2) * (1.0 + u2) ** 1.5)
        slope1 = -0.5 - 1.5 * x / (1.0 + x)
        slope2 = -0.5 - 1.5 * u2 / (1.0 + u2)
        return np.log(dg * (t1 + t2)), (t1 * slope1 + t2 * slope2) / (t1 + t2)
    raise ValueError(f"unknown BER model {model!r}; allowed: {', '.join(BER_MODELS)}")


def _solve_t(target: np.ndarray, weight: np.ndarray, bits: np.ndarray, gamma: np.ndarray,
             model: str, s0: np.ndarray, iters: int = 50, tol: float = 1e-10) -> np.ndarray:
    r"""Per feature, :math:`s = \ln p` with :math:`w\,t(p) = \text{target}` (eq. 29 for a
    given :math:`\lambda`): Newton's method from ``s0`` on :math:`f(s) = \ln w + \ln t(e^s) -
    \ln \text{target}` (strictly decreasing in s, eq. 28), each step kept inside a shrinking
    bracket (a bisection step when Newton would leave it)."""
    lo = np.full(target.shape, -60.0)
    hi = np.full(target.shape, 60.0)
    s = np.clip(s0, -59.0, 59.0)
    offset = np.log(weight) - np.log(target)
    for _ in range(iters):
        value, deriv = _log_slope(s, bits, gamma, model)
        fs = value + offset
        lo = np.where(fs > 0, s, lo)  # f decreasing: f > 0 means the root lies above s
        hi = np.where(fs <= 0, s, hi)
        nxt = s - fs / deriv
        nxt = np.where((nxt > lo) & (nxt < hi), nxt, 0.5 * (lo + hi))
        done = np.all(np.abs(nxt - s) < tol)
        s = nxt
        if done:
            break
    return s


def allocate_power(weights, bits, gamma, symbols, energy: float | None = None,
                   model: str = "awgn", tol: float = 1e-7) -> np.ndarray:
    r"""(P1.4): minimise :math:`\sum_j w_j \mu_j(p_j)` s.t. :math:`\sum_j n_j p_j = E`,
    :math:`p_j \ge 0` (convex by eq. 28) through its KKT conditions
    :math:`w_j t_j(p_j) = \lambda n_j` (eq. 29; :math:`t_j \to \infty` as :math:`p_j \to 0`,
    so every :math:`p_j > 0`): Newton per feature for a given :math:`\lambda`, bisection on
    :math:`\ln\lambda` until the energy matches. ``energy`` defaults to :math:`\sum_j n_j`
    (mean power 1 per sent symbol). Returns p [k]."""
    w = np.asarray(weights, np.float64)
    m = np.asarray(bits, np.float64)
    g = np.broadcast_to(np.asarray(gamma, np.float64), w.shape)
    n = np.asarray(symbols, np.float64)
    if not (w.shape == m.shape == n.shape) or w.ndim != 1 or not len(w):
        raise ValueError("weights, bits and symbols must be 1-D arrays of one length >= 1")
    if np.any(w <= 0) or np.any(n <= 0) or np.any(g <= 0):
        raise ValueError("weights, symbols and gamma must all be > 0 for the power allocation")
    e = float(n.sum() if energy is None else energy)
    if len(w) == 1:
        return np.array([e / n[0]])
    # Bracket ln(lambda): at the optimum every p_j <= E / n_j and some p_j >= E / sum(n), so
    # lambda lies between min_j w_j t_j(E / n_j) / n_j and max_j w_j t_j(E / sum n) / n_j.
    log_wn = np.log(w / n)
    lo = float(np.min(log_wn + _log_slope(np.log(e / n), m, g, model)[0])) - 1e-6
    hi = float(np.max(log_wn + _log_slope(np.full(w.shape, math.log(e / n.sum())), m, g,
                                          model)[0])) + 1e-6
    s = np.full(w.shape, math.log(e / n.sum()))
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        s = _solve_t(np.exp(mid) * n, w, m, g, model, s)
        if float(np.sum(n * np.exp(s))) > e:
            lo = mid
        else:
            hi = mid
    p = np.exp(_solve_t(np.exp(0.5 * (lo + hi)) * n, w, m, g, model, s))
    return p * (e / float(np.sum(n * p)))  # remove the last bisection residue exactly


def symbols_per_feature(bits_per_feature: int, bits: int) -> int:
    """Symbols that carry one feature's bits at ``bits`` per symbol (the last one zero-padded)."""
    return -(-int(bits_per_feature) // int(bits))


def order_candidates(k: int, bit_set: tuple[int, ...], bits_per_feature: int, budget: int,
                     prune: str = "full") -> list[tuple[int, ...]]:
    """(P1.3)'s candidate set for k features: order vectors non-decreasing with the index
    (eq. 25) that fit the symbol budget; ``prune="full"`` keeps those that use the most
    symbols (eq. 26, the rate budget used as fully as possible), ``"none"`` all of them."""
    cands = []
    for combo in itertools.combinations_with_replacement(sorted(bit_set), k):
        used = sum(symbols_per_feature(bits_per_feature, b) for b in combo)
        if used <= budget:
            cands.append((used, combo))
    if not cands:
        return []
    if prune == "full":
        most = max(u for u, _ in cands)
        return [c for u, c in cands if u == most]
    if prune == "none":
        return [c for _, c in cands]
    raise ValueError(f"unknown prune {prune!r}; allowed: full, none")


@dataclass(frozen=True)
class Allocation:
    """OPHD's decision: send the features ``order[:k]`` (feature ``order[i]`` on subchannel
    ``channel[i]``) with ``bits[i]`` bits per symbol (order ``2**bits[i]``), ``symbols[i]``
    symbols and power ``power[i]`` per symbol; ``distortion`` = J (eq. 20)."""

    k: int
    bits: tuple[int, ...]
    power: tuple[float, ...]
    symbols: tuple[int, ...]
    channel: tuple[int, ...]
    distortion: float
    searched: tuple[int, ...]  # the k values Algorithm 1 evaluated

    @property
    def orders(self) -> tuple[int, ...]:
        return tuple(1 << b for b in self.bits)

    @property
    def n_symbols(self) -> int:
        return int(sum(self.symbols))


def match_channels(weights: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """(P1.1) greedy matching: ``channel[j]`` = the subchannel of feature j, the j-th most
    important feature on the j-th highest normalised SNR (stable sorts: ties keep index order)."""
    w = np.asarray(weights)
    g = np.asarray(gamma)
    channel = np.empty(len(w), np.int64)
    channel[np.argsort(-w, kind="stable")] = np.argsort(-g, kind="stable")
    return channel


def ophd(weights, gamma, *, bits_per_feature: int, budget: int,
         bit_set: tuple[int, ...] = PAPER_BITS, discard_penalty: float = PAPER_DISCARD_PENALTY,
         model: str = "awgn", search: str = "early_stop", prune: str = "full",
         floor: float = 1e-6) -> Allocation:
    r"""Algorithm 1: the joint choice of k, orders and powers for the leading features.

    Parameters
    ----------
    weights : [N] importance weights (eq. 18), the features in ISFR's index order; values below
        ``floor`` are raised to it (a feature whose masking costs nothing still gets a tiny
        weight, so (P1.4) stays strictly convex).
    gamma : [N] or scalar normalised SNR (linear) of each subchannel; a scalar when the
        transmitter knows only the fed-back SNR (every subchannel alike).
    bits_per_feature, budget : B_f bits per feature, S symbols per sample.
    bit_set : allowed bits per symbol (C4).
    search : ``"early_stop"`` (Algorithm 1: stop when :math:`J_k` rises) or ``"exhaustive"``
        (every k).
    """
    w = np.maximum(np.asarray(weights, np.float64), floor)
    n_feat = len(w)
    g = np.broadcast_to(np.asarray(gamma, np.float64), (n_feat,)).copy()
    if np.any(g <= 0):
        raise ValueError("gamma must be > 0 (linear SNR)")
    if search not in ("early_stop", "exhaustive"):
        raise ValueError(f"unknown search {search!r}; allowed: early_stop, exhaustive")
    channel = match_channels(w, g)
    g_star = g[channel]
    best: Allocation | None = None
    searched = []
    for k in range(n_feat, 0, -1):
        local: tuple[float, tuple[int, ...], np.ndarray] | None = None
        for combo in order_candidates(k, bit_set, bits_per_feature, budget, prune):
            syms = np.array([symbols_per_feature(bits_per_feature, b) for b in combo], float)
            p = allocate_power(w[:k], np.array(combo), g_star[:k], syms, model=model)
            j = float(np.sum(w[:k] * qam_ber(p, np.array(combo), g_star[:k], model))
                      + discard_penalty * np.sum(w[k:]))
            if local is None or j < local[0]:
                local = (j, combo, p)
        if local is None:
            continue  # k features do not fit the budget at any order
        searched.append(k)
        if best is None or local[0] < best.distortion:
            j, combo, p = local
            best = Allocation(k, tuple(int(b) for b in combo), tuple(float(v) for v in p),
                              tuple(symbols_per_feature(bits_per_feature, b) for b in combo),
                              tuple(int(c) for c in channel[:k]), j, ())
        elif search == "early_stop":
            break
    if best is None:
        raise ValueError(f"no feature fits the budget of {budget} symbols: a feature of "
                         f"{bits_per_feature} bits needs at least "
                         f"{symbols_per_feature(bits_per_feature, max(bit_set))}")
    return Allocation(best.k, best.bits, best.power, best.symbols, best.channel,
                      best.distortion, tuple(searched))


def equal_protection(n_features: int, bits_per_feature: int, budget: int, bits: int) -> Allocation:
    """The equal-protection ablation (the paper's EEP baseline): every feature that fits, one
    order, power 1 per symbol; no OPHD."""
    per = symbols_per_feature(bits_per_feature, bits)
    k = min(n_features, budget // per)
    if k < 1:
        raise ValueError(f"a feature of {bits_per_feature} bits needs {per} symbols at "
                         f"{bits} bits per symbol, more than the budget of {budget}")
    return Allocation(k, (bits,) * k, (1.0,) * k, (per,) * k, tuple(range(k)), float("nan"), ())
