"""``node_model.npz`` read as untrusted input: bounded loading and a complete consistency check
(docs/bundle.md, "node_model.npz"; docs/protocol.md, "Threat model").

:func:`load_node_model` checks the zip directory first: the uncompressed sizes it declares for
all members (which bound what :mod:`zipfile` will ever inflate) must stay under a cap; then it
reads only the members the node uses, one by one, each array's header describing no more bytes
than its member holds, so a few kilobytes on disk can never become gigabytes in memory.

:func:`check_node_model` checks every ``meta`` field's type and range and every table's dtype
and shape against the manifest's M, N, D, the input size and the compiled limits, and the layer
chains against each other. A bundle that passes cannot fail later as INTERNAL or NO_ENCODER for
a reason written in its files. Both raise :class:`BundleError` naming the entry and the fix.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import MAX_MANIFEST_BYTES, BundleError, parse_json
from .conventions import CONSTELLATIONS

__all__ = ["MAX_MODEL_BYTES", "ModelLimits", "check_node_model", "codebook_key",
           "load_node_model", "table_keys"]

NODE_MODEL = "node_model.npz"
#: Uncompressed bytes of the used members a node accepts (the zip directory's sizes).
MAX_MODEL_BYTES = 64 << 20
LAYER_KEYS = ("weights", "bias", "scale", "multiplier", "shift", "params")
TABLE_KEYS = ("logistic_lut", "input_lut", "codebook_int8", "codebook_int16", "codebook",
              "policy_k", *(f"const_{c}_q" for c in CONSTELLATIONS))
#: ``meta.activations``: int8 (absent) or 16x8 (int16 activations, int8 weights; docs/bundle.md)
ACTIVATIONS = ("int8", "int16")
CHAINS = ("trunk", "z_head", "sci_head")
RANK_BY = ("sci", "sci_logit")
FRAC_BITS_MAX = 15  # Q-format of an int16 table: at most 15 fractional bits
INT16 = (-(1 << 15), (1 << 15) - 1)


@dataclass(frozen=True)
class ModelLimits:
    """The compiled limits a node model must fit (``SQ_MAX_*`` of the C core)."""

    max_order: int = 1024
    max_concepts: int = 256
    max_latent: int = 256
    max_layer_width: int = 4096
    max_chain_layers: int = 8
    max_policy_len: int = 4096
    max_model_bytes: int = MAX_MODEL_BYTES


def _fail(where: Any, what: str) -> BundleError:
    return BundleError(f"{where}: {what}; export the bundle again")


def codebook_key(meta: Mapping[str, Any]) -> str:
    """The node's integer codebook member: ``codebook_int16`` for a 16x8 model, else
    ``codebook_int8``."""
    return "codebook_int16" if meta.get("activations") == "int16" else "codebook_int8"


def table_keys(meta: Mapping[str, Any]) -> list[str]:
    """The npz members the node reads for ``meta``: ``meta``, the tables, every layer's arrays."""
    names = ["meta", *TABLE_KEYS]
    for chain in CHAINS:
        layers = meta.get(chain)
        if isinstance(layers, list):
            names += [f"{layer}.{k}" for layer in layers if isinstance(layer, str)
                      for k in LAYER_KEYS]
    return names


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: Path) -> np.ndarray:
    """One ``.npy`` member, its header checked against the member's size before allocating."""
    fmt = np.lib.format
    with zf.open(info) as f:
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy format version {version}")
        except ValueError as e:
            raise _fail(where, f"member {info.filename} is not an .npy array ({e})") from None
        if dtype.hasobject:
            raise _fail(where, f"member {info.filename} holds Python objects")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > info.file_size:
            raise _fail(where, f"member {info.filename} declares {nbytes} bytes of data in "
                        f"{info.file_size}")
        buf = bytearray(nbytes)
        got = f.readinto(buf) if nbytes else 0
        if got != nbytes:
            raise _fail(where, f"member {info.filename} is truncated")
    return np.frombuffer(buf, dtype, count).reshape(shape, order="F" if fortran else "C")


