"""Transport of the host side of the link: one port (anything ``serial.serial_for_url`` opens),
paced writes, frames read through a :class:`~semqam_node.protocol.FrameDecoder`, reopening.

Nothing here knows requests or replies; :mod:`.retransmission` builds on it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import protocol as P
from .errors import LinkError

if TYPE_CHECKING:
    import serial


class PortGone(Exception):
    """The port failed under a read or a write (unplugged, closed by the other side)."""


class Pacer:
    """Hold writes to ``baud`` (10 bits per byte) for links that ignore it, such as a pty."""

    def __init__(self, baud: int) -> None:
        self.byte_s = 10.0 / baud
        self.free_at = 0.0

    def wait(self, n: int) -> None:
        """Sleep until ``n`` more bytes may go out at ``baud``."""
        now = time.monotonic()
        if self.free_at > now:
            time.sleep(self.free_at - now)
            now = self.free_at
        self.free_at = now + n * self.byte_s


class SerialTransport:
    """A port at ``url``, opened at once (retrying for ``open_timeout`` s).

    ``pace``: hold writes to ``baud`` (a pty ignores baud). ``write_timeout`` bounds one
    write. :attr:`decoder` holds the receive counters; :attr:`bytes_tx` / :attr:`frames_tx`
    count what was written.
    """

    def __init__(self, url: str, baud: int = 115200, write_timeout: float = 2.0,
                 pace: bool = False, open_timeout: float = 5.0) -> None:
        self.url = url
        self.baud = baud
        self.write_timeout = write_timeout
        self.pacer = Pacer(baud) if pace else None
        self.decoder = P.FrameDecoder()
        self.bytes_tx = 0
        self.frames_tx = 0
        self.ser: serial.SerialBase | None = None
        self.open(open_timeout)

    def open(self, wait: float, flush: bool = True) -> None:
        """Open the port, retrying until ``wait`` s pass; :class:`LinkError` if it never opens.

        ``flush=False`` (a reconnect) keeps what already arrived: replies are matched by seq.
        """
        import serial

        deadline = time.monotonic() + wait
        while True:
            try:
                self.ser = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.02,
                                                 write_timeout=self.write_timeout)
                if flush:
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

    def write(self, wire: bytes) -> None:
        """Send one encoded frame (paced if asked); :class:`PortGone` if the port failed."""
        import serial

        if self.pacer is not None:
            self.pacer.wait(len(wire))
        try:
            self.ser.write(wire)  # type: ignore[union-attr]  # None: AttributeError below
        except (serial.SerialException, OSError, AttributeError) as e:
            raise PortGone(str(e)) from None
        self.bytes_tx += len(wire)
        self.frames_tx += 1

    def read_frames(self, until: float) -> list[P.Frame]:
        """Frames received before ``until`` (monotonic); returns as soon as one arrived.

        Dropped and rejected frames are only counted by :attr:`decoder`.
        """
        import serial

        while True:
            try:
                data = self.ser.read(self.ser.in_waiting or 1)  # type: ignore[union-attr]
            except (serial.SerialException, OSError, AttributeError, TypeError) as e:
                raise PortGone(str(e)) from None
            if data:
                frames = [f for f in self.decoder.feed(data) if isinstance(f, P.Frame)]
                if frames:
                    return frames
            if time.monotonic() >= until:
                return []
