"""The model of a bundle as C sources for the Cortex-M firmware (device_runtime/mcu/).

:func:`generate` turns a bundle folder (``manifest.json`` + ``node_model.npz``) into
``sqm_model.h`` / ``sqm_model.c``: only what the firmware runs, as ``const`` arrays the linker
puts in flash — int8 weights, int32 biases, the Q31 requantization multipliers and shifts, the
per-channel double scales as exact C99 hex floats (compiled only with ``-DSQM_DOUBLE_SCALES``,
the Cortex-M7 double path that is bit-exact with LiteRT's reference kernels), the logistic LUT,
the int8 codebook, both Q-format constellation tables and the SNR policy table; and, in
``sqm_identity.c`` generated when the firmware is built, the bundle's identity (SHA-256 of
``manifest.json`` and the bundle id) so the host sees the bundle as active.
No ``.tflite`` blob: the firmware runs the C core (semqam_core.h), not an interpreter.

Numpy only, so a node-side tool can build firmware without TensorFlow; ``semqam export --target
cortex-m`` writes the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import MANIFEST

NODE_MODEL = "node_model.npz"
HEADER_NAME = "sqm_model.h"
SOURCE_NAME = "sqm_model.c"
IDENTITY_NAME = "sqm_identity.c"
_PER_LINE = 16

#: The C type of each array dtype the generated sources use (also ``firmware_export.c_arrays``).
C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",  # 16x8 biases, |b| < 2^46: plain decimal literals
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
}


def c_literal(dtype: np.dtype, v: Any) -> str:
    """One C99 literal of ``dtype``: doubles as exact hex floats (``0x1.8p-3``), floats with 9
    significant digits (round-trip exact), INT32_MIN as an expression (no such literal)."""
    if dtype == np.float64:
        return float(v).hex()
    if dtype == np.float32:
        return f"{float(v):.9e}f"
    if dtype == np.int32 and int(v) == -(2**31):
        return "(-2147483647 - 1)"
    return str(int(v))


def c_array(name: str, a: np.ndarray, ctype_dtype: Any, *, align: str = "",
            static: bool = True, per_line: int = _PER_LINE) -> str:
    """The C definition ``[static] const T name[n] [align] = {...};`` of ``a`` as
    ``ctype_dtype`` (:func:`c_literal` values; ``align``: an attribute macro such as
    ``SQM_ALIGN16``). The one C-array writer of the project (also ``firmware_export.c_arrays``)."""
    a = np.ascontiguousarray(a, ctype_dtype).reshape(-1)
    ctype = C_TYPES[a.dtype]
    vals = [c_literal(a.dtype, v) for v in a.tolist()]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)] or ["0"]
    attr = f" {align}" if align else ""
    body = ",\n    ".join(lines)
    storage = "static const" if static else "const"
    return f"{storage} {ctype} {name}[{max(a.size, 1)}]{attr} = {{\n    {body}\n}};"


def _array(name: str, a: np.ndarray, ctype_dtype: Any, align: bool = False) -> str:
    return c_array(name, a, ctype_dtype, align="SQM_ALIGN16" if align else "")


def load_bundle_model(bundle: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any], bytes]:
    """The arrays and meta of the bundle's ``node_model.npz`` and its ``manifest.json`` bytes."""
    bundle = Path(bundle)
    with np.load(bundle / NODE_MODEL, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays.pop("meta")[()]))
    return arrays, meta, (bundle / MANIFEST).read_bytes()


