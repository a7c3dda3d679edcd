"""``semqam bench-node`` and ``semqam bench-channel``: benchmarks, separate from the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from cli.main import _guard

    @app.command("bench-node")
    def bench_node(
        bundle: Annotated[Path, typer.Option("--bundle", help="Bundle folder (semqam export).")],
        k: Annotated[int, typer.Option(help="Concepts sent per sample.")] = 32,
        repeats: Annotated[int, typer.Option(help="Timed windows (median over them).")] = 10,
    ) -> None:
        """Node latency per stage for both backends, bare invoke(), C vs NumPy nearest codeword,
        peak memory (MLPerf Tiny windows).

        Example: semqam bench-node --bundle build/mnist-1024 --k 32
        """
        from semqam_node.bench import format_table, run_node_benchmark

        result = _guard(run_node_benchmark, bundle, k=k, repeats=repeats)
        typer.echo(format_table(result))

    @app.command("bench-channel")
    def bench_channel(
        symbols: Annotated[int, typer.Option(help="Complex symbols per timed call.")] = 10**7,
        repeats: Annotated[int, typer.Option(help="Timed calls (median over them).")] = 5,
    ) -> None:
        """Throughput of the channel models on one process.

        Example: semqam bench-channel --symbols 10000000
        """
        from channel_sim.bench import format_table, run_channel_benchmark

        typer.echo(format_table(_guard(run_channel_benchmark, symbols, repeats)))
