# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, embedsignature=True
"""Python binding of the semqam C99 core (``csrc/semqam_core.h``).

Every function checks its arguments here first and raises ``ValueError`` naming the argument
and the allowed range; a C status other than ``SQ_OK`` that still gets through is raised as
``ValueError`` with the status name. The C calls run without the GIL.

Integer semantics of one fully connected layer (TFLite ``FullyConnectedPerChannel``):
``y[c] = clamp(R(b[c] + Σ_i w[c,i] (x_i + input_offset)) + output_offset, lo, hi)`` with the
requantization ``R`` either

* ``round(acc · scale[c])`` in double, half away from zero, ``scale = s_in·s_w[c]/s_out`` as a
  double: what LiteRT 2.3's reference kernels (``BUILTIN_REF``) compute, bit for bit; or
* the Q31 ``MultiplyByQuantizedMultiplier(acc, m[c], s[c])``, single rounding
  ``floor((acc·m + 2^(30-s)) / 2^(31-s))`` (TFLITE_SINGLE_ROUNDING; integer only, for MCUs;
  differs from the reference at rare near-ties), or gemmlowp's double rounding in a core built
  with ``-DSQ_DOUBLE_ROUNDING=1`` (``limits()["rounding"]``).
"""

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import numpy as np


_MEANING = {
    SQ_ERR_NULL: "a required array is missing (NULL)",
    SQ_ERR_ARG: "a size is < 1 or a position repeats",
    SQ_ERR_K_RANGE: "K is outside [1, N]",
    SQ_ERR_LIMIT: "a dimension exceeds the compiled limits",
    SQ_ERR_QUANT: ("quantization constants out of range (multiplier >= 0, shift in [-31, 30], "
                   "scale finite in [0, 1e30], zero points and activation range in int8)"),
    SQ_ERR_SHAPE: "layer widths or zero points do not chain",
    SQ_ERR_BUFFER: "a buffer is too small",
    SQ_ERR_INDEX: "a position >= N or a codeword index >= M",
}


def status_name(int status) -> str:
    """The C constant name of a status code, e.g. ``SQ_ERR_LIMIT``."""
    return sq_status_name(status).decode()


cdef int _check(sq_status st, str where) except -1:
    if st != SQ_OK:
        raise ValueError(f"{where}: {status_name(st)}: {_MEANING.get(st, 'unknown status')}")
    return 0


cdef inline int64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + <int64_t>ts.tv_nsec


def limits() -> dict:
    """The compiled ``SQ_MAX_*`` limits and the static scratch sizes in bytes."""
    return {
        "rounding": SQ_ROUNDING_NAME.decode(),
        "max_n": SQ_MAX_N, "max_d": SQ_MAX_D, "max_m": SQ_MAX_M,
        "max_layer_width": SQ_MAX_LAYER_WIDTH, "max_chain_layers": SQ_MAX_CHAIN_LAYERS,
        "max_policy_len": SQ_MAX_POLICY_LEN, "graph_scratch_bytes": SQ_GRAPH_SCRATCH_BYTES,
        "encode_scratch_bytes": SQ_ENCODE_SCRATCH_BYTES,
    }


def _array(obj, dtype, str name, int ndim=-1, shape=None):
    """``obj`` as a C-contiguous array of exactly ``dtype`` (no silent casts)."""
    a = np.asarray(obj)
    if a.dtype != dtype:
        raise ValueError(f"{name} must be {np.dtype(dtype).name}, got {a.dtype}")
    if ndim >= 0 and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return np.ascontiguousarray(a)


def _int_in(value, str name, lo, hi) -> int:
    v = int(value)
    if v != value or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return v


# ---- kernels ---------------------------------------------------------------------------------

def multiply_by_quantized_multiplier(x, multiplier, shift, rounding=None) -> int:
    """TFLite ``MultiplyByQuantizedMultiplier`` of one int32: ``rounding`` "single"
    (TFLITE_SINGLE_ROUNDING), "double" (gemmlowp) or None for the compiled default."""
    cdef int32_t out = 0
    cdef int32_t xv = _int_in(x, "x", -2**31, 2**31 - 1)
    cdef int32_t mv = _int_in(multiplier, "multiplier", 0, 2**31 - 1)
    cdef int32_t sv = _int_in(shift, "shift", -31, 30)
    cdef sq_status st
    if rounding is None:
        st = sq_multiply_by_quantized_multiplier(xv, mv, sv, &out)
    elif rounding == "single":
        st = sq_mbqm_single_rounding(xv, mv, sv, &out)
    elif rounding == "double":
        st = sq_mbqm_double_rounding(xv, mv, sv, &out)
    else:
        raise ValueError(f"rounding must be 'single', 'double' or None, got {rounding!r}")
    _check(st, "multiply_by_quantized_multiplier")
    return out


def multiply_by_scale(x, scale) -> int:
    """``round(x · scale)`` in double, half away from zero (LiteRT reference requantization)."""
    cdef int32_t out = 0
    cdef int32_t xv = _int_in(x, "x", -2**31, 2**31 - 1)
    cdef double sv = float(scale)
    if not 0.0 <= sv <= 1e30:
        raise ValueError(f"scale must be finite in [0, 1e30], got {scale!r}")
    _check(sq_multiply_by_scale(xv, sv, &out), "multiply_by_scale")
    return out


def requantize(acc, multiplier, shift, output_offset, act_min, act_max) -> int:
    """``clamp(MBQM(acc, multiplier, shift) + output_offset, act_min, act_max)`` as int8."""
    cdef int8_t out = 0
    cdef int32_t a = _int_in(acc, "acc", -2**31, 2**31 - 1)
    cdef int32_t m = _int_in(multiplier, "multiplier", 0, 2**31 - 1)
    cdef int32_t s = _int_in(shift, "shift", -31, 30)
    cdef int32_t o = _int_in(output_offset, "output_offset", -128, 127)
    cdef int32_t lo = _int_in(act_min, "act_min", -128, 127)
    cdef int32_t hi = _int_in(act_max, "act_max", lo, 127)
    _check(sq_requantize(a, m, s, o, lo, hi, &out), "requantize")
    return out


def _layer_arrays(weights, bias, multiplier, shift, scale, str name, bias_dtype,
                  int shift_max, bias_limit=None):
    """The checks an int8 and a 16x8 layer share: (weights int8 [out, in], bias ``bias_dtype``
    [out] or None, multiplier int32 [out] >= 0, shift int32 [out] in [-31, shift_max], scale
    float64 [out] in [0, 1e30] or None), widths in [1, SQ_MAX_LAYER_WIDTH]."""
    w = _array(weights, np.int8, f"{name}.weights", 2)
    out_dim, in_dim = w.shape
    if not 1 <= in_dim <= SQ_MAX_LAYER_WIDTH or not 1 <= out_dim <= SQ_MAX_LAYER_WIDTH:
        raise ValueError(f"{name}.weights shape {w.shape}: widths must lie in "
                         f"[1, SQ_MAX_LAYER_WIDTH={SQ_MAX_LAYER_WIDTH}]")
    b = None if bias is None else _array(bias, bias_dtype, f"{name}.bias", 1, (out_dim,))
    if b is not None and bias_limit is not None and np.abs(b).max() >= bias_limit:
        raise ValueError(f"{name}.bias must lie in (-{bias_limit}, {bias_limit})")
    sc = None if scale is None else _array(scale, np.float64, f"{name}.scale", 1, (out_dim,))
    if sc is not None and not np.all((sc >= 0.0) & (sc <= 1e30)):
        raise ValueError(f"{name}.scale must be finite in [0, 1e30]")
    m = _array(multiplier, np.int32, f"{name}.multiplier", 1, (out_dim,))
    s = _array(shift, np.int32, f"{name}.shift", 1, (out_dim,))
    if m.min() < 0:
        raise ValueError(f"{name}.multiplier must be >= 0, got min {m.min()}")
    if s.min() < -31 or s.max() > shift_max:
        raise ValueError(f"{name}.shift must lie in [-31, {shift_max}], got "
                         f"[{s.min()}, {s.max()}]")
    return w, b, m, s, sc


