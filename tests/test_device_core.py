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
