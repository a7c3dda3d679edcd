"""The options several commands share, declared once (``Annotated`` aliases).

A command states its default in its signature (``seed: SeedOpt = 0``). Where the same flag
means something different to two commands (``--snr``: a sweep or one point; ``--port``: a
serial link or also ``virtual``) there is one alias per meaning. ``--out`` says what it
holds per command: each module makes its alias with :func:`out_option` from that text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _positive(value: float | None) -> float | None:
    """Option callback: a number above zero (click's ranges have no open bound in typer)."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value} is not above 0.")
    return value


# -- data and training ---------------------------------------------------------------------
DatasetOpt = Annotated[str, typer.Option(help="mnist | fashion-mnist | fsdd.")]
DataOpt = Annotated[
    Path | None, typer.Option(help="IDX/CSV file or folder, or FSDD WAV folder.")]
ProfileOpt = Annotated[str, typer.Option(help="quick (CPU minutes) | paper (Table I).")]
#: ``semqam compare``'s profiles apply to every scheme of the grid (docs/compare.md).
CompareProfileOpt = Annotated[str, typer.Option(
    "--profile", help="quick (the ≤ 60 min grid) | paper (each paper's schedule) | tiny (seconds "
    "per run: tests and smoke runs).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for every random generator.")]
TestSpeakersOpt = Annotated[
    str | None, typer.Option(help="FSDD: comma-separated speakers held out for testing.")]
AugmentOpt = Annotated[int, typer.Option(
    help="FSDD: perturbed copies of each training recording (0 = none; docs/models.md, Data).",
    min=0)]
RunOpt = Annotated[Path, typer.Option("--run", help="Run folder written by `semqam train`.")]

# -- channel -------------------------------------------------------------------------------
SnrSweepOpt = Annotated[str, typer.Option(
    help="SNR points in dB: start:stop:step (inclusive) or a comma list.")]
SnrPointOpt = Annotated[float, typer.Option(help="SNR in dB reported to the node.")]

# -- bundles and nodes ---------------------------------------------------------------------
BundleOpt = Annotated[Path, typer.Option("--bundle", help="Bundle folder from `semqam export`.")]
TrustOpt = Annotated[Path | None, typer.Option(
    help="Ed25519 .pub from `semqam keygen`: bundles not signed by it are refused (checked "
         "before anything is sent, and by a node started here).")]
TestDataOpt = Annotated[Path | None, typer.Option(
    help="Test on this file/folder instead of the bundle's test split.")]
PortOpt = Annotated[str, typer.Option(
    "--port", help="Serial device, pty path or pyserial URL (socket://HOST:PORT, loop://).")]
NodePortOpt = Annotated[str, typer.Option(
    "--port", help="virtual (semqam-node on a pty pair), qemu-m4 | qemu-m7 (the Cortex-M "
                   "firmware on QEMU, docs/mcu.md), a serial device or a pyserial URL "
                   "(socket://HOST:PORT).")]
BaudOpt = Annotated[int, typer.Option(
    "--baud", min=1, help="Line rate in baud (8N1: 10 bits/byte).")]
TimeoutOpt = Annotated[float | None, typer.Option(
    callback=_positive, help="Seconds to wait for each reply (default 2; 15 on qemu-m4 / "
                             "qemu-m7, an emulated MCU).")]
FlashDeadlineOpt = Annotated[float | None, typer.Option(
    "--deadline", callback=_positive,
    help="Give up when the whole flash takes longer, in seconds (default: 60 s + 4x the "
         "transfer time at --baud).")]
BackendOpt = Annotated[str, typer.Option(help="Virtual node backend: c | litert.")]
PaceOpt = Annotated[bool, typer.Option(
    help="Deliver bytes at --baud (a real UART's speed) instead of as fast as a pty can.")]


def out_option(help: str, *, required: bool = True) -> Any:
    """``--out`` (a path that is written) with the command's own ``help``."""
    kind = Path if required else Path | None
    return Annotated[kind, typer.Option("--out", help=help)]


def split_list(text: str | None) -> list[str] | None:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; ``None``/empty -> ``None``."""
    return [p.strip() for p in text.split(",") if p.strip()] if text else None