cdef int _fill_layer(sq_fc_layer *layer, weights, bias, multiplier, shift, params,
                     str name, list keep, scale=None) except -1:
    """Check one layer's arrays and point ``layer`` at them (kept alive in ``keep``)."""
    w, b, m, s, sc = _layer_arrays(weights, bias, multiplier, shift, scale, name, np.int32, 30)
    out_dim, in_dim = w.shape
    p = _array(params, np.int32, f"{name}.params", 1, (4,))
    in_off, out_off, lo, hi = (int(v) for v in p)
    _int_in(in_off, f"{name}.params[0] (input_offset)", -127, 128)
    _int_in(out_off, f"{name}.params[1] (output_offset)", -128, 127)
    _int_in(lo, f"{name}.params[2] (act_min)", -128, 127)
    _int_in(hi, f"{name}.params[3] (act_max)", lo, 127)
    keep.extend((w, b, m, s, p, sc))
    cdef const int8_t[:, ::1] wv = w
    cdef const int32_t[::1] mv = m
    cdef const int32_t[::1] sv = s
    cdef const int32_t[::1] bv
    cdef const double[::1] scv
    layer.weights = &wv[0, 0]
    layer.multiplier = &mv[0]
    layer.shift = &sv[0]
    layer.bias = NULL
    if b is not None:
        bv = b
        layer.bias = &bv[0]
    layer.scale = NULL
    if sc is not None:
        scv = sc
        layer.scale = &scv[0]
    layer.in_dim = in_dim
    layer.out_dim = out_dim
    layer.input_offset = in_off
    layer.output_offset = out_off
    layer.act_min = lo
    layer.act_max = hi
    _check(sq_fc_check(layer), name)
    return 0


def fc_int8(x, weights, bias, multiplier, shift, params, scale=None):
    """One int8 fully connected layer, per-channel requantization (TFLite reference
    ``FullyConnectedPerChannel``).

    ``x`` int8 [in] or [batch, in]; ``weights`` int8 [out, in]; ``bias`` int32 [out] or None;
    ``multiplier``, ``shift`` int32 [out]; ``params`` int32 [4] = (input_offset, output_offset,
    act_min, act_max); ``scale`` float64 [out] or None: requantize as ``round(acc·scale)`` in
    double (the LiteRT reference) instead of with the Q31 multiplier and shift.
    Returns int8 [out] or [batch, out].
    """
    cdef sq_fc_layer layer
    cdef list keep = []
    _fill_layer(&layer, weights, bias, multiplier, shift, params, "fc_int8", keep, scale)
    xa = _array(x, np.int8, "x")
    if xa.ndim not in (1, 2) or xa.shape[xa.ndim - 1] != layer.in_dim:
        raise ValueError(f"x must have shape [{layer.in_dim}] or [batch, {layer.in_dim}], "
                         f"got {xa.shape}")
    x2 = xa.reshape(-1, layer.in_dim)
    y = np.empty((x2.shape[0], layer.out_dim), np.int8)
    cdef const int8_t[:, ::1] xv = x2
    cdef int8_t[:, ::1] yv = y
    cdef Py_ssize_t i, rows = x2.shape[0]
    cdef sq_status st = SQ_OK
    if rows > 0:
        with nogil:
            for i in range(rows):
                st = sq_fc_int8(&layer, &xv[i, 0], &yv[i, 0])
                if st != SQ_OK:
                    break
    _check(st, "fc_int8")
    return y if xa.ndim == 2 else y.reshape(layer.out_dim)


def multiply_by_quantized_multiplier64(x, multiplier, shift) -> int:
    """TFLite ``MultiplyByQuantizedMultiplier`` of one int64 accumulator (the 16x8 kernels'):
    ``(x·m' + 2^(14-shift)) >> (15-shift)`` with the Q15 multiplier ``m'`` (semqam_core.h)."""
    cdef int32_t out = 0
    cdef int64_t xv = _int_in(x, "x", -2**47, 2**47 - 1)
    cdef int32_t mv = _int_in(multiplier, "multiplier", 0, 2**31 - 1)
    cdef int32_t sv = _int_in(shift, "shift", -31, 7)
    _check(sq_mbqm64(xv, mv, sv, &out), "multiply_by_quantized_multiplier64")
    return out


cdef int _fill_layer16(sq_fc16_layer *layer, weights, bias, multiplier, shift, act_range,
                       str name, list keep, scale=None) except -1:
    """Check one 16x8 layer's arrays and point ``layer`` at them (kept alive in ``keep``)."""
    w, b, m, s, sc = _layer_arrays(weights, bias, multiplier, shift, scale, name, np.int64, 7,
                                   2**46)
    out_dim, in_dim = w.shape
    lo = _int_in(act_range[0], f"{name}.act_range[0]", -32768, 32767)
    hi = _int_in(act_range[1], f"{name}.act_range[1]", lo, 32767)
    keep.extend((w, b, m, s, sc))
    cdef const int8_t[:, ::1] wv = w
    cdef const int32_t[::1] mv = m
    cdef const int32_t[::1] sv = s
    cdef const int64_t[::1] bv
    cdef const double[::1] scv
    layer.weights = &wv[0, 0]
    layer.multiplier = &mv[0]
    layer.shift = &sv[0]
    layer.bias = NULL
    if b is not None:
        bv = b
        layer.bias = &bv[0]
    layer.scale = NULL
    if sc is not None:
        scv = sc
        layer.scale = &scv[0]
    layer.in_dim = in_dim
    layer.out_dim = out_dim
    layer.act_min = lo
    layer.act_max = hi
    _check(sq_fc16_check(layer), name)
    return 0


def fc_s16x8(x, weights, bias, multiplier, shift, act_range=(-32768, 32767), scale=None):
    """One 16x8 fully connected layer (int16 activations, zero point 0; int8 per-channel
    weights; int64 bias): ``y[c] = clamp(R(b[c] + Σ_i w[c,i] x_i), lo, hi)``.

    ``x`` int16 [in] or [batch, in]; ``weights`` int8 [out, in]; ``bias`` int64 [out] or None;
    ``multiplier``, ``shift`` int32 [out] (shift in [-31, 7]); ``act_range`` (lo, hi) in int16;
    ``scale`` float64 [out]: requantize as ``round(acc·scale)`` in double (LiteRT's reference
    kernels), or None: TFLite's int64 ``MultiplyByQuantizedMultiplier``. Returns int16.
    """
    cdef sq_fc16_layer layer
    cdef list keep = []
    _fill_layer16(&layer, weights, bias, multiplier, shift, act_range, "fc_s16x8", keep, scale)
    xa = _array(x, np.int16, "x")
    if xa.ndim not in (1, 2) or xa.shape[xa.ndim - 1] != layer.in_dim:
        raise ValueError(f"x must have shape [{layer.in_dim}] or [batch, {layer.in_dim}], "
                         f"got {xa.shape}")
    x2 = xa.reshape(-1, layer.in_dim)
    y = np.empty((x2.shape[0], layer.out_dim), np.int16)
    cdef const int16_t[:, ::1] xv = x2
    cdef int16_t[:, ::1] yv = y
    cdef Py_ssize_t i, rows = x2.shape[0]
    cdef sq_status st = SQ_OK
    if rows > 0:
        with nogil:
            for i in range(rows):
                st = sq_fc_s16x8(&layer, &xv[i, 0], &yv[i, 0])
                if st != SQ_OK:
                    break
    _check(st, "fc_s16x8")
    return y if xa.ndim == 2 else y.reshape(layer.out_dim)


