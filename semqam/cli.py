"""The ``semqam`` command line: one thin module that wires the subcommands.

Errors the user can fix (bad data, bad options, missing run) become one line on stderr and exit
status 2; set ``SEMQAM_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import os
import sys
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
    from trainer.config import TrainConfig
    from trainer.data import load_dataset
    from trainer.train import train as run_training

    def split(s: str | None) -> list[str] | None:
        return [p.strip() for p in s.split(",") if p.strip()] if s else None

    cfg = _guard(TrainConfig.for_profile, profile, order=order, seed=seed)
    if out.exists() and not force:
        _fail(f"run folder {out} already exists; pass --force to replace it")
    ds = _guard(load_dataset, dataset, data, test_speakers=split(test_speakers),
                speakers=split(speakers))
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


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
