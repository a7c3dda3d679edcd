"""Link messages (docs/protocol.md, sections 3 and 4): the message types and their strict
``pack``/``unpack``.

Every message is a small frozen dataclass with ``pack() -> bytes`` and ``unpack(payload)``;
``unpack`` checks lengths strictly and raises :class:`ProtocolError` with the error code the
node answers with. :func:`encode_message` / :func:`decode_message` join them to the framing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import ClassVar, Self

from ..conventions import TIMING_STAGES
from .cframing import encode_frame
from .framing import MAX_PAYLOAD, VERSION, Frame, crc32

__all__ = [
    "CFG_INDICES", "INFO_ACTIVE", "INFO_ENCODER", "INFO_FIXED", "INFO_INSECURE", "INFO_TRANSFER",
    "INFO_TRUST",
    "MAX_CHUNK",
    "MAX_TEXT", "MESSAGES", "NO_SAMPLE", "REPLY_BIT", "REQUESTS", "SNR_MAX_CDB", "SNR_MIN_CDB",
    "SYM_INDICES", "TIMING_STAGES", "Backend", "Config", "ConfigAck", "Constellation", "Error",
    "ErrorCode", "FlashAbort", "FlashAbortAck", "FlashBegin", "FlashBeginAck", "FlashChunk",
    "FlashChunkAck", "FlashCommit", "FlashCommitAck", "Hello", "Info", "Input", "Message",
    "MsgType", "Ping", "Pong", "ProtocolError", "SnrAck", "SnrFeedback", "StageTiming", "Stats",
    "StatsRequest", "Symbols", "decode_message", "encode_message", "reply_type", "type_name",
]

MAX_TEXT = 1024  # longest ERROR text in bytes (longer text is cut by the sender)
NO_SAMPLE = 0xFFFFFFFF  # ERROR.ref_sample when the request carried no sample seq
SNR_MIN_CDB = -10000  # SNR_FEEDBACK range the node accepts: -100.00 dB ...
SNR_MAX_CDB = 10000  # ... +100.00 dB


class ErrorCode(IntEnum):
    """``ERROR.code``: why a request was refused."""

    BAD_FRAME = 1  # CRC-valid frame whose length field disagrees with its size
    OVERSIZED = 2  # frame longer than MAX_PAYLOAD; dropped unread
    VERSION = 3  # protocol version this node does not speak
    UNKNOWN_TYPE = 4  # message type this node does not know (or a reply type sent to it)
    BAD_LENGTH = 5  # payload length wrong for the message type (INPUT: wrong sample size)
    RANGE = 6  # a field out of range (SNR, K, constellation, chunk size)
    NO_BUNDLE = 7  # INPUT/SNR/CONFIG before any bundle is active
    NO_ENCODER = 8  # a bundle is active but the encoder could not be loaded
    ENCODE = 9  # the encoder raised on this sample
    FLASH_STATE = 10  # FLASH_CHUNK/COMMIT without a transfer, or commit before all bytes
    FLASH_OFFSET = 11  # chunk offset ahead of the acknowledged offset
    FLASH_CRC = 12  # chunk CRC does not match its data
    FLASH_HASH = 13  # whole-transfer SHA-256 differs from FLASH_BEGIN's
    ARCHIVE = 14  # the transfer is not a valid bundle archive (format, names, traversal)
    SIGNATURE = 15  # unsigned bundle for a node holding a key, or a signature that fails
    BUNDLE = 16  # bundle verification failed (hashes, sizes, manifest)
    DIMENSIONS = 17  # bundle dimensions outside this runtime's limits
    STORAGE = 18  # the node could not write its state directory
    INTERNAL = 19  # unexpected exception on the node; it keeps serving
    ROLLBACK = 20  # bundle_version older than the active bundle's (anti-rollback)


class ProtocolError(Exception):
    """A payload that does not parse; ``code`` is the ERROR code a node answers with."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class MsgType(IntEnum):
    HELLO = 0x01
    PING = 0x02
    STATS_REQ = 0x03
    SNR_FEEDBACK = 0x04
    CONFIG = 0x05
    INPUT = 0x10
    FLASH_BEGIN = 0x20
    FLASH_CHUNK = 0x21
    FLASH_COMMIT = 0x22
    FLASH_ABORT = 0x23
    INFO = 0x81
    PONG = 0x82
    STATS = 0x83
    SNR_ACK = 0x84
    CONFIG_ACK = 0x85
    SYMBOLS = 0x90
    FLASH_BEGIN_ACK = 0xA0
    FLASH_CHUNK_ACK = 0xA1
    FLASH_COMMIT_ACK = 0xA2
    FLASH_ABORT_ACK = 0xA3
    ERROR = 0xFF


