"""``semqam train``: a run folder from a data set (docs/training.md)."""

from __future__ import annotations

import json
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
    TestSpeakersOpt,
    out_option,
)
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
    augment: AugmentOpt = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    weight_grid_epochs: Annotated[int, typer.Option(
        help="Epochs of phase 3 on the node's int8 weight grid (0 = off; docs/models.md).",
        min=0)] = 0,
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

    cfg = TrainConfig.for_profile(profile, order=order, seed=seed,
                                 weight_grid_epochs=weight_grid_epochs)
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


def retune(
    run: RunOpt,
    gate_width: Annotated[float | None, typer.Option(
        help="Width of the B_comp gate in accuracy (0 = the paper's step).", min=0.0)] = None,
    q0_fraction: Annotated[float | None, typer.Option(
        help="Q_0 as a fraction of the validation pass-through accuracy.", min=0.0,
        max=1.0)] = None,
    gamma: Annotated[float | None, typer.Option(
        help="DQN discount (Table I: 0.99; default 0, docs/models.md).", min=0.0,
        max=1.0)] = None,
    dqn_steps: Annotated[int | None, typer.Option(help="DQN training steps.", min=1)] = None,
) -> None:
    """Re-train only the DQN rate controller of a run on its stored environment table
    (seconds; the networks and constellations stay). Export bundles again afterwards.

    Example: semqam retune --run runs/mnist-256 --gate-width 0
    """
    with quiet_native_stderr():
        from trainer.svqvae.retune import retune_policy

    given = {"comp_gate_width": gate_width, "q0_fraction": q0_fraction, "dqn_gamma": gamma,
             "dqn_steps": dqn_steps}
    info = retune_policy(run, {k: v for k, v in given.items() if v is not None})
    ks = json.loads((run / "policy.json").read_text())["k"]
    typer.echo(f"policy of {run} re-trained: mean regret {info['mean_regret']:.4f} "
               f"(target {info['regret_target']}), K from {ks[0]} (lowest SNR) to {ks[-1]} "
               f"(highest), {'non-increasing' if info['k_non_increasing'] else 'NOT monotone'}")
    typer.echo("bundles exported from this run carry the old policy: run `semqam export` again")


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``retune`` to ``app``."""
    app.command("train")(train)
    app.command("retune")(retune)
