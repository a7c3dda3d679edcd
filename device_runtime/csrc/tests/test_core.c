/*
 * test_core.c - unit tests of the semqam C core: hand-computed cases with zero tolerance,
 * stack-only buffers. Prints "SEMQAM_CORE_TESTS_OK <n> checks" on success, exits 1 otherwise.
 *
 * Values were worked out by hand from the formulas in semqam_core.h, e.g. TFLite's
 * MultiplyByQuantizedMultiplier with multiplier 2^30 (= 0.5 in Q31) and a shift:
 *   single rounding: floor((x 2^30 + 2^(30-s)) / 2^(31-s)): every tie goes up, -1.5 -> -1;
 *   double rounding: SRDHM(x, 2^30) = trunc((x 2^30 + nudge) / 2^31), nudge = 2^30 or
 *   1 - 2^30, so -3 * 0.5 = -1.5 -> -1, then RoundingDivideByPOT rounds ties away from zero:
 *   -3 / 2 -> -2, and 5 * 0.5 / 2 = 1.25 -> 2 through 2.5 -> 3 -> 1.5 -> 2 (single gives 1).
 * The FC, graph and encode cases use values on which both roundings agree.
 *
 * Ports: every exact-match test of the FC, nearest-codeword, graph and encode kernels runs once
 * per port this machine can execute (the others are listed as skipped, with the reason), and
 * randomized differential tests compare each port's integers with the reference's over many
 * shapes (odd sizes, offsets and values at the int8 extremes, exact ties in the search).
 */
#include <stdio.h>
#include <string.h>

#include "semqam_core.h"
#include "sq_internal.h" /* the ports' kernel tables, to compare raw int32 accumulators */

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                               \
    do {                                                                          \
        ++g_checks;                                                               \
        if (!(cond)) {                                                            \
            ++g_failures;                                                         \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
        }                                                                         \
    } while (0)

