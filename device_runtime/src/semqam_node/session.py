"""One way to open a node: :func:`open_node` gives a :class:`NodeSession` whose node runs the
bundle under test, whether the node is ``virtual`` (``semqam-node`` on a pty pair, the same
program a Pi runs), ``qemu-m4`` / ``qemu-m7`` (the Cortex-M firmware with the bundle built in,
on QEMU's mps2-an386 / mps2-an500, :mod:`.qemu`) or behind a real port (flashed over the link if
it does not run it yet).

    with open_node("virtual", "build/mnist-256", trust="build/keys/lab.pub") as s:
        s.client.set_snr(10.0)
        results = list(s.client.stream(samples))
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import protocol as P
from .bundle import MANIFEST, load_public_key, verify_bundle
from .host import NodeClient
from .qemu import BOARDS, QemuSession
from .reports import FlashResult
from .virtual import VirtualNode
from .wire import FaultConfig

VIRTUAL = "virtual"
#: Ports that start the Cortex-M firmware on QEMU (the bundle is built into the image).
QEMU_PORTS = tuple(BOARDS)
#: Default per-reply time-out (s) of the CLI on a QEMU port, else 2 s: with 8 INPUTs in flight
#: the last waits for 8 emulated encodes (M = 256: 7 M instructions each), which on a loaded
#: host took over 2 s and turned into retransmits and lost samples (docs/mcu.md).
QEMU_REPLY_TIMEOUT = 15.0


def default_timeout(port: str) -> float:
    """The CLI's per-reply time-out for ``port`` when ``--timeout`` is not given."""
    return QEMU_REPLY_TIMEOUT if port in QEMU_PORTS else 2.0
#: Encoder backends a virtual node can run.
BACKENDS = ("c", "litert")


@dataclass
class NodeSession:
    """A connected node: ``client``, the emulated node behind it if any (a virtual node or
    the firmware on QEMU; ``virtual.wire`` is the wire between), and what flashing did."""

    client: NodeClient
    port: str
    virtual: VirtualNode | QemuSession | None
    flash: FlashResult

    @property
    def node_pid(self) -> int | None:
        """PID of the virtual node's (or QEMU's) process (its CPU time is measurable), else
        None."""
        v = self.virtual
        return v.proc.pid if v is not None and v.alive and v.proc is not None else None

    @property
    def port_name(self) -> str:
        """The port asked for (``qemu-m4`` rather than the pty QEMU's wire ends in)."""
        v = self.virtual
        return v.board_port if isinstance(v, QemuSession) else self.port

    @property
    def link_note(self) -> str:
        return self.client.link_note

    def describe(self) -> dict[str, Any]:
        """Port, node identity, link and flash, for a run's record."""
        info = self.client.info
        return {
            "port": self.port_name,
            "virtual": self.virtual is not None,
            "emulator": (f"qemu-system-arm -M {BOARDS[self.port_name][0]}"
                         if self.port_name in BOARDS else None),
            "node_id": info.node_id if info else None,
            "runtime_version": info.runtime_version if info else None,
            "backend": info.backend if info else None,
            "baud": self.client.baud,
            "link": self.link_note,
            "bundle_id": self.flash.bundle_id,
            "flash_skipped": self.flash.skipped,
            "flash_s": round(self.flash.elapsed_s, 3),
        }


