"""The node's framing (``semqam_node.protocol.cframing``: csrc/link/sq_link.c through the
``_core`` extension) against the pure-Python reference (``protocol.framing``): byte-identical
COBS and frames, the same CRC-32 as zlib, and the same frames, rejections, counters and pending
bytes on random and hostile streams cut at random points.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from semqam_node import protocol as P
from semqam_node.protocol import cframing
from semqam_node.protocol import framing as ref
from semqam_node.server import NodeServer
from semqam_node.transport import SerialTransport

pytestmark = pytest.mark.skipif(cframing.FRAMING_BACKEND != "c",
                                reason="the _core extension is not built (pip install it)")


def test_node_and_host_run_the_c_framing(tmp_path: Path) -> None:
    assert P.FrameDecoder is cframing.FrameDecoder and P.encode_frame is cframing.encode_frame
    node = NodeServer(tmp_path / "state", backend="c")  # the INPUT / reply path of semqam-node
    assert isinstance(node.decoder, cframing.FrameDecoder)
    t = SerialTransport("loop://", open_timeout=0.5)  # the host's receive path
    assert isinstance(t.decoder, cframing.FrameDecoder)
    t.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_cobs_and_crc_identical(data: bytes) -> None:
    enc = P.cobs_encode(data)
    assert enc == ref.cobs_encode(data)
    assert P.cobs_decode(enc) == data
    assert cframing._core.link_crc32(data) == zlib.crc32(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_cobs_decode_agrees_on_any_bytes(data: bytes) -> None:
    try:
        want = ref.cobs_decode(data)
    except P.CobsError:
        with pytest.raises(P.CobsError):
            P.cobs_decode(data)
    else:
        assert P.cobs_decode(data) == want


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=P.MAX_PAYLOAD),
       st.integers(0, 255))
def test_frames_byte_identical(typ: int, seq: int, payload: bytes, version: int) -> None:
    assert P.encode_frame(typ, seq, payload, version) == \
        ref.encode_frame(typ, seq, payload, version)


def test_encode_frame_refuses_like_the_reference() -> None:
    for args in ((1, 0, bytes(P.MAX_PAYLOAD + 1)), (1, 65536, b""), (1, -1, b"")):
        with pytest.raises(ValueError):
            ref.encode_frame(*args)
        with pytest.raises(ValueError):
            P.encode_frame(*args)
    with pytest.raises(ValueError, match="0..255"):
        P.encode_frame(256, 0, b"")


def _bad_length(seq: int, claimed: int, payload: bytes) -> bytes:
    body = P.HEADER.pack(P.VERSION, P.MsgType.PING, seq, claimed) + payload
    return ref.cobs_encode(body + P.CRC.pack(zlib.crc32(body))) + b"\x00"


def _oversized(seq: int) -> bytes:
    body = P.HEADER.pack(P.VERSION, P.MsgType.PING, seq, 4200) + bytes(range(1, 201)) * 21
    return ref.cobs_encode(body + P.CRC.pack(zlib.crc32(body))) + b"\x00"


def _flip(wire: bytes, at: int, bit: int) -> bytes:
    b = bytearray(wire)
    b[at % len(b)] ^= 1 << bit
    return bytes(b)


_segment = st.one_of(
    st.builds(ref.encode_frame, st.integers(0, 255), st.integers(0, 0xFFFF),
              st.binary(max_size=300)),
    st.builds(_flip, st.builds(ref.encode_frame, st.just(0x10), st.integers(0, 0xFFFF),
                               st.binary(min_size=1, max_size=200)),
              st.integers(0, 10_000), st.integers(0, 7)),  # corrupted: CRC / COBS / delimiter
    st.builds(_bad_length, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
              st.binary(max_size=40)),
    st.binary(max_size=64),  # garbage, zeros included
    st.just(b"\x00\x00"),  # empty frames
    st.builds(lambda n, tail: bytes([7]) * n + tail, st.integers(4100, 4400),
              st.sampled_from([b"\x00", b""])),  # oversized without a header (maybe unfinished)
    st.builds(_oversized, st.integers(0, 0xFFFF)),  # oversized with a readable header
)


def _items(out: list) -> list[tuple]:
    rows = []
    for item in out:
        if isinstance(item, P.Frame):
            rows.append(("frame", item.version, item.type, item.seq, item.payload))
        else:
            assert isinstance(item, P.Rejected)
            rows.append((item.kind, item.seq, item.type, item.size))
    return rows


@settings(max_examples=150, deadline=None)
@given(st.lists(_segment, max_size=12), st.lists(st.integers(0, 20_000), max_size=8),
       st.sampled_from([P.MAX_PAYLOAD, 64, 0]))
def test_decoder_identical_on_hostile_streams(segments: list[bytes], cuts: list[int],
                                              max_payload: int) -> None:
    stream = b"".join(segments)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    c_dec, r_dec = P.FrameDecoder(max_payload), ref.FrameDecoder(max_payload)
    c_out: list = []
    r_out: list = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        c_out += c_dec.feed(stream[a:b])
        r_out += r_dec.feed(stream[a:b])
        assert c_dec.pending == r_dec.pending
    assert _items(c_out) == _items(r_out)
    assert c_dec.counters() == r_dec.counters()
    assert (c_dec.dropped, c_dec.bytes_rx, c_dec.max_encoded) == \
        (r_dec.dropped, r_dec.bytes_rx, r_dec.max_encoded)
    c_dec.reset_counters()
    r_dec.reset_counters()
    assert c_dec.counters() == r_dec.counters() and c_dec.pending == r_dec.pending


def test_decoder_frame_fields_and_time() -> None:
    wire = ref.encode_frame(P.MsgType.INPUT, 0xBEEF, b"\x00\x01" * 400, version=1)
    (frame,) = P.FrameDecoder().feed(bytearray(wire))
    assert frame == P.Frame(P.MsgType.INPUT, 0xBEEF, b"\x00\x01" * 400, 1)
    assert frame.decode_ns > 0
    assert P.FrameDecoder().feed(b"") == []
    with pytest.raises(ValueError, match="max_payload"):
        P.FrameDecoder(P.MAX_PAYLOAD + 1)