def logistic_lut(x, lut):
    """``y = lut[x + 128]`` for int8 ``x`` of any shape; ``lut`` int8 [256]."""
    xa = _array(x, np.int8, "x")
    la = _array(lut, np.int8, "lut", 1, (256,))
    y = np.empty_like(xa)
    if xa.size == 0:
        return y
    if xa.size > 2**31 - 1:
        raise ValueError(f"x has {xa.size} elements, at most 2**31 - 1 are supported")
    cdef const int8_t[::1] xv = xa.reshape(-1)
    cdef int8_t[::1] yv = y.reshape(-1)
    cdef const int8_t[::1] lv = la
    cdef int32_t n = <int32_t>xa.size
    cdef sq_status st
    with nogil:
        st = sq_logistic_lut(&lv[0], &xv[0], n, &yv[0])
    _check(st, "logistic_lut")
    return y


def input_from_u8(u):
    """``q = u - 128`` (int8) for a uint8 sample."""
    ua = _array(u, np.uint8, "u", 1)
    if not 1 <= ua.shape[0] <= SQ_MAX_LAYER_WIDTH:
        raise ValueError(f"u must have 1..{SQ_MAX_LAYER_WIDTH} bytes, got {ua.shape[0]}")
    q = np.empty(ua.shape[0], np.int8)
    cdef const uint8_t[::1] uv = ua
    cdef int8_t[::1] qv = q
    _check(sq_input_from_u8(&uv[0], <int32_t>ua.shape[0], &qv[0]), "input_from_u8")
    return q


# ---- selection, quantization, mapping --------------------------------------------------------

def top_k(scores, k):
    """Positions (uint16 [K]) of the K largest int8 ``scores`` [N], most important first, ties
    to the lower slot."""
    sa = _array(scores, np.int8, "scores", 1)
    cdef int32_t n = <int32_t>sa.shape[0]
    if not 1 <= n <= SQ_MAX_N:
        raise ValueError(f"scores must have 1..SQ_MAX_N={SQ_MAX_N} slots, got {n}")
    cdef int32_t kk = _int_in(k, "k", 1, n)
    pos = np.empty(kk, np.uint16)
    cdef const int8_t[::1] sv = sa
    cdef uint16_t[::1] pv = pos
    cdef sq_status st
    with nogil:
        st = sq_top_k(&sv[0], n, kk, &pv[0])
    _check(st, "top_k")
    return pos


def _check_nearest_args(z, positions, codebook):
    za = _array(z, np.int8, "z", 2)
    pa = _array(positions, np.uint16, "positions", 1)
    ca = _array(codebook, np.int8, "codebook", 2)
    n, d = za.shape
    if not 1 <= n <= SQ_MAX_N or not 1 <= d <= SQ_MAX_D:
        raise ValueError(f"z shape {za.shape} must lie within [1..{SQ_MAX_N}, 1..{SQ_MAX_D}]")
    if ca.shape[1] != d or not 1 <= ca.shape[0] <= SQ_MAX_M:
        raise ValueError(f"codebook must have shape [1..{SQ_MAX_M}, {d}], got {ca.shape}")
    if not 1 <= pa.shape[0] <= n:
        raise ValueError(f"positions must hold K in [1, {n}] slots, got {pa.shape[0]}")
    if pa.max() >= n:
        raise ValueError(f"positions must lie in [0, {n - 1}], got {int(pa.max())}")
    return za, pa, ca


cdef int64_t _nearest(z, positions, codebook, idx, int64_t repeats, str where) except -1:
    """``repeats`` C nearest-codeword searches into ``idx`` without the GIL; their total ns."""
    cdef const int8_t[:, ::1] zv = z
    cdef const uint16_t[::1] pv = positions
    cdef const int8_t[:, ::1] cv = codebook
    cdef uint16_t[::1] iv = idx
    cdef int32_t n = <int32_t>zv.shape[0], d = <int32_t>zv.shape[1]
    cdef int32_t k = <int32_t>pv.shape[0], m = <int32_t>cv.shape[0]
    cdef sq_status st = SQ_OK
    cdef int64_t i, t0, t1
    with nogil:
        t0 = _now_ns()
        for i in range(repeats):
            st = sq_nearest_codewords(&zv[0, 0], n, d, &pv[0], k, &cv[0, 0], m, &iv[0])
            if st != SQ_OK:
                break
        t1 = _now_ns()
    _check(st, where)
    return t1 - t0


def nearest_codewords(z, positions, codebook):
    """``argmin_m Σ_d (z[p, d] - codebook[m, d])²`` (int32, ties to the lower m) for each
    selected slot ``p`` of ``positions`` only. ``z`` int8 [N, D], ``positions`` uint16 [K],
    ``codebook`` int8 [M, D] -> uint16 [K]."""
    za, pa, ca = _check_nearest_args(z, positions, codebook)
    idx = np.empty(pa.shape[0], np.uint16)
    _nearest(za, pa, ca, idx, 1, "nearest_codewords")
    return idx


def time_nearest_codewords(z, positions, codebook, repeats) -> int:
    """Total ns of ``repeats`` back-to-back C nearest-codeword searches (no Python in the
    loop): the kernel's own cost for benchmarks."""
    za, pa, ca = _check_nearest_args(z, positions, codebook)
    cdef int64_t r = _int_in(repeats, "repeats", 1, 2**31 - 1)
    idx = np.empty(pa.shape[0], np.uint16)
    return _nearest(za, pa, ca, idx, r, "time_nearest_codewords")


def ports() -> dict:
    """Every port by name: ``None`` if this CPU runs it, else why not (``sq_port_available``)."""
    cdef const char *why = NULL
    out = {}
    for p in range(SQ_PORT_COUNT):
        why = NULL
        ok = sq_port_available(p, &why) == SQ_OK
        out[sq_port_name(p).decode()] = None if ok else (why.decode() if why != NULL else "?")
    return out


def active_port() -> str:
    """The port the kernels use now."""
    return sq_port_name(sq_port_active()).decode()


def select_port(str name) -> str:
    """Use the port ``name`` process-wide from now on (benchmarks, tests); returns the previous
    one. ``ValueError`` naming the reason if this CPU does not run it."""
    avail = ports()
    if name not in avail:
        raise ValueError(f"port {name!r}; choose one of {sorted(avail)}")
    if avail[name] is not None:
        raise ValueError(f"port {name!r} is unavailable here: {avail[name]}")
    before = active_port()
    _check(sq_port_select(list(avail).index(name)), "select_port")
    return before


def map_symbols(indices, table):
    """``iq[j] = table[indices[j]]``: int16 [K, 2] Q-format I/Q from ``table`` int16 [M, 2]."""
    ia = _array(indices, np.uint16, "indices", 1)
    ta = _array(table, np.int16, "table", 2)
    if ta.shape[1] != 2 or not 1 <= ta.shape[0] <= SQ_MAX_M:
        raise ValueError(f"table must have shape [1..{SQ_MAX_M}, 2], got {ta.shape}")
    if not 1 <= ia.shape[0] <= SQ_MAX_N:
        raise ValueError(f"indices must hold 1..{SQ_MAX_N} entries, got {ia.shape[0]}")
    if ia.max() >= ta.shape[0]:
        raise ValueError(f"indices must lie in [0, {ta.shape[0] - 1}], got {int(ia.max())}")
    iq = np.empty((ia.shape[0], 2), np.int16)
    cdef const uint16_t[::1] iv = ia
    cdef const int16_t[:, ::1] tv = ta
    cdef int16_t[:, ::1] ov = iq
    _check(sq_map_symbols(&iv[0], <int32_t>ia.shape[0], &tv[0, 0], <int32_t>ta.shape[0],
                          &ov[0, 0]), "map_symbols")
    return iq


