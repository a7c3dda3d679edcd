"""``semqam profile``: latency per stage, end to end and streamed, CPU time and energy per sample
of a node against sending the raw sample (docs/energy.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from semqam_node.conventions import CONSTELLATIONS

from cli.options import (
    BackendOpt,
    BaudOpt,
    BundleOpt,
    NodePortOpt,
    PaceOpt,
    SnrPointOpt,
    TestDataOpt,
    TimeoutOpt,
    TrustOpt,
    out_option,
)

DEFAULT_SAMPLES = 200  # distinct test samples cycled through the windows

ProfileOut = out_option("Folder for profile.json and latency.png.", required=False)


def profile(
    bundle: BundleOpt,
    port: NodePortOpt = "virtual",
    trust: TrustOpt = None,
    snr: SnrPointOpt = 10.0,
    k: Annotated[int | None, typer.Option(
        min=1, help="Force K concepts (default: the policy's).")] = None,
    constellation: Annotated[str, typer.Option(help="semantic | standard.")] = "semantic",
    preset: Annotated[str | None, typer.Option(
        help="Node power preset: pi4 | pi5 | cortex-m7 | cortex-m4 (default pi4; cortex-m4 / "
             "cortex-m7 on --port qemu-m4 / qemu-m7).")] = None,
    icount_samples: Annotated[int, typer.Option(
        min=1, help="--port qemu-*: samples whose instructions are counted per stage.")] = 10,
    reference_kernels: Annotated[bool, typer.Option(
        "--reference-kernels", help="--port qemu-*: also count the same samples on firmware "
        "built with the portable reference kernels (KERNELS=reference) and print the "
        "ratio.")] = False,
    active_power: Annotated[float | None, typer.Option(
        help="Node active power in W (overrides the preset's).")] = None,
    symbol_rate: Annotated[float | None, typer.Option(
        help="Radio symbol rate in Hz (default 1e6).")] = None,
    tx_power: Annotated[float | None, typer.Option(
        help="Radio power while transmitting in W (default 0.1).")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up inferences.")] = 20,
    windows: Annotated[int, typer.Option(min=1, help="Timed windows (median over them).")] = 5,
    per_window: Annotated[int, typer.Option(min=1, help="Inferences per timed window.")] = 50,
    stream_window: Annotated[int, typer.Option(
        min=1, help="Requests in flight for the throughput windows.")] = 4,
    data: TestDataOpt = None,
    baud: BaudOpt = 115200,
    pace: PaceOpt = False,
    backend: BackendOpt = "c",
    timeout: TimeoutOpt = None,
    out: ProfileOut = None,
) -> None:
    """Profile a node: stage latency (median/p95), end-to-end latency over the link, throughput,
    CPU time and energy per sample, semantic vs sending the raw sample.

    MLPerf Tiny style: warm-up, then --windows timed windows of --per-window inferences.
    Power figures are nominal presets, not measurements (docs/energy.md). On --port qemu-m4 /
    qemu-m7 it also prints exact instructions per stage (a QEMU plugin) with estimated MCU time
    and energy at the preset's clock and an assumed CPI (docs/mcu.md).

    Examples:
      semqam profile --bundle build/mnist-1024 --out results/profile-1024
      semqam profile --bundle build/mnist-1024 --snr 0 --preset cortex-m7 --symbol-rate 1e3
      semqam profile --bundle build/mnist-256 --port /dev/ttyUSB0 --baud 921600 --k 16
      semqam profile --bundle build/mnist-256 --port qemu-m4 --trust build/keys/lab.pub --k 16
      semqam profile --bundle build/mnist-256 --port qemu-m4 --k 16 --reference-kernels
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from semqam_node.session import open_node

    from hil.energy import Radio, node_power
    from hil.profile import profile_node
    from semqam.fileio import check_writable

    if out is not None:
        check_writable(out)
    from semqam_node.session import QEMU_PORTS

    if timeout is None:
        from semqam_node.session import default_timeout

        timeout = default_timeout(port)
    if preset is None:
        preset = {"qemu-m4": "cortex-m4", "qemu-m7": "cortex-m7"}.get(port, "pi4")
    power = node_power(preset, active_power)
    radio = Radio.custom(symbol_rate, tx_power)
    if constellation not in CONSTELLATIONS:
        raise ValueError(f"constellation {constellation!r}; use semantic or standard")
    if not (bundle / "manifest.json").is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    samples = _load_samples(bundle, data, warmup + windows * per_window)
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True) as bar:
        flash_task = bar.add_task("flash", total=None)

        def flashed(done: int, total: int) -> None:
            bar.update(flash_task, completed=done, total=total)

        def advanced(phase: str, done: int, total: int) -> None:
            bar.update(run_task, description=phase, completed=done, total=total)

        def measure() -> dict[str, Any]:
            with open_node(port, bundle, trust=trust, baud=baud, pace=pace, timeout=timeout,
                           backend=backend, progress=flashed) as session:
                bar.remove_task(flash_task)
                nonlocal run_task
                run_task = bar.add_task("warm-up", total=None)
                return profile_node(session, samples, snr_db=snr, k=k,
                                    constellation=constellation, warmup=warmup, windows=windows,
                                    per_window=per_window, stream_window=stream_window,
                                    power=power, radio=radio, progress=advanced)

        run_task = None
        result = measure()
        if port in QEMU_PORTS:
            bar.update(run_task, description="icount", completed=0, total=None)
            result["instructions"] = _instructions(port, bundle, samples[:icount_samples], snr,
                                                   k, constellation, power)
            if reference_kernels:
                result["instructions"]["reference_kernels"] = _instructions(
                    port, bundle, samples[:icount_samples], snr, k, constellation, power,
                    kernels="reference")
    Console().print(_table(result))
    if "instructions" in result:
        Console().print(_icount_table(result["instructions"]))
    if out is not None:
        written = _write_outputs(result, out)
        typer.echo(f"profile written to {out}: {', '.join(written)}")


