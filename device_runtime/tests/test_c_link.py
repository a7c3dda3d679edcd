"""The C link layer (csrc/link/: sq_link + sq_server, what the Cortex-M firmware runs) against
the Python protocol: byte-identical frames and payloads for every message type, the same decoder
counters for every bad-frame case, and the same replies as the Python node on the same requests.

The C code is built here as a shared library (the host C compiler, -Werror) with a model
generated from a synthetic bundle (semqam_node.mcu_model) and driven through ctypes.
"""

from __future__ import annotations

import ctypes as C
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from semqam_node import protocol as P
from semqam_node.mcu_model import write_model_sources
from semqam_node.node import Node
from semqam_node.protocol import framing as ref
from semqam_node.server import NodeServer
from semqam_node.testing import synthetic_bundle

CSRC = Path(__file__).resolve().parents[1] / "csrc"
CORE = ["sq_kernels.c", "sq_pipeline.c", "sq_dispatch.c", "ports/x86_avx2.c",
        "ports/x86_avx512_vnni.c", "ports/aarch64_neon.c", "ports/armv7em_dsp.c"]
LINK = ["link/sq_link.c", "link/sq_server.c", "link/tests/host_node.c"]
CC = shutil.which("cc") or shutil.which("gcc")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_bundle(tmp_path_factory.mktemp("b") / "bundle", n_concepts=32,
                            latent_dim=4, order=16, seed=3)


