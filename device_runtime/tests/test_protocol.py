"""Link protocol (docs/protocol.md): COBS, CRC-32, frames, the streaming decoder, messages."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from semqam_node import protocol as P
from semqam_node.protocol import framing as ref

# ------------------------------------------------------------------------------ COBS

# The examples of the COBS article on Wikipedia (after Cheshire & Baker, IEEE/ACM ToN 1999),
# written out by hand; the trailing 0x00 delimiter is not part of cobs_encode's output.
R = bytes(range(1, 255))  # 01 02 ... FE (254 bytes)
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (R, b"\xff" + R),
    (b"\x00" + R, b"\x01\xff" + R),
    (R + b"\xff", b"\xff" + R + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
    (b"", b"\x01"),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_matches_hand_computed_vectors(raw: bytes, encoded: bytes) -> None:
    assert P.cobs_encode(raw) == encoded
    assert P.cobs_decode(encoded) == raw


def test_cobs_round_trip_and_overhead_bound() -> None:
    rng = random.Random(7)
    lengths = [0, 1, 253, 254, 255, 507, 508, 509, 1000, 4106]
    for n in lengths + [rng.randrange(0, 5000) for _ in range(200)]:
        zero_rate = rng.choice([0.0, 0.01, 0.5, 1.0])
        raw = bytes(0 if rng.random() < zero_rate else rng.randrange(1, 256) for _ in range(n))
        enc = P.cobs_encode(raw)
        assert 0 not in enc
        assert len(enc) <= P.cobs_max_encoded(n)
        assert P.cobs_decode(enc) == raw


@pytest.mark.parametrize(("bad", "why"), [
    (b"\x05\x11\x22", "claims 4 bytes"),
    (b"\x02\x11\x00\x01", "0x00"),
    (b"\xff" + bytes(range(1, 100)), "claims 254"),
])
def test_cobs_decode_rejects_malformed(bad: bytes, why: str) -> None:
    with pytest.raises(P.CobsError, match=why):
        P.cobs_decode(bad)


# ------------------------------------------------------------------------------ CRC and frames

def test_crc32_check_value_and_zlib() -> None:
    assert P.crc32(b"123456789") == 0xCBF43926  # the CRC-32/IEEE 802.3 check value
    rng = random.Random(1)
    for _ in range(20):
        data = rng.randbytes(rng.randrange(0, 300))
        assert P.crc32(data) == zlib.crc32(data) & 0xFFFFFFFF


def test_worked_example_of_the_docs() -> None:
    """docs/protocol.md: SNR_FEEDBACK 10.50 dB, policy K, seq 0x0102, byte by byte."""
    raw = bytes.fromhex("01 04 02 01 04 00 1a 04 00 00")
    assert zlib.crc32(raw) == 0x16CA03BC
    wire = P.encode_message(P.SnrFeedback(1050, 0), 0x0102)
    assert wire == bytes.fromhex("06 01 04 02 01 04 03 1a 04 01 05 bc 03 ca 16 00")
    frames = P.FrameDecoder().feed(wire)
    assert frames == [P.Frame(P.MsgType.SNR_FEEDBACK, 0x0102, bytes.fromhex("1a 04 00 00"))]
    assert P.decode_message(frames[0]) == P.SnrFeedback(1050, 0)


def test_frame_layout_header_payload_crc() -> None:
    wire = P.encode_frame(0x42, 0xBEEF, b"\x00abc")
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    raw = P.cobs_decode(wire[:-1])
    version, typ, seq, length = struct.unpack_from("<BBHH", raw)
    assert (version, typ, seq, length) == (P.VERSION, 0x42, 0xBEEF, 4)
    assert raw[6:10] == b"\x00abc"
    assert struct.unpack_from("<I", raw, 10)[0] == zlib.crc32(raw[:10])
    assert len(raw) == 14


def test_encode_frame_limits() -> None:
    P.encode_frame(1, 0, bytes(P.MAX_PAYLOAD))
    with pytest.raises(ValueError, match="exceeds MAX_PAYLOAD"):
        P.encode_frame(1, 0, bytes(P.MAX_PAYLOAD + 1))
    with pytest.raises(ValueError, match="seq"):
        P.encode_frame(1, 65536)
    assert len(P.encode_frame(1, 0, bytes(P.MAX_PAYLOAD))) <= P.MAX_FRAME + 1


# ------------------------------------------------------------------------------ decoder

def _frames(*payloads: bytes) -> list[bytes]:
    return [P.encode_frame(P.MsgType.PING, i, p) for i, p in enumerate(payloads)]


def test_decoder_byte_by_byte_and_in_one_chunk() -> None:
    wires = _frames(b"", b"\x00", bytes(300), bytes(range(256)) * 3)
    stream = b"".join(wires)
    whole = P.FrameDecoder().feed(stream)
    dec = P.FrameDecoder()
    one = [f for i in range(len(stream)) for f in dec.feed(stream[i:i + 1])]
    assert whole == one
    assert [f.payload for f in whole] == [b"", b"\x00", bytes(300), bytes(range(256)) * 3]
    assert dec.frames_ok == 4 and dec.dropped == 0 and dec.bytes_rx == len(stream)


def test_decoder_resynchronises_after_garbage() -> None:
    good = _frames(b"one", b"two")
    dec = P.FrameDecoder()
    junk = b"\x17\x99\xfe\x03"  # no 0x00: glued to the front of the next frame
    out = dec.feed(junk + good[0] + b"\x05garbage\x00" + good[1])
    assert [f.payload for f in out if isinstance(f, P.Frame)] == [b"two"]
    assert dec.frames_ok == 1
    assert dec.dropped == 2  # junk + first frame, then b"\x05garbage"
    assert dec.garbage_bytes == len(junk) + len(good[0]) - 1 + len(b"\x05garbage")


def test_decoder_counts_each_kind_of_bad_frame() -> None:
    dec = P.FrameDecoder()
    wire = P.encode_frame(P.MsgType.PING, 5, b"hello")
    body = P.HEADER.pack(P.VERSION, P.MsgType.PING, 5, 5) + b"hellp"  # one bit off
    dec.feed(P.cobs_encode(body + P.CRC.pack(P.crc32(body[:-1] + b"o"))) + b"\x00")
    assert dec.crc_errors == 1
    dec.feed(b"\x09\x01\x02\x00")  # block claims 8 bytes, 2 follow: bad COBS
    assert dec.cobs_errors == 1
    dec.feed(P.cobs_encode(b"\x01\x02\x03") + b"\x00")  # shorter than header + CRC
    assert dec.runts == 1
    dec.feed(b"\x00\x00")
    assert dec.empty == 2
    body = P.HEADER.pack(P.VERSION, P.MsgType.PING, 9, 7) + b"abc"  # length says 7, has 3
    out = dec.feed(P.cobs_encode(body + P.CRC.pack(P.crc32(body))) + b"\x00")
    assert out == [P.Rejected("bad_length", 9, P.MsgType.PING, 3)]
    assert dec.length_errors == 1
    assert dec.dropped == 4 and dec.frames_ok == 0
    assert dec.feed(wire)[0].payload == b"hello"


def test_decoder_drops_oversized_frame_and_reports_its_seq() -> None:
    dec = P.FrameDecoder(max_payload=64)
    big = P.encode_frame(P.MsgType.PING, 0x1234, bytes(range(1, 101)))  # 100 > 64
    out = dec.feed(big + P.encode_frame(P.MsgType.PING, 1, b"ok"))
    assert isinstance(out[0], P.Rejected) and out[0].kind == "oversized"
    assert (out[0].seq, out[0].type) == (0x1234, P.MsgType.PING)
    assert out[1].payload == b"ok"
    assert dec.oversized == 1 and dec.garbage_bytes == len(big) - 1
    # an endless stream without a delimiter never grows the buffer beyond one frame (the C
    # decoder's buffer is a fixed array; the reference's is checked here)
    dec.feed(b"\x01" * 100_000)
    assert dec.pending == 100_000
    reference = ref.FrameDecoder(max_payload=64)
    reference.feed(b"\x01" * 100_000)
    assert len(reference._buf) <= reference.max_encoded
    assert dec.feed(b"\x00") and dec.oversized == 2


# ------------------------------------------------------------------------------ messages

INFO = P.Info(
    P.INFO_ACTIVE | P.INFO_ENCODER, 2, P.Backend.C, P.Constellation.SEMANTIC, 0xDEADBEEF, 1234,
    256, 16, 8, 784, 6, -250, 12, 14, 0, 1, 4096, 1024, 256, 256, 4092, 4088, 3,
    bytes.fromhex("0123456789abcdef"), bytes(range(32)), "pi-1", "0.1.0", "ready")

MESSAGES = [
    P.Hello(), P.Ping(b""), P.Ping(b"\x00\xff" * 10), P.Pong(b"x"), P.StatsRequest(1),
    P.SnrFeedback(-1000, 0), P.SnrFeedback(2000, 5), P.SnrAck(2000, 5, 7),
    P.Config(P.Constellation.STANDARD, P.CFG_INDICES), P.ConfigAck(2, 1, 14),
    P.Input(42, bytes(range(256)) * 3 + bytes(16)),
    P.Symbols(42, 3, 14, 1, (5, 0, 9), (1, -1, 32767, -32768, 0, 7)),
    P.Symbols(43, 2, 12, 2, (1, 2), (3, 4, 5, 6), (15, 0), (10, 20, 30, 40, 50)),
    P.Symbols(44, 0, 12, 1, (), ()),
    INFO,
    P.Stats((("frames_ok", 10), ("crc_errors", 0)),
            (P.StageTiming("neural", 10, 120, 110, 300, 350),)),
    P.Stats(()),
    P.FlashBegin(123456, 2048, bytes(range(32))), P.FlashBeginAck(4096, 2048, 1),
    P.FlashChunk.make(4096, b"\x00\x01\x02"), P.FlashChunkAck(4099),
    P.FlashCommit(bytes(32)), P.FlashCommitAck(1, bytes(8), bytes(range(32))),
    P.FlashAbort(), P.FlashAbortAck(),
    P.Error(P.ErrorCode.BAD_LENGTH, P.MsgType.INPUT, "sample of 3 bytes; this bundle takes 784", 9),
    P.Error(P.ErrorCode.RANGE, P.MsgType.SNR_FEEDBACK, "é ünïcode"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_message_round_trip_through_a_frame(msg: P.Message) -> None:
    wire = P.encode_message(msg, 77)
    (frame,) = P.FrameDecoder().feed(wire)
    assert frame.type == msg.TYPE and frame.seq == 77
    assert P.decode_message(frame) == msg


def test_every_type_has_its_reply_type() -> None:
    for t in P.REQUESTS:
        assert P.reply_type(t) in P.MESSAGES, P.type_name(t)
    assert P.reply_type(P.MsgType.INPUT) == P.MsgType.SYMBOLS


FIXED = [P.StatsRequest, P.SnrFeedback, P.SnrAck, P.Config, P.ConfigAck, P.FlashBegin,
         P.FlashBeginAck, P.FlashChunkAck, P.FlashCommit, P.FlashCommitAck]


@pytest.mark.parametrize("cls", FIXED, ids=lambda c: c.__name__)
def test_fixed_size_messages_reject_any_other_length(cls: type[P.Message]) -> None:
    n = cls._S.size
    cls.unpack(bytes(n))
    for bad in (0, n - 1, n + 1):
        if bad == n or bad < 0:
            continue
        with pytest.raises(P.ProtocolError, match="expected") as e:
            cls.unpack(bytes(bad))
        assert e.value.code == P.ErrorCode.BAD_LENGTH


@pytest.mark.parametrize("cls", [P.Hello, P.FlashAbort, P.FlashAbortAck])
def test_empty_messages_reject_a_payload(cls: type[P.Message]) -> None:
    with pytest.raises(P.ProtocolError):
        cls.unpack(b"\x00")


def test_variable_messages_check_their_lengths() -> None:
    with pytest.raises(P.ProtocolError, match="at least 4"):
        P.Input.unpack(b"\x01\x02\x03")
    assert P.Input.unpack(b"\x01\x00\x00\x00") == P.Input(1, b"")
    with pytest.raises(P.ProtocolError, match="at least 9"):
        P.FlashChunk.unpack(bytes(8))  # a chunk carries at least one byte
    sym = MESSAGES[12].pack()
    for cut in (len(sym) - 1, len(sym) + 1, 9):
        with pytest.raises(P.ProtocolError):
            P.Symbols.unpack((sym + b"\x00")[:cut])
    with pytest.raises(ValueError, match="K=3"):
        P.Symbols(1, 3, 0, 1, (1, 2), (1, 2, 3, 4, 5, 6)).pack()
    info = INFO.pack()
    for bad in (info[:-1], info + b"\x00", info[:P.Info._S.size + 2]):
        with pytest.raises(P.ProtocolError):
            P.Info.unpack(bad)
    stats = MESSAGES[15].pack()
    for bad in (stats[:-1], stats + b"\x00", stats[:3], b"\x01"):
        with pytest.raises(P.ProtocolError):
            P.Stats.unpack(bad)
    with pytest.raises(P.ProtocolError, match="at least 8"):
        P.Error.unpack(bytes(7))
    with pytest.raises(P.ProtocolError, match="text"):
        P.Error.unpack(bytes(8 + P.MAX_TEXT + 1))
    assert len(P.Error(1, 1, "x" * 5000).pack()) == 8 + P.MAX_TEXT  # the sender cuts long text


def test_decode_message_refuses_unknown_type_and_version() -> None:
    with pytest.raises(P.ProtocolError, match="unknown message type 0x7e") as e:
        P.decode_message(P.Frame(0x7E, 1, b""))
    assert e.value.code == P.ErrorCode.UNKNOWN_TYPE
    with pytest.raises(P.ProtocolError, match="version 2") as e:
        P.decode_message(P.Frame(P.MsgType.HELLO, 1, b"", version=2))
    assert e.value.code == P.ErrorCode.VERSION


def test_max_payload_fits_the_largest_messages() -> None:
    """INPUT of the runtime's largest sample and SYMBOLS of the largest K fit one frame."""
    assert len(P.Input(0, bytes(4092)).pack()) == P.MAX_PAYLOAD
    k = 256  # SQ_MAX_N
    sym = P.Symbols(0, k, 12, 1, tuple(range(k)), (0,) * 2 * k, tuple(range(k)), (0,) * 5)
    assert len(sym.pack()) <= P.MAX_PAYLOAD
    assert len(P.FlashChunk.make(0, bytes(P.MAX_CHUNK)).pack()) == P.MAX_PAYLOAD
