"""The node's C int8 kernels against the LiteRT interpreter, byte for byte.

Small Keras models (Dense + ReLU, Dense linear, Dense + sigmoid; random weights and biases,
several input ranges and weight scales) are converted full-integer int8 with a fixed batch of 1.
The test derives every kernel constant on its own from the interpreter's tensor details: the
per-channel scale ``s_in·s_w[c]/s_out`` in float64, its own ``QuantizeMultiplier`` for the Q31
form, and the float32 logistic table of TFLite's ``LUTPopulate`` (independent of
``firmware_export``). It runs the C core on random int8 inputs and requires
``assert_array_equal`` with the interpreter's reference kernels (``OpResolverType.BUILTIN_REF``)
for the node's double-precision requantization. The integer-only Q31 path (MCUs), the optimized
builtin kernels and the default XNNPACK delegate are compared too and only reported
(``test_report_optimized_kernels``, printed in the test output).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

core = pytest.importorskip("semqam_node._core", reason="build it: pip install -e ./device_runtime")
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
pytest.importorskip("tensorflow", reason="the converter needs TensorFlow")
Interpreter, OpResolverType = litert.Interpreter, litert.OpResolverType

N_INPUTS = 400  # random int8 inputs per model, plus the two constant extremes


@dataclass(frozen=True)
class Case:
    kind: str  # "relu" | "linear" | "sigmoid"
    n_in: int
    n_out: int
    x_lo: float  # representative input range -> input scale and zero point
    x_hi: float
    w_std: float  # weight scale -> per-channel scales and the output scale

    @property
    def id(self) -> str:
        x = f"x[{self.x_lo:g},{self.x_hi:g}]"
        return f"{self.kind}-{self.n_in}x{self.n_out}-{x}-w{self.w_std:g}"


CASES = [
    Case("relu", 32, 16, -1.0, 1.0, 0.2),
    Case("relu", 100, 40, 0.0, 1.0, 0.05),
    Case("relu", 257, 64, -5.0, 20.0, 1.0),
    Case("linear", 24, 8, -0.1, 0.1, 3.0),
    Case("linear", 128, 96, 0.0, 1.0, 0.3),
    Case("linear", 300, 33, -20.0, 5.0, 0.01),
    Case("sigmoid", 16, 12, -1.0, 1.0, 1.0),
    Case("sigmoid", 64, 32, 0.0, 1.0, 0.3),
    Case("sigmoid", 200, 50, -3.0, 3.0, 0.05),
    Case("relu", 784, 512, 0.0, 1.0, 0.05),  # the encoder's first layer shape
]


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier`` in float64: ``real = m · 2^(s − 31)``, m in [2^30, 2^31),
    rounding half away from zero (``TfLiteRound``)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = math.floor(q * (1 << 31) + 0.5)
    if m == 1 << 31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return m, shift


def logistic_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """TFLite ``LUTPopulate`` for int8 logistic, in float32:
    ``lut[q + 128] = clamp(round(σ(s_in (q − zp_in)) / s_out) + zp_out, −128, 127)``."""
    q = np.arange(-128, 128, dtype=np.int32)
    x = np.float32(in_scale) * (q - in_zp).astype(np.float32)
    y = np.float32(1) / (np.float32(1) + np.exp(-x, dtype=np.float32))
    r = y * (np.float32(1) / np.float32(out_scale))
    rounded = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5))
    return np.clip(rounded.astype(np.int32) + out_zp, -128, 127).astype(np.int8)


def convert(case: Case, seed: int) -> bytes:
    """A random Dense model, converted full-integer int8 with batch 1."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x = keras.Input((case.n_in,), batch_size=1)
    act = {"relu": "relu", "linear": None, "sigmoid": "sigmoid"}[case.kind]
    y = keras.layers.Dense(
        case.n_out, activation=act,
        kernel_initializer=keras.initializers.RandomNormal(stddev=case.w_std, seed=seed),
        bias_initializer=keras.initializers.RandomNormal(
            stddev=case.w_std * math.sqrt(case.n_in) * max(abs(case.x_lo), abs(case.x_hi)) / 4,
            seed=seed + 1),
    )(x)
    model = keras.Model(x, y)

    @tf.function(input_signature=[tf.TensorSpec([1, case.n_in], tf.float32)])
    def forward(v):
        return model(v)

    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(200):
            yield [rng.uniform(case.x_lo, case.x_hi, (1, case.n_in)).astype(np.float32)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [forward.get_concrete_function()])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        return bytes(converter.convert())


