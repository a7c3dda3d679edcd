"""``semqam export`` and ``semqam keygen``: deployment bundles and their signing keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import quiet_native_stderr
from cli.options import RunOpt, out_option

ExportOut = out_option("Bundle folder to write.")
KeygenOut = out_option("Path stem: writes STEM.key and STEM.pub.")


def export(
    run: RunOpt,
    out: ExportOut,
    target: Annotated[str, typer.Option(help="linux (Pi-class node) | cortex-m (MCU).")] = (
        "linux"),
    key: Annotated[Path | None, typer.Option(
        help="Ed25519 private key (from `semqam keygen`) to sign the manifest.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a different bundle at --out.")] = False,
    calibration: Annotated[int, typer.Option(
        min=1, help="Training samples in the int8 representative data set.")] = 500,
) -> None:
    """Quantize a run to int8 TFLite + C arrays, export the ONNX edge decoder, validate
    float vs int8 and write a (signed) bundle.

    Example: semqam export --run runs/mnist-256 --out build/mnist-256 --key keys/lab.key
    """
    from semqam.fileio import check_writable

    check_writable(out)
    with quiet_native_stderr():
        from firmware_export.export import export_bundle
        from firmware_export.report import print_validation

    stages = iter(range(1, 7))

    def step(message: str) -> None:  # stage lines; the evaluation draws its own bars
        typer.echo(f"[{next(stages, 6)}/6] {message}", err=True)

    result = export_bundle(run, out, target=target, key=key, force=force,
                           calibration_size=calibration, progress=step)
    print_validation(result)
    typer.echo(f"bundle {result['bundle_id']} written to {out} in "
               f"{result['export_seconds']} s ({'signed' if result['signed'] else 'unsigned'})")


def keygen(
    out: KeygenOut,
    force: Annotated[bool, typer.Option(help="Overwrite an existing key pair.")] = False,
) -> None:
    """Make an Ed25519 key pair for signing bundles (.key stays with you, mode 0600; give
    the .pub to nodes with `semqam-node --trust`).

    Example: semqam keygen --out keys/lab
    """
    from semqam_node.bundle import generate_keypair

    from semqam.fileio import atomic_path, check_writable

    priv_path, pub_path = out.with_suffix(".key"), out.with_suffix(".pub")
    for p in (priv_path, pub_path):
        check_writable(p, folder=False)
        if p.exists() and not force:
            raise ValueError(f"{p}: exists; pass --force to overwrite or choose another --out")
    private, public = generate_keypair()
    with atomic_path(priv_path) as tmp:
        tmp.write_bytes(private)
        os.chmod(tmp, 0o600)
    os.chmod(priv_path, 0o600)
    with atomic_path(pub_path) as tmp:
        tmp.write_bytes(public)
    typer.echo(f"wrote {priv_path} (keep it secret) and {pub_path} (give it to nodes)")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``keygen`` to ``app``."""
    app.command("export")(export)
    app.command("keygen")(keygen)
