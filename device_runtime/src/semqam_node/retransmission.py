"""Requests over a :class:`~semqam_node.transport.SerialTransport`: a window of requests in
flight, same-seq retransmission, one :class:`Outcome` per request, restart detection.

Every request is retransmitted with the *same* seq after ``timeout`` up to ``retries`` times
(all requests are idempotent on the node). When a request runs out of retries the engine
probes the node with HELLO, reopening the port until ``reconnect_timeout`` if needed: if the
node answers with a new boot id it restarted, and every request in flight is reported ``lost``;
otherwise only the exhausted one is reported ``timeout``. Nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from . import protocol as P
from .errors import LinkError, LinkTimeout, NodeError
from .transport import PortGone, SerialTransport


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
class _Slot:
    index: int
    request: P.Message
    seq: int
    wire: bytes
    first_sent: float = 0.0
    deadline: float = 0.0
    attempts: int = 0
    outcome: Outcome | None = None


def answers(request: P.Message, reply: P.Message) -> bool:
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


class RequestEngine:
    """Windowed, retransmitting requests to one node over ``transport``.

    ``timeout`` is per attempt. ``restore`` is called after a node restart (with nothing in
    flight) to put the session settings back; a :class:`LinkError` from it is counted in
    ``counters["restore_failures"]``.
    """

    def __init__(self, transport: SerialTransport, timeout: float = 1.0, retries: int = 2,
                 reconnect_timeout: float = 10.0,
                 restore: Callable[[], None] | None = None) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.reconnect_timeout = reconnect_timeout
        self.restore = restore
        self.info: P.Info | None = None
        self.boot_id: int | None = None
        self.restarts = 0
        self.reconnects = 0
        self.lost_seqs: list[int] = []  # sample seqs in flight when the node restarted
        self.counters = {"retransmits": 0, "late_replies": 0, "mismatched": 0, "bad_replies": 0,
                         "probes": 0, "restore_failures": 0}
        self.link_down = False  # the node stayed away for reconnect_timeout
        self._seq = 0
        self._busy: dict[int, _Slot] | None = None
        self._down_detail = ""
        self._last_rx = "nothing received yet"
        self._last_rx_t = 0.0

    # ------------------------------------------------------------------ public

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
                    frames = self.transport.read_frames(until)
                except PortGone as e:
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

    def request(self, msg: P.Message, timeout: float | None = None,
                retries: int | None = None) -> P.Message:
        """One request; returns the reply or raises :class:`NodeError` / :class:`LinkTimeout`."""
        out = next(iter(self.transact([msg], 1, timeout, retries)))
        if out.status == "ok":
            assert out.reply is not None
            return out.reply
        if out.status == "error":
            assert isinstance(out.reply, P.Error)
            raise NodeError(out.reply, P.type_name(msg.TYPE))
        raise LinkTimeout(out.detail)

    def reconnect(self, wait: float | None = None) -> P.Info:
        """Reopen the port and HELLO until the node answers or ``wait`` s pass."""
        wait = self.reconnect_timeout if wait is None else wait
        deadline = time.monotonic() + wait
        self.reconnects += 1
        while True:
            self.transport.close()
            try:
                self.transport.open(max(0.0, deadline - time.monotonic()), flush=False)
                info = self._probe(attempts=1)
                self.link_down = False
                return info
            except LinkError as e:
                if time.monotonic() >= deadline:
                    raise LinkError(f"{self.transport.url}: node did not answer within "
                                    f"{wait:.1f} s of reconnecting ({e})") from None
                time.sleep(0.1)

    def note_info(self, info: P.Info) -> None:
        """Remember the node's INFO; a changed boot id is a restart (see the module doc)."""
        restarted = self.boot_id is not None and info.boot_id != self.boot_id
        old = self.boot_id
        self.boot_id = info.boot_id
        self.info = info
        if restarted:
            self.restarts += 1
            self._node_restarted(f"node restarted (boot id {old:08x} -> {info.boot_id:08x})")

    # ------------------------------------------------------------------ engine

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
        decoder = self.transport.decoder
        if decoder.pending:
            desc += f"; {decoder.pending} bytes of an unfinished frame"
        if decoder.dropped:
            desc += f"; {decoder.dropped} corrupt frames dropped so far"
        return f"last received: {desc}"

    def _send(self, slot: _Slot, timeout: float) -> None:
        now = time.monotonic()
        if not slot.attempts:
            slot.first_sent = now
        slot.attempts += 1
        slot.deadline = now + timeout
        try:
            self.transport.write(slot.wire)
        except PortGone as e:
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
        if not answers(slot.request, msg):
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
                self.transport.write(P.encode_message(P.Hello(), seq))
            except PortGone as e:
                raise LinkError(f"port failed ({e})") from None
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                try:
                    frames = self.transport.read_frames(deadline)
                except PortGone as e:
                    raise LinkError(f"port failed ({e})") from None
                for frame in frames:
                    if frame.seq == seq and frame.type == P.MsgType.INFO:
                        try:
                            info = P.Info.unpack(frame.payload)
                        except P.ProtocolError:
                            continue
                        self._last_rx, self._last_rx_t = f"INFO seq {seq}", time.monotonic()
                        self.note_info(info)
                        return info
                    self._match(frame)
        raise LinkTimeout(f"no INFO in reply to HELLO; {self._describe_last()}")

    def _node_restarted(self, why: str) -> None:
        """Report everything in flight lost and restore the session settings on the node."""
        for slot in list((self._busy or {}).values()):
            if isinstance(slot.request, P.Input):
                self.lost_seqs.append(slot.request.sample_seq)
            self._settle(slot, "lost", detail=why)
        if self.restore is None:
            return
        outer, self._busy = self._busy, None
        try:
            self.restore()
        except LinkError:
            self.counters["restore_failures"] += 1
        finally:
            self._busy = outer