@pytest.fixture(scope="module")
def lib(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> C.CDLL:
    if CC is None:
        pytest.fail("no C compiler (cc/gcc) on PATH; the C link layer cannot be tested")
    out = tmp_path_factory.mktemp("clink")
    write_model_sources(bundle, out)
    so = out / "libsqlink.so"
    cmd = [CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
           "-ffp-contract=off", "-fPIC", "-shared", "-DSQM_DOUBLE_SCALES=1",
           f"-I{CSRC}", f"-I{CSRC / 'link'}", f"-I{out}", "-o", str(so),
           *(str(CSRC / f) for f in CORE + LINK), str(out / "sqm_model.c"),
           str(out / "sqm_identity.c")]
    subprocess.run(cmd, check=True)
    lib = C.CDLL(str(so))
    lib.sql_crc32.restype = C.c_uint32
    lib.sql_crc32.argtypes = [C.c_char_p, C.c_size_t]
    assert lib.sqh_init(0x12345678) == 0
    return lib


def _buf(n: int) -> C.Array:
    return (C.c_uint8 * n)()


def c_cobs_encode(lib: C.CDLL, data: bytes) -> bytes:
    out, n = _buf(len(data) + len(data) // 254 + 1), C.c_int32()
    assert lib.sql_cobs_encode(data, len(data), out, len(out), C.byref(n)) == 0
    return bytes(out[:n.value])


def c_cobs_decode(lib: C.CDLL, data: bytes) -> bytes | None:
    out, n = _buf(max(len(data), 1)), C.c_int32()
    st = lib.sql_cobs_decode(data, len(data), out, len(out), C.byref(n))
    return None if st == -4 else bytes(out[:n.value])


def c_frame(lib: C.CDLL, typ: int, seq: int, payload: bytes, version: int = 1) -> bytes:
    raw, out, n = _buf(P.OVERHEAD + len(payload)), _buf(P.MAX_FRAME + 1), C.c_int32()
    assert lib.sql_frame_encode(version, typ, seq, payload, len(payload), raw, len(raw), out,
                                len(out), C.byref(n)) == 0
    return bytes(out[:n.value])


def test_crc32_check_value_and_zlib(lib: C.CDLL) -> None:
    assert lib.sql_crc32(b"123456789", 9) == 0xCBF43926
    rng = random.Random(5)
    for _ in range(50):
        data = rng.randbytes(rng.randrange(0, 600))
        assert lib.sql_crc32(data, len(data)) == zlib.crc32(data)


def test_cobs_matches_python_on_edges_and_random(lib: C.CDLL) -> None:
    rng = random.Random(11)
    r = bytes(range(1, 255))
    cases = [b"", b"\x00", b"\x00\x00", r, b"\x00" + r, r + b"\xff", r + b"\x00", r * 2,
             bytes(range(2, 256)) + b"\x00", bytes(range(3, 256)) + b"\x00\x01"]
    for n in (1, 253, 254, 255, 508, 509, 4106):
        for zero_rate in (0.0, 0.01, 0.5, 1.0):
            cases.append(bytes(0 if rng.random() < zero_rate else rng.randrange(1, 256)
                               for _ in range(n)))
    for raw in cases:
        enc = ref.cobs_encode(raw)  # the Python reference (P.cobs_encode is this C too)
        assert c_cobs_encode(lib, raw) == enc, raw[:8]
        assert c_cobs_decode(lib, enc) == raw
    for bad in (b"\x05\x11\x22", b"\x02\x11\x00\x01", b"\xff" + bytes(range(1, 100))):
        with pytest.raises(P.CobsError):
            ref.cobs_decode(bad)
        assert c_cobs_decode(lib, bad) is None


def test_frames_byte_identical(lib: C.CDLL) -> None:
    rng = random.Random(2)
    for n in (0, 1, 243, 244, 253, 254, 1000, P.MAX_PAYLOAD):
        payload = rng.randbytes(n)
        typ, seq = rng.randrange(256), rng.randrange(65536)
        assert c_frame(lib, typ, seq, payload) == ref.encode_frame(typ, seq, payload)
    raw, out, n = _buf(P.OVERHEAD + 4097), _buf(P.MAX_FRAME + 64), C.c_int32()
    assert lib.sql_frame_encode(1, 2, 0, bytes(4097), 4097, raw, len(raw), out, len(out),
                                C.byref(n)) == -2  # SQL_ERR_ARG: above MAX_PAYLOAD


class Info(C.Structure):
    _fields_ = [("flags", C.c_uint8), ("active_slot", C.c_uint8), ("backend", C.c_uint8),
                ("constellation", C.c_uint8), ("boot_id", C.c_uint32),
                ("uptime_ms", C.c_uint32), ("order", C.c_uint16),
                ("n_concepts", C.c_uint16), ("latent_dim", C.c_uint16),
                ("input_size", C.c_uint16), ("k", C.c_uint16), ("snr_cdb", C.c_int16),
                ("frac_bits_semantic", C.c_uint8), ("frac_bits_standard", C.c_uint8),
                ("config_flags", C.c_uint8), ("proto_version", C.c_uint8),
                ("max_payload", C.c_uint16), ("max_order", C.c_uint16),
                ("max_concepts", C.c_uint16), ("max_latent", C.c_uint16),
                ("max_input", C.c_uint16), ("max_chunk", C.c_uint16),
                ("staged_offset_kib", C.c_uint16), ("bundle_id", C.c_uint8 * 8),
                ("manifest_sha256", C.c_uint8 * 32), ("node_id", C.c_char_p),
                ("runtime_version", C.c_char_p), ("status", C.c_char_p)]


class Stage(C.Structure):
    _fields_ = [("name", C.c_char_p), ("count", C.c_uint32), ("mean_us", C.c_uint32),
                ("p50_us", C.c_uint32), ("p99_us", C.c_uint32), ("max_us", C.c_uint32)]


def _pack(lib: C.CDLL, fn: str, *args: object) -> bytes:
    out, n = _buf(P.MAX_PAYLOAD), C.c_int32()
    assert getattr(lib, fn)(*args, out, len(out), C.byref(n)) == 0
    return bytes(out[:n.value])


def _u16(v: tuple[int, ...]) -> C.Array:
    return (C.c_uint16 * max(len(v), 1))(*v)


def test_every_reply_payload_byte_identical(lib: C.CDLL) -> None:
    info = P.Info(3, 1, 1, 2, 0xDEADBEEF, 1234, 256, 16, 8, 784, 6, -250, 12, 14, 1, 1, 4096,
                  1024, 256, 256, 4092, 4088, 3, bytes.fromhex("0123456789abcdef"),
                  bytes(range(32)), "mps2-an386", "0.1.0", "x" * 300)
    ci = Info(*(getattr(info, f[0]) for f in Info._fields_[:23]),
              (C.c_uint8 * 8)(*info.bundle_id), (C.c_uint8 * 32)(*info.manifest_sha256),
              info.node_id.encode(), info.runtime_version.encode(), info.status.encode())
    assert _pack(lib, "sql_pack_info", C.byref(ci)) == info.pack()
    for snr, k, pk in ((-1000, 1, 2), (10000, 256, 7)):
        assert _pack(lib, "sql_pack_snr_ack", C.c_int16(snr), C.c_uint16(k), C.c_uint16(pk)) \
            == P.SnrAck(snr, k, pk).pack()
    assert _pack(lib, "sql_pack_config_ack", 2, 1, 14) == P.ConfigAck(2, 1, 14).pack()
    counters = (("bytes_rx", 10), ("frames_ok", 0xFFFFFFFF))
    stages = (P.StageTiming("neural", 10, 120, 110, 300, 350), P.StageTiming("map", 0, 0, 0, 0, 0))
    names = (C.c_char_p * 2)(*(n.encode() for n, _ in counters))
    values = (C.c_uint32 * 2)(*(v for _, v in counters))
    cst = (Stage * 2)(*(Stage(s.name.encode(), s.count, s.mean_us, s.p50_us, s.p99_us,
                              s.max_us) for s in stages))
    assert _pack(lib, "sql_pack_stats", names, values, 2, cst, 2) == \
        P.Stats(counters, stages).pack()
    assert _pack(lib, "sql_pack_stats", None, None, 0, None, 0) == P.Stats(()).pack()
    for sym in (P.Symbols(42, 3, 14, 1, (5, 0, 9), (1, -1, 32767, -32768, 0, 7)),
                P.Symbols(43, 2, 12, 2, (1, 2), (3, 4, 5, 6), (15, 0), (10, 20, 30, 40, 50)),
                P.Symbols(44, 0, 12, 1, (), ())):
        iq = (C.c_int16 * max(len(sym.iq), 1))(*sym.iq)
        t = (C.c_uint32 * max(len(sym.timings_us), 1))(*sym.timings_us)
        idx = None if sym.indices is None else _u16(sym.indices)
        assert _pack(lib, "sql_pack_symbols", C.c_uint32(sym.sample_seq), C.c_uint16(sym.k),
                     sym.frac_bits, sym.constellation, _u16(sym.positions), idx, iq, t,
                     len(sym.timings_us)) == sym.pack()
    for err in (P.Error(P.ErrorCode.BAD_LENGTH, P.MsgType.INPUT, "sample of 3 bytes", 9),
                P.Error(P.ErrorCode.RANGE, P.MsgType.CONFIG, "y" * 2000)):
        text = err.text.encode()
        assert _pack(lib, "sql_pack_error", C.c_uint16(err.code), err.ref_type,
                     C.c_uint32(err.ref_sample), text, len(text)) == err.pack()


# ------------------------------------------------------------------ the C node vs the Python node

def _python_node(bundle: Path, tmp: Path) -> NodeServer:
    server = NodeServer(tmp / "state", node_id="py")
    server.install(bundle)
    return server


def _c_feed(lib: C.CDLL, data: bytes) -> bytes:
    out = _buf(64 * 1024)
    n = lib.sqh_feed(data, len(data), out, len(out))
    assert n >= 0
    return bytes(out[:n])


def _c_counters(lib: C.CDLL) -> dict[str, int]:
    v = (C.c_uint32 * 10)()
    lib.sqh_counters(v)
    return dict(zip((*P.COUNTERS, "dropped"), v, strict=True))


def _replies(wire: bytes) -> list[tuple[int, int, bytes]]:
    return [(f.type, f.seq, f.payload) for f in P.FrameDecoder().feed(wire)]


def _bad_frames() -> list[bytes]:
    """Every bad-frame case of docs/protocol.md "Receiving" and the protocol tests."""
    body = P.HEADER.pack(P.VERSION, P.MsgType.PING, 5, 5) + b"hellp"
    bad_crc = P.cobs_encode(body + P.CRC.pack(P.crc32(body[:-1] + b"o"))) + b"\x00"
    short = P.HEADER.pack(P.VERSION, P.MsgType.PING, 9, 7) + b"abc"  # length says 7, has 3
    bad_len = P.cobs_encode(short + P.CRC.pack(P.crc32(short))) + b"\x00"
    big = P.HEADER.pack(P.VERSION, P.MsgType.PING, 0x1234, 4200) + bytes(range(1, 201)) * 21
    oversized = P.cobs_encode(big + P.CRC.pack(P.crc32(big))) + b"\x00"
    return [
        b"\x17\x99\xfe\x03" + P.encode_frame(P.MsgType.PING, 1, b"one"),  # garbage glued on
        b"\x05garbage\x00",
        bad_crc,
        b"\x09\x01\x02\x00",  # COBS block past the end
        P.cobs_encode(b"\x01\x02\x03") + b"\x00",  # runt
        b"\x00\x00",  # empty
        bad_len,
        oversized,
        b"\x01" * 9000 + b"\x00",  # oversized without a header
        P.encode_frame(0x7E, 20, b""),  # unknown type
        P.encode_frame(P.MsgType.HELLO, 21, b"", version=2),  # wrong version
        P.encode_frame(P.MsgType.SNR_FEEDBACK, 22, b"\x01\x02\x03"),  # wrong length
        P.encode_frame(P.MsgType.INPUT, 23, b"\x01\x02"),
        P.encode_frame(P.MsgType.INPUT, 30, P.Input(77, bytes(10)).pack()),  # wrong sample size
        P.encode_message(P.Pong(b"x"), 24),  # a reply type sent as a request
        P.encode_message(P.Config(3, 0), 26),
        P.encode_message(P.SnrFeedback(20000, 0), 27),
        P.encode_message(P.SnrFeedback(100, 999), 28),
    ]


def test_c_node_counts_and_answers_bad_frames_like_the_python_node(
        lib: C.CDLL, bundle: Path, tmp_path: Path) -> None:
    assert lib.sqh_init(1) == 0
    py = _python_node(bundle, tmp_path)
    for wire in _bad_frames():
        c_out, p_out = _replies(_c_feed(lib, wire)), _replies(py.process(wire))
        assert [(t, s) for t, s, _ in c_out] == [(t, s) for t, s, _ in p_out], wire[:16]
        for (_, _, cp), (_, _, pp) in zip(c_out, p_out, strict=True):
            if cp[:1] and c_out[0][0] == P.MsgType.ERROR:
                c_err, p_err = P.Error.unpack(cp), P.Error.unpack(pp)
                assert (c_err.code, c_err.ref_type, c_err.ref_sample) == \
                    (p_err.code, p_err.ref_type, p_err.ref_sample), (c_err, p_err)
            else:
                assert cp == pp
        assert _c_counters(lib) == py.decoder.counters(), wire[:16]
    c = _c_counters(lib)
    assert c["oversized"] == 2 and c["crc_errors"] == 1 and c["runts"] == 1
    assert c["cobs_errors"] >= 1 and c["length_errors"] == 1 and c["empty"] == 2


def test_c_node_refuses_flashing(lib: C.CDLL) -> None:
    """The firmware's bundle is built into its image: every FLASH_* gets ERROR FLASH_STATE."""
    assert lib.sqh_init(1) == 0
    for seq, msg in enumerate((P.FlashBegin(100, 64, bytes(32)), P.FlashChunk.make(0, b"abc"),
                               P.FlashCommit(bytes(32)), P.FlashAbort())):
        (frame,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_message(msg, seq)))
        err = P.decode_message(frame)
        assert frame.seq == seq and isinstance(err, P.Error)
        assert (err.code, err.ref_type) == (P.ErrorCode.FLASH_STATE, msg.TYPE)
        assert "built into its firmware" in err.text
    (frame,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_frame(P.MsgType.FLASH_BEGIN, 9, b"")))
    assert P.decode_message(frame).code == P.ErrorCode.BAD_LENGTH  # lengths checked first


