/*
 * sq_internal.h - what the core's files share but the public API does not show: the table of
 * optimized kernels one port provides (TFLite Micro's "optimized ports with the same names",
 * chosen here at run time by CPU feature instead of at build time), the active-port lookup, and
 * the unchecked forms the glue calls after a prepare step has validated everything.
 *
 * Every port computes exactly the integers of the reference kernels (sq_kernels.c,
 * sq_pipeline.c): accumulation is integer, so there is no tolerance anywhere.
 */
#ifndef SQ_INTERNAL_H
#define SQ_INTERNAL_H

#include <string.h>

#include "semqam_core.h"

/* Ports exist only for GCC/Clang on x86-64, AArch64 and Armv7E-M (the DSP extension of the
 * Cortex-M4/M7); -DSQ_PORTABLE_ONLY (or any other compiler / architecture) leaves the
 * reference kernels alone. */
#if !defined(SQ_PORTABLE_ONLY) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__x86_64__)
#define SQ_HAVE_X86_PORTS 1
#else
#define SQ_HAVE_X86_PORTS 0
#endif
#if !defined(SQ_PORTABLE_ONLY) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__aarch64__)
#define SQ_HAVE_AARCH64_PORTS 1
#else
#define SQ_HAVE_AARCH64_PORTS 0
#endif
#if !defined(SQ_PORTABLE_ONLY) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)
#define SQ_HAVE_ARMV7EM_PORT 1
#else
#define SQ_HAVE_ARMV7EM_PORT 0
#endif

/* Rows of one FC accumulation call: the glue requantizes block by block from a stack buffer
 * of this many int32. */
#define SQ_FC_BLOCK 256

/* One port's kernels; a NULL member means "use the reference kernel". Arguments are validated
 * by the caller (the public entries or a prepare step): the kernels check nothing. */
typedef struct {
    const char *name;
    /* acc[r] = sum_{i < in_dim} w[r * in_dim + i] * (x[i] + input_offset), r in [0, rows),
     * 1 <= rows <= SQ_FC_BLOCK, input_offset in [-127, 128]: exact int32 (no overflow). */
    void (*fc_acc)(const int8_t *w, int32_t in_dim, int32_t rows, const int8_t *x,
                   int32_t input_offset, int32_t *acc);
    /* y[r] = clamp(round_half_away(double(acc[r] + bias[r]) * scale[r]) + output_offset,
     * act_min, act_max) exactly as sq_kernels.c's double path (bias may be NULL). */
    void (*requant_scale)(const int32_t *acc, const int32_t *bias, const double *scale,
                          int32_t n, int32_t output_offset, int32_t act_min, int32_t act_max,
                          int8_t *y);
    /* indices[j] = argmin_m (norms[m] - 2 * z_j . e_m), ties to the lower m, for the k rows
     * z_j = z + positions[j] * d; e_m = codebook + m * d. norms[m] = ||e_m||^2, or NULL: the
     * kernel computes them. Equal to argmin of the squared distance (||z_j||^2 is constant). */
    void (*nearest)(const int8_t *z, int32_t d, const uint16_t *positions, int32_t k,
                    const int8_t *codebook, int32_t m, const int32_t *norms,
                    uint16_t *indices);
    /* 16x8: acc[r] = sum_{i < in_dim} w[r * in_dim + i] * x[i] exactly in int64, r in
     * [0, rows), 1 <= rows <= SQ_FC_BLOCK, x int16 (zero point 0). */
    void (*fc16_acc)(const int8_t *w, int32_t in_dim, int32_t rows, const int16_t *x,
                     int64_t *acc);
    /* 16x8: indices[j] = argmin_m (norms[m] - 2 z_j . e_m) in int64, ties to the lower m, for
     * z_j = z + positions[j] * d (int16), e_m = codebook + m * d (int16), norms[m] = ||e_m||^2;
     * called only with d <= SQ_INT32_CHUNK (one int32 chunk per dot product). */
    void (*nearest16)(const int16_t *z, int32_t d, const uint16_t *positions, int32_t k,
                      const int16_t *codebook, int32_t m, const int64_t *norms,
                      uint16_t *indices);
    /* 16x8: y[r] = clamp(round_half_away(double(acc[r] + bias[r]) * scale[r]), act_min,
     * act_max) exactly as sq_kernels.c's 16x8 double path (bias may be NULL; |acc + bias| <
     * 2^47, [act_min, act_max] inside int16). */
    void (*requant16_scale)(const int64_t *acc, const int64_t *bias, const double *scale,
                            int32_t n, int32_t act_min, int32_t act_max, int16_t *y);
} sq_port_ops;

/* The ops of a port id (NULL if not compiled in) and of the active port (never NULL). */
const sq_port_ops *sq_port_ops_of(int32_t port);
const sq_port_ops *sq_port_ops_active(void);