def generate(arrays: dict[str, np.ndarray], meta: dict[str, Any],
             source: str = "bundle") -> tuple[str, str]:
    """(header, source) text of ``sqm_model.h`` / ``sqm_model.c``: the model only, no identity
    (:func:`identity_source`), so ``semqam export --target cortex-m`` can list them in the
    manifest; ``ValueError`` for a model the firmware cannot run (missing arrays)."""
    if meta.get("activations", "int8") != "int8":
        raise ValueError(f"{NODE_MODEL} is a 16x8 model; the MCU firmware runs int8 models: "
                         "export with --activations int8")
    chains = {c: list(meta.get(c) or []) for c in ("trunk", "z_head", "sci_head")}
    layers = [name for c in ("trunk", "z_head", "sci_head") for name in chains[c]]
    for need in ("codebook_int8", "const_semantic_q", "const_standard_q", "policy_k"):
        if need not in arrays:
            raise ValueError(f"{NODE_MODEL} has no '{need}'; export the bundle again")
    n, d = int(meta["n_concepts"]), int(meta["latent_dim"])
    size = int(meta["input_size"])
    cb = np.asarray(arrays["codebook_int8"], np.int8)
    order = int(cb.shape[0])
    defs: list[str] = []
    inits: list[str] = []
    for name in layers:
        w = np.asarray(arrays[f"{name}.weights"], np.int8)
        out_dim, in_dim = w.shape
        c = name.replace(".", "_")
        defs.append(_array(f"{c}_weights", w, np.int8, align=True))
        has_bias = f"{name}.bias" in arrays
        if has_bias:
            defs.append(_array(f"{c}_bias", arrays[f"{name}.bias"], np.int32))
        defs.append(_array(f"{c}_multiplier", arrays[f"{name}.multiplier"], np.int32))
        defs.append(_array(f"{c}_shift", arrays[f"{name}.shift"], np.int32))
        has_scale = f"{name}.scale" in arrays
        if has_scale:
            defs.append("#if SQM_DOUBLE_SCALES\n"
                        + _array(f"{c}_scale", arrays[f"{name}.scale"], np.float64)
                        + "\n#endif")
        p = [int(v) for v in np.asarray(arrays[f"{name}.params"]).reshape(-1)]
        inits.append(
            f"    {{{c}_weights, {c + '_bias' if has_bias else 'NULL'}, "
            f"{f'SQM_SCALE({c}_scale)' if has_scale else 'NULL'}, {c}_multiplier, {c}_shift, "
            f"{in_dim}, {out_dim}, {p[0]}, {p[1]}, {p[2]}, {p[3]}}}")
    lut = "NULL"
    if meta.get("sci_logistic"):
        defs.append(_array("sqm_logistic_lut", arrays["logistic_lut"], np.int8))
        lut = "sqm_logistic_lut"
    # sq_encode_scratch_bytes exactly: 3 x the widest output held in scratch (every trunk
    # layer's, each head's but its last, which goes to z / logit) + q + z + logit + s.
    hidden = [int(np.asarray(arrays[f"{name}.weights"]).shape[0])
              for c in ("trunk", "z_head", "sci_head")
              for j, name in enumerate(chains[c]) if c == "trunk" or j < len(chains[c]) - 1]
    scratch = 3 * max(hidden, default=0) + size + n * d + 2 * n
    rank_by_sci = 1 if meta.get("rank_by", "sci") == "sci" else 0
    nt, nz = len(chains["trunk"]), len(chains["z_head"])
    frac = {c: int(meta.get(f"const_{c}_frac_bits", 0)) for c in ("semantic", "standard")}
    header = "\n".join([
        f"/* Generated by semqam_node.mcu_model from {source}; do not edit. */",
        "#ifndef SQM_MODEL_H", "#define SQM_MODEL_H", "", '#include "semqam_core.h"', "",
        f"#define SQM_ORDER {order}", f"#define SQM_N_CONCEPTS {n}", f"#define SQM_LATENT_DIM {d}",
        f"#define SQM_INPUT_SIZE {size}",
        f"#define SQM_FRAC_SEMANTIC {frac['semantic']}",
        f"#define SQM_FRAC_STANDARD {frac['standard']}",
        "/* encode scratch (sq_encode_scratch_bytes): graph scratch + input + z + logit + s */",
        f"#define SQM_ENCODE_SCRATCH_BYTES {scratch}",
        "",
        "extern const sq_graph sqm_graph;",
        f"extern const int8_t sqm_codebook[{order * d}];",
        f"extern const int16_t sqm_const_semantic[{order * 2}];",
        f"extern const int16_t sqm_const_standard[{order * 2}];",
        "extern const sq_policy sqm_policy;",
        "/* the identity, sqm_identity.c, generated when the firmware is built */",
        "extern const uint8_t sqm_manifest_sha256[32];",
        "extern const uint8_t sqm_bundle_id[8];", "",
        "#endif /* SQM_MODEL_H */", ""])

    def pub(name: str, a: np.ndarray, dt: Any) -> str:
        return _array(name, a, dt).replace("static const", "const", 1)

    body = "\n\n".join([
        f"/* Generated by semqam_node.mcu_model from {source}; do not edit. */",
        '#include "sqm_model.h"\n\n#include <stddef.h>',
        "#ifndef SQM_DOUBLE_SCALES\n#define SQM_DOUBLE_SCALES 0\n#endif\n"
        "#if SQM_DOUBLE_SCALES\n#define SQM_SCALE(a) (a)\n#else\n#define SQM_SCALE(a) NULL\n"
        "#endif\n#if defined(__GNUC__)\n#define SQM_ALIGN16 __attribute__((aligned(16)))\n"
        "#else\n#define SQM_ALIGN16\n#endif",
        *defs,
        f"static const sq_fc_layer sqm_layers[{max(len(layers), 1)}] = {{\n"
        + ",\n".join(inits) + "\n};",
        f"const sq_graph sqm_graph = {{\n    &sqm_layers[0], {nt}, &sqm_layers[{nt}], {nz},\n"
        f"    &sqm_layers[{nt + nz}], {len(chains['sci_head'])}, {lut}, {size}, {n}, {d}, "
        f"{rank_by_sci}}};",
        pub("sqm_codebook", cb, np.int8),
        pub("sqm_const_semantic", arrays["const_semantic_q"], np.int16),
        pub("sqm_const_standard", arrays["const_standard_q"], np.int16),
        _array("sqm_policy_k", arrays["policy_k"], np.uint16),
        f"const sq_policy sqm_policy = {{sqm_policy_k, {int(np.asarray(arrays['policy_k']).size)}, "
        f"{int(meta['policy_snr_min_cdb'])}, {int(meta['policy_step_cdb'])}}};",
        ""])
    return header, body


