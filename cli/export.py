"""``semqam export`` and ``semqam keygen``: deployment bundles and their signing keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import quiet_native_stderr
from cli.options import RunOpt, out_option

ExportOut = out_option("Bundle folder to write.")
# A string, not a Path: a trailing "/" (a folder, not a stem) must stay visible.
KeygenOut = Annotated[str, typer.Option(
    "--out", help="Path stem: writes exactly STEM.key and STEM.pub (keys/lab -> keys/lab.key).")]


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
    bundle_version: Annotated[int | None, typer.Option(
        min=0, help="Anti-rollback counter in the manifest; nodes refuse a bundle older than "
                    "the one they run (default: the export time, seconds since 1970).")] = None,
    activations: Annotated[str | None, typer.Option(
        help="int16 (16x8: int16 activations, int8 weights; Linux nodes; the codeword the "
             "float model picks for >= 99.5 % of the sent concepts) | int8 (every node, the "
             "MCU firmware; ~98.5 %, faster). Default: int16 for --target linux, int8 for "
             "cortex-m.")] = None,
) -> None:
    """Quantize a run to int8 TFLite + C arrays, export the ONNX edge decoder, validate
    float vs int8 and write a (signed) bundle. --target cortex-m writes the firmware's C sources
    (c/sqm_model.*: int8 weights, Q31 and double requantization, LUT, codebook, constellations,
    policy; no .tflite) and measures the firmware's flash, RAM and stack on QEMU (docs/mcu.md).

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
                           calibration_size=calibration, progress=step,
                           bundle_version=bundle_version, activations=activations)
    print_validation(result)
    if target == "cortex-m":
        from firmware_export.report import measure_mcu_footprint

        typer.echo("measuring the Cortex-M firmware (build + QEMU, both boards)", err=True)
        measure_mcu_footprint(out)
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

    from semqam.fileio import check_writable, write_private, write_text

    if not out or out.endswith(("/", os.sep)) or Path(out).is_dir():
        raise ValueError(f"--out {out}: a folder, not a path stem; pass e.g. "
                         f"{Path(out or '.') / 'lab'} to write lab.key and lab.pub there")
    priv_path, pub_path = Path(out + ".key"), Path(out + ".pub")
    for p in (priv_path, pub_path):
        check_writable(p, folder=False)
        if p.exists() and not force:
            raise ValueError(f"{p}: exists; pass --force to overwrite or choose another --out")
        if p.is_dir():
            raise ValueError(f"{p}: is a folder; choose another --out")
    private, public = generate_keypair()
    write_private(priv_path, private)
    write_text(pub_path, public.decode())
    typer.echo(f"wrote {priv_path} (keep it secret) and {pub_path} (give it to nodes)")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``keygen`` to ``app``."""
    app.command("export")(export)
    app.command("keygen")(keygen)