#define CHECK_ST(expr, want)                                                      \
    do {                                                                          \
        sq_status st_ = (expr);                                                   \
        ++g_checks;                                                               \
        if (st_ != (want)) {                                                      \
            ++g_failures;                                                         \
            printf("FAIL %s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, \
                   #expr, sq_status_name(st_), sq_status_name(want));             \
        }                                                                         \
    } while (0)

#define Q31_HALF 1073741824          /* 2^30: 0.5 in Q31 */
#define Q31_SQRT_HALF 1518500250     /* round(2^31 / sqrt(2)): 0.70710678 */

static int32_t single(int32_t x, int32_t m, int32_t s)
{
    int32_t out = 0x5a5a5a5a;
    CHECK_ST(sq_mbqm_single_rounding(x, m, s, &out), SQ_OK);
    return out;
}

static int32_t dbl(int32_t x, int32_t m, int32_t s)
{
    int32_t out = 0x5a5a5a5a;
    CHECK_ST(sq_mbqm_double_rounding(x, m, s, &out), SQ_OK);
    return out;
}

/* Single rounding, floor((x m + 2^(30-s)) / 2^(31-s)): ties go up (toward +inf). */
static void test_single_rounding(void)
{
    CHECK(single(100, Q31_HALF, 0) == 50);
    CHECK(single(101, Q31_HALF, 0) == 51);   /* 50.5 -> 51 */
    CHECK(single(3, Q31_HALF, 0) == 2);      /* 1.5 -> 2 */
    CHECK(single(-3, Q31_HALF, 0) == -1);    /* -1.5 -> -1 */
    CHECK(single(-5, Q31_HALF, 0) == -2);    /* -2.5 -> -2 */
    CHECK(single(-101, Q31_HALF, 0) == -50); /* -50.5 -> -50 */
    CHECK(single(-3, Q31_HALF, 1) == -3);    /* (2^30, 1) is exactly x1 */
    CHECK(single(-6, Q31_HALF, -1) == -1);   /* -1.5 -> -1 */
    CHECK(single(6, Q31_HALF, -1) == 2);     /*  1.5 ->  2 */
    CHECK(single(-10, Q31_HALF, -2) == -1);  /* -1.25 -> -1 */
    CHECK(single(-12, Q31_HALF, -2) == -1);  /* -1.5 -> -1 */
    CHECK(single(5, Q31_HALF, -1) == 1);     /* 1.25 -> 1 (double rounding gives 2) */
    CHECK(single(-3, Q31_HALF, -1) == -1);   /* -0.75 -> -1 */
    CHECK(single(-7, Q31_SQRT_HALF, 2) == -20);      /* -19.80 */
    CHECK(single(-3925, Q31_SQRT_HALF, -4) == -173); /* -173.46 */
    /* large shifts: total shift 62 */
    CHECK(single(INT32_MAX, INT32_MAX, -31) == 1); /* (1 - 2^-31)^2 -> 1 */
    CHECK(single(INT32_MIN, Q31_HALF, -31) == 0);  /* -0.5 -> 0 (ties up) */
    CHECK(single(INT32_MIN, INT32_MAX, -31) == -1);
    CHECK(single(INT32_MAX, Q31_HALF, -31) == 0);  /* 0.49999999977 -> 0 */
    CHECK(single(1, Q31_HALF, 30) == 536870912);   /* 2^30 * 0.5, total shift 1 */
    CHECK(single(-1, Q31_HALF, 30) == -536870912);
    CHECK(single(1073741824, Q31_HALF, 1) == 1073741824); /* int64 product: no wrap */
    CHECK(single(0, INT32_MAX, -31) == 0);
    CHECK(single(5, 0, 0) == 0);
    /* a result outside int32 wraps like TFLite's cast: (2^31 - 1) 2^30 -> 2^60 - 2^29 */
    CHECK(single(INT32_MAX, Q31_HALF, 30) == -536870912);
}

/* gemmlowp double rounding: SRDHM rounds ties up, RoundingDivideByPOT away from zero. */
static void test_double_rounding(void)
{
    CHECK(dbl(100, Q31_HALF, 0) == 50);
    CHECK(dbl(101, Q31_HALF, 0) == 51);
    CHECK(dbl(3, Q31_HALF, 0) == 2);
    CHECK(dbl(-3, Q31_HALF, 0) == -1); /* -1.5 -> -1: nudge 1 - 2^30, truncation */
    CHECK(dbl(-5, Q31_HALF, 0) == -2);
    CHECK(dbl(-101, Q31_HALF, 0) == -50);
    CHECK(dbl(-3, Q31_HALF, 1) == -3);
    CHECK(dbl(-6, Q31_HALF, -1) == -2);  /* -3 / 2 = -1.5 -> -2 (away from zero) */
    CHECK(dbl(6, Q31_HALF, -1) == 2);
    CHECK(dbl(-10, Q31_HALF, -2) == -1); /* -5 / 4 = -1.25 -> -1 */
    CHECK(dbl(-12, Q31_HALF, -2) == -2); /* -6 / 4 = -1.5 -> -2 */
    CHECK(dbl(5, Q31_HALF, -1) == 2);    /* 2.5 -> 3, 3 / 2 = 1.5 -> 2 */
    CHECK(dbl(-3, Q31_HALF, -1) == -1);  /* -1.5 -> -1, -0.5 -> -1 */
    CHECK(dbl(-7, Q31_SQRT_HALF, 2) == -20);
    CHECK(dbl(-3925, Q31_SQRT_HALF, -4) == -173);
    CHECK(dbl(INT32_MAX, INT32_MAX, -31) == 1);
    CHECK(dbl(INT32_MIN, Q31_HALF, -31) == -1); /* -0.5 -> -1 */
    CHECK(dbl(INT32_MIN, INT32_MAX, -31) == -1);
    CHECK(dbl(INT32_MAX, Q31_HALF, -31) == 1);  /* 2^30 - 0.5 -> 2^30, then 0.5 -> 1 */
    CHECK(dbl(1, Q31_HALF, 30) == 536870912);
    CHECK(dbl(-1, Q31_HALF, 30) == -536870912);
    CHECK(dbl(1073741824, Q31_HALF, 1) == -1073741824); /* x * 2 wraps to INT32_MIN */
    CHECK(dbl(5, 0, 0) == 0);
}

static void test_multiply_by_quantized_multiplier(void)
{
    int32_t out = 7;
    int32_t want = 0;
    /* the compiled default is one of the two */
    CHECK_ST(sq_multiply_by_quantized_multiplier(5, Q31_HALF, -1, &out), SQ_OK);
    CHECK(out == (SQ_DOUBLE_ROUNDING ? 2 : 1));
    CHECK_ST(sq_multiply_by_quantized_multiplier(-12, Q31_HALF, -2, &out), SQ_OK);
    want = SQ_DOUBLE_ROUNDING ? -2 : -1;
    CHECK(out == want);
    CHECK(strcmp(SQ_ROUNDING_NAME, SQ_DOUBLE_ROUNDING ? "double" : "single") == 0);
    /* errors leave the output untouched */
    out = 7;
    CHECK_ST(sq_multiply_by_quantized_multiplier(1, Q31_HALF, 31, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_quantized_multiplier(1, Q31_HALF, -32, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_quantized_multiplier(1, -1, 0, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_quantized_multiplier(1, INT32_MIN, 0, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_quantized_multiplier(1, Q31_HALF, 0, NULL), SQ_ERR_NULL);
    CHECK_ST(sq_mbqm_single_rounding(1, Q31_HALF, 31, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_mbqm_single_rounding(1, -1, 0, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_mbqm_single_rounding(1, Q31_HALF, 0, NULL), SQ_ERR_NULL);
    CHECK_ST(sq_mbqm_double_rounding(1, Q31_HALF, -32, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_mbqm_double_rounding(1, -1, 0, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_mbqm_double_rounding(1, Q31_HALF, 0, NULL), SQ_ERR_NULL);
    CHECK(out == 7);
}

/* A near-tie from a trained MNIST encoder (fc2, channel 3818): acc * scale =
 * -25.49999999466827 in double -> -25, the value LiteRT's reference kernel produced, while the
 * Q31 multiplier (1162877025, shift -11) represents -25.500000002705 and rounds to -26. */
#define NEAR_TIE_ACC (-96442)
#define NEAR_TIE_SCALE 0.00026440762317940595
#define NEAR_TIE_M 1162877025
#define NEAR_TIE_SHIFT (-11)

static int32_t by_scale(int32_t x, double scale)
{
    int32_t out = 0x5a5a5a5a;
    CHECK_ST(sq_multiply_by_scale(x, scale, &out), SQ_OK);
    return out;
}

static void test_multiply_by_scale(void)
{
    volatile double zero = 0.0;
    int32_t out = 7;
    CHECK(by_scale(5, 0.25) == 1);    /* 1.25 -> 1 */
    CHECK(by_scale(6, 0.25) == 2);    /* 1.5 -> 2 (away from zero) */
    CHECK(by_scale(-6, 0.25) == -2);  /* -1.5 -> -2 (away from zero; Q31 single gives -1) */
    CHECK(by_scale(-5, 0.25) == -1);  /* -1.25 -> -1 */
    CHECK(by_scale(-7, 0.25) == -2);  /* -1.75 -> -2 */
    CHECK(by_scale(1, 0.49999999999999994) == 0); /* floor(v + 0.5) would give 1 */
    CHECK(by_scale(-1, 0.49999999999999994) == 0);
    CHECK(by_scale(0, 123.0) == 0);
    CHECK(by_scale(123, 0.0) == 0);
    CHECK(by_scale(NEAR_TIE_ACC, NEAR_TIE_SCALE) == -25);
    CHECK(single(NEAR_TIE_ACC, NEAR_TIE_M, NEAR_TIE_SHIFT) == -26);
    /* beyond int32: saturate (the output clamp follows anyway) */
    CHECK(by_scale(INT32_MAX, 2.0) == INT32_MAX);
    CHECK(by_scale(INT32_MIN, 2.0) == INT32_MIN);
    CHECK(by_scale(INT32_MIN, 1.0) == INT32_MIN);
    CHECK(by_scale(INT32_MAX, 1.0) == INT32_MAX);
    CHECK(by_scale(1073741823, 2.0) == 2147483646);
    /* errors */
    CHECK_ST(sq_multiply_by_scale(1, -0.5, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_scale(1, zero / zero, &out), SQ_ERR_QUANT); /* NaN */
    CHECK_ST(sq_multiply_by_scale(1, 1.0 / zero, &out), SQ_ERR_QUANT);  /* inf */
    CHECK_ST(sq_multiply_by_scale(1, 1.0e31, &out), SQ_ERR_QUANT);
    CHECK_ST(sq_multiply_by_scale(1, 0.5, NULL), SQ_ERR_NULL);
    CHECK(out == 7);
}

static void test_requantize(void)
{
    int8_t y = 0;
    /* 1000 * 0.5 / 8 = 62.5 -> 63 (either rounding), + (-10) = 53 */
    CHECK_ST(sq_requantize(1000, Q31_HALF, -3, -10, -128, 127, &y), SQ_OK);
    CHECK(y == 53);
    CHECK_ST(sq_requantize(1000, Q31_HALF, -3, -10, 60, 127, &y), SQ_OK);
    CHECK(y == 60);
    CHECK_ST(sq_requantize(100000, Q31_HALF, -3, -10, -128, 127, &y), SQ_OK);
    CHECK(y == 127);
    CHECK_ST(sq_requantize(-100000, Q31_HALF, -3, 0, -128, 127, &y), SQ_OK);
    CHECK(y == -128);
    /* the output offset is added before the clamp, without overflow, for extreme values */
    CHECK_ST(sq_requantize(INT32_MAX, INT32_MAX, 0, 127, -128, 127, &y), SQ_OK);
    CHECK(y == 127);
    /* a result outside int32 wraps like TFLite (single: 2^60 - 2^29 -> -2^29; double: the
     * int32 product x * 2^30 wraps to -2^30): either way far below -128 */
    CHECK_ST(sq_requantize(INT32_MAX, Q31_HALF, 30, 127, -128, 127, &y), SQ_OK);
    CHECK(y == -128);
    y = 9;
    CHECK_ST(sq_requantize(0, Q31_HALF, 0, 0, 10, 5, &y), SQ_ERR_QUANT);
    CHECK_ST(sq_requantize(0, Q31_HALF, 0, 0, -129, 5, &y), SQ_ERR_QUANT);
    CHECK_ST(sq_requantize(0, Q31_HALF, 0, 0, 0, 128, &y), SQ_ERR_QUANT);
    CHECK_ST(sq_requantize(0, Q31_HALF, 0, 128, -128, 127, &y), SQ_ERR_QUANT);
    CHECK_ST(sq_requantize(0, Q31_HALF, 31, 0, -128, 127, &y), SQ_ERR_QUANT);
    CHECK_ST(sq_requantize(0, Q31_HALF, 0, 0, -128, 127, NULL), SQ_ERR_NULL);
    CHECK(y == 9);
}

static sq_fc_layer make_layer(const int8_t *w, const int32_t *b, const int32_t *m,
                              const int32_t *s, int32_t in_dim, int32_t out_dim,
                              int32_t in_off, int32_t out_off, int32_t lo, int32_t hi)
{
    sq_fc_layer l;
    l.weights = w;
    l.bias = b;
    l.scale = NULL;
    l.multiplier = m;
    l.shift = s;
    l.in_dim = in_dim;
    l.out_dim = out_dim;
    l.input_offset = in_off;
    l.output_offset = out_off;
    l.act_min = lo;
    l.act_max = hi;
    return l;
}

static void test_fc_int8(void)
{
    const int8_t x[3] = {10, -20, 127};
    const int8_t w[6] = {1, 2, -1, -128, 127, 0};
    const int32_t b[2] = {1000, -100};
    const int32_t m[2] = {Q31_HALF, Q31_SQRT_HALF};
    const int32_t s[2] = {-2, -4};
    int32_t bad_s[2] = {-2, 31};
    int32_t bad_m[2] = {Q31_HALF, -5};
    int8_t y[2] = {0, 0};
    sq_fc_layer l = make_layer(w, b, m, s, 3, 2, 5, -3, -128, 127);
    /* x + 5 = {15, -15, 132}
     * c0: 15 - 30 - 132 + 1000 = 853;   853 * 0.5 = 426.5 -> 427; 427 / 4 = 106.75 -> 107; -3
     * c1: -1920 - 1905 - 100 = -3925;   -3925 * 0.7071 / 16 = -173.46 -> -173; -3 */
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == 104);
    CHECK(y[1] == -128); /* -176 clamps at the int8 minimum */
    l.act_min = -3;      /* fused ReLU: act_min = zp_out */
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == 104 && y[1] == -3);
    l.act_min = -128;
    l.output_offset = 60;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == 127 && y[1] == -113);
    l.bias = NULL; /* no bias: c0 = -147 * 0.5 = -73.5 -> -73 (tie up), / 4 = -18.25 -> -18 */
    l.output_offset = 0;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == -18);
    l.bias = b;
    /* errors, checked before any output is written */
    y[0] = 1;
    y[1] = 2;
    l.shift = bad_s;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    l.shift = s;
    l.multiplier = bad_m;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    l.multiplier = m;
    l.input_offset = 129;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    l.input_offset = -128;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    l.input_offset = 5;
    l.act_min = 100;
    l.act_max = 99;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    l.act_min = -128;
    l.act_max = 127;
    l.in_dim = 0;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_ARG);
    l.in_dim = SQ_MAX_LAYER_WIDTH + 1;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_LIMIT);
    l.in_dim = 3;
    l.out_dim = SQ_MAX_LAYER_WIDTH + 1;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_LIMIT);
    l.out_dim = 2;
    l.weights = NULL;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_NULL);
    l.weights = w;
    CHECK_ST(sq_fc_int8(&l, NULL, y), SQ_ERR_NULL);
    CHECK_ST(sq_fc_int8(&l, x, NULL), SQ_ERR_NULL);
    CHECK_ST(sq_fc_int8(NULL, x, y), SQ_ERR_NULL);
    CHECK(y[0] == 1 && y[1] == 2);
    CHECK_ST(sq_fc_check(&l), SQ_OK);
    {
        /* five channels: one pass of four plus the tail; identity requantization (2^30, 1) */
        const int8_t x5[3] = {1, 2, 3};
        const int8_t w5[15] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1};
        const int32_t b5[5] = {0, 10, 20, 30, 40};
        const int32_t m5[5] = {Q31_HALF, Q31_HALF, Q31_HALF, Q31_HALF, Q31_HALF};
        const int32_t s5[5] = {1, 1, 1, 1, 1};
        int8_t y5[5];
        sq_fc_layer l5 = make_layer(w5, b5, m5, s5, 3, 5, 0, 0, -128, 127);
        CHECK_ST(sq_fc_int8(&l5, x5, y5), SQ_OK);
        CHECK(y5[0] == 1 && y5[1] == 12 && y5[2] == 23 && y5[3] == 36 && y5[4] == 34);
        l5.input_offset = 128; /* x + 128 = {129, 130, 131} */
        l5.output_offset = -128;
        CHECK_ST(sq_fc_int8(&l5, x5, y5), SQ_OK);
        CHECK(y5[0] == 1 && y5[1] == 12 && y5[2] == 23 && y5[3] == 127 && y5[4] == -128);
    }
}

/* The same layer with double-precision scales, and the near-tie where the two paths part. */
static void test_fc_int8_scale_path(void)
{
    const int8_t x[3] = {10, -20, 127};
    const int8_t w[6] = {1, 2, -1, -128, 127, 0};
    const int32_t b[2] = {1000, -100};
    const int32_t m[2] = {Q31_HALF, Q31_SQRT_HALF};
    const int32_t s[2] = {-2, -4};
    const double sc[2] = {0.125, 0.04419417382415922}; /* 0.5 / 4, sqrt(1/2) / 16 */
    double bad_sc[2] = {0.125, -1.0};
    const int8_t x0[1] = {0};
    const int8_t w1[1] = {1};
    const int32_t tie_b[1] = {NEAR_TIE_ACC};
    const int32_t tie_m[1] = {NEAR_TIE_M};
    const int32_t tie_s[1] = {NEAR_TIE_SHIFT};
    const double tie_sc[1] = {NEAR_TIE_SCALE};
    int8_t y[2] = {0, 0};
    sq_fc_layer l = make_layer(w, b, m, s, 3, 2, 5, -3, -128, 127);
    sq_fc_layer t = make_layer(w1, tie_b, tie_m, tie_s, 1, 1, 0, 1, -128, 127);
    l.scale = sc;
    /* 853 * 0.125 = 106.625 -> 107; -3925 * 0.0442 = -173.46 -> -173 (as the Q31 path) */
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == 104 && y[1] == -128);
    l.output_offset = 60;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_OK);
    CHECK(y[0] == 127 && y[1] == -113);
    l.scale = bad_sc;
    y[0] = 3;
    CHECK_ST(sq_fc_int8(&l, x, y), SQ_ERR_QUANT);
    CHECK(y[0] == 3);
    /* acc = bias = -96442: scale path -25 + 1 = -24 (LiteRT reference), Q31 path -26 + 1 */
    CHECK_ST(sq_fc_int8(&t, x0, y), SQ_OK);
    CHECK(y[0] == -25); /* -26 + 1 with either integer rounding */
    t.scale = tie_sc;
    CHECK_ST(sq_fc_int8(&t, x0, y), SQ_OK);
    CHECK(y[0] == -24);
}

static void test_logistic_lut_and_input(void)
{
    int8_t lut[256];
    const int8_t x[4] = {-128, 0, 127, -1};
    int8_t y[4];
    const uint8_t u[4] = {0, 128, 255, 3};
    int8_t q[4];
    int i;
    for (i = 0; i < 256; ++i) {
        lut[i] = (int8_t)(127 - i); /* lut[q + 128] = -1 - q */
    }
    CHECK_ST(sq_logistic_lut(lut, x, 4, y), SQ_OK);
    CHECK(y[0] == 127 && y[1] == -1 && y[2] == -128 && y[3] == 0);
    memcpy(y, x, sizeof(y));
    CHECK_ST(sq_logistic_lut(lut, y, 4, y), SQ_OK); /* in place */
    CHECK(y[0] == 127 && y[3] == 0);
    CHECK_ST(sq_logistic_lut(lut, x, 0, y), SQ_ERR_ARG);
    CHECK_ST(sq_logistic_lut(NULL, x, 4, y), SQ_ERR_NULL);
    CHECK_ST(sq_logistic_lut(lut, NULL, 4, y), SQ_ERR_NULL);
    CHECK_ST(sq_logistic_lut(lut, x, 4, NULL), SQ_ERR_NULL);
    CHECK_ST(sq_input_from_u8(u, 4, q), SQ_OK);
    CHECK(q[0] == -128 && q[1] == 0 && q[2] == 127 && q[3] == -125);
    CHECK_ST(sq_input_from_u8(u, 0, q), SQ_ERR_ARG);
    CHECK_ST(sq_input_from_u8(u, SQ_MAX_LAYER_WIDTH + 1, q), SQ_ERR_LIMIT);
    CHECK_ST(sq_input_from_u8(NULL, 4, q), SQ_ERR_NULL);
    CHECK_ST(sq_input_from_u8(u, 4, NULL), SQ_ERR_NULL);
}

static void test_top_k(void)
{
    const int8_t s[8] = {5, 9, 9, -3, 9, 5, 127, -128};
    const int8_t flat[5] = {0, 0, 0, 0, 0};
    int8_t many[SQ_MAX_N];
    uint16_t p[SQ_MAX_N];
    int i;
    CHECK_ST(sq_top_k(s, 8, 5, p), SQ_OK);
    CHECK(p[0] == 6 && p[1] == 1 && p[2] == 2 && p[3] == 4 && p[4] == 0);
    CHECK_ST(sq_top_k(s, 8, 8, p), SQ_OK);
    CHECK(p[5] == 5 && p[6] == 3 && p[7] == 7);
    CHECK_ST(sq_top_k(s, 8, 1, p), SQ_OK);
    CHECK(p[0] == 6);
    CHECK_ST(sq_top_k(flat, 5, 3, p), SQ_OK); /* all tied: the lowest slots, in order */
    CHECK(p[0] == 0 && p[1] == 1 && p[2] == 2);
    for (i = 0; i < SQ_MAX_N; ++i) {
        many[i] = (int8_t)((i % 3) - 1); /* -1, 0, 1, -1, ... */
    }
    CHECK_ST(sq_top_k(many, SQ_MAX_N, SQ_MAX_N, p), SQ_OK);
    CHECK(p[0] == 2 && p[1] == 5 && p[SQ_MAX_N - 1] == (SQ_MAX_N - 1) - ((SQ_MAX_N - 1) % 3));
    p[0] = 999;
    CHECK_ST(sq_top_k(s, 8, 0, p), SQ_ERR_K_RANGE);
    CHECK_ST(sq_top_k(s, 8, 9, p), SQ_ERR_K_RANGE);
    CHECK_ST(sq_top_k(s, 8, -1, p), SQ_ERR_K_RANGE);
    CHECK_ST(sq_top_k(s, 0, 1, p), SQ_ERR_ARG);
    CHECK_ST(sq_top_k(many, SQ_MAX_N + 1, 1, p), SQ_ERR_LIMIT);
    CHECK_ST(sq_top_k(NULL, 8, 1, p), SQ_ERR_NULL);
    CHECK_ST(sq_top_k(s, 8, 1, NULL), SQ_ERR_NULL);
    CHECK(p[0] == 999);
}

static void test_nearest_codewords(void)
{
    const int8_t z[6] = {0, 0, 10, 10, -5, 4};
    const int8_t cb[8] = {1, 1, -1, -1, 10, 9, 9, 10};
    const uint16_t pos[3] = {1, 0, 2};
    const uint16_t bad_pos[2] = {0, 3};
    int8_t zl[2 * 20];
    int8_t cbl[3 * 20];
    const uint16_t pos_l[2] = {1, 0};
    int8_t zmax[SQ_MAX_D];
    int8_t cbmax[2 * SQ_MAX_D];
    const uint16_t pos0[1] = {0};
    uint16_t idx[3] = {77, 77, 77};
    int i;
    /* slot 1 (10,10): c2 (10,9) and c3 (9,10) both at 1 -> 2 (lower index)
     * slot 0 (0,0): c0 and c1 both at 2 -> 0
     * slot 2 (-5,4): c0 36+9 = 45, c1 16+25 = 41, c2 225+25, c3 196+36 -> 1 */
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 3, cb, 4, idx), SQ_OK);
    CHECK(idx[0] == 2 && idx[1] == 0 && idx[2] == 1);
    /* D = 20; codeword 1 differs from c0's pattern only in the last dims */
    memset(zl, 0, sizeof(zl));
    memset(cbl, 0, sizeof(cbl));
    for (i = 0; i < 20; ++i) {
        zl[20 + i] = 50;      /* slot 1: all 50 */
        cbl[i] = 49;          /* c0: 49 everywhere -> slot 1 at 20 */
        cbl[20 + i] = 50;     /* c1: 50, but dims 17..19 at 40 -> 300 */
        cbl[40 + i] = -128;   /* c2: far */
    }
    cbl[20 + 17] = 40;
    cbl[20 + 18] = 40;
    cbl[20 + 19] = 40;
    /* slot 0 (all zero): c0 20 * 49^2 = 48020, c1 17 * 2500 + 3 * 1600 = 47300 -> 1 */
    CHECK_ST(sq_nearest_codewords(zl, 2, 20, pos_l, 2, cbl, 3, idx), SQ_OK);
    CHECK(idx[0] == 0 && idx[1] == 1);
    /* ties across a group of four and the tail (M = 7): slot 0 (10,10) is at distance 1 from
     * codewords 2 (10,11) and 5 (11,10) -> 2; slot 1 (-7,3) equals codeword 6 -> 6 */
    {
        const int8_t z7[4] = {10, 10, -7, 3};
        const int8_t cb7[14] = {0, 0, 1, 1, 10, 11, 50, 50, -50, 9, 11, 10, -7, 3};
        const uint16_t p7[2] = {0, 1};
        CHECK_ST(sq_nearest_codewords(z7, 2, 2, p7, 2, cb7, 7, idx), SQ_OK);
        CHECK(idx[0] == 2 && idx[1] == 6);
        CHECK_ST(sq_nearest_codewords(z7, 2, 2, p7, 2, cb7, 5, idx), SQ_OK); /* group + 1 */
        CHECK(idx[0] == 2);
        CHECK_ST(sq_nearest_codewords(z7, 2, 2, p7, 2, cb7, 3, idx), SQ_OK); /* tail only */
        CHECK(idx[0] == 2);
    }
    /* the largest distance at D = SQ_MAX_D fits in int32: 255^2 * SQ_MAX_D */
    for (i = 0; i < SQ_MAX_D; ++i) {
        zmax[i] = 127;
        cbmax[i] = -128;
        cbmax[SQ_MAX_D + i] = -128;
    }
    cbmax[2 * SQ_MAX_D - 1] = -127; /* c1 is one step closer in the last dim */
    CHECK_ST(sq_nearest_codewords(zmax, 1, SQ_MAX_D, pos0, 1, cbmax, 2, idx), SQ_OK);
    CHECK(idx[0] == 1);
    idx[0] = 77;
    CHECK_ST(sq_nearest_codewords(z, 3, 2, bad_pos, 2, cb, 4, idx), SQ_ERR_INDEX);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 0, cb, 4, idx), SQ_ERR_K_RANGE);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 4, cb, 4, idx), SQ_ERR_K_RANGE);
    CHECK_ST(sq_nearest_codewords(z, 3, 0, pos, 3, cb, 4, idx), SQ_ERR_ARG);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 3, cb, 0, idx), SQ_ERR_ARG);
    CHECK_ST(sq_nearest_codewords(z, 0, 2, pos, 1, cb, 4, idx), SQ_ERR_ARG);
    CHECK_ST(sq_nearest_codewords(z, SQ_MAX_N + 1, 2, pos, 1, cb, 4, idx), SQ_ERR_LIMIT);
    CHECK_ST(sq_nearest_codewords(z, 3, SQ_MAX_D + 1, pos, 1, cb, 4, idx), SQ_ERR_LIMIT);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 1, cb, SQ_MAX_M + 1, idx), SQ_ERR_LIMIT);
    CHECK_ST(sq_nearest_codewords(NULL, 3, 2, pos, 3, cb, 4, idx), SQ_ERR_NULL);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, NULL, 3, cb, 4, idx), SQ_ERR_NULL);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 3, NULL, 4, idx), SQ_ERR_NULL);
    CHECK_ST(sq_nearest_codewords(z, 3, 2, pos, 3, cb, 4, NULL), SQ_ERR_NULL);
    CHECK(idx[0] == 77);
}

