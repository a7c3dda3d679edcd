/*
 * ports/armv7em_dsp.c - Armv7E-M DSP kernels (Cortex-M4/M7 and any core with
 * __ARM_FEATURE_DSP): packed 16-bit dual multiply-accumulate.
 *   sxtb16 w      -> (w0, w2) as two int16, sxtb16 w, ror #8 -> (w1, w3)
 *   smlad a, b, c -> c + a.lo * b.lo + a.hi * b.hi (exact int32, no saturation: the Q flag
 *                    is set on overflow but the sum wraps like the reference's int32 adds)
 * The operand the kernel reuses (the layer input x + offset, or the query z) is widened once
 * into int16 pairs in that (0, 2), (1, 3) order, so every weight / codeword word costs one
 * load, two sxtb16 and one smlad per row that reads it. Same integers as sq_kernels.c.
 * Selected at build time: this is the MCU firmware's port (there is no CPUID on an M core).
 */
#include "../sq_internal.h"

#if SQ_HAVE_ARMV7EM_PORT

#include <arm_acle.h>
#include <string.h>

#define SQ_INLINE static inline __attribute__((always_inline))

/* Columns of x widened per pass: 2 KiB of stack (the MCU's stack is 8 KiB); one pass for
 * every layer of the shipped models, so each row pair is set up once. */
#define SQ_DSP_CHUNK 1024

SQ_INLINE uint32_t sq_load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR: Armv7-M allows unaligned word loads from normal memory */
    return v;
}

SQ_INLINE int32_t sq_lo_pair(uint32_t w)
{
    return __sxtb16((int8x4_t)w);
}

SQ_INLINE int32_t sq_hi_pair(uint32_t w)
{
    int32_t out;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(out) : "r"(w));
    return out;
}

SQ_INLINE uint32_t sq_pack16(int32_t lo, int32_t hi)
{
    return (uint32_t)(uint16_t)(int16_t)lo | ((uint32_t)(uint16_t)(int16_t)hi << 16);
}

/* xp[2g] = (x[4g] + off, x[4g+2] + off), xp[2g+1] = (x[4g+1] + off, x[4g+3] + off). */
static void sq_dsp_widen(const int8_t *x, int32_t n4, int32_t off, uint32_t *xp)
{
    int32_t g;
    for (g = 0; g < n4; ++g) {
        const int8_t *p = x + 4 * g;
        xp[2 * g] = sq_pack16(p[0] + off, p[2] + off);
        xp[2 * g + 1] = sq_pack16(p[1] + off, p[3] + off);
    }
}

/* acc[r] += sum over the n4 groups of four columns of w[r][.] * xp. Two rows share each
 * widened pair of x (four rows run out of the M core's 13 registers and spill). */
