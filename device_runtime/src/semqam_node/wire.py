"""The virtual cable between a host and a node on ptys: a relay thread (:class:`Wire`) that
can pace each direction to a baud rate and inject seeded byte faults.

Two pty masters are joined by the wire: it copies bytes between them. A pty ignores baud, so
with ``pace=True`` the wire delivers each direction at ``baud`` (10 bits per byte). With a
:class:`FaultConfig` it flips bits, drops, duplicates and inserts bytes at seeded per-byte
rates and counts every fault, and classifies every frame it delivers (see
:class:`DirectionStats`), so a test can account for each fault in the receiver's counters.
"""

from __future__ import annotations

import errno
import math
import os
import random
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .protocol import MAX_FRAME

__all__ = ["FAULT_KINDS", "DirectionStats", "FaultConfig", "Wire"]

FAULT_KINDS = ("flip", "drop", "dup", "insert")


@dataclass(frozen=True)
class FaultConfig:
    """Per-byte fault probabilities; ``directions``: ``both``, ``h2n`` or ``n2h``."""

    flip: float = 0.0  # flip one random bit of the byte
    drop: float = 0.0  # lose the byte
    dup: float = 0.0  # deliver the byte twice
    insert: float = 0.0  # deliver a random byte before it
    seed: int = 0
    directions: str = "both"

    @property
    def total(self) -> float:
        return self.flip + self.drop + self.dup + self.insert

    def applies(self, direction: str) -> bool:
        return self.directions in ("both", direction)


@dataclass
class DirectionStats:
    """What the wire did to one direction.

    The wire splits its *input* at 0x00 into the sender's frames and its *output* into the
    segments the receiver will see. An output segment is ``intact`` when it equals a frame the
    sender sent, ``empty`` when two delimiters are adjacent, ``damaged`` otherwise; every
    damaged segment is one the receiver's decoder must drop. Each fault is attributed to the
    output segment it landed in (a fault that makes a 0x00 also taints the segment after it).
    """

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    intact: int = 0
    damaged: int = 0
    empty: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    faults_in_damaged: int = 0  # faults that destroyed a frame
    faults_benign: int = 0  # faults that cancelled out or only made an empty frame
    damaged_untainted: int = 0  # must stay 0: damage without a fault would be a wire bug
    dropped_down: int = 0  # bytes discarded because the receiving side was closed
    segments_cut: int = 0  # partial frames abandoned when the receiving side closed
    faults_cut: int = 0  # faults in those partial frames

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    def as_dict(self) -> dict[str, object]:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        d["total_faults"] = self.total_faults
        return d


