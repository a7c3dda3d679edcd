"""The node under a hostile link (docs/protocol.md, "Threat model"): each test here would have
caught one class of defect that a probe found.

- any frame, any node-model meta -> exactly one reply or ERROR, and HELLO still answers
  (property-based, in process and against a real ``semqam-node`` on a pty);
- the commit checks every meta field and table, refuses with BUNDLE and removes the files;
- untrusted manifests are bounded (size, nesting, signature type), slot recovery boots the slot
  that verifies whatever is wrong with the other;
- memory stays bounded under a large manifest member and an npz bomb (RLIMIT_AS);
- a host that stops reading does not kill the node; trust is on by default; no downgrade;
- a flash under a second host's FLASH_ABORT ends with a clear error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import semqam_node
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semqam_node import protocol as P
from semqam_node.bundle import FORMAT, FORMAT_VERSION, MANIFEST, VERSION_KEY, load_public_key
from semqam_node.errors import LinkError, SlotError
from semqam_node.host import NodeClient
from semqam_node.model_file import NODE_MODEL
from semqam_node.server import NodeServer
from semqam_node.slots import SlotStore, pack_bundle
from semqam_node.testing import synthetic_node_model, write_manifest
from semqam_node.virtual import VirtualNode, _open_pty

PKG_ROOT = str(Path(semqam_node.__file__).resolve().parents[1])


# ------------------------------------------------------------------------------ helpers

def model_bundle(out: Path, key: Path | None = None, *, meta: dict[str, Any] | None = None,
                 arrays: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None,
                 drop: tuple[str, ...] = (), extra: dict[str, np.ndarray] | None = None,
                 raw_meta: str | None = None) -> Path:
    """A synthetic bundle (N 64, D 4, M 16) with ``meta`` / ``arrays`` / ``manifest`` entries
    replaced (value ``None`` in ``arrays`` deletes the array), ``drop``ped meta keys and
    ``extra`` npz members; written and signed like an exporter would."""
    out.mkdir(parents=True)
    a, m = synthetic_node_model()
    m.update(meta or {})
    for k in drop:
        m.pop(k, None)
    for k, v in (arrays or {}).items():
        if v is None:
            a.pop(k, None)
        else:
            a[k] = v
    a.update(extra or {})
    text = raw_meta if raw_meta is not None else json.dumps(m, sort_keys=True)
    with open(out / NODE_MODEL, "wb") as f:
        np.savez(f, meta=np.array(text), **a)
    man = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": "hardening",
           "dataset": "synthetic", "order": 16, "n_concepts": 64, "latent_dim": 4,
           "input": {"shape": [784], "dtype": "uint8"}, "node_files": [NODE_MODEL]}
    man.update(manifest or {})
    write_manifest(out, man, key)
    return out


def raw_manifest_bundle(out: Path, text: bytes) -> Path:
    """A bundle folder whose manifest.json is ``text`` (what a hostile host can send)."""
    out.mkdir(parents=True)
    (out / MANIFEST).write_bytes(text)
    return out


def tar_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def replies(server: NodeServer, wire: bytes) -> list[tuple[P.Frame, P.Message]]:
    dec = P.FrameDecoder()
    out = []
    for item in dec.feed(server.process(wire)):
        assert isinstance(item, P.Frame), item
        out.append((item, P.decode_message(item)))
    return out


def one_reply(server: NodeServer, msg: P.Message, seq: int = 7) -> P.Message:
    got = replies(server, P.encode_message(msg, seq))
    assert len(got) == 1, got
    frame, reply = got[0]
    assert frame.seq == seq and (frame.type == msg.TYPE | P.REPLY_BIT or frame.type == 0xFF)
    return reply


def flash_frames(server: NodeServer, archive: bytes, chunk: int = 4000) -> P.Message:
    """Flash ``archive`` frame by frame; the first ERROR or the commit's reply."""
    sha = hashlib.sha256(archive).digest()
    r = one_reply(server, P.FlashBegin(len(archive), chunk, sha))
    if isinstance(r, P.Error):
        return r
    off = r.offset
    while off < len(archive):
        r = one_reply(server, P.FlashChunk.make(off, archive[off:off + chunk]))
        if isinstance(r, P.Error):
            return r
        off = r.offset
    return one_reply(server, P.FlashCommit(sha))


