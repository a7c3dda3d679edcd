"""Profile a node over its link: latency per stage, end to end and streamed, CPU time and energy
per sample against sending the raw sample (docs/energy.md).

MLPerf Tiny convention: ``warmup`` inferences are discarded, then ``windows`` timed windows of
``per_window`` inferences each. Each latency is reported as the median and p95 over all timed
samples, plus the median of every window and the median over those window medians; per-sample
costs (CPU time, bytes, energy) are per-window means (total / samples) and the median over
windows. Timed windows keep one request in flight (``window = 1``), so the round trip
``e2e = host write + link + node + reply`` is one sample's; the throughput windows that follow
keep ``stream_window`` in flight.

CPU time per sample, two ways:

* ``stages_compute_s``: the node's own stage timings (SYMBOLS ``timings_us``) summed over the
  encoder's stages ``neural + select + quantize + map``. Any node reports them, real or virtual.
  **This one feeds the energy**: it is the work a deployed sensor does per sample. The
  ``frame`` stage (decoding the INPUT frame) is left out: it exists only because the HIL link
  carries the sample; a sensor reads its own ADC.
* ``process_s``: CPU time of the node's process over the timed windows / samples, when its
  pid is known (virtual node): ``/proc`` schedstat (ns) or ``psutil`` (10 ms ticks). It
  includes the protocol, the Python interpreter and serial I/O: an upper bound for this
  runtime, reported as a check.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from semqam_node.conventions import ENCODE_STAGES
from semqam_node.stats import summarize

from hil.energy import (
    NodePower,
    Radio,
    Rapl,
    compare,
    node_power,
    position_side_info,
    raw_energy,
    sample_energy,
)

SCHEMA = "semqam-profile/1"
BITS_PER_BYTE = 10  # UART 8N1: start, 8 data, stop

Progress = Callable[[str, int, int], None]  # (phase, done, total) over the whole run


def profile_node(node: Any, samples: Sequence[bytes] | np.ndarray, *, snr_db: float = 10.0,
                 k: int | None = None, constellation: str = "semantic", warmup: int = 20,
                 windows: int = 5, per_window: int = 50, stream_window: int = 4,
                 node_pid: int | None = None, power: NodePower | None = None,
                 radio: Radio | None = None, rapl: Rapl | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Profile ``node`` (a :class:`semqam_node.session.NodeSession` or a bare ``NodeClient``) on
    ``samples`` (uint8 ``[n, ...]`` or a list of bytes, each the bundle's input size; used
    cyclically) at ``snr_db`` (the node's policy picks K) or a forced ``k``.

    ``power`` defaults to the ``pi4`` preset, ``radio`` to :class:`Radio` defaults, ``rapl``
    to the machine's powercap counters. Returns a JSON-ready dict (docs/energy.md lists it).
    """
    for name, v, low in (("warmup", warmup, 0), ("windows", windows, 1),
                         ("per_window", per_window, 1), ("stream_window", stream_window, 1)):
        if not isinstance(v, int) or v < low:
            raise ValueError(f"{name} {v!r}; use an integer >= {low}")
    client = getattr(node, "client", node)
    if node_pid is None:
        node_pid = getattr(node, "node_pid", None)
    power = power or node_power("pi4")
    radio = radio or Radio()
    rapl = rapl if rapl is not None else Rapl()
    t_start = time.monotonic()

    info = client.info or client.hello()
    data = _as_bytes(samples, info.input_size)
    client.configure(constellation)
    ack = client.set_snr(snr_db, k)
    total = warmup + 2 * windows * per_window
    done = 0

    def tick(phase: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(phase, done, total)

    cursor = 0

    def batch(n: int) -> list[bytes]:
        nonlocal cursor
        out = [data[(cursor + i) % len(data)] for i in range(n)]
        cursor += n
        return out

    for r in client.stream(batch(warmup), window=1):
        tick("warm-up")
        if not r.ok:
            raise ValueError(f"warm-up sample {r.index} {r.status}: {r.detail}")

    proc = _NodeProcess(node_pid)
    timed = _Timed()
    for _w in range(windows):
        xs = batch(per_window)
        c0, r0, t0 = proc.cpu_s(), rapl.read() if rapl.available else {}, time.perf_counter()
        results = []
        for r in client.stream(xs, window=1):
            tick("timed")
            results.append(r)
        t1, c1 = time.perf_counter(), proc.cpu_s()
        r1 = rapl.read() if rapl.available else {}
        timed.add(results, client.last_stream, t1 - t0,
                  None if c0 is None or c1 is None else c1 - c0,
                  rapl.total_j(rapl.delta_j(r0, r1)) if rapl.available else None)
    if not timed.ok:
        raise ValueError(f"no sample answered in the timed windows ({timed.first_problem})")

    rates = []
    for _w in range(windows):
        for _ in client.stream(batch(per_window), window=stream_window):
            tick("throughput")
        rates.append(client.last_stream.samples_per_s)

    stages = {s: _summary(timed.stage(s)) for s in timed.stage_names}
    compute = _summary(timed.per_sample(ENCODE_STAGES))
    node_total = _summary(timed.per_sample(tuple(timed.stage_names)))
    e2e = _summary(timed.rtt_us)
    k_values = sorted({kk for w in timed.k for kk in w})
    symbols = float(np.mean([kk for w in timed.k for kk in w]))
    cpu_compute_s = _median([np.mean(w) for w in timed.per_sample(ENCODE_STAGES)]) / 1e6
    cpu_total_s = _median([np.mean(w) for w in timed.per_sample(tuple(timed.stage_names))]) / 1e6
    process_s = (_median(timed.process_s) if timed.process_s else None)
    virtual = bool(getattr(node, "virtual", None))
    cpu_source = ("node stage timings neural+select+quantize+map (SYMBOLS timings_us), median "
                  "over windows of the per-window mean"
                  + (f"; measured on a virtual node on this host ({_cpu_model()}), not on "
                     f"{power.name}" if virtual else ""))
    semantic = sample_energy(cpu_compute_s, symbols, power, radio, cpu_source=cpu_source)
    raw = raw_energy(info.input_size, info.order, radio)
    tx = _median(timed.bytes_tx)
    rx = _median(timed.bytes_rx)
    baud = client.baud
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "node": node.describe() if hasattr(node, "describe") else {
            "port": getattr(client, "url", "?"), "baud": baud, "link": client.link_note},
        "host": {"platform": platform.platform(), "cpu": _cpu_model(), "cpus": os.cpu_count()},
        "bundle": {"bundle_id": info.bundle_id_hex, "order": info.order,
                   "n_concepts": info.n_concepts, "input_size": info.input_size},
        "settings": {"snr_db": snr_db, "k_override": k, "k": ack.k, "policy_k": ack.policy_k,
                     "constellation": constellation, "warmup": warmup, "windows": windows,
                     "per_window": per_window, "stream_window": stream_window,
                     "distinct_samples": len(data)},
        "samples": {"timed": timed.n, "ok": timed.ok, "failed": timed.n - timed.ok,
                    "retransmits": timed.retransmits},
        "stages_us": stages,
        "compute_us": compute,
        "node_total_us": node_total,
        "e2e_us": {**e2e, "window": 1,
                   "note": "host round trip of one sample: write, link both ways, node, reply"},
        "throughput": {"window": stream_window, "samples_per_s": _median(rates),
                       "window_samples_per_s": rates},
        "link": {"baud": baud, "paced": client.link_note, "bits_per_byte": BITS_PER_BYTE,
                 "bytes_tx_per_sample": tx, "bytes_rx_per_sample": rx,
                 "airtime_tx_s": BITS_PER_BYTE * tx / baud,
                 "airtime_rx_s": BITS_PER_BYTE * rx / baud,
                 "airtime_s": BITS_PER_BYTE * (tx + rx) / baud,
                 "note": "HIL serial link (host->node carries the raw sample), not the radio"},
        "cpu": {"stages_compute_s": cpu_compute_s, "stages_total_s": cpu_total_s,
                "process_s": process_s, "process_note": proc.note,
                "energy_uses": "stages_compute_s"},
        "symbols": {"k_values": k_values, "per_sample": symbols, "raw_per_sample": raw["symbols"],
                    "bits_per_symbol": raw["bits_per_symbol"]},
        "power": power.as_dict(),
        "radio": radio.as_dict(),
        "energy": {"semantic": semantic, "raw": raw, "compare": compare(semantic, raw, radio),
                   "position_side_info": position_side_info(
                       int(round(symbols)), info.n_concepts, info.order, radio)},
        "rapl": _rapl_report(rapl, timed),
        "elapsed_s": time.monotonic() - t_start,
    }


