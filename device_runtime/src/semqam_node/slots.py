"""A/B bundle slots in a node's state directory, resumable transfers, atomic switch.

Layout of ``--bundle-dir DIR`` (docs/protocol.md, "Flashing")::

    DIR/active              {"slot": "a"|"b", ...}   replaced atomically (temp + os.replace)
    DIR/slot_a/, slot_b/    manifest.json + node_files of one bundle each
    DIR/staging/            transfer.bin + transfer.json of a transfer in progress

The transfer is the bundle's archive (:mod:`.archive`, :func:`pack_bundle`). A commit checks
the whole-transfer SHA-256, unpacks into the *inactive* slot, verifies it (hashes, signature
when the node holds a key, dimensions, and an optional load check), and only then switches
``active``. Any failure leaves the previous bundle
active; a crash at any point leaves either the old or the new bundle active and complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .archive import pack_bundle, unpack_bundle
from .bundle import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    Dimensions,
    bundle_dimensions,
    bundle_version,
    parse_manifest,
    read_manifest,
    verify_bundle,
    verify_signature,
)
from .durable import fsync_dir, write_atomic
from .errors import BundleError, SlotError
from .model_file import NODE_MODEL, ModelLimits, check_node_model, load_node_model
from .protocol import ErrorCode

__all__ = ["CRASH_POINTS", "ActiveBundle", "Dimensions", "Limits", "SlotError", "SlotStore",
           "bundle_dimensions", "check_limits", "pack_bundle", "unpack_bundle"]

log = logging.getLogger("semqam_node.slots")

SLOTS = ("a", "b")
ACTIVE = "active"
STAGING = "staging"
DATA = "transfer.bin"
META = "transfer.json"
CRASH_ENV = "SEMQAM_NODE_CRASH_AT"
CRASH_POINTS = ("chunk", "unpack", "unpacked", "verified", "pointer", "switched")


@dataclass(frozen=True)
class Limits(ModelLimits):
    """What this runtime can hold; bundles outside these are refused at commit."""

    max_input: int = 4092  # INPUT payload = 4-byte seq + sample <= MAX_PAYLOAD
    max_bundle_bytes: int = 64 << 20
    max_files: int = 16


@dataclass(frozen=True)
class ActiveBundle:
    """The verified bundle a node serves."""

    slot: str
    path: Path
    manifest: dict[str, Any]
    manifest_sha256: bytes
    dims: Dimensions

    @property
    def bundle_id(self) -> str:
        return str(self.manifest.get("bundle_id", ""))

    @property
    def slot_number(self) -> int:
        return SLOTS.index(self.slot) + 1


# --------------------------------------------------------------------------------------------
# Limits


def check_limits(dims: Dimensions, limits: Limits, where: str = MANIFEST) -> None:
    """:class:`SlotError` (DIMENSIONS) if ``dims`` exceed ``limits``."""
    bad = [f"{name} {got} > {lim}" for name, got, lim in (
        ("M (order)", dims.order, limits.max_order),
        ("N (n_concepts)", dims.n_concepts, limits.max_concepts),
        ("D (latent_dim)", dims.latent_dim, limits.max_latent),
        ("input size", dims.input_size, limits.max_input)) if got > lim]
    if bad:
        raise SlotError(ErrorCode.DIMENSIONS, f"{where}: {', '.join(bad)}: this runtime cannot "
                        "hold the bundle; export one within its limits")


# --------------------------------------------------------------------------------------------
# The slot store


@dataclass
class _Transfer:
    sha256: str
    total: int
    acked: int
    checked: bool = False  # the manifest at the head of the transfer passed the early check


LoadCheck = Callable[[Path, dict[str, Any]], None]


class SlotStore:
    """The bundle slots, the active pointer and the staged transfer of one node.

    ``trust``: a node holding a key refuses unsigned bundles and bad signatures.
    ``crash_at``: test hook; the process SIGKILLs itself at that step (one of
    :data:`CRASH_POINTS`, ``POINT:N`` for its N-th occurrence) to simulate power loss. Also
    read from ``$SEMQAM_NODE_CRASH_AT``.
    """

    def __init__(self, root: str | Path, trust: Ed25519PublicKey | None = None,
                 limits: Limits | None = None, crash_at: str | None = None,
                 allow_downgrade: bool = False) -> None:
        self.root = Path(root)
        self.trust = trust
        self.allow_downgrade = allow_downgrade
        self.limits = limits or Limits()
        self.crash_at = crash_at if crash_at is not None else os.environ.get(CRASH_ENV)
        self._crash_seen: dict[str, int] = {}
        self.active: ActiveBundle | None = None
        self.problem = "no bundle flashed yet"  # why nothing is active
        self._transfer: _Transfer | None = None
        self._data: BinaryIO | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / STAGING).mkdir(exist_ok=True)

    # ------------------------------------------------------------------ boot

    def recover(self, check: LoadCheck | None = None) -> ActiveBundle | None:
        """Start-up: drop temp files, re-verify the active slot (or fall back), load staging."""
        for tmp in [self.root / (ACTIVE + ".tmp"), self.root / STAGING / (META + ".tmp")]:
            tmp.unlink(missing_ok=True)
        self.active = None
        pointer = self._read_pointer()
        if pointer is None:
            self.problem = "no bundle flashed yet"
        else:
            order = [pointer, *[s for s in SLOTS if s != pointer]]
            problems = []
            for slot in order:
                try:
                    self.active = self._verify_slot(slot, check)
                except Exception as e:  # noqa: BLE001 - any failure means "this slot is bad"
                    text = e if isinstance(e, (BundleError, SlotError)) else \
                        f"{type(e).__name__}: {e}"
                    problems.append(f"slot_{slot}: {text}")
                    log.warning("slot_%s does not verify: %s", slot, text)
                    continue
                if slot != pointer:
                    log.warning("active slot_%s is broken; falling back to slot_%s",
                                pointer, slot)
                    self._write_pointer(self.active)
                elif self._pointer_field("slot") != slot:
                    log.warning("repairing the damaged %s pointer: slot_%s", ACTIVE, slot)
                    self._write_pointer(self.active)
                break
            if self.active is None:
                self.problem = "; ".join(problems)
        self._transfer = self._read_meta()
        return self.active

    def _read_pointer(self) -> str | None:
        path = self.root / ACTIVE
        try:
            slot = json.loads(path.read_text()).get("slot")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as e:
            log.warning("%s unreadable (%s); trying both slots", path, e)
            return SLOTS[0]
        if slot not in SLOTS:
            log.warning("%s names no slot (%r); trying both slots", path, slot)
            return SLOTS[0]
        return slot

    def _verify_slot(self, slot: str, check: LoadCheck | None) -> ActiveBundle:
        path = self.slot_path(slot)
        if not (path / MANIFEST).is_file():
            raise SlotError(ErrorCode.BUNDLE, f"{path}: empty slot")
        return self._verify(path, slot, check)

    def _verify(self, path: Path, slot: str, check: LoadCheck | None) -> ActiveBundle:
        manifest = read_manifest(path)
        where = str(path / MANIFEST)
        if self.trust is not None:
            try:
                verify_signature(manifest, self.trust, where)
            except BundleError as e:
                raise SlotError(ErrorCode.SIGNATURE, str(e)) from None
        try:
            manifest = verify_bundle(path, self.trust, require="node")
        except BundleError as e:
            raise SlotError(ErrorCode.BUNDLE, str(e)) from None
        try:
            dims = bundle_dimensions(manifest, where)
        except BundleError as e:
            raise SlotError(ErrorCode.BUNDLE, str(e)) from None
        check_limits(dims, self.limits, where)
        if NODE_MODEL not in (manifest.get("node_files") or []):
            raise SlotError(ErrorCode.BUNDLE, f"{where}: {NODE_MODEL} is not a node file; "
                            "export the bundle again")
        try:
            arrays, meta = load_node_model(path / NODE_MODEL, self.limits.max_model_bytes)
            check_node_model(arrays, meta, manifest, self.limits, path / NODE_MODEL)
        except BundleError as e:
            raise SlotError(ErrorCode.BUNDLE, str(e)) from None
        del arrays
        if check is not None:
            try:
                check(path, manifest)
            except Exception as e:  # noqa: BLE001 - any load failure refuses the bundle
                raise SlotError(ErrorCode.BUNDLE,
                                f"{path}: the encoder cannot load it ({e})") from None
        digest = hashlib.sha256((path / MANIFEST).read_bytes()).digest()
        return ActiveBundle(slot, path, manifest, digest, dims)

    def slot_path(self, slot: str) -> Path:
        return self.root / f"slot_{slot}"

    @property
    def inactive_slot(self) -> str:
        return "b" if self.active is not None and self.active.slot == "a" else "a"

    # ------------------------------------------------------------------ transfers

    @property
    def staged(self) -> tuple[int, int] | None:
        """(acknowledged bytes, total) of a staged transfer, or None."""
        t = self._transfer
        return (t.acked, t.total) if t else None

    def _read_meta(self) -> _Transfer | None:
        """The staged transfer: hash and size from transfer.json, the stored bytes from the
        length of transfer.bin (each chunk is fsynced before it is acknowledged)."""
        meta = self.root / STAGING / META
        data = self.root / STAGING / DATA
        try:
            m = json.loads(meta.read_text())
            t = _Transfer(str(m["sha256"]), int(m["total"]), 0)
            t.acked = min(data.stat().st_size, t.total)
            return t
        except FileNotFoundError:
            self._clear_staging()
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("staged transfer unusable (%s); discarding it", e)
            self._clear_staging()
            return None

    def _clear_staging(self) -> None:
        self._close_data()
        for name in (META, DATA):
            (self.root / STAGING / name).unlink(missing_ok=True)
        self._transfer = None

    def _close_data(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None

    def _data_file(self) -> BinaryIO:
        if self._data is None:
            self._data = open(self.root / STAGING / DATA, "r+b")  # noqa: SIM115 - kept open
        return self._data

    def begin(self, total: int, sha256: bytes) -> tuple[int, bool]:
        """Start a transfer, or resume the staged one with the same hash and size.

        Returns (offset to continue from = bytes the node holds durably, resumed).
        """
        if not 0 < total <= self.limits.max_bundle_bytes:
            raise SlotError(ErrorCode.RANGE, f"transfer of {total} bytes; this node accepts "
                            f"1..{self.limits.max_bundle_bytes}")
        sha = sha256.hex()
        t = self._transfer
        if t is not None and t.sha256 == sha and t.total == total:
            return t.acked, True
        self._clear_staging()
        try:
            with open(self.root / STAGING / DATA, "wb") as f:
                os.fsync(f.fileno())
            write_atomic(self.root / STAGING / META,
                         json.dumps({"sha256": sha, "total": total}).encode())
        except OSError as e:
            raise SlotError(ErrorCode.STORAGE, f"cannot stage the transfer ({e})") from None
        self._transfer = _Transfer(sha, total, 0)
        return 0, False

    def write_chunk(self, offset: int, data: bytes) -> int:
        """Store ``data`` at ``offset``; returns the acknowledged offset (durable bytes).

        A chunk before the acknowledged offset (a retransmission) is not written again.
        """
        t = self._transfer
        if t is None:
            raise SlotError(ErrorCode.FLASH_STATE, "FLASH_CHUNK without FLASH_BEGIN; "
                            "begin (or resume) the transfer first")
        if offset < t.acked:
            return t.acked
        if offset > t.acked:
            raise SlotError(ErrorCode.FLASH_OFFSET,
                            f"chunk at offset {offset}, expected {t.acked}; resend from there")
        if offset + len(data) > t.total:
            raise SlotError(ErrorCode.RANGE, f"chunk ends at {offset + len(data)}, beyond the "
                            f"announced size {t.total}")
        try:
            f = self._data_file()
            f.seek(offset)
            f.truncate(offset)
            f.write(data)
            f.flush()
            self._crash("chunk")
            os.fsync(f.fileno())
        except OSError as e:
            self._close_data()
            raise SlotError(ErrorCode.STORAGE, f"cannot store the chunk ({e})") from None
        t.acked = offset + len(data)
        if not t.checked:
            self._early_check(t)
        return t.acked

    def _early_check(self, t: _Transfer) -> None:
        """Refuse a transfer as soon as its manifest (the first archive member) has arrived and
        shows that the bundle cannot be accepted (signature, dimensions), instead of after
        minutes of transfer. The commit checks everything again."""
        f = self._data_file()
        f.seek(0)
        head = f.read(tarfile.BLOCKSIZE)
        if len(head) < tarfile.BLOCKSIZE:
            return
        try:
            info = tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
        except tarfile.TarError as e:
            self._refuse(ErrorCode.ARCHIVE, f"transfer is not a ustar archive ({e})")
        if info.name != MANIFEST or not info.isreg():
            self._refuse(ErrorCode.ARCHIVE, f"first archive member is {info.name!r}, "
                         f"not {MANIFEST}")
        where = f"{MANIFEST} of the transfer"
        if info.size > MAX_MANIFEST_BYTES:  # refused before a byte of it is read
            self._refuse(ErrorCode.BUNDLE, f"{where}: {info.size} bytes, more than the "
                         f"{MAX_MANIFEST_BYTES} accepted; export the bundle again")
        if t.acked < tarfile.BLOCKSIZE + info.size:
            return
        t.checked = True
        try:
            manifest = parse_manifest(f.read(info.size), where)
        except BundleError as e:
            self._refuse(ErrorCode.BUNDLE, str(e))
        if self.trust is not None:
            try:
                verify_signature(manifest, self.trust, where)
            except BundleError as e:
                self._refuse(ErrorCode.SIGNATURE, str(e))
        try:
            dims = bundle_dimensions(manifest, where)
            check_limits(dims, self.limits, where)
        except BundleError as e:
            self._refuse(ErrorCode.BUNDLE, str(e))
        except SlotError as e:
            self._refuse(e.code, str(e))
        try:
            self._check_version(manifest, where)
        except SlotError as e:
            self._refuse(e.code, str(e))

    def _check_version(self, manifest: dict[str, Any], where: str) -> None:
        """ROLLBACK unless ``manifest`` is at least as new as the active bundle."""
        if self.active is None or self.allow_downgrade:
            return
        new, old = bundle_version(manifest), bundle_version(self.active.manifest)
        if new < old:
            raise SlotError(ErrorCode.ROLLBACK, f"{where}: bundle_version {new} is older than "
                            f"the active bundle's {old}; flash a newer bundle, or start the node "
                            "with --allow-downgrade")

    def _refuse(self, code: ErrorCode, message: str) -> NoReturn:
        self._clear_staging()
        raise SlotError(code, message)

    def abort(self) -> None:
        self._clear_staging()

    def commit(self, sha256: bytes, check: LoadCheck | None = None) -> ActiveBundle:
        """Verify the complete transfer, unpack it into the inactive slot, switch atomically.

        A repeated commit of the bundle just committed returns the active bundle again.
        """
        t = self._transfer
        if t is None:
            if self.active is not None and self._pointer_field("transfer_sha256") == sha256.hex():
                return self.active
            raise SlotError(ErrorCode.FLASH_STATE, "FLASH_COMMIT without a transfer")
        if sha256.hex() != t.sha256:
            raise SlotError(ErrorCode.FLASH_HASH, "FLASH_COMMIT hash differs from FLASH_BEGIN's")
        if self.active is not None and self._pointer_field("transfer_sha256") == t.sha256:
            self._clear_staging()  # switched before a crash; only the clean-up was missing
            return self.active
        if t.acked != t.total:
            raise SlotError(ErrorCode.FLASH_STATE,
                            f"only {t.acked} of {t.total} bytes received; send the rest first")
        self._close_data()
        data_path = self.root / STAGING / DATA
        h = hashlib.sha256()
        with open(data_path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        if h.hexdigest() != t.sha256:
            self._clear_staging()
            raise SlotError(ErrorCode.FLASH_HASH, "SHA-256 of the received transfer differs "
                            "from FLASH_BEGIN's; the transfer was discarded, flash again")
        slot = self.inactive_slot
        path = self.slot_path(slot)
        try:
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()
            fsync_dir(self.root)
            unpack_bundle(data_path, path, self.limits.max_files,
                          self.limits.max_bundle_bytes, self._crash)
            self._crash("unpacked")
            bundle = self._verify(path, slot, check)
            self._check_version(bundle.manifest, str(path / MANIFEST))
        except SlotError:
            self._clear_staging()
            self._empty_slot(path)
            raise
        except OSError as e:
            self._empty_slot(path)
            raise SlotError(ErrorCode.STORAGE, f"cannot write {path} ({e})") from None
        except Exception as e:  # noqa: BLE001 - untrusted input: any failure refuses it
            self._clear_staging()
            self._empty_slot(path)
            raise SlotError(ErrorCode.BUNDLE, f"bundle refused ({type(e).__name__}: "
                            f"{e}); export the bundle again") from None
        self._crash("verified")
        self._write_pointer(bundle, transfer_sha256=t.sha256)
        self._crash("switched")
        self.active = bundle
        self.problem = ""
        self._clear_staging()
        return bundle

    def _empty_slot(self, path: Path) -> None:
        """Remove a refused bundle's files: nothing unverified stays on the node."""
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            log.warning("cannot remove the refused bundle in %s", path)

    def install(self, bundle_dir: str | Path, check: LoadCheck | None = None) -> ActiveBundle:
        """Install a local bundle folder through the same path as a flash (pack, stage, commit)."""
        data = pack_bundle(bundle_dir)
        sha = hashlib.sha256(data).digest()
        self.begin(len(data), sha)
        self.write_chunk(0, data)
        return self.commit(sha, check)

    def _pointer_field(self, key: str) -> Any:
        try:
            return json.loads((self.root / ACTIVE).read_text()).get(key)
        except (OSError, ValueError, AttributeError):
            return None

    def _write_pointer(self, bundle: ActiveBundle, transfer_sha256: str = "") -> None:
        body = json.dumps({"slot": bundle.slot, "bundle_id": bundle.bundle_id,
                           "manifest_sha256": bundle.manifest_sha256.hex(),
                           "transfer_sha256": transfer_sha256,
                           "switched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        path = self.root / ACTIVE
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(body.encode())
            f.flush()
            os.fsync(f.fileno())
        self._crash("pointer")
        os.replace(tmp, path)
        fsync_dir(self.root)

    def _crash(self, point: str) -> None:
        """Test hook: ``crash_at`` = ``POINT`` or ``POINT:N`` (the N-th time POINT is reached)."""
        if not self.crash_at:
            return
        name, _, nth = self.crash_at.partition(":")
        if name != point:
            return
        self._crash_seen[point] = self._crash_seen.get(point, 0) + 1
        if self._crash_seen[point] == int(nth or 1):
            log.warning("crash hook: SIGKILL at %r", self.crash_at)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