class _Direction:
    """Fault injection and frame accounting for one direction."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.stats = DirectionStats()
        self.lock = threading.Lock()  # set_faults comes from another thread
        self.rng = random.Random(f"{seed}:{name}")
        self.faults: FaultConfig | None = None
        self._skip = 0  # clean bytes before the next fault
        self._in = bytearray()
        self._recent: deque[bytes] = deque()
        self._originals: dict[bytes, int] = {}
        self._seg = bytearray()
        self._seg_len = 0
        self._seg_faults = 0
        self._seg_tainted = False

    def set_faults(self, faults: FaultConfig | None) -> None:
        with self.lock:
            self.faults = (faults if faults and faults.applies(self.name) and faults.total > 0
                           else None)
            self._draw_skip()

    def _draw_skip(self) -> None:
        f = self.faults
        if f is None:
            self._skip = 1 << 62
            return
        u = 1.0 - self.rng.random()
        self._skip = int(math.log(u) / math.log1p(-min(f.total, 0.999999)))

    def reset_segment(self) -> None:
        """The receiver went away: forget the partial frame on both sides of the wire."""
        self.stats.faults_cut += self._seg_faults
        self.stats.segments_cut += self._seg_len > 0
        self._in.clear()
        self._seg.clear()
        self._seg_len = self._seg_faults = 0
        self._seg_tainted = False

    def process(self, data: bytes) -> bytes:
        """The bytes to deliver for ``data`` read from the sender, faults applied and counted."""
        with self.lock:
            return self._process(data)

    def _process(self, data: bytes) -> bytes:
        st = self.stats
        st.bytes_in += len(data)
        self._note_input(data)
        if self.faults is None or self._skip >= len(data):
            self._skip -= len(data) if self.faults is not None else 0
            self._emit(data)
            st.bytes_out += len(data)
            return data
        out = bytearray()
        pos = 0
        f = self.faults
        kinds = [(f.flip, "flip"), (f.drop, "drop"), (f.dup, "dup"), (f.insert, "insert")]
        while pos + self._skip < len(data):
            at = pos + self._skip
            if at > pos:
                self._emit(data[pos:at])
                out += data[pos:at]
            b = data[at]
            r = self.rng.random() * f.total
            kind = "insert"
            for p, name in kinds:
                if r < p:
                    kind = name
                    break
                r -= p
            st.faults[kind] += 1
            if kind == "flip":
                nb = bytes([b ^ (1 << self.rng.randrange(8))])
                self._emit(nb, fault=True)
                out += nb
            elif kind == "drop":
                self._seg_faults += 1
                self._seg_tainted = True
            elif kind == "dup":
                one = bytes([b])
                self._emit(one)
                self._emit(one, fault=True)
                out += one + one
            else:
                x = bytes([self.rng.randrange(256)])
                self._emit(x, fault=True)
                self._emit(bytes([b]))
                out += x + bytes([b])
            pos = at + 1
            self._draw_skip()
        if pos < len(data):
            self._emit(data[pos:])
            out += data[pos:]
        self._skip -= len(data) - pos
        st.bytes_out += len(out)
        return bytes(out)

    def _note_input(self, data: bytes) -> None:
        parts = data.split(b"\x00")
        for part in parts[:-1]:
            self._in += part
            frame = bytes(self._in)
            self._in.clear()
            if not frame:
                continue
            self.stats.frames_in += 1
            self._recent.append(frame)
            self._originals[frame] = self._originals.get(frame, 0) + 1
            if len(self._recent) > 4096:
                old = self._recent.popleft()
                left = self._originals.pop(old) - 1
                if left:
                    self._originals[old] = left
        self._in += parts[-1]
        if len(self._in) > MAX_FRAME + 16:
            self._in.clear()

    def _emit(self, piece: bytes, fault: bool = False) -> None:
        if fault:
            self._seg_faults += 1
            self._seg_tainted = True
        parts = piece.split(b"\x00")
        for part in parts[:-1]:
            self._add(part)
            self._close_segment(made_by_fault=fault)
        self._add(parts[-1])

    def _add(self, part: bytes) -> None:
        self._seg_len += len(part)
        if self._seg_len <= MAX_FRAME + 16:
            self._seg += part

    def _close_segment(self, made_by_fault: bool) -> None:
        st = self.stats
        n = self._seg_faults
        if self._seg_len == 0:
            st.empty += 1
            st.faults_benign += n
        elif self._seg_len <= MAX_FRAME + 16 and bytes(self._seg) in self._originals:
            st.intact += 1
            st.faults_benign += n
        else:
            st.damaged += 1
            st.faults_in_damaged += n
            if not self._seg_tainted:
                st.damaged_untainted += 1
        self._seg.clear()
        self._seg_len = self._seg_faults = 0
        self._seg_tainted = made_by_fault  # a fault-made delimiter also cuts the next frame

    @property
    def pending_faults(self) -> int:
        return self._seg_faults


class Wire(threading.Thread):
    """Relay between the node's pty master and the host's pty master (a thread)."""

    def __init__(self, node_fd: int, host_fd: int, baud: int = 115200, pace: bool = False,
                 faults: FaultConfig | None = None, seed: int | None = None) -> None:
        super().__init__(name="semqam-wire", daemon=True)
        self.fds = {"node": node_fd, "host": host_fd}
        self.baud = baud
        self.pace = pace
        seed = faults.seed if faults and seed is None else (seed or 0)
        self.dirs = {"h2n": _Direction("h2n", seed), "n2h": _Direction("n2h", seed)}
        self.set_faults(faults)
        self.node_up = True  # cleared by VirtualNode.kill/stop: bytes to the node are dropped
        self._queue: dict[str, deque[tuple[float, bytes]]] = {"h2n": deque(), "n2h": deque()}
        self._line_free = {"h2n": 0.0, "n2h": 0.0}
        self._closed_until = {"node": 0.0, "host": 0.0}
        self._peer_open = {"node": True, "host": True}
        self._halt = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (node_fd, host_fd):
            os.set_blocking(fd, False)

    def set_faults(self, faults: FaultConfig | None) -> None:
        for d in self.dirs.values():
            d.set_faults(faults)

    def stats(self) -> dict[str, DirectionStats]:
        return {name: d.stats for name, d in self.dirs.items()}

    def pending_faults(self) -> int:
        return sum(d.pending_faults for d in self.dirs.values())

    def stop(self) -> None:
        self._halt.set()
        os.write(self._wake_w, b"x")
        self.join(timeout=2)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def run(self) -> None:
        dst_fd = {"h2n": self.fds["node"], "n2h": self.fds["host"]}
        while not self._halt.is_set():
            now = time.monotonic()
            for side in ("node", "host"):  # is anybody holding the slave open again?
                if not self._peer_open[side] and self._closed_until[side] <= now:
                    self._read(side)
            readable = [self.fds[s] for s in ("node", "host") if self._peer_open[s]]
            due = [q[0][0] for q in self._queue.values() if q]
            wait = 0.05 if all(self._peer_open.values()) else 0.01
            if due:
                wait = min(wait, max(0.0, min(due) - now))
            writable = [dst_fd[d] for d, q in self._queue.items() if q and q[0][0] <= now]
            try:
                r, _, _ = select.select([*readable, self._wake_r], writable, [], wait)
            except (OSError, ValueError):
                return
            if self._wake_r in r:
                return
            for side in ("node", "host"):
                if self.fds[side] in r:
                    self._read(side)
            self._deliver(dst_fd)

    def _receiver_gone(self, direction: str) -> bool:
        side = "node" if direction == "h2n" else "host"
        return not self._peer_open[side] or (direction == "h2n" and not self.node_up)

    def _read(self, side: str) -> None:
        fd = self.fds[side]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            self._peer_open[side] = True
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            self._closed_until[side] = time.monotonic() + 0.01  # nobody holds the slave open
            if self._peer_open[side]:
                self._peer_open[side] = False
                self.dirs["h2n" if side == "node" else "n2h"].reset_segment()
            return
        self._peer_open[side] = True
        direction = "n2h" if side == "node" else "h2n"
        if not data:
            return
        if self._receiver_gone(direction):
            self.dirs[direction].stats.dropped_down += len(data)
            self.dirs[direction].reset_segment()
            return
        out = self.dirs[direction].process(data)
        now = time.monotonic()
        q = self._queue[direction]
        if not self.pace:
            q.append((now, out))
            return
        byte_s = 10.0 / self.baud
        t = max(self._line_free[direction], now)
        for i in range(0, len(out), 64):
            piece = out[i:i + 64]
            t += len(piece) * byte_s
            q.append((t, piece))
        self._line_free[direction] = t

    def _deliver(self, dst_fd: dict[str, int]) -> None:
        now = time.monotonic()
        for direction, q in self._queue.items():
            fd = dst_fd[direction]
            while q and q[0][0] <= now:
                t, data = q[0]
                if self._receiver_gone(direction):
                    self.dirs[direction].stats.dropped_down += len(data)
                    q.popleft()
                    continue
                try:
                    n = os.write(fd, data)
                except BlockingIOError:
                    break
                except OSError:
                    self.dirs[direction].stats.dropped_down += len(data)
                    q.popleft()
                    continue
                if n < len(data):
                    q[0] = (t, data[n:])
                    break
                q.popleft()
