"""``semqam hil``: drive the test set through a node over its serial link, a host channel and
the edge decoder (docs/hil.md). Wired into the top-level app by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.link import BaudOpt, _fail, _guard


def hil(
    bundle: Annotated[Path, typer.Option("--bundle", help="Bundle folder from `semqam export`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for hil_report.json and figures.")],
    port: Annotated[str, typer.Option(
        "--port", help="virtual (semqam-node on a pty pair), a serial device, or a pyserial URL "
                       "(socket://HOST:PORT).")] = "virtual",
    snr: Annotated[str, typer.Option(
        help="SNR points in dB: start:stop:step (inclusive) or a comma list.")] = "-10:20:5",
    channel: Annotated[str, typer.Option(help="awgn | rayleigh | rician.")] = "awgn",
    k_factor_db: Annotated[float | None, typer.Option(
        help="Rician K-factor in dB (rician only; default the block's own).")] = None,
    block_length: Annotated[int | None, typer.Option(
        help="Fading: symbols per coherence block (default the block's own).")] = None,
    constellation: Annotated[str, typer.Option(
        help="semantic | standard | both.")] = "both",
    feedback: Annotated[str, typer.Option(
        help="SNR fed back before each block: nominal, or estimated from pilots.")] = "nominal",
    block: Annotated[int, typer.Option(help="Samples per SNR-feedback block.")] = 100,
    window: Annotated[int, typer.Option(help="INPUT frames in flight on the link.")] = 8,
    limit: Annotated[int | None, typer.Option(help="Use only the first N test samples.")] = None,
    data: Annotated[Path | None, typer.Option(
        help="Test on this file/folder instead of the bundle's test split.")] = None,
    trust: Annotated[Path | None, typer.Option(
        help="Ed25519 .pub: the bundle must be signed by it (checked here and by a virtual "
             "node, which then refuses anything else).")] = None,
    run: Annotated[Path | None, typer.Option(
        help="Run folder for the offline int8 reference (default: the one in the manifest).")
    ] = None,
    offline: Annotated[bool, typer.Option(
        help="Compute the offline int8 reference and the agreement check.")] = True,
    scatter_snr: Annotated[str | None, typer.Option(
        help="Two SNRs of the sweep for the received-constellation plot (default min, max).")
    ] = None,
    backend: Annotated[str, typer.Option(help="Virtual node backend: c | litert.")] = "c",
    baud: BaudOpt = 115200,
    pace: Annotated[bool, typer.Option(
        help="Deliver bytes at --baud (a real UART's speed) instead of as fast as a pty can.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Channel seed (noise of SNR point j: seed + j).")] = 0,
) -> None:
    """Hardware in the loop: node -> serial link -> channel -> edge decoder -> metrics.

    Flashes the bundle (unless the node already runs it), then for every constellation and
    SNR feeds the SNR back to the node, streams every test sample, passes the node's symbols
    through the channel and decodes at the edge. Writes hil_report.json and three PNGs, and
    compares with the offline int8 evaluation (AWGN, nominal feedback).

    Examples:
      semqam hil --bundle build/mnist-256 --port virtual --out results/hil-mnist-256
      semqam hil --bundle build/mnist-256 --port /dev/ttyUSB0 --trust keys/lab.pub \\
          --snr -10:20:5 --channel rician --k-factor-db 6 --out results/hil-rician
    """
    from rich.console import Console

    from evaluation.snr import parse_snr
    from hil.report import print_table
    from hil.runner import CONSTELLATIONS, HilConfig
    from hil.session import hil as run_session

    snr_db = _guard(parse_snr, snr)
    if constellation == "both":
        names = CONSTELLATIONS
    elif constellation in CONSTELLATIONS:
        names = (constellation,)
    else:
        _fail(f"--constellation {constellation!r}; use semantic, standard or both")
    params: dict[str, float | int] = {}
    if k_factor_db is not None:
        if channel != "rician":
            _fail("--k-factor-db applies to --channel rician only")
        params["k_factor_db"] = k_factor_db
    if block_length is not None:
        if channel == "awgn":
            _fail("--block-length applies to --channel rayleigh or rician")
        params["block_length"] = block_length
    scatter = tuple(_guard(parse_snr, scatter_snr)) if scatter_snr else ()
    if trust is not None and not trust.is_file():
        _fail(f"--trust {trust}: no such file; create a key pair with `semqam keygen`")
    cfg = HilConfig(snr_db=snr_db, channel=channel.strip().lower(), channel_params=params,
                    constellations=names, seed=seed, block=block, feedback=feedback,
                    window=window, scatter_snr_db=scatter)
    _guard(cfg.check)
    from semqam.progress import make_progress

    with make_progress() as progress:
        report = _guard(run_session, bundle, cfg, out, port=port, trust=trust, baud=baud,
                        pace=pace, timeout=timeout, backend=backend, data=data, limit=limit,
                        run=run, offline=offline, progress=progress,
                        say=lambda s: progress.console.print(s))
    print_table(report, Console())
    typer.echo(f"report written to {out}: {', '.join(report['files'])} "
               f"({report['timing_s']['total']:.0f} s)")
    ag = report.get("agreement")
    if ag and not ag["holds"]:
        _fail("HIL and offline int8 disagree beyond the tolerance; see hil_report.json")


def register(app: typer.Typer) -> None:
    """Add ``hil`` to ``app``."""
    app.command("hil")(hil)