def test_c_node_stage_statistics_equal_numpy_on_large_times(lib: C.CDLL, bundle: Path) -> None:
    """STATS' per-stage mean (floor of the mean), p50 / p99 (numpy's linear interpolation,
    rounded down) and max equal NumPy's over the stage times the same node reported in its
    SYMBOLS replies, with stage times up to 3·10^8 us: sums beyond 2^32 and interpolation
    products beyond 2^32 (the firmware divides them without libgcc's 64-bit division)."""
    assert lib.sqh_init(3) == 0
    rng = np.random.default_rng(5)
    steps = rng.integers(1, 300_000_000, 61, dtype=np.uint32)
    lib.sqh_clock_steps((C.c_uint32 * len(steps))(*steps.tolist()), len(steps))
    node = Node(bundle, backend="c")
    times = []
    for seq in range(40):
        sample = rng.integers(0, 256, node.input_size, dtype=np.uint8).tobytes()
        (frame,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_message(P.Input(seq, sample),
                                                                       seq)))
        times.append(P.decode_message(frame).timings_us)
    (frame,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_message(P.StatsRequest(1), 99)))
    stats = P.decode_message(frame)
    t = np.array(times, dtype=np.int64)  # [sample, stage] as the SYMBOLS replies carried them
    assert t.max() > 2**27 and t.sum(0).max() > 2**32
    for j, s in enumerate(stats.stages):
        v = t[:, j]
        assert (s.count, s.max_us) == (40, int(v.max())), s.name
        assert s.mean_us == int(v.sum()) // 40, s.name
        assert s.p50_us == int(np.percentile(v, 50)), s.name
        assert s.p99_us == int(np.percentile(v, 99)), s.name
    lib.sqh_clock_steps(None, 0)