def assert_hello(server: NodeServer) -> P.Info:
    info = one_reply(server, P.Hello())
    assert isinstance(info, P.Info), info
    return info


@pytest.fixture(scope="module")
def lab(signing_keys) -> tuple[Path, Path]:
    return signing_keys


@pytest.fixture(scope="module")
def good(lab, tmp_path_factory) -> Path:
    return model_bundle(tmp_path_factory.mktemp("good") / "b", lab[0])


# ------------------------------------------------------------------ commit-time consistency

N, D, M = 64, 4, 16
INCONSISTENT: dict[str, dict[str, Any]] = {
    # defect 1: accepted at commit, then every HELLO killed the node
    "frac_bits_256": {"meta": {"const_semantic_frac_bits": 256}},
    "frac_bits_str": {"meta": {"const_standard_frac_bits": "x"}},
    "frac_bits_missing": {"drop": ("const_semantic_frac_bits",)},
    "policy_min_1e20": {"meta": {"policy_snr_min_cdb": 1e20}},
    "policy_step_0": {"meta": {"policy_step_cdb": 0}},
    "policy_step_missing": {"drop": ("policy_step_cdb",)},
    "policy_k_empty": {"arrays": {"policy_k": np.zeros(0, np.uint16)}},
    "policy_k_zero_entry": {"arrays": {"policy_k": np.zeros(8, np.uint16)}},
    "policy_k_above_n": {"arrays": {"policy_k": np.full(8, N + 1, np.uint16)}},
    "policy_k_dtype": {"arrays": {"policy_k": np.ones(8, np.int64)}},
    "const_standard_truncated": {"arrays": {"const_standard_q": np.zeros((M - 1, 2), np.int16)}},
    "const_semantic_dtype": {"arrays": {"const_semantic_q": np.zeros((M, 2), np.float32)}},
    "const_semantic_missing": {"arrays": {"const_semantic_q": None}},
    "codebook_int8_dtype": {"arrays": {"codebook_int8": np.zeros((M, D), np.int16)}},
    "codebook_int8_width": {"arrays": {"codebook_int8": np.zeros((M, D + 1), np.int8)}},
    "codebook_float_shape": {"arrays": {"codebook": np.zeros((M + 1, D), np.float32)}},
    "logistic_lut_short": {"arrays": {"logistic_lut": np.zeros(255, np.int8)}},
    "logistic_lut_missing": {"arrays": {"logistic_lut": None}},
    "trunk_input_width": {"arrays": {"fc0.weights": np.zeros((32, 783), np.int8)}},
    "z_head_not_n_times_d": {"arrays": {"fc1.weights": np.zeros((N * D - 1, 32), np.int8),
                                        "fc1.multiplier": np.ones(N * D - 1, np.int32),
                                        "fc1.shift": np.zeros(N * D - 1, np.int32)}},
    "sci_head_bias_shape": {"arrays": {"fc2.bias": np.zeros(N + 1, np.int32)}},
    "shift_out_of_range": {"arrays": {"fc2.shift": np.full(N, 40, np.int32)}},
    "scale_nan": {"arrays": {"fc2.scale": np.full(N, np.nan)}},
    "params_act_range": {"arrays": {"fc0.params": np.array([128, 0, 10, -10], np.int32)}},
    "layer_missing": {"meta": {"z_head": ["fc9"]}},
    "trunk_not_a_list": {"meta": {"trunk": "fc0"}},
    "n_concepts_str": {"meta": {"n_concepts": "64"}},
    "n_concepts_bool": {"meta": {"n_concepts": True}},
    "latent_dim_zero": {"meta": {"latent_dim": 0}},
    "input_size_mismatch": {"meta": {"input_size": 783}},
    "input_zero_point_range": {"meta": {"input_zero_point": 300}},
    "z_scale_negative": {"meta": {"z_scale": -1.0}},
    "rank_by_unknown": {"meta": {"rank_by": "x"}},
    "sci_logistic_not_bool": {"meta": {"sci_logistic": "yes"}},
    "format_version": {"meta": {"format_version": 2}},
    "meta_not_json": {"raw_meta": "{not json"},
    "meta_nested_deep": {"raw_meta": "[" * 5000 + "]" * 5000},
    "meta_not_object": {"raw_meta": "[1, 2]"},
    # manifest vs arrays
    "manifest_order_true": {"manifest": {"order": True}},
    "manifest_order_17": {"manifest": {"order": 17}},
    "manifest_n_concepts": {"manifest": {"n_concepts": 32}},
    "manifest_latent_dim": {"manifest": {"latent_dim": 8}},
    "manifest_input_shape": {"manifest": {"input": {"shape": [28, 27], "dtype": "uint8"}}},
    "manifest_version_str": {"manifest": {VERSION_KEY: "9"}},
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT))
def test_commit_refuses_every_inconsistent_table_and_meta_field(case, lab, good, tmp_path):
    store = SlotStore(tmp_path / "node", load_public_key(lab[1]))
    store.install(good)
    assert store.active is not None and store.active.slot == "a"
    bad = model_bundle(tmp_path / "bad", lab[0], **INCONSISTENT[case])
    archive = tar_of([(name, (bad / name).read_bytes()) for name in (MANIFEST, NODE_MODEL)])
    sha = hashlib.sha256(archive).digest()
    store.begin(len(archive), sha)
    with pytest.raises(SlotError) as e:
        store.write_chunk(0, archive)
        store.commit(sha)
    assert e.value.code == P.ErrorCode.BUNDLE, e.value
    assert not (tmp_path / "node" / "slot_b").exists()  # the refused files are gone
    assert store.staged is None
    assert store.active.slot == "a"  # the previous bundle stays active
    assert SlotStore(tmp_path / "node", load_public_key(lab[1])).recover().slot == "a"