def interpreter(model: bytes, resolver: str) -> Interpreter:
    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=getattr(OpResolverType, resolver))
    it.allocate_tensors()
    return it


def run_interpreter(it: Interpreter, x: np.ndarray) -> np.ndarray:
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]["index"]
    assert inp["shape"].tolist() == [1, x.shape[1]], "the model must have a fixed batch of 1"
    y = []
    for row in x:
        it.set_tensor(inp["index"], row[None])
        it.invoke()
        y.append(it.get_tensor(out)[0].copy())
    return np.stack(y)


def quant(detail: dict) -> tuple[np.ndarray, np.ndarray]:
    qp = detail["quantization_parameters"]
    return np.asarray(qp["scales"], np.float32), np.asarray(qp["zero_points"], np.int64)


def c_model(it: Interpreter, kind: str):
    """Kernel constants read from the interpreter -> a function int8 [n, in] -> int8 [n, out]."""
    ops = it._get_ops_details()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    names = [op["op_name"] for op in ops]
    assert names == (["FULLY_CONNECTED", "LOGISTIC"] if kind == "sigmoid"
                     else ["FULLY_CONNECTED"]), names
    fc = ops[0]
    x_i, w_i = int(fc["inputs"][0]), int(fc["inputs"][1])
    b_i = int(fc["inputs"][2]) if len(fc["inputs"]) > 2 else -1
    y_i = int(fc["outputs"][0])
    weights = it.get_tensor(w_i)
    bias = it.get_tensor(b_i).astype(np.int32) if b_i >= 0 else None
    (s_x,), (zp_x,) = quant(tensors[x_i])
    s_w, zp_w = quant(tensors[w_i])
    (s_y,), (zp_y,) = quant(tensors[y_i])
    assert np.all(zp_w == 0), "weights must be symmetric"
    s_w = np.broadcast_to(s_w, (weights.shape[0],))
    mult, shift = zip(*(quantize_multiplier(float(np.float64(s_x) * np.float64(s)
                                                  / np.float64(s_y))) for s in s_w), strict=True)
    act_min = max(-128, int(zp_y)) if kind == "relu" else -128  # fused ReLU: zp + round(0 / s)
    params = np.array([-zp_x, zp_y, act_min, 127], np.int32)
    mult, shift = np.array(mult, np.int32), np.array(shift, np.int32)
    scale = np.float64(s_x) * s_w.astype(np.float64) / np.float64(s_y)  # TFLite's order, double
    lut = None
    if kind == "sigmoid":
        lg = ops[1]
        (s_i,), (zp_i,) = quant(tensors[int(lg["inputs"][0])])
        (s_o,), (zp_o,) = quant(tensors[int(lg["outputs"][0])])
        assert int(lg["inputs"][0]) == y_i
        assert (float(s_o), int(zp_o)) == (1.0 / 256, -128)
        lut = logistic_table(float(s_i), int(zp_i), float(s_o), int(zp_o))

    def run(x: np.ndarray, integer_only: bool = False) -> np.ndarray:
        y = core.fc_int8(x, weights, bias, mult, shift, params,
                         None if integer_only else scale)
        return y if lut is None else core.logistic_lut(y, lut)

    return run, {"shift": (int(shift.min()), int(shift.max())), "zp_x": int(zp_x),
                 "zp_y": int(zp_y), "per_channel": len(set(s_w.tolist())) > 1}