static void test_map_symbols(void)
{
    const int16_t table[6] = {100, -100, 0, 32767, -32768, 1};
    const uint16_t idx[3] = {2, 0, 2};
    const uint16_t bad[2] = {1, 3};
    int16_t iq[6];
    CHECK_ST(sq_map_symbols(idx, 3, table, 3, iq), SQ_OK);
    CHECK(iq[0] == -32768 && iq[1] == 1 && iq[2] == 100 && iq[3] == -100 && iq[4] == -32768 &&
          iq[5] == 1);
    iq[0] = 5;
    CHECK_ST(sq_map_symbols(bad, 2, table, 3, iq), SQ_ERR_INDEX);
    CHECK_ST(sq_map_symbols(idx, 0, table, 3, iq), SQ_ERR_ARG);
    CHECK_ST(sq_map_symbols(idx, 3, table, 0, iq), SQ_ERR_ARG);
    CHECK_ST(sq_map_symbols(idx, SQ_MAX_N + 1, table, 3, iq), SQ_ERR_LIMIT);
    CHECK_ST(sq_map_symbols(idx, 3, table, SQ_MAX_M + 1, iq), SQ_ERR_LIMIT);
    CHECK_ST(sq_map_symbols(NULL, 3, table, 3, iq), SQ_ERR_NULL);
    CHECK_ST(sq_map_symbols(idx, 3, NULL, 3, iq), SQ_ERR_NULL);
    CHECK_ST(sq_map_symbols(idx, 3, table, 3, NULL), SQ_ERR_NULL);
    CHECK(iq[0] == 5);
}

static uint16_t policy_at(const sq_policy *p, int16_t snr, int32_t n)
{
    uint16_t k = 0;
    CHECK_ST(sq_policy_k(p, snr, n, &k), SQ_OK);
    return k;
}

static void test_policy_k(void)
{
    const uint16_t ks[4] = {4, 8, 16, 32};
    const uint16_t bad_lo[2] = {0, 8};
    const uint16_t odd_ks[3] = {1, 2, 3};
    sq_policy p;
    uint16_t k = 99;
    p.k = ks;
    p.len = 4;
    p.snr_min_cdb = -500; /* grid -5.0, -4.5, -4.0, -3.5 dB */
    p.step_cdb = 50;
    CHECK(policy_at(&p, -500, 32) == 4);
    CHECK(policy_at(&p, -475, 32) == 4);  /* midpoint: tie to the lower grid point */
    CHECK(policy_at(&p, -474, 32) == 8);
    CHECK(policy_at(&p, -450, 32) == 8);
    CHECK(policy_at(&p, -425, 32) == 8);
    CHECK(policy_at(&p, -424, 32) == 16);
    CHECK(policy_at(&p, -375, 32) == 16);
    CHECK(policy_at(&p, -374, 32) == 32);
    CHECK(policy_at(&p, -350, 32) == 32);
    CHECK(policy_at(&p, -524, 32) == 4); /* below the grid: floor of a negative, clamped */
    CHECK(policy_at(&p, -526, 32) == 4);
    CHECK(policy_at(&p, -32768, 32) == 4);
    CHECK(policy_at(&p, 32767, 32) == 32);
    /* odd step: integer step / 2 = 2, so 3 maps to grid 0 although 5 is as close (doc formula) */
    p.k = odd_ks;
    p.len = 3;
    p.snr_min_cdb = 0;
    p.step_cdb = 5;
    CHECK(policy_at(&p, 2, 3) == 1);
    CHECK(policy_at(&p, 3, 3) == 1);
    CHECK(policy_at(&p, 4, 3) == 2);
    p.k = ks;
    p.len = 4;
    p.snr_min_cdb = -500;
    p.step_cdb = 50;
    /* a table entry outside [1, N] */
    CHECK_ST(sq_policy_k(&p, 32767, 31, &k), SQ_ERR_K_RANGE);
    p.k = bad_lo;
    p.len = 2;
    CHECK_ST(sq_policy_k(&p, -500, 32, &k), SQ_ERR_K_RANGE);
    p.k = ks;
    p.len = 4;
    CHECK(k == 99);
    p.step_cdb = 0;
    CHECK_ST(sq_policy_k(&p, 0, 32, &k), SQ_ERR_ARG);
    p.step_cdb = 50;
    p.len = 0;
    CHECK_ST(sq_policy_k(&p, 0, 32, &k), SQ_ERR_ARG);
    p.len = SQ_MAX_POLICY_LEN + 1;
    CHECK_ST(sq_policy_k(&p, 0, 32, &k), SQ_ERR_LIMIT);
    p.len = 4;
    CHECK_ST(sq_policy_k(&p, 0, 0, &k), SQ_ERR_ARG);
    CHECK_ST(sq_policy_k(&p, 0, SQ_MAX_N + 1, &k), SQ_ERR_LIMIT);
    CHECK_ST(sq_policy_k(NULL, 0, 32, &k), SQ_ERR_NULL);
    CHECK_ST(sq_policy_k(&p, 0, 32, NULL), SQ_ERR_NULL);
    p.k = NULL;
    CHECK_ST(sq_policy_k(&p, 0, 32, &k), SQ_ERR_NULL);
    CHECK(k == 99);
}

