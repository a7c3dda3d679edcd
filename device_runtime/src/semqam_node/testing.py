"""Test helpers shared by the node suite (device_runtime/tests) and the host suite, needing no
TensorFlow: key pairs, a small random but valid node bundle, variants of a bundle with a changed
(re-signed or unsigned) manifest, virtual nodes and clients, and the SYMBOLS check.

:func:`synthetic_bundle` writes what a node needs for the ``"c"`` backend (``manifest.json``
and ``node_model.npz``: an int8 784-32 trunk, a z head to N·D, an SCI head to N with a
logistic LUT, an int8 codebook, both constellation tables and an SNR policy). It has no
``.tflite``, so the ``"litert"`` backend is tested on exported bundles (host suite).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import FORMAT, FORMAT_VERSION, MANIFEST, bundle_id, load_private_key, sign_manifest
from .conventions import CONSTELLATIONS, INPUT_SCALE, INPUT_ZERO_POINT

NODE_MODEL = "node_model.npz"


def write_keypair(folder: str | Path, name: str = "lab") -> tuple[Path, Path]:
    """A fresh Ed25519 key pair written as ``folder/name.key`` and ``folder/name.pub``."""
    from .bundle import generate_keypair

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = generate_keypair()
    (folder / f"{name}.key").write_bytes(private)
    (folder / f"{name}.pub").write_bytes(public)
    return folder / f"{name}.key", folder / f"{name}.pub"


class NodeFactory:
    """Makes :class:`~semqam_node.virtual.VirtualNode` s under ``root`` (trusting ``trust``
    unless asked not to) and closes every one of them in :meth:`close`."""

    def __init__(self, root: str | Path, trust: Path | None) -> None:
        self.root, self.trust = Path(root), trust
        self.made: list[Any] = []

    def __call__(self, state: str = "state", trust: bool = True, start: bool = True,
                 **kw: Any) -> Any:
        from .virtual import VirtualNode

        v = VirtualNode(self.root / state, trust=self.trust if trust else None,
                        log_path=self.root / f"{state}.log", **kw)
        self.made.append(v)
        if start:
            v.start()
        return v

    def close(self) -> None:
        for v in self.made:
            v.close()


def client_for(v: Any, **kw: Any) -> Any:
    """A :class:`~semqam_node.host.NodeClient` on a virtual node with test-friendly timeouts."""
    from .host import NodeClient

    kw.setdefault("link_note", v.paced)
    kw.setdefault("timeout", 0.5)
    kw.setdefault("retries", 2)
    kw.setdefault("reconnect_timeout", 10.0)
    return NodeClient(v.port, baud=v.baud, **kw)


def random_samples(n: int, seed: int = 0, size: int = 784) -> list[bytes]:
    """``n`` random raw samples of ``size`` bytes."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(n)]


