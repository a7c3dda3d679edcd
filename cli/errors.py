"""One place that turns every error a user can fix into one line on stderr.

:class:`SemqamGroup` is the click group class of the ``semqam`` app
(``typer.Typer(cls=SemqamGroup)``). It wraps the parsing of the command line and the run of
every command, so the same handling applies through the console entry point and through
``typer.testing.CliRunner().invoke(app, ...)``:

* :class:`semqam.errors.SemqamError` (the node runtime's ``LinkError``, ``BundleError``,
  ``SlotError`` included), ``ValueError``, ``OSError`` and ``MemoryError`` ->
  ``error: <message>``, exit status 2;
* click usage errors (bad option value, missing option, unknown option or command) ->
  ``error: <message> (see `semqam CMD --help`)``, exit status 2, instead of the usage block;
* ``KeyboardInterrupt`` -> ``interrupted``, exit status 130; SIGTERM (through :func:`run`)
  -> ``terminated``, exit status 143. Both unwind the command like an exception, so every
  ``atomic_dir`` / ``atomic_path`` removes its temporary output and a virtual node is stopped.

``SEMQAM_DEBUG=1`` re-raises the mapped exceptions, so the traceback is shown. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

try:  # click as typer ships it (vendored since typer 0.2x), else the standalone package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as click_exceptions

DEBUG_ENV = "SEMQAM_DEBUG"
USAGE_EXIT = 2
INTERRUPT_EXIT = 130
TERMINATE_EXIT = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so the command unwinds and cleans up as on Ctrl-C."""


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise Terminated()


def debug() -> bool:
    """True when ``SEMQAM_DEBUG`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception classes whose message is shown as one line (no traceback)."""
    from semqam.errors import SemqamError

    return (SemqamError, ValueError, OSError, MemoryError)


def one_line(text: str) -> str:
    """``text`` with its lines joined: the message stays one line on the terminal."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


_OS_FIXES = {
    errno.ENOENT: "no such file or folder; check the path",
    errno.EACCES: "permission denied; fix its permissions or choose another path",
    errno.EPERM: "operation not permitted; fix its permissions or choose another path",
    errno.EROFS: "read-only file system; choose a writable output folder",
    errno.ENOSPC: "no space left on the device; free some space or choose another output folder",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another output folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "is a folder, not a file; pass a file",
    errno.EEXIST: "already exists; remove it, pass --force, or choose another path",
}


def _os_message(exc: OSError) -> str:
    from semqam.errors import SemqamError

    if isinstance(exc, SemqamError):  # e.g. MissingEdgeFile: its own message says it all
        return one_line(str(exc))
    path = exc.filename
    fix = _OS_FIXES.get(exc.errno) if exc.errno is not None else None
    if path is None:
        return one_line(str(exc)) or type(exc).__name__
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    if fix is None:
        fix = one_line(exc.strerror or str(exc)) or type(exc).__name__
    return f"{path}: {fix}"


def message(exc: BaseException) -> str:
    """The one-line message for a user error ``exc`` (no ``error:`` prefix)."""
    if isinstance(exc, MemoryError):
        detail = one_line(str(exc))
        return ("out of memory" + (f" ({detail})" if detail else "")
                + "; use fewer samples or a smaller model, or free memory")
    if isinstance(exc, OSError):
        return _os_message(exc)
    text = one_line(str(exc))
    if not text and exc.__cause__ is not None:
        text = one_line(str(exc.__cause__))
    return text or type(exc).__name__


def usage_message(exc: click_exceptions.UsageError) -> str:
    """A click usage error as one line that points at the command's help."""
    ctx = exc.ctx
    text = one_line(exc.format_message())
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    command = " ".join(["semqam", *reversed(names)])
    return f"{text} (see `{command} --help`)"


def fail(text: str, code: int = USAGE_EXIT) -> typer.Exit:
    """Print ``error: text`` on stderr; return the :class:`typer.Exit` to raise."""
    typer.secho(f"error: {text}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn the errors of the block into one line on stderr and :class:`typer.Exit`."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except click_exceptions.NoArgsIsHelpError:
        raise  # `semqam` alone: click shows the help
    except click_exceptions.UsageError as exc:
        raise fail(usage_message(exc), exc.exit_code) from None
    except click_exceptions.ClickException as exc:  # e.g. FileError of a click.File option
        raise fail(one_line(exc.format_message()), USAGE_EXIT) from None
    except Terminated:
        typer.secho("terminated", err=True)
        raise typer.Exit(TERMINATE_EXIT) from None
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        raise typer.Exit(INTERRUPT_EXIT) from None
    except Exception as exc:
        if debug() or not isinstance(exc, user_error_types()):
            raise
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            raise  # stdout closed (`semqam ... | head`): click exits quietly
        raise fail(message(exc)) from None


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Drop what native code writes straight to file descriptor 2 during the block.

    For the imports of TensorFlow and LiteRT: their start-up lines ("All log messages before
    absl::InitializeLog() ...", "oneDNN custom operations are on ...") come before absl reads
    any setting, so no environment variable turns them off, and they would bury the one-line
    messages. Python exceptions are unaffected; ``SEMQAM_DEBUG=1`` keeps everything.
    """
    if debug():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreter)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class SemqamGroup(TyperGroup):
    """The app's group: parsing and every command run inside :func:`reported`."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Any = None, **extra: Any) -> Any:
        with reported():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with reported():
            return super().invoke(ctx)


def run(app: typer.Typer) -> None:
    """Run ``app`` as a console script (``sys.exit`` with its status); SIGTERM unwinds the
    command like Ctrl-C (:class:`Terminated`), so its partial outputs are removed."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except Terminated:
        typer.secho("terminated", err=True)
        sys.exit(TERMINATE_EXIT)
    except KeyboardInterrupt:  # before the group runs, e.g. while importing
        typer.secho("interrupted", err=True)
        sys.exit(INTERRUPT_EXIT)