static void test_bitmap(void)
{
    const uint16_t pos[3] = {9, 0, 3};
    const uint16_t dup[3] = {9, 0, 9};
    const uint16_t out_of_range[1] = {10};
    uint8_t bm[2] = {0xff, 0xff};
    uint16_t back[10];
    int32_t k = -1;
    CHECK_ST(sq_position_bitmap(pos, 3, 10, bm, 2), SQ_OK);
    CHECK(bm[0] == 0x09 && bm[1] == 0x02);
    CHECK_ST(sq_bitmap_positions(bm, 2, 10, back, 10, &k), SQ_OK);
    CHECK(k == 3 && back[0] == 0 && back[1] == 3 && back[2] == 9);
    CHECK_ST(sq_bitmap_positions(bm, 2, 10, back, 2, &k), SQ_ERR_BUFFER);
    CHECK_ST(sq_bitmap_positions(bm, 1, 10, back, 10, &k), SQ_ERR_BUFFER);
    CHECK_ST(sq_bitmap_positions(bm, 2, 0, back, 10, &k), SQ_ERR_ARG);
    CHECK_ST(sq_bitmap_positions(bm, 2, SQ_MAX_N + 1, back, 10, &k), SQ_ERR_LIMIT);
    CHECK_ST(sq_bitmap_positions(NULL, 2, 10, back, 10, &k), SQ_ERR_NULL);
    CHECK(k == 3);
    CHECK_ST(sq_position_bitmap(dup, 3, 10, bm, 2), SQ_ERR_ARG);
    CHECK_ST(sq_position_bitmap(out_of_range, 1, 10, bm, 2), SQ_ERR_INDEX);
    CHECK_ST(sq_position_bitmap(pos, 3, 10, bm, 1), SQ_ERR_BUFFER);
    CHECK_ST(sq_position_bitmap(pos, 0, 10, bm, 2), SQ_ERR_K_RANGE);
    CHECK_ST(sq_position_bitmap(pos, 11, 10, bm, 2), SQ_ERR_K_RANGE);
    CHECK_ST(sq_position_bitmap(pos, 3, 0, bm, 2), SQ_ERR_ARG);
    CHECK_ST(sq_position_bitmap(pos, 3, SQ_MAX_N + 1, bm, 64), SQ_ERR_LIMIT);
    CHECK_ST(sq_position_bitmap(NULL, 3, 10, bm, 2), SQ_ERR_NULL);
    CHECK_ST(sq_position_bitmap(pos, 3, 10, NULL, 2), SQ_ERR_NULL);
}

/* The small graph of the graph / encode tests (worked out by hand):
 * u = {3, 200} -> q = {-125, 72}
 * fc0 (trunk, 2 -> 3, in_off 128, identity requant (2^30, shift 1), out_off -128, ReLU):
 *     x + 128 = {3, 200}; acc = {3 - 128, 200, 3 - 200 + 10} = {-125, 200, -187}
 *     + (-128), clamp [-128, 127] -> h = {-128, 72, -128}
 * fc1 (z head, 3 -> 4, in_off 128, x0.5 (2^30, shift 0), out_off 0):
 *     h + 128 = {0, 200, 0}; acc = {0, 200, 200, 200} -> z = {0, 100, 100, 100}
 * fc2 (sci head, 3 -> 2, in_off 128, identity, out_off -128):
 *     acc = {200, -200} -> logit {72, -128}; LUT (lut[i] = 127 - i) -> s = {-73, 127}
 * ranked on the logit: slots 0, 1; on s: 1, 0 (the LUT here is decreasing on purpose).
 * codebook {(0,0), (0,99), (0,101), (99,100)}:
 *     slot 0 (0,100): 10000, 1, 1, 9801 -> 1 (tie to the lower index)
 *     slot 1 (100,100): 20000, 10001, 10001, 1 -> 3 */
static const int8_t g_w0[6] = {1, 0, 0, 1, 1, -1};
static const int32_t g_b0[3] = {-128, 0, 10};
static const int32_t g_m3[4] = {Q31_HALF, Q31_HALF, Q31_HALF, Q31_HALF};
static const int32_t g_s1[4] = {1, 1, 1, 1};
static const int32_t g_s0[4] = {0, 0, 0, 0};
static const int8_t g_w1[12] = {1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1};
static const int8_t g_w2[6] = {0, 1, 0, 0, -1, 0};
static const int8_t g_cb[8] = {0, 0, 0, 99, 0, 101, 99, 100};
static const int16_t g_const[8] = {-1000, 1000, 2000, -2000, 3000, 3000, -4000, -4000};

static void small_graph(sq_fc_layer layers[3], int8_t lut[256], sq_graph *g)
{
    int i;
    for (i = 0; i < 256; ++i) {
        lut[i] = (int8_t)(127 - i);
    }
    layers[0] = make_layer(g_w0, g_b0, g_m3, g_s1, 2, 3, 128, -128, -128, 127);
    layers[1] = make_layer(g_w1, NULL, g_m3, g_s0, 3, 4, 128, 0, -128, 127);
    layers[2] = make_layer(g_w2, NULL, g_m3, g_s1, 3, 2, 128, -128, -128, 127);
    g->trunk = &layers[0];
    g->n_trunk = 1;
    g->z_head = &layers[1];
    g->n_z = 1;
    g->sci_head = &layers[2];
    g->n_sci = 1;
    g->logistic_lut = lut;
    g->input_size = 2;
    g->n_concepts = 2;
    g->latent_dim = 2;
    g->rank_by_sci = 0;
}

static void test_graph(void)
{
    sq_fc_layer layers[3];
    int8_t lut[256];
    sq_graph g;
    const int8_t q[2] = {-125, 72};
    int8_t scratch[16];
    int8_t z[4];
    int8_t l[2];
    int8_t s[2];
    int32_t need = -1;
    small_graph(layers, lut, &g);
    CHECK_ST(sq_graph_check(&g, &need), SQ_OK);
    CHECK(need == 9); /* 3 buffers x the trunk's width 3 */
    CHECK_ST(sq_graph_check(&g, NULL), SQ_OK);
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, z, l, s), SQ_OK);
    CHECK(z[0] == 0 && z[1] == 100 && z[2] == 100 && z[3] == 100);
    CHECK(l[0] == 72 && l[1] == -128);
    CHECK(s[0] == -73 && s[1] == 127);
    s[0] = 5;
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, z, l, NULL), SQ_OK); /* s is optional */
    CHECK(l[0] == 72 && s[0] == 5);
    g.logistic_lut = NULL; /* no logistic: s is a copy of the logit */
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, z, l, s), SQ_OK);
    CHECK(s[0] == 72 && s[1] == -128);
    g.logistic_lut = lut;
    /* errors */
    CHECK_ST(sq_graph_run(&g, q, scratch, 8, z, l, s), SQ_ERR_BUFFER);
    CHECK_ST(sq_graph_run(&g, q, NULL, 9, z, l, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run(&g, NULL, scratch, 9, z, l, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, NULL, l, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, z, NULL, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run(NULL, q, scratch, 9, z, l, s), SQ_ERR_NULL);
    g.latent_dim = 3; /* z head gives 4 != N * D = 6 */
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_SHAPE);
    g.latent_dim = 2;
    g.input_size = 3; /* trunk expects 2 */
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_SHAPE);
    g.input_size = 2;
    layers[1].input_offset = 127; /* does not chain with the trunk's zp -128 */
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_SHAPE);
    layers[1].input_offset = 128;
    g.n_concepts = 1; /* sci head gives 2 */
    g.latent_dim = 4;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_SHAPE);
    g.n_concepts = 2;
    g.latent_dim = 2;
    g.n_z = 0;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_ARG);
    g.n_z = 1;
    g.n_sci = SQ_MAX_CHAIN_LAYERS + 1;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_LIMIT);
    g.n_sci = 1;
    g.n_concepts = SQ_MAX_N + 1;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_LIMIT);
    g.n_concepts = 2;
    g.latent_dim = SQ_MAX_D + 1;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_LIMIT);
    g.latent_dim = 2;
    g.input_size = 0;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_ARG);
    g.input_size = SQ_MAX_LAYER_WIDTH + 1;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_LIMIT);
    g.input_size = 2;
    g.trunk = NULL;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_NULL);
    g.trunk = &layers[0];
    layers[2].shift = NULL;
    CHECK_ST(sq_graph_check(&g, NULL), SQ_ERR_NULL);
    layers[2].shift = g_s1;
    CHECK_ST(sq_graph_check(&g, &need), SQ_OK);
}

/* Deeper chains: trunk 2 layers, z head 2, sci head 3; identity layers (weights I, zp 0,
 * (2^30, shift 1)) so every buffer's content is predictable and a clobbered h would show. */
static void test_graph_ping_pong(void)
{
    static const int8_t eye3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    static const int8_t neg3[9] = {-1, 0, 0, 0, -1, 0, 0, 0, -1};
    static const int8_t sum2[6] = {1, 1, 0, 0, 1, 1}; /* 3 -> 2 */
    sq_fc_layer trunk[2];
    sq_fc_layer zh[2];
    sq_fc_layer sh[3];
    sq_graph g;
    const int8_t q[3] = {10, -20, 30};
    int8_t scratch[9];
    int8_t z[3];
    int8_t l[3];
    int32_t need = 0;
    trunk[0] = make_layer(eye3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127);
    trunk[1] = make_layer(neg3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127); /* h = -q */
    zh[0] = make_layer(neg3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127);
    zh[1] = make_layer(eye3, NULL, g_m3, g_s1, 3, 3, 0, 0, 0, 127);     /* ReLU(q) */
    sh[0] = make_layer(eye3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127);
    sh[1] = make_layer(neg3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127);
    sh[2] = make_layer(sum2, NULL, g_m3, g_s1, 3, 2, 0, 0, -128, 127);
    g.trunk = trunk;
    g.n_trunk = 2;
    g.z_head = zh;
    g.n_z = 2;
    g.sci_head = sh;
    g.n_sci = 3;
    g.logistic_lut = NULL;
    g.input_size = 3;
    g.n_concepts = 2;
    g.latent_dim = 1;
    g.rank_by_sci = 0;
    /* z width 3 != N * D = 2 */
    CHECK_ST(sq_graph_check(&g, &need), SQ_ERR_SHAPE);
    g.n_concepts = 3;
    g.latent_dim = 1;
    CHECK_ST(sq_graph_check(&g, &need), SQ_ERR_SHAPE); /* now sci gives 2 != 3 */
    sh[2] = make_layer(eye3, NULL, g_m3, g_s1, 3, 3, 0, 0, -128, 127);
    CHECK_ST(sq_graph_check(&g, &need), SQ_OK);
    CHECK(need == 9);
    /* h = -q in buffer 1; z = ReLU(-h) = {10, 0, 30} via buffer 2; s = -(h) = q via 2, 0 */
    CHECK_ST(sq_graph_run(&g, q, scratch, 9, z, l, NULL), SQ_OK);
    CHECK(z[0] == 10 && z[1] == 0 && z[2] == 30);
    CHECK(l[0] == 10 && l[1] == -20 && l[2] == 30);
}

