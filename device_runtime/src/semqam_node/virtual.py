"""A virtual node: ``semqam-node`` as a real process on a pty, behind a wire that can pace and
corrupt the bytes.

    with VirtualNode(state_dir, install="build/mnist-256") as v:
        client = NodeClient(v.port)          # the host side is a pty path like /dev/pts/7

Two pty pairs and a relay thread (the :class:`Wire`) stand in for the cable: the node process opens
one slave, the host opens the other, and the wire copies bytes between the masters. A pty
ignores baud, so with ``pace=True`` the wire delivers each direction at ``baud`` (10 bits per
byte). With a :class:`FaultConfig` it flips bits, drops, duplicates and inserts bytes at seeded
per-byte rates and counts every fault, and classifies every frame it delivers (see
:class:`DirectionStats`), so a test can account for each fault in the receiver's counters.

``python -m semqam_node.virtual --bundle-dir DIR [--install BUNDLE]`` starts one and prints the
host-side port.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .host import LinkError
from .protocol import MAX_FRAME
from .server import READY_LINE

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


def _open_pty() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[1])


class NodeStartError(LinkError):
    """The node process exited before it started serving."""


class VirtualNode:
    """``semqam-node`` in its own process on a pty, behind a :class:`Wire`.

    ``port`` is the host-side pty path. ``kill()`` is a SIGKILL (power loss), ``stop()`` a
    SIGTERM, ``restart()`` starts the process again on the same state directory and ports.
    ``env`` adds environment variables for the node process (e.g. the crash hook). The node's
    stderr goes to ``log_path`` (default: a temp file deleted by :meth:`close`).
    """

    def __init__(self, bundle_dir: str | Path, *, trust: str | Path | None = None,
                 backend: str = "c", node_id: str = "virtual", baud: int = 115200,
                 pace: bool = False, faults: FaultConfig | None = None,
                 install: str | Path | None = None, env: dict[str, str] | None = None,
                 log_path: str | Path | None = None, ready_timeout: float = 30.0) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.trust = trust
        self.backend = backend
        self.node_id = node_id
        self.baud = baud
        self.install = install
        self.env = dict(env or {})
        self.ready_timeout = ready_timeout
        self._own_log = log_path is None  # a temp log is deleted by close()
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="semqam-node-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self._node_master, self.node_port = _open_pty()
        self._host_master, self.port = _open_pty()
        self.wire = Wire(self._node_master, self._host_master, baud=baud, pace=pace,
                         faults=faults)
        self.wire.start()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def paced(self) -> str:
        return f"wire paced at {self.baud} baud" if self.wire.pace else "not paced"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "semqam_node.server", "--port", self.node_port,
               "--bundle-dir", str(self.bundle_dir), "--backend", self.backend,
               "--baud", str(self.baud), "--node-id", self.node_id]
        if self.trust:
            cmd += ["--trust", str(self.trust)]
        if self.install and self.starts == 0:
            cmd += ["--install", str(self.install)]
        return cmd

    def start(self, env: dict[str, str] | None = None) -> VirtualNode:
        """Spawn the node and wait for its ready line; ``env`` applies to this start only."""
        if self.alive:
            raise RuntimeError(f"node already running (pid {self.proc.pid})")  # type: ignore[union-attr]
        e = {**os.environ, **self.env, **(env or {})}
        e["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), e.get("PYTHONPATH")) if p)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=e)
        self.starts += 1
        self.wire.node_up = True
        deadline = time.monotonic() + self.ready_timeout
        while True:
            text = self.log_text(offset)
            if READY_LINE in text:
                return self
            if self.proc.poll() is not None:
                raise NodeStartError(f"semqam-node exited with {self.proc.returncode} before "
                                   f"serving; its log:\n{text[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"semqam-node not ready after {self.ready_timeout:.0f} s; "
                                   f"last log lines:\n{text[-2000:]}")
            time.sleep(0.02)

    def log_text(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the node process to exit by itself (e.g. the crash hook); its status."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.wire.node_up = False
        return code

    def kill(self) -> None:
        """SIGKILL: power loss. The wire drops bytes meant for the node until a restart."""
        self.wire.node_up = False
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        self.wire.node_up = False
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self, env: dict[str, str] | None = None, hard: bool = False) -> VirtualNode:
        (self.kill if hard else self.stop)()
        return self.start(env)

    def close(self) -> None:
        self.stop()
        self.wire.stop()
        for fd in (self._node_master, self._host_master):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> VirtualNode:
        if not self.alive:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semqam_node.virtual",
                                description="Run semqam-node on a pty behind a (faulty) wire.")
    p.add_argument("--bundle-dir", required=True, type=Path)
    p.add_argument("--install", type=Path, default=None)
    p.add_argument("--trust", type=Path, default=None)
    p.add_argument("--backend", default="c")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--pace", action="store_true", help="deliver bytes at --baud")
    for kind in FAULT_KINDS:
        p.add_argument(f"--{kind}", type=float, default=0.0, help=f"per-byte {kind} rate")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    faults = FaultConfig(a.flip, a.drop, a.dup, a.insert, a.seed)
    node = VirtualNode(a.bundle_dir, trust=a.trust, backend=a.backend, baud=a.baud,
                       pace=a.pace, faults=faults, install=a.install)
    try:
        node.start()
        print(f"host port: {node.port}  (node log: {node.log_path}; Ctrl-C stops)", flush=True)
        while node.alive:
            time.sleep(0.5)
        print(f"node exited with {node.proc.returncode if node.proc else '?'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        node.close()
        for name, d in node.wire.stats().items():
            print(f"{name}: {d.as_dict()}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
