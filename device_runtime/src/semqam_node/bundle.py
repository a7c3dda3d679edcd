"""Bundle manifests: canonical form, Ed25519 signatures and verification (docs/bundle.md).

One implementation for both sides: the exporter signs with :func:`sign_manifest`, the node and
the host check with :func:`verify_bundle`. A node that holds a trusted public key refuses unsigned
bundles and bundles whose signature or file hashes do not verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import BundleError

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "MAX_JSON_DEPTH", "MAX_MANIFEST_BYTES",
           "VERSION_KEY", "BundleError", "Dimensions", "bundle_dimensions", "bundle_id",
           "bundle_version", "canonical_bytes", "generate_keypair", "key_id", "load_private_key",
           "load_public_key", "parse_json", "parse_manifest", "read_manifest", "sha256_file",
           "sign_manifest", "verify_bundle", "verify_signature"]

FORMAT = "semqam-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: A manifest is a few KiB; anything above this is refused before it is parsed (untrusted input:
#: ``json.loads`` needs about 25 times the text in memory).
MAX_MANIFEST_BYTES = 1 << 20
#: Deepest nesting of arrays and objects accepted in untrusted JSON (a manifest needs 4).
MAX_JSON_DEPTH = 32
#: The manifest's anti-rollback counter (an int >= 0, covered by the signature).
VERSION_KEY = "bundle_version"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The signed form: the manifest without ``signature``, sorted keys, no whitespace."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def bundle_id(files: dict[str, dict[str, Any]]) -> str:
    """First 16 hex of SHA-256 over the sorted ``NAME SHA256`` lines of ``files``."""
    lines = "".join(f"{name} {files[name]['sha256']}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise BundleError(
            f"{path}: not an unencrypted PEM private key ({e}); make one with `semqam keygen`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(
            f"{path}: a {type(key).__name__}, not an Ed25519 private key; "
            "make one with `semqam keygen`"
        )
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        hint = " (this looks like a private key: pass the .pub file)" if b"PRIVATE" in data else ""
        raise BundleError(f"{path}: not a PEM public key{hint} ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(
            f"{path}: a {type(key).__name__}, not an Ed25519 public key; "
            "use the .pub file written by `semqam keygen`"
        )
    return key


def _read_key_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: cannot read key file ({e.strerror})") from None


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return ``manifest`` with an Ed25519 ``signature`` over its canonical form."""
    signed = {k: v for k, v in manifest.items() if k != "signature"}
    signed["signature"] = {
        "algorithm": "ed25519",
        "key_id": key_id(key.public_key()),
        "value": base64.b64encode(key.sign(canonical_bytes(signed))).decode(),
    }
    return signed