#if SQ_HAVE_X86_PORTS
extern const sq_port_ops sq_x86_avx2_ops;
extern const sq_port_ops sq_x86_avx512_vnni_ops;
#endif
#if SQ_HAVE_AARCH64_PORTS
extern const sq_port_ops sq_aarch64_neon_ops;
extern const sq_port_ops sq_aarch64_dotprod_ops;
#endif
#if SQ_HAVE_ARMV7EM_PORT
extern const sq_port_ops sq_armv7em_dsp_ops;
#endif

/* N slots within the compiled limit and K in [1, N] (SQ_ERR_ARG / LIMIT / K_RANGE), and every
 * one of K positions naming one of the N slots (SQ_ERR_INDEX): the checks every per-slot step
 * shares, int8 or 16x8 (sq_pipeline.c). */
sq_status sq_check_slots(int32_t n, int32_t k);
sq_status sq_check_positions(const uint16_t *positions, int32_t k, int32_t n);

/* Products of the 16x8 kernels (|w x| <= 128 * 32768, |zl e| <= 255 * 32768 < 2^23) summed in
 * int32 this many at a time stay below INT32_MAX (256 * 255 * 32768 = 2,139,095,040); the
 * chunks are then added in int64. */
#define SQ_INT32_CHUNK 256

/* z = 256 hi + lo with hi in [-128, 127], lo in [0, 255] (the 16x8 codeword search splits z so
 * both halves' products with an int16 codeword fit int16 x int16 -> int32 multiply-adds). */
static inline void sq_split16(int16_t z, int16_t *hi, int16_t *lo)
{
    const int32_t t = (int32_t)z + 32768; /* [0, 65535] */
    *hi = (int16_t)((t >> 8) - 128);
    *lo = (int16_t)(t & 255);
}

/* Stage kc sent slots of z [., d] for a lane-parallel 16x8 codeword search, each value split by
 * sq_split16: slot q in lane q of `lanes`, inputs grouped `pair` at a time (1: one input per
 * vector, NEON; 2: the input pairs of a 16-bit multiply-add, x86), i.e. input i of slot q at
 * (i / pair) * lanes * pair + q * pair + i % pair. Unused lanes and the odd tail stay 0. */
static inline void sq_stage16(const int16_t *z, int32_t d, const uint16_t *positions,
                              int32_t kc, int32_t lanes, int32_t pair, int16_t *zh, int16_t *zl)
{
    const size_t n = (size_t)((d + pair - 1) / pair) * (size_t)pair * (size_t)lanes;
    int32_t q;
    int32_t i;
    memset(zh, 0, n * sizeof(int16_t));
    memset(zl, 0, n * sizeof(int16_t));
    for (q = 0; q < kc; ++q) {
        const int16_t *row = z + (size_t)positions[q] * (size_t)d;
        for (i = 0; i < d; ++i) {
            const size_t at = ((size_t)(i / pair) * (size_t)lanes + (size_t)q) * (size_t)pair +
                              (size_t)(i % pair);
            sq_split16(row[i], &zh[at], &zl[at]);
        }
    }
}

/* sq_fc_s16x8 without the layer check (sq_fc16_check passed before). */
void sq_fc16_run(const sq_fc16_layer *layer, const int16_t *x, int16_t *y);

/* sq_fc_int8 without the layer check (sq_fc_check passed before). */
void sq_fc_run(const sq_fc_layer *layer, const int8_t *x, int8_t *y);

/* A port's FC kernel on weights repacked once at prepare time (sq_graph_pack); only for
 * layers with input_offset 128. Kept apart from sq_port_ops so no other port changes. */
typedef struct {
    int32_t (*bytes)(int32_t in_dim, int32_t out_dim); /* packed size, a multiple of 64 */
    void (*pack)(const int8_t *w, int32_t in_dim, int32_t out_dim, int8_t *packed);
    /* acc[r] = sum_i w[r0 + r][i] * (x[i] + 128), r in [0, rows), r0 % 16 == 0, rows <=
     * SQ_FC_BLOCK: the reference's integers exactly. */
    void (*fc_acc)(const int8_t *packed, int32_t in_dim, int32_t r0, int32_t rows,
                   const int8_t *x, int32_t *acc);
} sq_packed_ops;

/* The packed kernels of a port, NULL if it has none. */
const sq_packed_ops *sq_packed_ops_of(int32_t port);
#if SQ_HAVE_X86_PORTS
extern const sq_packed_ops sq_x86_avx512_vnni_packed;
#endif

/* sq_fc_run with the weights packed for `pops` (same integers). */
void sq_fc_run_packed(const sq_fc_layer *layer, const sq_packed_ops *pops, const int8_t *packed,
                      const int8_t *x, int8_t *y);

#endif /* SQ_INTERNAL_H */
