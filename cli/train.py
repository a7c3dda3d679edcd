"""``semqam train``: a run folder from a data set (docs/training.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.errors import quiet_native_stderr
from cli.options import DataOpt, DatasetOpt, ProfileOpt, SeedOpt, TestSpeakersOpt, out_option
from cli.options import split_list as _split

TrainOut = out_option("Run folder to create.")


def train(
    out: TrainOut,
    dataset: DatasetOpt = "mnist",
    order: Annotated[int, typer.Option(help="M: codebook size = QAM order (4..1024).")] = 256,
    data: DataOpt = None,
    profile: ProfileOpt = "quick",
    seed: SeedOpt = 0,
    test_speakers: TestSpeakersOpt = None,
    speakers: Annotated[
        str | None, typer.Option(help="FSDD: comma-separated speakers to load (default all).")
    ] = None,
    augment: Annotated[
        int, typer.Option(help="FSDD: perturbed copies of each training recording (0 = none; "
                          "docs/models.md, Data).", min=0)
    ] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Train classifier T, the S-VQ-VAE + SCI, the semantic constellation and the DQN.

    Example: semqam train --dataset mnist --order 256 --out runs/mnist-256
    """
    from semqam.fileio import check_writable

    check_writable(out)
    with quiet_native_stderr():
        from trainer.data import AugmentConfig, load_dataset
        from trainer.svqvae.config import TrainConfig
        from trainer.svqvae.train import train as run_training

    cfg = TrainConfig.for_profile(profile, order=order, seed=seed)
    if out.exists() and not force:
        raise ValueError(f"run folder {out} already exists; pass --force to replace it")
    ds = load_dataset(dataset, data.resolve() if data else None,
                      test_speakers=_split(test_speakers), speakers=_split(speakers),
                      augment=AugmentConfig(copies=augment, seed=seed) if augment else None)
    typer.echo(f"data: {ds.source}: {len(ds.x_train)} train / {len(ds.x_test)} test, "
               f"shape {ds.input_shape}, {ds.n_classes} classes", err=True)
    result = run_training(ds, cfg, out, force=force)
    m = result.summary["metrics"]
    t = result.summary["timings_s"]
    typer.echo(f"run written to {result.path} in {t['total_s']:.0f} s")
    typer.echo(f"clean classifier accuracy   {m['clean_accuracy']:.4f}  "
               f"({result.summary['dataset']['n_test']} test samples)")
    typer.echo(f"VQ-VAE pass-through accuracy {m['passthrough_accuracy']:.4f}  "
               f"(K = N, no channel)")
    typer.echo(f"codebook entries in use     {m['codebook_used']} / {order}")


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command("train")(train)
