"""``semqam evaluate``, ``semqam sweep`` and ``semqam report``: semantic vs standard M-QAM over
an SNR sweep, the sweep over M, and the table of an earlier evaluation (docs/metrics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.errors import quiet_native_stderr
from cli.options import (
    AugmentOpt,
    DataOpt,
    DatasetOpt,
    ProfileOpt,
    RunOpt,
    SeedOpt,
    SnrSweepOpt,
    TestSpeakersOpt,
    out_option,
)
from cli.options import split_list as _split

EvaluateOut = out_option("Folder for metrics.json and the PNG figures.")
SweepOut = out_option("Folder for the summary and M*/ results.")


def evaluate(
    run: RunOpt,
    out: EvaluateOut,
    snr: SnrSweepOpt = "-10:20:2",
    dataset: Annotated[
        str | None, typer.Option(help="Data kind; must be the run's (default: the run's).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Evaluate on this file/folder instead: all of it is the test set."),
    ] = None,
    seed: SeedOpt = 0,
    bundle: Annotated[
        Path | None,
        typer.Option(help="Evaluate the int8 node of this bundle (exported from --run) instead "
                          "of the float encoder: the offline twin of `semqam hil`."),
    ] = None,
) -> None:
    """Semantic vs standard M-QAM over an SNR sweep: metrics.json, figures, table.

    Both schemes share the run's encoder, SCI, DQN policy and test samples;
    only the constellation differs. metrics.json is described in docs/metrics.md.

    Examples:
      semqam evaluate --run runs/mnist-256 --out results/mnist-256
      semqam evaluate --run runs/mnist-256 --snr -10,0,20 --out results/m256
      semqam evaluate --run runs/fsdd-64 --data more_wavs/ --out results/f64
      semqam evaluate --run runs/mnist-256 --bundle build/mnist-256 --out results/m256-int8
    """
    from evaluation.snr import parse_snr
    from semqam.fileio import check_writable

    check_writable(out)
    snr_db = parse_snr(snr)
    with quiet_native_stderr():
        from evaluation.evaluate import evaluate_run
        from evaluation.report import print_report

    ev = evaluate_run(run, snr_db, dataset=dataset, data=data, seed=seed, bundle=bundle,
                      out=out, say=lambda line: typer.echo(line, err=True))
    print_report(ev.metrics)
    typer.echo(f"results written to {out}: {', '.join(ev.metrics.get('files', []))} "
               f"(evaluation {ev.metrics['timing_s']['evaluate']:.0f} s)")


def sweep(
    out: SweepOut,
    dataset: DatasetOpt = "mnist",
    orders: Annotated[str, typer.Option(help="Comma list of M to train/evaluate.")] = (
        "4,16,64,256,1024"
    ),
    data: DataOpt = None,
    profile: ProfileOpt = "quick",
    runs_dir: Annotated[
        Path, typer.Option(help="Where run folders {dataset}-{M} are reused or created.")
    ] = Path("runs"),
    snr: SnrSweepOpt = "-10:20:2",
    seed: SeedOpt = 0,
    seeds: Annotated[str | None, typer.Option(
        help="Comma list of training seeds (runs {dataset}-{M}-s{seed}); the summary gives "
             "mean ± std over them. Overrides --seed.")] = None,
    test_speakers: TestSpeakersOpt = None,
    augment: AugmentOpt = 0,
) -> None:
    """Train (or reuse runs/{dataset}-{M}) and evaluate every M (and seed); summarise.

    Writes summary.md, summary.json, ssv_spp_vs_order.png (S_w and SPP vs M),
    q_sem_vs_snr_orders.png and one M{order}/ evaluation folder per order.

    Examples:
      semqam sweep --dataset mnist --orders 4,16,64,256,1024 --out results/mnist
      semqam sweep --dataset mnist --orders 256,1024 --seeds 0,1,2 --out results/mnist-3
      semqam sweep --dataset fsdd --data wavs/ --test-speakers george --augment 4 --out r/fsdd

    --augment draws its copies once (seed --seed), so every training seed sees the same copies.
    """
    from evaluation.snr import parse_snr
    from semqam.fileio import check_writable

    check_writable(out)
    check_writable(runs_dir)
    snr_db = parse_snr(snr)
    with quiet_native_stderr():
        from evaluation.sweep import parse_orders, parse_seeds
        from evaluation.sweep import sweep as run_sweep
        from trainer.data import AugmentConfig, load_dataset
        from trainer.svqvae.config import TrainConfig

    order_list = parse_orders(orders)
    TrainConfig.for_profile(profile, seed=seed)
    ds = load_dataset(dataset, data, test_speakers=_split(test_speakers),
                      augment=AugmentConfig(copies=augment, seed=seed) if augment else None)
    typer.echo(f"data: {ds.source}: {len(ds.x_train)} train / {len(ds.x_test)} test, "
               f"shape {ds.input_shape}; orders {order_list}", err=True)
    seed_list = None if seeds is None else parse_seeds(seeds)
    summary = run_sweep(ds, order_list, out, snr_db=snr_db, profile=profile,
                        runs_dir=runs_dir, seed=seed, seeds=seed_list,
                        log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"summary written to {out}: {', '.join(summary['files'])}")


def report(
    path: Annotated[Path, typer.Argument(help="metrics.json or the folder holding it.")],
) -> None:
    """Print the table of an earlier evaluation.

    Example: semqam report results/mnist-256
    """
    import json

    from evaluation.report import print_report

    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"{file}: no such file; run `semqam evaluate --out {path}` first")
    try:
        metrics = json.loads(file.read_text())
        print_report(metrics)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{file}: not a metrics.json of `semqam evaluate` ({exc!r})") from None


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``sweep`` and ``report`` to ``app``."""
    app.command("evaluate")(evaluate)
    app.command("sweep")(sweep)
    app.command("report")(report)
