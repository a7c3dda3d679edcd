"""``semqam flash`` and ``semqam node``: the serial link to a sensor node (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.options import (
    BaudOpt,
    BundleOpt,
    FlashDeadlineOpt,
    PaceOpt,
    PortOpt,
    TimeoutOpt,
    TrustOpt,
)

BACKENDS = ("c", "litert")


def flash(
    port: PortOpt,
    bundle: BundleOpt,
    baud: BaudOpt = 115200,
    chunk_size: Annotated[int, typer.Option(
        min=1, max=4088, help="Bytes per FLASH_CHUNK (1..4088).")] = 2048,
    timeout: TimeoutOpt = 1.0,
    trust: TrustOpt = None,
    force: Annotated[bool, typer.Option(help="Send even if the node already runs it.")] = False,
    pace: PaceOpt = False,
    deadline: FlashDeadlineOpt = None,
) -> None:
    """Flash a bundle to a node over its serial link; resumes an interrupted transfer.

    The node verifies hashes, signature (if it holds a key), version and dimensions, then
    switches its active slot atomically; on any failure its previous bundle stays active.
    A warning line says when the node holds no trusted key. The flash gives up after
    --deadline, or when the node keeps discarding the transfer (another host aborting it).

    Examples:
      semqam flash --port /dev/ttyUSB0 --bundle build/mnist-256
      semqam flash --port socket://pi.local:7000 --bundle build/mnist-256 --baud 921600
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from semqam_node.session import open_node

    with Progress(TextColumn("[bold]flash"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task("flash", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        def hello(info) -> None:
            typer.echo(f"node {info.node_id} (runtime {info.runtime_version}, boot "
                       f"{info.boot_id:08x}): {info.status}", err=True)

        with open_node(port, bundle, trust=trust, baud=baud, pace=pace, timeout=timeout,
                       progress=advance, force=force, chunk_size=chunk_size,
                       open_timeout=min(timeout, 2.0), on_hello=hello,
                       warn=lambda line: typer.secho(line, err=True, fg=typer.colors.YELLOW),
                       flash_deadline=deadline) as session:
            result = session.flash
    typer.echo(result.line())


def node(
    port: PortOpt,
    bundle_dir: Annotated[Path, typer.Option(
        "--bundle-dir", help="Node state folder: slot_a/, slot_b/, active, staging/.")],
    trust: TrustOpt = None,
    backend: Annotated[str, typer.Option(help="c | litert.")] = "c",
    baud: BaudOpt = 115200,
    node_id: Annotated[str | None, typer.Option(help="Name reported in INFO.")] = None,
    install: Annotated[Path | None, typer.Option(
        help="Install this local bundle folder at start-up (same checks as a flash).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every ERROR.")] = False,
    insecure_accept_unsigned: Annotated[bool, typer.Option(
        "--insecure-accept-unsigned",
        help="Run without --trust: accept unsigned and foreign-key bundles (test benches "
             "only; logged and reported in INFO).")] = False,
    allow_downgrade: Annotated[bool, typer.Option(
        help="Accept a bundle older (bundle_version) than the active one.")] = False,
) -> None:
    """Run the node side of the link (same as `semqam-node`), serving until stopped.
    Needs --trust KEY.pub, or --insecure-accept-unsigned on a test bench.

    Example: semqam node --port /dev/serial0 --bundle-dir /var/lib/semqam --trust lab.pub
    """
    from semqam_node.server import main as node_main

    from semqam.fileio import check_writable

    check_writable(bundle_dir)
    if backend not in BACKENDS:
        raise ValueError(f"--backend {backend!r}; use c or litert")
    if trust is not None and not trust.is_file():
        raise ValueError(f"--trust {trust}: no such file; create a key pair with `semqam keygen`")
    if install is not None and not (install / "manifest.json").is_file():
        raise ValueError(f"--install {install}: no manifest.json; pass a folder written by "
                         "`semqam export`")
    if trust is None and not insecure_accept_unsigned:
        raise ValueError("no --trust KEY.pub: a node accepts only bundles signed by its key; "
                         "pass --trust (from `semqam keygen`), or --insecure-accept-unsigned "
                         "on a test bench")
    if trust is not None and insecure_accept_unsigned:
        raise ValueError("--trust and --insecure-accept-unsigned exclude each other; pass one")
    argv = ["--port", port, "--bundle-dir", str(bundle_dir), "--backend", backend,
            "--baud", str(baud)]
    for flag, value in (("--trust", trust), ("--node-id", node_id), ("--install", install)):
        if value is not None:
            argv += [flag, str(value)]
    if verbose:
        argv.append("--verbose")
    if insecure_accept_unsigned:
        argv.append("--insecure-accept-unsigned")
    if allow_downgrade:
        argv.append("--allow-downgrade")
    code = node_main(argv)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``flash`` and ``node`` to ``app``."""
    app.command("flash")(flash)
    app.command("node")(node)