REPLY_BIT = 0x80


def reply_type(request_type: int) -> int:
    """The reply type of a request type (``request | 0x80``); ERROR may answer any request."""
    return request_type | REPLY_BIT


class Constellation(IntEnum):
    SEMANTIC = 1
    STANDARD = 2


class Backend(IntEnum):
    NONE = 0
    C = 1
    LITERT = 2


def _need(payload: bytes, n: int, name: str, exact: bool = True) -> None:
    if (len(payload) != n) if exact else (len(payload) < n):
        what = "" if exact else "at least "
        raise ProtocolError(ErrorCode.BAD_LENGTH,
                            f"{name}: payload of {len(payload)} bytes, expected {what}{n}")


class Message:
    """Base of all messages: ``TYPE`` and strict ``pack``/``unpack``."""

    TYPE: ClassVar[int]
    _S: ClassVar[struct.Struct | None] = None

    def pack(self) -> bytes:
        assert self._S is not None
        return self._S.pack(*(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        assert cls._S is not None
        _need(payload, cls._S.size, cls.__name__)
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class _Empty(Message):
    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, 0, cls.__name__)
        return cls()


@dataclass(frozen=True)
class Hello(_Empty):
    """Ask for INFO."""

    TYPE: ClassVar[int] = MsgType.HELLO


@dataclass(frozen=True)
class Ping(Message):
    """Echo request; ``data`` (0..MAX_PAYLOAD bytes) comes back in PONG."""

    TYPE: ClassVar[int] = MsgType.PING
    data: bytes = b""

    def pack(self) -> bytes:
        return bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        return cls(bytes(payload))


@dataclass(frozen=True)
class Pong(Ping):
    TYPE: ClassVar[int] = MsgType.PONG


@dataclass(frozen=True)
class StatsRequest(Message):
    """Ask for STATS; ``reset`` = 1 zeroes the counters after reporting them."""

    TYPE: ClassVar[int] = MsgType.STATS_REQ
    _S: ClassVar[struct.Struct] = struct.Struct("<B")
    reset: int = 0


@dataclass(frozen=True)
class SnrFeedback(Message):
    """Channel SNR in 0.01 dB; the node's policy picks K unless ``k_override`` (1..N) is set."""

    TYPE: ClassVar[int] = MsgType.SNR_FEEDBACK
    _S: ClassVar[struct.Struct] = struct.Struct("<hH")
    snr_cdb: int
    k_override: int = 0


@dataclass(frozen=True)
class SnrAck(Message):
    """The K now in force and the K the policy alone would pick at this SNR."""

    TYPE: ClassVar[int] = MsgType.SNR_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<hHH")
    snr_cdb: int
    k: int
    policy_k: int


CFG_INDICES = 0x01  # CONFIG.flags bit 0: SYMBOLS also carry the K codeword indices


@dataclass(frozen=True)
class Config(Message):
    """Select the constellation the node maps with, and whether SYMBOLS carry indices."""

    TYPE: ClassVar[int] = MsgType.CONFIG
    _S: ClassVar[struct.Struct] = struct.Struct("<BB")
    constellation: int = Constellation.SEMANTIC
    flags: int = 0


@dataclass(frozen=True)
class ConfigAck(Message):
    TYPE: ClassVar[int] = MsgType.CONFIG_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<BBBx")
    constellation: int
    flags: int
    frac_bits: int


@dataclass(frozen=True)
class Input(Message):
    """One raw sensor sample (``input_size`` bytes, e.g. 784 uint8 pixels) with its seq."""

    TYPE: ClassVar[int] = MsgType.INPUT
    _S: ClassVar[struct.Struct] = struct.Struct("<I")
    sample_seq: int
    sample: bytes

    def pack(self) -> bytes:
        return self._S.pack(self.sample_seq) + bytes(self.sample)

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, cls._S.size, "Input", exact=False)
        return cls(cls._S.unpack_from(payload)[0], bytes(payload[cls._S.size:]))


SYM_INDICES = 0x01  # SYMBOLS.flags bit 0: the indices array is present