static void test_encode(void)
{
    sq_fc_layer layers[3];
    int8_t lut[256];
    sq_graph g;
    sq_tables t;
    const uint8_t u[2] = {3, 200};
    int8_t scratch[SQ_ENCODE_SCRATCH_BYTES];
    uint16_t pos[2] = {9, 9};
    uint16_t idx[2] = {9, 9};
    int16_t iq[4] = {0, 0, 0, 0};
    int32_t bytes = 0;
    small_graph(layers, lut, &g);
    t.codebook = g_cb;
    t.constellation = g_const;
    t.order = 4;
    t.latent_dim = 2;
    CHECK_ST(sq_encode_scratch_bytes(&g, &bytes), SQ_OK);
    CHECK(bytes == 9 + 2 + 4 + 2 + 2);
    CHECK_ST(sq_encode(&g, &t, u, 1, scratch, bytes, pos, idx, iq), SQ_OK);
    CHECK(pos[0] == 0 && idx[0] == 1 && iq[0] == 2000 && iq[1] == -2000);
    CHECK_ST(sq_encode(&g, &t, u, 2, scratch, bytes, pos, idx, iq), SQ_OK);
    CHECK(pos[0] == 0 && pos[1] == 1 && idx[0] == 1 && idx[1] == 3);
    CHECK(iq[0] == 2000 && iq[1] == -2000 && iq[2] == -4000 && iq[3] == -4000);
    g.rank_by_sci = 1; /* rank on s = LUT(logit): the order flips */
    CHECK_ST(sq_encode(&g, &t, u, 2, scratch, bytes, pos, idx, iq), SQ_OK);
    CHECK(pos[0] == 1 && pos[1] == 0 && idx[0] == 3 && idx[1] == 1);
    g.rank_by_sci = 0;
    CHECK_ST(sq_encode(&g, &t, u, 0, scratch, bytes, pos, idx, iq), SQ_ERR_K_RANGE);
    CHECK_ST(sq_encode(&g, &t, u, 3, scratch, bytes, pos, idx, iq), SQ_ERR_K_RANGE);
    CHECK_ST(sq_encode(&g, &t, u, 1, scratch, bytes - 1, pos, idx, iq), SQ_ERR_BUFFER);
    CHECK_ST(sq_encode(&g, &t, NULL, 1, scratch, bytes, pos, idx, iq), SQ_ERR_NULL);
    CHECK_ST(sq_encode(&g, NULL, u, 1, scratch, bytes, pos, idx, iq), SQ_ERR_NULL);
    CHECK_ST(sq_encode(NULL, &t, u, 1, scratch, bytes, pos, idx, iq), SQ_ERR_NULL);
    CHECK_ST(sq_encode_scratch_bytes(&g, NULL), SQ_ERR_NULL);
    t.latent_dim = 3;
    CHECK_ST(sq_encode(&g, &t, u, 1, scratch, bytes, pos, idx, iq), SQ_ERR_SHAPE);
    t.latent_dim = 2;
    t.order = SQ_MAX_M + 1;
    CHECK_ST(sq_encode(&g, &t, u, 1, scratch, bytes, pos, idx, iq), SQ_ERR_LIMIT);
    t.order = 4;
    t.codebook = NULL;
    CHECK_ST(sq_encode(&g, &t, u, 1, scratch, bytes, pos, idx, iq), SQ_ERR_NULL);
}

static void test_status_names(void)
{
    CHECK(strcmp(sq_status_name(SQ_OK), "SQ_OK") == 0);
    CHECK(strcmp(sq_status_name(SQ_ERR_INDEX), "SQ_ERR_INDEX") == 0);
    CHECK(strcmp(sq_status_name(SQ_ERR_STATE), "SQ_ERR_STATE") == 0);
    CHECK(strcmp(sq_status_name(-99), "SQ_UNKNOWN") == 0);
}

/* ---- validate once ---------------------------------------------------------------------- */

static void test_prepared(void)
{
    sq_fc_layer layers[3];
    int8_t lut[256];
    sq_graph g;
    sq_graph_prepared gp;
    sq_codebook cb;
    int32_t norms[4] = {-1, -1, -1, -1};
    const int8_t q[2] = {-125, 72};
    const uint8_t u[2] = {3, 200};
    int8_t scratch[SQ_ENCODE_SCRATCH_BYTES];
    int8_t z[4];
    int8_t l[2];
    int8_t s[2];
    uint16_t pos[2] = {9, 9};
    uint16_t idx[2] = {9, 9};
    int16_t iq[4] = {0, 0, 0, 0};
    const uint16_t sel[2] = {1, 0};
    small_graph(layers, lut, &g);
    CHECK_ST(sq_graph_prepare(&g, &gp), SQ_OK);
    CHECK(gp.graph_scratch_bytes == 9 && gp.encode_scratch_bytes == 19);
    /* the handle holds its own copy of the layer structs: later edits do not reach it */
    layers[1].shift = NULL;
    CHECK_ST(sq_graph_run_prepared(&gp, q, scratch, 9, z, l, s), SQ_OK);
    CHECK(z[0] == 0 && z[1] == 100 && z[2] == 100 && z[3] == 100);
    CHECK(l[0] == 72 && l[1] == -128 && s[0] == -73 && s[1] == 127);
    layers[1].shift = g_s0;
    CHECK_ST(sq_graph_run_prepared(&gp, q, scratch, 8, z, l, s), SQ_ERR_BUFFER);
    CHECK_ST(sq_graph_run_prepared(&gp, NULL, scratch, 9, z, l, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run_prepared(&gp, q, NULL, 9, z, l, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run_prepared(&gp, q, scratch, 9, z, NULL, s), SQ_ERR_NULL);
    CHECK_ST(sq_graph_run_prepared(NULL, q, scratch, 9, z, l, s), SQ_ERR_NULL);
    /* codebook {(0,0), (0,99), (0,101), (99,100)}: norms 0, 9801, 10201, 19801 */
    CHECK_ST(sq_codebook_prepare(g_cb, 4, 2, norms, 4, &cb), SQ_OK);
    CHECK(norms[0] == 0 && norms[1] == 9801 && norms[2] == 10201 && norms[3] == 19801);
    CHECK_ST(sq_nearest_codewords_prepared(&cb, z, 2, sel, 2, idx), SQ_OK);
    CHECK(idx[0] == 3 && idx[1] == 1); /* slot 1 (100,100) -> 3; slot 0 (0,100): tie -> 1 */
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 2, scratch, 19, pos, idx, iq), SQ_OK);
    CHECK(pos[0] == 0 && pos[1] == 1 && idx[0] == 1 && idx[1] == 3);
    CHECK(iq[0] == 2000 && iq[1] == -2000 && iq[2] == -4000 && iq[3] == -4000);
    /* per-sample arguments are still checked */
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 3, scratch, 19, pos, idx, iq),
             SQ_ERR_K_RANGE);
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 0, scratch, 19, pos, idx, iq),
             SQ_ERR_K_RANGE);
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 1, scratch, 18, pos, idx, iq),
             SQ_ERR_BUFFER);
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, NULL, 1, scratch, 19, pos, idx, iq),
             SQ_ERR_NULL);
    CHECK_ST(sq_encode_prepared(&gp, &cb, NULL, u, 1, scratch, 19, pos, idx, iq), SQ_ERR_NULL);
    CHECK_ST(sq_encode_prepared(&gp, NULL, g_const, u, 1, scratch, 19, pos, idx, iq),
             SQ_ERR_NULL);
    CHECK_ST(sq_nearest_codewords_prepared(&cb, z, 2, sel, 3, idx), SQ_ERR_K_RANGE);
    CHECK_ST(sq_nearest_codewords_prepared(NULL, z, 2, sel, 2, idx), SQ_ERR_NULL);
    CHECK_ST(sq_codebook_prepare(g_cb, 4, 2, norms, 3, &cb), SQ_ERR_BUFFER);
    CHECK_ST(sq_codebook_prepare(g_cb, 0, 2, norms, 4, &cb), SQ_ERR_ARG);
    CHECK_ST(sq_codebook_prepare(g_cb, SQ_MAX_M + 1, 2, norms, 4, &cb), SQ_ERR_LIMIT);
    CHECK_ST(sq_codebook_prepare(NULL, 4, 2, norms, 4, &cb), SQ_ERR_NULL);
    /* a failed prepare leaves an unusable handle, never a half-valid one */
    CHECK_ST(sq_nearest_codewords_prepared(&cb, z, 2, sel, 2, idx), SQ_ERR_STATE);
    CHECK_ST(sq_codebook_prepare(g_cb, 4, 2, norms, 4, &cb), SQ_OK);
    cb.latent_dim = 3;
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 1, scratch, 19, pos, idx, iq),
             SQ_ERR_SHAPE);
    g.latent_dim = 3; /* invalid graph */
    CHECK_ST(sq_graph_prepare(&g, &gp), SQ_ERR_SHAPE);
    CHECK_ST(sq_graph_run_prepared(&gp, q, scratch, 9, z, l, s), SQ_ERR_STATE);
    CHECK_ST(sq_encode_prepared(&gp, &cb, g_const, u, 1, scratch, 19, pos, idx, iq),
             SQ_ERR_STATE);
    CHECK_ST(sq_graph_prepare(&g, NULL), SQ_ERR_NULL);
    CHECK_ST(sq_graph_prepare(NULL, &gp), SQ_ERR_NULL);
}

/* ---- ports: API, then randomized differential tests against the reference ----------- */

static uint32_t g_rng = 0x12345678u;

static uint32_t rnd(void) /* xorshift32: the same sequence on every machine */
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

static int32_t rnd_in(int32_t lo, int32_t hi) /* uniform-ish in [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* int8 values with the extremes -128 / 127 over-represented (1 in 4 each `extreme` mode). */
static void fill_i8(int8_t *v, int32_t n, int extreme)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const uint32_t r = rnd();
        if (extreme && (r & 7u) == 0) {
            v[i] = -128;
        } else if (extreme && (r & 7u) == 1) {
            v[i] = 127;
        } else {
            v[i] = (int8_t)(int32_t)((r >> 8) % 256u - 128u);
        }
    }
}

static void test_port_api(void)
{
    const char *why = NULL;
    const int32_t active = sq_port_active();
    int32_t p;
    CHECK(active >= 0 && active < SQ_PORT_COUNT);
    CHECK_ST(sq_port_available(active, &why), SQ_OK);
    CHECK(why != NULL && strcmp(why, "available") == 0);
    CHECK_ST(sq_port_available(SQ_PORT_REFERENCE, NULL), SQ_OK);
    CHECK_ST(sq_port_available(-1, &why), SQ_ERR_ARG);
    CHECK_ST(sq_port_available(SQ_PORT_COUNT, &why), SQ_ERR_ARG);
    CHECK_ST(sq_port_select(SQ_PORT_COUNT), SQ_ERR_ARG);
    CHECK(sq_port_active() == active);
    CHECK(strcmp(sq_port_name(SQ_PORT_REFERENCE), "reference") == 0);
    CHECK(strcmp(sq_port_name(SQ_PORT_X86_AVX512_VNNI), "x86_avx512_vnni") == 0);
    CHECK(strcmp(sq_port_name(-1), "unknown") == 0);
    for (p = 0; p < SQ_PORT_COUNT; ++p) {
        if (sq_port_available(p, NULL) != SQ_OK) {
            CHECK_ST(sq_port_select(p), SQ_ERR_STATE); /* refused, nothing changes */
            CHECK(sq_port_active() == active);
        } else {
            CHECK(sq_port_ops_of(p) != NULL && strcmp(sq_port_ops_of(p)->name,
                                                      sq_port_name(p)) == 0);
        }
    }
#if defined(SQ_PORTABLE_ONLY)
    CHECK(active == SQ_PORT_REFERENCE);
#endif
}

#define DIFF_MAX_IN 1100
#define DIFF_MAX_OUT 300

/* Raw accumulators of one port against an int64 sum, then whole layers (both requantization
 * paths) under the port against the reference. */
