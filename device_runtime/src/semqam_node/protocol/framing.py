"""Link framing (docs/protocol.md, section 1): COBS, CRC-32, frame encoding and the streaming
:class:`FrameDecoder` with its counters.

A frame on the wire is ``COBS(header | payload | crc32) 0x00``; the header is
``version u8, type u8, seq u16 LE, length u16 LE`` and the CRC-32 (IEEE 802.3, ``zlib.crc32``)
covers header and payload, little-endian. Nothing here knows the messages or does I/O.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field

__all__ = [
    "COUNTERS", "CRC", "DELIMITER", "HEADER", "MAX_FRAME", "MAX_PAYLOAD", "OVERHEAD", "VERSION",
    "CobsError", "Frame", "FrameDecoder", "Rejected", "cobs_decode", "cobs_encode",
    "cobs_max_encoded", "crc32", "encode_frame",
]

VERSION = 1
DELIMITER = 0x00
MAX_PAYLOAD = 4096
HEADER = struct.Struct("<BBHH")
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size  # 10 bytes around the payload, before COBS



def cobs_max_encoded(n: int) -> int:
    """Longest COBS encoding of ``n`` bytes (without the delimiter): one code byte per 254."""
    return n + n // 254 + 1


MAX_FRAME = cobs_max_encoded(OVERHEAD + MAX_PAYLOAD)  # 4123 encoded bytes before the 0x00


# --------------------------------------------------------------------------------------------
# COBS and CRC


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker 1999): no 0x00 in the output.

    Minimal encoding: a final block of exactly 254 bytes gets no trailing ``01``.
    """
    out = bytearray()
    parts = bytes(data).split(b"\x00")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        n = len(part)
        pos = 0
        while n - pos >= 254:
            out.append(0xFF)
            out += part[pos:pos + 254]
            pos += 254
        if pos < n or i < last or n == 0:
            out.append(n - pos + 1)
            out += part[pos:]
    return bytes(out)