@dataclass(frozen=True)
class Symbols(Message):
    """The node's answer to INPUT: K positions, optional indices, K I/Q pairs, timings (µs).

    ``iq`` is a flat tuple ``(I0, Q0, I1, Q1, ...)`` of int16 in Q-format with ``frac_bits``;
    ``timings_us`` follows :data:`TIMING_STAGES`.
    """

    TYPE: ClassVar[int] = MsgType.SYMBOLS
    _S: ClassVar[struct.Struct] = struct.Struct("<IHBBBB")
    sample_seq: int
    k: int
    frac_bits: int
    constellation: int
    positions: tuple[int, ...]
    iq: tuple[int, ...]
    indices: tuple[int, ...] | None = None
    timings_us: tuple[int, ...] = field(default=())

    def pack(self) -> bytes:
        k = self.k
        if len(self.positions) != k or len(self.iq) != 2 * k:
            raise ValueError(f"Symbols: K={k} but {len(self.positions)} positions, "
                             f"{len(self.iq)} I/Q values")
        if self.indices is not None and len(self.indices) != k:
            raise ValueError(f"Symbols: K={k} but {len(self.indices)} indices")
        flags = SYM_INDICES if self.indices is not None else 0
        parts = [self._S.pack(self.sample_seq, k, self.frac_bits, self.constellation, flags,
                              len(self.timings_us)),
                 struct.pack(f"<{k}H", *self.positions)]
        if self.indices is not None:
            parts.append(struct.pack(f"<{k}H", *self.indices))
        parts.append(struct.pack(f"<{2 * k}h", *self.iq))
        parts.append(struct.pack(f"<{len(self.timings_us)}I", *self.timings_us))
        return b"".join(parts)

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, cls._S.size, "Symbols", exact=False)
        seq, k, frac, const, flags, nt = cls._S.unpack_from(payload)
        has_idx = bool(flags & SYM_INDICES)
        _need(payload, cls._S.size + (8 if has_idx else 6) * k + 4 * nt, "Symbols")
        off = cls._S.size
        positions = struct.unpack_from(f"<{k}H", payload, off)
        off += 2 * k
        indices = None
        if has_idx:
            indices = struct.unpack_from(f"<{k}H", payload, off)
            off += 2 * k
        iq = struct.unpack_from(f"<{2 * k}h", payload, off)
        off += 4 * k
        timings = struct.unpack_from(f"<{nt}I", payload, off)
        return cls(seq, k, frac, const, positions, iq, indices, timings)


def _pack_str(s: str, limit: int = 255) -> bytes:
    raw = s.encode("utf-8")[:limit]
    return bytes([len(raw)]) + raw


def _unpack_str(payload: bytes, off: int, name: str) -> tuple[str, int]:
    if off >= len(payload):
        raise ProtocolError(ErrorCode.BAD_LENGTH, f"{name}: payload ends before a string")
    n = payload[off]
    if off + 1 + n > len(payload):
        raise ProtocolError(ErrorCode.BAD_LENGTH, f"{name}: string of {n} bytes runs past the end")
    return payload[off + 1:off + 1 + n].decode("utf-8", "replace"), off + 1 + n


INFO_ACTIVE = 0x01  # INFO.flags: a verified bundle is active
INFO_ENCODER = 0x02  # the encoder is loaded and INPUT will be answered with SYMBOLS
INFO_TRUST = 0x04  # the node holds a trusted key (refuses unsigned bundles)
INFO_TRANSFER = 0x08  # a staged (resumable) transfer exists
INFO_INSECURE = 0x10  # started with --insecure-accept-unsigned: no key, accepts any bundle
INFO_FIXED = 0x20  # the bundle is built into the firmware (MCU): every FLASH_* is refused


