"""The ``semqam`` command line: one thin module that wires the subcommands.

Errors the user can fix (bad data, bad options, missing run) become one line on stderr and exit
status 2; set ``SEMQAM_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ start-up chatter hides the one-line messages users need.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Importance-aware semantic QAM: train, evaluate, export, run on a node.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Importance-aware semantic QAM: train, evaluate, export, run on a node."""


SeedOpt = Annotated[int, typer.Option(help="Seed for every random generator.")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _guard(fn, *args, **kwargs):
    """Run ``fn``; map the errors a user can fix to one-line messages."""
    from trainer.data import DataError

    try:
        return fn(*args, **kwargs)
    except (DataError, ValueError, FileExistsError, FileNotFoundError) as exc:
        if os.environ.get("SEMQAM_DEBUG"):
            raise
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="Run folder to create.")],
    dataset: Annotated[str, typer.Option(help="mnist | fashion-mnist | fsdd.")] = "mnist",
    order: Annotated[int, typer.Option(help="M: codebook size = QAM order (4..1024).")] = 256,
    data: Annotated[
        Path | None, typer.Option(help="IDX/CSV file or folder, or FSDD WAV folder.")
    ] = None,
    profile: Annotated[str, typer.Option(help="quick (CPU minutes) | paper (Table I).")] = "quick",
    seed: SeedOpt = 0,
    test_speakers: Annotated[
        str | None, typer.Option(help="FSDD: comma-separated speakers held out for testing.")
    ] = None,
    speakers: Annotated[
        str | None, typer.Option(help="FSDD: comma-separated speakers to load (default all).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Train classifier T, the S-VQ-VAE + SCI, the semantic constellation and the DQN.

    Example: semqam train --dataset mnist --order 256 --out runs/mnist-256
    """
    from trainer.data import load_dataset
    from trainer.svqvae.config import TrainConfig
    from trainer.svqvae.train import train as run_training

    def split(s: str | None) -> list[str] | None:
        return [p.strip() for p in s.split(",") if p.strip()] if s else None

    cfg = _guard(TrainConfig.for_profile, profile, order=order, seed=seed)
    if out.exists() and not force:
        _fail(f"run folder {out} already exists; pass --force to replace it")
    ds = _guard(load_dataset, dataset, data.resolve() if data else None,
                test_speakers=split(test_speakers), speakers=split(speakers))
    typer.echo(f"data: {ds.source}: {len(ds.x_train)} train / {len(ds.x_test)} test, "
               f"shape {ds.input_shape}, {ds.n_classes} classes", err=True)
    result = _guard(run_training, ds, cfg, out, force=force)
    m = result.summary["metrics"]
    t = result.summary["timings_s"]
    typer.echo(f"run written to {result.path} in {t['total_s']:.0f} s")
    typer.echo(f"clean classifier accuracy   {m['clean_accuracy']:.4f}  "
               f"({result.summary['dataset']['n_test']} test samples)")
    typer.echo(f"VQ-VAE pass-through accuracy {m['passthrough_accuracy']:.4f}  "
               f"(K = N, no channel)")
    typer.echo(f"codebook entries in use     {m['codebook_used']} / {order}")


SnrOpt = Annotated[
    str,
    typer.Option(help="SNR points in dB: start:stop:step (inclusive) or a comma list."),
]


def _split(s: str | None) -> list[str] | None:
    return [p.strip() for p in s.split(",") if p.strip()] if s else None


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", help="Run folder written by `semqam train`.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for metrics.json and the PNG figures.")
    ],
    snr: SnrOpt = "-10:20:2",
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
    from evaluation.evaluate import evaluate as run_evaluation
    from evaluation.evaluate import resolve_test_set, write_outputs
    from evaluation.report import print_report
    from evaluation.snr import parse_snr
    from trainer.svqvae.run import load_run

    snr_db = _guard(parse_snr, snr)
    loaded = _guard(load_run, run)
    ds = _guard(resolve_test_set, loaded, dataset, data)
    typer.echo(f"data: {ds.source}: {ds.n_test} test samples, shape {ds.input_shape}, "
               f"M = {loaded.order}, {len(snr_db)} SNR points", err=True)
    node_sets = tx_points = None
    if bundle is not None:
        from firmware_export.validate import bundle_tx_points

        node_sets = _guard(_bundle_node_sets, bundle, loaded, ds.x_test)
        tx_points = bundle_tx_points(bundle)
    ev = _guard(run_evaluation, loaded, ds, snr_db, seed=seed, node_sets=node_sets,
                tx_points=tx_points)
    if bundle is not None:
        ev.metrics["node"] = {"bundle": str(bundle), "model": "int8 (LiteRT reference kernels)",
                              "symbols": "the node's Q-format constellation tables"}
    written = _guard(write_outputs, ev, loaded, out)
    print_report(ev.metrics)
    typer.echo(f"results written to {out}: {', '.join(p.name for p in written)} "
               f"(evaluation {ev.metrics['timing_s']['evaluate']:.0f} s)")


def _bundle_node_sets(bundle: Path, run, x):
    import json

    from firmware_export.validate import bundle_node_sets

    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    manifest = json.loads(manifest_path.read_text())
    if int(manifest.get("order", -1)) != run.order or \
            int(manifest.get("n_concepts", -1)) != run.pipeline.n_concepts:
        raise ValueError(f"{bundle}: M = {manifest.get('order')}, N = "
                         f"{manifest.get('n_concepts')} but run {run.path} has M = {run.order}; "
                         "pass the bundle exported from this run")
    return bundle_node_sets(bundle, x)


@app.command()
def sweep(
    out: Annotated[Path, typer.Option("--out", help="Folder for the summary and M*/ results.")],
    dataset: Annotated[str, typer.Option(help="mnist | fashion-mnist | fsdd.")] = "mnist",
    orders: Annotated[str, typer.Option(help="Comma list of M to train/evaluate.")] = (
        "4,16,64,256,1024"
    ),
    data: Annotated[
        Path | None, typer.Option(help="IDX/CSV file or folder, or FSDD WAV folder.")
    ] = None,
    profile: Annotated[str, typer.Option(help="quick (CPU minutes) | paper (Table I).")] = "quick",
    runs_dir: Annotated[
        Path, typer.Option(help="Where run folders {dataset}-{M} are reused or created.")
    ] = Path("runs"),
    snr: SnrOpt = "-10:20:2",
    seed: SeedOpt = 0,
    test_speakers: Annotated[
        str | None, typer.Option(help="FSDD: comma-separated speakers held out for testing.")
    ] = None,
) -> None:
    """Train (or reuse runs/{dataset}-{M}) and evaluate every M; summarise.

    Writes summary.md, summary.json, ssv_spp_vs_order.png (S_w and SPP vs M),
    q_sem_vs_snr_orders.png and one M{order}/ evaluation folder per order.

    Examples:
      semqam sweep --dataset mnist --orders 4,16,64,256,1024 --out results/mnist
      semqam sweep --dataset fsdd --data wavs/ --test-speakers george --out r/fsdd
    """
    from evaluation.snr import parse_snr
    from evaluation.sweep import parse_orders
    from evaluation.sweep import sweep as run_sweep
    from trainer.data import load_dataset
    from trainer.svqvae.config import TrainConfig

    snr_db = _guard(parse_snr, snr)
    order_list = _guard(parse_orders, orders)
    _guard(TrainConfig.for_profile, profile, seed=seed)
    ds = _guard(load_dataset, dataset, data, test_speakers=_split(test_speakers))
    typer.echo(f"data: {ds.source}: {len(ds.x_train)} train / {len(ds.x_test)} test, "
               f"shape {ds.input_shape}; orders {order_list}", err=True)
    summary = _guard(run_sweep, ds, order_list, out, snr_db=snr_db, profile=profile,
                     runs_dir=runs_dir, seed=seed,
                     log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"summary written to {out}: {', '.join(summary['files'])}")


@app.command()
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
        _fail(f"{file}: no such file; run `semqam evaluate --out {path}` first")
    try:
        metrics = json.loads(file.read_text())
        print_report(metrics)
    except (ValueError, KeyError, TypeError) as exc:
        _fail(f"{file}: not a metrics.json of `semqam evaluate` ({exc!r})")


def _register_groups() -> None:
    from cli import bench as cli_bench
    from cli import export as cli_export

    cli_export.register(app)
    cli_bench.register(app)
    try:
        from cli import hil as cli_hil
        from cli import link as cli_link
        from cli import profile as cli_profile
    except ImportError:  # the node runtime (./device_runtime) is not installed
        return
    cli_link.register(app)
    cli_hil.register(app)
    cli_profile.register(app)


_register_groups()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
