"""``semqam compare``: every scheme trained and evaluated under one protocol (docs/compare.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.errors import quiet_native_stderr
from cli.options import CompareProfileOpt, DataOpt, DatasetOpt, SnrSweepOpt, out_option
from cli.options import split_list as _split

CompareOut = out_option("Folder for compare.json, compare.md, the plots, records/ and runs/.")


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _split(text) or ())
    except ValueError:
        raise ValueError(f"--{what} {text!r}: give comma-separated integers, e.g. 16,32"
                         ) from None


def compare(
    out: CompareOut,
    systems: Annotated[str, typer.Option(
        help="Comma list of schemes: svqvae, jcm, mdjcm, isfr.")] = "svqvae,jcm,mdjcm,isfr",
    dataset: DatasetOpt = "mnist",
    data: DataOpt = None,
    budget: Annotated[str, typer.Option(
        help="Symbol budgets S (complex payload symbols per sample), comma list.")] = "16,32",
    orders: Annotated[str, typer.Option(help="Modulation orders M, comma list.")] = "16,256",
    channel: Annotated[str, typer.Option(help="Channels, comma list: awgn, rayleigh.")
                       ] = "awgn,rayleigh",
    seeds: Annotated[str, typer.Option(help="Seeds, comma list (tables: mean ± std).")
                     ] = "0,1,2",
    loss: Annotated[str, typer.Option(
        help="Loss settings, comma list: paper (each paper's own), task (+ λ_sem CE(T(x̂))).")
                    ] = "paper,task",
    snr: SnrSweepOpt = "-10:20:2",
    profile: CompareProfileOpt = "quick",
    runs: Annotated[str | None, typer.Option(
        help="Runs folder (trained runs are reused from it; default OUT/runs).")] = None,
    ray: Annotated[str | None, typer.Option(
        help="Run the grid on Ray: auto (start a local instance) or a cluster ADDRESS.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Local processes when --ray is not given (1: in this process).")] = 1,
    cpus_per_run: Annotated[float, typer.Option(
        min=0.01, help="CPUs each run requests from Ray.")] = 1.0,
    n_test: Annotated[int | None, typer.Option(
        min=1, help="Evaluate on the first N test samples (default: the whole test split).")
                      ] = None,
    n_train: Annotated[int | None, typer.Option(
        min=1, help="Train T and every run on the first N training samples (default: all).")
                       ] = None,
) -> None:
    """Train (or reuse) and evaluate every run of the grid; compare.json, tables, plots.

    A crash or Ctrl-C loses at most the runs in progress: rerun the same command to resume.

    Example: semqam compare --systems svqvae,jcm,mdjcm,isfr --dataset mnist --budget 16,32
    --orders 16,256 --channel awgn,rayleigh --seeds 0,1,2 --out results/compare-mnist
    """
    from pathlib import Path

    from evaluation.snr import parse_snr
    from semqam.fileio import check_writable

    check_writable(out)
    if data is not None and not data.exists():
        raise FileNotFoundError(f"{data}: no such file or folder; give the {dataset} data with "
                                "--data, or leave it out for the embedded MNIST")
    with quiet_native_stderr():
        from evaluation.compare import Grid, summarise
        from evaluation.compare import compare as run_compare

    grid = Grid(systems=tuple(_split(systems) or ()), dataset=dataset,
                budgets=_ints(budget, "budget"), orders=_ints(orders, "orders"),
                channels=tuple(_split(channel) or ()), seeds=_ints(seeds, "seeds"),
                losses=tuple(_split(loss) or ()), snr_db=tuple(parse_snr(snr)),
                profile=profile, n_test=n_test, n_train=n_train,
                data=str(data.resolve()) if data else None)
    doc = run_compare(grid, out, runs=Path(runs) if runs else None, workers=workers, ray=ray,
                      cpus_per_run=cpus_per_run)
    n = sum(len(rows) for rows in summarise(doc).values())
    for skip in doc["skipped"]:
        typer.echo(f"skipped {skip['system']} at S = {skip['budget']}, M = {skip['order']}: "
                   f"{skip['reason']}")
    typer.echo(f"{len(doc['records'])} records, {n} table lines in {doc['wall_s']:.0f} s: "
               f"{out / 'compare.json'}, {out / 'compare.md'}")


def register(app: typer.Typer) -> None:
    """Add ``compare`` to ``app``."""
    app.command("compare")(compare)
