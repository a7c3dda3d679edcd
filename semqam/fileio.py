"""Crash-safe writes: everything goes to a temporary file beside the target, then is renamed."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: Free bytes an output folder needs before a command starts its work (a full disk fails fast).
MIN_FREE_BYTES = 1 << 20


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An ``OSError`` without a file name (``write``, ``fsync`` on a full disk) gets ``path``,
    so its one-line message names the thing."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(path)) from None
        raise


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        with _naming(path):
            yield Path(tmp)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_private(path: str | Path, data: bytes) -> None:
    """Write a secret atomically: the temporary file is created with mode 0600 (``mkstemp``
    opens it ``O_EXCL`` with that mode, whatever the umask), so its bytes are never readable
    by others, not even before a chmod; fsynced, then renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with _naming(path), os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with _naming(path):
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, array)


def savez(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, **arrays)


def save_with(path: str | Path, writer: Callable[[Path], None], suffix: str) -> None:
    """Atomic write through a library's own saver (e.g. ``model.save``) that needs a suffix."""
    with atomic_path(path, suffix) as tmp:
        writer(tmp)


def replace_dir(new: Path, path: Path) -> None:
    """Rename the complete folder ``new`` onto ``path``; an old ``path`` is removed only after
    the new one is in place."""
    import shutil

    if path.exists():
        trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
        os.replace(path, trash / path.name)
        os.replace(new, path)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(new, path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; if the block succeeds it replaces
    ``path`` as a whole (:func:`replace_dir`)."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.new-"))
    try:
        with _naming(path):
            yield tmp
        for inner in tmp.rglob("*"):  # shareable outputs whatever the umask
            os.chmod(inner, 0o755 if inner.is_dir() else 0o644)
        os.chmod(tmp, 0o755)
        replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_writable(path: str | Path, *, folder: bool = True) -> Path:
    """Fail fast, before any long work, unless ``path`` can be written.

    An existing ``path`` must be a writable folder (``folder=True``, the default) or, with
    ``folder=False``, may be anything in a writable folder; a new ``path`` needs its nearest
    existing parent to be a writable folder (where it is created). The folder written in needs
    :data:`MIN_FREE_BYTES` free (a full disk fails here, not after minutes of work). Raises
    :class:`~semqam.errors.SemqamError` with a one-line message naming the folder at fault;
    returns ``path``.
    """
    from semqam.errors import SemqamError

    path = Path(path)
    target = path.absolute()
    if target.is_dir() and folder:
        if not os.access(target, os.W_OK | os.X_OK):
            raise SemqamError(f"{path}: folder is not writable; fix its permissions or choose "
                              "another output folder")
        _check_free(target, path)
        return path
    if target.exists() and folder:
        raise SemqamError(f"{path}: is a file, not a folder; choose another output folder")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SemqamError(f"{parent}: is a file, not a folder, so {path} cannot be created there; "
                          "choose another output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SemqamError(f"{parent}: folder is not writable, so {path} cannot be written there; "
                          "fix its permissions or choose another output path")
    _check_free(parent, path)
    return path


def _check_free(folder: Path, path: Path) -> None:
    from semqam.errors import SemqamError

    try:
        st = os.statvfs(folder)
    except OSError:
        return  # no figure: the write itself will tell
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE_BYTES:
        raise SemqamError(f"{folder}: only {free // 1024} KiB free, so {path} cannot be written "
                          "there; free some space or choose another output folder")
