"""The Cortex-M firmware (device_runtime/mcu/) on QEMU: built with -Werror for the M4F
(mps2-an386, Q31 requantization) and the M7 (mps2-an500, double scales), it boots, prints its
banner with the bundle identity, answers HELLO with the bundle active, and encodes 50 samples
bit-exact with the Linux node (M7: ``Node(backend="c")``; M4F: ``integer_only=True``, the same
Q31 path). Needs arm-none-eabi-gcc and qemu-system-arm (``make mcu-tools``; ``make test``
installs them): without them these tests fail, they do not skip.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from semqam_node import protocol as P
from semqam_node.node import Node
from semqam_node.qemu import QemuNode, QemuSession, build_firmware, firmware_dir
from semqam_node.session import open_node, trust_warning
from semqam_node.testing import synthetic_bundle
from semqam_node.wire import FaultConfig

MCU = Path(__file__).resolve().parents[1] / "mcu"
RAM_BUDGET = 48 * 1024
STACK = 8 * 1024


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_bundle(tmp_path_factory.mktemp("mcu") / "bundle", n_concepts=32,
                            latent_dim=4, order=16, seed=5)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run `make mcu-tools` (the MCU tests do not skip)")
    return tmp_path_factory.mktemp("fw")


class Link:
    """Request/reply over the firmware's UART socket, one request at a time."""

    def __init__(self, node: QemuNode) -> None:
        assert node.sock is not None
        self.sock = node.sock
        self.sock.settimeout(20)
        self.dec = P.FrameDecoder()
        self.pending: list[P.Frame] = []

    def ask(self, msg: P.Message, seq: int) -> P.Message:
        self.sock.sendall(P.encode_message(msg, seq))
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the firmware closed its UART"
            self.pending += [f for f in self.dec.feed(data) if isinstance(f, P.Frame)]
        frame = self.pending.pop(0)
        assert frame.seq == seq
        return P.decode_message(frame)


@pytest.mark.parametrize("port", ["qemu-m4", "qemu-m7"])
def test_firmware_encodes_bit_exact_with_the_linux_node(port: str, bundle: Path,
                                                        builds: Path) -> None:
    elf = build_firmware(port, bundle, MCU, builds)
    size = (elf.parent / "size.txt").read_text().split("\n")[1].split()
    text, data, bss = (int(v) for v in size[:3])
    assert data + bss + STACK <= RAM_BUDGET, (data, bss)
    node = Node(bundle, backend="c", integer_only=port == "qemu-m4")
    manifest_sha = hashlib.sha256((bundle / "manifest.json").read_bytes()).digest()
    with QemuNode(port, elf) as q:
        assert q.banner_field("manifest") == manifest_sha.hex()
        assert q.banner_field("requant") == ("q31" if port == "qemu-m4" else "double")
        assert q.banner_field("kernels") == "armv7em_dsp"  # the DSP port is what ran bit-exact
        assert q.banner_field("model") == "ok"
        link = Link(q)
        info = link.ask(P.Hello(), 1)
        assert isinstance(info, P.Info)
        assert info.flags & P.INFO_ACTIVE and info.flags & P.INFO_ENCODER
        assert info.flags & P.INFO_FIXED and not trust_warning(info)
        assert info.manifest_sha256 == manifest_sha and info.status == "ready"
        assert (info.order, info.n_concepts, info.input_size) == (16, 32, 784)
        assert link.ask(P.Ping(b"\x00abc" * 100), 2) == P.Pong(b"\x00abc" * 100)
        assert link.ask(P.Config(1, P.CFG_INDICES), 3) == P.ConfigAck(1, 1, 12)
        ack = link.ask(P.SnrFeedback(500, 0), 4)
        assert isinstance(ack, P.SnrAck)
        node.set_snr(500)
        assert ack.k == node.k
        rng = np.random.default_rng(9)
        for i in range(50):
            sample = rng.integers(0, 256, 784, dtype=np.uint8)
            sample[rng.random(784) < 0.5] = 0  # MNIST-like: many dark pixels
            sym = link.ask(P.Input(1000 + i, sample.tobytes()), 100 + i)
            assert isinstance(sym, P.Symbols), sym
            ref = node.encode(sample)
            assert sym.sample_seq == 1000 + i and sym.k == ref.k
            assert sym.positions == tuple(int(v) for v in ref.positions)
            assert sym.indices == tuple(int(v) for v in ref.indices)
            assert sym.iq == tuple(int(v) for v in ref.iq.reshape(-1))
            assert len(sym.timings_us) == 5
        stats = link.ask(P.StatsRequest(0), 200)
        assert isinstance(stats, P.Stats)
        counts = stats.as_dict()
        assert counts["samples_encoded"] == 50 and counts["dropped"] == 0
        assert counts["frames_ok"] == 55
        err = link.ask(P.FlashAbort(), 201)
        assert isinstance(err, P.Error) and err.code == P.ErrorCode.FLASH_STATE
    assert text > 0