static void sq_dsp_rows(const int8_t *w, int32_t in_dim, int32_t rows, const uint32_t *xp,
                        int32_t n4, int32_t *acc)
{
    int32_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const int8_t *w0 = w + (size_t)r * (size_t)in_dim;
        const int8_t *w1 = w0 + in_dim;
        int32_t a0 = acc[r], a1 = acc[r + 1];
        const uint32_t *xq = xp;
        const uint32_t *end = xp + 2 * n4;
        /* Two groups (8 columns) per pass with post-indexed loads: 24 instructions per 16
         * multiply-adds. In assembly because GCC 12 neither post-indexes these loads nor keeps
         * the loop free of spills (26-29 instructions from the same C). */
        const uint32_t *end2 = xp + 2 * (n4 & ~1);
        if (xq < end2) {
            uint32_t x02, x13, v0, v1, t;
            __asm__ volatile(
                "1:\n\t"
                ".rept 2\n\t" /* two groups per pass */
                "ldrd   %[x02], %[x13], [%[xq]], #8\n\t"
                "ldr    %[v0], [%[w0]], #4\n\t"
                "ldr    %[v1], [%[w1]], #4\n\t"
                "sxtb16 %[t], %[v0]\n\t"
                "smlad  %[a0], %[t], %[x02], %[a0]\n\t"
                "sxtb16 %[t], %[v0], ror #8\n\t"
                "smlad  %[a0], %[t], %[x13], %[a0]\n\t"
                "sxtb16 %[t], %[v1]\n\t"
                "smlad  %[a1], %[t], %[x02], %[a1]\n\t"
                "sxtb16 %[t], %[v1], ror #8\n\t"
                "smlad  %[a1], %[t], %[x13], %[a1]\n\t"
                ".endr\n\t"
                "cmp    %[xq], %[end]\n\t"
                "blo    1b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [xq] "+r"(xq), [w0] "+r"(w0), [w1] "+r"(w1),
                  [x02] "=&r"(x02), [x13] "=&r"(x13), [v0] "=&r"(v0), [v1] "=&r"(v1),
                  [t] "=&r"(t)
                : [end] "r"(end2)
                : "cc", "memory");
        }
        if (xq < end) { /* odd group count */
            const uint32_t v0 = sq_load4(w0);
            const uint32_t v1 = sq_load4(w1);
            a0 = __smlad(sq_lo_pair(v0), (int32_t)xq[0], a0);
            a0 = __smlad(sq_hi_pair(v0), (int32_t)xq[1], a0);
            a1 = __smlad(sq_lo_pair(v1), (int32_t)xq[0], a1);
            a1 = __smlad(sq_hi_pair(v1), (int32_t)xq[1], a1);
        }
        acc[r] = a0;
        acc[r + 1] = a1;
    }
    if (r < rows) {
        const int8_t *w0 = w + (size_t)r * (size_t)in_dim;
        int32_t a0 = acc[r];
        int32_t g;
        for (g = 0; g < n4; ++g) {
            const uint32_t v = sq_load4(w0 + 4 * g);
            a0 = __smlad(sq_lo_pair(v), (int32_t)xp[2 * g], a0);
            a0 = __smlad(sq_hi_pair(v), (int32_t)xp[2 * g + 1], a0);
        }
        acc[r] = a0;
    }
}

static void sq_dsp_fc_acc(const int8_t *w, int32_t in_dim, int32_t rows, const int8_t *x,
                          int32_t input_offset, int32_t *acc)
{
    uint32_t xp[SQ_DSP_CHUNK / 2];
    const int32_t body = in_dim & ~3;
    int32_t c0;
    int32_t r;
    for (r = 0; r < rows; ++r) {
        acc[r] = 0;
    }
    for (c0 = 0; c0 < body; c0 += SQ_DSP_CHUNK) {
        const int32_t cols = body - c0 < SQ_DSP_CHUNK ? body - c0 : SQ_DSP_CHUNK;
        sq_dsp_widen(x + c0, cols / 4, input_offset, xp);
        sq_dsp_rows(w + c0, in_dim, rows, xp, cols / 4, acc);
    }
    if (body != in_dim) { /* in_dim % 4 columns, plain C */
        for (r = 0; r < rows; ++r) {
            const int8_t *wr = w + (size_t)r * (size_t)in_dim;
            int32_t i;
            for (i = body; i < in_dim; ++i) {
                acc[r] += (int32_t)wr[i] * ((int32_t)x[i] + input_offset);
            }
        }
    }
}

/* ---- nearest codeword: argmin_m ||e_m||^2 - 2 z.e_m, ties to the lower m ------------------ */

#define SQ_DSP_NQ 4 /* queries (selected slots) per pass over the codebook */

/* zq[8g + 2q], zq[8g + 2q + 1] = the widened pairs of query q for columns 4g..4g+3. */
static void sq_dsp_widen_queries(const int8_t *const q[SQ_DSP_NQ], int32_t n4, uint32_t *zq)
{
    int32_t g;
    int i;
    for (g = 0; g < n4; ++g) {
        for (i = 0; i < SQ_DSP_NQ; ++i) {
            const int8_t *p = q[i] + 4 * g;
            zq[8 * g + 2 * i] = sq_pack16(p[0], p[2]);
            zq[8 * g + 2 * i + 1] = sq_pack16(p[1], p[3]);
        }
    }
}

/* dot[q] = sum over the n4 groups of e . query q: each codeword word is loaded and widened
 * once for four queries (17 instructions per 16 multiply-adds). */