def test_the_consistent_bundle_is_accepted(lab, good, tmp_path):
    store = SlotStore(tmp_path / "node", load_public_key(lab[1]))
    assert store.install(good).dims.order == M


def test_defect_1_bundle_is_refused_and_every_hello_still_answers(lab, tmp_path):
    server = NodeServer(tmp_path / "node", trust=lab[1])
    bad = model_bundle(tmp_path / "bad", lab[0], meta={"const_semantic_frac_bits": 256})
    r = flash_frames(server, pack_bundle(bad))
    assert isinstance(r, P.Error) and r.code == P.ErrorCode.BUNDLE, r
    assert "const_semantic_frac_bits" in r.text
    assert assert_hello(server).flags & P.INFO_ACTIVE == 0
    assert not (tmp_path / "node" / "slot_a").exists()


def test_a_poisoned_active_bundle_from_an_older_runtime_is_not_served(lab, good, tmp_path):
    """Slots written before the commit checked meta: the node boots without it (no crash on
    HELLO) and can be flashed again (``semqam flash --force`` sends HELLO first)."""
    root = tmp_path / "node"
    bad = model_bundle(tmp_path / "bad", lab[0], meta={"const_semantic_frac_bits": 256})
    (root / "slot_a").mkdir(parents=True)
    for name in (MANIFEST, NODE_MODEL):
        (root / "slot_a" / name).write_bytes((bad / name).read_bytes())
    (root / "active").write_text(json.dumps({"slot": "a"}))
    server = NodeServer(root, trust=lab[1])
    info = assert_hello(server)
    assert not info.flags & P.INFO_ACTIVE and "const_semantic_frac_bits" in info.status
    assert isinstance(flash_frames(server, pack_bundle(good)), P.FlashCommitAck)
    assert assert_hello(server).flags & P.INFO_ENCODER


class _UnpackableEncoder:
    """An encoder whose meta slipped past every check (a port's own loader, say): its
    fractional bits do not fit INFO's u8."""

    meta = {"const_semantic_frac_bits": 300, "const_standard_frac_bits": 12}
    k = 1

    def set_snr(self, snr_cdb: int) -> int:
        return 1