def inputs(n_in: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (N_INPUTS, n_in), dtype=np.int64).astype(np.int8)
    return np.concatenate([x, np.full((1, n_in), -128, np.int8), np.full((1, n_in), 127, np.int8)])


_MODELS: dict[str, bytes] = {}


def model_for(case: Case, seed: int) -> bytes:
    if case.id not in _MODELS:
        _MODELS[case.id] = convert(case, seed)
    return _MODELS[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_c_kernels_equal_litert_reference(case: Case):
    seed = CASES.index(case)
    model = model_for(case, seed)
    ref = interpreter(model, "BUILTIN_REF")
    run_c, info = c_model(ref, case.kind)
    x = inputs(case.n_in, seed)
    want = run_interpreter(ref, x)
    got = run_c(x)
    assert got.dtype == np.int8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want, err_msg=f"{case.id} {info}")
    # the outputs exercise the range, not one saturated value
    assert len(np.unique(want)) > 8, f"{case.id}: degenerate outputs {np.unique(want)}"


def test_cases_cover_offsets_and_per_channel_scales():
    """The cases above exercise non-zero input zero points and per-channel multipliers."""
    seen = []
    for case in CASES[:3]:
        _, info = c_model(interpreter(model_for(case, CASES.index(case)), "BUILTIN_REF"),
                          case.kind)
        seen.append(info)
    assert any(i["zp_x"] != 0 for i in seen)
    assert all(i["per_channel"] for i in seen)


def test_single_rounding_formula_on_edges():
    """The C MultiplyByQuantizedMultiplier equals floor((x·m + 2^(30−s)) / 2^(31−s)) (Python
    integers), at the int32 edges and on random values, for every shift the kernels accept."""
    rng = np.random.default_rng(7)
    xs = [0, 1, -1, 2**31 - 1, -(2**31), 12345, -12345, *rng.integers(-(2**31), 2**31, 40).tolist()]
    ms = [0, 1, 2**30, 2**31 - 1, 1518500250, *rng.integers(2**30, 2**31, 6).tolist()]
    checked = 0
    for shift in range(-31, 31):
        for x in xs:
            for m in ms:
                total = 31 - shift
                want = (x * m + (1 << (total - 1))) >> total
                want = (want + 2**31) % 2**32 - 2**31  # TFLite's int32 cast
                assert core.multiply_by_quantized_multiplier(x, m, shift, "single") == want
                checked += 1
    assert checked > 10000
    assert core.limits()["rounding"] == "single"


def test_report_optimized_kernels(capsys):
    """REPORT, not assert: how often the optimized builtin kernels and the default XNNPACK
    delegate differ from the reference kernels (and so from the C core), and by how much."""
    rows = []
    for case in CASES:
        seed = CASES.index(case)
        model = model_for(case, seed)
        x = inputs(case.n_in, seed)
        ref = run_interpreter(interpreter(model, "BUILTIN_REF"), x).astype(np.int16)
        run_c, _ = c_model(interpreter(model, "BUILTIN_REF"), case.kind)
        outs = [run_c(x, integer_only=True).astype(np.int16)]
        for resolver in ("BUILTIN_WITHOUT_DEFAULT_DELEGATES", "BUILTIN"):
            outs.append(run_interpreter(interpreter(model, resolver), x).astype(np.int16))
        row = [case.id]
        for y in outs:
            diff = np.abs(y - ref)
            row.append(f"{np.mean(diff == 1):8.4%} {np.mean(diff > 1):8.4%}")
        rows.append(row)
    with capsys.disabled():
        print("\nLSB differences vs BUILTIN_REF (= C core with double scales), fraction of "
              "outputs (==1 LSB, >1 LSB)")
        print(f"{'model':42s} {'C Q31 single':>18s} {'optimized builtin':>18s} "
              f"{'XNNPACK (default)':>18s}")
        for r in rows:
            print(f"{r[0]:42s} {r[1]:>18s} {r[2]:>18s} {r[3]:>18s}")


# ---- 16x8: int16 activations, int8 weights, int64 bias ------------------------------------