def _instructions(port: str, bundle: Path, samples: Any, snr: float, k: int | None,
                  constellation: str, power: Any, kernels: str = "dsp") -> dict[str, Any]:
    """Exact instructions per stage on QEMU (semqam_node.qemu.profile_instructions) with the
    estimated time and energy at the preset's clock and assumed CPI (hil.energy.MCU_CORES)."""
    from semqam_node.qemu import ICOUNT_STAGES, profile_instructions

    from hil.energy import MCU_CORES, mcu_estimate

    r = profile_instructions(port, bundle, [bytes(u) for u in samples], snr, k, constellation,
                             kernels=kernels)
    out: dict[str, Any] = {k_: v for k_, v in r.items() if k_ != "per_sample"}
    out["stages"] = list(ICOUNT_STAGES)
    out["counted_by"] = ("sq_icount QEMU TCG plugin: exact guest instructions between the "
                         "firmware's clock reads (not cycles: QEMU is not cycle-accurate)")
    if power.name in MCU_CORES:
        out["estimate"] = {name: mcu_estimate(r["median"][name], power.name, power.active_w)
                           for name in ICOUNT_STAGES}
        out["estimate"]["encode"] = mcu_estimate(r["encode_median"], power.name,
                                                 power.active_w)
    else:
        out["estimate_note"] = (f"no time/energy estimate for preset {power.name}; use "
                                f"--preset {' or '.join(MCU_CORES)}")
    return out


def _icount_table(ins: dict[str, Any]) -> Any:
    from rich.table import Table

    est = ins.get("estimate")
    ref = ins.get("reference_kernels")
    t = Table(title=(f"instructions per stage on QEMU (exact; median of {ins['samples']} samples "
                     f"at K = {ins['k']}; {ins['kernels']} kernels)"), title_justify="left",
              caption=(f"time and energy: ESTIMATES = instructions x CPI {est['encode']['cpi']:g} "
                       f"/ {est['encode']['clock_hz'] / 1e6:g} MHz x the preset's active power; "
                       f"{est['encode']['source']}" if est else ins.get("estimate_note", "")),
              caption_justify="left")
    cols = ["stage", "instructions", "min", "max", "est. time", "est. energy"]
    if ref:
        cols += ["reference kernels", "reference / this"]
    for col in cols:
        t.add_column(col, justify="right" if col != "stage" else "left")

    def median(r: dict[str, Any], name: str) -> float:
        return r["encode_median"] if name == "encode" else r["median"][name]

    for name in [*ins["stages"], "encode"]:
        n = median(ins, name)
        lo = "" if name == "encode" else f"{ins['min'][name]:,}"
        hi = "" if name == "encode" else f"{ins['max'][name]:,}"
        e = est[name] if est else None
        row = ["sq_encode (neural..map)" if name == "encode" else name, f"{n:,.0f}", lo, hi,
               _fmt_us(e["time_s"] * 1e6) if e else "-", _fmt_j(e["energy_j"]) if e else "-"]
        if ref:
            r = median(ref, name)
            row += [f"{r:,.0f}", f"{r / n:.2f}x" if n else "-"]
        t.add_row(*row)
    return t


