/*
 * sq_kernels.c - reference int8 math of the semqam node: requantization (double-precision scale
 * or TFLite's MultiplyByQuantizedMultiplier), fully connected per channel, logistic LUT.
 *
 * Requantization, measured against LiteRT 2.3 / TF 2.21 with OpResolverType.BUILTIN_REF:
 *  - round(acc * scale) in double, half away from zero (sq_scale_round): matches every output
 *    of the reference kernels for per-channel FULLY_CONNECTED; the node's default.
 *  - Q31 MultiplyByQuantizedMultiplier, single rounding (TFLITE_SINGLE_ROUNDING): integer only
 *    (MCUs without a double FPU); differs at near-ties, ~1 output in 4e6.
 *  - Q31 with gemmlowp double rounding (-DSQ_DOUBLE_ROUNDING=1, TFLite builds without
 *    TFLITE_SINGLE_ROUNDING): differs in ~0.05 % of outputs.
 * The FC loop follows reference/integer_ops/fully_connected.h (FullyConnectedPerChannel).
 * Written without implementation-defined shifts of negative values or signed overflow.
 */
#include "sq_internal.h"

const char *sq_status_name(sq_status status)
{
    switch (status) {
    case SQ_OK: return "SQ_OK";
    case SQ_ERR_NULL: return "SQ_ERR_NULL";
    case SQ_ERR_ARG: return "SQ_ERR_ARG";
    case SQ_ERR_K_RANGE: return "SQ_ERR_K_RANGE";
    case SQ_ERR_LIMIT: return "SQ_ERR_LIMIT";
    case SQ_ERR_QUANT: return "SQ_ERR_QUANT";
    case SQ_ERR_SHAPE: return "SQ_ERR_SHAPE";
    case SQ_ERR_BUFFER: return "SQ_ERR_BUFFER";
    case SQ_ERR_INDEX: return "SQ_ERR_INDEX";
    case SQ_ERR_STATE: return "SQ_ERR_STATE";
    default: return "SQ_UNKNOWN";
    }
}