static inline __attribute__((always_inline)) void sq_dsp_dot4(const int8_t *e,
                                                              const uint32_t *zq,
                                                              const uint32_t *zend,
                                                              int32_t dot[SQ_DSP_NQ])
{
    int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    uint32_t v, lo, hi, p, q;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[v], [%[e]], #4\n\t"
        "sxtb16 %[lo], %[v]\n\t"
        "sxtb16 %[hi], %[v], ror #8\n\t"
        "ldrd   %[p], %[q], [%[zq]], #8\n\t"
        "smlad  %[d0], %[lo], %[p], %[d0]\n\t"
        "smlad  %[d0], %[hi], %[q], %[d0]\n\t"
        "ldrd   %[p], %[q], [%[zq]], #8\n\t"
        "smlad  %[d1], %[lo], %[p], %[d1]\n\t"
        "smlad  %[d1], %[hi], %[q], %[d1]\n\t"
        "ldrd   %[p], %[q], [%[zq]], #8\n\t"
        "smlad  %[d2], %[lo], %[p], %[d2]\n\t"
        "smlad  %[d2], %[hi], %[q], %[d2]\n\t"
        "ldrd   %[p], %[q], [%[zq]], #8\n\t"
        "smlad  %[d3], %[lo], %[p], %[d3]\n\t"
        "smlad  %[d3], %[hi], %[q], %[d3]\n\t"
        "cmp    %[zq], %[zend]\n\t"
        "blo    1b\n\t"
        : [d0] "+r"(d0), [d1] "+r"(d1), [d2] "+r"(d2), [d3] "+r"(d3), [e] "+r"(e),
          [zq] "+r"(zq), [v] "=&r"(v), [lo] "=&r"(lo), [hi] "=&r"(hi), [p] "=&r"(p),
          [q] "=&r"(q)
        : [zend] "r"(zend)
        : "cc", "memory");
    dot[0] = d0;
    dot[1] = d1;
    dot[2] = d2;
    dot[3] = d3;
}

static void sq_dsp_nearest(const int8_t *z, int32_t d, const uint16_t *positions, int32_t k,
                           const int8_t *codebook, int32_t m, const int32_t *norms,
                           uint16_t *indices)
{
    uint32_t zq[SQ_DSP_NQ * SQ_MAX_D / 2];
    const int32_t n4 = d / 4;
    const int32_t body = 4 * n4;
    int32_t j;
    for (j = 0; j < k; j += SQ_DSP_NQ) {
        const int32_t kc = k - j < SQ_DSP_NQ ? k - j : SQ_DSP_NQ;
        const int8_t *q[SQ_DSP_NQ];
        int32_t best[SQ_DSP_NQ];
        int32_t idx[SQ_DSP_NQ];
        int32_t mi;
        int i;
        for (i = 0; i < SQ_DSP_NQ; ++i) { /* missing queries repeat the first; not stored */
            q[i] = z + (size_t)positions[j + (i < kc ? i : 0)] * (size_t)d;
            best[i] = INT32_MAX;
            idx[i] = 0;
        }
        sq_dsp_widen_queries(q, n4, zq);
        for (mi = 0; mi < m; ++mi) {
            const int8_t *e = codebook + (size_t)mi * (size_t)d;
            int32_t dot[SQ_DSP_NQ] = {0, 0, 0, 0};
            int32_t norm = 0;
            int32_t g;
            if (n4 > 0) {
                sq_dsp_dot4(e, zq, zq + 8 * n4, dot);
            }
            for (g = body; g < d; ++g) {
                for (i = 0; i < SQ_DSP_NQ; ++i) {
                    dot[i] += (int32_t)e[g] * q[i][g];
                }
            }
            if (norms != NULL) {
                norm = norms[mi];
            } else {
                for (g = 0; g < d; ++g) {
                    norm += (int32_t)e[g] * e[g];
                }
            }
            for (i = 0; i < SQ_DSP_NQ; ++i) { /* strict '<': ties keep the lower m */
                const int32_t score = norm - 2 * dot[i];
                if (score < best[i]) {
                    best[i] = score;
                    idx[i] = mi;
                }
            }
        }
        for (i = 0; i < kc; ++i) {
            indices[j + i] = (uint16_t)idx[i];
        }
    }
}

const sq_port_ops sq_armv7em_dsp_ops = {"armv7em_dsp", sq_dsp_fc_acc, NULL, sq_dsp_nearest,
                                         NULL, NULL, NULL};

#else
typedef int sq_armv7em_dsp_unused; /* ISO C forbids an empty translation unit */
#endif