def load_node_model(path: str | Path, max_bytes: int = MAX_MODEL_BYTES,
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a ``node_model.npz``, reading only the members the node uses.

    The zip directory is checked first: its members may declare at most ``max_bytes``
    uncompressed bytes in all; members the node does not use are never inflated. ``meta`` is
    parsed with the manifest's bounds (:func:`semqam_node.bundle.parse_json`).
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise _fail(path, f"unreadable ({e})") from None
    with zf:
        try:
            members = {info.filename: info for info in zf.infolist()}
            if "meta.npy" not in members:
                raise _fail(path, "no 'meta' entry")
            meta_info = members["meta.npy"]
            if meta_info.file_size > 4 * MAX_MANIFEST_BYTES + 256:  # U strings: 4 bytes/char
                raise _fail(path, f"'meta' entry of {meta_info.file_size} bytes")
            raw = _read_member(zf, meta_info, path)
            if raw.shape != () or raw.dtype.kind not in "US":
                raise _fail(path, "'meta' is not one JSON string")
            text = str(raw[()])
            meta = parse_json(text.encode("utf-8", "surrogatepass"), f"{path} meta")
            if not isinstance(meta, dict):
                raise _fail(path, "'meta' is not a JSON object")
            total = sum(info.file_size for info in members.values())
            if total > max_bytes:
                raise _fail(path, f"its members declare {total} uncompressed bytes, more than "
                            f"the {max_bytes} this node accepts")
            wanted = [members[f"{k}.npy"] for k in table_keys(meta)[1:]
                      if f"{k}.npy" in members]
            arrays = {info.filename[:-4]: _read_member(zf, info, path) for info in wanted}
        # NotImplementedError: zipfile's answer to a compression method it does not know
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            raise _fail(path, f"unreadable ({type(e).__name__}: {e})") from None
    return arrays, meta


# ------------------------------------------------------------------------------------------
# The consistency check


def _int(meta: Mapping[str, Any], key: str, lo: int, hi: int, where: Any,
         required: bool = True) -> int | None:
    if key not in meta:
        if required:
            raise _fail(where, f"meta lacks {key}")
        return None
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _fail(where, f"meta.{key} = {v!r}; must be an integer in [{lo}, {hi}]")
    return v


def _float(meta: Mapping[str, Any], key: str, where: Any, positive: bool = True) -> None:
    if key not in meta:
        return
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            (positive and v <= 0):
        raise _fail(where, f"meta.{key} = {v!r}; must be a finite "
                    f"{'positive ' if positive else ''}number")


def _array(arrays: Mapping[str, np.ndarray], key: str, dtype: Any, shape: Iterable[int | None],
           where: Any, required: bool = True) -> np.ndarray | None:
    a = arrays.get(key)
    if a is None:
        if required:
            raise _fail(where, f"no '{key}' array")
        return None
    shape = tuple(shape)
    if a.dtype != np.dtype(dtype) or a.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(a.shape, shape, strict=True)):
        want = ", ".join("?" if s is None else str(s) for s in shape)
        raise _fail(where, f"'{key}' is {a.dtype} {list(a.shape)}; must be "
                    f"{np.dtype(dtype).name} [{want}]")
    return a


def _in_range(a: np.ndarray, lo: float, hi: float, key: str, where: Any) -> None:
    if a.size and not (np.all(a >= lo) and np.all(a <= hi)):
        raise _fail(where, f"'{key}' holds values outside [{lo}, {hi}]")


def _layer(arrays: Mapping[str, np.ndarray], name: str, in_dim: int, lim: ModelLimits,
           where: Any, wide: bool = False) -> int:
    """Check one layer taking ``in_dim`` inputs (``wide``: 16x8); return its output width."""
    w = _array(arrays, f"{name}.weights", np.int8, (None, in_dim), where)
    out = w.shape[0]
    if not 1 <= out <= lim.max_layer_width:
        raise _fail(where, f"layer {name} has {out} outputs; must be 1..{lim.max_layer_width}")
    b = _array(arrays, f"{name}.bias", np.int64 if wide else np.int32, (out,), where,
               required=False)
    if wide and b is not None:
        _in_range(b, -(1 << 46) + 1, (1 << 46) - 1, f"{name}.bias", where)
    sc = _array(arrays, f"{name}.scale", np.float64, (out,), where, required=False)
    if sc is not None:
        _in_range(sc, 0.0, 1e30, f"{name}.scale", where)  # NaN fails both comparisons
    m = _array(arrays, f"{name}.multiplier", np.int32, (out,), where)
    _in_range(m, 0, (1 << 31) - 1, f"{name}.multiplier", where)
    s = _array(arrays, f"{name}.shift", np.int32, (out,), where)
    _in_range(s, -31, 7 if wide else 30, f"{name}.shift", where)
    p = [int(v) for v in _array(arrays, f"{name}.params", np.int32, (4,), where)]
    if wide:
        if not (p[0] == 0 and p[1] == 0 and INT16[0] <= p[2] <= p[3] <= INT16[1]):
            raise _fail(where, f"'{name}.params' {p}: 16x8 zero points must be 0 and "
                        "-32768 <= act_min <= act_max <= 32767")
        return out
    if not (-127 <= p[0] <= 128 and -128 <= p[1] <= 127 and -128 <= p[2] <= p[3] <= 127):
        raise _fail(where, f"'{name}.params' {p}: input_offset must lie in [-127, 128], "
                    "output_offset in [-128, 127], -128 <= act_min <= act_max <= 127")
    return out


def _chain(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], chain: str, in_dim: int,
           lim: ModelLimits, where: Any, required: bool, wide: bool = False) -> int:
    names = meta.get(chain)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(where, f"meta.{chain} must be a list of layer names")
    if len(set(names)) != len(names) or len(names) > lim.max_chain_layers or \
            (required and not names):
        raise _fail(where, f"meta.{chain} has {len(names)} layers; must be distinct names, "
                    f"{'1' if required else '0'}..{lim.max_chain_layers}")
    width = in_dim
    for name in names:
        width = _layer(arrays, name, width, lim, where, wide)
    return width