def test_a_reply_that_cannot_be_packed_becomes_one_error_internal(good, tmp_path):
    server = NodeServer(tmp_path / "node", encoder_factory=lambda *_: _UnpackableEncoder())
    server.install(good)
    r = one_reply(server, P.Hello())
    assert isinstance(r, P.Error) and r.code == P.ErrorCode.INTERNAL, r
    assert "format requires" in r.text  # the struct.error, reported instead of raised
    assert isinstance(one_reply(server, P.Ping(b"x")), P.Pong)  # and it keeps serving


# ------------------------------------------------------------------ untrusted manifests

def _manifest_text(**changes: Any) -> bytes:
    m = {"format": FORMAT, "format_version": FORMAT_VERSION, "bundle_id": "0" * 16,
         "files": {}, "node_files": [], **changes}
    return json.dumps(m).encode()


HOSTILE_MANIFESTS = {
    "signature_x": _manifest_text(signature="x"),
    "signature_list": _manifest_text(signature=["ed25519"]),
    "nested_deep": b'{"format": "semqam-bundle", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "files_not_dicts": _manifest_text(files={"node_model.npz": "x"}),
    "node_files_not_names": _manifest_text(node_files=[1]),
    "too_large": _manifest_text(pad="x" * (1 << 20)),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MANIFESTS))
@pytest.mark.parametrize("trusting", [True, False], ids=["trusting", "insecure"])
def test_hostile_manifests_are_refused_as_bundle_errors(case, trusting, lab, good, tmp_path):
    server = NodeServer(tmp_path / "node", trust=lab[1] if trusting else None)
    server.install(good)
    r = flash_frames(server, tar_of([(MANIFEST, HOSTILE_MANIFESTS[case])]))
    assert isinstance(r, P.Error), r
    assert r.code in (P.ErrorCode.BUNDLE, P.ErrorCode.SIGNATURE), r  # never INTERNAL
    assert not (tmp_path / "node" / "slot_b").exists() and server.store.staged is None
    assert assert_hello(server).flags & P.INFO_ACTIVE


POISONS = {
    "signature_x": {MANIFEST: HOSTILE_MANIFESTS["signature_x"]},
    "nested_deep": {MANIFEST: HOSTILE_MANIFESTS["nested_deep"]},
    "too_large": {MANIFEST: HOSTILE_MANIFESTS["too_large"]},
    "npz_garbage": {NODE_MODEL: b"PK\x03\x04garbage"},
}
POINTERS = {"garbage": b"\xff\xfe not json", "list": b"[1]", "points_to_b": b'{"slot": "b"}',
            "missing_slot": b"{}"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pointer", sorted(POINTERS))
@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_poisoned_inactive_slot_and_a_damaged_pointer_boot_the_good_slot(
        poison, pointer, lab, good, tmp_path):
    root = tmp_path / "node"
    SlotStore(root, load_public_key(lab[1])).install(good)  # slot_a
    slot_b = root / "slot_b"
    slot_b.mkdir()
    for name in (MANIFEST, NODE_MODEL):
        (slot_b / name).write_bytes((good / name).read_bytes())
    for name, data in POISONS[poison].items():
        (slot_b / name).write_bytes(data)
    (root / "active").write_bytes(POINTERS[pointer])
    server = NodeServer(root, trust=lab[1])
    info = assert_hello(server)
    assert info.flags & P.INFO_ACTIVE and info.active_slot == 1, info.status
    assert json.loads((root / "active").read_text())["slot"] == "a"  # repointed


def test_a_real_node_with_a_poisoned_slot_boots(lab, good, tmp_path):
    root = tmp_path / "node"
    SlotStore(root, load_public_key(lab[1])).install(good)
    (root / "slot_b").mkdir()
    (root / "slot_b" / MANIFEST).write_bytes(HOSTILE_MANIFESTS["nested_deep"])
    (root / "active").write_bytes(b'{"slot": "b"}')
    with VirtualNode(root, trust=lab[1], log_path=tmp_path / "node.log") as v, \
            NodeClient(v.port, timeout=1.0) as c:
        info = c.hello()
        assert info.active_slot == 1 and info.flags & P.INFO_ENCODER
    assert "Traceback" not in (tmp_path / "node.log").read_text()


# ------------------------------------------------------------------ property-based

@pytest.fixture(scope="module")
def served(lab, good, tmp_path_factory) -> NodeServer:
    server = NodeServer(tmp_path_factory.mktemp("served") / "node", trust=lab[1])
    server.install(good)
    return server


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg_type=st.integers(0, 255), seq=st.integers(0, 0xFFFF),
       payload=st.one_of(st.binary(max_size=64), st.binary(min_size=4000, max_size=4096)))