def policy_k(policy, snr_min_cdb, step_cdb, snr_cdb, n_concepts) -> int:
    """K from the rate policy table (docs/bundle.md step 5): entry
    ``i = clamp(floor((snr_cdb - snr_min_cdb + step_cdb // 2 - 1) / step_cdb), 0, L - 1)``."""
    pa = _array(policy, np.uint16, "policy", 1)
    if not 1 <= pa.shape[0] <= SQ_MAX_POLICY_LEN:
        raise ValueError(f"policy must have 1..{SQ_MAX_POLICY_LEN} entries, got {pa.shape[0]}")
    cdef sq_policy p
    cdef const uint16_t[::1] pv = pa
    cdef uint16_t k = 0
    cdef int32_t n = _int_in(n_concepts, "n_concepts", 1, SQ_MAX_N)
    cdef int16_t snr = _int_in(snr_cdb, "snr_cdb (centi-dB, int16)", -32768, 32767)
    p.k = &pv[0]
    p.len = <int32_t>pa.shape[0]
    p.snr_min_cdb = _int_in(snr_min_cdb, "snr_min_cdb", -2**31, 2**31 - 1)
    p.step_cdb = _int_in(step_cdb, "step_cdb", 1, 2**31 - 1)
    cdef sq_status st = sq_policy_k(&p, snr, n, &k)
    if st == SQ_ERR_K_RANGE:
        raise ValueError(f"policy entry for snr_cdb={snr_cdb} is outside [1, {n}] "
                         "(K must lie in [1, N]); export the bundle again")
    _check(st, "policy_k")
    return k


