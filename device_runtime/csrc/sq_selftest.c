/*
 * sq_selftest.c - a digest of the core's integer results on fixed pseudo-random data: one FC
 * layer (Q31 requantization, tails of the SIMD blocks included), top-K, nearest codeword and
 * symbol mapping. Every build of the core (x86 with its SIMD port, the Cortex-M4F and M7
 * firmware) must give the same digest: the integers are the contract (docs/mcu.md).
 */
#include "sq_selftest.h"

#include "semqam_core.h"

#define ST_IN 45
#define ST_OUT 37
#define ST_N 16
#define ST_D 12
#define ST_M 40
#define ST_K 5

static uint32_t st_rng(uint32_t *s) { /* xorshift32 */
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static uint32_t st_fnv(uint32_t h, uint32_t v) { /* FNV-1a over v's 4 bytes, little end first */
    int i;
    for (i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xFFu;
        h *= 16777619u;
    }
    return h;
}

uint32_t sq_self_test_digest(void) {
    static int8_t w[ST_OUT * ST_IN], x[ST_IN], y[ST_OUT], z[ST_N * ST_D], cb[ST_M * ST_D];
    static int32_t bias[ST_OUT], mult[ST_OUT], shift[ST_OUT];
    static int16_t table[ST_M * 2], iq[ST_K * 2];
    static uint16_t pos[ST_K], idx[ST_K];
    uint32_t s = 0x5EC0A11Du, h = 2166136261u, bad = 0;
    sq_status st;
    int32_t i, v;
    sq_fc_layer layer;
    for (i = 0; i < ST_OUT * ST_IN; i++) w[i] = (int8_t)(st_rng(&s) & 0xFFu);
    for (i = 0; i < ST_IN; i++) x[i] = (int8_t)(st_rng(&s) & 0xFFu);
    for (i = 0; i < ST_OUT; i++) {
        bias[i] = (int32_t)(st_rng(&s) % 131072u) - 65536;
        mult[i] = (int32_t)(0x40000000u | (st_rng(&s) & 0x3FFFFFFFu));
        shift[i] = -(int32_t)(st_rng(&s) % 14u);
    }
    for (i = 0; i < ST_N * ST_D; i++) z[i] = (int8_t)(st_rng(&s) & 0xFFu);
    for (i = 0; i < ST_M * ST_D; i++) cb[i] = (int8_t)(st_rng(&s) & 0xFFu);
    for (i = 0; i < ST_M * 2; i++) table[i] = (int16_t)(st_rng(&s) & 0xFFFFu);
    layer.weights = w;
    layer.bias = bias;
    layer.scale = 0;
    layer.multiplier = mult;
    layer.shift = shift;
    layer.in_dim = ST_IN;
    layer.out_dim = ST_OUT;
    layer.input_offset = 128;
    layer.output_offset = -5;
    layer.act_min = -128;
    layer.act_max = 127;
    st = sq_fc_int8(&layer, x, y);
    bad |= st != SQ_OK;
    h = st_fnv(h, (uint32_t)st);
    for (i = 0; i < ST_OUT; i++) h = st_fnv(h, (uint32_t)(int32_t)y[i]);
    st = sq_top_k(y, ST_N, ST_K, pos);
    bad |= st != SQ_OK;
    h = st_fnv(h, (uint32_t)st);
    for (i = 0; i < ST_K; i++) h = st_fnv(h, pos[i]);
    st = sq_nearest_codewords(z, ST_N, ST_D, pos, ST_K, cb, ST_M, idx);
    bad |= st != SQ_OK;
    h = st_fnv(h, (uint32_t)st);
    for (i = 0; i < ST_K; i++) h = st_fnv(h, idx[i]);
    st = sq_map_symbols(idx, ST_K, table, ST_M, iq);
    bad |= st != SQ_OK;
    h = st_fnv(h, (uint32_t)st);
    for (i = 0; i < 2 * ST_K; i++) h = st_fnv(h, (uint32_t)(int32_t)iq[i]);
    for (i = 0; i < 256; i++) { /* requantization of accumulators across the int32 range */
        int32_t acc = (int32_t)st_rng(&s);
        v = 0;
        st = sq_multiply_by_quantized_multiplier(acc, mult[i % ST_OUT], shift[i % ST_OUT], &v);
        bad |= st != SQ_OK;
        h = st_fnv(h, (uint32_t)st);
        h = st_fnv(h, (uint32_t)v);
    }
    return bad ? 0u : h; /* 0: a call failed (the digest would prove nothing) */
}
