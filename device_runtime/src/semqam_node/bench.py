"""Node latency benchmark, MLPerf Tiny style: warm-up, then repeated timed windows of
back-to-back inferences; every figure is the median over windows of (window time / samples).

Measured side by side in one process on the same samples:

* the whole :class:`~semqam_node.node.Node` pipeline (``encode``) for the ``c`` backend and the
  ``litert`` backend (reference kernels, bit-exact with C), plus the per-stage medians the node
  records itself;
* the bare ``Interpreter.invoke()`` with the reference kernels and with the default
  (optimized + XNNPACK) kernels;
* the C nearest-codeword search against a straightforward NumPy implementation of the same
  integer search on the same data (``argmin_m Σ_d (z_q[p, d] − c_q[m, d])²``, int32 for an
  int8 bundle, int64 for a 16x8 one), with the speed-up ratio (target ≥ 5×);
* peak resident memory (``getrusage`` ``ru_maxrss``) of the process at the end.

Either bundle form runs: int8, or 16x8 (int16 activations; its ``invoke()`` rows are LiteRT's
kernels for the 16x8 model, which XNNPACK does not take).

Issue 17's ratios (``run_speed_benchmark``, what ``make bench`` prints): the whole C encode
against XNNPACK's ``invoke()`` of the same run's int8 model (target <= 1.5x; for a 16x8 bundle
against the int8 bundle of the same run, when given, and that bundle's own ratio beside it), the
nearest codeword
against the portable reference C kernel (>= 4x) and NumPy (>= 50x), the link framing of one
INPUT frame in C against the Python reference (<= 5 µs), the unpaced throughput of a real
``semqam-node`` process over a pty pair (what bounds it: CPU seconds per sample of the node and
of the host process), the node's peak RSS and its import time.

In-process timings use the calling thread's CPU clock by default (``clock="cpu"``): on a shared
machine a descheduled thread does not count; ``clock="wall"`` uses ``perf_counter``.

No CLI here: ``run_node_benchmark`` returns a dict, ``format_table`` renders it.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semqam_node import _core
from semqam_node.conventions import node_input
from semqam_node.node import TFLITE_MODELS, Node, load_interpreter
from semqam_node.stats import summarize

NEAREST_TARGET_RATIO = 5.0


CLOCKS = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


def _windows(step: Callable[[int], Any], n_items: int, repeats: int, per_window: int,
             warmup: int, clock: str = "cpu") -> dict[str, float]:
    """Run ``step(i)`` ``warmup`` times, then ``repeats`` windows of ``per_window`` calls;
    per-call µs on ``clock`` (:data:`CLOCKS`): median and spread over windows."""
    now = CLOCKS[clock]
    for i in range(warmup):
        step(i % n_items)
    per_call = []
    for w in range(repeats):
        t0 = now()
        for i in range(per_window):
            step((w * per_window + i) % n_items)
        per_call.append((now() - t0) / per_window / 1e3)
    s = summarize(per_call)
    return {"median_us": s["median"], "min_us": s["min"], "max_us": s["max"],
            "windows": repeats, "per_window": per_window}


def numpy_nearest(z: np.ndarray, positions: np.ndarray, codebook_wide: np.ndarray) -> np.ndarray:
    """The node's integer nearest-codeword search in plain NumPy (ties to the lower index
    through ``argmin``): ``z`` int8 / int16 [N, D], ``positions`` [K], ``codebook_wide`` the
    codebook widened to hold the squared distances (int32 for int8, int64 for int16) [M, D]."""
    picked = z[positions].astype(codebook_wide.dtype)
    d = ((picked[:, None, :] - codebook_wide[None]) ** 2).sum(-1)
    return d.argmin(1)


def _search_kernels(codebook: np.ndarray):
    """(search, timed search, widened codebook) of the node's codebook form."""
    if codebook.dtype == np.int16:
        return (_core.nearest_codewords16, _core.time_nearest_codewords16,
                codebook.astype(np.int64))
    return _core.nearest_codewords, _core.time_nearest_codewords, codebook.astype(np.int32)


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
        "activations": node_c.activations,
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

    model = (Path(bundle_dir) / TFLITE_MODELS[node_c.activations]).read_bytes()
    for kernels in ("reference", "default"):
        it = load_interpreter(model, kernels, num_threads=1)
        inp = it.get_input_details()[0]
        q = node_input(samples, node_c._input_lut).reshape(n, *inp["shape"][1:])
        it.set_tensor(inp["index"], q[:1])

        def invoke(i: int, it=it, idx=inp["index"], q=q) -> None:
            it.set_tensor(idx, q[i:i + 1])
            it.invoke()

        result[f"invoke_{kernels}"] = _windows(invoke, n, repeats, per_window, warmup)

    # nearest codeword: the same z and positions for C and NumPy
    z, positions = _sent_slots(node_c, samples[0], k)
    cb = node_c.codebook
    search, timed, cb_wide = _search_kernels(cb)
    same = bool(np.array_equal(search(z, positions, cb), numpy_nearest(z, positions, cb_wide)))
    inner = max(1, 2000 // max(1, k))
    c_us = []
    for _ in range(repeats):
        c_us.append(timed(z, positions, cb, inner) / inner / 1e3)
    c_call = _windows(lambda i: search(z, positions, cb), 1, repeats, per_window, warmup)
    np_call = _windows(lambda i: numpy_nearest(z, positions, cb_wide), 1, repeats, per_window,
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


def _sent_slots(node: Node, sample: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """z and the top-``k`` positions of one sample, as the node computes them."""
    z, logit, _ = node.neural_int8(sample)
    top = _core.top_k16 if node.activations == "int16" else _core.top_k
    return z, top(logit, k)


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_node_benchmark`'s result."""
    d = result["dims"]
    lines = [
        f"node benchmark  bundle {result['bundle_id']} ({_form(result)})  N={d['n_concepts']} "
        f"D={d['latent_dim']} "
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
    row("Interpreter.invoke, default (XNNPACK)" if result.get("activations", "int8") == "int8"
        else "Interpreter.invoke, default (16x8: no XNNPACK)", result["invoke_default"])
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


def _form(result: dict[str, Any]) -> str:
    return "16x8" if result.get("activations") == "int16" else "int8"


# ---- issue 17: the node's speed ratios ------------------------------------------------------

ENCODE_TARGET_RATIO = 1.5  # c encode / XNNPACK invoke, at most
NEAREST_REFERENCE_TARGET = 4.0  # reference C kernel / port kernel, at least
NEAREST_NUMPY_TARGET = 50.0  # NumPy / port kernel, at least
FRAMING_TARGET_US = 5.0  # node framing stage per 800-byte INPUT frame, at most
MNIST_ZERO_FRACTION = 0.81  # share of zero pixels in an MNIST digit: COBS cost depends on it


def digit_like_samples(n: int, size: int, seed: int = 0,
                       zero_fraction: float = MNIST_ZERO_FRACTION) -> np.ndarray:
    """Synthetic uint8 samples with an MNIST digit's share of zero bytes (labelled as such in
    the report): the framing cost depends on the zeros, not on the values."""
    rng = np.random.default_rng(seed)
    u = rng.integers(1, 256, (n, size), dtype=np.uint8)
    u[rng.random((n, size)) < zero_fraction] = 0
    return u


def run_nearest_ports(z: np.ndarray, positions: np.ndarray, codebook: np.ndarray,
                      repeats: int = 15, inner: int = 200) -> dict[str, Any]:
    """The nearest-codeword kernel (no Python in the loop; thread CPU time) on every port this
    CPU runs, ``reference`` being the portable C99 loop the node ran before the SIMD ports;
    plus NumPy on the same data. Indices must agree everywhere. ``codebook`` int8 (with int8
    ``z``) or int16 (a 16x8 node's, with int16 ``z``)."""
    search, timed, cb_wide = _search_kernels(codebook)
    want = numpy_nearest(z, positions, cb_wide)
    active = _core.active_port()
    out: dict[str, Any] = {"ports": {}, "active": active, "codebook": str(codebook.dtype)}
    try:
        for name, why in _core.ports().items():
            if why is not None:
                continue
            _core.select_port(name)
            same = bool(np.array_equal(search(z, positions, codebook), want))
            r = _windows(lambda i: timed(z, positions, codebook, inner), 1, repeats, 1, 2)
            out["ports"][name] = {"us": r["median_us"] / inner, "same_indices": same}
    finally:
        _core.select_port(active)
    out["numpy_us"] = _windows(lambda i: numpy_nearest(z, positions, cb_wide), 1, repeats, 20,
                               5)["median_us"]
    port_us = out["ports"][active]["us"]
    out["ratio_reference"] = out["ports"]["reference"]["us"] / port_us
    out["ratio_numpy"] = out["numpy_us"] / port_us
    return out


def run_framing_benchmark(input_size: int = 784, k: int = 32, repeats: int = 15,
                          per_window: int = 200, seed: int = 0) -> dict[str, Any]:
    """The node's framing per sample, C (:mod:`.protocol.cframing`, what the node runs) and the
    Python reference (:mod:`.protocol.framing`, what it ran before) side by side: receive
    (decode one INPUT frame of a digit-like sample into a Frame) and send (frame a SYMBOLS
    reply of ``k`` symbols)."""
    from . import protocol as P
    from .protocol import framing as ref

    u = digit_like_samples(1, input_size, seed)[0]
    wire = P.encode_message(P.Input(7, u.tobytes()), 3)
    reply = P.Symbols(7, k, 12, 1, tuple(range(k)), tuple(range(2 * k)), None,
                      (0,) * len(P.TIMING_STAGES))
    body = reply.pack()
    out: dict[str, Any] = {"input_frame_bytes": len(wire), "reply_frame_bytes":
                           len(P.encode_frame(reply.TYPE, 3, body)), "k": k,
                           "sample": f"synthetic, {MNIST_ZERO_FRACTION:.0%} zero bytes"}
    for name, decoder, encode in (("c", P.FrameDecoder(), P.encode_frame),
                                  ("python", ref.FrameDecoder(), ref.encode_frame)):
        (frame,) = decoder.feed(wire)
        assert frame.payload == wire_payload(wire) and encode(reply.TYPE, 3, body) == \
            ref.encode_frame(reply.TYPE, 3, body)
        rx = _windows(lambda i, d=decoder: d.feed(wire), 1, repeats, per_window, 20)
        tx = _windows(lambda i, e=encode: e(reply.TYPE, 3, body), 1, repeats, per_window, 20)
        out[name] = {"rx_us": rx["median_us"], "tx_us": tx["median_us"],
                     "total_us": rx["median_us"] + tx["median_us"]}
    out["speedup"] = out["python"]["total_us"] / out["c"]["total_us"]
    return out


def wire_payload(wire: bytes) -> bytes:
    """The payload of one encoded frame (reference decode; for checks)."""
    from .protocol import framing as ref

    raw = ref.cobs_decode(wire[:-1])
    return raw[ref.HEADER.size:-ref.CRC.size]


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of a process, all its threads (Linux: ``/proc/PID/task/*/schedstat``, ns
    resolution; ``/proc/PID/stat`` utime + stime in clock ticks where schedstat is absent)."""
    tasks = list(Path(f"/proc/{pid}/task").glob("*/schedstat"))
    if tasks:
        total = 0
        for t in tasks:
            try:
                total += int(t.read_text().split()[0])
            except (OSError, ValueError, IndexError):  # a thread that just ended
                continue
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_link_benchmark(bundle_dir: str | Path, trust: str | Path | None = None,
                       samples: int = 2000, window: int = 8, seed: int = 0) -> dict[str, Any]:
    """``make hil``-style unpaced throughput: a real ``semqam-node`` process on a pty pair
    (:class:`~.virtual.VirtualNode`, the same wire thread as ``semqam hil --port virtual``) and
    a :class:`~.host.NodeClient` streaming ``samples`` digit-like INPUT frames with ``window``
    in flight. What bounds it: CPU seconds per sample of the node process and of this (host)
    process (client, decoder, wire thread) against the wall time per sample; plus the node's
    own stage medians (STATS) and its peak RSS."""
    import tempfile

    from .host import NodeClient
    from .virtual import VirtualNode

    xs = digit_like_samples(samples, _input_size(bundle_dir), seed)
    with tempfile.TemporaryDirectory() as state, \
            VirtualNode(Path(state) / "node", trust=trust, insecure=trust is None,
                        install=bundle_dir) as v:
        client = NodeClient(v.port, timeout=2.0)
        try:
            client.hello()
            client.set_snr(20.0)
            for _ in client.stream(xs[:100], window=window):
                pass
            client.stats(reset=True)
            assert v.proc is not None
            pid = v.proc.pid
            node0, host0, t0 = _proc_cpu_s(pid), time.process_time(), time.perf_counter()
            ok = sum(r.status == "ok" for r in client.stream(xs, window=window))
            wall = time.perf_counter() - t0
            node_cpu, host_cpu = _proc_cpu_s(pid) - node0, time.process_time() - host0
            stats = client.stats()
            rss = _proc_peak_rss_mib(pid)
        finally:
            client.close()
    timings = stats["timings"]
    assert isinstance(timings, dict)
    return {
        "samples": samples, "ok": ok, "window": window, "wall_s": wall,
        "samples_per_s": samples / wall,
        "wall_us_per_sample": wall / samples * 1e6,
        "node_cpu_us_per_sample": node_cpu / samples * 1e6,
        "host_cpu_us_per_sample": host_cpu / samples * 1e6,
        "node_stage_p50_us": {name: t.p50_us for name, t in timings.items()},
        "node_peak_rss_mib": rss,
    }


def _input_size(bundle_dir: str | Path) -> int:
    return int(Node(bundle_dir, backend="c").input_size)


def measure_import(modules: tuple[str, ...] = ("semqam_node.server", "semqam_node.node"),
                   repeats: int = 5) -> dict[str, float]:
    """Median wall time of importing what ``semqam-node`` needs before it serves, each in a
    fresh interpreter, and of the bare interpreter start (``-c pass``) for comparison."""
    import subprocess

    code = ("import time; t = time.perf_counter(); import " + ", ".join(modules)
            + "; print(time.perf_counter() - t)")
    imports, starts = [], []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           text=True)
        imports.append(float(r.stdout.strip().splitlines()[-1]) * 1e3)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        starts.append((time.perf_counter() - t0) * 1e3)
    return {"import_ms": float(np.median(imports)), "interpreter_ms": float(np.median(starts)),
            "modules": ", ".join(modules)}


def run_speed_benchmark(bundle_dir: str | Path, k: int = 32, trust: str | Path | None = None,
                        repeats: int = 15, per_window: int = 50, link_samples: int = 2000,
                        int8_bundle: str | Path | None = None) -> dict[str, Any]:
    """Issue 17's ratios in one run (see the module docstring). ``int8_bundle``: the int8
    export of the same run, when ``bundle_dir`` is 16x8: its XNNPACK ``invoke()`` is the
    yardstick of the encode ratio, and its own node is measured beside (same process, same
    samples)."""
    c = Node(bundle_dir, backend="c", trust=trust)
    c8 = None
    if int8_bundle is not None and c.activations != "int8":
        c8 = Node(int8_bundle, backend="c", trust=trust)
        if c8.activations != "int8":
            raise ValueError(f"{int8_bundle}: not an int8 bundle; export it with "
                             "--activations int8")
        if c8.info()["dims"] != c.info()["dims"]:
            raise ValueError(f"{int8_bundle}: dims {c8.info()['dims']} differ from "
                             f"{bundle_dir}'s {c.info()['dims']}; export both from the same run")
    node = run_node_benchmark(bundle_dir, k=k, repeats=repeats, per_window=per_window,
                              trust=trust)
    sample = digit_like_samples(1, c.input_size)[0]
    z, positions = _sent_slots(c, sample, node["k"])
    out: dict[str, Any] = {"node": node, "node_int8": None, "nearest_int8": None}
    yardstick = node
    if c8 is not None:
        node8 = run_node_benchmark(int8_bundle, k=k, repeats=repeats, per_window=per_window,
                                   trust=trust)
        z8, pos8 = _sent_slots(c8, sample, node8["k"])
        out["node_int8"] = node8
        out["nearest_int8"] = run_nearest_ports(z8, pos8, c8.codebook, repeats)
        out["encode_ratio_int8"] = (node8["node_c"]["median_us"]
                                    / node8["invoke_default"]["median_us"])
        yardstick = node8
    out.update({
        "encode_ratio": node["node_c"]["median_us"] / yardstick["invoke_default"]["median_us"],
        "xnnpack_us": yardstick["invoke_default"]["median_us"],
        "xnnpack_model": _form(yardstick),
        "nearest": run_nearest_ports(z, positions, c.codebook, repeats),
        "framing": run_framing_benchmark(c.input_size, node["k"], repeats),
        "link": run_link_benchmark(bundle_dir, trust, link_samples),
        "imports": measure_import(),
        "port": _core.active_port(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
    })
    return out


def _bound(ln: dict[str, Any]) -> str:
    """Which process's CPU time per sample comes closest to the wall time per sample."""
    wall = ln["wall_us_per_sample"]
    node, host = ln["node_cpu_us_per_sample"], ln["host_cpu_us_per_sample"]
    who = "the host process (client + wire thread)" if host >= node else "the node process"
    return (f"{who}: {max(host, node) / wall:.0%} of the wall time per sample is its CPU "
            f"(node {node / wall:.0%}, host {host / wall:.0%})")


def format_speed(r: dict[str, Any]) -> str:
    """Issue 17's ratio table of :func:`run_speed_benchmark`."""
    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    def nearest_lines(nn: dict[str, Any], form: str) -> list[str]:
        ports = ", ".join(f"{name} {v['us']:.2f} µs" for name, v in nn["ports"].items())
        same = all(v["same_indices"] for v in nn["ports"].values())
        return [
            f"nearest codeword, {form} ({nn['active']}) {nn['ports'][nn['active']]['us']:8.2f} µs"
            f"  vs reference C {nn['ratio_reference']:.1f}x "
            f"({verdict(nn['ratio_reference'] >= NEAREST_REFERENCE_TARGET)} >= "
            f"{NEAREST_REFERENCE_TARGET:.0f}x), vs NumPy {nn['numpy_us']:.0f} µs "
            f"{nn['ratio_numpy']:.0f}x ({verdict(nn['ratio_numpy'] >= NEAREST_NUMPY_TARGET)} "
            f">= {NEAREST_NUMPY_TARGET:.0f}x); same indices: {same}",
            f"  per port: {ports}",
        ]

    node, fr, ln, im = r["node"], r["framing"], r["link"], r["imports"]
    d = node["dims"]
    form = _form(node)
    lines = [
        f"issue 17 node speed: M={d['order']} N={d['n_concepts']} D={d['latent_dim']} "
        f"K={node['k']}, port {r['port']}, {r['machine']}",
        "(thread CPU time, medians over windows; throughput in wall time)",
        f"whole encode, c backend, {form} {node['node_c']['median_us']:8.1f} µs  vs XNNPACK "
        f"invoke() of the {r['xnnpack_model']} model {r['xnnpack_us']:.1f} µs: "
        f"{r['encode_ratio']:.2f}x ({verdict(r['encode_ratio'] <= ENCODE_TARGET_RATIO)} <= "
        f"{ENCODE_TARGET_RATIO}x); backends identical: {node['backends_identical']}",
    ]
    node8 = r.get("node_int8")
    if node8 is not None:
        lines.append(
            f"whole encode, c backend, int8 {node8['node_c']['median_us']:8.1f} µs  vs the same "
            f"XNNPACK invoke(): {r['encode_ratio_int8']:.2f}x "
            f"({verdict(r['encode_ratio_int8'] <= ENCODE_TARGET_RATIO)} <= "
            f"{ENCODE_TARGET_RATIO}x); backends identical: {node8['backends_identical']}")
    lines += nearest_lines(r["nearest"], form)
    if r.get("nearest_int8") is not None:
        lines += nearest_lines(r["nearest_int8"], "int8")
    lines += [
        f"framing, {fr['input_frame_bytes']}-byte INPUT + {fr['reply_frame_bytes']}-byte "
        f"SYMBOLS ({fr['sample']}): C {fr['c']['rx_us']:.2f} + {fr['c']['tx_us']:.2f} = "
        f"{fr['c']['total_us']:.2f} µs ({verdict(fr['c']['total_us'] <= FRAMING_TARGET_US)} "
        f"<= {FRAMING_TARGET_US:.0f} µs), Python reference {fr['python']['rx_us']:.1f} + "
        f"{fr['python']['tx_us']:.1f} = {fr['python']['total_us']:.1f} µs "
        f"({fr['speedup']:.0f}x)",
        f"pty throughput ({form} node), unpaced, window {ln['window']}: "
        f"{ln['samples_per_s']:.0f} samples/s ({ln['ok']}/{ln['samples']} ok); per sample: wall "
        f"{ln['wall_us_per_sample']:.0f} µs, node CPU {ln['node_cpu_us_per_sample']:.0f} µs, "
        f"host CPU {ln['host_cpu_us_per_sample']:.0f} µs",
        f"  bound: {_bound(ln)}",
        "  node stages p50 (STATS): " + ", ".join(
            f"{k} {v} µs" for k, v in ln["node_stage_p50_us"].items()),
        f"semqam-node peak RSS {ln['node_peak_rss_mib']:.1f} MiB; import of {im['modules']} "
        f"{im['import_ms']:.0f} ms (bare interpreter start {im['interpreter_ms']:.0f} ms)",
    ]
    return "\n".join(lines)