def position_bitmap(positions, n_concepts) -> bytes:
    """Positional-ID bitmap of the selected slots: bit ``p & 7`` of byte ``p >> 3`` (LSB
    first), ``ceil(N / 8)`` bytes."""
    pa = _array(positions, np.uint16, "positions", 1)
    cdef int32_t n = _int_in(n_concepts, "n_concepts", 1, SQ_MAX_N)
    if not 1 <= pa.shape[0] <= n:
        raise ValueError(f"positions must hold K in [1, {n}] slots, got {pa.shape[0]}")
    if pa.max() >= n:
        raise ValueError(f"positions must lie in [0, {n - 1}], got {int(pa.max())}")
    if np.unique(pa).shape[0] != pa.shape[0]:
        raise ValueError("positions must not repeat")
    out = bytearray((n + 7) // 8)
    cdef uint8_t[::1] ov = out
    cdef const uint16_t[::1] pv = pa
    _check(sq_position_bitmap(&pv[0], <int32_t>pa.shape[0], n, &ov[0], <int32_t>len(out)),
           "position_bitmap")
    return bytes(out)


def bitmap_positions(bitmap, n_concepts):
    """The slots set in a positional-ID bitmap, ascending (uint16 [K])."""
    cdef int32_t n = _int_in(n_concepts, "n_concepts", 1, SQ_MAX_N)
    cdef const uint8_t[::1] bv = bytes(bitmap)
    if bv.shape[0] < (n + 7) // 8:
        raise ValueError(f"bitmap must have at least {(n + 7) // 8} bytes for N={n}, "
                         f"got {bv.shape[0]}")
    pos = np.empty(n, np.uint16)
    cdef uint16_t[::1] pv = pos
    cdef int32_t k = 0
    _check(sq_bitmap_positions(&bv[0], <int32_t>bv.shape[0], n, &pv[0], n, &k),
           "bitmap_positions")
    return pos[:k].copy()


# ---- the whole per-sample path ---------------------------------------------------------------

RANK_BY = ("sci_logit", "sci")


def _graph_layers(arrays, meta, use_scale):
    """The three chains of a node model: ``[(first, count)]`` per chain (trunk, z head, SCI
    head) and one ``(name, weights, bias, multiplier, shift, params, scale)`` per layer in that
    order (bias / scale None when absent or, for the scale, not used)."""
    chains, layers = [], []
    for chain in ("trunk", "z_head", "sci_head"):
        names = list(meta.get(chain) or [])
        if len(names) > SQ_MAX_CHAIN_LAYERS:
            raise ValueError(f"meta.{chain} has {len(names)} layers, at most "
                             f"SQ_MAX_CHAIN_LAYERS={SQ_MAX_CHAIN_LAYERS} are compiled in")
        chains.append((len(layers), len(names)))
        for name in names:
            try:
                w, m, s, p = (arrays[f"{name}.{key}"]
                              for key in ("weights", "multiplier", "shift", "params"))
            except KeyError as e:
                raise ValueError(f"node model has no array {e.args[0]!r}") from None
            b = arrays[f"{name}.bias"] if f"{name}.bias" in arrays else None
            sc = arrays[f"{name}.scale"] if use_scale and f"{name}.scale" in arrays else None
            layers.append((name, w, b, m, s, p, sc))
    return chains, layers


cdef class CoreModel:
    """The node graph of one ``node_model.npz`` with its codebook and one constellation table,
    and preallocated scratch: the per-sample C path allocates nothing.

    Parameters
    ----------
    arrays : mapping name -> ndarray, the ``node_model.npz`` entries (``L.weights`` ...,
        ``logistic_lut``, ``codebook_int8``).
    meta : the parsed ``meta`` JSON (``trunk``, ``z_head``, ``sci_head``, dims, ``sci_logistic``,
        ``rank_by``: "sci_logit" (top-K on the SCI logit) or "sci"; absent means "sci").
    constellation : int16 [M, 2] Q-format I/Q table, row = concept index.
    use_scale : requantize with the layers' double ``L.scale`` (bit-exact with LiteRT's
        reference kernels) when present; False forces the integer Q31 path (what an MCU without
        a double FPU runs).

    Not thread-safe: one scratch area per instance.
    """

    cdef sq_fc_layer _layers[3 * SQ_MAX_CHAIN_LAYERS]
    cdef sq_graph _graph
    # validated once at load: the per-sample path checks only its own arguments
    cdef sq_graph_prepared _prepared
    cdef sq_codebook _book
    cdef list _keep
    cdef object _scratch, _q, _z, _l, _s, _codebook, _table, _lut, _norms, _packed
    # raw pointers into the arrays above (kept alive by them) for the hot path
    cdef int8_t *_scratch_p
    cdef int8_t *_q_p
    cdef int8_t *_z_p
    cdef int8_t *_l_p
    cdef int8_t *_s_p
    cdef const int8_t *_codebook_p
    cdef const int16_t *_table_p
    cdef readonly int n_concepts, latent_dim, order, input_size, scratch_bytes, packed_bytes
    cdef readonly str rank_by, requantization

    def __init__(self, arrays, meta, constellation, use_scale=True):
        self._keep = []
        chains, layers = _graph_layers(arrays, meta, use_scale)
        scaled = [sc is not None for *_, sc in layers]
        cdef int j
        for j, (name, w, b, m, s, p, sc) in enumerate(layers):
            _fill_layer(&self._layers[j], w, b, m, s, p, name, self._keep, sc)
        n = _int_in(meta["n_concepts"], "n_concepts", 1, SQ_MAX_N)
        d = _int_in(meta["latent_dim"], "latent_dim", 1, SQ_MAX_D)
        size = _int_in(meta["input_size"], "input_size", 1, SQ_MAX_LAYER_WIDTH)
        rank_by = meta.get("rank_by", "sci")
        if rank_by not in RANK_BY:
            raise ValueError(f"meta.rank_by must be one of {RANK_BY}, got {rank_by!r}")
        self._graph.trunk = &self._layers[chains[0][0]]
        self._graph.n_trunk = chains[0][1]
        self._graph.z_head = &self._layers[chains[1][0]]
        self._graph.n_z = chains[1][1]
        self._graph.sci_head = &self._layers[chains[2][0]]
        self._graph.n_sci = chains[2][1]
        self._graph.input_size = size
        self._graph.n_concepts = n
        self._graph.latent_dim = d
        self._graph.rank_by_sci = 1 if rank_by == "sci" else 0
        self._graph.logistic_lut = NULL
        cdef const int8_t[::1] lutv
        if meta.get("sci_logistic"):
            if "logistic_lut" not in arrays:
                raise ValueError("meta.sci_logistic is true but there is no 'logistic_lut'")
            self._lut = _array(arrays["logistic_lut"], np.int8, "logistic_lut", 1, (256,))
            lutv = self._lut
            self._graph.logistic_lut = &lutv[0]
        cdef int32_t need = 0
        _check(sq_graph_check(&self._graph, &need), "node graph")
        if "codebook_int8" not in arrays:
            raise ValueError("node model has no array 'codebook_int8'")
        self._codebook = _array(arrays["codebook_int8"], np.int8, "codebook_int8", 2)
        m_order = self._codebook.shape[0]
        if self._codebook.shape[1] != d or not 1 <= m_order <= SQ_MAX_M:
            raise ValueError(f"codebook_int8 must have shape [1..SQ_MAX_M={SQ_MAX_M}, {d}], "
                             f"got {self._codebook.shape}")
        self._table = _array(constellation, np.int16, "constellation", 2, (m_order, 2))
        self.n_concepts, self.latent_dim, self.order, self.input_size = n, d, m_order, size
        self.rank_by = rank_by
        if scaled and all(scaled):
            self.requantization = "double-scale"
        elif not any(scaled):
            self.requantization = "q31-" + SQ_ROUNDING_NAME.decode()
        else:
            self.requantization = "mixed"
        self.scratch_bytes = need
        self._scratch = np.zeros(max(need, 1), np.int8)
        self._q = np.zeros(size, np.int8)
        self._z = np.zeros(n * d, np.int8)
        self._l = np.zeros(n, np.int8)
        self._s = np.zeros(n, np.int8)
        cdef int8_t[::1] v
        v = self._scratch
        self._scratch_p = &v[0]
        v = self._q
        self._q_p = &v[0]
        v = self._z
        self._z_p = &v[0]
        v = self._l
        self._l_p = &v[0]
        v = self._s
        self._s_p = &v[0]
        cdef const int8_t[:, ::1] cbv = self._codebook
        self._codebook_p = &cbv[0, 0]
        _check(sq_graph_prepare(&self._graph, &self._prepared), "node graph")
        # weights repacked once for the active port's packed FC kernel (AVX-512 VNNI), if any
        self.packed_bytes = sq_graph_packed_bytes(&self._prepared)
        self._packed = np.zeros(max(self.packed_bytes, 1), np.int8)
        cdef int8_t[::1] pkv = self._packed
        _check(sq_graph_pack(&self._prepared, &pkv[0], self.packed_bytes), "node graph")
        self._norms = np.zeros(m_order, np.int32)
        cdef int32_t[::1] normsv = self._norms
        _check(sq_codebook_prepare(self._codebook_p, m_order, d, &normsv[0], m_order,
                                   &self._book), "codebook_int8")
        cdef const int16_t[:, ::1] tv = self._table
        self._table_p = &tv[0, 0]

    @property
    def port(self) -> str:
        """The C kernels in use: ``reference`` (portable C99) or a SIMD port chosen by CPU
        feature (``x86_avx2``, ``x86_avx512_vnni``, ``aarch64_neon``, ``aarch64_dotprod``)."""
        return sq_port_name(sq_port_active()).decode()

    def _check_k(self, k) -> int:
        return _int_in(k, "k", 1, self.n_concepts)

    def neural(self, q):
        """Run the graph on int8 ``q`` [input_size] -> (z_q int8 [N, D], l_q int8 [N] the SCI
        logit, s_q int8 [N] the SCI after the logistic LUT)."""
        qa = _array(q, np.int8, "q")
        if qa.size != self.input_size:
            raise ValueError(f"q must hold input_size = {self.input_size} values, "
                             f"got shape {qa.shape}")
        qa = qa.reshape(-1)
        z = np.empty((self.n_concepts, self.latent_dim), np.int8)
        logit = np.empty(self.n_concepts, np.int8)
        s = np.empty(self.n_concepts, np.int8)
        cdef const int8_t[::1] qv = qa
        cdef int8_t[:, ::1] zv = z
        cdef int8_t[::1] lv = logit
        cdef int8_t[::1] sv = s
        cdef int32_t nbytes = self.scratch_bytes
        cdef sq_status st
        with nogil:
            st = sq_graph_run_prepared(&self._prepared, &qv[0], self._scratch_p, nbytes,
                                       &zv[0, 0], &lv[0], &sv[0])
        _check(st, "neural")
        return z, logit, s

    cdef sq_status _select_map(self, const int8_t *rank, const int8_t *z, int32_t k,
                               uint16_t *positions, uint16_t *indices, int16_t *iq,
                               int64_t *t) noexcept nogil:
        """Top-K on ``rank``, nearest codeword of the K slots, I/Q map; ``t[1..3]`` get the
        clock after each stage (``t[0]`` is the caller's start)."""
        cdef sq_status st = sq_top_k(rank, self.n_concepts, k, positions)
        t[1] = _now_ns()
        if st == SQ_OK:
            st = sq_nearest_codewords_prepared(&self._book, z, self.n_concepts, positions, k,
                                               indices)
        t[2] = _now_ns()
        if st == SQ_OK:
            st = sq_map_symbols(indices, k, self._table_p, self.order, iq)
        t[3] = _now_ns()
        return st

    def encode_sample(self, const uint8_t[::1] u, int k):
        """The whole C path for one uint8 sample ``u`` [input_size]:
        ``q = u - 128`` -> graph -> top-K on ``rank_by`` -> nearest codeword -> I/Q.

        Returns ``(positions uint16 [K], indices uint16 [K], iq int16 [K, 2],
        (neural_ns, select_ns, quantize_ns, map_ns))`` timed with CLOCK_MONOTONIC.
        """
        if u.shape[0] != self.input_size:
            raise ValueError(f"sample must have {self.input_size} bytes, got {u.shape[0]}")
        positions, indices, iq = self._outputs(k)
        cdef uint16_t[::1] pv = positions
        cdef uint16_t[::1] iv = indices
        cdef int16_t[:, ::1] ov = iq
        cdef int8_t *logit = self._l_p
        cdef int8_t *s = self._s_p if self._graph.rank_by_sci else NULL
        cdef const int8_t *rank = s if self._graph.rank_by_sci else logit
        cdef int32_t size = self.input_size, nbytes = self.scratch_bytes
        cdef int64_t t0
        cdef int64_t t[4]
        cdef sq_status st
        with nogil:
            t0 = _now_ns()
            st = sq_input_from_u8(&u[0], size, self._q_p)
            if st == SQ_OK:
                st = sq_graph_run_prepared(&self._prepared, self._q_p, self._scratch_p, nbytes,
                                           self._z_p, logit, s)
            t[0] = _now_ns()
            if st == SQ_OK:
                st = self._select_map(rank, self._z_p, k, &pv[0], &iv[0], &ov[0, 0], t)
            else:
                t[1] = t[2] = t[3] = _now_ns()
        _check(st, "encode_sample")
        return positions, indices, iq, (t[0] - t0, t[1] - t[0], t[2] - t[1], t[3] - t[2])

    def encode_neural(self, z, scores, int k):
        """Select, quantize and map from graph outputs computed elsewhere (the LiteRT
        backend): ``z`` int8 [N, D] (or [N·D]), ``scores`` int8 [N] to rank on (the SCI logit
        for ``rank_by="sci_logit"``).

        Returns ``(positions, indices, iq, (select_ns, quantize_ns, map_ns))``.
        """
        za = _array(z, np.int8, "z")
        if za.size != self.n_concepts * self.latent_dim:
            raise ValueError(f"z must hold N*D = {self.n_concepts * self.latent_dim} values, "
                             f"got shape {za.shape}")
        sa = _array(scores, np.int8, "scores")
        if sa.size != self.n_concepts:
            raise ValueError(f"scores must hold N = {self.n_concepts} values, "
                             f"got shape {sa.shape}")
        positions, indices, iq = self._outputs(k)
        cdef const int8_t[::1] zv = za.reshape(-1)
        cdef const int8_t[::1] sv = sa.reshape(-1)
        cdef uint16_t[::1] pv = positions
        cdef uint16_t[::1] iv = indices
        cdef int16_t[:, ::1] ov = iq
        cdef int64_t t[4]
        cdef sq_status st
        with nogil:
            t[0] = _now_ns()
            st = self._select_map(&sv[0], &zv[0], k, &pv[0], &iv[0], &ov[0, 0], t)
        _check(st, "encode_neural")
        return positions, indices, iq, (t[1] - t[0], t[2] - t[1], t[3] - t[2])

    def _outputs(self, k):
        """Checked K and fresh (positions uint16 [K], indices uint16 [K], iq int16 [K, 2])."""
        self._check_k(k)
        return np.empty(k, np.uint16), np.empty(k, np.uint16), np.empty((k, 2), np.int16)


# ---- 16x8 (csrc/sq_graph16.c) -----------------------------------------------------------------

def top_k16(scores, k):
    """The ``k`` slots with the largest int16 ``scores`` [N], most important first, ties to the
    lower slot (uint16 [k])."""
    sa = _array(scores, np.int16, "scores", 1)
    if not 1 <= sa.shape[0] <= SQ_MAX_N:
        raise ValueError(f"scores must hold 1..SQ_MAX_N={SQ_MAX_N} values, got {sa.shape[0]}")
    kk = _int_in(k, "k", 1, sa.shape[0])
    out = np.empty(kk, np.uint16)
    cdef const int16_t[::1] sv = sa
    cdef uint16_t[::1] ov = out
    _check(sq_top_k16(&sv[0], <int32_t>sa.shape[0], kk, &ov[0]), "top_k16")
    return out


def time_nearest_codewords16(z, positions, codebook, repeats) -> int:
    """Total ns of ``repeats`` back-to-back 16x8 nearest-codeword searches (no Python in the
    loop; the norms computed per call as in :func:`nearest_codewords16`)."""
    za = _array(z, np.int16, "z", 2)
    pa = _array(positions, np.uint16, "positions", 1)
    ca = _array(codebook, np.int16, "codebook", 2)
    nearest_codewords16(za, pa, ca)  # the argument checks, once
    cdef int64_t r = _int_in(repeats, "repeats", 1, 2**31 - 1)
    out = np.empty(pa.shape[0], np.uint16)
    cdef const int16_t[:, ::1] zv = za
    cdef const uint16_t[::1] pv = pa
    cdef const int16_t[:, ::1] cv = ca
    cdef uint16_t[::1] ov = out
    cdef int32_t n = <int32_t>za.shape[0], d = <int32_t>za.shape[1]
    cdef int32_t k = <int32_t>pa.shape[0], m = <int32_t>ca.shape[0]
    cdef sq_status st = SQ_OK
    cdef int64_t i, t0, t1
    with nogil:
        t0 = _now_ns()
        for i in range(r):
            st = sq_nearest_codewords16(&zv[0, 0], n, d, &pv[0], k, &cv[0, 0], m, &ov[0])
            if st != SQ_OK:
                break
        t1 = _now_ns()
    _check(st, "time_nearest_codewords16")
    return t1 - t0


def nearest_codewords16(z, positions, codebook):
    """For each selected slot: the index of the nearest int16 codeword (squared distance in
    int64, ties to the lower index). ``z`` int16 [N, D], ``positions`` uint16 [K],
    ``codebook`` int16 [M, D]. Returns uint16 [K]."""
    za = _array(z, np.int16, "z", 2)
    pa = _array(positions, np.uint16, "positions", 1)
    ca = _array(codebook, np.int16, "codebook", 2)
    n, d = za.shape
    if ca.shape[1] != d:
        raise ValueError(f"codebook must have D = {d} columns, got {ca.shape}")
    if not 1 <= pa.shape[0] <= n:
        raise ValueError(f"positions must hold 1..N = {n} slots, got {pa.shape[0]}")
    if pa.max() >= n:
        raise ValueError(f"positions must lie in [0, {n}), got max {pa.max()}")
    out = np.empty(pa.shape[0], np.uint16)
    cdef const int16_t[:, ::1] zv = za
    cdef const uint16_t[::1] pv = pa
    cdef const int16_t[:, ::1] cv = ca
    cdef uint16_t[::1] ov = out
    _check(sq_nearest_codewords16(&zv[0, 0], <int32_t>n, <int32_t>d, &pv[0],
                                  <int32_t>pa.shape[0], &cv[0, 0], <int32_t>ca.shape[0],
                                  &ov[0]), "nearest_codewords16")
    return out


cdef class CoreModel16:
    """The 16x8 node graph of one node model (``meta.activations == "int16"``) with its int16
    codebook and one constellation table, and preallocated scratch.

    ``arrays``: per layer ``L.weights`` int8, ``L.bias`` int64, ``L.multiplier``, ``L.shift``,
    ``L.params`` int32 [4] = (0, 0, act_min, act_max) (zero points are 0 in 16x8), optional
    ``L.scale``; ``input_lut`` int16 [256]; ``codebook_int16`` [M, D]. ``use_scale`` as for
    :class:`CoreModel`. Not thread-safe: one scratch area per instance.
    """

    cdef sq_fc16_layer _layers[3 * SQ_MAX_CHAIN_LAYERS]
    cdef sq_graph16 _graph
    cdef sq_graph16_prepared _prepared
    cdef sq_codebook16 _book
    cdef list _keep
    cdef object _scratch, _lut, _codebook, _norms, _table, _z, _l
    cdef int16_t *_scratch_p
    cdef int16_t *_z_p
    cdef int16_t *_l_p
    cdef const int16_t *_table_p
    cdef readonly int n_concepts, latent_dim, order, input_size, scratch_elems, scratch_bytes
    cdef readonly str rank_by, requantization

    def __init__(self, arrays, meta, constellation, use_scale=True):
        self._keep = []
        chains, layers = _graph_layers(arrays, meta, use_scale)
        scaled = [sc is not None for *_, sc in layers]
        cdef int j
        for j, (name, w, b, m, s, p, sc) in enumerate(layers):
            p = _array(p, np.int32, f"{name}.params", 1, (4,))
            if p[0] != 0 or p[1] != 0:
                raise ValueError(f"{name}.params: 16x8 zero points must be 0, got "
                                 f"{p[0]}, {p[1]}")
            _fill_layer16(&self._layers[j], w, b, m, s, (p[2], p[3]), name, self._keep, sc)
        n = _int_in(meta["n_concepts"], "n_concepts", 1, SQ_MAX_N)
        d = _int_in(meta["latent_dim"], "latent_dim", 1, SQ_MAX_D)
        size = _int_in(meta["input_size"], "input_size", 1, SQ_MAX_LAYER_WIDTH)
        if meta.get("rank_by", "sci_logit") != "sci_logit":
            raise ValueError("16x8 node models rank on the SCI logit (meta.rank_by "
                             f"'sci_logit'), got {meta.get('rank_by')!r}")
        if "input_lut" not in arrays:
            raise ValueError("node model has no array 'input_lut'")
        self._lut = _array(arrays["input_lut"], np.int16, "input_lut", 1, (256,))
        cdef const int16_t[::1] lutv = self._lut
        self._graph.trunk = &self._layers[chains[0][0]]
        self._graph.n_trunk = chains[0][1]
        self._graph.z_head = &self._layers[chains[1][0]]
        self._graph.n_z = chains[1][1]
        self._graph.sci_head = &self._layers[chains[2][0]]
        self._graph.n_sci = chains[2][1]
        self._graph.input_lut = &lutv[0]
        self._graph.input_size = size
        self._graph.n_concepts = n
        self._graph.latent_dim = d
        _check(sq_graph16_prepare(&self._graph, &self._prepared), "node graph")
        if "codebook_int16" not in arrays:
            raise ValueError("node model has no array 'codebook_int16'")
        self._codebook = _array(arrays["codebook_int16"], np.int16, "codebook_int16", 2)
        m_order = self._codebook.shape[0]
        if self._codebook.shape[1] != d or not 1 <= m_order <= SQ_MAX_M:
            raise ValueError(f"codebook_int16 must have shape [1..SQ_MAX_M={SQ_MAX_M}, {d}], "
                             f"got {self._codebook.shape}")
        self._table = _array(constellation, np.int16, "constellation", 2, (m_order, 2))
        self.n_concepts, self.latent_dim, self.order, self.input_size = n, d, m_order, size
        self.rank_by = "sci_logit"
        self.requantization = ("double-scale" if scaled and all(scaled) else
                               "q64" if not any(scaled) else "mixed")
        self.scratch_elems = self._prepared.encode_scratch
        self.scratch_bytes = 2 * self.scratch_elems
        self._scratch = np.zeros(self.scratch_elems, np.int16)
        self._z = np.zeros(n * d, np.int16)
        self._l = np.zeros(n, np.int16)
        cdef int16_t[::1] v = self._scratch
        self._scratch_p = &v[0]
        v = self._z
        self._z_p = &v[0]
        v = self._l
        self._l_p = &v[0]
        cdef const int16_t[:, ::1] cbv = self._codebook
        self._norms = np.zeros(m_order, np.int64)  # ||e||^2 once, not per sample
        cdef int64_t[::1] normsv = self._norms
        _check(sq_codebook16_prepare(&cbv[0, 0], m_order, d, &normsv[0], m_order, &self._book),
               "codebook_int16")
        cdef const int16_t[:, ::1] tv = self._table
        self._table_p = &tv[0, 0]

    @property
    def port(self) -> str:
        """The C kernels in use: ``reference`` (portable C99) or the SIMD port chosen by CPU
        feature (its 16x8 FC and codeword search; the same integers)."""
        return sq_port_name(sq_port_active()).decode()

    def _u8(self, u):
        ua = _array(u, np.uint8, "u")
        if ua.size != self.input_size:
            raise ValueError(f"sample must have {self.input_size} bytes, got {ua.size}")
        return ua.reshape(-1)

    def neural(self, u):
        """The graph on raw bytes ``u`` -> (z int16 [N, D], SCI logit int16 [N])."""
        ua = self._u8(u)
        z = np.empty((self.n_concepts, self.latent_dim), np.int16)
        logit = np.empty(self.n_concepts, np.int16)
        cdef const uint8_t[::1] uv = ua
        cdef int16_t[:, ::1] zv = z
        cdef int16_t[::1] lv = logit
        cdef sq_status st
        with nogil:
            st = sq_graph16_run_prepared(&self._prepared, &uv[0], self._scratch_p,
                                         self._prepared.run_scratch, &zv[0, 0], &lv[0])
        _check(st, "neural")
        return z, logit

    cdef sq_status _select_map(self, const int16_t *rank, const int16_t *z, int32_t k,
                               uint16_t *positions, uint16_t *indices, int16_t *iq,
                               int64_t *t) noexcept nogil:
        cdef sq_status st = sq_top_k16(rank, self.n_concepts, k, positions)
        t[1] = _now_ns()
        if st == SQ_OK:
            st = sq_nearest_codewords16_prepared(&self._book, z, self.n_concepts, positions, k,
                                                 indices)
        t[2] = _now_ns()
        if st == SQ_OK:
            st = sq_map_symbols(indices, k, self._table_p, self.order, iq)
        t[3] = _now_ns()
        return st

    def encode_sample(self, const uint8_t[::1] u, int k):
        """The whole 16x8 C path for one sample: ``(positions, indices, iq, (neural_ns,
        select_ns, quantize_ns, map_ns))``, as :meth:`CoreModel.encode_sample`."""
        if u.shape[0] != self.input_size:
            raise ValueError(f"sample must have {self.input_size} bytes, got {u.shape[0]}")
        _int_in(k, "k", 1, self.n_concepts)
        positions, indices = np.empty(k, np.uint16), np.empty(k, np.uint16)
        iq = np.empty((k, 2), np.int16)
        cdef uint16_t[::1] pv = positions
        cdef uint16_t[::1] iv = indices
        cdef int16_t[:, ::1] ov = iq
        cdef int64_t t0
        cdef int64_t t[4]
        cdef sq_status st
        with nogil:
            t0 = _now_ns()
            st = sq_graph16_run_prepared(&self._prepared, &u[0], self._scratch_p,
                                         self._prepared.run_scratch, self._z_p, self._l_p)
            t[0] = _now_ns()
            if st == SQ_OK:
                st = self._select_map(self._l_p, self._z_p, k, &pv[0], &iv[0], &ov[0, 0], t)
            else:
                t[1] = t[2] = t[3] = _now_ns()
        _check(st, "encode_sample")
        return positions, indices, iq, (t[0] - t0, t[1] - t[0], t[2] - t[1], t[3] - t[2])

    def encode_neural(self, z, scores, int k):
        """Select, quantize and map from int16 graph outputs computed elsewhere (the LiteRT
        backend): ``z`` int16 [N, D], ``scores`` int16 [N] (the SCI logit). Returns
        ``(positions, indices, iq, (select_ns, quantize_ns, map_ns))``."""
        za = _array(z, np.int16, "z")
        if za.size != self.n_concepts * self.latent_dim:
            raise ValueError(f"z must hold N*D = {self.n_concepts * self.latent_dim} values, "
                             f"got shape {za.shape}")
        sa = _array(scores, np.int16, "scores")
        if sa.size != self.n_concepts:
            raise ValueError(f"scores must hold N = {self.n_concepts} values, "
                             f"got shape {sa.shape}")
        _int_in(k, "k", 1, self.n_concepts)
        positions, indices = np.empty(k, np.uint16), np.empty(k, np.uint16)
        iq = np.empty((k, 2), np.int16)
        cdef const int16_t[::1] zv = za.reshape(-1)
        cdef const int16_t[::1] sv = sa.reshape(-1)
        cdef uint16_t[::1] pv = positions
        cdef uint16_t[::1] iv = indices
        cdef int16_t[:, ::1] ov = iq
        cdef int64_t t[4]
        cdef sq_status st
        with nogil:
            t[0] = _now_ns()
            st = self._select_map(&sv[0], &zv[0], k, &pv[0], &iv[0], &ov[0, 0], t)
        _check(st, "encode_neural")
        return positions, indices, iq, (t[1] - t[0], t[2] - t[1], t[3] - t[2])

    def encode_one_call(self, u, int k):
        """``sq_encode16_prepared``: the same path as one C call (what firmware would run);
        returns ``(positions, indices, iq)``."""
        ua = self._u8(u)
        _int_in(k, "k", 1, self.n_concepts)
        positions, indices = np.empty(k, np.uint16), np.empty(k, np.uint16)
        iq = np.empty((k, 2), np.int16)
        cdef const uint8_t[::1] uv = ua
        cdef uint16_t[::1] pv = positions
        cdef uint16_t[::1] iv = indices
        cdef int16_t[:, ::1] ov = iq
        _check(sq_encode16_prepared(&self._prepared, &self._book, self._table_p, &uv[0], k,
                                    self._scratch_p, self.scratch_elems, &pv[0], &iv[0],
                                    &ov[0, 0]),
               "encode_one_call")
        return positions, indices, iq


# ---- link framing (csrc/link/sq_link.c: the same C the MCU firmware runs) --------------------
# docs/protocol.md section 1: a frame is COBS(header | payload | crc32) 0x00. The Python
# implementation in semqam_node.protocol.framing is the reference the tests compare against.

from cpython.bytes cimport PyBytes_FromStringAndSize

LINK_MAX_PAYLOAD = SQL_MAX_PAYLOAD


def link_crc32(const uint8_t[::1] data) -> int:
    """CRC-32/IEEE 802.3 of ``data`` (= ``zlib.crc32``), computed by ``sql_crc32``."""
    if data.shape[0] == 0:
        return 0
    return sql_crc32(&data[0], data.shape[0])


def link_cobs_encode(const uint8_t[::1] data) -> bytes:
    """Minimal COBS encoding of ``data`` (no delimiter), by ``sql_cobs_encode``."""
    cdef int32_t n = data.shape[0], out_len = 0
    out = PyBytes_FromStringAndSize(NULL, n + n // 254 + 1)
    cdef uint8_t *op = <uint8_t *><char *>out
    _link_check(sql_cobs_encode(&data[0] if n else NULL, n, op, n + n // 254 + 1, &out_len),
                "cobs_encode")
    return out[:out_len]


def link_cobs_decode(const uint8_t[::1] data):
    """COBS-decode one frame without its delimiter; ``None`` when it is malformed."""
    cdef int32_t n = data.shape[0], out_len = 0
    out = PyBytes_FromStringAndSize(NULL, max(n, 1))
    cdef uint8_t *op = <uint8_t *><char *>out
    cdef sql_status st = sql_cobs_decode(&data[0] if n else NULL, n, op, max(n, 1), &out_len)
    if st == SQL_ERR_COBS:
        return None
    _link_check(st, "cobs_decode")
    return out[:out_len]


cdef int _link_check(sql_status st, str where) except -1:
    if st != SQL_OK:
        raise ValueError(f"{where}: sq_link status {st}")
    return 0


def link_encode_frame(int msg_type, int seq, const uint8_t[::1] payload=b"",
                      int version=1) -> bytes:
    """The wire bytes of one frame, delimiter included (``sql_frame_encode``)."""
    cdef int32_t n = payload.shape[0], out_len = 0
    if n > SQL_MAX_PAYLOAD:
        raise ValueError(f"payload of {n} bytes exceeds MAX_PAYLOAD {SQL_MAX_PAYLOAD}")
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq {seq} outside 0..65535")
    if not 0 <= msg_type <= 0xFF or not 0 <= version <= 0xFF:
        raise ValueError(f"message type {msg_type} and version {version} must be in 0..255")
    cdef uint8_t raw[SQL_MAX_RAW]
    cdef uint8_t out[SQL_MAX_WIRE]
    _link_check(sql_frame_encode(<uint8_t>version, <uint8_t>msg_type, <uint16_t>seq,
                                 &payload[0] if n else NULL, n, raw, SQL_MAX_RAW, out,
                                 SQL_MAX_WIRE, &out_len), "encode_frame")
    return PyBytes_FromStringAndSize(<char *>out, out_len)


cdef class LinkDecoder:
    """The streaming frame decoder of ``sq_link`` (``sql_decoder_feed_buf``) with the API of
    ``semqam_node.protocol.framing.FrameDecoder``: :meth:`feed` returns the frames completed,
    as ``frame_type(type, seq, payload, version, decode_ns)`` and
    ``rejected_type(kind, seq, type, size)`` objects (the caller's classes), and the counters.

    ``decode_ns`` of a frame is the time from the start of :meth:`feed` (or the previous item)
    to its end: buffering, COBS and CRC-32 of that frame.
    """

    cdef sql_decoder _dec
    cdef object _frame_type, _rejected_type

    def __init__(self, int max_payload=SQL_MAX_PAYLOAD, frame_type=tuple,
                 rejected_type=tuple):
        if not 0 <= max_payload <= SQL_MAX_PAYLOAD:
            raise ValueError(f"max_payload {max_payload} outside 0..{SQL_MAX_PAYLOAD}")
        _link_check(sql_decoder_init(&self._dec, max_payload), "decoder")
        self._frame_type = frame_type
        self._rejected_type = rejected_type

    def feed(self, const uint8_t[::1] data) -> list:
        """Consume ``data``; return the frames (and rejected frames) it completed, in order."""
        cdef int32_t i = 0, used = 0, n = data.shape[0]
        cdef sql_event ev
        cdef int64_t t0 = _now_ns(), t1
        out = []
        while i < n:
            sql_decoder_feed_buf(&self._dec, &data[i], n - i, &used, &ev)
            i += used
            if ev.kind == SQL_EV_FRAME:
                payload = PyBytes_FromStringAndSize(<const char *>ev.payload, ev.len)
                t1 = _now_ns()
                out.append(self._frame_type(ev.type, ev.seq, payload, ev.version, t1 - t0))
                t0 = t1
            elif ev.kind == SQL_EV_OVERSIZED:
                if ev.has_header:
                    out.append(self._rejected_type("oversized", ev.seq, ev.type, ev.size))
                else:
                    out.append(self._rejected_type("oversized", None, None, ev.size))
                t0 = _now_ns()
            elif ev.kind == SQL_EV_BAD_LENGTH:
                out.append(self._rejected_type("bad_length", ev.seq, ev.type, ev.len))
                t0 = _now_ns()
        return out

    @property
    def max_payload(self) -> int:
        return self._dec.max_payload

    @property
    def max_encoded(self) -> int:
        return self._dec.max_encoded

    @property
    def pending(self) -> int:
        """Bytes received after the last delimiter."""
        return self._dec.len + self._dec.overflow

    @property
    def dropped(self) -> int:
        """Frames dropped for any reason (each is one resynchronisation)."""
        return sql_decoder_dropped(&self._dec)

    @property
    def bytes_rx(self) -> int:
        return self._dec.c.bytes_rx

    @property
    def frames_ok(self) -> int:
        return self._dec.c.frames_ok

    @property
    def crc_errors(self) -> int:
        return self._dec.c.crc_errors

    @property
    def cobs_errors(self) -> int:
        return self._dec.c.cobs_errors

    @property
    def runts(self) -> int:
        return self._dec.c.runts

    @property
    def length_errors(self) -> int:
        return self._dec.c.length_errors

    @property
    def oversized(self) -> int:
        return self._dec.c.oversized

    @property
    def empty(self) -> int:
        return self._dec.c.empty

    @property
    def garbage_bytes(self) -> int:
        return self._dec.c.garbage_bytes

    def reset_counters(self) -> None:
        """Zero the counters; a partial frame in progress is kept."""
        sql_decoder_reset_counters(&self._dec)

    def counters(self) -> dict:
        """The counters by name (``semqam_node.protocol.COUNTERS`` order) plus ``dropped``."""
        c = self._dec.c
        return {"bytes_rx": c.bytes_rx, "frames_ok": c.frames_ok, "crc_errors": c.crc_errors,
                "cobs_errors": c.cobs_errors, "runts": c.runts,
                "length_errors": c.length_errors, "oversized": c.oversized, "empty": c.empty,
                "garbage_bytes": c.garbage_bytes, "dropped": sql_decoder_dropped(&self._dec)}
