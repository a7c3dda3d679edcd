"""``semqam flash`` and ``semqam node``: the serial link to a sensor node (docs/protocol.md).

Wired into the top-level app by ``register(app)``. Errors the user can fix (no port, node
refused the bundle, link timed out) are one line on stderr and exit status 2; set
``SEMQAM_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

PortOpt = Annotated[str, typer.Option(
    "--port", help="Serial device, pty path or pyserial URL (socket://HOST:PORT, loop://).")]
BaudOpt = Annotated[int, typer.Option("--baud", help="Line rate in baud (8N1: 10 bits/byte).")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _guard(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn``; map link, node and bundle errors to one-line messages."""
    from semqam_node.bundle import BundleError
    from semqam_node.host import LinkError
    from semqam_node.slots import SlotError

    try:
        return fn(*args, **kwargs)
    except (LinkError, BundleError, SlotError, ValueError, OSError) as exc:
        if os.environ.get("SEMQAM_DEBUG"):
            raise
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise AssertionError("unreachable") from None


def flash(
    port: PortOpt,
    bundle: Annotated[Path, typer.Option("--bundle", help="Bundle folder from `semqam export`.")],
    baud: BaudOpt = 115200,
    chunk_size: Annotated[int, typer.Option(help="Bytes per FLASH_CHUNK (1..4088).")] = 2048,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 1.0,
    trust: Annotated[Path | None, typer.Option(
        help="Check the bundle's signature with this .pub before sending.")] = None,
    force: Annotated[bool, typer.Option(help="Send even if the node already runs it.")] = False,
    pace: Annotated[bool, typer.Option(
        help="Hold writes to --baud (for a pty, which ignores baud).")] = False,
) -> None:
    """Flash a bundle to a node over its serial link; resumes an interrupted transfer.

    The node verifies hashes, signature (if it holds a key) and dimensions, then switches
    its active slot atomically; on any failure its previous bundle stays active.

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
    from semqam_node.bundle import load_public_key
    from semqam_node.host import NodeClient

    key = _guard(load_public_key, trust) if trust else None
    if not (bundle / "manifest.json").is_file():
        _fail(f"{bundle}: no manifest.json; pass a folder written by `semqam export`")
    client = _guard(NodeClient, port, baud=baud, timeout=timeout, pace=pace,
                    open_timeout=min(timeout, 2.0))
    with client, Progress(TextColumn("[bold]flash"), BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(),
                          transient=True) as progress:
        task = progress.add_task("flash", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        info = _guard(client.hello)
        typer.echo(f"node {info.node_id} (runtime {info.runtime_version}, boot "
                   f"{info.boot_id:08x}): {info.status}", err=True)
        result = _guard(client.flash, bundle, progress_callback=advance, chunk_size=chunk_size,
                        force=force, trust=key)
    typer.echo(result.line())


def node(
    port: PortOpt,
    bundle_dir: Annotated[Path, typer.Option(
        "--bundle-dir", help="Node state folder: slot_a/, slot_b/, active, staging/.")],
    trust: Annotated[Path | None, typer.Option(
        help="Ed25519 .pub; unsigned bundles are then refused.")] = None,
    backend: Annotated[str, typer.Option(help="c | litert.")] = "c",
    baud: BaudOpt = 115200,
    node_id: Annotated[str | None, typer.Option(help="Name reported in INFO.")] = None,
    install: Annotated[Path | None, typer.Option(
        help="Install this local bundle folder at start-up (same checks as a flash).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every ERROR.")] = False,
) -> None:
    """Run the node side of the link (same as `semqam-node`), serving until stopped.

    Example: semqam node --port /dev/serial0 --bundle-dir /var/lib/semqam --trust lab.pub
    """
    from semqam_node.server import main as node_main

    argv = ["--port", port, "--bundle-dir", str(bundle_dir), "--backend", backend,
            "--baud", str(baud)]
    for flag, value in (("--trust", trust), ("--node-id", node_id), ("--install", install)):
        if value is not None:
            argv += [flag, str(value)]
    if verbose:
        argv.append("--verbose")
    code = node_main(argv)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``flash`` and ``node`` to ``app``."""
    app.command("flash")(flash)
    app.command("node")(node)