CASES_16X8 = [  # (n_in, hidden, n_out, input range, weight std)
    (32, 16, 8, (-1.0, 1.0), 0.3),
    (300, 64, 40, (0.0, 1.0), 0.05),
    (784, 128, 65, (0.0, 1.0), 0.05),  # the encoder's input width: int64 accumulation matters
]


def convert_16x8(n_in: int, hidden: int, n_out: int, x_range: tuple[float, float], w_std: float,
                 seed: int) -> bytes:
    """Dense + ReLU -> Dense, random weights and biases, converted 16x8 with batch 1."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x = keras.Input((n_in,), batch_size=1)
    h = keras.layers.Dense(hidden, activation="relu",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=w_std),
                           bias_initializer=keras.initializers.RandomNormal(stddev=0.3))(x)
    y = keras.layers.Dense(n_out, kernel_initializer=keras.initializers.RandomNormal(stddev=0.2),
                           bias_initializer=keras.initializers.RandomNormal(stddev=0.3))(h)
    model = keras.Model(x, y)

    @tf.function(input_signature=[tf.TensorSpec([1, n_in], tf.float32)])
    def forward(v):
        return model(v)

    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(200):
            yield [rng.uniform(*x_range, (1, n_in)).astype(np.float32)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [forward.get_concrete_function()])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
        return bytes(converter.convert())


def c_chain_16x8(it: Interpreter):
    """The interpreter's FULLY_CONNECTED chain as C fc_s16x8 calls (constants read here)."""
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    layers = []
    ops = it._get_ops_details()
    assert [op["op_name"] for op in ops] == ["FULLY_CONNECTED"] * len(ops), ops
    for i, op in enumerate(ops):
        x_i, w_i, b_i = (int(v) for v in op["inputs"][:3])
        y_i = int(op["outputs"][0])
        (s_x,), (zp_x,) = quant(tensors[x_i])
        s_w, _ = quant(tensors[w_i])
        (s_y,), (zp_y,) = quant(tensors[y_i])
        assert zp_x == 0 and zp_y == 0, "16x8 activations are symmetric"
        bias = it.get_tensor(b_i)
        assert bias.dtype == np.int64
        weights = it.get_tensor(w_i)
        s_w = np.broadcast_to(s_w, (weights.shape[0],))
        real = np.float64(s_x) * s_w.astype(np.float64) / np.float64(s_y)
        mult, shift = (np.array(v, np.int32) for v in zip(
            *(quantize_multiplier(float(r)) for r in real), strict=True))
        lo = 0 if i == 0 else -32768  # fused ReLU on the first layer: round(0 / s) = 0
        layers.append((weights, bias, mult, shift, (lo, 32767), real))

    def run(x: np.ndarray, integer_only: bool = False) -> np.ndarray:
        for w, b, m, s, act, real in layers:
            x = core.fc_s16x8(x, w, b, m, s, act, None if integer_only else real)
        return x

    return run, layers


@pytest.mark.parametrize("case", CASES_16X8, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES_16X8])
def test_c_16x8_kernels_equal_litert_reference(case):
    n_in, hidden, n_out, x_range, w_std = case
    seed = CASES_16X8.index(case)
    ref = interpreter(convert_16x8(*case, seed), "BUILTIN_REF")
    run_c, layers = c_chain_16x8(ref)
    s_x = float(quant(ref.get_input_details()[0])[0][0])
    rng = np.random.default_rng(seed)
    x = np.clip(np.rint(rng.uniform(*x_range, (300, n_in)) / s_x), -32768, 32767).astype(np.int16)
    x = np.concatenate([x, np.full((1, n_in), 32767, np.int16)])
    want = run_interpreter(ref, x)
    got = run_c(x)
    assert got.dtype == np.int16 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 1000, "outputs must use the int16 range, not a few levels"
    # the integer-only form (TFLite's int64 MultiplyByQuantizedMultiplier) differs only at
    # near-ties of its 15-bit multiplier: within one LSB of the layer outputs it feeds
    diff = np.abs(run_c(x, integer_only=True).astype(np.int64) - want.astype(np.int64))
    assert diff.max() <= 64, diff.max()  # an LSB of layer 1 moves layer 2 by |w|·s ratio


