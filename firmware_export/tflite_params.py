"""Read an int8 encoder + SCI ``.tflite`` into the arrays the node's C kernels run (docs/bundle.md).

The flatbuffer is parsed with TensorFlow's generated schema; the graph must be the S-VQ-VAE
encoder shape: ``[RESHAPE] -> FC* (trunk) -> {FC* [RESHAPE] -> z, FC* -> logit -> LOGISTIC}``.
For every FULLY_CONNECTED the requantization constants are precomputed exactly as TFLite's
``PopulateConvolutionQuantizationParams`` / ``QuantizeMultiplier`` do, so the C kernel
(``acc = b + Σ w·(x − zp_in)``, ``y = MultiplyByQuantizedMultiplier(acc, m, s) + zp_out``, clamp)
reproduces the interpreter byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from semqam.errors import SemqamError

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767


class ModelFormatError(SemqamError, ValueError):
    """The .tflite graph is not one the node's C kernels can run."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real = m · 2^(s − 31)`` with ``m`` a Q31 int in
    [2^30, 2^31); rounding half away from zero; ``real = 0`` gives (0, 0)."""
    if real == 0.0:
        return 0, 0
    if not real > 0.0 or not math.isfinite(real):
        raise ModelFormatError(f"requantization scale must be positive and finite, got {real}")
    q, shift = math.frexp(real)
    q_fixed = math.floor(q * (1 << 31) + 0.5)
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return int(q_fixed), int(shift)


def activation_range(kind: str, scale: float, zero_point: int, bits: int = 8
                     ) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for int8 or int16 (``bits``; float32
    ``round(x / scale)``)."""
    lo, hi = (INT8_MIN, INT8_MAX) if bits == 8 else (INT16_MIN, INT16_MAX)

    def q(x: float) -> int:
        v = np.float32(x) / np.float32(scale)
        return zero_point + int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))

    if kind == "NONE":
        return lo, hi
    if kind == "RELU":
        return max(lo, q(0.0)), hi
    if kind == "RELU6":
        return max(lo, q(0.0)), min(hi, q(6.0))
    raise ModelFormatError(f"fused activation {kind} is not supported by the node's kernels")


def logistic_lut(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """int8 [256] with ``lut[q + 128] = clamp(round(σ(s_in (q − zp_in)) / s_out) + zp_out)``,
    computed in float32 as TFLite's ``LUTPopulate`` does."""
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int32)
    x = np.float32(in_scale) * (q - in_zp).astype(np.float32)
    y = np.float32(1.0) / (np.float32(1.0) + np.exp(-x, dtype=np.float32))
    r = y * (np.float32(1.0) / np.float32(out_scale))
    rounded = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5))
    return np.clip(rounded.astype(np.int32) + out_zp, INT8_MIN, INT8_MAX).astype(np.int8)


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    dtype: int
    scales: np.ndarray
    zero_points: np.ndarray
    data: bytes | None
    name: str

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])


def _parse(buf: bytes):
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(buf, 0)
    if len(model.subgraphs) != 1:
        raise ModelFormatError(f"expected one subgraph, found {len(model.subgraphs)}")
    sg = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    act_names = {v: k for k, v in vars(schema.ActivationFunctionType).items()
                 if not k.startswith("_")}
    tensors = []
    for t in sg.tensors:
        qp = t.quantization
        scales = np.asarray(qp.scale if qp is not None and qp.scale is not None else [], np.float32)
        zps = np.asarray(qp.zeroPoint if qp is not None and qp.zeroPoint is not None else [],
                         np.int64)
        buffer = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tensors.append(_Tensor(tuple(int(d) for d in t.shape), int(t.type), scales, zps,
                               None if buffer is None else bytes(bytearray(buffer)), name))
    ops = []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        act = "NONE"
        opts = op.builtinOptions
        if opts is not None and hasattr(opts, "fusedActivationFunction"):
            act = act_names[int(opts.fusedActivationFunction)]
        ops.append((op_names.get(builtin, str(builtin)), [int(i) for i in op.inputs],
                    [int(i) for i in op.outputs], act))
    return tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs], schema


