"""The issue 17 benchmark pieces of ``semqam_node.bench`` on small inputs: they run, agree with
their references, and report what they claim (the numbers themselves are for ``make bench``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from semqam_node import _core
from semqam_node.bench import (
    digit_like_samples,
    numpy_nearest,
    run_framing_benchmark,
    run_link_benchmark,
    run_nearest_ports,
)
from semqam_node.testing import synthetic_bundle


def test_digit_like_samples_have_the_zero_share() -> None:
    u = digit_like_samples(50, 784, seed=1, zero_fraction=0.81)
    assert u.dtype == np.uint8 and u.shape == (50, 784)
    assert abs(float((u == 0).mean()) - 0.81) < 0.01


def test_framing_benchmark_c_beats_the_python_reference() -> None:
    r = run_framing_benchmark(784, 32, repeats=3, per_window=20)
    assert r["input_frame_bytes"] >= 4 + 784 + 10  # header, seq, sample, CRC, COBS codes
    assert r["c"]["total_us"] > 0 and r["python"]["total_us"] > 0
    assert r["speedup"] > 1.0  # C COBS/CRC vs a Python byte loop: ~37x on this machine


def test_nearest_ports_agree_and_restore_the_port() -> None:
    rng = np.random.default_rng(4)
    z = rng.integers(-128, 128, (64, 16), dtype=np.int8)
    cb = rng.integers(-128, 128, (256, 16), dtype=np.int8)
    pos = np.arange(0, 64, 2, dtype=np.uint16)
    before = _core.active_port()
    r = run_nearest_ports(z, pos, cb, repeats=3, inner=5)
    assert _core.active_port() == before == r["active"]
    assert "reference" in r["ports"] and all(v["same_indices"] for v in r["ports"].values())
    assert r["ratio_numpy"] > 0 and r["ratio_reference"] > 0
    np.testing.assert_array_equal(_core.nearest_codewords(z, pos, cb),
                                  numpy_nearest(z, pos, cb.astype(np.int32)))


def test_nearest_ports_take_the_16x8_codebook() -> None:
    """An int16 codebook (a 16x8 node's) runs the int16 search on every port, against the
    int64 NumPy search; values near the int16 limits, where an int32 sum would overflow."""
    rng = np.random.default_rng(5)
    z = rng.integers(-32768, 32768, (40, 24), dtype=np.int16)
    cb = rng.integers(-32768, 32768, (128, 24), dtype=np.int16)
    pos = np.arange(1, 40, 3, dtype=np.uint16)
    r = run_nearest_ports(z, pos, cb, repeats=3, inner=5)
    assert r["codebook"] == "int16"
    assert all(v["same_indices"] for v in r["ports"].values())
    np.testing.assert_array_equal(_core.nearest_codewords16(z, pos, cb),
                                  numpy_nearest(z, pos, cb.astype(np.int64)))


def test_link_benchmark_streams_through_a_real_node(tmp_path: Path) -> None:
    bundle = synthetic_bundle(tmp_path / "b", n_concepts=16, latent_dim=4, order=16, seed=2)
    r = run_link_benchmark(bundle, trust=None, samples=60, window=4)
    assert r["ok"] == 60 and r["samples_per_s"] > 0
    assert r["node_cpu_us_per_sample"] > 0 and r["host_cpu_us_per_sample"] > 0
    assert r["node_peak_rss_mib"] > 10  # a Python process with numpy
    assert "frame" in r["node_stage_p50_us"]