def test_c_node_replies_like_the_python_node(lib: C.CDLL, bundle: Path, tmp_path: Path) -> None:
    assert lib.sqh_init(7) == 0
    py = _python_node(bundle, tmp_path)
    rng = np.random.default_rng(0)
    node = Node(bundle, backend="c")
    requests = [P.Ping(b"\x00\xff" * 40), P.SnrFeedback(-1000, 0), P.SnrFeedback(1050, 0),
                P.Config(2, P.CFG_INDICES), P.SnrFeedback(500, 5), P.Config(1, 1)]
    for seq, msg in enumerate(requests):
        wire = P.encode_message(msg, seq)
        assert _c_feed(lib, wire) == py.process(wire), msg
    for seq in range(100, 130):
        sample = rng.integers(0, 256, node.input_size, dtype=np.uint8).tobytes()
        wire = P.encode_message(P.Input(seq, sample), seq)
        (c_frame,), (p_frame,) = P.FrameDecoder().feed(_c_feed(lib, wire)), \
            P.FrameDecoder().feed(py.process(wire))
        c_sym, p_sym = P.decode_message(c_frame), P.decode_message(p_frame)
        assert c_frame.type == P.MsgType.SYMBOLS and c_frame.seq == seq
        assert (c_sym.k, c_sym.positions, c_sym.indices, c_sym.iq, c_sym.frac_bits) == \
            (p_sym.k, p_sym.positions, p_sym.indices, p_sym.iq, p_sym.frac_bits)
        assert len(c_sym.timings_us) == len(P.TIMING_STAGES)
    (c_info,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_message(P.Hello(), 200)))
    info, p_info = P.decode_message(c_info), py.info()
    # the firmware node holds no key and accepts no bundle (FIXED); the Python node here was
    # started without a key (INSECURE): the other bits agree
    key_bits = P.INFO_TRUST | P.INFO_INSECURE | P.INFO_FIXED
    assert info.flags & P.INFO_FIXED and not info.flags & (P.INFO_TRUST | P.INFO_INSECURE)
    assert info.flags & ~key_bits == p_info.flags & ~key_bits
    for field in ("order", "n_concepts", "latent_dim", "input_size", "k", "snr_cdb",
                  "frac_bits_semantic", "frac_bits_standard", "config_flags", "bundle_id",
                  "manifest_sha256", "constellation", "proto_version", "max_payload"):
        assert getattr(info, field) == getattr(p_info, field), field
    assert info.boot_id == 7 and info.status == "ready"
    (c_stats,) = P.FrameDecoder().feed(_c_feed(lib, P.encode_message(P.StatsRequest(1), 201)))
    stats = P.decode_message(c_stats)
    names = [n for n, _ in stats.counters]
    assert names == [*py.decoder.counters(), *py.counters]
    assert stats.as_dict()["samples_encoded"] == 30
    assert [s.name for s in stats.stages] == list(P.TIMING_STAGES)
    assert all(s.count == 30 for s in stats.stages)
