"""``semqam bench-node`` and ``semqam bench-channel``: benchmarks, separate from the tests."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.options import BundleOpt


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
    """Add ``bench-node`` and ``bench-channel`` to ``app``."""
    app.command("bench-node")(bench_node)
    app.command("bench-channel")(bench_channel)
