"""The node's C99 core: its own unit-test binary (hand-computed cases, every error code) built with
the csrc Makefile, strict warnings, and once more under AddressSanitizer + UBSan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "device_runtime" / "csrc"
SENTINEL = "SEMQAM_CORE_TESTS_OK"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None,
    reason="needs make and a C compiler (cc)")


def make(target: str, build: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(CSRC), target, f"BUILD_DIR={build}", *extra],
                          capture_output=True, text=True, timeout=300)


def sentinel_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith(SENTINEL + " ")]
    assert len(lines) == 1, stdout
    return lines[0]


def test_core_unit_tests_pass_strict_build(tmp_path):
    """-std=c99 -Wall -Wextra -Werror -pedantic -O2; the binary prints the sentinel."""
    r = make("test", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout, r.stdout
    assert int(sentinel_line(r.stdout).split()[1]) > 300  # checks run


def test_core_sources_compile_warning_free(tmp_path):
    r = make("check", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in (r.stdout + r.stderr).lower()
    assert (tmp_path / "sq_kernels.o").is_file() and (tmp_path / "sq_pipeline.o").is_file()


def test_core_unit_tests_pass_with_double_rounding(tmp_path):
    """The gemmlowp double-rounding build (-DSQ_DOUBLE_ROUNDING=1) passes the same tests."""
    r = make("test-double", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    sentinel_line(r.stdout)


def _sanitizers_work(tmp_path: Path) -> str | None:
    src = tmp_path / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "probe"
    r = subprocess.run(["cc", "-fsanitize=address,undefined", str(src), "-o", str(exe)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"the compiler lacks -fsanitize=address,undefined: {r.stderr.strip()[:200]}"
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"sanitized binaries do not run here: {r.stderr.strip()[:200]}"
    return None


def test_core_unit_tests_pass_under_asan_ubsan(tmp_path):
    reason = _sanitizers_work(tmp_path)
    if reason:
        pytest.skip(reason)
    r = make("asan", tmp_path / "asan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "runtime error" not in r.stdout + r.stderr  # UBSan report
    assert "ERROR: AddressSanitizer" not in r.stdout + r.stderr
    sentinel_line(r.stdout)


def _ports(stdout: str) -> dict[str, str]:
    """``port NAME ran: ...`` / ``port NAME skipped: why`` lines of the C test binary."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "port":
            out[parts[1]] = parts[2]
    return out


def test_every_port_this_cpu_runs_is_checked_against_the_reference(tmp_path):
    """Issue 17: the exact-match tests run once per port the machine can execute, and the
    binary says which ports it skipped and why."""
    import platform

    r = make("test", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ports = _ports(r.stdout)
    assert set(ports) == {"reference", "x86_avx2", "x86_avx512_vnni", "aarch64_neon",
                          "aarch64_dotprod", "armv7em_dsp"}, r.stdout
    assert ports["reference"].startswith("ran:")
    # the Cortex-M DSP port runs on the MCU only (test_mcu.py: bit-exact firmware, digests)
    assert ports["armv7em_dsp"].startswith("skipped:")
    if platform.machine() == "x86_64":
        assert ports["aarch64_neon"].startswith("skipped:")
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
        if " avx2" in flags:
            assert ports["x86_avx2"].startswith("ran:"), ports
        if " avx512_vnni" in flags and " avx512bw" in flags:
            assert ports["x86_avx512_vnni"].startswith("ran:"), ports
    assert all("0 failures" in v for v in ports.values() if v.startswith("ran:"))


def test_portable_only_build_runs_the_reference(tmp_path):
    """-DSQ_PORTABLE_ONLY: the MCU path, C99 kernels only."""
    r = make("test-portable", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ports = _ports(r.stdout)
    assert ports["reference"].startswith("ran:")
    assert all(v.startswith("skipped:") for k, v in ports.items() if k != "reference")


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None
                    or shutil.which("qemu-aarch64") is None,
                    reason="needs gcc-aarch64-linux-gnu and qemu-user (`make test` installs them)")
def test_aarch64_ports_match_the_reference_under_qemu(tmp_path):
    """The NEON and sdot ports, cross-compiled and run under qemu-aarch64 user mode
    (Cortex-A53: NEON only; max: with the dot product)."""
    r = make("test-aarch64", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SKIPPED" not in r.stdout and "BUILT ONLY" not in r.stdout, r.stdout
    assert r.stdout.count(SENTINEL + " ") == 2, r.stdout
    a53, cpu_max = r.stdout.split("== qemu-aarch64 -cpu max")
    assert _ports(a53)["aarch64_neon"].startswith("ran:")
    assert _ports(a53)["aarch64_dotprod"].startswith("skipped:")  # Cortex-A53 has no sdot
    assert _ports(cpu_max)["aarch64_dotprod"].startswith("ran:")