def test_firmware_sources_ship_with_the_package() -> None:
    """``--port qemu-m4`` builds from an installed package: the sources it finds are the
    repository's (the copy under semqam_node/_firmware, or the tree itself when run from it)."""
    found = firmware_dir()
    for name in ("main.c", "board.c", "startup.c", "mps2.ld", "Makefile"):
        assert (found / name).read_bytes() == (MCU / name).read_bytes(), name
    for name in ("sq_pipeline.c", "link/sq_server.c", "semqam_core.h"):
        assert (found.parent / "csrc" / name).read_bytes() == (MCU.parent / "csrc" / name
                                                               ).read_bytes(), name


def test_open_node_qemu_behind_the_fault_wire(node_bundle: Path, signing_keys: tuple[Path, Path],
                                              builds: Path, monkeypatch: pytest.MonkeyPatch,
                                              ) -> None:
    """``open_node("qemu-m4")``: the firmware (built into the cache) runs the bundle, nothing
    is flashed; behind the fault-injecting wire every sample is still bit-exact with the node's
    integer-only path, and the firmware's frame counters equal the wire's bookkeeping (frames
    it left intact were accepted, damaged ones dropped)."""
    monkeypatch.setenv("SEMQAM_FIRMWARE_CACHE", str(builds / "cache"))
    ref = Node(node_bundle, backend="c", integer_only=True)
    xs = np.random.default_rng(4).integers(0, 256, (40, 784), dtype=np.uint8)
    faults = FaultConfig(flip=2e-4, drop=1e-4, dup=1e-4, insert=1e-4, seed=11)
    with open_node("qemu-m4", node_bundle, trust=signing_keys[1], faults=faults,
                   timeout=0.3) as s:
        assert isinstance(s.virtual, QemuSession) and s.virtual.wire is not None
        assert s.flash.skipped and s.node_pid
        d = s.describe()
        assert d["port"] == "qemu-m4" and d["emulator"] == "qemu-system-arm -M mps2-an386"
        assert s.client.set_snr(12.0).k == ref.set_snr(1200)
        s.client.engine.retries = 10  # an 800-byte INPUT is hit often at these rates
        results = list(s.client.stream(list(xs), window=4))
        for u, r in zip(xs, results, strict=True):
            assert r.ok, r
            want = ref.encode(u)
            np.testing.assert_array_equal(r.positions, want.positions)
            np.testing.assert_array_equal(r.iq, want.iq)
        wire = s.virtual.wire
        wire.set_faults(None)
        for _ in range(3):
            s.client.ping(b"flush")
        node = s.client.stats()
        h2n = wire.stats()["h2n"]
        assert h2n.total_faults > 0 and s.client.counters["retransmits"] > 0
        assert node["frames_ok"] == h2n.intact and node["dropped"] == h2n.damaged
        assert node["empty"] == h2n.empty and h2n.damaged_untainted == 0
    assert list((builds / "cache").iterdir())  # built under SEMQAM_FIRMWARE_CACHE