def input_lut16(scale: float) -> np.ndarray:
    """int16 [256]: the 16x8 node's input of raw byte u, ``round(u / 255 / s_in)`` (half away
    from zero, in double; zero point 0), clamped to int16."""
    u = np.arange(256, dtype=np.float64)
    return np.clip(np.floor(u / 255.0 / float(scale) + 0.5), INT16_MIN, INT16_MAX
                   ).astype(np.int16)


def extract_node_model(tflite: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays (``L.weights``, ``L.bias``, ``L.multiplier``, ``L.shift``, ``L.params``, and
    ``logistic_lut`` for int8 / ``input_lut`` for 16x8) and the graph description (``meta`` of
    docs/bundle.md, without the tables the exporter adds) of a full-integer encoder + SCI
    flatbuffer: int8, or 16x8 (int16 activations, ``meta.activations = "int16"``; int64 biases;
    the node ranks on the logit and does not compute the int16 logistic)."""
    tensors, ops, inputs, outputs, schema = _parse(tflite)
    int8, int16 = schema.TensorType.INT8, schema.TensorType.INT16
    if len(inputs) != 1 or tensors[inputs[0]].dtype not in (int8, int16):
        raise ModelFormatError("the model must have one int8 or int16 input (full-integer "
                               "conversion)")
    act_type = tensors[inputs[0]].dtype
    bits = 8 if act_type == int8 else 16
    if len(outputs) != 3 or any(tensors[i].dtype != act_type for i in outputs):
        raise ModelFormatError(f"the model must have three int{bits} outputs (z, sci_logit, "
                               "sci); convert it with firmware_export.convert.to_tflite")
    consumers: dict[int, list[int]] = {}
    producer: dict[int, int] = {}
    for j, (_, ins, outs, _) in enumerate(ops):
        for i in ins:
            consumers.setdefault(i, []).append(j)
        for o in outs:
            producer[o] = j

    arrays: dict[str, np.ndarray] = {}
    fc_count = 0

    def follow(tensor: int) -> tuple[list[str], int]:
        """Walk single-consumer FC / RESHAPE ops from ``tensor`` to a branch or a graph output."""
        names: list[str] = []
        while tensor not in outputs and len(consumers.get(tensor, [])) == 1:
            kind, ins, outs, act = ops[consumers[tensor][0]]
            src, dst = tensors[ins[0]], tensors[outs[0]]
            if kind == "RESHAPE":
                if (src.scale, src.zero_point) != (dst.scale, dst.zero_point):
                    raise ModelFormatError("a RESHAPE that requantizes is not supported")
            elif kind == "FULLY_CONNECTED":
                names.append(fully_connected(ins, outs[0], act))
            else:
                raise ModelFormatError(f"op {kind} is not supported by the node's C kernels here; "
                                       "supported: FULLY_CONNECTED, RESHAPE, a final LOGISTIC")
            tensor = outs[0]
        return names, tensor

    def fully_connected(ins: list[int], out: int, act: str) -> str:
        nonlocal fc_count
        name = f"fc{fc_count}"
        fc_count += 1
        x, w, y = tensors[ins[0]], tensors[ins[1]], tensors[out]
        if w.data is None or w.dtype != int8:
            raise ModelFormatError(f"{name}: weights must be constant int8")
        weights = np.frombuffer(w.data, np.int8).reshape(w.shape)
        out_dim, in_dim = weights.shape
        bias_type = np.int32 if bits == 8 else np.int64
        if len(ins) > 2 and ins[2] >= 0:
            bias = np.frombuffer(tensors[ins[2]].data, bias_type).copy()
        else:
            bias = np.zeros(out_dim, bias_type)
        w_scales = np.broadcast_to(w.scales.astype(np.float64), (out_dim,))
        if np.any(w.zero_points != 0):
            raise ModelFormatError(f"{name}: weights must be symmetric (zero point 0)")
        # Effective scale in double from the float32 scales (PopulateConvolutionQuantizationParams).
        mult, shift = zip(*(quantize_multiplier(float(np.float64(x.scale) * s / np.float64(
            y.scale))) for s in w_scales), strict=True)
        act_min, act_max = activation_range(act, y.scale, y.zero_point, bits)
        if bits == 16 and (x.zero_point != 0 or y.zero_point != 0):
            raise ModelFormatError(f"{name}: 16x8 activations must have zero point 0")
        if in_dim != int(np.prod(x.shape[1:])):
            raise ModelFormatError(f"{name}: input width {x.shape} does not match weights")
        arrays[f"{name}.weights"] = np.ascontiguousarray(weights)
        arrays[f"{name}.bias"] = bias
        arrays[f"{name}.scale"] = (np.float64(x.scale) * w_scales / np.float64(y.scale))
        arrays[f"{name}.multiplier"] = np.asarray(mult, np.int32)
        arrays[f"{name}.shift"] = np.asarray(shift, np.int32)
        arrays[f"{name}.params"] = np.asarray(
            [-x.zero_point, y.zero_point, act_min, act_max], np.int32)
        return name

    sci_out = [i for i in outputs if ops[producer[i]][0] == "LOGISTIC"]
    if len(sci_out) != 1:
        raise ModelFormatError("expected exactly one output made by a LOGISTIC (the SCI)")
    logit_out = ops[producer[sci_out[0]]][1][0]
    z_out = [i for i in outputs if i not in (sci_out[0], logit_out)]
    if logit_out not in outputs or len(z_out) != 1:
        raise ModelFormatError("expected outputs z, the SCI logit and the SCI")
    trunk, branch = follow(inputs[0])
    heads = consumers.get(branch, [])
    if len(heads) != 2:
        raise ModelFormatError("expected a shared trunk that branches into a z and an sci head")
    chains = {}
    for j in heads:
        kind, ins, outs, act = ops[j]
        if kind != "FULLY_CONNECTED":
            raise ModelFormatError(f"a head starts with {kind}, expected FULLY_CONNECTED")
        first = fully_connected(ins, outs[0], act)
        rest, end = follow(outs[0])
        if end == z_out[0]:
            chains["z"] = [first, *rest]
        elif end == logit_out:
            chains["sci"] = [first, *rest]
        else:
            raise ModelFormatError("a head does not end at the z or the SCI-logit output")
    if set(chains) != {"z", "sci"}:
        raise ModelFormatError("could not tell the z head from the sci head")
    lg, s_t = tensors[logit_out], tensors[sci_out[0]]
    z_t, x_t = tensors[z_out[0]], tensors[inputs[0]]
    if bits == 8:
        arrays["logistic_lut"] = logistic_lut(lg.scale, lg.zero_point, s_t.scale, s_t.zero_point)
    else:
        arrays["input_lut"] = input_lut16(x_t.scale)
    n, d = z_t.shape[-2], z_t.shape[-1]
    if s_t.shape[-1] != n:
        raise ModelFormatError(f"sci has {s_t.shape[-1]} slots but z has {n}")
    meta = {
        "format_version": 1,
        "n_concepts": int(n),
        "latent_dim": int(d),
        "input_size": int(np.prod(x_t.shape[1:])),
        "input_shape": [int(v) for v in x_t.shape[1:]],
        "input_scale": x_t.scale,
        "input_zero_point": x_t.zero_point,
        "trunk": trunk,
        "z_head": chains["z"],
        "sci_head": chains["sci"],
        "z_scale": z_t.scale,
        "z_zero_point": z_t.zero_point,
        "sci_logit_scale": lg.scale,
        "sci_logit_zero_point": lg.zero_point,
        "sci_scale": s_t.scale,
        "sci_zero_point": s_t.zero_point,
        "sci_logistic": bits == 8,
        "rank_by": "sci_logit",
        "output_names": {"z": z_t.name, "sci_logit": lg.name, "sci": s_t.name},
    }
    if bits == 16:  # absent: int8 (the bundle format of every int8 export is unchanged)
        meta["activations"] = "int16"
    return arrays, meta


def meta_array(meta: dict) -> np.ndarray:
    """``meta`` as the 0-d string array stored under ``meta`` in ``node_model.npz``."""
    return np.array(json.dumps(meta, sort_keys=True))


def walk_graph(meta: dict, layer: Callable[[str, np.ndarray], np.ndarray], h: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """The node graph's shape, once: ``h = trunk(x)``, then ``(z_head(h), sci_head(h))`` with
    ``layer(name, x)`` computing one layer."""
    for name in meta["trunk"]:
        h = layer(name, h)
    z = h
    for name in meta["z_head"]:
        z = layer(name, z)
    s = h
    for name in meta["sci_head"]:
        s = layer(name, s)
    return z, s


def run_graph(arrays: dict[str, np.ndarray], meta: dict, q: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy int8 reference of the graph for int8 inputs ``q`` [n, input_size] -> (z_q [n, N, D],
    logit_q [n, N], s_q [n, N]). Independent of the C core (int64 accumulators, vectorised)."""
    def fc(name: str, x: np.ndarray) -> np.ndarray:
        w = arrays[f"{name}.weights"].astype(np.int64)
        in_off, out_off, lo, hi = (int(v) for v in arrays[f"{name}.params"])
        acc = (x.astype(np.int64) + in_off) @ w.T + arrays[f"{name}.bias"].astype(np.int64)
        y = requantize_double(acc, arrays[f"{name}.scale"])
        return np.clip(y + out_off, lo, hi).astype(np.int8)

    z, s = walk_graph(meta, fc, q.reshape(len(q), -1))
    prob = arrays["logistic_lut"][s.astype(np.int32) + 128]
    return z.reshape(len(q), meta["n_concepts"], meta["latent_dim"]), s, prob


def run_graph16(arrays: dict[str, np.ndarray], meta: dict, u: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """NumPy reference of a 16x8 graph for raw bytes ``u`` [n, input_size] -> (z [n, N, D],
    logit [n, N]) in int16: q = input_lut[u], each layer ``clamp(round(acc · scale))`` with int64
    ``acc = b + x·wᵀ``. Independent of the C core."""
    def fc(name: str, x: np.ndarray) -> np.ndarray:
        w = arrays[f"{name}.weights"].astype(np.int64)
        _, _, lo, hi = (int(v) for v in arrays[f"{name}.params"])
        acc = x.astype(np.int64) @ w.T + arrays[f"{name}.bias"].astype(np.int64)
        return np.clip(requantize_double(acc, arrays[f"{name}.scale"]), lo, hi).astype(np.int16)

    z, s = walk_graph(meta, fc, arrays["input_lut"][np.asarray(u, np.uint8).reshape(len(u), -1)])
    return z.reshape(len(u), meta["n_concepts"], meta["latent_dim"]), s


def requantize_double(acc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``round(acc · s_c)`` in double precision, half away from zero, with the per-channel
    ``s_c = s_in · s_w[c] / s_out`` computed in double from the float32 scales.

    This is what LiteRT 2.3's reference FULLY_CONNECTED kernel computes for per-channel int8
    (measured on four trained encoders: 0 mismatches in 1.6·10^7 outputs, where the Q31
    :func:`multiply_by_quantized_multiplier` path differs in 1 of 4·10^6 at a near-tie).
    """
    v = np.asarray(acc, np.int64).astype(np.float64) * np.asarray(scale, np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def multiply_by_quantized_multiplier(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray
                                     ) -> np.ndarray:
    """TFLite reference ``MultiplyByQuantizedMultiplier`` with single rounding, elementwise with
    broadcasting over the last axis:

    .. math:: y = \\left\\lfloor \\frac{acc \\cdot m + 2^{30 - s}}{2^{31 - s}} \\right\\rfloor

    i.e. ``acc · m · 2^(s − 31)`` rounded half up, in 64-bit arithmetic: the integer-only form
    for MCUs without a double FPU (TFLite Micro's single-rounding kernels). It agrees with the
    interpreter's reference kernels except at near-ties (:func:`requantize_double`).
    """
    acc = np.asarray(acc, np.int64)
    m = np.asarray(mult, np.int64)
    total = 31 - np.asarray(shift, np.int64)
    return (acc * m + (np.int64(1) << (total - 1))) >> total