def _load_samples(bundle: Path, data: Path | None, n: int) -> Any:
    """Raw bytes of the bundle's test split (``--data``: that file/folder instead), first
    ``min(n, DEFAULT_SAMPLES)`` of them."""
    from semqam_node.conventions import sample_rows

    from hil.session import load_test_set

    manifest = json.loads((bundle / "manifest.json").read_text())
    ds = load_test_set(manifest, data, limit=max(1, min(n, DEFAULT_SAMPLES)))
    return sample_rows(ds.x_test)


def _fmt_us(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 10_000 else f"{v:.0f} µs"


def _fmt_j(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if abs(v) >= scale or unit == "nJ":
            return f"{v / scale:.3g} {unit}"
    return f"{v:g} J"


def _table(p: dict[str, Any]) -> Any:
    """The compact summary table."""
    from rich.table import Table

    s, e, c = p["settings"], p["energy"], p["cpu"]
    t = Table(title=(f"node profile: M = {p['bundle']['order']}, K = {s['k']} at {s['snr_db']:g} "
                     f"dB ({s['constellation']}), {p['samples']['ok']} timed samples in "
                     f"{s['windows']} windows"), title_justify="left")
    t.add_column("quantity")
    t.add_column("median", justify="right")
    t.add_column("p95", justify="right")
    t.add_column("note")
    for name, st in p["stages_us"].items():
        t.add_row(f"stage {name}", _fmt_us(st["median"]), _fmt_us(st["p95"]),
                  "link input decoding (HIL only)" if name == "frame" else "node")
    t.add_row("node compute", _fmt_us(p["compute_us"]["median"]), _fmt_us(p["compute_us"]["p95"]),
              "neural+select+quantize+map")
    t.add_row("end to end", _fmt_us(p["e2e_us"]["median"]), _fmt_us(p["e2e_us"]["p95"]),
              f"round trip, 1 in flight, {p['link']['paced']}")
    th = p["throughput"]
    t.add_row("throughput", f"{th['samples_per_s']:.1f}/s", "", f"{th['window']} in flight")
    lk = p["link"]
    t.add_row("link bytes", f"{lk['bytes_tx_per_sample']:.0f} + {lk['bytes_rx_per_sample']:.0f}",
              "", f"to + from node; {lk['airtime_s'] * 1e3:.1f} ms at {lk['baud']} baud 8N1")
    proc = "-" if c["process_s"] is None else _fmt_us(c["process_s"] * 1e6)
    t.add_row("CPU / sample", _fmt_us(c["stages_compute_s"] * 1e6), "",
              f"stages, window mean (feeds energy); node process {proc}")
    sem, raw, cmp_ = e["semantic"], e["raw"], e["compare"]
    t.add_row("energy CPU", _fmt_j(sem["cpu_j"]), "", f"{p['power']['name']} at "
              f"{sem['active_power_w']:g} W ({'nominal' if p['power']['nominal'] else 'user'})")
    t.add_row("energy radio", _fmt_j(sem["radio_j"]), "",
              f"{sem['symbols']:g} symbols at {p['radio']['symbol_rate_hz']:g} sym/s, "
              f"{p['radio']['tx_power_w']:g} W")
    t.add_row("energy semantic", _fmt_j(sem["total_j"]), "", "per sample")
    t.add_row("energy raw", _fmt_j(raw["total_j"]), "",
              f"{raw['symbols']:g} symbols, radio only")
    ratio = cmp_["total_ratio"]
    even = cmp_["break_even_symbol_rate_hz"]
    t.add_row("semantic / raw", "-" if ratio is None else f"{ratio:.3g}", "",
              f"radio {cmp_['radio_ratio']:.3g}; break-even below "
              f"{'-' if even is None else f'{even:.3g}'} sym/s")
    rp = p["rapl"]
    t.add_row("RAPL", _fmt_j(rp.get("j_per_sample")) if rp["available"] else "-", "",
              rp.get("source", "") if rp["available"] else rp["reason"])
    return t


def _write_outputs(result: dict[str, Any], out: Path) -> list[str]:
    from hil.plots import plot_profile
    from semqam.fileio import write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "profile.json", result)
    plot_profile(result, out / "latency.png")
    return ["profile.json", "latency.png"]


def register(app: typer.Typer) -> None:
    """Add ``profile`` to ``app``."""
    app.command("profile")(profile)
