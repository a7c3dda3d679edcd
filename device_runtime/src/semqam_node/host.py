"""Host side of the node link: :class:`NodeClient` (docs/protocol.md, "Host behaviour").

    with NodeClient("/dev/ttyUSB0", baud=115200) as node:
        info = node.hello()
        node.set_snr(10.0)
        for r in node.stream(samples, window=4):
            ...  # one SampleResult per sample, in order: ok, error, timeout or lost

Three layers: :class:`~semqam_node.transport.SerialTransport` (the port, pacing, framing),
:class:`~semqam_node.retransmission.RequestEngine` (windowed requests, same-seq retries,
timeouts, restart detection) and here the operations (hello, ping, set_snr, configure, stats,
encode, stream, flash) that keep the session settings a restarted node gets back.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import protocol as P
from .archive import pack_bundle
from .bundle import bundle_dimensions, verify_bundle
from .conventions import CONSTELLATIONS
from .errors import BundleTooLarge, LinkError, LinkTimeout, NodeError, NodeStartError
from .reports import FlashResult, SampleResult, StreamReport
from .retransmission import Outcome, RequestEngine
from .transport import SerialTransport

if TYPE_CHECKING:
    import serial
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["MAX_FLASH_RESTARTS", "FlashResult", "LinkError", "LinkTimeout", "NodeClient",
           "NodeError", "NodeStartError", "Outcome", "SampleResult", "StreamReport",
           "flash_deadline"]

#: Times a flash may find its transfer discarded by the node before it gives up.
MAX_FLASH_RESTARTS = 8


def flash_deadline(total: int, baud: int, commit_timeout: float = 10.0) -> float:
    """Default bound on one whole flash, in seconds: 60 s plus four times the time
    ``total`` bytes take at ``baud`` (10 bits per byte, framing overhead and the acks included
    with margin), plus the commit's own time-out."""
    return 60.0 + 4.0 * total * 10.0 / max(baud, 1) + commit_timeout


