"""A virtual node: ``semqam-node`` as a real process on a pty, behind a :class:`~.wire.Wire`
that can pace and corrupt the bytes.

    with VirtualNode(state_dir, install="build/mnist-256") as v:
        client = NodeClient(v.port)          # the host side is a pty path like /dev/pts/7

Two pty pairs and the wire stand in for the cable: the node process opens one slave, the host
opens the other, and the wire copies bytes between the masters (:mod:`.wire`: pacing, faults).

``python -m semqam_node.virtual --bundle-dir DIR [--install BUNDLE]`` starts one and prints the
host-side port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

from .errors import NodeStartError
from .server import READY_LINE
from .wire import FAULT_KINDS, DirectionStats, FaultConfig, Wire

__all__ = ["DirectionStats", "FaultConfig", "NodeStartError", "VirtualNode", "Wire"]


def _open_pty() -> tuple[int, str]:
    """A raw pty pair: (master fd, slave path); the slave is opened by whoever uses it."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[1])


class VirtualNode:
    """``semqam-node`` in its own process on a pty, behind a :class:`Wire`.

    ``port`` is the host-side pty path. ``kill()`` is a SIGKILL (power loss), ``stop()`` a
    SIGTERM, ``restart()`` starts the process again on the same state directory and ports.
    ``env`` adds environment variables for the node process (e.g. the crash hook). The node's
    stderr goes to ``log_path`` (default: a temp file deleted by :meth:`close`).
    Like ``semqam-node``, a node without ``trust`` refuses to start unless ``insecure`` (it then
    runs with ``--insecure-accept-unsigned``); ``allow_downgrade`` passes ``--allow-downgrade``.
    """

    def __init__(self, bundle_dir: str | Path, *, trust: str | Path | None = None,
                 insecure: bool = False, allow_downgrade: bool = False,
                 backend: str = "c", node_id: str = "virtual", baud: int = 115200,
                 pace: bool = False, faults: FaultConfig | None = None,
                 install: str | Path | None = None, env: dict[str, str] | None = None,
                 log_path: str | Path | None = None, ready_timeout: float = 30.0) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.trust = trust
        self.insecure = insecure
        self.allow_downgrade = allow_downgrade
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
        elif self.insecure:
            cmd.append("--insecure-accept-unsigned")
        if self.allow_downgrade:
            cmd.append("--allow-downgrade")
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
    p.add_argument("--insecure-accept-unsigned", action="store_true")
    p.add_argument("--backend", default="c")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--pace", action="store_true", help="deliver bytes at --baud")
    for kind in FAULT_KINDS:
        p.add_argument(f"--{kind}", type=float, default=0.0, help=f"per-byte {kind} rate")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    faults = FaultConfig(a.flip, a.drop, a.dup, a.insert, a.seed)
    node = VirtualNode(a.bundle_dir, trust=a.trust, insecure=a.insecure_accept_unsigned,
                       backend=a.backend, baud=a.baud,
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