def check_node_model(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                     manifest: Mapping[str, Any] | None, lim: ModelLimits,
                     where: Any = NODE_MODEL) -> None:
    """Raise :class:`BundleError` unless ``meta`` and ``arrays`` are complete and consistent
    with each other, with ``manifest`` (M, N, D, input size) and with ``lim``."""
    if meta.get("format_version", 1) != 1 or isinstance(meta.get("format_version"), bool):
        raise _fail(where, f"meta.format_version {meta.get('format_version')!r} is not 1")
    n = _int(meta, "n_concepts", 1, lim.max_concepts, where)
    d = _int(meta, "latent_dim", 1, lim.max_latent, where)
    size = _int(meta, "input_size", 1, lim.max_layer_width, where)
    assert n is not None and d is not None and size is not None
    if n * d > lim.max_layer_width:
        raise _fail(where, f"N*D = {n * d} exceeds the runtime's layer width "
                    f"{lim.max_layer_width}")
    shape = meta.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and shape and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
            and math.prod(shape) == size):
        raise _fail(where, f"meta.input_shape {shape!r} is not a shape of {size} values")
    for key in ("input_scale", "z_scale", "sci_logit_scale", "sci_scale"):
        _float(meta, key, where)
    for key in ("input_zero_point", "z_zero_point", "sci_logit_zero_point", "sci_zero_point"):
        _int(meta, key, -128, 127, where, required=False)
    for c in CONSTELLATIONS:
        _int(meta, f"const_{c}_frac_bits", 0, FRAC_BITS_MAX, where)
    lo = _int(meta, "policy_snr_min_cdb", *INT16, where)
    step = _int(meta, "policy_step_cdb", 1, INT16[1], where)
    if meta.get("rank_by", "sci") not in RANK_BY:
        raise _fail(where, f"meta.rank_by {meta.get('rank_by')!r}; must be one of {RANK_BY}")
    if not isinstance(meta.get("sci_logistic", False), bool):
        raise _fail(where, f"meta.sci_logistic {meta.get('sci_logistic')!r} is not a boolean")
    names = meta.get("output_names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise _fail(where, "meta.output_names must map output names to strings")
    if "order" in meta:
        _int(meta, "order", 1, lim.max_order, where)
    act = meta.get("activations", "int8")
    if act not in ACTIVATIONS:
        raise _fail(where, f"meta.activations {act!r}; must be one of {ACTIVATIONS}")
    wide = act == "int16"
    if wide and (meta.get("sci_logistic") or meta.get("rank_by") != "sci_logit"):
        raise _fail(where, "a 16x8 model ranks on the SCI logit: meta.rank_by must be "
                    "'sci_logit' and meta.sci_logistic false")

    hidden = _chain(arrays, meta, "trunk", size, lim, where, required=False, wide=wide)
    if _chain(arrays, meta, "z_head", hidden, lim, where, required=True, wide=wide) != n * d:
        raise _fail(where, f"the z head does not end in N*D = {n * d} outputs")
    if _chain(arrays, meta, "sci_head", hidden, lim, where, required=True, wide=wide) != n:
        raise _fail(where, f"the SCI head does not end in N = {n} outputs")
    _array(arrays, "logistic_lut", np.int8, (256,), where, required=bool(meta.get("sci_logistic")))
    _array(arrays, "input_lut", np.int16, (256,), where, required=wide)

    cb_key = codebook_key(meta)
    cb = _array(arrays, cb_key, np.int16 if wide else np.int8, (None, d), where)
    m = cb.shape[0]
    if not 1 <= m <= lim.max_order:
        raise _fail(where, f"{cb_key} has {m} rows; M must be 1..{lim.max_order}")
    if meta.get("order", m) != m:
        raise _fail(where, f"meta.order {meta['order']} but {cb_key} has {m} rows")
    _array(arrays, "codebook", np.float32, (m, d), where, required=False)
    for c in CONSTELLATIONS:
        _array(arrays, f"const_{c}_q", np.int16, (m, 2), where)
    policy = _array(arrays, "policy_k", np.uint16, (None,), where)
    if not 1 <= policy.shape[0] <= lim.max_policy_len:
        raise _fail(where, f"policy_k has {policy.shape[0]} entries; must be "
                    f"1..{lim.max_policy_len}")
    _in_range(policy, 1, n, "policy_k", where)
    assert lo is not None and step is not None
    if lo + step * (policy.shape[0] - 1) > (1 << 31) - 1:
        raise _fail(where, "the policy grid overflows int32 centi-dB")

    if manifest is not None:
        dims = {"order": m, "n_concepts": n, "latent_dim": d}
        bad = [f"{k} {manifest.get(k)!r} (the arrays say {v})" for k, v in dims.items()
               if manifest.get(k) != v or isinstance(manifest.get(k), bool)]
        shape = (manifest.get("input") or {}).get("shape") if isinstance(
            manifest.get("input"), dict) else None
        if not isinstance(shape, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in shape) or \
                math.prod(shape) != size:
            bad.append(f"input.shape {shape!r} (the model takes {size} values)")
        if bad:
            raise BundleError(f"manifest.json: {', '.join(bad)}: the manifest does not describe "
                              "its node model; export the bundle again")