@dataclass(frozen=True)
class Info(Message):
    """The node's identity, active bundle, dimensions, limits and state (reply to HELLO)."""

    TYPE: ClassVar[int] = MsgType.INFO
    _S: ClassVar[struct.Struct] = struct.Struct("<BBBBIIHHHHHhBBBBHHHHHHH8s32s")
    flags: int
    active_slot: int  # 0 none, 1 slot_a, 2 slot_b
    backend: int  # Backend
    constellation: int  # Constellation in use
    boot_id: int
    uptime_ms: int
    order: int  # M
    n_concepts: int  # N
    latent_dim: int  # D
    input_size: int
    k: int
    snr_cdb: int
    frac_bits_semantic: int
    frac_bits_standard: int
    config_flags: int
    proto_version: int
    max_payload: int
    max_order: int
    max_concepts: int
    max_latent: int
    max_input: int
    max_chunk: int
    staged_offset_kib: int  # acknowledged bytes of a staged transfer, in KiB (0 if none)
    bundle_id: bytes  # 8 raw bytes (16 hex digits of the manifest), zeros when none
    manifest_sha256: bytes  # SHA-256 of the active manifest.json, zeros when none
    node_id: str = ""
    runtime_version: str = ""
    status: str = ""  # one line: "ready", or why there is no bundle / encoder

    _NFIX: ClassVar[int] = 25

    def pack(self) -> bytes:
        vals = [getattr(self, f.name) for f in fields(self)][:self._NFIX]
        return (self._S.pack(*vals) + _pack_str(self.node_id) + _pack_str(self.runtime_version)
                + _pack_str(self.status))

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, cls._S.size + 3, "Info", exact=False)
        vals = list(cls._S.unpack_from(payload))
        off = cls._S.size
        for name in ("node_id", "runtime_version", "status"):
            s, off = _unpack_str(payload, off, f"Info.{name}")
            vals.append(s)
        if off != len(payload):
            raise ProtocolError(ErrorCode.BAD_LENGTH,
                                f"Info: {len(payload) - off} bytes after the last string")
        return cls(*vals)

    @property
    def bundle_id_hex(self) -> str:
        return self.bundle_id.hex()


@dataclass(frozen=True)
class StageTiming:
    name: str
    count: int
    mean_us: int
    p50_us: int
    p99_us: int
    max_us: int


_STAGE = struct.Struct("<IIIII")
_COUNTER = struct.Struct("<I")


@dataclass(frozen=True)
class Stats(Message):
    """Named u32 counters and per-stage timing summaries (self-describing, see docs)."""

    TYPE: ClassVar[int] = MsgType.STATS
    counters: tuple[tuple[str, int], ...]
    stages: tuple[StageTiming, ...] = ()

    def pack(self) -> bytes:
        out = bytearray([len(self.counters)])
        for name, value in self.counters:
            out += _pack_str(name) + _COUNTER.pack(min(int(value), 0xFFFFFFFF))
        out.append(len(self.stages))
        for s in self.stages:
            clip = [min(max(int(v), 0), 0xFFFFFFFF)
                    for v in (s.count, s.mean_us, s.p50_us, s.p99_us, s.max_us)]
            out += _pack_str(s.name) + _STAGE.pack(*clip)
        return bytes(out)

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, 2, "Stats", exact=False)
        off = 1
        counters = []
        for _ in range(payload[0]):
            name, off = _unpack_str(payload, off, "Stats.counter")
            _need(payload[off:off + 4], 4, f"Stats counter {name}")
            counters.append((name, _COUNTER.unpack_from(payload, off)[0]))
            off += 4
        _need(payload[off:off + 1], 1, "Stats stage count")
        n_stages = payload[off]
        off += 1
        stages = []
        for _ in range(n_stages):
            name, off = _unpack_str(payload, off, "Stats.stage")
            _need(payload[off:off + _STAGE.size], _STAGE.size, f"Stats stage {name}")
            stages.append(StageTiming(name, *_STAGE.unpack_from(payload, off)))
            off += _STAGE.size
        if off != len(payload):
            raise ProtocolError(ErrorCode.BAD_LENGTH,
                                f"Stats: {len(payload) - off} bytes after the last stage")
        return cls(tuple(counters), tuple(stages))

    def as_dict(self) -> dict[str, int]:
        return dict(self.counters)


@dataclass(frozen=True)
class FlashBegin(Message):
    """Start or resume a transfer of ``total_size`` bytes whose SHA-256 is ``sha256``."""

    TYPE: ClassVar[int] = MsgType.FLASH_BEGIN
    _S: ClassVar[struct.Struct] = struct.Struct("<IH32s")
    total_size: int
    chunk_size: int
    sha256: bytes


@dataclass(frozen=True)
class FlashBeginAck(Message):
    """Where to continue: 0 for a fresh transfer, the acknowledged offset when resumed."""

    TYPE: ClassVar[int] = MsgType.FLASH_BEGIN_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<IHBx")
    offset: int
    chunk_size: int
    resumed: int