def trust_warning(info: P.Info) -> str:
    """One line when the node holds no trusted key (it accepts any bundle), else ''. A node
    whose bundle is built into its firmware (INFO_FIXED) accepts none over the link."""
    if info.flags & (P.INFO_TRUST | P.INFO_FIXED):
        return ""
    how = (" (started with --insecure-accept-unsigned)" if info.flags & P.INFO_INSECURE
           else "")
    return (f"warning: node {info.node_id or '?'} holds no trusted key{how}: it accepts unsigned "
            "bundles and bundles signed by anyone; start it with --trust KEY.pub")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def open_node(port: str, bundle: str | Path, *, trust: str | Path | None = None,
              baud: int = 115200, pace: bool = False, timeout: float = 2.0,
              backend: str = "c", state_dir: str | Path | None = None,
              faults: FaultConfig | None = None,
              progress: Callable[[int, int], None] | None = None,
              force: bool = False, chunk_size: int | None = None, open_timeout: float = 5.0,
              on_hello: Callable[[Any], None] | None = None,
              warn: Callable[[str], None] = _stderr,
              flash_deadline: float | None = None) -> Iterator[NodeSession]:
    """Connect to ``port`` and flash ``bundle`` unless the node already runs it.

    ``port == "virtual"`` starts ``semqam-node`` (``backend``, trusting ``trust``) on a pty
    pair with an empty state folder (``state_dir`` or a temporary one) and flashes the bundle
    over the link like a real board. ``pace`` makes the virtual wire deliver bytes at ``baud``
    (a real UART's speed); on a real port it holds host writes to ``baud``.
    ``port`` ``qemu-m4`` / ``qemu-m7`` builds the firmware for the (verified) bundle if needed
    and runs it on QEMU behind the same wire (``pace``, ``faults``); the node runs the bundle
    already, so nothing is flashed.
    ``trust`` (a ``.pub``) is also checked on the host before flashing. ``faults`` corrupts the
    virtual wire once the bundle is flashed. ``force`` sends the bundle even if the node runs
    it; ``chunk_size`` sets the FLASH_CHUNK size; ``on_hello(info)`` sees the node's INFO before
    flashing; ``open_timeout`` bounds opening a real port; ``flash_deadline`` bounds the whole
    flash (seconds; default from the size and baud). ``warn(line)`` (default: stderr) gets
    :func:`trust_warning` when the node holds no key; a virtual node started without ``trust``
    runs with ``--insecure-accept-unsigned``, so it warns too. ``ValueError`` for an unknown
    backend, a folder that is not a bundle, or faults on a real port (all before anything
    starts).
    """
    if port == VIRTUAL and backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}; the node runs c or litert")
    bundle = Path(bundle)
    if not (bundle / MANIFEST).is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    key = load_public_key(trust) if trust else None
    if port != VIRTUAL and port not in QEMU_PORTS and faults is not None:
        raise ValueError(f"fault injection needs --port {VIRTUAL} or "
                         f"{' / '.join(QEMU_PORTS)} (a wire the host owns), not {port}")
    with contextlib.ExitStack() as stack:
        virtual: VirtualNode | QemuSession | None = None
        if port in QEMU_PORTS:
            verify_bundle(bundle, key, require="node")  # refused before minutes of building
            virtual = QemuSession(port, bundle, baud=baud, pace=pace)
            stack.callback(virtual.close)
            virtual.start()
            client = NodeClient(virtual.port, baud=baud, timeout=timeout,
                                link_note=virtual.paced)
        elif port == VIRTUAL:
            if state_dir is None:
                state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="semqam-hil-"))
            virtual = VirtualNode(state_dir, trust=trust, insecure=trust is None, backend=backend,
                                  baud=baud, pace=pace)
            stack.callback(virtual.close)
            virtual.start()
            client = NodeClient(virtual.port, baud=baud, timeout=timeout,
                                link_note=virtual.paced)
        else:
            client = NodeClient(port, baud=baud, timeout=timeout, pace=pace,
                                open_timeout=open_timeout)
        stack.callback(client.close)
        info = client.hello()
        if on_hello is not None:
            on_hello(info)
        line = trust_warning(info)
        if line:
            warn(line)
        flash_opts: dict[str, Any] = {} if chunk_size is None else {"chunk_size": chunk_size}
        if flash_deadline is not None:
            flash_opts["deadline"] = flash_deadline
        result = client.flash(bundle, progress_callback=progress, trust=key, force=force,
                              **flash_opts)
        if virtual is not None and faults is not None:
            assert virtual.wire is not None
            virtual.wire.set_faults(faults)
        yield NodeSession(client, virtual.port if virtual else port, virtual, result)
