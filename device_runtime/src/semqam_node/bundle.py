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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import BundleError

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "BundleError", "Dimensions", "bundle_dimensions",
           "bundle_id", "canonical_bytes", "generate_keypair", "key_id", "load_private_key",
           "load_public_key", "read_manifest", "sha256_file", "sign_manifest", "verify_bundle",
           "verify_signature"]

FORMAT = "semqam-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


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


def read_manifest(bundle: str | Path) -> dict[str, Any]:
    path = Path(bundle) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(
            f"{path}: missing; is {bundle} a bundle written by `semqam export`?"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: unreadable ({e}); export the bundle again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a {FORMAT} manifest; export the bundle again")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: format_version {manifest.get('format_version')} is not supported "
            f"(this runtime reads {FORMAT_VERSION}); export with a matching semqam"
        )
    if not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{path}: has no 'files' table; export the bundle again")
    return manifest


def verify_signature(manifest: dict[str, Any], public_key: Ed25519PublicKey,
                     where: str = MANIFEST) -> None:
    sig = manifest.get("signature")
    if not sig:
        raise BundleError(
            f"{where}: unsigned, and this node trusts key {key_id(public_key)}; "
            "export with --key KEYFILE"
        )
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
        if not all(isinstance(v, int) and v > 0 for v in [*vals, *shape]):
            raise TypeError("not positive integers")
        return Dimensions(*vals, math.prod(shape))
    except (KeyError, TypeError) as e:
        raise BundleError(f"{where}: order / n_concepts / latent_dim / input.shape missing or "
                          f"invalid ({e}); export the bundle again") from None