static void diff_fc(int32_t port, int32_t in_dim, int32_t out_dim, int32_t off, int extreme)
{
    static int8_t w[DIFF_MAX_OUT * DIFF_MAX_IN];
    static int8_t x[DIFF_MAX_IN];
    static int32_t bias[DIFF_MAX_OUT];
    static double scale[DIFF_MAX_OUT];
    static int32_t mult[DIFF_MAX_OUT];
    static int32_t shift[DIFF_MAX_OUT];
    static int8_t y_ref[DIFF_MAX_OUT];
    static int8_t y_port[DIFF_MAX_OUT];
    /* the weights packed for the port's packed kernel (sq_graph_pack), if it has one */
    static int8_t packed[(DIFF_MAX_OUT + 15) / 16 * ((DIFF_MAX_IN + 3) / 4) * 64];
    const sq_packed_ops *pops = off == 128 ? sq_packed_ops_of(port) : NULL;
    const sq_port_ops *ops = sq_port_ops_of(port);
    int32_t acc[SQ_FC_BLOCK];
    int32_t pacc[SQ_FC_BLOCK];
    int32_t c0;
    int32_t c;
    int32_t bad = 0;
    int64_t maxabs = 1;
    int pow2 = 1;
    sq_fc_layer l;
    fill_i8(w, in_dim * out_dim, extreme);
    fill_i8(x, in_dim, extreme);
    for (c = 0; c < out_dim; ++c) {
        bias[c] = (int32_t)(rnd() % 2001u) - 1000;
    }
    if (pops != NULL) {
        CHECK(pops->bytes(in_dim, out_dim) <= (int32_t)sizeof packed);
        CHECK(pops->bytes(in_dim, out_dim) % 64 == 0);
        pops->pack(w, in_dim, out_dim, packed);
    }
    /* raw int32 sums; |acc + bias| bounds the scales below */
    for (c0 = 0; c0 < out_dim; c0 += SQ_FC_BLOCK) {
        const int32_t rows = out_dim - c0 < SQ_FC_BLOCK ? out_dim - c0 : SQ_FC_BLOCK;
        if (ops->fc_acc != NULL) {
            ops->fc_acc(w + (size_t)c0 * (size_t)in_dim, in_dim, rows, x, off, acc);
        }
        if (pops != NULL) {
            pops->fc_acc(packed, in_dim, c0, rows, x, pacc);
        }
        for (c = 0; c < rows; ++c) {
            int64_t want = 0;
            int32_t i;
            for (i = 0; i < in_dim; ++i) {
                want += (int64_t)w[(size_t)(c0 + c) * (size_t)in_dim + (size_t)i] *
                        ((int64_t)x[i] + off);
            }
            bad += ops->fc_acc != NULL && acc[c] != (int32_t)want;
            bad += pops != NULL && pacc[c] != (int32_t)want;
            want += bias[c0 + c];
            want = want < 0 ? -want : want;
            maxabs = want > maxabs ? want : maxabs;
        }
    }
    CHECK(bad == 0);
    /* scales that put outputs inside int8 on exact halves (ties, 1 / 2^j), random ones inside
     * the range, huge (saturation) and zero */
    while (((int64_t)1 << pow2) < maxabs / 100) {
        ++pow2;
    }
    for (c = 0; c < out_dim; ++c) {
        const uint32_t kind = rnd() % 5u;
        scale[c] = kind <= 1 ? 1.0 / (double)((int64_t)1 << (pow2 + (int)(rnd() % 3u)))
                 : kind == 2 ? (double)(rnd() % 100000u) * 1e-5 * 150.0 / (double)(maxabs + 1)
                 : kind == 3 ? 1000.0 : 0.0;
        mult[c] = (int32_t)(rnd() >> 1);
        shift[c] = -(int32_t)(rnd() % 20u);
    }
    l.weights = w;
    l.bias = (rnd() & 1u) ? bias : NULL;
    l.scale = scale;
    l.multiplier = mult;
    l.shift = shift;
    l.in_dim = in_dim;
    l.out_dim = out_dim;
    l.input_offset = off;
    l.output_offset = (rnd() & 1u) ? 0 : rnd_in(-128, 127);
    l.act_min = (rnd() & 1u) ? -128 : rnd_in(-128, 0);
    l.act_max = (rnd() & 1u) ? 127 : rnd_in(l.act_min, 127);
    for (c = 0; c < 2; ++c) { /* c = 0: double scales, 1: Q31 */
        l.scale = c == 0 ? scale : NULL;
        CHECK_ST(sq_port_select(SQ_PORT_REFERENCE), SQ_OK);
        CHECK_ST(sq_fc_int8(&l, x, y_ref), SQ_OK);
        CHECK_ST(sq_port_select(port), SQ_OK);
        CHECK_ST(sq_fc_int8(&l, x, y_port), SQ_OK);
        CHECK(memcmp(y_ref, y_port, (size_t)out_dim) == 0);
        if (pops != NULL) {
            memset(y_port, 0, sizeof y_port);
            sq_fc_run_packed(&l, pops, packed, x, y_port);
            CHECK(memcmp(y_ref, y_port, (size_t)out_dim) == 0);
        }
    }
}

/* The port's vectorized double requantization against sq_multiply_by_scale + the documented
 * clamp: accumulators around exact halves (scales 1 / 2^j), bias wrapping at the int32 ends,
 * saturation, zero scales. */
static void test_diff_requant(int32_t port)
{
    enum { NR = 203 }; /* odd: vector tails */
    const sq_port_ops *ops = sq_port_ops_of(port);
    int32_t acc[NR];
    int32_t bias[NR];
    double scale[NR];
    int8_t y[NR];
    int rep;
    int bad = 0;
    if (ops->requant_scale == NULL) {
        return;
    }
    for (rep = 0; rep < 40; ++rep) {
        const int32_t off = rep % 4 == 0 ? -128 : rep % 4 == 1 ? 127 : rnd_in(-128, 127);
        const int32_t lo = rep % 3 == 0 ? -128 : rnd_in(-128, 0);
        const int32_t hi = rep % 3 == 0 ? 127 : rnd_in(lo, 127);
        const int with_bias = rep & 1;
        int32_t i;
        for (i = 0; i < NR; ++i) {
            const uint32_t kind = rnd() % 8u;
            acc[i] = kind == 0 ? INT32_MAX - rnd_in(0, 3) : kind == 1 ? INT32_MIN + rnd_in(0, 3)
                                                          : rnd_in(-3000, 3000);
            bias[i] = kind <= 1 ? rnd_in(-5, 5) : rnd_in(-300, 300);
            scale[i] = kind == 2 ? 1000.0 : kind == 3 ? 0.0
                     : kind == 4 ? (double)rnd_in(1, 100000) * 1e-6
                                 : 1.0 / (double)(1 << rnd_in(1, 5));
        }
        ops->requant_scale(acc, with_bias ? bias : NULL, scale, NR, off, lo, hi, y);
        for (i = 0; i < NR; ++i) {
            int64_t a = (int64_t)acc[i] + (with_bias ? bias[i] : 0);
            int32_t r = 0;
            int64_t v;
            a = a > INT32_MAX ? a - 4294967296LL : a < INT32_MIN ? a + 4294967296LL : a;
            CHECK_ST(sq_multiply_by_scale((int32_t)a, scale[i], &r), SQ_OK);
            v = (int64_t)r + off;
            v = v < lo ? lo : v > hi ? hi : v;
            bad += y[i] != (int8_t)v;
        }
    }
    CHECK(bad == 0);
}

static void test_diff_fc(int32_t port)
{
    static const int32_t dims[] = {1, 2, 3, 7, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 255,
                                   256, 257, 511, 784, 1030};
    static const int32_t offs[] = {128, -127, 0, 1, 127};
    const size_t nd = sizeof(dims) / sizeof(dims[0]);
    size_t i;
    int t;
    for (i = 0; i < nd; ++i) {
        diff_fc(port, dims[i], rnd_in(1, 40), offs[i % 5], (int)(i & 1u));
    }
    for (t = 0; t < 60; ++t) {
        const int32_t off = (t % 3 == 0) ? 128 : (t % 3 == 1) ? -127 : rnd_in(-127, 128);
        diff_fc(port, rnd_in(1, 300), rnd_in(1, DIFF_MAX_OUT), off, t & 1);
    }
    diff_fc(port, DIFF_MAX_IN, SQ_FC_BLOCK + 17, 128, 1); /* two blocks, long rows */
}

#define DIFF_MAX_M 1024
#define DIFF_MAX_N 256

/* indices of the port's search (with and without norms), of the public entries under the port,
 * against a plain argmin of squared distances with the lowest index on ties. */
static void diff_nearest(int32_t port, int32_t n, int32_t d, int32_t m, int32_t k, int ties)
{
    static int8_t z[DIFF_MAX_N * SQ_MAX_D];
    static int8_t cb[DIFF_MAX_M * SQ_MAX_D];
    static int32_t norms[DIFF_MAX_M];
    uint16_t pos[DIFF_MAX_N];
    uint16_t want[DIFF_MAX_N];
    uint16_t got[DIFF_MAX_N];
    uint16_t got_pub[DIFF_MAX_N];
    uint16_t got_prep[DIFF_MAX_N];
    const sq_port_ops *ops = sq_port_ops_of(port);
    sq_codebook book;
    int32_t j;
    int32_t c;
    int bad = 0;
    fill_i8(z, n * d, 1);
    fill_i8(cb, m * d, 1);
    if (ties == 1) { /* duplicated codewords: the first copy must win */
        for (c = 1; c < m; ++c) {
            if (rnd() % 3u == 0) {
                memcpy(cb + (size_t)c * (size_t)d, cb + (size_t)rnd_in(0, c - 1) * (size_t)d,
                       (size_t)d);
            }
        }
    } else if (ties == 2) { /* z = 0 rows and +-e pairs: equal distances at different m */
        memset(z, 0, (size_t)n * (size_t)d);
        for (c = 1; c < m; c += 2) {
            int32_t i;
            for (i = 0; i < d; ++i) {
                const int8_t e = cb[(size_t)(c - 1) * (size_t)d + (size_t)i];
                cb[(size_t)c * (size_t)d + (size_t)i] = (int8_t)(e == -128 ? 127 : -e);
                cb[(size_t)(c - 1) * (size_t)d + (size_t)i] = (int8_t)(e == -128 ? -127 : e);
            }
        }
    } else if (ties == 3) { /* every coordinate at an extreme: z -128, codebook +-127/-128 */
        memset(z, -128, (size_t)n * (size_t)d);
        for (c = 0; c < m * d; ++c) {
            cb[c] = (rnd() & 1u) ? 127 : -128;
        }
    }
    for (j = 0; j < k; ++j) {
        pos[j] = (uint16_t)rnd_in(0, n - 1);
    }
    for (j = 0; j < k; ++j) {
        int32_t best = INT32_MAX;
        int32_t best_m = 0;
        for (c = 0; c < m; ++c) {
            int32_t dist = 0;
            int32_t i;
            for (i = 0; i < d; ++i) {
                const int32_t a = z[(size_t)pos[j] * (size_t)d + (size_t)i] -
                                  cb[(size_t)c * (size_t)d + (size_t)i];
                dist += a * a;
            }
            if (dist < best) {
                best = dist;
                best_m = c;
            }
        }
        want[j] = (uint16_t)best_m;
    }
    CHECK_ST(sq_codebook_prepare(cb, m, d, norms, DIFF_MAX_M, &book), SQ_OK);
    if (ops->nearest != NULL) {
        ops->nearest(z, d, pos, k, cb, m, NULL, got);
        bad += memcmp(want, got, (size_t)k * sizeof(uint16_t)) != 0;
        ops->nearest(z, d, pos, k, cb, m, norms, got);
        bad += memcmp(want, got, (size_t)k * sizeof(uint16_t)) != 0;
    }
    CHECK_ST(sq_port_select(port), SQ_OK);
    CHECK_ST(sq_nearest_codewords(z, n, d, pos, k, cb, m, got_pub), SQ_OK);
    CHECK_ST(sq_nearest_codewords_prepared(&book, z, n, pos, k, got_prep), SQ_OK);
    bad += memcmp(want, got_pub, (size_t)k * sizeof(uint16_t)) != 0;
    bad += memcmp(want, got_prep, (size_t)k * sizeof(uint16_t)) != 0;
    CHECK(bad == 0);
    if (bad != 0) {
        printf("  nearest mismatch: port %s n=%d d=%d m=%d k=%d ties=%d\n", sq_port_name(port),
               (int)n, (int)d, (int)m, (int)k, ties);
    }
}

static void test_diff_nearest(int32_t port)
{
    static const int32_t ds[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 63, 64, 65, 100, 127, 128,
                                 129, 255, 256};
    static const int32_t ms[] = {1, 2, 3, 15, 16, 17, 64, 100, 257, 1024};
    const size_t nd = sizeof(ds) / sizeof(ds[0]);
    const size_t nm = sizeof(ms) / sizeof(ms[0]);
    size_t i;
    int t;
    for (i = 0; i < nd; ++i) {
        const int32_t n = rnd_in(1, 100);
        diff_nearest(port, n, ds[i], ms[i % nm], rnd_in(1, n), (int)(i % 4));
    }
    for (i = 0; i < nm; ++i) {
        diff_nearest(port, 64, 64, ms[i], 32, (int)(i % 4));
    }
    for (t = 0; t < 40; ++t) { /* k up to 256: several passes of queries */
        const int32_t n = rnd_in(1, DIFF_MAX_N);
        diff_nearest(port, n, rnd_in(1, 80), rnd_in(1, 300), rnd_in(1, n), t % 4);
    }
    diff_nearest(port, DIFF_MAX_N, SQ_MAX_D, 300, DIFF_MAX_N, 1);
}

