"""``semqam hil``: drive the test set through a node over its serial link, a host channel and
the edge decoder (docs/hil.md). Wired into the top-level app by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.options import (
    BackendOpt,
    BaudOpt,
    BundleOpt,
    NodePortOpt,
    PaceOpt,
    SnrSweepOpt,
    TestDataOpt,
    TimeoutOpt,
    TrustOpt,
    out_option,
)

HilOut = out_option("Folder for hil_report.json and figures.")


def hil(
    bundle: BundleOpt,
    out: HilOut,
    port: NodePortOpt = "virtual",
    snr: SnrSweepOpt = "-10:20:5",
    channel: Annotated[str, typer.Option(help="awgn | rayleigh | rician.")] = "awgn",
    k_factor_db: Annotated[float | None, typer.Option(
        help="Rician K-factor in dB (rician only; default the block's own).")] = None,
    block_length: Annotated[int | None, typer.Option(
        min=1, help="Fading: symbols per coherence block (default the block's own).")] = None,
    constellation: Annotated[str, typer.Option(
        help="semantic | standard | both.")] = "both",
    feedback: Annotated[str, typer.Option(
        help="SNR fed back before each block: nominal, or estimated from pilots.")] = "nominal",
    block: Annotated[int, typer.Option(min=1, help="Samples per SNR-feedback block.")] = 100,
    window: Annotated[int, typer.Option(min=1, help="INPUT frames in flight on the link.")] = 8,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Use only the first N test samples.")] = None,
    data: TestDataOpt = None,
    trust: TrustOpt = None,
    run: Annotated[Path | None, typer.Option(
        help="Run folder for the offline int8 reference (default: the one in the manifest).")
    ] = None,
    offline: Annotated[bool, typer.Option(
        help="Compute the offline int8 reference and the agreement check.")] = True,
    scatter_snr: Annotated[str | None, typer.Option(
        help="Two SNRs of the sweep for the received-constellation plot (default min, max).")
    ] = None,
    backend: BackendOpt = "c",
    baud: BaudOpt = 115200,
    pace: PaceOpt = False,
    timeout: TimeoutOpt = None,
    seed: Annotated[int, typer.Option(help="Channel seed (noise of SNR point j: seed + j).")] = 0,
) -> None:
    """Hardware in the loop: node -> serial link -> channel -> edge decoder -> metrics.

    Flashes the bundle (unless the node already runs it), then for every constellation and
    SNR feeds the SNR back to the node, streams every test sample, passes the node's symbols
    through the channel and decodes at the edge. Writes hil_report.json and three PNGs, and
    compares with the offline int8 evaluation (AWGN, nominal feedback).

    Examples:
      semqam hil --bundle build/mnist-256 --port virtual --out results/hil-mnist-256
      semqam hil --bundle build/mnist-256 --port qemu-m4 --trust build/keys/lab.pub --out r/m4
      semqam hil --bundle build/mnist-256 --port /dev/ttyUSB0 --trust keys/lab.pub \\
          --snr -10:20:5 --channel rician --k-factor-db 6 --out results/hil-rician
    """
    from rich.console import Console

    from evaluation.snr import parse_snr
    from hil.report import print_table
    from hil.runner import CONSTELLATIONS, HilConfig
    from hil.session import hil as run_session
    from semqam.fileio import check_writable
    from semqam.progress import make_progress

    check_writable(out)
    snr_db = parse_snr(snr)
    if constellation == "both":
        names = CONSTELLATIONS
    elif constellation in CONSTELLATIONS:
        names = (constellation,)
    else:
        raise ValueError(f"--constellation {constellation!r}; use semantic, standard or both")
    params: dict[str, float | int] = {}
    if k_factor_db is not None:
        if channel != "rician":
            raise ValueError("--k-factor-db applies to --channel rician only")
        params["k_factor_db"] = k_factor_db
    if block_length is not None:
        if channel == "awgn":
            raise ValueError("--block-length applies to --channel rayleigh or rician")
        params["block_length"] = block_length
    scatter = tuple(parse_snr(scatter_snr)) if scatter_snr else ()
    if not (bundle / "manifest.json").is_file():
        raise ValueError(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    if trust is not None and not trust.is_file():
        raise ValueError(f"--trust {trust}: no such file; create a key pair with `semqam keygen`")
    cfg = HilConfig(snr_db=snr_db, channel=channel.strip().lower(), channel_params=params,
                    constellations=names, seed=seed, block=block, feedback=feedback,
                    window=window, scatter_snr_db=scatter)
    cfg.check()
    if timeout is None:
        from semqam_node.session import default_timeout

        timeout = default_timeout(port)
    with make_progress() as progress:
        report = run_session(bundle, cfg, out, port=port, trust=trust, baud=baud, pace=pace,
                             timeout=timeout, backend=backend, data=data, limit=limit, run=run,
                             offline=offline, progress=progress,
                             say=lambda s: progress.console.print(s))
    print_table(report, Console())
    typer.echo(f"report written to {out}: {', '.join(report['files'])} "
               f"({report['timing_s']['total']:.0f} s)")
    ag = report.get("agreement")
    if ag and not ag["holds"]:
        from semqam.errors import SemqamError

        raise SemqamError(f"HIL and offline int8 disagree beyond the tolerance; see "
                          f"{out / 'hil_report.json'}")


def register(app: typer.Typer) -> None:
    """Add ``hil`` to ``app``."""
    app.command("hil")(hil)