# --------------------------------------------------------------------------------------------


class _Timed:
    """What the timed windows recorded, per window."""

    def __init__(self) -> None:
        self.stage_names: list[str] = []
        self.timings: list[list[dict[str, int]]] = []
        self.rtt_us: list[list[float]] = []
        self.k: list[list[int]] = []
        self.bytes_tx: list[float] = []
        self.bytes_rx: list[float] = []
        self.process_s: list[float] = []
        self.rapl_j: list[float | None] = []
        self.elapsed_s: list[float] = []
        self.n = self.ok = self.retransmits = 0
        self.first_problem = ""

    def add(self, results: list[Any], report: Any, elapsed_s: float, cpu_s: float | None,
            rapl_j: float | None) -> None:
        good = [r for r in results if r.ok]
        self.n += len(results)
        self.ok += len(good)
        self.retransmits += report.retransmits
        bad = [r for r in results if not r.ok]
        if bad and not self.first_problem:
            self.first_problem = f"sample {bad[0].index} {bad[0].status}: {bad[0].detail}"
        if not good:
            return
        if not self.stage_names:
            self.stage_names = list(good[0].timings_us)
        self.timings.append([r.timings_us for r in good])
        self.rtt_us.append([r.rtt_s * 1e6 for r in good])
        self.k.append([r.k for r in good])
        self.bytes_tx.append(report.bytes_tx / len(good))
        self.bytes_rx.append(report.bytes_rx / len(good))
        if cpu_s is not None:
            self.process_s.append(cpu_s / len(good))
        self.rapl_j.append(None if rapl_j is None else rapl_j / len(good))
        self.elapsed_s.append(elapsed_s)

    def stage(self, name: str) -> list[list[float]]:
        return [[float(t.get(name, 0)) for t in w] for w in self.timings]

    def per_sample(self, names: Sequence[str]) -> list[list[float]]:
        return [[float(sum(t.get(n, 0) for n in names)) for t in w] for w in self.timings]