/* A random MNIST-shaped graph (784 -> 96 -> 40, z head 40 -> N*D, sci head 40 -> 24 -> N)
 * encoded under the port and the reference, sample by sample, bytes compared. */
static void test_diff_encode(int32_t port)
{
    enum { IN = 784, H0 = 96, H1 = 40, S0 = 24, N = 16, D = 12, M = 200, K = 9 };
    static int8_t w0[H0 * IN], w1[H1 * H0], wz[N * D * H1], ws0[S0 * H1], ws1[N * S0];
    static int32_t b[N * D], mult[N * D], shift[N * D];
    static double scale[N * D];
    static int8_t cb[M * D];
    static int16_t table[M * 2];
    static int8_t lut[256];
    static int8_t scratch[SQ_ENCODE_SCRATCH_BYTES];
    static uint8_t u[IN];
    sq_fc_layer trunk[2], zh[1], sh[2];
    sq_graph g;
    sq_tables t;
    sq_graph_prepared gp;
    sq_codebook book;
    int32_t norms[M];
    int32_t bytes = 0;
    int32_t i;
    int rep;
    int bad = 0;
    fill_i8(w0, H0 * IN, 0);
    fill_i8(w1, H1 * H0, 0);
    fill_i8(wz, N * D * H1, 0);
    fill_i8(ws0, S0 * H1, 0);
    fill_i8(ws1, N * S0, 0);
    fill_i8(cb, M * D, 0);
    fill_i8(lut, 256, 0);
    for (i = 0; i < N * D; ++i) {
        b[i] = (int32_t)(rnd() % 20001u) - 10000;
        scale[i] = 1.0 / (double)(256u << (rnd() % 4u)); /* exact: many ties */
        mult[i] = 1073741824 + (int32_t)(rnd() % 1000u);
        shift[i] = -8 - (int32_t)(rnd() % 4u);
    }
    for (i = 0; i < M * 2; ++i) {
        table[i] = (int16_t)(int32_t)(rnd() % 65536u - 32768u);
    }
    trunk[0] = make_layer(w0, b, mult, shift, IN, H0, 128, -128, -128, 127);
    trunk[1] = make_layer(w1, b, mult, shift, H0, H1, 128, -128, -128, 127);
    zh[0] = make_layer(wz, b, mult, shift, H1, N * D, 128, 3, -128, 127);
    sh[0] = make_layer(ws0, b, mult, shift, H1, S0, 128, -5, -5, 127); /* off != 128 next */
    sh[1] = make_layer(ws1, b, mult, shift, S0, N, 5, -54, -128, 127);
    trunk[0].scale = scale;
    zh[0].scale = scale;
    sh[1].scale = scale;
    g.trunk = trunk;
    g.n_trunk = 2;
    g.z_head = zh;
    g.n_z = 1;
    g.sci_head = sh;
    g.n_sci = 2;
    g.logistic_lut = lut;
    g.input_size = IN;
    g.n_concepts = N;
    g.latent_dim = D;
    g.rank_by_sci = 0;
    t.codebook = cb;
    t.constellation = table;
    t.order = M;
    t.latent_dim = D;
    CHECK_ST(sq_encode_scratch_bytes(&g, &bytes), SQ_OK);
    CHECK_ST(sq_graph_prepare(&g, &gp), SQ_OK);
    CHECK_ST(sq_codebook_prepare(cb, M, D, norms, M, &book), SQ_OK);
    for (rep = 0; rep < 12; ++rep) {
        uint16_t pos[2][K], idx[2][K], pos_p[K], idx_p[K];
        int16_t iq[2][2 * K], iq_p[2 * K];
        int side;
        g.rank_by_sci = rep & 1;
        gp.graph.rank_by_sci = rep & 1;
        for (i = 0; i < IN; ++i) {
            u[i] = (uint8_t)(rep % 3 == 0 ? ((rnd() & 1u) ? 255u : 0u) : rnd() % 256u);
        }
        for (side = 0; side < 2; ++side) {
            CHECK_ST(sq_port_select(side == 0 ? SQ_PORT_REFERENCE : port), SQ_OK);
            CHECK_ST(sq_encode(&g, &t, u, K, scratch, bytes, pos[side], idx[side], iq[side]),
                     SQ_OK);
        }
        CHECK_ST(sq_encode_prepared(&gp, &book, table, u, K, scratch, bytes, pos_p, idx_p,
                                    iq_p), SQ_OK);
        bad += memcmp(pos[0], pos[1], sizeof(pos[0])) != 0 ||
               memcmp(idx[0], idx[1], sizeof(idx[0])) != 0 ||
               memcmp(iq[0], iq[1], sizeof(iq[0])) != 0 ||
               memcmp(pos[0], pos_p, sizeof(pos_p)) != 0 ||
               memcmp(idx[0], idx_p, sizeof(idx_p)) != 0 ||
               memcmp(iq[0], iq_p, sizeof(iq_p)) != 0;
    }
    CHECK(bad == 0);
}


/* ---- 16x8 ports: raw int64 accumulators, whole layers and the codeword search ----------- */

/* int16 values, the extremes -32768 / 32767 over-represented in `extreme` mode. */
static void fill_i16(int16_t *v, int32_t n, int extreme)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const uint32_t r = rnd();
        if (extreme && (r & 7u) == 0) {
            v[i] = -32768;
        } else if (extreme && (r & 7u) == 1) {
            v[i] = 32767;
        } else {
            v[i] = (int16_t)(int32_t)((r >> 8) % 65536u - 32768u);
        }
    }
}

#define DIFF16_MAX_IN 1100
#define DIFF16_MAX_OUT 300

/* The port's raw accumulators against int64 sums, then whole layers (both requantizations)
 * under the port against the reference, byte for byte. */
/* extreme: 0 random, 1 extremes over-represented, 2 extremes and power-of-two scales */
static void diff_fc16(int32_t port, int32_t in_dim, int32_t out_dim, int extreme)
{
    static int8_t w[DIFF16_MAX_OUT * DIFF16_MAX_IN];
    static int16_t x[DIFF16_MAX_IN];
    static int64_t bias[DIFF16_MAX_OUT];
    static double scale[DIFF16_MAX_OUT];
    static int32_t mult[DIFF16_MAX_OUT];
    static int32_t shift[DIFF16_MAX_OUT];
    static int16_t y_ref[DIFF16_MAX_OUT];
    static int16_t y_port[DIFF16_MAX_OUT];
    const sq_port_ops *ops = sq_port_ops_of(port);
    int64_t acc[SQ_FC_BLOCK];
    int32_t c0;
    int32_t c;
    int bad = 0;
    int path;
    sq_fc16_layer l;
    fill_i8(w, in_dim * out_dim, extreme);
    fill_i16(x, in_dim, extreme);
    for (c = 0; c < out_dim; ++c) {
        bias[c] = (int64_t)rnd_in(-1000000, 1000000) * 1000;
        /* s_in s_w / s_out ~ 2^-(18..24): the outputs spread over the int16 range */
        /* ties == 2: scales that are powers of two, so x.5 products (ties) are frequent */
        mult[c] = extreme == 2 ? Q31_HALF : rnd_in(Q31_HALF, 2147483647);
        shift[c] = -rnd_in(17, 23);
        scale[c] = (double)mult[c] / 2147483648.0;
        for (path = 0; path < -shift[c]; ++path) {
            scale[c] *= 0.5; /* exact: a power of two */
        }
    }
    if (ops->fc16_acc != NULL) {
        for (c0 = 0; c0 < out_dim; c0 += SQ_FC_BLOCK) {
            const int32_t rows = out_dim - c0 < SQ_FC_BLOCK ? out_dim - c0 : SQ_FC_BLOCK;
            ops->fc16_acc(w + (size_t)c0 * (size_t)in_dim, in_dim, rows, x, acc);
            for (c = 0; c < rows; ++c) {
                int64_t want = 0;
                int32_t i;
                for (i = 0; i < in_dim; ++i) {
                    want += (int64_t)w[(size_t)(c0 + c) * (size_t)in_dim + (size_t)i] * x[i];
                }
                bad += acc[c] != want;
            }
        }
    }
    l.weights = w;
    l.bias = bias;
    l.multiplier = mult;
    l.shift = shift;
    l.in_dim = in_dim;
    l.out_dim = out_dim;
    l.act_min = extreme ? -32768 : -20000;
    l.act_max = extreme ? 32767 : 20000;
    for (path = 0; path < 2; ++path) {
        l.scale = path == 0 ? scale : NULL;
        CHECK_ST(sq_port_select(SQ_PORT_REFERENCE), SQ_OK);
        CHECK_ST(sq_fc_s16x8(&l, x, y_ref), SQ_OK);
        CHECK_ST(sq_port_select(port), SQ_OK);
        CHECK_ST(sq_fc_s16x8(&l, x, y_port), SQ_OK);
        bad += memcmp(y_ref, y_port, (size_t)out_dim * sizeof(int16_t)) != 0;
    }
    CHECK(bad == 0);
    if (bad != 0) {
        printf("  fc16 mismatch: port %s in=%d out=%d extreme=%d\n", sq_port_name(port),
               (int)in_dim, (int)out_dim, extreme);
    }
}

static void test_diff_fc16(int32_t port)
{
    static const int32_t dims[] = {1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257,
                                   511, 512, 513, 784, 1100};
    size_t i;
    int t;
    for (i = 0; i < sizeof(dims) / sizeof(dims[0]); ++i) {
        diff_fc16(port, dims[i], rnd_in(1, 40), (int)(i & 1u));
    }
    for (t = 0; t < 20; ++t) {
        diff_fc16(port, rnd_in(1, 600), rnd_in(1, DIFF16_MAX_OUT), t & 1);
    }
    diff_fc16(port, DIFF16_MAX_IN, SQ_FC_BLOCK + 17, 1); /* two blocks, long rows, extremes */
    for (t = 0; t < 4; ++t) { /* exact .5 ties of the double rounding */
        diff_fc16(port, rnd_in(1, 64), rnd_in(1, DIFF16_MAX_OUT), 2);
    }
}

/* The 16x8 search under the port (its kernel, the public entry, the prepared one) against a
 * plain int64 argmin of squared distances, lowest index on ties. */