def test_any_frame_gets_exactly_one_reply_and_hello_still_answers(served, msg_type, seq,
                                                                  payload):
    got = replies(served, P.encode_frame(msg_type, seq, payload))
    assert len(got) == 1, got
    frame, reply = got[0]
    assert frame.seq == seq
    assert frame.type in (msg_type | P.REPLY_BIT, P.MsgType.ERROR)
    if isinstance(reply, P.Error):
        assert reply.code != P.ErrorCode.INTERNAL, reply
    assert_hello(served)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=4), c, max_size=3), max_leaves=6)
META_KEYS = sorted(synthetic_node_model()[1])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(META_KEYS), JSON_VALUES, min_size=1, max_size=3))
def test_any_meta_gives_one_reply_per_request_and_the_node_keeps_serving(changes,
                                                                        tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meta")
    try:
        bundle = model_bundle(tmp / "b", meta=changes)
    except ValueError:  # NaN/inf cannot be written as JSON by the exporter either
        return
    server = NodeServer(tmp / "node")
    r = flash_frames(server, pack_bundle(bundle))
    assert isinstance(r, (P.FlashCommitAck, P.Error)), r
    if isinstance(r, P.Error):
        assert r.code in (P.ErrorCode.BUNDLE, P.ErrorCode.DIMENSIONS), r
    info = assert_hello(server)
    for msg in (P.SnrFeedback(500, 0), P.Config(2, 1), P.Input(1, bytes(784)),
                P.Config(1, 0), P.StatsRequest(0)):
        reply = one_reply(server, msg)
        if isinstance(reply, P.Error):
            assert reply.code != P.ErrorCode.INTERNAL, (changes, reply)
    if isinstance(r, P.FlashCommitAck):
        assert info.flags & P.INFO_ENCODER, (changes, info.status)
    assert_hello(server)


def _write_all(fd: int, data: bytes, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        assert time.monotonic() < deadline, "the node takes no input"
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            time.sleep(0.005)


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except BlockingIOError:
            return


def _await_seq(fd: int, seq: int, timeout: float) -> list[P.Frame]:
    """Frames read until one with ``seq`` arrives (those with ``seq`` returned)."""
    dec = P.FrameDecoder()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        hits = [f for f in dec.feed(data) if isinstance(f, P.Frame) and f.seq == seq]
        if hits:
            time.sleep(0.05)  # a second reply would arrive right behind the first
            with contextlib.suppress(BlockingIOError):
                hits += [f for f in dec.feed(os.read(fd, 65536))
                         if isinstance(f, P.Frame) and f.seq == seq]
            return hits
    return []


def _read_frames(fd: int, want: int, timeout: float) -> list[P.Frame]:
    dec = P.FrameDecoder()
    frames: list[P.Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < want and time.monotonic() < deadline:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        frames += [f for f in dec.feed(data) if isinstance(f, P.Frame)]
    return frames


@pytest.fixture(scope="module")
def real_node(lab, good, tmp_path_factory):
    """A ``semqam-node`` process on a raw pty (no wire in between), with ``good`` active."""
    tmp = tmp_path_factory.mktemp("real")
    master, slave = _open_pty()
    os.set_blocking(master, False)
    log = open(tmp / "node.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONPATH": PKG_ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "semqam_node.server", "--port", slave,
                             "--bundle-dir", str(tmp / "node"), "--trust", str(lab[1]),
                             "--install", str(good), "--node-id", "real"],
                            stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 30
    while "serving" not in (tmp / "node.log").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, \
            (tmp / "node.log").read_text()
        time.sleep(0.05)
    yield proc, master, tmp / "node.log"
    proc.terminate()
    proc.wait(10)
    log.close()
    os.close(master)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg_type=st.integers(0, 255), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=300))
def test_a_real_node_answers_any_frame_once_and_then_hello(real_node, msg_type, seq, payload):
    proc, fd, _ = real_node
    _drain(fd)
    _write_all(fd, P.encode_frame(msg_type, seq, payload))
    got = _await_seq(fd, seq, 5.0)
    assert len(got) == 1, got
    assert got[0].type in (msg_type | P.REPLY_BIT, P.MsgType.ERROR)
    hello_seq = (seq + 1) & 0xFFFF
    _write_all(fd, P.encode_message(P.Hello(), hello_seq))
    hello = _await_seq(fd, hello_seq, 5.0)
    assert len(hello) == 1 and hello[0].type == P.MsgType.INFO
    assert proc.poll() is None


@pytest.mark.timeout(60)
def test_a_host_that_stops_reading_for_6_s_does_not_kill_the_node(real_node):
    proc, fd, log = real_node
    _drain(fd)
    ping = P.encode_message(P.Ping(bytes(range(256)) * 15), 2)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6.0:  # send, never read: the node's replies pile up
        try:
            os.write(fd, ping)  # a partial frame is garbage the node drops
        except BlockingIOError:
            time.sleep(0.05)
    assert proc.poll() is None, log.read_text()
    _read_frames(fd, 10**6, 2.0)  # the host reads again
    _write_all(fd, bytes([0]) + P.encode_message(P.StatsRequest(0), 3))
    stats = _await_seq(fd, 3, 10.0)
    assert len(stats) == 1, log.read_text()
    counters = dict(P.decode_message(stats[0]).counters)
    assert counters["replies_dropped"] > 0
    assert proc.poll() is None


# ------------------------------------------------------------------ memory bounds

MEMORY_SCRIPT = r"""
import hashlib, resource, sys
from pathlib import Path
from semqam_node import protocol as P
from semqam_node.server import NodeServer

def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

root, archive_path, headroom = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
server = NodeServer(root)
archive = Path(archive_path).read_bytes()
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + headroom, resource.RLIM_INFINITY))
dec = P.FrameDecoder()

def ask(msg):
    out = [f for f in dec.feed(server.process(P.encode_message(msg, 9))) if isinstance(f, P.Frame)]
    assert len(out) == 1, out
    return P.decode_message(out[0])

sha = hashlib.sha256(archive).digest()
r = ask(P.FlashBegin(len(archive), 4000, sha))
off = 0
while not isinstance(r, P.Error) and off < len(archive):
    r = ask(P.FlashChunk.make(off, archive[off:off + 4000]))
    off = getattr(r, "offset", off)
if not isinstance(r, P.Error):
    r = ask(P.FlashCommit(sha))
info = ask(P.Hello())
print(type(r).__name__, getattr(r, "code", ""), getattr(r, "text", ""))
print("hello", type(info).__name__)
"""

HEADROOM = 160 << 20  # bytes of address space the node may add while it refuses


def _run_limited(tmp_path: Path, archive: bytes) -> str:
    (tmp_path / "transfer.tar").write_bytes(archive)
    env = {**os.environ, "PYTHONPATH": PKG_ROOT, "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "node"),
                        str(tmp_path / "transfer.tar"), str(HEADROOM)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_a_32_mib_manifest_member_is_refused_within_the_memory_cap(tmp_path):
    body = b'{"format": "semqam-bundle", "x": [' + b"0," * (16 << 20) + b'0]}'
    out = _run_limited(tmp_path, tar_of([(MANIFEST, body)]))
    assert "Error 16" in out and "accepted" in out, out  # BUNDLE, by the size cap
    assert "hello Info" in out


def test_an_npz_bomb_is_refused_within_the_memory_cap(tmp_path):
    bundle = model_bundle(tmp_path / "bomb")
    with zipfile.ZipFile(bundle / NODE_MODEL, "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("junk.npy", "w", force_zip64=True) as f:
        block = bytes(1 << 20)
        for _ in range(256):  # 256 MiB of zeros, ~250 KiB deflated
            f.write(block)
    assert (bundle / NODE_MODEL).stat().st_size < 4 << 20
    write_manifest(bundle, json.loads((bundle / MANIFEST).read_text()))
    out = _run_limited(tmp_path, pack_bundle(bundle))
    assert "Error 16" in out and "uncompressed bytes" in out, out
    assert "hello Info" in out


# ------------------------------------------------------------------ anti-rollback

def test_an_older_bundle_is_refused_unless_downgrades_are_allowed(lab, tmp_path):
    new = model_bundle(tmp_path / "v5", lab[0], manifest={VERSION_KEY: 5})
    old = model_bundle(tmp_path / "v3", lab[0], manifest={VERSION_KEY: 3})
    legacy = model_bundle(tmp_path / "none", lab[0], meta={"dataset": "legacy"})
    same = model_bundle(tmp_path / "v5b", lab[0], manifest={VERSION_KEY: 5, "created": "b"})
    server = NodeServer(tmp_path / "node", trust=lab[1])
    assert isinstance(flash_frames(server, pack_bundle(new)), P.FlashCommitAck)
    for bundle in (old, legacy):
        r = flash_frames(server, pack_bundle(bundle))
        assert isinstance(r, P.Error) and r.code == P.ErrorCode.ROLLBACK, r
        assert "--allow-downgrade" in r.text
    assert not (tmp_path / "node" / "slot_b").exists()
    assert isinstance(flash_frames(server, pack_bundle(same)), P.FlashCommitAck)
    relaxed = NodeServer(tmp_path / "node", trust=lab[1], allow_downgrade=True)
    assert isinstance(flash_frames(relaxed, pack_bundle(old)), P.FlashCommitAck)


def test_the_version_is_covered_by_the_signature(lab, tmp_path):
    b = model_bundle(tmp_path / "v1", lab[0], manifest={VERSION_KEY: 1})
    m = json.loads((b / MANIFEST).read_text())
    m[VERSION_KEY] = 99
    (b / MANIFEST).write_text(json.dumps(m))
    server = NodeServer(tmp_path / "node", trust=lab[1])
    r = flash_frames(server, pack_bundle(b))
    assert isinstance(r, P.Error) and r.code == P.ErrorCode.SIGNATURE, r


# ------------------------------------------------------------------ a second host

@pytest.mark.timeout(120)
def test_flash_under_a_second_hosts_flash_abort_ends_with_a_clear_error(lab, good, tmp_path):
    with VirtualNode(tmp_path / "node", trust=lab[1], log_path=tmp_path / "n.log", pace=True,
                     baud=115200) as v, \
            NodeClient(v.port, timeout=0.3) as c:
        stop = threading.Event()
        fd = os.open(v.port, os.O_WRONLY | os.O_NOCTTY)

        def meddle() -> None:
            seq = 40000
            while not stop.is_set():
                os.write(fd, P.encode_message(P.FlashAbort(), seq))
                seq += 1
                time.sleep(0.25)

        t = threading.Thread(target=meddle, daemon=True)
        t.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(LinkError, match="discarded the transfer|flash not done"):
                c.flash(good, chunk_size=256, deadline=40.0)
        finally:
            stop.set()
            t.join(5)
            os.close(fd)
        assert time.monotonic() - t0 < 45
        assert c.hello().flags & P.INFO_ACTIVE == 0


def test_a_flash_past_its_deadline_stops(lab, good, tmp_path):
    with VirtualNode(tmp_path / "node", trust=lab[1], log_path=tmp_path / "n.log") as v, \
            NodeClient(v.port, timeout=0.5) as c, \
            pytest.raises(LinkError, match="flash not done after 0 s"):
        c.flash(good, chunk_size=64, deadline=0.0)


def test_a_k_that_does_not_fit_the_wire_is_refused_in_one_line(lab, good, tmp_path):
    """``semqam profile --k 100000`` was a struct.error; K = 0 silently meant the policy."""
    with VirtualNode(tmp_path / "node", trust=lab[1], install=good,
                     log_path=tmp_path / "n.log") as v, NodeClient(v.port, timeout=0.5) as c:
        for k in (0, 100000, -1, True):
            with pytest.raises(ValueError, match="force 1..N concepts"):
                c.set_snr(10.0, k=k)
        assert c.set_snr(10.0, k=3).k == 3