/* uint32 -> int32 modulo 2^32 without implementation-defined conversion. */
static int32_t sq_wrap_i32(uint32_t u)
{
    if (u <= (uint32_t)INT32_MAX) {
        return (int32_t)u;
    }
    return (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

/* floor(x / 2^e), 0 <= e <= 31: an arithmetic shift right for negative x too. */
static int32_t sq_asr(int32_t x, int e)
{
    return x >= 0 ? (x >> e) : ~((~x) >> e);
}

static int64_t sq_asr64(int64_t x, int e)
{
    return x >= 0 ? (x >> e) : ~((~x) >> e);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), saturating the one
 * overflow case a = b = INT32_MIN. C99 '/' truncates toward zero, as in gemmlowp. */
static int32_t sq_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero, 0 <= e <= 31. */
static int32_t sq_rdbpot(int32_t x, int e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return sq_asr(x, e) + (remainder > threshold ? 1 : 0);
}

/* Double rounding (TFLite without TFLITE_SINGLE_ROUNDING), validated multiplier >= 0 and
 * shift in [-31, 30]. */
static int32_t sq_mbqm_double(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    /* TFLite computes x * (1 << left) in int32; reproduce its two's-complement wrap. */
    const int32_t shifted = sq_wrap_i32((uint32_t)x << left);
    return sq_rdbpot(sq_srdhm(shifted, multiplier), right);
}

/* Single rounding (TFLITE_SINGLE_ROUNDING): floor((x * m + 2^(30 - shift)) / 2^(31 - shift))
 * in int64, i.e. x * m * 2^(shift - 31) rounded half up. |x * m| < 2^62 and the rounding term
 * is <= 2^61, so nothing overflows; a result outside int32 (only possible for shift > 0) wraps
 * like TFLite's static_cast. */
static int32_t sq_mbqm_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int total = 31 - (int)shift; /* 1 .. 62 */
    const int64_t r = sq_asr64((int64_t)x * (int64_t)multiplier + ((int64_t)1 << (total - 1)),
                               total);
    return sq_wrap_i32((uint32_t)((uint64_t)r & 0xffffffffu));
}

/* v rounded half away from zero, saturated to int32. t = trunc(v) and v - t are exact
 * (Sterbenz), so the tie test is exact (no floor(v + 0.5) error at 0.49999999999999994). */
static int32_t sq_round_away(double v)
{
    int32_t t; /* |v| < 2^31 below, so trunc(v) and the rounded result fit: no int64 <-> double
                  conversion, which an FPU does not have (libgcc's would pull in soft-float) */
    double frac;
    if (v >= 2147483647.0) {
        return INT32_MAX;
    }
    if (v <= -2147483648.0) {
        return INT32_MIN;
    }
    t = (int32_t)v;
    frac = v - (double)t;
    if (frac >= 0.5) {
        ++t;
    } else if (frac <= -0.5) {
        --t;
    }
    return t;
}

/* round(x * scale) for a validated finite scale >= 0: (double)x is exact and the one product
 * rounds as in the interpreter. */
static int32_t sq_scale_round(int32_t x, double scale)
{
    return sq_round_away((double)x * scale);
}

static int sq_scale_ok(double scale)
{
    return scale >= 0.0 && scale <= 1.0e30; /* false for NaN and inf */
}

/* -DSQ_INTEGER_ONLY=1 (the Cortex-M4F firmware: no double FPU): layers with double scales are
 * refused (SQ_ERR_ARG) and the double path is not compiled in, so no soft-float routines are
 * linked. The integer (Q31) path is the same code either way. */
#ifndef SQ_INTEGER_ONLY
#define SQ_INTEGER_ONLY 0
#endif
#if SQ_INTEGER_ONLY
#define sq_uses_scale(layer) 0
#else
#define sq_uses_scale(layer) ((layer)->scale != NULL)
#endif

#if SQ_DOUBLE_ROUNDING
#define sq_mbqm sq_mbqm_double
#else
#define sq_mbqm sq_mbqm_single
#endif

static int sq_quant_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 30;
}

static int sq_act_ok(int32_t output_offset, int32_t act_min, int32_t act_max)
{
    return output_offset >= -128 && output_offset <= 127 && act_min >= -128 &&
           act_max <= 127 && act_min <= act_max;
}

/* clamp(v + output_offset, act_min, act_max); the bounds lie in int8. */
static int8_t sq_clamp_out(int32_t v, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    /* v is any int32; add in int64 so v + offset cannot overflow. */
    int64_t y = (int64_t)v + output_offset;
    if (y < act_min) {
        y = act_min;
    }
    if (y > act_max) {
        y = act_max;
    }
    return (int8_t)y;
}

/* The checked public forms of the three requantizations share one argument check. */
static sq_status sq_mbqm_checked(int32_t (*fn)(int32_t, int32_t, int32_t), int32_t x,
                                 int32_t multiplier, int32_t shift, int32_t *out)
{
    if (out == NULL) {
        return SQ_ERR_NULL;
    }
    if (!sq_quant_ok(multiplier, shift)) {
        return SQ_ERR_QUANT;
    }
    *out = fn(x, multiplier, shift);
    return SQ_OK;
}

sq_status sq_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift,
                                              int32_t *out)
{
    return sq_mbqm_checked(sq_mbqm, x, multiplier, shift, out);
}

sq_status sq_mbqm_single_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out)
{
    return sq_mbqm_checked(sq_mbqm_single, x, multiplier, shift, out);
}

sq_status sq_mbqm_double_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out)
{
    return sq_mbqm_checked(sq_mbqm_double, x, multiplier, shift, out);
}

sq_status sq_multiply_by_scale(int32_t x, double scale, int32_t *out)
{
    if (out == NULL) {
        return SQ_ERR_NULL;
    }
#if SQ_INTEGER_ONLY
    (void)x;
    (void)scale;
    return SQ_ERR_ARG;
#endif
    if (!sq_scale_ok(scale)) {
        return SQ_ERR_QUANT;
    }
    *out = sq_scale_round(x, scale);
    return SQ_OK;
}