static void diff_nearest16(int32_t port, int32_t n, int32_t d, int32_t m, int32_t k, int ties)
{
    static int16_t z[DIFF_MAX_N * SQ_MAX_D];
    static int16_t cb[DIFF_MAX_M * SQ_MAX_D];
    static int64_t norms[DIFF_MAX_M];
    uint16_t pos[DIFF_MAX_N];
    uint16_t want[DIFF_MAX_N];
    uint16_t got[DIFF_MAX_N];
    uint16_t got_pub[DIFF_MAX_N];
    uint16_t got_prep[DIFF_MAX_N];
    const sq_port_ops *ops = sq_port_ops_of(port);
    sq_codebook16 book;
    int32_t j;
    int32_t c;
    int bad = 0;
    fill_i16(z, n * d, 1);
    fill_i16(cb, m * d, 1);
    if (ties == 1) { /* duplicated codewords: the first copy must win */
        for (c = 1; c < m; ++c) {
            if (rnd() % 3u == 0) {
                memcpy(cb + (size_t)c * (size_t)d, cb + (size_t)rnd_in(0, c - 1) * (size_t)d,
                       (size_t)d * sizeof(int16_t));
            }
        }
    } else if (ties == 2) { /* z = 0 rows and +-e pairs: equal distances at different m */
        memset(z, 0, (size_t)n * (size_t)d * sizeof(int16_t));
        for (c = 1; c < m; c += 2) {
            int32_t i;
            for (i = 0; i < d; ++i) {
                const int16_t e = cb[(size_t)(c - 1) * (size_t)d + (size_t)i];
                const int16_t a = (int16_t)(e == -32768 ? -32767 : e);
                cb[(size_t)(c - 1) * (size_t)d + (size_t)i] = a;
                cb[(size_t)c * (size_t)d + (size_t)i] = (int16_t)-a;
            }
        }
    } else if (ties == 3) { /* every coordinate at an extreme */
        for (c = 0; c < n * d; ++c) {
            z[c] = (rnd() & 1u) ? 32767 : -32768;
        }
        for (c = 0; c < m * d; ++c) {
            cb[c] = (rnd() & 1u) ? 32767 : -32768;
        }
    }
    for (j = 0; j < k; ++j) {
        pos[j] = (uint16_t)rnd_in(0, n - 1);
    }
    for (j = 0; j < k; ++j) {
        int64_t best = INT64_MAX;
        int32_t best_m = 0;
        for (c = 0; c < m; ++c) {
            int64_t dist = 0;
            int32_t i;
            for (i = 0; i < d; ++i) {
                const int64_t a = (int64_t)z[(size_t)pos[j] * (size_t)d + (size_t)i] -
                                  cb[(size_t)c * (size_t)d + (size_t)i];
                dist += a * a;
            }
            if (dist < best) {
                best = dist;
                best_m = c;
            }
        }
        want[j] = (uint16_t)best_m;
    }
    CHECK_ST(sq_codebook16_prepare(cb, m, d, norms, DIFF_MAX_M, &book), SQ_OK);
    if (ops->nearest16 != NULL && d <= SQ_INT32_CHUNK) {
        ops->nearest16(z, d, pos, k, cb, m, norms, got);
        bad += memcmp(want, got, (size_t)k * sizeof(uint16_t)) != 0;
    }
    CHECK_ST(sq_port_select(port), SQ_OK);
    CHECK_ST(sq_nearest_codewords16(z, n, d, pos, k, cb, m, got_pub), SQ_OK);
    CHECK_ST(sq_nearest_codewords16_prepared(&book, z, n, pos, k, got_prep), SQ_OK);
    bad += memcmp(want, got_pub, (size_t)k * sizeof(uint16_t)) != 0;
    bad += memcmp(want, got_prep, (size_t)k * sizeof(uint16_t)) != 0;
    CHECK(bad == 0);
    if (bad != 0) {
        printf("  nearest16 mismatch: port %s n=%d d=%d m=%d k=%d ties=%d\n",
               sq_port_name(port), (int)n, (int)d, (int)m, (int)k, ties);
    }
}

static void test_diff_nearest16(int32_t port)
{
    static const int32_t ds[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 63, 64, 65, 127, 128, 255,
                                 256};
    static const int32_t ms[] = {1, 2, 3, 15, 16, 17, 64, 100, 257, 1024};
    const size_t nd = sizeof(ds) / sizeof(ds[0]);
    const size_t nm = sizeof(ms) / sizeof(ms[0]);
    size_t i;
    int t;
    for (i = 0; i < nd; ++i) {
        const int32_t n = rnd_in(1, 100);
        diff_nearest16(port, n, ds[i], ms[i % nm], rnd_in(1, n), (int)(i % 4));
    }
    for (i = 0; i < nm; ++i) {
        diff_nearest16(port, 64, 64, ms[i], 32, (int)(i % 4));
    }
    for (t = 0; t < 20; ++t) { /* k up to 256: several passes of queries */
        const int32_t n = rnd_in(1, DIFF_MAX_N);
        diff_nearest16(port, n, rnd_in(1, 80), rnd_in(1, 300), rnd_in(1, n), t % 4);
    }
    diff_nearest16(port, DIFF_MAX_N, SQ_MAX_D, 300, DIFF_MAX_N, 3);
}

static void test_graph16(void);

/* The exact-match tests of every kernel a port replaces, under one port. */
static void run_exact_suite(void)
{
    test_fc_int8();
    test_fc_int8_scale_path();
    test_nearest_codewords();
    test_graph();
    test_graph_ping_pong();
    test_encode();
    test_prepared();
    test_graph16();
}

static void test_ports(void)
{
    const int32_t best = sq_port_active();
    int32_t p;
    test_port_api();
    for (p = 0; p < SQ_PORT_COUNT; ++p) {
        const char *why = NULL;
        int checks;
        int failures;
        if (sq_port_available(p, &why) != SQ_OK) {
            printf("port %-16s skipped: %s\n", sq_port_name(p), why);
            continue;
        }
        checks = g_checks;
        failures = g_failures;
        CHECK_ST(sq_port_select(p), SQ_OK);
        run_exact_suite();
        if (p != SQ_PORT_REFERENCE) {
            test_diff_fc(p);
            test_diff_requant(p);
            test_diff_nearest(p);
            test_diff_encode(p);
            test_diff_fc16(p);
            test_diff_nearest16(p);
        } else { /* the reference searches against the plain argmin, ties included */
            test_diff_nearest(p);
            test_diff_nearest16(p);
        }
        printf("port %-16s ran: %d checks, %d failures%s\n", sq_port_name(p),
               g_checks - checks, g_failures - failures, p == best ? " (auto-selected)" : "");
    }
    CHECK_ST(sq_port_select(best), SQ_OK);
}

/* The 16x8 graph on a hand-computed case: q = 100 u, identity trunk, z = (q0, q1, q0 + q1,
 * q0 - q1) as N = 2 slots of D = 2, logit = q / 2; then errors and extremes. */
static void test_graph16(void)
{
    static const int8_t w_eye[4] = {1, 0, 0, 1};
    static const int8_t w_z[8] = {1, 0, 0, 1, 1, 1, 1, -1};
    static const int32_t m_one[4] = {Q31_HALF, Q31_HALF, Q31_HALF, Q31_HALF};
    static const int32_t s_one[4] = {1, 1, 1, 1};   /* 0.5 * 2^1 = 1.0 */
    static const int32_t s_half[2] = {0, 0};        /* 0.5 */
    static const double sc_one[4] = {1.0, 1.0, 1.0, 1.0};
    static const double sc_half[2] = {0.5, 0.5};
    static const int16_t codebook[6] = {0, 0, 100, 200, 300, -100};
    static const int16_t table[6] = {0, 0, 10, -10, 20, -20};
    int16_t lut[256];
    int16_t scratch[64];
    int16_t z[4];
    int16_t logit[2];
    uint16_t pos[2];
    uint16_t idx[2];
    int16_t iq[4];
    uint8_t u[2] = {1, 2};
    sq_fc16_layer trunk = {w_eye, NULL, sc_one, m_one, s_one, 2, 2, 0, 32767};
    sq_fc16_layer zh = {w_z, NULL, sc_one, m_one, s_one, 2, 4, -32768, 32767};
    sq_fc16_layer sci = {w_eye, NULL, sc_half, m_one, s_half, 2, 2, -32768, 32767};
    sq_graph16 g;
    sq_graph16_prepared p;
    sq_codebook16 book;
    int64_t norms[3];
    int i;
    for (i = 0; i < 256; ++i) {
        lut[i] = (int16_t)(100 * (i & 127));
    }
    g.trunk = &trunk;
    g.n_trunk = 1;
    g.z_head = &zh;
    g.n_z = 1;
    g.sci_head = &sci;
    g.n_sci = 1;
    g.input_lut = lut;
    g.input_size = 2;
    g.n_concepts = 2;
    g.latent_dim = 2;
    memset(&p, 0, sizeof(p));
    CHECK_ST(sq_graph16_run_prepared(&p, u, scratch, 64, z, logit), SQ_ERR_STATE);
    CHECK_ST(sq_graph16_prepare(&g, &p), SQ_OK);
    CHECK(p.run_scratch == 2 + 3 * 2 && p.encode_scratch == p.run_scratch + 4 + 2);
    CHECK_ST(sq_graph16_run_prepared(&p, u, scratch, p.run_scratch - 1, z, logit),
             SQ_ERR_BUFFER);
    CHECK_ST(sq_graph16_run_prepared(&p, u, scratch, 64, z, logit), SQ_OK);
    CHECK(z[0] == 100 && z[1] == 200 && z[2] == 300 && z[3] == -100);
    CHECK(logit[0] == 50 && logit[1] == 100);
    memset(&book, 0, sizeof(book));
    CHECK_ST(sq_encode16_prepared(&p, &book, table, u, 2, scratch, 64, pos, idx, iq),
             SQ_ERR_STATE);
    CHECK_ST(sq_codebook16_prepare(codebook, 3, 2, norms, 2, &book), SQ_ERR_BUFFER);
    CHECK_ST(sq_codebook16_prepare(codebook, 3, 2, norms, 3, &book), SQ_OK);
    CHECK(norms[0] == 0 && norms[1] == 50000 && norms[2] == 100000);
    CHECK_ST(sq_encode16_prepared(&p, &book, table, u, 2, scratch, 64, pos, idx, iq), SQ_OK);
    CHECK(pos[0] == 1 && pos[1] == 0 && idx[0] == 2 && idx[1] == 1);
    CHECK(iq[0] == 20 && iq[1] == -20 && iq[2] == 10 && iq[3] == -10);
    CHECK_ST(sq_encode16_prepared(&p, &book, table, u, 3, scratch, 64, pos, idx, iq),
             SQ_ERR_K_RANGE);
    /* the Q31 (int64 MBQM) form gives the same integers here */
    trunk.scale = NULL;
    zh.scale = NULL;
    sci.scale = NULL;
    CHECK_ST(sq_graph16_prepare(&g, &p), SQ_OK);
    CHECK_ST(sq_graph16_run_prepared(&p, u, scratch, 64, z, logit), SQ_OK);
    CHECK(z[2] == 300 && z[3] == -100 && logit[0] == 50 && logit[1] == 100);
    /* refused: a width that does not chain, a shift beyond 7, an empty act range */
    zh.in_dim = 3;
    CHECK_ST(sq_graph16_prepare(&g, &p), SQ_ERR_SHAPE);
    CHECK_ST(sq_graph16_run_prepared(&p, u, scratch, 64, z, logit), SQ_ERR_STATE);
    zh.in_dim = 2;
    {
        static const int32_t s_bad[4] = {8, 8, 8, 8};
        zh.shift = s_bad;
        CHECK_ST(sq_graph16_prepare(&g, &p), SQ_ERR_QUANT);
        zh.shift = s_one;
    }
    trunk.act_min = 1;
    trunk.act_max = 0;
    CHECK_ST(sq_graph16_prepare(&g, &p), SQ_ERR_QUANT);
    trunk.act_min = 0;
    trunk.act_max = 32767;
    /* top-K ties keep the lower slot; extremes of the codeword search (256 * 65535^2) */
    {
        static const int16_t scores[5] = {3, 7, 7, -32768, 7};
        uint16_t top[3];
        static int16_t zx[2 * 256];
        static int16_t cb[3 * 256];
        uint16_t sel[2] = {0, 1};
        uint16_t out[2];
        CHECK_ST(sq_top_k16(scores, 5, 3, top), SQ_OK);
        CHECK(top[0] == 1 && top[1] == 2 && top[2] == 4);
        CHECK_ST(sq_top_k16(scores, 5, 6, top), SQ_ERR_K_RANGE);
        for (i = 0; i < 256; ++i) {
            zx[i] = 32767;
            zx[256 + i] = -32768;
            cb[i] = -32768;
            cb[256 + i] = 32767;
            cb[512 + i] = 32767;
        }
        CHECK_ST(sq_nearest_codewords16(zx, 2, 256, sel, 2, cb, 3, out), SQ_OK);
        CHECK(out[0] == 1 && out[1] == 0);
        sel[1] = 2;
        CHECK_ST(sq_nearest_codewords16(zx, 2, 256, sel, 2, cb, 3, out), SQ_ERR_INDEX);
    }
}

int main(void)
{
    test_single_rounding();
    test_double_rounding();
    test_multiply_by_quantized_multiplier();
    test_multiply_by_scale();
    test_requantize();
    test_fc_int8();
    test_fc_int8_scale_path();
    test_logistic_lut_and_input();
    test_top_k();
    test_nearest_codewords();
    test_map_symbols();
    test_policy_k();
    test_bitmap();
    test_graph();
    test_graph_ping_pong();
    test_encode();
    test_graph16();
    test_status_names();
    test_ports();
    if (g_failures != 0) {
        printf("SEMQAM_CORE_TESTS_FAILED %d of %d checks\n", g_failures, g_checks);
        return 1;
    }
    printf("SEMQAM_CORE_TESTS_OK %d checks\n", g_checks);
    return 0;
}