class CobsError(ValueError):
    """An encoded block that runs past the end of the frame, or a 0x00 inside a frame."""


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode` for one frame without its delimiter."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"0x00 at offset {i} inside a COBS frame")
        end = i + code
        if end > n:
            raise CobsError(f"block at offset {i} claims {code - 1} bytes, {n - i - 1} left")
        block = data[i + 1:end]
        if 0 in block:
            raise CobsError(f"0x00 inside the block at offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def _cobs_prefix(data: bytes, n: int) -> bytes:
    """Decode at most the first ``n`` bytes of a COBS frame that may be cut short."""
    out = bytearray()
    i = 0
    while i < len(data) and len(out) < n:
        code = data[i]
        if code == 0:
            break
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF:
            out.append(0)
    return bytes(out[:n])


def crc32(data: bytes) -> int:
    """CRC-32/IEEE 802.3 (reflected, poly 0xEDB88320, init and xorout 0xFFFFFFFF)."""
    return zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Frames


@dataclass(frozen=True)
class Frame:
    """One CRC-valid frame: header fields and the raw payload."""

    type: int
    seq: int
    payload: bytes
    version: int = VERSION
    decode_ns: int = field(default=0, compare=False)  # time spent on COBS + CRC of this frame


def encode_frame(msg_type: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """The wire bytes of one frame, delimiter included."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}")
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq {seq} outside 0..65535")
    body = HEADER.pack(version, msg_type, seq, len(payload)) + payload
    return cobs_encode(body + CRC.pack(crc32(body))) + b"\x00"


@dataclass(frozen=True)
class Rejected:
    """A dropped frame the receiver may answer: ``kind`` is ``oversized`` or ``bad_length``.

    ``seq`` comes from a header the receiver could read; for an oversized frame it is *not*
    covered by a checked CRC (the frame was never read to its end).
    """

    kind: str
    seq: int | None
    type: int | None
    size: int


COUNTERS = ("bytes_rx", "frames_ok", "crc_errors", "cobs_errors", "runts", "length_errors",
            "oversized", "empty", "garbage_bytes")


class FrameDecoder:
    """Streaming frame decoder: :meth:`feed` bytes, get back the complete frames.

    Every byte between two 0x00 delimiters is one candidate frame. A candidate that fails
    (bad COBS, shorter than header + CRC, CRC mismatch, length field mismatch, longer than
    ``max_payload``) is counted and dropped; decoding resumes at the next delimiter.
    ``dropped`` = ``cobs_errors + runts + crc_errors + length_errors + oversized``;
    ``garbage_bytes`` counts the encoded bytes of those frames (delimiters excluded).
    Consecutive delimiters (empty frames) are counted in ``empty`` and are not errors.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.max_encoded = cobs_max_encoded(OVERHEAD + max_payload)
        self._buf = bytearray()
        self._overflow = 0  # bytes seen of the current oversized frame
        self._overflow_head: bytes = b""
        self.bytes_rx = 0
        self.frames_ok = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.runts = 0
        self.length_errors = 0
        self.oversized = 0
        self.empty = 0
        self.garbage_bytes = 0

    @property
    def dropped(self) -> int:
        """Frames dropped for any reason (each is one resynchronisation)."""
        return (self.cobs_errors + self.runts + self.crc_errors + self.length_errors
                + self.oversized)

    @property
    def pending(self) -> int:
        """Bytes received after the last delimiter."""
        return len(self._buf) + self._overflow

    def reset_counters(self) -> None:
        """Zero the counters; a partial frame in progress is kept."""
        for name in COUNTERS:
            setattr(self, name, 0)

    def counters(self) -> dict[str, int]:
        out = {name: getattr(self, name) for name in COUNTERS}
        out["dropped"] = self.dropped
        return out

    def feed(self, data: bytes) -> list[Frame | Rejected]:
        """Consume ``data``; return the frames completed by it, in order.

        Besides valid frames the list holds a :class:`Rejected` for an oversized frame and for
        a CRC-valid frame with an inconsistent length field, so that a node can answer them.
        """
        self.bytes_rx += len(data)
        out: list[Frame | Rejected] = []
        start = 0
        n = len(data)
        while start <= n:
            z = data.find(b"\x00", start)
            if z < 0:
                self._append(data[start:])
                break
            self._append(data[start:z])
            item = self._finish()
            if item is not None:
                out.append(item)
            start = z + 1
        return out

    def _append(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._overflow:
            self._overflow += len(chunk)
            return
        self._buf += chunk
        if len(self._buf) > self.max_encoded:
            self._overflow = len(self._buf)
            self._overflow_head = bytes(self._buf[:16])
            self._buf.clear()

    def _finish(self) -> Frame | Rejected | None:
        if self._overflow:
            size = self._overflow
            self._overflow = 0
            self.oversized += 1
            self.garbage_bytes += size
            raw = _cobs_prefix(self._overflow_head, HEADER.size)
            seq = typ = None
            if len(raw) >= HEADER.size:
                _, typ, seq, _ = HEADER.unpack_from(raw)
            return Rejected("oversized", seq, typ, size)
        buf = bytes(self._buf)
        self._buf.clear()
        if not buf:
            self.empty += 1
            return None
        t0 = time.perf_counter_ns()
        try:
            raw = cobs_decode(buf)
        except CobsError:
            self.cobs_errors += 1
            self.garbage_bytes += len(buf)
            return None
        if len(raw) < OVERHEAD:
            self.runts += 1
            self.garbage_bytes += len(buf)
            return None
        body = raw[:-CRC.size]
        if CRC.unpack_from(raw, len(body))[0] != crc32(body):
            self.crc_errors += 1
            self.garbage_bytes += len(buf)
            return None
        version, typ, seq, length = HEADER.unpack_from(body)
        if length != len(body) - HEADER.size or length > self.max_payload:
            self.length_errors += 1
            self.garbage_bytes += len(buf)
            return Rejected("bad_length", seq, typ, len(body) - HEADER.size)
        self.frames_ok += 1
        return Frame(typ, seq, body[HEADER.size:], version, time.perf_counter_ns() - t0)