_CHUNK = struct.Struct("<II")
MAX_CHUNK = MAX_PAYLOAD - _CHUNK.size


@dataclass(frozen=True)
class FlashChunk(Message):
    """``data`` at ``offset`` of the transfer; ``crc`` = CRC-32 of ``data``."""

    TYPE: ClassVar[int] = MsgType.FLASH_CHUNK
    offset: int
    crc: int
    data: bytes

    def pack(self) -> bytes:
        return _CHUNK.pack(self.offset, self.crc) + bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, _CHUNK.size + 1, "FlashChunk", exact=False)
        offset, crc = _CHUNK.unpack_from(payload)
        return cls(offset, crc, bytes(payload[_CHUNK.size:]))

    @classmethod
    def make(cls, offset: int, data: bytes) -> FlashChunk:
        return cls(offset, crc32(data), data)


@dataclass(frozen=True)
class FlashChunkAck(Message):
    """All bytes before ``offset`` are stored durably."""

    TYPE: ClassVar[int] = MsgType.FLASH_CHUNK_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<I")
    offset: int


@dataclass(frozen=True)
class FlashCommit(Message):
    TYPE: ClassVar[int] = MsgType.FLASH_COMMIT
    _S: ClassVar[struct.Struct] = struct.Struct("<32s")
    sha256: bytes


@dataclass(frozen=True)
class FlashCommitAck(Message):
    """The bundle is verified and active in ``slot`` (1 = slot_a, 2 = slot_b)."""

    TYPE: ClassVar[int] = MsgType.FLASH_COMMIT_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<B8s32s")
    slot: int
    bundle_id: bytes
    manifest_sha256: bytes


@dataclass(frozen=True)
class FlashAbort(_Empty):
    """Discard the staged transfer (the active bundle is untouched)."""

    TYPE: ClassVar[int] = MsgType.FLASH_ABORT


@dataclass(frozen=True)
class FlashAbortAck(_Empty):
    TYPE: ClassVar[int] = MsgType.FLASH_ABORT_ACK


_ERR = struct.Struct("<HBxI")


@dataclass(frozen=True)
class Error(Message):
    """Refusal of the request whose seq the header carries; ``text`` is UTF-8, one line."""

    TYPE: ClassVar[int] = MsgType.ERROR
    code: int
    ref_type: int
    text: str = ""
    ref_sample: int = NO_SAMPLE

    def pack(self) -> bytes:
        raw = self.text.encode("utf-8")[:MAX_TEXT]
        return _ERR.pack(self.code, self.ref_type, self.ref_sample) + raw

    @classmethod
    def unpack(cls, payload: bytes) -> Self:
        _need(payload, _ERR.size, "Error", exact=False)
        if len(payload) > _ERR.size + MAX_TEXT:
            raise ProtocolError(ErrorCode.BAD_LENGTH,
                                f"Error: text of {len(payload) - _ERR.size} bytes > {MAX_TEXT}")
        code, ref_type, ref_sample = _ERR.unpack_from(payload)
        return cls(code, ref_type, payload[_ERR.size:].decode("utf-8", "replace"), ref_sample)

    @property
    def code_name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"code {self.code}"

    def __str__(self) -> str:
        return f"{self.code_name}: {self.text}"


MESSAGES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Ping, StatsRequest, SnrFeedback, Config, Input, FlashBegin, FlashChunk,
                FlashCommit, FlashAbort, Info, Pong, Stats, SnrAck, ConfigAck, Symbols,
                FlashBeginAck, FlashChunkAck, FlashCommitAck, FlashAbortAck, Error)
}
REQUESTS = frozenset(t for t in MESSAGES if not t & REPLY_BIT)


def encode_message(msg: Message, seq: int) -> bytes:
    """The wire bytes of one frame carrying ``msg`` with ``seq``."""
    return encode_frame(msg.TYPE, seq, msg.pack())


def decode_message(frame: Frame) -> Message:
    """The message in a frame; :class:`ProtocolError` for an unknown type or bad payload."""
    if frame.version != VERSION:
        raise ProtocolError(ErrorCode.VERSION,
                            f"protocol version {frame.version}; this side speaks {VERSION}")
    cls = MESSAGES.get(frame.type)
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type 0x{frame.type:02x}")
    return cls.unpack(frame.payload)


def type_name(msg_type: int | None) -> str:
    if msg_type is None:
        return "?"
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"0x{msg_type:02x}"
