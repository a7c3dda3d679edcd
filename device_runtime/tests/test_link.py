"""Node link over real ptys: real ``semqam-node`` processes, a faulty wire, flashing, recovery.

Every node here is a separate process (``python -m semqam_node.server``) on a pty, reached
through :class:`semqam_node.wire.Wire`; nothing is mocked. Every test works on the synthetic
signed bundle (conftest ``node_bundle``) or bundles derived from it. The long soak runs only
with ``-m soak`` (or SEMQAM_SOAK=1).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import semqam_node
from semqam_node import protocol as P
from semqam_node.bundle import MANIFEST, load_public_key, verify_bundle
from semqam_node.host import LinkError, NodeClient, NodeError, NodeStartError
from semqam_node.node import Node
from semqam_node.slots import CRASH_POINTS, Limits, SlotError, SlotStore, pack_bundle
from semqam_node.testing import (
    NodeFactory,
    check_symbols,
    client_for,
    write_keypair,
)
from semqam_node.testing import derive_bundle as derive
from semqam_node.testing import random_samples as samples
from semqam_node.virtual import FaultConfig, VirtualNode

pytestmark = pytest.mark.timeout(120, func_only=True)  # the session bundle may take longer


# ------------------------------------------------------------------------------ bundles

@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Two Ed25519 key pairs: ``lab`` (trusted by the nodes) and ``other``."""
    folder = tmp_path_factory.mktemp("link-keys")
    out = {}
    for name in ("lab", "other"):
        out[name], out[f"{name}_pub"] = write_keypair(folder, name)
    return out


@pytest.fixture(scope="module")
def base_bundle(node_bundle) -> Path:
    """The synthetic signed bundle that every flash and slot bundle is derived from."""
    return node_bundle


