"""What the host's operations return: one :class:`SampleResult` per sample, a
:class:`StreamReport` per stream, a :class:`FlashResult` per flash (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import protocol as P


@dataclass
class SampleResult:
    """The node's answer to one sample."""

    index: int
    sample_seq: int
    status: str  # ok | error | timeout | lost
    symbols: P.Symbols | None = None
    error: P.Error | None = None
    attempts: int = 0
    rtt_s: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def k(self) -> int:
        return self.symbols.k if self.symbols else 0

    @property
    def positions(self) -> np.ndarray:
        assert self.symbols is not None, self.detail
        return np.asarray(self.symbols.positions, dtype=np.uint16)

    @property
    def iq(self) -> np.ndarray:
        """int16 [K, 2] in Q-format with ``frac_bits``."""
        assert self.symbols is not None, self.detail
        return np.asarray(self.symbols.iq, dtype=np.int16).reshape(-1, 2)

    @property
    def iq_float(self) -> np.ndarray:
        assert self.symbols is not None, self.detail
        return self.iq.astype(np.float64) / (1 << self.symbols.frac_bits)

    @property
    def timings_us(self) -> dict[str, int]:
        if self.symbols is None:
            return {}
        return dict(zip(P.TIMING_STAGES, self.symbols.timings_us, strict=False))


@dataclass
class StreamReport:
    """Throughput of one :meth:`NodeClient.stream` call."""

    samples: int = 0
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    lost: int = 0
    retransmits: int = 0
    elapsed_s: float = 0.0
    bytes_tx: int = 0
    bytes_rx: int = 0
    baud: int = 0
    paced: str = "not paced"
    lost_seqs: list[int] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def utilisation(self, direction: str = "tx") -> float:
        """Fraction of the configured baud used (10 bits per byte: start, 8 data, stop)."""
        n = self.bytes_tx if direction == "tx" else self.bytes_rx
        return 10 * n / (self.elapsed_s * self.baud) if self.elapsed_s > 0 and self.baud else 0.0

    def line(self) -> str:
        return (f"{self.ok}/{self.samples} samples ok in {self.elapsed_s:.2f} s = "
                f"{self.samples_per_s:.1f} samples/s; link {self.baud} baud ({self.paced}): "
                f"host->node {100 * self.utilisation('tx'):.1f} %, "
                f"node->host {100 * self.utilisation('rx'):.1f} %; "
                f"{self.errors} errors, {self.timeouts} timeouts, {self.lost} lost, "
                f"{self.retransmits} retransmits")


@dataclass
class FlashResult:
    """What one :meth:`NodeClient.flash` did (``skipped``: the bundle was already active)."""

    bundle_id: str
    slot: int
    manifest_sha256: str
    total_bytes: int
    sent_bytes: int
    resumed_from: int
    chunks: int
    retransmits: int
    reconnects: int
    elapsed_s: float
    skipped: bool = False

    def line(self) -> str:
        if self.skipped:
            return f"bundle {self.bundle_id} already active in slot {self.slot}; nothing sent"
        rate = self.sent_bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0
        resumed = f", resumed at byte {self.resumed_from}" if self.resumed_from else ""
        return (f"bundle {self.bundle_id} active in slot {'?ab'[self.slot]}: "
                f"{self.sent_bytes} of {self.total_bytes} bytes sent in {self.elapsed_s:.1f} s "
                f"({rate / 1024:.1f} KiB/s, {self.chunks} chunks{resumed}, "
                f"{self.retransmits} retransmits, {self.reconnects} reconnects)")
