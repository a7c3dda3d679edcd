"""The HIL loop: test samples -> node (over the link) -> host channel -> edge decoder -> metrics.

For each constellation and each SNR point j of the sweep:

1. before every block of ``block`` samples the host feeds an SNR back to the node
   (``SNR_FEEDBACK``): the nominal SNR, or (``feedback="estimated"``) the pilot estimate
   :func:`~channel_sim.estimate_snr_pilot_db` of ``pilots`` known symbols sent through the
   same kind of channel; the node's policy LUT picks K;
2. the block's samples are streamed to the node; it answers K Q-format symbols and their
   positional IDs per sample;
3. once the point is complete, all received symbols go through one channel block seeded
   ``seed + j`` (as :func:`evaluation.evaluate.evaluate` does, so the offline int8 evaluation
   sees the very same noise samples), the edge demaps, scatters, decodes and classifies;
4. Q_sem, accuracy, BER, SER (docs/metrics.md) are computed on the samples that arrived.

Samples lost on the link are counted (``link``) and left out of the metrics, never silently.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channel_sim import estimate_snr_pilot_db, make_channel
from edge.decoder import CONSTELLATIONS, EdgeDecoder
from metrics import bit_error_rate, q_sem

FEEDBACK = ("nominal", "estimated")
STAGES_NODE = ("neural", "select", "quantize", "map", "frame")
SCATTER_POINTS = 3000  # received symbols kept per scatter panel


@dataclass
class HilConfig:
    """What ``semqam hil`` runs; see the module docstring."""

    snr_db: list[float]
    channel: str = "awgn"
    channel_params: dict[str, Any] = field(default_factory=dict)
    constellations: tuple[str, ...] = CONSTELLATIONS
    seed: int = 0
    block: int = 100
    feedback: str = "nominal"
    pilots: int = 256
    window: int = 8
    scatter_snr_db: tuple[float, ...] = ()

    def check(self) -> None:
        if not self.snr_db:
            raise ValueError("no SNR points; pass --snr, e.g. -10:20:5")
        bad = [c for c in self.constellations if c not in CONSTELLATIONS]
        if bad or not self.constellations:
            raise ValueError(f"constellation {bad or '(none)'}; use semantic, standard or both")
        if self.feedback not in FEEDBACK:
            raise ValueError(f"feedback {self.feedback!r}; use nominal or estimated")
        for name, v, lo in (("block", self.block, 1), ("window", self.window, 1),
                            ("pilots", self.pilots, 2), ("seed", self.seed, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        make_channel(self.channel, 0, **self.channel_params)  # names the bad parameter


@dataclass
class PointResult:
    """One (constellation, SNR) point."""

    constellation: str
    snr_db: float
    metrics: dict[str, Any]
    link: dict[str, Any]
    stage_us: dict[str, list[int]]
    rtt_s: list[float]
    edge_s: dict[str, float]
    received: np.ndarray | None = None  # a subsample of received symbols for the scatter


def sample_bytes(x: np.ndarray) -> np.ndarray:
    """Float samples in [0, 1] -> the node's raw bytes ``u = round(255 x)`` [n, size]."""
    u = np.clip(np.floor(np.asarray(x, np.float64) * 255.0 + 0.5), 0, 255)
    return u.astype(np.uint8).reshape(len(x), -1)


def _counter_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    return {k: int(after[k]) - int(before.get(k, 0)) for k in after
            if isinstance(after[k], int) and k != "timings"}


def _feedback_snr(cfg: HilConfig, snr: float, j: int, b: int, const, power: float) -> float:
    if cfg.feedback == "nominal":
        return snr
    rng = np.random.default_rng([cfg.seed, j, b, 0x9170])
    pilots = const.map(rng.integers(0, const.order, cfg.pilots))
    channel = make_channel(cfg.channel, rng, **{"signal_power": power, **cfg.channel_params})
    est = estimate_snr_pilot_db(channel(pilots, snr), pilots, power)
    return float(np.clip(est, -327.0, 327.0))