@pytest.fixture(scope="module")
def bundles(base_bundle, keys, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("variants")
    lab, other = keys["lab"], keys["other"]
    b = {
        "A": derive(base_bundle, root / "A", lab, "A"),
        "B": derive(base_bundle, root / "B", lab, "B"),
        "unsigned": derive(base_bundle, root / "unsigned", None, "U"),
        "wrong_key": derive(base_bundle, root / "wrong_key", other, "W"),
        "big_m": derive(base_bundle, root / "big_m", lab, "M", order=4096),
        "big_input": derive(base_bundle, root / "big_input", lab, "I",
                            input={"shape": [100, 100], "dtype": "uint8"}),
    }
    tampered = derive(base_bundle, root / "tampered", lab, "T")
    name = json.loads((tampered / MANIFEST).read_text())["node_files"][0]
    data = bytearray((tampered / name).read_bytes())
    data[len(data) // 2] ^= 0x40  # after signing: hashes no longer match
    (tampered / name).write_bytes(bytes(data))
    b["tampered"] = tampered
    return b


def _sha(path: Path) -> bytes:
    return hashlib.sha256((path / MANIFEST).read_bytes()).digest()


# ------------------------------------------------------------------------------ nodes

@pytest.fixture
def vnode(tmp_path, keys):
    """Factory of virtual nodes (closed at the end of the test)."""
    nodes = NodeFactory(tmp_path, keys["lab_pub"])
    yield nodes
    nodes.close()


@pytest.fixture(scope="module")
def reference(base_bundle):
    """In-process encoder on the same bundle: what every SYMBOLS must match."""

    return Node(base_bundle, backend="c")


# ------------------------------------------------------------------------------ slots (in-process)

def test_transfer_archive_is_deterministic_and_unpacks_to_a_verified_slot(bundles, keys,
                                                                           tmp_path):
    a = pack_bundle(bundles["A"])
    assert a == pack_bundle(bundles["A"])
    with tarfile.open(fileobj=io.BytesIO(a)) as tar:
        names = tar.getnames()
    manifest = json.loads((bundles["A"] / MANIFEST).read_text())
    assert names == [MANIFEST, *sorted(manifest["node_files"])]
    store = SlotStore(tmp_path / "s", load_public_key(keys["lab_pub"]))
    store.recover()
    bundle = store.install(bundles["A"])
    assert bundle.slot == "a" and bundle.manifest_sha256 == _sha(bundles["A"])
    verify_bundle(tmp_path / "s" / "slot_a", load_public_key(keys["lab_pub"]))
    again = SlotStore(tmp_path / "s", load_public_key(keys["lab_pub"]))
    assert again.recover().manifest_sha256 == _sha(bundles["A"])


def _tar(members: list[tuple[str, bytes, bytes]]) -> bytes:
    """An archive with (name, tar type, data) members, written by hand where needed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "/etc/passwd"
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


@pytest.mark.parametrize("case", ["dotdot", "absolute", "nested_dotdot", "symlink", "hardlink",
                                  "directory", "manifest_not_first", "extra_file", "duplicate",
                                  "not_tar", "missing_node_file"])
def test_archive_traversal_and_odd_members_are_refused(case, bundles, tmp_path):
    src = bundles["A"]
    manifest = (src / MANIFEST).read_bytes()
    nf = json.loads(manifest)["node_files"]
    files = [(MANIFEST, tarfile.REGTYPE, manifest)] + [
        (n, tarfile.REGTYPE, (src / n).read_bytes()) for n in nf]
    evil = {
        "dotdot": [*files[:1], ("../evil", tarfile.REGTYPE, b"x"), *files[1:]],
        "absolute": [*files[:1], ("/tmp/evil", tarfile.REGTYPE, b"x"), *files[1:]],
        "nested_dotdot": [*files[:1], ("a/../../evil", tarfile.REGTYPE, b"x"), *files[1:]],
        "symlink": [*files[:1], (nf[0], tarfile.SYMTYPE, b""), *files[2:]],
        "hardlink": [*files[:1], (nf[0], tarfile.LNKTYPE, b""), *files[2:]],
        "directory": [*files[:1], ("sub", tarfile.DIRTYPE, b""), *files[1:]],
        "manifest_not_first": files[1:] + files[:1],
        "extra_file": [*files, ("extra.bin", tarfile.REGTYPE, b"x")],
        "duplicate": [*files, files[1]],
        "missing_node_file": files[:-1],
    }
    data = b"this is not a tar archive" * 40 if case == "not_tar" else _tar(evil[case])
    root = tmp_path / "s"
    store = SlotStore(root)
    store.recover()
    store.install(bundles["B"])
    sha = hashlib.sha256(data).digest()
    store.begin(len(data), sha)
    with pytest.raises(SlotError) as e:  # at the first chunk (manifest not first) or at commit
        store.write_chunk(0, data)
        store.commit(sha)
    assert e.value.code in (P.ErrorCode.ARCHIVE, P.ErrorCode.BUNDLE), e.value
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()
    assert store.active is not None and store.active.manifest_sha256 == _sha(bundles["B"])
    assert SlotStore(root).recover().manifest_sha256 == _sha(bundles["B"])


def test_staged_transfer_survives_a_restart_and_resumes(bundles, tmp_path):
    data = pack_bundle(bundles["A"])
    sha = hashlib.sha256(data).digest()
    store = SlotStore(tmp_path / "s")
    store.recover()
    assert store.begin(len(data), sha) == (0, False)
    assert store.write_chunk(0, data[:1000]) == 1000
    assert store.write_chunk(0, data[:1000]) == 1000  # a retransmission is not written twice
    with pytest.raises(SlotError) as e:
        store.write_chunk(2000, data[2000:2100])
    assert e.value.code == P.ErrorCode.FLASH_OFFSET
    with pytest.raises(SlotError) as e:
        store.commit(sha)
    assert e.value.code == P.ErrorCode.FLASH_STATE
    store = SlotStore(tmp_path / "s")  # power cycle
    store.recover()
    assert store.staged == (1000, len(data))
    assert store.begin(len(data), sha) == (1000, True)
    assert store.write_chunk(1000, data[1000:]) == len(data)
    assert store.commit(sha).manifest_sha256 == _sha(bundles["A"])
    assert store.staged is None
    assert store.commit(sha).slot == "a"  # a repeated commit answers again
    # bytes that are not the announced transfer never become a bundle: the whole-transfer
    # SHA-256 refuses them and the staging area is emptied for a fresh start
    other = pack_bundle(bundles["B"])
    sha_b = hashlib.sha256(other).digest()
    store.begin(len(other), sha_b)
    store.write_chunk(0, other[:5000])
    with open(tmp_path / "s" / "staging" / "transfer.bin", "ab") as f:
        f.write(b"garbage left by a crash")
    store = SlotStore(tmp_path / "s")
    store.recover()
    offset, resumed = store.begin(len(other), sha_b)
    assert resumed and offset == 5000 + len(b"garbage left by a crash")
    store.write_chunk(offset, other[offset:])
    with pytest.raises(SlotError) as e:
        store.commit(sha_b)
    assert e.value.code == P.ErrorCode.FLASH_HASH and store.staged is None
    assert store.active.manifest_sha256 == _sha(bundles["A"])
    assert store.begin(len(data) + 1, sha_b) == (0, False)  # another size starts afresh


def test_boot_serves_the_verified_active_slot_and_falls_back(bundles, keys, tmp_path):
    key = load_public_key(keys["lab_pub"])
    root = tmp_path / "s"
    store = SlotStore(root, key)
    store.recover()
    store.install(bundles["A"])
    store.install(bundles["B"])
    assert store.active.slot == "b"
    # a half-written inactive slot is ignored
    (root / "slot_a" / MANIFEST).write_text("{half")
    assert SlotStore(root, key).recover().manifest_sha256 == _sha(bundles["B"])
    # the active slot rots: the node falls back to the other one only if it verifies
    shutil.rmtree(root / "slot_a")
    shutil.copytree(bundles["A"], root / "slot_a")
    victim = root / "slot_b" / json.loads((bundles["B"] / MANIFEST).read_text())["node_files"][0]
    victim.write_bytes(b"rotten")
    s = SlotStore(root, key)
    assert s.recover().manifest_sha256 == _sha(bundles["A"])
    assert json.loads((root / "active").read_text())["slot"] == "a"
    # a node that now trusts another key serves nothing rather than an unverified bundle
    s = SlotStore(root, load_public_key(keys["other_pub"]))
    assert s.recover() is None and "does not verify" in s.problem
    # dimensions beyond the runtime's limits are refused
    with pytest.raises(SlotError) as e:
        SlotStore(tmp_path / "t", key, Limits(max_order=8)).install(bundles["A"])
    assert e.value.code == P.ErrorCode.DIMENSIONS


# ------------------------------------------------------------------------------ real processes

def test_hello_ping_stats_and_refusals_without_a_bundle(vnode):
    v = vnode()
    with client_for(v) as c:
        info = c.hello()
        assert info.flags & P.INFO_TRUST and not info.flags & P.INFO_ACTIVE
        assert info.active_slot == 0 and info.node_id == "virtual" and info.proto_version == 1
        assert "no bundle" in info.status
        assert c.ping(b"\x00\x01\xff" * 100) < 1.0
        with pytest.raises(NodeError) as e:
            c.encode(bytes(784))
        assert e.value.code == P.ErrorCode.NO_BUNDLE
        with pytest.raises(NodeError) as e:
            c.set_snr(10)
        assert e.value.code == P.ErrorCode.NO_BUNDLE
        st = c.stats()
        assert st["frames_ok"] == 5 and st["errors_sent"] == 2 and st["dropped"] == 0
        assert set(st["timings"]) == set(P.TIMING_STAGES)


def _raw(c: NodeClient, wire: bytes, timeout: float = 2.0) -> list[P.Frame]:
    """Write raw bytes; return the frames that come back within ``timeout`` (at least one)."""
    c.transport.write(wire)
    deadline = time.monotonic() + timeout
    out: list[P.Frame] = []
    while time.monotonic() < deadline and not out:
        out = c.transport.read_frames(deadline)
    return out


def test_bad_input_gets_an_error_reply_and_the_node_keeps_serving(vnode, bundles):
    v = vnode(install=bundles["A"])
    with client_for(v) as c:
        info = c.hello()
        assert info.manifest_sha256 == _sha(bundles["A"]) and info.input_size == 784
        n = info.n_concepts
        E = P.ErrorCode
        body = P.HEADER.pack(1, P.MsgType.PING, 9, 99) + b"abc"  # length field lies
        cases: list[tuple[bytes, int, int]] = [
            (P.cobs_encode(P.HEADER.pack(1, P.MsgType.PING, 11, 5000) + bytes(5000)) + b"\x00",
             11, E.OVERSIZED),
            (P.cobs_encode(body + P.CRC.pack(P.crc32(body))) + b"\x00", 9, E.BAD_FRAME),
            (P.encode_frame(0x7E, 12), 12, E.UNKNOWN_TYPE),
            (P.encode_frame(P.MsgType.INFO, 13, INFO_PAYLOAD), 13, E.UNKNOWN_TYPE),
            (P.encode_frame(P.MsgType.HELLO, 14, version=2), 14, E.VERSION),
            (P.encode_frame(P.MsgType.HELLO, 15, b"\x00"), 15, E.BAD_LENGTH),
            (P.encode_message(P.Input(5, bytes(783)), 16), 16, E.BAD_LENGTH),
            (P.encode_message(P.Input(5, bytes(785)), 17), 17, E.BAD_LENGTH),
            (P.encode_frame(P.MsgType.INPUT, 18, b"\x01\x02"), 18, E.BAD_LENGTH),
            (P.encode_message(P.SnrFeedback(P.SNR_MAX_CDB + 1), 19), 19, E.RANGE),
            (P.encode_message(P.SnrFeedback(-32768), 20), 20, E.RANGE),
            (P.encode_message(P.SnrFeedback(500, n + 1), 21), 21, E.RANGE),
            (P.encode_message(P.Config(7, 0), 22), 22, E.RANGE),
            (P.encode_message(P.Config(1, 0x80), 23), 23, E.RANGE),
            (P.encode_message(P.FlashChunk.make(0, b"x"), 24), 24, E.FLASH_STATE),
            (P.encode_message(P.FlashChunk(0, 1234, b"x"), 25), 25, E.FLASH_CRC),
            (P.encode_message(P.FlashCommit(bytes(32)), 26), 26, E.FLASH_STATE),
            (P.encode_message(P.FlashBegin(0, 512, bytes(32)), 27), 27, E.RANGE),
        ]
        for wire, seq, code in cases:
            (frame,) = _raw(c, wire)
            err = P.decode_message(frame)
            assert isinstance(err, P.Error) and frame.seq == seq, (seq, err)
            assert err.code == code, (seq, err)
            assert err.text
            assert c.ping(b"still there") < 1.0
        (frame,) = _raw(c, P.encode_message(P.Input(77, bytes(10)), 30))
        assert P.decode_message(frame).ref_sample == 77  # an ERROR names the sample seq
        st = c.stats()
        assert st["errors_sent"] == len(cases) + 1
        assert st["oversized"] == 1 and st["length_errors"] == 1
        assert c.hello().manifest_sha256 == _sha(bundles["A"])


INFO_PAYLOAD = P.Info(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                      bytes(8), bytes(32)).pack()


def test_flash_interrupted_at_random_chunks_then_resumed(vnode, bundles):
    v = vnode()
    rng = random.Random(11)
    total = len(pack_bundle(bundles["A"]))
    chunk = max(64, total // 40)
    n_chunks = -(-total // chunk)
    resumed = []

    class Cut(Exception):
        pass

    for _ in range(3):  # the host dies at a random chunk, three times
        stop_at = rng.randrange(1, n_chunks) * chunk

        def cut(done: int, _total: int, stop_at: int = stop_at) -> None:
            if done >= stop_at:
                raise Cut

        with client_for(v) as c, pytest.raises(Cut):
            c.flash(bundles["A"], progress_callback=cut, chunk_size=chunk)
    kill_at = rng.randrange(1, n_chunks) * chunk  # then the node loses power mid-transfer

    def power_cut(done: int, _total: int) -> None:
        if done >= kill_at and v.alive:
            v.kill()

    with client_for(v, timeout=0.2, retries=0, reconnect_timeout=0.3) as c, \
            pytest.raises(LinkError):
        c.flash(bundles["A"], progress_callback=power_cut, chunk_size=chunk)
    v.start()
    with client_for(v) as c:
        assert c.hello().flags & P.INFO_TRANSFER
        progress: list[int] = []
        result = c.flash(bundles["A"], progress_callback=lambda d, t: progress.append(d),
                         chunk_size=chunk)
        resumed.append(result.resumed_from)
        assert result.resumed_from >= kill_at - chunk > 0
        assert result.sent_bytes == total - result.resumed_from
        assert progress[0] == result.resumed_from and progress[-1] == total
        info = c.hello()
        assert info.manifest_sha256 == _sha(bundles["A"]) and not info.flags & P.INFO_TRANSFER
        assert c.flash(bundles["A"]).skipped  # already active: nothing is sent


REFUSALS = [("tampered", P.ErrorCode.BUNDLE), ("wrong_key", P.ErrorCode.SIGNATURE),
            ("unsigned", P.ErrorCode.SIGNATURE), ("big_m", P.ErrorCode.DIMENSIONS),
            ("big_input", P.ErrorCode.DIMENSIONS), ("corrupt_transfer", P.ErrorCode.FLASH_HASH)]


def test_refused_bundles_leave_the_previous_one_active(vnode, bundles, keys, reference):
    v = vnode(install=bundles["A"])
    x = samples(1)[0]
    with client_for(v) as c:
        for name, code in REFUSALS:
            if name == "corrupt_transfer":
                data = bytearray(pack_bundle(bundles["B"]))
                sha = hashlib.sha256(bytes(data)).digest()
                data[-5000] ^= 0x01  # in a node file, after hashing: chunk CRCs right, SHA not
                data = bytes(data)
            else:
                data, sha = pack_bundle(bundles[name]), None
            chunks0 = c.stats()["flash_chunks"]
            with pytest.raises(NodeError) as e:
                c.flash_archive(data, chunk_size=P.MAX_CHUNK, sha256=sha)
            assert e.value.code == code, (name, e.value)
            sent = c.stats()["flash_chunks"] - chunks0
            if code in (P.ErrorCode.SIGNATURE, P.ErrorCode.DIMENSIONS):
                assert sent <= 3  # refused as soon as the manifest had arrived
            else:
                assert sent == -(-len(data) // P.MAX_CHUNK)
            info = c.hello()
            assert info.manifest_sha256 == _sha(bundles["A"]) and info.flags & P.INFO_ACTIVE
            assert not info.flags & P.INFO_TRANSFER  # the refused transfer is discarded
            check_symbols(reference, x, c.encode(x).symbols)
        trusted = load_public_key(keys["lab_pub"])
        for name in ("tampered", "unsigned", "wrong_key"):  # the host checks before sending
            with pytest.raises(Exception, match="SHA-256|unsigned|does not verify"):
                c.flash(bundles[name], trust=trusted)
        with pytest.raises(ValueError, match="M 4096 > 1024"):
            c.flash(bundles["big_m"])
    v.restart()
    with client_for(v) as c:
        assert c.hello().manifest_sha256 == _sha(bundles["A"])


def test_a_node_without_a_key_accepts_unsigned_bundles_only_when_told(vnode, bundles):
    refused = vnode("refused", trust=False, start=False)
    with pytest.raises(NodeStartError, match="no --trust KEY.pub") as e:
        refused.start()
    assert "exited with 2" in str(e.value)
    v = vnode(trust=False, insecure=True)
    assert "WARNING: no --trust key" in v.log_text()
    with client_for(v) as c:
        info = c.hello()
        assert not info.flags & P.INFO_TRUST and info.flags & P.INFO_INSECURE
        assert c.flash(bundles["unsigned"], chunk_size=4000).slot == 1


def _boot_line(v: VirtualNode, offset: int) -> str:
    return next(line for line in v.log_text(offset).splitlines() if "serving" in line)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_each_commit_step_boots_a_complete_verified_bundle(point, vnode, bundles,
                                                                      keys, tmp_path):
    """The node installs B through the flash path (stage, unpack, verify, switch) and
    SIGKILLs itself at ``point``; on restart it serves A or B, complete and verified."""
    v = vnode(install=bundles["A"])
    v.stop()
    cmd = [*v.command(), "--install", str(bundles["B"])]
    env = {**os.environ, "SEMQAM_NODE_CRASH_AT": point,
           "PYTHONPATH": str(Path(semqam_node.__file__).parents[1])}
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    key = load_public_key(keys["lab_pub"])
    want = bundles["B"] if point == "switched" else bundles["A"]
    boot = SlotStore(tmp_path / "state", key).recover()  # what the node will serve
    assert boot.manifest_sha256 == _sha(want), point
    verify_bundle(boot.path, key)
    offset = v.log_path.stat().st_size
    v.start()
    assert _sha(want).hex()[:16] in _boot_line(v, offset)
    with client_for(v) as c:
        info = c.hello()
        assert info.manifest_sha256 == _sha(want)
        assert info.flags & P.INFO_ENCODER and c.encode(samples(1)[0]).ok
        c.flash(bundles["B"], chunk_size=P.MAX_CHUNK)  # resumes or redoes the staged transfer
        assert c.hello().manifest_sha256 == _sha(bundles["B"])


def test_sigkill_mid_commit_over_the_link_then_the_flash_completes(vnode, bundles, keys,
                                                                   tmp_path):
    """A power cut while the node commits a flashed bundle: the node boots the old bundle,
    the host's flash() reconnects and finishes the commit."""
    v = vnode(install=bundles["A"])
    v.stop()
    v.start(env={"SEMQAM_NODE_CRASH_AT": "pointer"})
    result: dict[str, Any] = {}

    def run() -> None:
        with client_for(v, timeout=1.0, retries=0, reconnect_timeout=20.0) as c:
            try:
                result["flash"] = c.flash(bundles["B"], chunk_size=P.MAX_CHUNK,
                                          commit_timeout=1.5)
                result["restarts"] = c.restarts
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    assert v.wait_exit(60) == -9
    key = load_public_key(keys["lab_pub"])
    boot = SlotStore(tmp_path / "state", key).recover()
    assert boot.manifest_sha256 == _sha(bundles["A"])  # the switch never happened
    offset = v.log_path.stat().st_size
    v.start()
    t.join(60)
    assert "error" not in result, result
    assert result["restarts"] == 1 and result["flash"].resumed_from == 0
    assert _sha(bundles["A"]).hex()[:16] in _boot_line(v, offset)
    with client_for(v) as c:
        assert c.hello().manifest_sha256 == _sha(bundles["B"])


def test_paced_wire_holds_the_configured_baud(vnode, bundles, reference):
    """A pty ignores baud: the wire delivers at 115200 baud (10 bits per byte) both ways."""
    v = vnode(baud=115200, pace=True, install=bundles["A"])
    with client_for(v, timeout=2.0) as c:
        payload = bytes(range(256)) * 2
        t0 = time.monotonic()
        outs = list(c.transact([P.Ping(payload)] * 20, window=4))
        elapsed = time.monotonic() - t0
        assert all(o.status == "ok" for o in outs)
        tx = v.wire.stats()["h2n"].bytes_out
        assert elapsed >= tx * 10 / 115200  # the host->node line never beats the baud
        assert 0.5 < tx * 10 / (elapsed * 115200) <= 1.0  # 4 frames in flight keep it busy
        results = list(c.stream(samples(12), window=3))
        report = c.last_stream
        assert report.ok == 12 and "wire paced at 115200 baud" in report.line()
        assert 0.6 < report.utilisation("tx") <= 1.0, report.line()
        assert report.samples_per_s <= 115200 / 10 / 800  # an INPUT frame is 800 bytes
        check_symbols(reference, samples(12)[5], results[5].symbols)
        print("\npaced:", report.line())


# ------------------------------------------------------------------------------ encoding


def test_stream_in_order_with_window_and_a_report(vnode, bundles, reference):
    v = vnode(install=bundles["A"])
    xs = samples(40, seed=1)
    with client_for(v) as c:
        ack = c.set_snr(12.5)
        assert ack.snr_cdb == 1250 and ack.k == ack.policy_k >= 1
        results = list(c.stream(xs, window=6, first_seq=1000))
        report = c.last_stream
        assert [r.sample_seq for r in results] == list(range(1000, 1040))
        assert all(r.ok and r.k == ack.k for r in results)
        for x, r in zip(xs, results, strict=True):
            check_symbols(reference, x, r.symbols)
            assert set(r.timings_us) == set(P.TIMING_STAGES)
        assert report.ok == 40 and report.samples_per_s > 0 and "not paced" in report.line()
        assert c.set_snr(12.5, k=2).k == 2 and c.encode(xs[0]).k == 2
        cfg = c.configure("standard", indices=True)
        r = c.encode(xs[0])
        assert r.symbols.constellation == 2 and r.symbols.indices is not None
        assert r.symbols.frac_bits == cfg.frac_bits
        st = c.stats()
        assert st["samples_encoded"] == 42 and st["timings"]["neural"].count == 42


def _fuzz(v: VirtualNode, reference: Any, n_frames: int, seed: int, input_every: int,
          window: int = 64) -> dict[str, Any]:
    """Mixed traffic through a faulty wire; returns the counts for the report."""
    rng = random.Random(seed)
    xs = samples(32, seed=seed)
    reqs: list[P.Message] = []
    for i in range(n_frames):
        if i % input_every == input_every // 2:
            reqs.append(P.Input(i, xs[i % len(xs)]))
        elif i % 97 == 0:
            reqs.append(P.SnrFeedback(rng.randrange(-1000, 3000)))
        else:
            reqs.append(P.Ping(rng.randbytes(rng.randrange(0, 24))))
    # short time-outs and a wide window: a lost frame costs 60 ms, not the link's throughput
    c = client_for(v, timeout=0.06, retries=12)
    t0 = time.monotonic()
    outs = list(c.transact(reqs, window=window))
    elapsed = time.monotonic() - t0
    assert [o.index for o in outs] == list(range(n_frames))  # exactly one outcome each
    status = Counter(o.status for o in outs)
    for o in outs:
        if o.status != "ok":
            assert o.status in ("timeout", "error") and (o.detail or o.reply), o
            continue
        if isinstance(o.request, P.Ping):
            assert o.reply == P.Pong(o.request.data)
        elif isinstance(o.request, P.SnrFeedback):
            assert isinstance(o.reply, P.SnrAck) and o.reply.snr_cdb == o.request.snr_cdb
        else:
            assert isinstance(o.reply, P.Symbols) and o.reply.sample_seq == o.request.sample_seq
            check_symbols(reference, o.request.sample, o.reply)
    errors = [o.reply for o in outs if o.status == "error"]
    assert not errors, errors[:3]
    # quiet the wire, let the last corrupted fragment be flushed by clean frames
    v.wire.set_faults(None)
    for _ in range(3):
        c.ping(b"flush")
    node = c.stats()
    wire = {d: s.as_dict() for d, s in v.wire.stats().items()}
    host = c.decoder.counters()
    c.close()
    h2n, n2h = v.wire.stats()["h2n"], v.wire.stats()["n2h"]
    # the receivers accepted exactly the frames the wire left intact and dropped exactly the
    # damaged ones (the STATS reply itself was still on the wire when the wire was read)
    assert node["frames_ok"] == h2n.intact and node["dropped"] == h2n.damaged
    assert node["empty"] == h2n.empty
    if not c.reconnects:
        assert host["frames_ok"] == n2h.intact and host["dropped"] == n2h.damaged
        assert host["empty"] == n2h.empty
    else:  # closing the host's port may discard what the pty held; the wire cannot see that
        assert 0 <= n2h.intact - host["frames_ok"] <= 4 * c.reconnects
    for d in (h2n, n2h):
        assert d.damaged_untainted == 0
        assert d.total_faults == d.faults_in_damaged + d.faults_benign + d.faults_cut
        assert d.damaged <= d.total_faults * 2  # a fault-made 0x00 cuts one frame in two
    assert v.alive
    return {"frames": n_frames, "elapsed_s": round(elapsed, 2), "outcomes": dict(status),
            "retransmits": c.counters["retransmits"], "late_replies": c.counters["late_replies"],
            "probes": c.counters["probes"], "reconnects": c.reconnects,
            "wire": wire, "node": {k: node[k] for k in (*P.COUNTERS, "dropped")},
            "host": host}


@pytest.mark.timeout(180)
def test_fuzz_corrupted_wire_10k_frames(vnode, bundles, reference, tmp_path):
    rate = 2.5e-4  # per byte and kind: ~1 % of PING frames, ~50 % of INPUT frames hit
    faults = FaultConfig(flip=rate, drop=rate, dup=rate, insert=rate, seed=2024)
    v = vnode(install=bundles["A"], faults=faults)
    counts = _fuzz(v, reference, n_frames=10_000, seed=5, input_every=100)
    (tmp_path / "fuzz.json").write_text(json.dumps(counts, indent=1))
    print("\nfuzz:", json.dumps(counts))
    total = sum(sum(w["faults"].values()) for w in counts["wire"].values())
    assert total >= 100 and counts["node"]["dropped"] > 0 and counts["host"]["dropped"] > 0


@pytest.fixture(scope="session")
def soak_enabled(request) -> None:
    """Skip (before the bundle fixtures are built) unless the soak was asked for."""
    if "soak" not in (request.config.getoption("-m") or "") and not os.environ.get("SEMQAM_SOAK"):
        pytest.skip("soak: run with -m soak (or SEMQAM_SOAK=1)")


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_soak_long_fuzz(soak_enabled, vnode, bundles, reference):
    rate = 2.5e-4
    faults = FaultConfig(flip=rate, drop=rate, dup=rate, insert=rate, seed=7)
    v = vnode(install=bundles["A"], faults=faults)
    counts = _fuzz(v, reference, n_frames=200_000, seed=9, input_every=25)
    print("\nsoak:", json.dumps(counts))


def test_node_restart_while_streaming_reports_the_lost_seqs(vnode, bundles, reference):
    v = vnode(install=bundles["A"])
    xs = samples(120, seed=3)
    with client_for(v, timeout=0.3, retries=0, reconnect_timeout=20.0) as c:
        c.set_snr(5.0)
        boot = c.hello().boot_id
        results = []
        restarter = None
        for r in c.stream(xs, window=8):
            results.append(r)
            if len(results) == 40:
                v.kill()  # power loss with 8 samples in flight
                restarter = threading.Timer(0.3, v.start)
                restarter.start()
        if restarter is not None:
            restarter.join()
        report = c.last_stream
        assert len(results) == 120 and [r.index for r in results] == list(range(120))
        statuses = Counter(r.status for r in results)
        assert set(statuses) <= {"ok", "lost"} and 1 <= statuses["lost"] <= 8, statuses
        lost = [r.sample_seq for r in results if r.status == "lost"]
        assert lost == c.lost_seqs == report.lost_seqs
        assert all("node restarted" in r.detail for r in results if r.status == "lost")
        assert c.restarts == 1 and c.hello().boot_id != boot
        for x, r in zip(xs, results, strict=True):
            if r.ok:
                check_symbols(reference, x, r.symbols)
        after = [r for r in results[41:] if r.ok]
        assert after and all(r.k == results[0].k for r in after)  # SNR was restored


def test_node_gone_for_good_every_request_still_gets_an_outcome(vnode):
    v = vnode()
    with client_for(v, timeout=0.1, retries=1, reconnect_timeout=0.5) as c:
        t0 = time.monotonic()
        outs = []
        for o in c.transact((P.Ping(bytes([i % 256])) for i in range(300)), window=8):
            outs.append(o)
            if len(outs) == 100:
                v.kill()
        elapsed = time.monotonic() - t0
    assert [o.index for o in outs] == list(range(300))
    status = Counter(o.status for o in outs)
    assert status["ok"] >= 100 and status["ok"] + status["timeout"] == 300, status
    late = [o for o in outs if o.status == "timeout"]
    assert all("did not answer" in o.detail for o in late)
    assert any(o.detail.startswith("not sent") for o in late)
    assert elapsed < 10  # no per-request reconnect once the node is known to be gone