def parse_json(data: bytes, where: str, max_bytes: int = MAX_MANIFEST_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Untrusted JSON with bounds: at most ``max_bytes`` and ``max_depth`` levels of nesting,
    both checked before :func:`json.loads` runs (its memory is ~25x the text, its recursion
    unbounded). Raises :class:`BundleError`."""
    if len(data) > max_bytes:
        raise BundleError(f"{where}: {len(data)} bytes, more than the {max_bytes} accepted; "
                          "not a bundle manifest, export the bundle again")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{where}: not UTF-8 ({e}); export the bundle again") from None
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise BundleError(f"{where}: JSON nested deeper than {max_depth} levels; not a "
                              "bundle manifest, export the bundle again")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{where}: unreadable ({e}); export the bundle again") from None


def parse_manifest(data: bytes, where: str = MANIFEST) -> dict[str, Any]:
    """A manifest from untrusted bytes, bounded (:func:`parse_json`) and type-checked: the
    format, the file table (``NAME -> {size: int, sha256: hex}``), ``node_files`` (names in the
    table), the dimensions' types, :data:`VERSION_KEY` and the signature's fields. Raises
    :class:`BundleError`; every later use of a field can rely on its type."""
    manifest = parse_json(data, where)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{where}: not a {FORMAT} manifest; export the bundle again")
    _check_manifest(manifest, where)
    return manifest


def _check_manifest(manifest: dict[str, Any], where: str) -> None:
    if manifest.get("format_version") != FORMAT_VERSION or \
            isinstance(manifest.get("format_version"), bool):
        raise BundleError(
            f"{where}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this runtime reads {FORMAT_VERSION}); export with a matching semqam"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"{where}: has no 'files' table; export the bundle again")
    for name, entry in files.items():
        if not (isinstance(entry, dict) and _is_int(entry.get("size")) and entry["size"] >= 0
                and isinstance(entry.get("sha256"), str) and _SHA256.match(entry["sha256"])):
            raise BundleError(f"{where}: file table entry {name!r} is not "
                              "{size: int, sha256: 64 hex digits}; export the bundle again")
    node_files = manifest.get("node_files", [])
    if not (isinstance(node_files, list) and all(isinstance(n, str) for n in node_files)):
        raise BundleError(f"{where}: node_files is not a list of names; export the bundle again")
    if not isinstance(manifest.get("bundle_id"), str):
        raise BundleError(f"{where}: bundle_id is not a string; export the bundle again")
    if VERSION_KEY in manifest:
        v = manifest[VERSION_KEY]
        if not _is_int(v) or not 0 <= v < 1 << 63:
            raise BundleError(f"{where}: {VERSION_KEY} {v!r} is not an integer in [0, 2^63); "
                              "export the bundle again")
    sig = manifest.get("signature")
    if sig is not None and not (isinstance(sig, dict) and all(
            isinstance(sig.get(k), str) for k in ("algorithm", "key_id", "value"))):
        raise BundleError(f"{where}: signature is not {{algorithm, key_id, value}} strings; "
                          "sign the bundle again (semqam export --key)")


def _is_int(v: Any) -> bool:
    """An int that is not a bool (JSON ``true`` is an int to Python)."""
    return isinstance(v, int) and not isinstance(v, bool)


def bundle_version(manifest: dict[str, Any]) -> int:
    """The manifest's anti-rollback counter; 0 for bundles written before it existed."""
    v = manifest.get(VERSION_KEY, 0)
    return v if _is_int(v) else 0


def read_manifest(bundle: str | Path) -> dict[str, Any]:
    path = Path(bundle) / MANIFEST
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise BundleError(
            f"{path}: missing; is {bundle} a bundle written by `semqam export`?"
        ) from None
    except OSError as e:
        raise BundleError(f"{path}: unreadable ({e}); export the bundle again") from None
    manifest = parse_json(data, str(path))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a {FORMAT} manifest; export the bundle again")
    _check_manifest(manifest, str(path))
    return manifest


def verify_signature(manifest: dict[str, Any], public_key: Ed25519PublicKey,
                     where: str = MANIFEST) -> None:
    sig = manifest.get("signature")
    if not sig:
        raise BundleError(
            f"{where}: unsigned, and this node trusts key {key_id(public_key)}; "
            "export with --key KEYFILE"
        )
    if not isinstance(sig, dict) or not all(isinstance(sig.get(k), str)
                                            for k in ("algorithm", "value")):
        raise BundleError(f"{where}: signature is not {{algorithm, key_id, value}} strings; "
                          "sign the bundle again (semqam export --key)")
    if sig.get("algorithm") != "ed25519":
        raise BundleError(f"{where}: signature algorithm {sig.get('algorithm')!r} is not ed25519")
    try:
        raw = base64.b64decode(sig.get("value", ""), validate=True)
        public_key.verify(raw, canonical_bytes(manifest))
    except (InvalidSignature, ValueError, TypeError):
        raise BundleError(
            f"{where}: signature does not verify with trusted key {key_id(public_key)} "
            f"(signed by {sig.get('key_id')}); re-export with the matching key or trust its .pub"
        ) from None


def verify_bundle(bundle: str | Path, public_key: Ed25519PublicKey | None = None,
                  require: str = "node") -> dict[str, Any]:
    """Check a bundle folder; return its manifest.

    ``require="node"`` checks the files in ``node_files`` (what a node holds); ``"all"`` every file.
    With ``public_key`` a valid signature is required. Raises :class:`BundleError`.
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    if public_key is not None:
        verify_signature(manifest, public_key, str(bundle / MANIFEST))
    files = manifest["files"]
    if bundle_id(files) != manifest.get("bundle_id"):
        raise BundleError(
            f"{bundle / MANIFEST}: bundle_id does not match its file table; tampered?"
        )
    if require == "node":
        names = manifest.get("node_files") or []
    elif require == "all":
        names = sorted(files)
    else:
        raise ValueError(f"require must be 'node' or 'all', got {require!r}")
    for name in names:
        entry = files.get(name)
        if entry is None:
            raise BundleError(f"{bundle / MANIFEST}: node file {name} is not in the file table")
        path = bundle / name
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle; copy or flash the whole bundle")
        size = path.stat().st_size
        if size != entry["size"]:
            raise BundleError(f"{path}: {size} bytes, manifest says {entry['size']}; tampered or "
                              "truncated, export or flash it again")
        if sha256_file(path) != entry["sha256"]:
            raise BundleError(f"{path}: SHA-256 differs from the manifest; tampered or corrupt, "
                              "export or flash it again")
    return manifest


@dataclass(frozen=True)
class Dimensions:
    """What a bundle needs of a node: M, N, D and the input size in bytes."""

    order: int
    n_concepts: int
    latent_dim: int
    input_size: int


def bundle_dimensions(manifest: dict[str, Any], where: str = MANIFEST) -> Dimensions:
    """M, N, D and input size from a manifest; :class:`BundleError` if absent or not ints."""
    try:
        shape = manifest["input"]["shape"]
        vals = [manifest["order"], manifest["n_concepts"], manifest["latent_dim"]]
        if not isinstance(shape, list) or not shape or \
                not all(_is_int(v) and v > 0 for v in [*vals, *shape]):
            raise TypeError("not positive integers")
        size = math.prod(shape)
        if size >= 1 << 31:
            raise TypeError(f"input of {size} values")
        return Dimensions(*vals, size)
    except (KeyError, TypeError) as e:
        raise BundleError(f"{where}: order / n_concepts / latent_dim / input.shape missing or "
                          f"invalid ({e}); export the bundle again") from None