def run_point(client: Any, edge: EdgeDecoder, u8: np.ndarray, p_clean: np.ndarray,
              labels: np.ndarray, cfg: HilConfig, constellation: str, j: int,
              advance: Callable[[int], None] = lambda n: None) -> PointResult:
    """Stream every sample at SNR ``cfg.snr_db[j]`` through the node and decode at the edge."""
    snr = float(cfg.snr_db[j])
    const = edge.constellation(constellation)
    power = edge.power
    stats0 = client.stats()
    feedback: list[dict[str, Any]] = []
    results = []
    report_tot: Counter[str] = Counter()
    t0 = time.monotonic()
    for b, start in enumerate(range(0, len(u8), cfg.block)):
        fb = _feedback_snr(cfg, snr, j, b, const, power)
        ack = client.set_snr(fb)
        feedback.append({"block": b, "snr_db": round(fb, 2), "k": int(ack.k)})
        for r in client.stream(u8[start:start + cfg.block], window=cfg.window, first_seq=start):
            results.append(r)
            advance(1)
        rep = client.last_stream
        for key in ("bytes_tx", "bytes_rx", "retransmits"):
            report_tot[key] += getattr(rep, key)
    elapsed = time.monotonic() - t0
    stats1 = client.stats()

    ok = [r for r in results if r.ok]
    status = Counter(r.status for r in results)
    node = _counter_delta(stats1, stats0)
    link = {
        "samples": len(results), "ok": len(ok), "errors": status["error"],
        "timeouts": status["timeout"], "lost": status["lost"],
        "failed_samples": [r.sample_seq for r in results if not r.ok][:50],
        "frames_tx": int(node.get("requests", 0)), "frames_rx": int(node.get("frames_tx", 0)),
        "retransmits": int(report_tot["retransmits"]),
        "bytes_tx": int(report_tot["bytes_tx"]), "bytes_rx": int(report_tot["bytes_rx"]),
        "node_counters": {k: v for k, v in stats1.items() if k != "timings"},
        "elapsed_s": round(elapsed, 3),
        "samples_per_s": round(len(results) / elapsed, 1) if elapsed > 0 else None,
    }
    stage_us = {s: [r.timings_us[s] for r in ok if s in r.timings_us] for s in STAGES_NODE}
    rtt = [r.rtt_s for r in ok]
    if not ok:
        return PointResult(constellation, snr, {"n": 0, "feedback": feedback}, link, stage_us,
                           rtt, {})

    # The channel: one block seeded seed + j over every received symbol of the point.
    idx_ok = np.array([r.sample_seq for r in ok])  # first_seq = block start: sample index
    ks = np.array([r.k for r in ok])
    channel = make_channel(cfg.channel, cfg.seed + j,
                           **{"signal_power": power, **cfg.channel_params})
    t_edge = time.perf_counter()
    groups = [ks == k for k in dict.fromkeys(ks.tolist())]  # distinct K, first-seen order
    tx_all, rx_all, p_hat = [], [], np.empty((len(ok), p_clean.shape[1]), np.float32)
    kept = []
    demap_s = decode_s = 0.0
    for g in groups:
        sel = [ok[i] for i in np.flatnonzero(g)]
        iq = np.stack([r.iq_float for r in sel])  # [n, K, 2]
        x = iq[..., 0] + 1j * iq[..., 1]
        pos = np.stack([r.positions for r in sel]).astype(np.int64)
        y = channel(x, snr)
        t = time.perf_counter()
        tx = edge.demap(x, constellation)
        rx = edge.demap(y, constellation)
        demap_s += time.perf_counter() - t
        t = time.perf_counter()
        _, p_hat[g] = edge.decode_classify(edge.scatter(rx, pos))
        decode_s += time.perf_counter() - t
        tx_all.append(tx.reshape(-1))
        rx_all.append(rx.reshape(-1))
        kept.append(y.reshape(-1))
    edge_total = time.perf_counter() - t_edge
    tx_f, rx_f = np.concatenate(tx_all), np.concatenate(rx_all)
    q = q_sem(p_clean[idx_ok], p_hat, labels[idx_ok])
    received = np.concatenate(kept)
    if received.size > SCATTER_POINTS:
        pick = np.random.default_rng(j).choice(received.size, SCATTER_POINTS, replace=False)
        received = received[np.sort(pick)]
    metrics = {
        "n": len(ok),
        "q_sem": q["q_sem"], "accuracy": q["q_task"], "p_c": q["p_c"],
        "kl_similarity": q["kl_similarity"],
        "ber": bit_error_rate(tx_f, rx_f, edge.bits_per_symbol) if tx_f.size else None,
        "ser": float(np.mean(tx_f != rx_f)) if tx_f.size else None,
        "symbols_per_sample": float(np.mean(ks)),
        "k_histogram": {str(k): int(c) for k, c in sorted(Counter(ks.tolist()).items())},
        "feedback": feedback,
    }
    n = len(ok)
    edge_s = {"demap": demap_s / n, "decode": decode_s / n, "total": edge_total / n}
    return PointResult(constellation, snr, metrics, link, stage_us, rtt, edge_s, received)


def run_hil(client: Any, edge: EdgeDecoder, x: np.ndarray, labels: np.ndarray, cfg: HilConfig,
            advance: Callable[[int], None] = lambda n: None) -> list[PointResult]:
    """Every constellation of ``cfg`` at every SNR; returns the points in sweep order."""
    cfg.check()
    if len(x) == 0:
        raise ValueError("no test samples to stream")
    u8 = sample_bytes(x)
    size = int(np.prod(edge.input_shape))
    if u8.shape[1] != size:
        raise ValueError(f"samples have {u8.shape[1]} values but the bundle's input is "
                         f"{'x'.join(map(str, edge.input_shape))}")
    p_clean = edge.classify(x)
    points = []
    for name in cfg.constellations:
        client.configure(name)
        for j in range(len(cfg.snr_db)):
            points.append(run_point(client, edge, u8, p_clean, labels, cfg, name, j, advance))
    return points