def check_symbols(ref: Any, sample: bytes, sym: Any) -> None:
    """SYMBOLS equal the reference encoder's first K positions and I/Q (top-K is a prefix)."""
    full = ref.encode(sample, k=ref.n_concepts)
    k = sym.k
    assert list(sym.positions) == [int(p) for p in np.asarray(full.positions)[:k]]
    assert list(sym.iq) == [int(v) for v in np.asarray(full.iq)[:k].reshape(-1)]


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``scale = m · 2^(s - 31)`` with a Q31 ``m``."""
    if scale == 0.0:
        return 0, 0
    frac, shift = math.frexp(scale)
    m = round(frac * (1 << 31))
    if m == 1 << 31:
        m //= 2
        shift += 1
    return m, shift


def _layer(rng: np.random.Generator, arrays: dict[str, np.ndarray], name: str, in_dim: int,
           out_dim: int, in_offset: int, x_std: float, y_std: float = 40.0) -> None:
    """One int8 fully connected layer whose outputs spread over about ``y_std`` LSB."""
    w = rng.integers(-127, 128, (out_dim, in_dim), dtype=np.int8)
    scale = np.full(out_dim, y_std / (math.sqrt(in_dim) * 73.0 * x_std), np.float64)
    scale *= rng.uniform(0.8, 1.25, out_dim)
    mult, shift = zip(*(quantize_multiplier(float(s)) for s in scale), strict=True)
    arrays[f"{name}.weights"] = w
    arrays[f"{name}.bias"] = rng.integers(-2000, 2000, out_dim, dtype=np.int32)
    arrays[f"{name}.scale"] = scale
    arrays[f"{name}.multiplier"] = np.asarray(mult, np.int32)
    arrays[f"{name}.shift"] = np.asarray(shift, np.int32)
    arrays[f"{name}.params"] = np.asarray([in_offset, 0, -128, 127], np.int32)


def _logistic_lut(logit_scale: float) -> np.ndarray:
    """int8 LUT of the logistic: input zero point 0, output scale 1/256, zero point -128."""
    x = (np.arange(256) - 128) * logit_scale
    y = np.round(256.0 / (1.0 + np.exp(-x))) - 128
    return np.clip(y, -128, 127).astype(np.int8)


def synthetic_node_model(n_concepts: int = 64, latent_dim: int = 4, order: int = 16,
                         input_size: int = 784, hidden: int = 32, seed: int = 0
                         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and ``meta`` of a random ``node_model.npz`` (docs/bundle.md)."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    _layer(rng, arrays, "fc0", input_size, hidden, -INPUT_ZERO_POINT, x_std=147.0)
    _layer(rng, arrays, "fc1", hidden, n_concepts * latent_dim, 0, x_std=40.0)
    _layer(rng, arrays, "fc2", hidden, n_concepts, 0, x_std=40.0)
    arrays["logistic_lut"] = _logistic_lut(1 / 16)
    arrays["codebook_int8"] = rng.integers(-60, 61, (order, latent_dim), dtype=np.int8)
    frac_bits = {"semantic": 12, "standard": 14}
    for name in CONSTELLATIONS:
        pts = rng.uniform(-1.4, 1.4, (order, 2))
        arrays[f"const_{name}_q"] = np.round(pts * (1 << frac_bits[name])).astype(np.int16)
    snr_min, step = -1000, 50
    grid = np.arange(61)  # -10 dB .. +20 dB
    arrays["policy_k"] = np.clip(1 + grid * n_concepts // len(grid), 1, n_concepts).astype(
        np.uint16)
    meta: dict[str, Any] = {
        "format_version": 1, "n_concepts": n_concepts, "latent_dim": latent_dim,
        "input_size": input_size, "input_shape": [input_size], "input_scale": INPUT_SCALE,
        "input_zero_point": INPUT_ZERO_POINT, "trunk": ["fc0"], "z_head": ["fc1"],
        "sci_head": ["fc2"], "sci_logistic": True, "rank_by": "sci_logit",
        "policy_snr_min_cdb": snr_min, "policy_step_cdb": step,
        **{f"const_{name}_frac_bits": bits for name, bits in frac_bits.items()},
    }
    return arrays, meta


def write_manifest(folder: Path, manifest: dict[str, Any], key: Path | None = None) -> None:
    """Hash ``manifest["node_files"]`` in ``folder`` into its file table and bundle id, sign it
    with the private key file ``key`` (unsigned when None), and write ``manifest.json``."""
    files = {}
    for name in manifest["node_files"]:
        data = (folder / name).read_bytes()
        files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    m = {k: v for k, v in manifest.items() if k != "signature"}
    m["files"] = files
    m["bundle_id"] = bundle_id(files)
    if key is not None:
        m = sign_manifest(m, load_private_key(key))
    (folder / MANIFEST).write_text(json.dumps(m, indent=1, sort_keys=True))


def synthetic_bundle(out: str | Path, key: Path | None = None, *, n_concepts: int = 64,
                     latent_dim: int = 4, order: int = 16, input_size: int = 784,
                     hidden: int = 32, seed: int = 0) -> Path:
    """A node bundle in the new folder ``out`` (signed with ``key`` when given)."""
    out = Path(out)
    out.mkdir(parents=True)
    arrays, meta = synthetic_node_model(n_concepts, latent_dim, order, input_size, hidden,
                                        seed=seed)
    with open(out / NODE_MODEL, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created": "synthetic",
        "dataset": "synthetic", "order": order, "n_concepts": n_concepts,
        "latent_dim": latent_dim, "input": {"shape": [input_size], "dtype": "uint8"},
        "node_files": [NODE_MODEL],
    }
    write_manifest(out, manifest, key)
    return out


def derive_bundle(base: Path, out: Path, key: Path | None, tag: str = "",
                  **changes: Any) -> Path:
    """A copy of ``base`` (manifest + node files) with manifest ``changes``, re-signed with
    ``key`` (unsigned when None). ``tag`` makes the manifest, and so its hash, distinct."""
    out.mkdir(parents=True)
    manifest = json.loads((base / MANIFEST).read_text())
    for name in manifest["node_files"]:
        shutil.copyfile(base / name, out / name)
    manifest.update(changes)
    manifest["created"] = f"{manifest.get('created', '')}+{tag}"
    write_manifest(out, manifest, key)
    return out