sq_status sq_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                        int32_t act_min, int32_t act_max, int8_t *out)
{
    if (out == NULL) {
        return SQ_ERR_NULL;
    }
    if (!sq_quant_ok(multiplier, shift) || !sq_act_ok(output_offset, act_min, act_max)) {
        return SQ_ERR_QUANT;
    }
    *out = sq_clamp_out(sq_mbqm(acc, multiplier, shift), output_offset, act_min, act_max);
    return SQ_OK;
}

/* The checks an int8 and a 16x8 layer share: its arrays are there, its widths lie in
 * [1, SQ_MAX_LAYER_WIDTH], and a double-scale layer is refused by an integer-only build. */
static sq_status sq_layer_shape_check(const void *weights, const int32_t *multiplier,
                                      const int32_t *shift, const double *scale, int32_t in_dim,
                                      int32_t out_dim)
{
    if (weights == NULL || multiplier == NULL || shift == NULL) {
        return SQ_ERR_NULL;
    }
    if (in_dim < 1 || out_dim < 1) {
        return SQ_ERR_ARG;
    }
    if (in_dim > SQ_MAX_LAYER_WIDTH || out_dim > SQ_MAX_LAYER_WIDTH) {
        return SQ_ERR_LIMIT;
    }
    if (SQ_INTEGER_ONLY && scale != NULL) {
        return SQ_ERR_ARG; /* this build has no double-scale path */
    }
    return SQ_OK;
}

