r"""The one SNR sweep loop: transmitter -> channel -> receiver -> T -> one metric record.

``semqam evaluate`` (float model and int8 twin), the DQN environment and ``semqam hil`` (a node
over the serial link as the transmitter) all call :func:`run_point`, so their numbers are
computed the same way (docs/metrics.md):

* at SNR point ``j`` the channel is ``channels(j)``: the evaluation and the HIL build a fresh
  block seeded ``seed + j`` from :func:`channel_sim.make_channel`, so every transmitter (every
  variant, the float model, the int8 twin, the node) sees the same noise samples; the DQN
  environment passes one continuing stream;
* every frame the transmitter returns goes through that channel in the order returned
  (several frames when K varies from block to block);
* one record per point: Q_sem, task accuracy, P_c, KL similarity (Section V) of ``T(x_hat)``
  against ``p = T(x)`` and the labels, BER over the index bits and SER of the per-symbol labels,
  symbols per sample, the K histogram and the energy actually transmitted per symbol
  (``tx_energy`` = mean |x|^2 over every sent symbol), over the samples that arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics import bit_error_rate, psnr, q_sem
from trainer.scheme import Frame, Receiver, Transmitter

Channel = Callable[[np.ndarray, float], np.ndarray]


@dataclass
class PointResult:
    """One SNR point: the metric record plus what the figures need."""

    snr_db: float
    record: dict[str, Any]
    frames: list[Frame] = field(default_factory=list)
    received: list[np.ndarray] = field(default_factory=list)  # channel outputs per frame
    decisions: list[np.ndarray | None] = field(default_factory=list)  # receiver labels


def metric_record(p_clean: np.ndarray, p_hat: np.ndarray, labels: np.ndarray,
                  tx: np.ndarray | None, rx: np.ndarray | None, bits_per_symbol: int,
                  ks: np.ndarray, tx_energy: float | None = None,
                  psnr_db: float | None = None) -> dict[str, Any]:
    """The per-point record (keys as in metrics.json / hil_report.json, docs/metrics.md);
    ``psnr_db`` (:func:`metrics.psnr` of x_hat) where the caller measured it."""
    q = q_sem(p_clean, p_hat, labels)
    have_bits = tx is not None and rx is not None and tx.size > 0
    return {
        "n": int(len(labels)),
        "q_sem": q["q_sem"], "accuracy": q["q_task"], "p_c": q["p_c"],
        "kl_similarity": q["kl_similarity"],
        "ber": bit_error_rate(tx, rx, bits_per_symbol) if have_bits else None,
        "ser": float(np.mean(tx != rx)) if have_bits else None,
        "symbols_per_sample": float(np.mean(ks)) if len(ks) else 0.0,
        "k_histogram": {str(k): int(c) for k, c in sorted(Counter(ks.tolist()).items())},
        "tx_energy": tx_energy,
        **({"psnr": psnr_db} if psnr_db is not None else {}),
    }


def run_point(tx: Transmitter, rx: Receiver, channel: Channel, snr_db: float,
              p_clean: np.ndarray, labels: np.ndarray, bits_per_symbol: int,
              keep: bool = False, reference: np.ndarray | None = None,
              data_range: float = 1.0) -> PointResult:
    """Send every sample of ``tx`` at ``snr_db`` through ``channel`` into ``rx``.

    ``p_clean`` [n, C] = T(x) and ``labels`` [n] belong to the transmitter's samples; rows that
    no frame carries (lost on a link) are left out of the record. ``keep`` keeps the frames, the
    received symbols and the decisions in the result (HIL figures, BER of what was sent).
    ``reference`` (the transmitter's inputs x, ``[n, ...]``) adds ``psnr`` of the receivers'
    x_hat against it (:func:`metrics.psnr` with ``data_range``) to the record.
    """
    snr_db = float(snr_db)
    frames = tx.transmit(snr_db)
    rows, probs, sent, decided, ks, x_hats = [], [], [], [], [], []
    energy, n_symbols = 0.0, 0
    result = PointResult(snr_db, {})
    for frame in frames:
        if not len(frame.samples):
            continue
        y = channel(frame.symbols, snr_db)
        got = rx.receive(y, frame)
        energy += frame.energy * frame.symbols.size
        n_symbols += frame.symbols.size
        rows.append(frame.samples)
        probs.append(got.probs)
        if reference is not None and got.x_hat is not None:
            x_hats.append(np.asarray(got.x_hat))
        ks.append(np.full(len(frame.samples), frame.k))
        if frame.labels is not None and got.labels is not None:
            sent.append(frame.labels.reshape(-1))
            decided.append(got.labels.reshape(-1))
        if keep:
            result.frames.append(frame)
            result.received.append(y)
            result.decisions.append(got.labels)
    if not rows:
        result.record = {"n": 0}
        return result
    idx = np.concatenate(rows)
    tx_l = np.concatenate(sent) if sent else None
    rx_l = np.concatenate(decided) if decided else None
    quality = None
    if reference is not None and x_hats and len(x_hats) == len(rows):
        x_hat = np.concatenate(x_hats).reshape(len(idx), *np.asarray(reference).shape[1:])
        quality = psnr(np.asarray(reference)[idx], x_hat, data_range)
    result.record = metric_record(p_clean[idx], np.concatenate(probs), labels[idx], tx_l, rx_l,
                                  bits_per_symbol, np.concatenate(ks),
                                  energy / n_symbols if n_symbols else None, quality)
    return result


def sweep(tx: Transmitter, rx: Receiver, channels: Callable[[int], Channel],
          snr_db: list[float], p_clean: np.ndarray, labels: np.ndarray, bits_per_symbol: int,
          on_point: Callable[[PointResult], None] | None = None,
          keep: bool = False) -> list[PointResult]:
    """:func:`run_point` at every ``snr_db[j]`` with channel ``channels(j)``."""
    out = []
    for j, snr in enumerate(snr_db):
        point = run_point(tx, rx, channels(j), snr, p_clean, labels, bits_per_symbol, keep)
        out.append(point)
        if on_point is not None:
            on_point(point)
    return out