def _summary(per_window: list[list[float]]) -> dict[str, Any]:
    """Median / p95 / mean over all values, each window's median, and their median."""
    medians = [float(np.median(w)) for w in per_window if len(w)]
    return {**summarize(v for w in per_window for v in w), "window_medians": medians,
            "median_of_windows": _median(medians)}


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def _as_bytes(samples: Sequence[bytes] | np.ndarray, input_size: int) -> list[bytes]:
    if isinstance(samples, np.ndarray):
        if samples.dtype != np.uint8:
            raise ValueError(f"samples are {samples.dtype}; pass uint8 bytes "
                             "(semqam_node.conventions.sample_rows turns [0, 1] floats into them)")
        out = [s.tobytes() for s in samples.reshape(len(samples), -1)]
    else:
        out = [s.tobytes() if isinstance(s, np.ndarray) else bytes(s) for s in samples]
    if not out:
        raise ValueError("no samples to profile with")
    wrong = {len(s) for s in out} - {input_size}
    if wrong:
        raise ValueError(f"samples of {sorted(wrong)} bytes; the node's bundle takes "
                         f"{input_size}")
    return out


class _NodeProcess:
    """CPU time of the node's process, if its pid is known: the sum of its threads' on-CPU
    nanoseconds from ``/proc/<pid>/task/*/schedstat`` (Linux), else ``psutil`` user + system
    time (clock ticks: 10 ms resolution, so use long windows)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.proc: Any = None
        self.method = ""
        if pid is None:
            self.note = "not measured: the node's process is not on this host (real node)"
            return
        if self._schedstat() is not None:
            self.method = "schedstat"
            self.note = (f"on-CPU time of the node process (pid {pid}, /proc schedstat, ns) over "
                         "the timed windows / samples; includes protocol, interpreter and I/O")
            return
        try:
            import psutil

            self.proc = psutil.Process(pid)
            self.method = "psutil"
            self.note = (f"psutil user+system CPU time of the node process (pid {pid}, 10 ms "
                         "ticks) over the timed windows / samples; includes protocol, "
                         "interpreter and I/O")
        except Exception as e:  # noqa: BLE001 - psutil missing or the process is gone
            self.note = f"not measured: {type(e).__name__}: {e}"

    def _schedstat(self) -> float | None:
        total = 0
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
            for tid in tasks:
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return total / 1e9 if tasks else None

    def cpu_s(self) -> float | None:
        if self.method == "schedstat":
            t = self._schedstat()
            if t is None:
                self.note = f"not measured: /proc/{self.pid} went away"
                self.method = ""
            return t
        if self.proc is None:
            return None
        try:
            times = self.proc.cpu_times()
        except Exception as e:  # noqa: BLE001 - the process ended
            self.note = f"not measured: {type(e).__name__}: {e}"
            self.proc = None
            return None
        return float(times.user + times.system)


def _rapl_report(rapl: Rapl, timed: _Timed) -> dict[str, Any]:
    out = rapl.describe()
    if not rapl.available:
        return out
    per = [j for j in timed.rapl_j if j is not None]
    if len(per) != len(timed.rapl_j) or not per:
        out["j_per_sample"] = None
        out["note"] = "a counter went backwards without a known range; no figure"
        return out
    total_j = sum(j * len(w) for j, w in zip(timed.rapl_j, timed.k, strict=True) if j)
    out["j_per_sample"] = _median(per)
    out["average_w"] = total_j / sum(timed.elapsed_s) if sum(timed.elapsed_s) > 0 else None
    out["scope"] = ("top-level powercap zones (whole CPU packages) during the timed windows: "
                    "the host client, the wire and, for a virtual node, the node itself")
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