def test_fc_s16x8_accumulates_beyond_int32():
    """784 inputs of 32767 against weights of 127: acc = 3,262,540,656 + bias > 2^31 (the
    worst case of the encoder's first layer), requantized by hand in both forms."""
    w = np.full((2, 784), 127, np.int8)
    w[1] = -127
    x = np.full(784, 32767, np.int16)
    bias = np.array([5, -5], np.int64)
    acc = 784 * 127 * 32767
    assert acc > 2**31
    scale = np.array([1e-5, 1e-5])
    got = core.fc_s16x8(x, w, bias, np.full(2, 1407374884, np.int32), np.full(2, -16, np.int32),
                        scale=scale)
    want = [round((acc + 5) * 1e-5), -round((acc + 5) * 1e-5)]  # 32625.4 -> 32625
    np.testing.assert_array_equal(got, want)
    # Q31 form of 1e-5 = 1407374884 · 2^(-16-31); its Q15 multiplier 21475 · 2^(-16-15)
    q15 = (1407374884 + 2**15) >> 16
    want_q = [((acc + 5) * q15 + 2**30) >> 31, (-(acc + 5) * q15 + 2**30) >> 31]
    got_q = core.fc_s16x8(x, w, bias, np.full(2, 1407374884, np.int32), np.full(2, -16, np.int32))
    np.testing.assert_array_equal(got_q, want_q)


def test_mbqm64_formula_on_edges():
    """C int64 MultiplyByQuantizedMultiplier equals TFLite's formula in Python integers:
    m' = (m + 2^15) >> 16 (0x7FFF from 0x7FFF0000), (x·m' + 2^(14−s)) >> (15−s), int32 cast."""
    rng = np.random.default_rng(11)
    xs = [0, 1, -1, 2**47 - 1, -(2**47), 2**31, -(2**31) - 1, 123456789012,
          *rng.integers(-(2**47), 2**47, 30).tolist()]
    ms = [0, 1, 2**15, 2**30, 0x7FFEFFFF, 0x7FFF0000, 2**31 - 1,
          *rng.integers(2**30, 2**31, 5).tolist()]
    for shift in range(-31, 8):
        for x in xs:
            for m in ms:
                red = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
                total = 15 - shift
                want = (x * red + (1 << (total - 1))) >> total
                want = (want + 2**31) % 2**32 - 2**31
                assert core.multiply_by_quantized_multiplier64(x, m, shift) == want
    # hand-computed: 3 · 0.5 = 1.5 rounds half up to 2; -3 · 0.5 = -1.5 rounds up to -1
    assert core.multiply_by_quantized_multiplier64(3, 2**30, 0) == 2
    assert core.multiply_by_quantized_multiplier64(-3, 2**30, 0) == -1
    with pytest.raises(ValueError, match="shift"):
        core.multiply_by_quantized_multiplier64(1, 2**30, 8)


def test_fc_s16x8_rejects_bad_layers():
    w = np.ones((2, 3), np.int8)
    m, s = np.full(2, 2**30, np.int32), np.zeros(2, np.int32)
    x = np.ones(3, np.int16)
    with pytest.raises(ValueError, match="x must be int16"):
        core.fc_s16x8(x.astype(np.int8), w, None, m, s)
    with pytest.raises(ValueError, match="bias must be int64"):
        core.fc_s16x8(x, w, np.zeros(2, np.int32), m, s)
    with pytest.raises(ValueError, match=r"shift must lie in \[-31, 7\]"):
        core.fc_s16x8(x, w, None, m, np.full(2, 8, np.int32))
    with pytest.raises(ValueError, match="act_range"):
        core.fc_s16x8(x, w, None, m, s, (10, 5))
    np.testing.assert_array_equal(core.fc_s16x8(x, w, None, m, s), [2, 2])  # 3 · 0.5 -> 2