class NodeClient:
    """A node behind ``url`` (anything ``serial.serial_for_url`` opens).

    ``pace``: hold host writes to ``baud`` (a pty ignores baud; the virtual node's wire paces
    both directions itself, so leave this off there and say so in ``link_note``, e.g.
    ``VirtualNode.paced``). ``timeout`` is per attempt; ``retries`` and
    ``reconnect_timeout`` as in :class:`~semqam_node.retransmission.RequestEngine`.
    """

    def __init__(self, url: str, baud: int = 115200, timeout: float = 1.0, retries: int = 2,
                 reconnect_timeout: float = 10.0, pace: bool = False,
                 open_timeout: float = 5.0, link_note: str = "") -> None:
        self.url = url
        self.baud = baud
        self.pace = pace
        self.link_note = link_note or ("host writes paced" if pace else "not paced")
        self.transport = SerialTransport(url, baud, write_timeout=max(timeout, 2.0), pace=pace,
                                         open_timeout=open_timeout)
        self.engine = RequestEngine(self.transport, timeout, retries, reconnect_timeout,
                                    restore=self._restore_session)
        self._snr: tuple[int, int] | None = None
        self._config: tuple[int, int] | None = None
        self.last_stream: StreamReport | None = None

    # ------------------------------------------------------------------ state

    @property
    def timeout(self) -> float:
        return self.engine.timeout

    @property
    def retries(self) -> int:
        return self.engine.retries

    @property
    def reconnect_timeout(self) -> float:
        return self.engine.reconnect_timeout

    @property
    def info(self) -> P.Info | None:
        """The node's last INFO (None before the first HELLO)."""
        return self.engine.info

    @property
    def boot_id(self) -> int | None:
        return self.engine.boot_id

    @property
    def restarts(self) -> int:
        """Node restarts seen (a changed boot id)."""
        return self.engine.restarts

    @property
    def reconnects(self) -> int:
        return self.engine.reconnects

    @property
    def lost_seqs(self) -> list[int]:
        """Sample seqs that were in flight when the node restarted."""
        return self.engine.lost_seqs

    @property
    def link_down(self) -> bool:
        """The node stayed away for ``reconnect_timeout``."""
        return self.engine.link_down

    @property
    def decoder(self) -> P.FrameDecoder:
        """The receive side's frame decoder and its counters."""
        return self.transport.decoder

    @property
    def ser(self) -> serial.SerialBase | None:
        """The open port (None when closed)."""
        return self.transport.ser

    @property
    def counters(self) -> dict[str, int]:
        """Bytes and frames sent, retransmits, stray replies, probes, restore failures."""
        t = self.transport
        return {"bytes_tx": t.bytes_tx, "frames_tx": t.frames_tx, **self.engine.counters}

    # ------------------------------------------------------------------ port

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self, wait: float | None = None) -> P.Info:
        """Reopen the port and HELLO until the node answers or ``wait`` s pass."""
        return self.engine.reconnect(wait)

    def transact(self, requests: Iterable[P.Message], window: int = 1,
                 timeout: float | None = None, retries: int | None = None) -> Iterator[Outcome]:
        """Send ``requests`` keeping up to ``window`` in flight; yield one :class:`Outcome` per
        request, in request order."""
        return self.engine.transact(requests, window, timeout, retries)

    def request(self, msg: P.Message, timeout: float | None = None,
                retries: int | None = None) -> P.Message:
        """One request; returns the reply or raises NodeError / LinkTimeout."""
        return self.engine.request(msg, timeout, retries)

    def _restore_session(self) -> None:
        """After a node restart: send the CONFIG and SNR of this session again."""
        if self._config is not None:
            self.request(P.Config(*self._config))
        if self._snr is not None:
            self.request(P.SnrFeedback(*self._snr))

    # ------------------------------------------------------------------ requests

    def hello(self) -> P.Info:
        """INFO of the node (notes its boot id; a changed one counts as a restart)."""
        info = self.request(P.Hello())
        assert isinstance(info, P.Info)
        self.engine.note_info(info)
        return info

    def ping(self, data: bytes = b"") -> float:
        """Round-trip time in seconds of one PING with ``data``."""
        t0 = time.monotonic()
        reply = self.request(P.Ping(data))
        if not isinstance(reply, P.Pong) or reply.data != data:
            raise LinkError("PONG does not echo the PING payload")
        return time.monotonic() - t0

    def set_snr(self, snr_db: float, k: int | None = None) -> P.SnrAck:
        """Report the channel SNR (dB, sent in 0.01 dB); the node's policy picks K unless ``k``."""
        snr_cdb = int(round(snr_db * 100))
        if not -32768 <= snr_cdb <= 32767:
            raise ValueError(f"SNR {snr_db} dB does not fit int16 centi-dB")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int)
                              or not 1 <= k <= 0xFFFF):
            raise ValueError(f"K {k!r}: force 1..N concepts (the node says N in INFO), or pass "
                             "no K to follow its policy")
        ack = self.request(P.SnrFeedback(snr_cdb, k or 0))
        assert isinstance(ack, P.SnrAck)
        self._snr = (snr_cdb, k or 0)
        return ack

    def configure(self, constellation: str = "semantic", indices: bool = False) -> P.ConfigAck:
        """Select the constellation the node maps with; ``indices`` adds them to SYMBOLS."""
        try:
            c = P.Constellation[constellation.upper()]
        except KeyError:
            raise ValueError(f"constellation {constellation!r}; use "
                             f"{' or '.join(CONSTELLATIONS)}") from None
        flags = P.CFG_INDICES if indices else 0
        ack = self.request(P.Config(c, flags))
        assert isinstance(ack, P.ConfigAck)
        self._config = (int(c), flags)
        return ack

    def stats(self, reset: bool = False) -> dict[str, int | dict[str, P.StageTiming]]:
        """The node's counters plus ``timings`` (stage -> StageTiming)."""
        reply = self.request(P.StatsRequest(int(reset)))
        assert isinstance(reply, P.Stats)
        out: dict[str, int | dict[str, P.StageTiming]] = dict(reply.as_dict())
        out["timings"] = {s.name: s for s in reply.stages}
        return out

    def encode(self, sample: bytes | np.ndarray, sample_seq: int = 0) -> SampleResult:
        """One sample, one round trip; raises NodeError / LinkTimeout instead of returning them."""
        result = next(self.stream([sample], window=1, first_seq=sample_seq))
        if result.status == "error":
            assert result.error is not None
            raise NodeError(result.error, "INPUT")
        if result.status != "ok":
            raise LinkTimeout(result.detail)
        return result

    def stream(self, samples: Iterable[bytes | np.ndarray], window: int = 4,
               first_seq: int = 0) -> Iterator[SampleResult]:
        """Encode ``samples`` with ``window`` INPUT frames in flight; one result per sample, in
        order. The throughput report is left in :attr:`last_stream`."""
        report = StreamReport(baud=self.baud, paced=self.link_note)
        tx0, rx0 = self.transport.bytes_tx, self.decoder.bytes_rx
        re0 = self.engine.counters["retransmits"]
        lost0 = len(self.lost_seqs)
        t0 = time.monotonic()

        def inputs() -> Iterator[P.Input]:
            for i, s in enumerate(samples):
                data = s.tobytes() if isinstance(s, np.ndarray) else bytes(s)
                yield P.Input((first_seq + i) & 0xFFFFFFFF, data)

        try:
            for out in self.transact(inputs(), window):
                req = out.request
                assert isinstance(req, P.Input)
                r = SampleResult(out.index, req.sample_seq, out.status, attempts=out.attempts,
                                 rtt_s=out.rtt_s, detail=out.detail)
                if isinstance(out.reply, P.Symbols):
                    r.symbols = out.reply
                elif isinstance(out.reply, P.Error):
                    r.error = out.reply
                    r.detail = str(out.reply)
                report.samples += 1
                report.ok += r.status == "ok"
                report.errors += r.status == "error"
                report.timeouts += r.status == "timeout"
                report.lost += r.status == "lost"
                yield r
        finally:
            report.elapsed_s = time.monotonic() - t0
            report.bytes_tx = self.transport.bytes_tx - tx0
            report.bytes_rx = self.decoder.bytes_rx - rx0
            report.retransmits = self.engine.counters["retransmits"] - re0
            report.lost_seqs = self.lost_seqs[lost0:]
            self.last_stream = report

    # ------------------------------------------------------------------ flashing

    def flash(self, bundle_dir: str | Path,
              progress_callback: Callable[[int, int], None] | None = None,
              chunk_size: int = 2048, force: bool = False, trust: Ed25519PublicKey | None = None,
              commit_timeout: float = 10.0, deadline: float | None = None) -> FlashResult:
        """Send a bundle; resume a transfer the node already holds part of; verify it is active.

        Checks before sending: the bundle verifies locally (node files; the signature too when
        ``trust`` is a public key), its dimensions fit the node's limits, and it is not already
        active (unless ``force``). Then :meth:`flash_archive`.
        ``progress_callback(done_bytes, total_bytes)`` is called after every acknowledged chunk.
        """
        t0 = time.monotonic()
        bundle_dir = Path(bundle_dir)
        manifest = verify_bundle(bundle_dir, trust, require="node")
        dims = bundle_dimensions(manifest, str(bundle_dir / "manifest.json"))
        manifest_sha = hashlib.sha256((bundle_dir / "manifest.json").read_bytes()).digest()
        info = self.hello()
        too_big = [f"{n} {v} > {lim}" for n, v, lim in (
            ("M", dims.order, info.max_order), ("N", dims.n_concepts, info.max_concepts),
            ("D", dims.latent_dim, info.max_latent), ("input", dims.input_size, info.max_input))
            if lim and v > lim]
        if too_big:
            raise BundleTooLarge(f"{bundle_dir}: {', '.join(too_big)}: the node cannot hold it")
        if not force and info.flags & P.INFO_ACTIVE and info.manifest_sha256 == manifest_sha:
            return FlashResult(manifest["bundle_id"], info.active_slot, manifest_sha.hex(), 0, 0,
                               0, 0, 0, 0, time.monotonic() - t0, skipped=True)
        return self.flash_archive(pack_bundle(bundle_dir), progress_callback, chunk_size,
                                  expect_manifest=manifest_sha, commit_timeout=commit_timeout,
                                  deadline=deadline)

    def flash_archive(self, data: bytes,
                      progress_callback: Callable[[int, int], None] | None = None,
                      chunk_size: int = 2048, expect_manifest: bytes | None = None,
                      commit_timeout: float = 10.0, sha256: bytes | None = None,
                      deadline: float | None = None,
                      max_restarts: int = MAX_FLASH_RESTARTS) -> FlashResult:
        """Send a prepared transfer image (:func:`semqam_node.slots.pack_bundle`) without local
        checks: FLASH_BEGIN (resumes where the node's acknowledged bytes end), one
        acknowledged FLASH_CHUNK at a time, FLASH_COMMIT, then HELLO to confirm.

        After a lost link the client reconnects and resumes from the node's acknowledged
        offset. ``sha256`` overrides the announced hash (tests of the node's check).
        The whole flash must end within ``deadline`` seconds (default
        :func:`flash_deadline` of the size and baud), and the node may discard the transfer
        (start again from a lower offset) at most ``max_restarts`` times: beyond either,
        :class:`LinkError` says so (e.g. another host keeps sending FLASH_ABORT).
        """
        t0 = time.monotonic()
        sha = sha256 or hashlib.sha256(data).digest()
        total = len(data)
        limit = flash_deadline(total, self.baud, commit_timeout) if deadline is None else deadline
        restarts = 0
        re0, rc0 = self.engine.counters["retransmits"], self.reconnects
        chunk_size = max(1, min(chunk_size, P.MAX_CHUNK))
        begin = self._flash_begin(total, chunk_size, sha)
        offset = resumed_from = begin.offset
        chunk_size = begin.chunk_size
        sent = chunks = 0
        if progress_callback:
            progress_callback(offset, total)
        while offset < total:
            if time.monotonic() - t0 > limit:
                raise LinkError(f"flash not done after {limit:.0f} s ({offset} of {total} bytes "
                                f"acknowledged, {restarts} restarts); check the link, or pass a "
                                "longer --deadline")
            piece = data[offset:offset + chunk_size]
            try:
                ack = self.request(P.FlashChunk.make(offset, piece))
            except NodeError as e:
                if e.code not in (P.ErrorCode.FLASH_OFFSET, P.ErrorCode.FLASH_STATE):
                    raise
                ack = None
            except LinkTimeout:
                if self.link_down:
                    raise
                ack = None
            if not isinstance(ack, P.FlashChunkAck):  # resynchronise with the node's offset
                again = self._flash_begin(total, chunk_size, sha).offset
                if again < offset:
                    restarts += 1
                    if restarts > max_restarts:
                        raise LinkError(
                            f"the node discarded the transfer {restarts} times (at "
                            f"{offset} of {total} bytes); another host on the link may be "
                            "sending FLASH_ABORT, or the node keeps restarting; stop it and "
                            "flash again")
                offset = again
                continue
            sent += len(piece)
            chunks += 1
            offset = ack.offset
            if progress_callback:
                progress_callback(offset, total)
        commit = self._flash_commit(sha, commit_timeout)
        check = self.hello()
        want = {commit.manifest_sha256} if expect_manifest is None else {expect_manifest}
        if {check.manifest_sha256, commit.manifest_sha256} != want:
            raise LinkError(f"after FLASH_COMMIT the node reports manifest "
                            f"{check.manifest_sha256.hex()[:16]}, expected "
                            f"{next(iter(want)).hex()[:16]}")
        return FlashResult(commit.bundle_id.hex(), commit.slot, commit.manifest_sha256.hex(),
                           total, sent, resumed_from, chunks,
                           self.engine.counters["retransmits"] - re0, self.reconnects - rc0,
                           time.monotonic() - t0)

    def _flash_begin(self, total: int, chunk_size: int, sha: bytes) -> P.FlashBeginAck:
        ack = self._retry_until_down(P.FlashBegin(total, chunk_size, sha), self.timeout)
        assert isinstance(ack, P.FlashBeginAck)
        return ack

    def _flash_commit(self, sha: bytes, commit_timeout: float) -> P.FlashCommitAck:
        # Unpacking and verifying a large bundle takes a while on a small node.
        ack = self._retry_until_down(P.FlashCommit(sha), max(self.timeout, commit_timeout))
        assert isinstance(ack, P.FlashCommitAck)
        return ack

    def _retry_until_down(self, msg: P.Message, timeout: float) -> P.Message:
        """An idempotent request, repeated while the node is there but its replies get lost;
        LinkTimeout once the node stays away for ``reconnect_timeout``."""
        deadline = time.monotonic() + self.reconnect_timeout
        while True:
            try:
                return self.request(msg, timeout=timeout)
            except LinkTimeout:
                if self.link_down or time.monotonic() > deadline:
                    raise
