r"""ISFR + OPHD as a :mod:`scheme <trainer.scheme>`: transmitter and receiver (Section II.C).

Transmit at the fed-back SNR :math:`\bar\gamma`: OPHD (Algorithm 1) with every subchannel at
:math:`\bar\gamma` (the transmitter knows only the fed-back SNR, so the greedy channel matching
of (P1.1) is the identity) chooses k, an order :math:`2^{m_j}` and a power :math:`p_j` per sent
feature; feature j's :math:`L N_b` bits are cut into :math:`n_j = \lceil L N_b / m_j\rceil`
symbols of Gray square :math:`2^{m_j}`-QAM (unit average power, :class:`channel_sim.Constellation`)
scaled by :math:`\sqrt{p_j}`; the features are concatenated in index order, each on its own
stretch of the frame (its subchannel), and the frame is divided by the square root of its
measured mean energy, so the energy per sent symbol is exactly 1.

Receive (eq. 10): each stretch is rescaled (zero forcing by the channel is done by
:mod:`channel_sim`), hard-demodulated on its Gray constellation, mapped back to level indices;
features not sent are zero (as in nested dropout) -> decoder -> frozen T.

Variants: ``ophd`` (the system) and ``equal_protection`` (the paper's EEP: the same model, every
feature at the run's order M with equal power, no OPHD).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from channel_sim import Constellation
from trainer.isfr.ophd import Allocation
from trainer.isfr.pipeline import IsfrPipeline, feature_labels, feature_symbols
from trainer.scheme import Frame, Reception

NAME = "isfr"
VARIANTS = ("ophd", "equal_protection")
#: Bits of the per-frame energy normaliser sent beside the frame (one float32 per frame).
GAIN_BITS = 32


def _constellation(bits: int) -> Constellation:
    return Constellation.rectangular_gray(1 << bits)


def side_bits(alloc: Allocation, n_features: int, n_bit_choices: int, variant: str,
              n_samples: int) -> float:
    r"""Side information per sample: k (:math:`\lceil\log_2 N\rceil` bits) and one order per
    sent feature (:math:`\lceil\log_2 |\mathcal M|\rceil` bits each) for ``ophd``; nothing of the
    kind for ``equal_protection`` (fixed k and order); plus the frame's float32 energy
    normaliser shared by its ``n_samples`` rows. The powers are not sent: the receiver knows the
    SNR it fed back and recomputes them."""
    per_frame = GAIN_BITS / max(1, n_samples)
    if variant == "equal_protection":
        return per_frame
    k_bits = math.ceil(math.log2(n_features)) if n_features > 1 else 0
    m_bits = math.ceil(math.log2(n_bit_choices)) if n_bit_choices > 1 else 0
    return k_bits + alloc.k * m_bits + per_frame


class IsfrTransmitter:
    """The node side of one run on samples ``x`` for one variant (deterministic: no
    sampling, so the seed has nothing to draw)."""

    def __init__(self, pipeline: IsfrPipeline, x: np.ndarray, variant: str,
                 allocate: Callable[[float], Allocation], n_bit_choices: int,
                 label_bits: int) -> None:
        self.variant = variant
        self.pipeline = pipeline
        self.allocate = allocate
        self.n_bit_choices = n_bit_choices
        self.label_bits = label_bits  # per-symbol labels only when every order is this one
        self.labels = pipeline.label_of(pipeline.encode(x))  # [n, N, L]

    def transmit(self, snr_db: float) -> list[Frame]:
        alloc = self.allocate(float(snr_db))
        n = len(self.labels)
        nb = self.pipeline.quant_bits
        parts, qam = [], []
        for j in range(alloc.k):
            idx = feature_symbols(self.labels[:, j], nb, alloc.bits[j])
            qam.append(idx)
            parts.append(_constellation(alloc.bits[j]).map(idx) * math.sqrt(alloc.power[j]))
        symbols = np.concatenate(parts, axis=1)
        gain = float(np.mean(np.abs(symbols) ** 2))
        symbols = symbols / math.sqrt(gain)
        uniform = all(b == self.label_bits for b in alloc.bits)
        side = {"k": np.array(alloc.k), "bits": np.array(alloc.bits, np.int64),
                "power": np.array(alloc.power), "gain": np.array(gain)}
        return [Frame(symbols=symbols, samples=np.arange(n),
                      labels=np.concatenate(qam, axis=1) if uniform else None, side=side,
                      side_bits=side_bits(alloc, self.pipeline.n_features, self.n_bit_choices,
                                          self.variant, n))]


class IsfrReceiver:
    """Hard Gray demodulation per feature -> level indices -> zero-filled grid -> decoder -> T."""

    def __init__(self, pipeline: IsfrPipeline) -> None:
        self.pipeline = pipeline

    def receive(self, y: np.ndarray, frame: Frame) -> Reception:
        pipe = self.pipeline
        k = int(frame.side["k"])
        bits = [int(b) for b in frame.side["bits"]]
        power = np.asarray(frame.side["power"], np.float64)
        gain = float(frame.side["gain"])
        n = len(y)
        idx = np.zeros((n, pipe.n_features, pipe.length), np.int64)
        keep = np.zeros(pipe.n_features, bool)
        decided, start = [], 0
        for j in range(k):
            width = -(-pipe.length * pipe.quant_bits // bits[j])
            seg = np.asarray(y[:, start:start + width]) * math.sqrt(gain / power[j])
            start += width
            q = _constellation(bits[j]).demap(seg)
            decided.append(q)
            idx[:, j] = pipe.index_of(feature_labels(q, pipe.quant_bits, bits[j], pipe.length))
            keep[j] = True
        x_hat, probs = pipe.decode_classify(pipe.features(idx, keep))
        labels = np.concatenate(decided, axis=1) if frame.labels is not None else None
        return Reception(labels, probs, x_hat)
