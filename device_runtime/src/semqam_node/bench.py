"""Node latency benchmark, MLPerf Tiny style: warm-up, then repeated timed windows of
back-to-back inferences; every figure is the median over windows of (window time / samples).

Measured side by side in one process on the same samples:

* the whole :class:`~semqam_node.node.Node` pipeline (``encode``) for the ``c`` backend and the
  ``litert`` backend (reference kernels, bit-exact with C), plus the per-stage medians the node
  records itself;
* the bare ``Interpreter.invoke()`` with the reference kernels and with the default
  (optimized + XNNPACK) kernels;
* the C nearest-codeword search against a straightforward NumPy implementation of the same
  integer search on the same data (``argmin_m Σ_d (z_q[p, d] − c_q[m, d])²``, int32), with the
  speed-up ratio (target ≥ 5×);
* peak resident memory (``getrusage`` ``ru_maxrss``) of the process at the end.

No CLI here: ``run_node_benchmark`` returns a dict, ``format_table`` renders it.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semqam_node import _core
from semqam_node.node import Node, load_interpreter
from semqam_node.stats import summarize

NEAREST_TARGET_RATIO = 5.0


def _windows(step: Callable[[int], Any], n_items: int, repeats: int, per_window: int,
             warmup: int) -> dict[str, float]:
    """Run ``step(i)`` ``warmup`` times, then ``repeats`` windows of ``per_window`` calls;
    per-call µs: median and spread over windows."""
    for i in range(warmup):
        step(i % n_items)
    per_call = []
    for w in range(repeats):
        t0 = time.perf_counter_ns()
        for i in range(per_window):
            step((w * per_window + i) % n_items)
        per_call.append((time.perf_counter_ns() - t0) / per_window / 1e3)
    s = summarize(per_call)
    return {"median_us": s["median"], "min_us": s["min"], "max_us": s["max"],
            "windows": repeats, "per_window": per_window}


def numpy_nearest(z: np.ndarray, positions: np.ndarray, codebook32: np.ndarray) -> np.ndarray:
    """The node's integer nearest-codeword search in plain NumPy (int32, ties to the lower
    index through ``argmin``): ``z`` int8 [N, D], ``positions`` [K], ``codebook32`` int32 [M, D]."""
    picked = z[positions].astype(np.int32)
    d = ((picked[:, None, :] - codebook32[None]) ** 2).sum(-1)
    return d.argmin(1)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def run_node_benchmark(bundle_dir: str | Path, k: int = 32, repeats: int = 10,
                       per_window: int = 50, warmup: int = 20,
                       samples: np.ndarray | None = None, trust: str | Path | None = None,
                       seed: int = 0) -> dict[str, Any]:
    """Benchmark the node on ``bundle_dir`` at ``k`` concepts per sample.

    ``samples`` uint8 [n, input_size] (default: ``per_window`` random bytes from ``seed``).
    ``repeats`` timed windows of ``per_window`` samples follow ``warmup`` untimed ones.
    """
    if repeats < 1 or per_window < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1, per_window >= 1, warmup >= 0; got {repeats}, "
                         f"{per_window}, {warmup}")
    node_c = Node(bundle_dir, backend="c", trust=trust)
    node_l = Node(bundle_dir, backend="litert", trust=trust)
    k = node_c._check_k(k)
    if samples is None:
        rng = np.random.default_rng(seed)
        samples = rng.integers(0, 256, (per_window, node_c.input_size), dtype=np.uint8)
    samples = np.ascontiguousarray(np.asarray(samples, np.uint8).reshape(len(samples), -1))
    n = len(samples)
    result: dict[str, Any] = {
        "bundle_id": node_c.manifest.get("bundle_id"),
        "dims": node_c.info()["dims"],
        "k": k,
        "rounding": node_c.limits["rounding"],
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "samples": n,
        "method": (f"{warmup} warm-up calls, then the median over {repeats} windows of "
                   f"{per_window} back-to-back calls (per-call time)"),
    }

    result["node_c"] = _windows(lambda i: node_c.encode(samples[i], k), n, repeats,
                                per_window, warmup)
    result["node_litert"] = _windows(lambda i: node_l.encode(samples[i], k), n, repeats,
                                     per_window, warmup)
    result["stages_c"] = node_c.timing_summary()
    result["stages_litert"] = node_l.timing_summary()
    identical = all(
        np.array_equal(a.iq, b.iq) and np.array_equal(a.positions, b.positions)
        for a, b in ((node_c.encode(s, k), node_l.encode(s, k)) for s in samples))
    result["backends_identical"] = bool(identical)

    model = (Path(bundle_dir) / "encoder_sci_int8.tflite").read_bytes()
    for kernels in ("reference", "default"):
        it = load_interpreter(model, kernels, num_threads=1)
        inp = it.get_input_details()[0]
        q = (samples.astype(np.int16) - 128).astype(np.int8).reshape(n, *inp["shape"][1:])
        it.set_tensor(inp["index"], q[:1])

        def invoke(i: int, it=it, idx=inp["index"], q=q) -> None:
            it.set_tensor(idx, q[i:i + 1])
            it.invoke()

        result[f"invoke_{kernels}"] = _windows(invoke, n, repeats, per_window, warmup)

    # nearest codeword: the same z and positions for C and NumPy
    z, logit, _ = node_c.neural_int8(samples[0])
    positions = _core.top_k(logit, k)
    cb = node_c.codebook_int8
    cb32 = cb.astype(np.int32)
    same = bool(np.array_equal(_core.nearest_codewords(z, positions, cb),
                               numpy_nearest(z, positions, cb32)))
    inner = max(1, 2000 // max(1, k))
    c_us = []
    for _ in range(repeats):
        c_us.append(_core.time_nearest_codewords(z, positions, cb, inner) / inner / 1e3)
    c_call = _windows(lambda i: _core.nearest_codewords(z, positions, cb), 1, repeats,
                      per_window, warmup)
    np_call = _windows(lambda i: numpy_nearest(z, positions, cb32), 1, repeats, per_window,
                       warmup)
    c_kernel = float(np.median(c_us))
    result["nearest"] = {
        "c_kernel_us": c_kernel,
        "c_call_us": c_call["median_us"],
        "numpy_us": np_call["median_us"],
        "ratio_kernel": np_call["median_us"] / c_kernel if c_kernel > 0 else float("inf"),
        "ratio_call": np_call["median_us"] / c_call["median_us"],
        "target_ratio": NEAREST_TARGET_RATIO,
        "same_indices": same,
        "k": k, "order": int(cb.shape[0]), "latent_dim": int(cb.shape[1]),
    }
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_node_benchmark`'s result."""
    d = result["dims"]
    lines = [
        f"node benchmark  bundle {result['bundle_id']}  N={d['n_concepts']} D={d['latent_dim']} "
        f"M={d['order']} K={result['k']}  ({result['machine']}, Python {result['python']})",
        f"method: {result['method']}",
        "",
        f"{'measurement':44s} {'median µs':>11s} {'min µs':>10s} {'max µs':>10s}",
    ]

    def row(name: str, r: dict[str, float]) -> None:
        lines.append(f"{name:44s} {r['median_us']:11.1f} {r['min_us']:10.1f} {r['max_us']:10.1f}")

    row("Node.encode, backend c", result["node_c"])
    row("Node.encode, backend litert (reference)", result["node_litert"])
    row("Interpreter.invoke, reference kernels", result["invoke_reference"])
    row("Interpreter.invoke, default (XNNPACK)", result["invoke_default"])
    lines += ["", f"{'stage (Node-recorded)':44s} {'c median':>11s} {'litert med':>10s}"]
    for stage in ("neural", "select", "quantize", "map"):
        c = result["stages_c"].get(stage, {}).get("median_us", float("nan"))
        lt = result["stages_litert"].get(stage, {}).get("median_us", float("nan"))
        lines.append(f"{stage:44s} {c:11.2f} {lt:10.2f}")
    nn = result["nearest"]
    verdict = "meets" if nn["ratio_kernel"] >= nn["target_ratio"] else "MISSES"
    lines += [
        "",
        f"nearest codeword (K={nn['k']}, M={nn['order']}, D={nn['latent_dim']}):",
        f"  C kernel {nn['c_kernel_us']:.2f} µs, C via Python {nn['c_call_us']:.2f} µs, "
        f"NumPy {nn['numpy_us']:.2f} µs",
        f"  speed-up {nn['ratio_kernel']:.1f}x (kernel), {nn['ratio_call']:.1f}x (with the "
        f"Python call); {verdict} the {nn['target_ratio']:.0f}x target; "
        f"same indices: {nn['same_indices']}",
        f"backends identical on all samples: {result['backends_identical']}",
        f"peak RSS: {result['peak_rss_mib']:.1f} MiB",
    ]
    return "\n".join(lines)