def test_open_node_qemu_refuses_an_untrusted_bundle_before_building(
        node_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semqam_node.errors import BundleError
    from semqam_node.testing import write_keypair

    monkeypatch.setenv("SEMQAM_FIRMWARE_CACHE", str(tmp_path / "cache"))
    _, other = write_keypair(tmp_path / "keys")
    with pytest.raises(BundleError, match="signature"), \
            open_node("qemu-m7", node_bundle, trust=other):
        pass
    assert not (tmp_path / "cache").exists()


def test_footprint_measures_the_painted_stack_and_the_model(bundle: Path, builds: Path) -> None:
    """The footprint report: sizes from arm-none-eabi-size, the model's bytes at least its
    arrays' (plus the layer table), the stack high-water mark read back from the firmware's
    painted stack after a K = N encode (non-zero, inside the reserved stack)."""
    from semqam_node.mcu_model import load_bundle_model
    from semqam_node.qemu import footprint

    arrays, meta, _ = load_bundle_model(bundle)
    fp = footprint("qemu-m4", bundle, builds / "fp")
    size = (builds / "fp" / "an386" / "size.txt").read_text().split("\n")[1].split()
    assert [fp["text"], fp["data"], fp["bss"]] == [int(v) for v in size[:3]]
    flash_arrays = sum(a.nbytes for k, a in arrays.items()
                       if not k.endswith((".scale", ".params")) and "float" not in k
                       and k not in ("codebook",))
    assert flash_arrays <= int(fp["model_bytes"]) <= flash_arrays + 64 * 8 + 64
    assert 256 < int(fp["stack_bytes"]) < int(fp["stack_size"]) == STACK
    assert fp["ram"] == fp["data"] + fp["bss"] and int(fp["ram"]) <= RAM_BUDGET
    assert fp["flash"] == int(fp["text"]) + int(fp["data"])


def test_instruction_counts_per_stage_are_exact_and_scale_with_k(bundle: Path,
                                                                 builds: Path) -> None:
    """The sq_icount plugin's counts are instruction counts, not timings: the same sample
    costs the same instructions every time (neural within one), and the
    nearest-codeword stage grows linearly with K (K slots x M codewords x D)."""
    from semqam_node.qemu import profile_instructions

    rng = np.random.default_rng(2)
    u = rng.integers(0, 256, 784, dtype=np.uint8).tobytes()
    counts = {}
    for k in (4, 8):
        r = profile_instructions("qemu-m4", bundle, [u, u, u], 20.0, k, build_dir=builds / "ic")
        assert r["k"] == k and r["samples"] == 3
        per = r["per_sample"]
        for name in ("select", "quantize", "map"):
            assert per[0][name] == per[1][name] == per[2][name] > 0, name
        # exact, the first sample included (the firmware picks its kernels at boot)
        assert per[0]["neural"] == per[1]["neural"] == per[2]["neural"]
        counts[k] = per[0]
    # the neural network does not depend on K; the codeword search is K x (M x D + c) + c'
    assert counts[4]["neural"] == counts[8]["neural"]
    q4, q8 = counts[4]["quantize"], counts[8]["quantize"]
    assert 1.8 < q8 / q4 < 2.05 and q8 - q4 > 4 * 16 * 4


def test_dsp_kernels_instruction_budget(tmp_path: Path, builds: Path) -> None:
    """Regression guard of the Armv7E-M DSP port on the M4F (issue: sq_encode at K = 16 <= 3.5 M
    instructions for the MNIST M = 256 model, 1.62 M MACs + K x M x D = 262,144 codeword
    elements). On a model of the same kind (784 -> 256 -> N x D = 64 x 64, M = 256), per unit
    of work: the neural stage <= 1.8 instructions per MAC (measured 1.71 on the MNIST model;
    the floor of one LDR + two SXTB16 + two SMLAD per weight word is 1.25), the codeword
    search <= 1.5 per element (measured 1.39) — together <= 1.8 x 1.62 M + 1.5 x 262 k
    = 3.31 M on the MNIST model — and the portable kernels, same integers, at least 1.9x
    more (measured 2.22x)."""
    from semqam_node.qemu import profile_instructions

    b = synthetic_bundle(tmp_path / "b", n_concepts=64, latent_dim=64, order=256,
                         hidden=256, seed=3)
    with np.load(b / "node_model.npz") as npz:
        macs = sum(npz[f].size for f in npz.files if f.endswith(".weights"))
    k, m, d = 16, 256, 64
    u = np.random.default_rng(4).integers(0, 256, 784, dtype=np.uint8).tobytes()
    dsp = profile_instructions("qemu-m4", b, [u, u], 20.0, k, build_dir=builds / "budget")
    ref = profile_instructions("qemu-m4", b, [u, u], 20.0, k, build_dir=builds / "budget",
                               kernels="reference")
    assert dsp["k"] == ref["k"] == k and dsp["kernels"] == "dsp"
    neural, quantize = dsp["median"]["neural"], dsp["median"]["quantize"]
    assert neural <= 1.8 * macs, neural / macs
    assert quantize <= 1.5 * k * m * d, quantize / (k * m * d)
    assert ref["encode_median"] >= 1.9 * dsp["encode_median"]


def _firmware_digest(port: str, out: Path) -> str:
    """Build the self-test image for ``port``'s board and read its digest line from QEMU."""
    import subprocess
    import time

    from semqam_node.qemu import BOARDS

    machine, board = BOARDS[port]
    subprocess.run(["make", "-s", "-C", str(MCU), f"BOARD={board}", f"BUILD_DIR={out / board}",
                    "selftest"], check=True, capture_output=True)
    proc = subprocess.Popen(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
                             "-serial", "stdio", "-kernel",
                             str(out / board / f"semqam-selftest-{board}.elf")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode("ascii", "replace")
            if line.startswith("SEMQAM-SELFTEST"):
                return line.split("digest=")[1].strip()
        raise AssertionError(f"no self-test line from {machine}")
    finally:
        proc.kill()
        proc.wait()


def test_core_self_test_digest_is_identical_on_x86_m4_and_m7(builds: Path) -> None:
    """The core's integer results (FC with Q31 requantization, top-K, nearest codeword, mapping,
    requantization across the int32 range) on fixed pseudo-random data: the same digest from
    the host build (its SIMD port, as the Linux node dispatches), the Cortex-M4F and the M7."""
    import ctypes
    import subprocess

    csrc = MCU.parent / "csrc"
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc is not None, "no host C compiler"
    so = builds / "libselftest.so"
    srcs = ["sq_selftest.c", "sq_kernels.c", "sq_pipeline.c", "sq_dispatch.c",
            "ports/x86_avx2.c", "ports/x86_avx512_vnni.c", "ports/aarch64_neon.c"]
    subprocess.run([cc, "-std=c99", "-O3", "-ffp-contract=off", "-fPIC", "-shared",
                    f"-I{csrc}", "-o", str(so), *(str(csrc / f) for f in srcs)], check=True)
    lib = ctypes.CDLL(str(so))
    lib.sq_self_test_digest.restype = ctypes.c_uint32
    host = f"{lib.sq_self_test_digest():08x}"
    assert host != "00000000"  # every core call succeeded
    assert _firmware_digest("qemu-m4", builds / "st") == host
    assert _firmware_digest("qemu-m7", builds / "st") == host
