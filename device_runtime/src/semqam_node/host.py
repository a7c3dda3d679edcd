"""Host side of the node link: :class:`NodeClient` (docs/protocol.md, "Host behaviour").

    with NodeClient("/dev/ttyUSB0", baud=115200) as node:
        info = node.hello()
        node.set_snr(10.0)
        for r in node.stream(samples, window=4):
            ...  # one SampleResult per sample, in order: ok, error, timeout or lost

Every request is retransmitted with the *same* seq after ``timeout`` up to ``retries`` times
(all requests are idempotent on the node). When a request runs out of retries the client probes
the node with HELLO, reopening the port until ``reconnect_timeout`` if needed: if the node
answers with a new boot id it restarted, and every request in flight is reported ``lost``;
otherwise only the exhausted one is reported ``timeout``. Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import protocol as P
from .bundle import verify_bundle
from .slots import bundle_dimensions, pack_bundle


class LinkError(Exception):
    """The link failed: no reply, or the port is gone."""


class LinkTimeout(LinkError):
    """No valid reply in time; the message says what was last received."""


class NodeError(LinkError):
    """The node refused a request with an ERROR reply."""

    def __init__(self, error: P.Error, request: str = "") -> None:
        super().__init__(f"node refused {request}: {error}" if request else str(error))
        self.error = error
        self.code = error.code


@dataclass
class Outcome:
    """What became of one request: ``ok`` (reply), ``error`` (ERROR reply), ``timeout``
    (no reply after all retries) or ``lost`` (in flight when the node restarted)."""

    index: int
    request: P.Message
    status: str
    reply: P.Message | None = None
    attempts: int = 0
    rtt_s: float = 0.0
    detail: str = ""


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


class _Pacer:
    """Hold writes to ``baud`` (10 bits per byte) for links that ignore it, such as a pty."""

    def __init__(self, baud: int) -> None:
        self.byte_s = 10.0 / baud
        self.free_at = 0.0

    def wait(self, n: int) -> None:
        now = time.monotonic()
        if self.free_at > now:
            time.sleep(self.free_at - now)
            now = self.free_at
        self.free_at = now + n * self.byte_s


@dataclass
class _Slot:
    index: int
    request: P.Message
    seq: int
    wire: bytes
    first_sent: float = 0.0
    deadline: float = 0.0
    attempts: int = 0
    outcome: Outcome | None = None


class NodeClient:
    """A node behind ``url`` (anything ``serial.serial_for_url`` opens).

    ``pace``: hold host writes to ``baud`` (a pty ignores baud; the virtual node's wire paces
    both directions itself, so leave this off there and say so in ``link_note``, e.g.
    ``VirtualNode.paced``). ``timeout`` is per attempt.
    """

    def __init__(self, url: str, baud: int = 115200, timeout: float = 1.0, retries: int = 2,
                 reconnect_timeout: float = 10.0, pace: bool = False,
                 open_timeout: float = 5.0, link_note: str = "") -> None:
        self.url = url
        self.baud = baud
        self.timeout = timeout
        self.retries = retries
        self.reconnect_timeout = reconnect_timeout
        self.pace = pace
        self.link_note = link_note or ("host writes paced" if pace else "not paced")
        self._pacer = _Pacer(baud) if pace else None
        self.decoder = P.FrameDecoder()
        self._seq = 0
        self.info: P.Info | None = None
        self.boot_id: int | None = None
        self.restarts = 0
        self.reconnects = 0
        self.lost_seqs: list[int] = []  # sample seqs in flight when the node restarted
        self.counters = {"bytes_tx": 0, "frames_tx": 0, "retransmits": 0, "late_replies": 0,
                         "mismatched": 0, "bad_replies": 0, "probes": 0, "restore_failures": 0}
        self._busy: dict[int, _Slot] | None = None
        self.link_down = False  # the node stayed away for reconnect_timeout
        self._down_detail = ""
        self._last_rx = "nothing received yet"
        self._last_rx_t = 0.0
        self._snr: tuple[int, int] | None = None
        self._config: tuple[int, int] | None = None
        self.last_stream: StreamReport | None = None
        self.ser: Any = None
        self._open(open_timeout)

    # ------------------------------------------------------------------ port

    def _open(self, wait: float, flush: bool = True) -> None:
        import serial

        deadline = time.monotonic() + wait
        while True:
            try:
                self.ser = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.02,
                                                 write_timeout=max(self.timeout, 2.0))
                if flush:  # on a reconnect, keep what arrived: replies are matched by seq
                    self.ser.reset_input_buffer()
                return
            except (serial.SerialException, OSError) as e:
                if time.monotonic() >= deadline:
                    raise LinkError(f"cannot open {self.url}: {e}") from None
                time.sleep(0.1)

    def close(self) -> None:
        if self.ser is not None:
            self.ser.close()
            self.ser = None

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self, wait: float | None = None) -> P.Info:
        """Reopen the port and HELLO until the node answers or ``wait`` s pass."""
        wait = self.reconnect_timeout if wait is None else wait
        deadline = time.monotonic() + wait
        self.reconnects += 1
        while True:
            self.close()
            try:
                self._open(max(0.0, deadline - time.monotonic()), flush=False)
                info = self._probe(attempts=1)
                self.link_down = False
                return info
            except LinkError as e:
                if time.monotonic() >= deadline:
                    raise LinkError(f"{self.url}: node did not answer within {wait:.1f} s of "
                                    f"reconnecting ({e})") from None
                time.sleep(0.1)

    def _write(self, wire: bytes) -> None:
        import serial

        if self._pacer is not None:
            self._pacer.wait(len(wire))
        try:
            self.ser.write(wire)
        except (serial.SerialException, OSError, AttributeError) as e:
            raise _PortGone(str(e)) from None
        self.counters["bytes_tx"] += len(wire)
        self.counters["frames_tx"] += 1

    def _read_frames(self, until: float) -> list[P.Frame]:
        """Frames received before ``until`` (returns as soon as at least one arrived)."""
        import serial

        while True:
            try:
                data = self.ser.read(self.ser.in_waiting or 1)
            except (serial.SerialException, OSError, AttributeError, TypeError) as e:
                raise _PortGone(str(e)) from None
            if data:
                frames = [f for f in self.decoder.feed(data) if isinstance(f, P.Frame)]
                if frames:
                    return frames
            if time.monotonic() >= until:
                return []

    def _next_seq(self, busy: dict[int, _Slot]) -> int:
        while True:
            self._seq = (self._seq + 1) & 0xFFFF
            if self._seq not in busy:
                return self._seq

    def _describe_last(self) -> str:
        if not self._last_rx_t:
            desc = self._last_rx
        else:
            desc = f"{self._last_rx} {time.monotonic() - self._last_rx_t:.2f} s ago"
        if self.decoder.pending:
            desc += f"; {self.decoder.pending} bytes of an unfinished frame"
        if self.decoder.dropped:
            desc += f"; {self.decoder.dropped} corrupt frames dropped so far"
        return f"last received: {desc}"

    # ------------------------------------------------------------------ request engine

    def transact(self, requests: Iterable[P.Message], window: int = 1,
                 timeout: float | None = None, retries: int | None = None) -> Iterator[Outcome]:
        """Send ``requests`` keeping up to ``window`` in flight; yield one :class:`Outcome` per
        request, in request order."""
        if window < 1:
            raise ValueError(f"window {window}; use 1 or more")
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        busy: dict[int, _Slot] = {}
        order: deque[_Slot] = deque()
        source = enumerate(requests)
        exhausted = False
        outer, self._busy = self._busy, busy
        self.link_down = False
        try:
            while True:
                while not exhausted and len(busy) < window:
                    try:
                        i, req = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    seq = self._next_seq(busy)
                    slot = _Slot(i, req, seq, P.encode_message(req, seq))
                    order.append(slot)
                    if self.link_down:  # the node stayed away: report the rest, do not wait
                        slot.outcome = Outcome(i, req, "timeout", detail=f"not sent: "
                                               f"{self._down_detail}")
                        continue
                    busy[seq] = slot
                    self._send(slot, timeout)
                while order and order[0].outcome is not None:
                    done = order.popleft().outcome
                    assert done is not None
                    yield done
                if exhausted and not order:
                    return
                if not busy:
                    continue
                until = min(s.deadline for s in busy.values())
                try:
                    frames = self._read_frames(until)
                except _PortGone as e:
                    self._recover(f"port failed ({e})", timeout)
                    continue
                for frame in frames:
                    self._match(frame)
                now = time.monotonic()
                for slot in sorted((s for s in busy.values() if s.deadline <= now),
                                   key=lambda s: s.index):
                    if busy.get(slot.seq) is not slot:
                        continue
                    if slot.attempts <= retries:
                        self.counters["retransmits"] += 1
                        self._send(slot, timeout)
                    else:
                        self._exhausted(slot, timeout)
        finally:
            self._busy = outer

    def _send(self, slot: _Slot, timeout: float) -> None:
        now = time.monotonic()
        if not slot.attempts:
            slot.first_sent = now
        slot.attempts += 1
        slot.deadline = now + timeout
        try:
            self._write(slot.wire)
        except _PortGone as e:
            self._recover(f"port failed on write ({e})", timeout)

    def _settle(self, slot: _Slot, status: str, reply: P.Message | None = None,
                detail: str = "") -> None:
        slot.outcome = Outcome(slot.index, slot.request, status, reply, slot.attempts,
                               time.monotonic() - slot.first_sent, detail)
        if self._busy is not None and self._busy.get(slot.seq) is slot:
            del self._busy[slot.seq]

    def _match(self, frame: P.Frame) -> None:
        """Hand a received frame to the request in flight with its seq (or count it stray)."""
        self._last_rx_t = time.monotonic()
        try:
            msg = P.decode_message(frame)
        except P.ProtocolError as e:
            self.counters["bad_replies"] += 1
            self._last_rx = f"undecodable {P.type_name(frame.type)} seq {frame.seq} ({e})"
            return
        self._last_rx = f"{P.type_name(frame.type)} seq {frame.seq}"
        self.link_down = False
        slot = (self._busy or {}).get(frame.seq)
        if slot is None:
            self.counters["late_replies"] += 1
            return
        if not _answers(slot.request, msg):
            self.counters["mismatched"] += 1
            return
        self._settle(slot, "error" if isinstance(msg, P.Error) else "ok", msg)

    def _exhausted(self, slot: _Slot, timeout: float) -> None:
        """A request ran out of retries: find out whether the node is still the same one."""
        detail = (f"no reply to {P.type_name(slot.request.TYPE)} seq {slot.seq} after "
                  f"{slot.attempts} attempts of {timeout:.2f} s; {self._describe_last()}")
        try:
            self._probe(attempts=3)
        except LinkError:
            self._recover(detail, timeout)
            return
        if slot.outcome is None:  # not answered while probing, not lost in a restart
            self._settle(slot, "timeout", detail=detail)

    def _recover(self, why: str, timeout: float) -> None:
        """The node or the port is gone: reconnect and resend what is in flight, or, when the
        node stays away for ``reconnect_timeout``, report everything in flight timed out."""
        busy = self._busy or {}
        try:
            self.reconnect()
        except LinkError as e:
            self.link_down = True
            self._down_detail = f"{why}; {e}"
            for slot in list(busy.values()):
                self._settle(slot, "timeout", detail=self._down_detail)
            return
        for slot in list(busy.values()):  # same node (a restart has emptied busy): resend
            self._send(slot, timeout)

    def _probe(self, attempts: int = 2) -> P.Info:
        """HELLO with its own retries; frames for requests in flight are still matched."""
        self.counters["probes"] += 1
        for _ in range(attempts):
            seq = self._next_seq(self._busy or {})
            try:
                self._write(P.encode_message(P.Hello(), seq))
            except _PortGone as e:
                raise LinkError(f"port failed ({e})") from None
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                try:
                    frames = self._read_frames(deadline)
                except _PortGone as e:
                    raise LinkError(f"port failed ({e})") from None
                for frame in frames:
                    if frame.seq == seq and frame.type == P.MsgType.INFO:
                        try:
                            info = P.Info.unpack(frame.payload)
                        except P.ProtocolError:
                            continue
                        self._last_rx, self._last_rx_t = f"INFO seq {seq}", time.monotonic()
                        self._note_info(info)
                        return info
                    self._match(frame)
        raise LinkTimeout(f"no INFO in reply to HELLO; {self._describe_last()}")

    def _note_info(self, info: P.Info) -> None:
        restarted = self.boot_id is not None and info.boot_id != self.boot_id
        old = self.boot_id
        self.boot_id = info.boot_id
        self.info = info
        if restarted:
            self.restarts += 1
            self._node_restarted(f"node restarted (boot id {old:08x} -> {info.boot_id:08x})")

    def _node_restarted(self, why: str) -> None:
        """Report everything in flight lost and restore the session settings on the node."""
        for slot in list((self._busy or {}).values()):
            if isinstance(slot.request, P.Input):
                self.lost_seqs.append(slot.request.sample_seq)
            self._settle(slot, "lost", detail=why)
        outer, self._busy = self._busy, None
        try:
            if self._config is not None:
                self.request(P.Config(*self._config))
            if self._snr is not None:
                self.request(P.SnrFeedback(*self._snr))
        except LinkError:
            self.counters["restore_failures"] += 1
        finally:
            self._busy = outer

    # ------------------------------------------------------------------ requests

    def request(self, msg: P.Message, timeout: float | None = None,
                retries: int | None = None) -> P.Message:
        """One request; returns the reply or raises NodeError / LinkTimeout."""
        out = next(iter(self.transact([msg], 1, timeout, retries)))
        if out.status == "ok":
            assert out.reply is not None
            return out.reply
        if out.status == "error":
            assert isinstance(out.reply, P.Error)
            raise NodeError(out.reply, P.type_name(msg.TYPE))
        raise LinkTimeout(out.detail)

    def hello(self) -> P.Info:
        """INFO of the node (notes its boot id; a changed one counts as a restart)."""
        info = self.request(P.Hello())
        assert isinstance(info, P.Info)
        self._note_info(info)
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
        ack = self.request(P.SnrFeedback(snr_cdb, k or 0))
        assert isinstance(ack, P.SnrAck)
        self._snr = (snr_cdb, k or 0)
        return ack

    def configure(self, constellation: str = "semantic", indices: bool = False) -> P.ConfigAck:
        """Select the constellation the node maps with; ``indices`` adds them to SYMBOLS."""
        try:
            c = P.Constellation[constellation.upper()]
        except KeyError:
            raise ValueError(f"constellation {constellation!r}; use semantic or standard") from None
        flags = P.CFG_INDICES if indices else 0
        ack = self.request(P.Config(c, flags))
        assert isinstance(ack, P.ConfigAck)
        self._config = (int(c), flags)
        return ack

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The node's counters plus ``timings`` (stage -> StageTiming)."""
        reply = self.request(P.StatsRequest(int(reset)))
        assert isinstance(reply, P.Stats)
        out: dict[str, Any] = reply.as_dict()
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
        tx0, rx0 = self.counters["bytes_tx"], self.decoder.bytes_rx
        re0 = self.counters["retransmits"]
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
            report.bytes_tx = self.counters["bytes_tx"] - tx0
            report.bytes_rx = self.decoder.bytes_rx - rx0
            report.retransmits = self.counters["retransmits"] - re0
            report.lost_seqs = self.lost_seqs[lost0:]
            self.last_stream = report

    # ------------------------------------------------------------------ flashing

    def flash(self, bundle_dir: str | Path,
              progress_callback: Callable[[int, int], None] | None = None,
              chunk_size: int = 2048, force: bool = False, trust: Any = None,
              commit_timeout: float = 10.0) -> FlashResult:
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
            raise ValueError(f"{bundle_dir}: {', '.join(too_big)}: the node cannot hold it")
        if not force and info.flags & P.INFO_ACTIVE and info.manifest_sha256 == manifest_sha:
            return FlashResult(manifest["bundle_id"], info.active_slot, manifest_sha.hex(), 0, 0,
                               0, 0, 0, 0, time.monotonic() - t0, skipped=True)
        return self.flash_archive(pack_bundle(bundle_dir), progress_callback, chunk_size,
                                  expect_manifest=manifest_sha, commit_timeout=commit_timeout)

    def flash_archive(self, data: bytes,
                      progress_callback: Callable[[int, int], None] | None = None,
                      chunk_size: int = 2048, expect_manifest: bytes | None = None,
                      commit_timeout: float = 10.0, sha256: bytes | None = None) -> FlashResult:
        """Send a prepared transfer image (:func:`semqam_node.slots.pack_bundle`) without local
        checks: FLASH_BEGIN (resumes where the node's acknowledged bytes end), one
        acknowledged FLASH_CHUNK at a time, FLASH_COMMIT, then HELLO to confirm.

        After a lost link the client reconnects and resumes from the node's acknowledged
        offset. ``sha256`` overrides the announced hash (tests of the node's check).
        """
        t0 = time.monotonic()
        sha = sha256 or hashlib.sha256(data).digest()
        total = len(data)
        re0, rc0 = self.counters["retransmits"], self.reconnects
        chunk_size = max(1, min(chunk_size, P.MAX_CHUNK))
        begin = self._flash_begin(total, chunk_size, sha)
        offset = resumed_from = begin.offset
        chunk_size = begin.chunk_size
        sent = chunks = 0
        if progress_callback:
            progress_callback(offset, total)
        while offset < total:
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
                offset = self._flash_begin(total, chunk_size, sha).offset
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
                           self.counters["retransmits"] - re0, self.reconnects - rc0,
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


def _answers(request: P.Message, reply: P.Message) -> bool:
    """Whether ``reply`` is a plausible answer to ``request`` (type and echoed fields)."""
    if isinstance(reply, P.Error):
        return reply.ref_type == request.TYPE
    if P.reply_type(request.TYPE) != reply.TYPE:
        return False
    if isinstance(request, P.Input):
        return isinstance(reply, P.Symbols) and reply.sample_seq == request.sample_seq
    if isinstance(request, P.Ping):
        return isinstance(reply, P.Pong) and reply.data == request.data
    if isinstance(request, P.FlashChunk):
        return isinstance(reply, P.FlashChunkAck)
    return True


class _PortGone(Exception):
    pass