sq_status sq_fc_check(const sq_fc_layer *layer)
{
    int32_t c;
    sq_status st;
    if (layer == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_layer_shape_check(layer->weights, layer->multiplier, layer->shift, layer->scale,
                              layer->in_dim, layer->out_dim);
    if (st != SQ_OK) {
        return st;
    }
    if (layer->input_offset < -127 || layer->input_offset > 128 ||
        !sq_act_ok(layer->output_offset, layer->act_min, layer->act_max)) {
        return SQ_ERR_QUANT;
    }
    for (c = 0; c < layer->out_dim; ++c) {
        if (!sq_quant_ok(layer->multiplier[c], layer->shift[c]) ||
            (sq_uses_scale(layer) && !sq_scale_ok(layer->scale[c]))) {
            return SQ_ERR_QUANT;
        }
    }
    return SQ_OK;
}

/* Output channel c of a validated layer from its accumulator (bias added here, wrapping like
 * TFLite's int32 add). */
static int8_t sq_fc_out(const sq_fc_layer *layer, int32_t c, int32_t acc)
{
    if (layer->bias != NULL) {
        acc = sq_wrap_i32((uint32_t)acc + (uint32_t)layer->bias[c]);
    }
    return sq_clamp_out(sq_uses_scale(layer) ? sq_scale_round(acc, layer->scale[c])
                                             : sq_mbqm(acc, layer->multiplier[c],
                                                       layer->shift[c]),
                        layer->output_offset, layer->act_min, layer->act_max);
}

/* The reference FC loop of a validated layer. */
static void sq_fc_reference(const sq_fc_layer *layer, const int8_t *x, int8_t *y)
{
    int32_t c = 0;
    int32_t i;
    const int32_t in_dim = layer->in_dim;
    /* input_offset is validated in [-127, 128], so x + input_offset lies in [-255, 255] and
     * fits int16; |w (x + off)| <= 128 * 255 and in_dim <= 65536, so every sum fits int32.
     * int16 x int16 products let compilers use multiply-add SIMD (pmaddwd / smlal), and four
     * channels per pass share the loads of x: ~6x over the plain int32 loop at -O3. */
    const int16_t off = (int16_t)layer->input_offset;
    for (; c + 4 <= layer->out_dim; c += 4) {
        const int8_t *w0 = layer->weights + (size_t)c * (size_t)in_dim;
        const int8_t *w1 = w0 + in_dim;
        const int8_t *w2 = w1 + in_dim;
        const int8_t *w3 = w2 + in_dim;
        int32_t a0 = 0;
        int32_t a1 = 0;
        int32_t a2 = 0;
        int32_t a3 = 0;
        for (i = 0; i < in_dim; ++i) {
            const int16_t xo = (int16_t)((int16_t)x[i] + off);
            a0 += (int32_t)((int16_t)w0[i] * xo);
            a1 += (int32_t)((int16_t)w1[i] * xo);
            a2 += (int32_t)((int16_t)w2[i] * xo);
            a3 += (int32_t)((int16_t)w3[i] * xo);
        }
        y[c] = sq_fc_out(layer, c, a0);
        y[c + 1] = sq_fc_out(layer, c + 1, a1);
        y[c + 2] = sq_fc_out(layer, c + 2, a2);
        y[c + 3] = sq_fc_out(layer, c + 3, a3);
    }
    for (; c < layer->out_dim; ++c) {
        const int8_t *w = layer->weights + (size_t)c * (size_t)in_dim;
        int32_t acc = 0;
        for (i = 0; i < in_dim; ++i) {
            acc += (int32_t)((int16_t)w[i] * (int16_t)((int16_t)x[i] + off));
        }
        y[c] = sq_fc_out(layer, c, acc);
    }
}

void sq_fc_run(const sq_fc_layer *layer, const int8_t *x, int8_t *y)
{
    const sq_port_ops *ops = sq_port_ops_active();
    int32_t acc[SQ_FC_BLOCK];
    int32_t c0;
    if (ops->fc_acc == NULL) {
        sq_fc_reference(layer, x, y);
        return;
    }
    /* The port accumulates a block of channels; requantization is the reference's (or the
     * port's exact copy of the double path), per channel, from the block's int32 sums. */
    for (c0 = 0; c0 < layer->out_dim; c0 += SQ_FC_BLOCK) {
        const int32_t rows =
            layer->out_dim - c0 < SQ_FC_BLOCK ? layer->out_dim - c0 : SQ_FC_BLOCK;
        int32_t r;
        ops->fc_acc(layer->weights + (size_t)c0 * (size_t)layer->in_dim, layer->in_dim, rows,
                    x, layer->input_offset, acc);
        if (sq_uses_scale(layer) && ops->requant_scale != NULL) {
            ops->requant_scale(acc, layer->bias != NULL ? layer->bias + c0 : NULL,
                               layer->scale + c0, rows, layer->output_offset, layer->act_min,
                               layer->act_max, y + c0);
            continue;
        }
        for (r = 0; r < rows; ++r) {
            y[c0 + r] = sq_fc_out(layer, c0 + r, acc[r]);
        }
    }
}

void sq_fc_run_packed(const sq_fc_layer *layer, const sq_packed_ops *pops, const int8_t *packed,
                      const int8_t *x, int8_t *y)
{
    const sq_port_ops *ops = sq_port_ops_active();
    int32_t acc[SQ_FC_BLOCK];
    int32_t c0;
    for (c0 = 0; c0 < layer->out_dim; c0 += SQ_FC_BLOCK) {
        const int32_t rows =
            layer->out_dim - c0 < SQ_FC_BLOCK ? layer->out_dim - c0 : SQ_FC_BLOCK;
        int32_t r;
        pops->fc_acc(packed, layer->in_dim, c0, rows, x, acc);
        if (layer->scale != NULL && ops->requant_scale != NULL) {
            ops->requant_scale(acc, layer->bias != NULL ? layer->bias + c0 : NULL,
                               layer->scale + c0, rows, layer->output_offset, layer->act_min,
                               layer->act_max, y + c0);
            continue;
        }
        for (r = 0; r < rows; ++r) {
            y[c0 + r] = sq_fc_out(layer, c0 + r, acc[r]);
        }
    }
}

sq_status sq_fc_int8(const sq_fc_layer *layer, const int8_t *x, int8_t *y)
{
    sq_status st;
    if (x == NULL || y == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_fc_check(layer);
    if (st != SQ_OK) {
        return st;
    }
    sq_fc_run(layer, x, y);
    return SQ_OK;
}

/* ---- 16x8 ---------------------------------------------------------------------------- */

static int sq_quant64_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 7;
}

/* TFLite's int64 MultiplyByQuantizedMultiplier on validated arguments, |x| < 2^47: the
 * product is < 2^62 and the rounding term <= 2^45, so nothing overflows. */
static int32_t sq_mbqm64_run(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? ((int64_t)multiplier + 32768) >> 16
                                                    : 0x7FFF;
    const int total = 15 - (int)shift; /* 8 .. 46 */
    const int64_t r = sq_asr64(x * reduced + ((int64_t)1 << (total - 1)), total);
    return sq_wrap_i32((uint32_t)((uint64_t)r & 0xffffffffu));
}

sq_status sq_mbqm64(int64_t x, int32_t multiplier, int32_t shift, int32_t *out)
{
    const int64_t lim = (int64_t)1 << 47;
    if (out == NULL) {
        return SQ_ERR_NULL;
    }
    if (!sq_quant64_ok(multiplier, shift) || x < -lim || x >= lim) {
        return SQ_ERR_QUANT;
    }
    *out = sq_mbqm64_run(x, multiplier, shift);
    return SQ_OK;
}

sq_status sq_fc16_check(const sq_fc16_layer *layer)
{
    int32_t c;
    sq_status st;
    if (layer == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_layer_shape_check(layer->weights, layer->multiplier, layer->shift, layer->scale,
                              layer->in_dim, layer->out_dim);
    if (st != SQ_OK) {
        return st;
    }
    if (layer->act_min < -32768 || layer->act_max > 32767 || layer->act_min > layer->act_max) {
        return SQ_ERR_QUANT;
    }
    for (c = 0; c < layer->out_dim; ++c) {
        /* |bias| < 2^46 keeps acc inside sq_mbqm64's |x| < 2^47 (sum_i |w x| < 2^39). */
        if (!sq_quant64_ok(layer->multiplier[c], layer->shift[c]) ||
            (sq_uses_scale(layer) && !sq_scale_ok(layer->scale[c])) ||
            (layer->bias != NULL &&
             (layer->bias[c] >= ((int64_t)1 << 46) || layer->bias[c] <= -((int64_t)1 << 46)))) {
            return SQ_ERR_QUANT;
        }
    }
    return SQ_OK;
}

/* |w x| <= 128 * 32768 = 2^22, so SQ_INT32_CHUNK = 256 products sum exactly in int32 (<= 2^30);
 * the chunks are added in int64. int32 inner sums let compilers use int16 multiply-add SIMD. */

/* Output channel c of a validated 16x8 layer from its int64 accumulator. */
static int16_t sq_fc16_out(const sq_fc16_layer *layer, int32_t c, int64_t acc)
{
    int32_t v;
    if (layer->bias != NULL) {
        acc += layer->bias[c];
    }
    /* (double)acc is exact: |acc| < 2^47 */
    v = sq_uses_scale(layer) ? sq_round_away((double)acc * layer->scale[c])
                             : sq_mbqm64_run(acc, layer->multiplier[c], layer->shift[c]);
    if (v < layer->act_min) {
        v = layer->act_min;
    }
    if (v > layer->act_max) {
        v = layer->act_max;
    }
    return (int16_t)v;
}

void sq_fc16_run(const sq_fc16_layer *layer, const int16_t *x, int16_t *y)
{
    const int32_t in_dim = layer->in_dim;
    const sq_port_ops *ops = sq_port_ops_active();
    int32_t c = 0;
    int32_t i0;
    int32_t i;
    if (ops->fc16_acc != NULL) {
        int64_t acc[SQ_FC_BLOCK];
        for (; c < layer->out_dim; c += SQ_FC_BLOCK) {
            const int32_t rows = layer->out_dim - c < SQ_FC_BLOCK ? layer->out_dim - c
                                                                  : SQ_FC_BLOCK;
            ops->fc16_acc(layer->weights + (size_t)c * (size_t)in_dim, in_dim, rows, x, acc);
            if (sq_uses_scale(layer) && ops->requant16_scale != NULL) {
                ops->requant16_scale(acc, layer->bias != NULL ? layer->bias + c : NULL,
                                     layer->scale + c, rows, layer->act_min, layer->act_max,
                                     y + c);
                continue;
            }
            for (i = 0; i < rows; ++i) {
                y[c + i] = sq_fc16_out(layer, c + i, acc[i]);
            }
        }
        return;
    }
    /* four channels per pass share the loads of x */
    for (; c + 4 <= layer->out_dim; c += 4) {
        const int8_t *w0 = layer->weights + (size_t)c * (size_t)in_dim;
        const int8_t *w1 = w0 + in_dim;
        const int8_t *w2 = w1 + in_dim;
        const int8_t *w3 = w2 + in_dim;
        int64_t a0 = 0;
        int64_t a1 = 0;
        int64_t a2 = 0;
        int64_t a3 = 0;
        for (i0 = 0; i0 < in_dim; i0 += SQ_INT32_CHUNK) {
            const int32_t end = in_dim - i0 < SQ_INT32_CHUNK ? in_dim : i0 + SQ_INT32_CHUNK;
            int32_t p0 = 0;
            int32_t p1 = 0;
            int32_t p2 = 0;
            int32_t p3 = 0;
            for (i = i0; i < end; ++i) {
                const int32_t xv = x[i];
                p0 += (int32_t)w0[i] * xv;
                p1 += (int32_t)w1[i] * xv;
                p2 += (int32_t)w2[i] * xv;
                p3 += (int32_t)w3[i] * xv;
            }
            a0 += p0;
            a1 += p1;
            a2 += p2;
            a3 += p3;
        }
        y[c] = sq_fc16_out(layer, c, a0);
        y[c + 1] = sq_fc16_out(layer, c + 1, a1);
        y[c + 2] = sq_fc16_out(layer, c + 2, a2);
        y[c + 3] = sq_fc16_out(layer, c + 3, a3);
    }
    for (; c < layer->out_dim; ++c) {
        const int8_t *w = layer->weights + (size_t)c * (size_t)in_dim;
        int64_t acc = 0;
        for (i0 = 0; i0 < in_dim; i0 += SQ_INT32_CHUNK) {
            const int32_t end = in_dim - i0 < SQ_INT32_CHUNK ? in_dim : i0 + SQ_INT32_CHUNK;
            int32_t part = 0;
            for (i = i0; i < end; ++i) {
                part += (int32_t)w[i] * (int32_t)x[i];
            }
            acc += part;
        }
        y[c] = sq_fc16_out(layer, c, acc);
    }
}

sq_status sq_fc_s16x8(const sq_fc16_layer *layer, const int16_t *x, int16_t *y)
{
    sq_status st;
    if (x == NULL || y == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_fc16_check(layer);
    if (st != SQ_OK) {
        return st;
    }
    sq_fc16_run(layer, x, y);
    return SQ_OK;
}

sq_status sq_logistic_lut(const int8_t lut[256], const int8_t *x, int32_t n, int8_t *y)
{
    int32_t i;
    if (lut == NULL || x == NULL || y == NULL) {
        return SQ_ERR_NULL;
    }
    if (n < 1) {
        return SQ_ERR_ARG;
    }
    for (i = 0; i < n; ++i) {
        y[i] = lut[(int32_t)x[i] + 128];
    }
    return SQ_OK;
}

sq_status sq_input_from_u8(const uint8_t *u, int32_t n, int8_t *q)
{
    int32_t i;
    if (u == NULL || q == NULL) {
        return SQ_ERR_NULL;
    }
    if (n < 1) {
        return SQ_ERR_ARG;
    }
    if (n > SQ_MAX_LAYER_WIDTH) {
        return SQ_ERR_LIMIT;
    }
    for (i = 0; i < n; ++i) {
        q[i] = (int8_t)((int32_t)u[i] - 128);
    }
    return SQ_OK;
}
