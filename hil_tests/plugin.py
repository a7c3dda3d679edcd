"""pytest plugin of the HIL suite: ``--port`` / ``--bundle`` / ``--trust`` / ``--baud`` /
``--hil-limit``, the ``hil`` marker, the :class:`HilTarget` fixture and the ``node`` fixture (a
connected node running the bundle under test, opened by :func:`semqam_node.session.open_node`).

Without options every ``hil`` test runs against a virtual node (``semqam-node`` on a pty pair)
and the tiny signed test bundle, so ``make test`` exercises the whole loop. With a board:

    pytest hil_tests --port /dev/ttyUSB0 --bundle build/mnist-256 --trust build/keys/lab.pub

(the board runs ``semqam-node --trust lab.pub``; the suite flashes the bundle if needed).
Tests that need the wire (fault injection) run on ``virtual`` and ``qemu-m4`` / ``qemu-m7``
(the firmware's UART goes through the same wire) and skip on a real port with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hil", "hardware in the loop (hil_tests/)")
    g.addoption("--port", default="virtual",
                help="node port: virtual (default, semqam-node on a pty pair), qemu-m4 | "
                     "qemu-m7 (the Cortex-M firmware on QEMU), a serial device, or a pyserial "
                     "URL (socket://HOST:PORT)")
    g.addoption("--bundle", default=None,
                help="bundle the node runs or gets flashed (default: the tiny test bundle)")
    g.addoption("--trust", default=None,
                help="Ed25519 .pub the --bundle is signed with (default: the test key)")
    g.addoption("--baud", type=int, default=115200, help="line rate of --port")
    g.addoption("--hil-limit", type=int, default=200,
                help="test samples streamed per SNR point (default 200)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hil: hardware-in-the-loop test; runs on a virtual node unless --port")


@dataclass(frozen=True)
class HilTarget:
    """What the HIL tests talk to."""

    port: str
    bundle: Path
    trust: Path | None
    baud: int
    limit: int

    @property
    def virtual(self) -> bool:
        return self.port == "virtual"

    @property
    def wire(self) -> bool:
        """The host owns the wire to the node (virtual, or the MCU firmware on QEMU)."""
        from semqam_node.session import QEMU_PORTS

        return self.virtual or self.port in QEMU_PORTS

    def require_wire(self, why: str) -> None:
        if not self.wire:
            pytest.skip(f"needs a wire the host owns, --port virtual or qemu-m4/qemu-m7 ({why}); "
                        f"--port is {self.port}")


@pytest.fixture
def node(hil_target: HilTarget):
    """The device under test: a :class:`~semqam_node.session.NodeSession` whose ``client`` is
    connected to ``--port`` (a fresh virtual node by default) and runs ``--bundle``, flashed
    if it did not already. Closed (and a virtual node stopped) after the test."""
    from semqam_node.session import open_node

    with open_node(hil_target.port, hil_target.bundle, trust=hil_target.trust,
                   baud=hil_target.baud) as session:
        yield session


@pytest.fixture(scope="session")
def hil_target(request: pytest.FixtureRequest) -> HilTarget:
    opt = request.config.getoption
    bundle = opt("--bundle")
    if bundle is None:
        bundle = request.getfixturevalue("tiny_bundle")
        trust = opt("--trust") or request.getfixturevalue("signing_keys")[1]
    else:
        trust = opt("--trust")
    return HilTarget(opt("--port"), Path(bundle), Path(trust) if trust else None,
                     opt("--baud"), opt("--hil-limit"))
