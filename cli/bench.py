"""``semqam bench-node``, ``semqam bench-speed`` and ``semqam bench-channel``: benchmarks,
separate from the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import BundleOpt, TrustOpt, out_option

SpeedOut = out_option("Also write the results as JSON here.", required=False)


def bench_node(
    bundle: BundleOpt,
    k: Annotated[int, typer.Option(min=1, help="Concepts sent per sample.")] = 32,
    repeats: Annotated[int, typer.Option(min=1, help="Timed windows (median over them).")] = 10,
) -> None:
    """Node latency per stage for both backends, bare invoke(), C vs NumPy nearest codeword,
    peak memory (MLPerf Tiny windows).

    Example: semqam bench-node --bundle build/mnist-1024 --k 32
    """
    from semqam_node.bench import format_table, run_node_benchmark

    if not (bundle / "manifest.json").is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    typer.echo(format_table(run_node_benchmark(bundle, k=k, repeats=repeats)))


def bench_speed(
    bundle: BundleOpt,
    k: Annotated[int, typer.Option(min=1, help="Concepts sent per sample.")] = 32,
    trust: TrustOpt = None,
    repeats: Annotated[int, typer.Option(min=3, help="Timed windows (median over them).")] = 15,
    link_samples: Annotated[int, typer.Option(
        min=100, help="Samples streamed through semqam-node over the pty.")] = 2000,
    int8_bundle: Annotated[Path | None, typer.Option(
        "--int8-bundle", help="The int8 export of the same run, for a 16x8 --bundle: the "
        "XNNPACK invoke() yardstick, and its own node measured beside.")] = None,
    out: SpeedOut = None,
) -> None:
    """Issue 17's ratios in one run: c encode vs XNNPACK invoke(), nearest codeword vs the
    reference C kernel and NumPy, framing C vs Python, unpaced pty throughput and what bounds
    it, semqam-node's peak RSS and import time.

    Example: semqam bench-speed --bundle build/mnist-1024 --int8-bundle build/mnist-1024-int8
    --k 32 --trust build/keys/lab.pub
    """
    from semqam_node.bench import format_speed, format_table, run_speed_benchmark

    from semqam.fileio import atomic_path, check_writable

    if out is not None:
        check_writable(out)
    if not (bundle / "manifest.json").is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    if int8_bundle is not None and not (int8_bundle / "manifest.json").is_file():
        raise ValueError(f"{int8_bundle}: no manifest.json; pass a folder written by "
                         "`semqam export --activations int8`")
    result = run_speed_benchmark(bundle, k=k, trust=trust, repeats=repeats,
                                 link_samples=link_samples, int8_bundle=int8_bundle)
    typer.echo(format_table(result["node"]))
    if result["node_int8"] is not None:
        typer.echo("")
        typer.echo(format_table(result["node_int8"]))
    typer.echo("")
    typer.echo(format_speed(result))
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(result, indent=2, default=str))


def bench_channel(
    symbols: Annotated[int, typer.Option(
        min=1, help="Complex symbols per timed call.")] = 10**7,
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls (median over them).")] = 5,
) -> None:
    """Throughput of the channel models on one process.

    Example: semqam bench-channel --symbols 10000000
    """
    from channel_sim.bench import format_table, run_channel_benchmark

    typer.echo(format_table(run_channel_benchmark(symbols, repeats)))


def register(app: typer.Typer) -> None:
    """Add ``bench-node``, ``bench-speed`` and ``bench-channel`` to ``app``."""
    app.command("bench-node")(bench_node)
    app.command("bench-speed")(bench_speed)
    app.command("bench-channel")(bench_channel)
