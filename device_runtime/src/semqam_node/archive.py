"""The transfer image of a bundle: an uncompressed ustar archive of ``manifest.json`` followed
by the manifest's ``node_files`` (docs/protocol.md, "Flashing").

:func:`pack_bundle` writes it deterministically; :func:`unpack_bundle` extracts it with strict
checks (regular files only, plain relative names, nothing outside the slot, manifest first,
exactly the node files, sizes and counts bounded).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from .bundle import MANIFEST, MAX_MANIFEST_BYTES, read_manifest
from .durable import fsync_dir
from .errors import BundleError, SlotError
from .protocol import ErrorCode

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def pack_bundle(bundle_dir: str | Path) -> bytes:
    """The transfer image of a bundle: a deterministic ustar of manifest.json + node_files."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    names = [MANIFEST, *sorted(set(manifest.get("node_files") or []))]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in names:
            _check_name(name)
            data = (bundle_dir / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _check_name(name: str) -> None:
    """Refuse a member name that is not a plain relative path of at most 4 parts."""
    parts = name.split("/")
    if (not name or name.startswith("/") or "\\" in name or len(parts) > 4
            or any(p in (".", "..") or not _NAME.match(p) for p in parts)):
        raise SlotError(ErrorCode.ARCHIVE, f"archive member name {name!r} is not a plain "
                        "relative path; refusing it")


def unpack_bundle(archive: Path, dest: Path, max_files: int, max_bytes: int,
                  crash: Callable[[str], None] = lambda _: None) -> None:
    """Extract a transfer archive into the empty folder ``dest`` with strict checks.

    Regular files only, safe relative names, ``manifest.json`` first, then exactly the
    manifest's node_files (at most ``max_files`` members, ``max_bytes`` in all), each no
    larger than the manifest says. Everything is fsynced. ``crash(point)`` is the slot
    store's power-loss test hook. Raises :class:`SlotError` (ARCHIVE or BUNDLE).
    """
    written: list[str] = []
    expected: set[str] = set()
    sizes: dict[str, int] = {}
    total = 0
    try:
        tar = tarfile.open(archive, mode="r:")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as e:
        raise SlotError(ErrorCode.ARCHIVE, f"transfer is not an uncompressed tar ({e})") from None
    with tar:
        try:
            for member in tar:
                name = member.name
                _check_name(name)
                if not member.isreg():
                    raise SlotError(ErrorCode.ARCHIVE,
                                    f"archive member {name!r} is not a regular file")
                if name in written:
                    raise SlotError(ErrorCode.ARCHIVE, f"archive member {name!r} appears twice")
                if not written and name != MANIFEST:
                    raise SlotError(ErrorCode.ARCHIVE,
                                    f"first archive member is {name!r}, not {MANIFEST}")
                if written and name not in expected:
                    raise SlotError(ErrorCode.ARCHIVE,
                                    f"archive member {name!r} is not a node file of the manifest")
                if len(written) >= max_files:
                    raise SlotError(ErrorCode.ARCHIVE, f"more than {max_files} files")
                if name == MANIFEST and member.size > MAX_MANIFEST_BYTES:
                    raise SlotError(ErrorCode.BUNDLE, f"{MANIFEST}: {member.size} bytes, more "
                                    f"than the {MAX_MANIFEST_BYTES} accepted")
                if name in sizes and member.size > sizes[name]:
                    raise SlotError(ErrorCode.BUNDLE, f"{name}: {member.size} bytes in the "
                                    f"archive, manifest says {sizes[name]}")
                total += member.size
                if total > max_bytes:
                    raise SlotError(ErrorCode.ARCHIVE,
                                    f"archive unpacks to more than {max_bytes} bytes")
                src = tar.extractfile(member)
                assert src is not None
                target = dest / name
                if dest.resolve() not in target.resolve().parents:
                    raise SlotError(ErrorCode.ARCHIVE, f"archive member {name!r} escapes the slot")
                target.parent.mkdir(parents=True, exist_ok=True)
                with src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 16)
                    out.flush()
                    os.fsync(out.fileno())
                written.append(name)
                if name == MANIFEST:
                    try:
                        manifest = read_manifest(dest)
                    except BundleError as e:
                        raise SlotError(ErrorCode.BUNDLE, str(e)) from None
                    expected = set(manifest.get("node_files") or [])
                    files = manifest["files"]
                    sizes = {n: int(files[n]["size"]) for n in expected
                             if isinstance(files.get(n), dict) and "size" in files[n]}
                crash("unpack")
        except tarfile.TarError as e:
            raise SlotError(ErrorCode.ARCHIVE, f"transfer archive is corrupt ({e})") from None
        except BundleError as e:
            raise SlotError(ErrorCode.BUNDLE, str(e)) from None
    if not written:
        raise SlotError(ErrorCode.ARCHIVE, "transfer archive is empty")
    missing = sorted(expected - set(written))
    if missing:
        raise SlotError(ErrorCode.ARCHIVE, f"archive lacks node files {missing}")
    for d in {(dest / n).parent for n in written}:
        fsync_dir(d)