def identity_source(manifest_bytes: bytes) -> str:
    """``sqm_identity.c``: the SHA-256 of ``manifest.json`` and the bundle id, which the
    firmware reports in its banner and INFO (so the host sees the bundle as active). Generated
    at firmware build time: the manifest lists the model sources, so they cannot hold its
    hash."""
    manifest = json.loads(manifest_bytes)
    sha = hashlib.sha256(manifest_bytes).digest()
    bid = bytes.fromhex(str(manifest.get("bundle_id", "")).ljust(16, "0")[:16])
    return "\n\n".join([
        f"/* Generated by semqam_node.mcu_model; do not edit.\n"
        f"   manifest.json SHA-256 {sha.hex()}, bundle {bid.hex()} */",
        '#include "sqm_model.h"',
        c_array("sqm_manifest_sha256", np.frombuffer(sha, np.uint8), np.uint8, static=False),
        c_array("sqm_bundle_id", np.frombuffer(bid, np.uint8), np.uint8, static=False), ""])


def write_model_sources(bundle: str | Path, out_dir: str | Path) -> Path:
    """Write ``sqm_model.h``, ``sqm_model.c`` and ``sqm_identity.c`` of ``bundle`` into
    ``out_dir`` (only when their text changed, so a make-driven build does not rebuild; via a
    temp file and a rename); return ``out_dir``."""
    arrays, meta, manifest = load_bundle_model(bundle)
    header, source = generate(arrays, meta, Path(bundle).name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in ((HEADER_NAME, header), (SOURCE_NAME, source),
                       (IDENTITY_NAME, identity_source(manifest))):
        path = out / name
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m semqam_node.mcu_model BUNDLE OUT_DIR``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m semqam_node.mcu_model BUNDLE OUT_DIR", file=sys.stderr)
        return 2
    write_model_sources(args[0], args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
