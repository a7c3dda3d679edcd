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

Steps 3-4 are the one sweep loop (:func:`trainer.sweep.run_point`) with the node over the link
as the transmitter (:class:`NodeTransmitter`) and the edge decoder as the receiver.

Samples lost on the link are counted (``link``) and left out of the metrics, never silently.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from semqam_node.conventions import CONSTELLATIONS, TIMING_STAGES, sample_rows

from channel_sim import estimate_snr_pilot_db, make_channel
from edge.decoder import EdgeDecoder
from trainer.scheme import Frame
from trainer.sweep import run_point as sweep_point

FEEDBACK = ("nominal", "estimated")
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


class NodeTransmitter:
    """A node over the link as the :class:`~trainer.scheme.Transmitter` of the sweep loop.

    ``transmit(snr)`` feeds the SNR back before every block (nominal or the pilot estimate of
    point ``point``), streams every sample, and returns one frame per distinct K (first-seen
    order) of the samples that arrived; labels are the edge's demap of the noiseless node
    symbols. What the link did is kept in ``link``, ``feedback``, ``stage_us``, ``rtt_s``.
    """

    def __init__(self, client: Any, edge: EdgeDecoder, u8: np.ndarray, cfg: HilConfig,
                 constellation: str, point: int = 0,
                 advance: Callable[[int], None] = lambda n: None) -> None:
        self.client, self.edge, self.u8, self.cfg = client, edge, u8, cfg
        self.variant = constellation
        self.advance = advance
        self.point = point
        self.link: dict[str, Any] = {}
        self.feedback: list[dict[str, Any]] = []
        self.stage_us: dict[str, list[int]] = {}
        self.rtt_s: list[float] = []
        self.elapsed_s = 0.0

    def transmit(self, snr_db: float) -> list[Frame]:
        cfg, client = self.cfg, self.client
        const = self.edge.constellation(self.variant)
        stats0 = client.stats()
        self.feedback = []
        results = []
        report_tot: Counter[str] = Counter()
        t0 = time.monotonic()
        for b, start in enumerate(range(0, len(self.u8), cfg.block)):
            fb = _feedback_snr(cfg, snr_db, self.point, b, const, self.edge.power)
            ack = client.set_snr(fb)
            self.feedback.append({"block": b, "snr_db": round(fb, 2), "k": int(ack.k)})
            for r in client.stream(self.u8[start:start + cfg.block], window=cfg.window,
                                   first_seq=start):
                results.append(r)
                self.advance(1)
            rep = client.last_stream
            for key in ("bytes_tx", "bytes_rx", "retransmits"):
                report_tot[key] += getattr(rep, key)
        elapsed = time.monotonic() - t0
        stats1 = client.stats()
        self.elapsed_s = elapsed

        ok = [r for r in results if r.ok]
        status = Counter(r.status for r in results)
        node = _counter_delta(stats1, stats0)
        self.link = {
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
        self.stage_us = {s: [r.timings_us[s] for r in ok if s in r.timings_us]
                         for s in TIMING_STAGES}
        self.rtt_s = [r.rtt_s for r in ok]
        ks = np.array([r.k for r in ok], np.int64)
        frames = []
        for k in dict.fromkeys(ks.tolist()):  # distinct K, first-seen order
            sel = [ok[i] for i in np.flatnonzero(ks == k)]
            iq = np.stack([r.iq_float for r in sel])  # [n, K, 2]
            x = iq[..., 0] + 1j * iq[..., 1]
            frames.append(Frame(
                symbols=x, samples=np.array([r.sample_seq for r in sel], np.int64),
                labels=self.edge.demap(x, self.variant),
                side={"positions": np.stack([r.positions for r in sel]).astype(np.int64)}))
        return frames


def run_point(client: Any, edge: EdgeDecoder, u8: np.ndarray, p_clean: np.ndarray,
              labels: np.ndarray, cfg: HilConfig, constellation: str, j: int,
              advance: Callable[[int], None] = lambda n: None) -> PointResult:
    """Stream every sample at SNR ``cfg.snr_db[j]`` through the node and decode at the edge."""
    snr = float(cfg.snr_db[j])
    tx = NodeTransmitter(client, edge, u8, cfg, constellation, j, advance)
    rx = edge.receiver(constellation)
    # The channel: one block seeded seed + j over every received symbol of the point.
    channel = make_channel(cfg.channel, cfg.seed + j,
                           **{"signal_power": edge.power, **cfg.channel_params})
    t0 = time.perf_counter()
    point = sweep_point(tx, rx, channel, snr, p_clean, labels, edge.bits_per_symbol, keep=True)
    edge_total = time.perf_counter() - t0 - tx.elapsed_s
    metrics = {**point.record, "feedback": tx.feedback}
    n = point.record["n"]
    if not n:
        return PointResult(constellation, snr, metrics, tx.link, tx.stage_us, tx.rtt_s, {})
    received = np.concatenate([y.reshape(-1) for y in point.received])
    if received.size > SCATTER_POINTS:
        pick = np.random.default_rng(j).choice(received.size, SCATTER_POINTS, replace=False)
        received = received[np.sort(pick)]
    edge_s = {"demap": rx.demap_s / n, "decode": rx.decode_s / n, "total": edge_total / n}
    return PointResult(constellation, snr, metrics, tx.link, tx.stage_us, tx.rtt_s, edge_s,
                       received)


def run_hil(client: Any, edge: EdgeDecoder, x: np.ndarray, labels: np.ndarray, cfg: HilConfig,
            advance: Callable[[int], None] = lambda n: None) -> list[PointResult]:
    """Every constellation of ``cfg`` at every SNR; returns the points in sweep order."""
    cfg.check()
    if len(x) == 0:
        raise ValueError("no test samples to stream")
    u8 = sample_rows(x)
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
