/*
 * ports/aarch64_neon.c - AArch64 Advanced SIMD kernels, two ports:
 *   aarch64_neon     int16 multiply-accumulate long (smlal), any AArch64 core (Cortex-A53 up)
 *   aarch64_dotprod  sdot (Armv8.2 dot product: 16 s8 x s8 products into 4 int32 lanes),
 *                    compiled with a per-function target attribute and selected only where
 *                    the kernel reports HWCAP_ASIMDDP (Cortex-A55/A76, e.g. Raspberry Pi 5)
 * The 16x8 kernels (int16 activations: smlal into int32 chunks, met in int64) are the same in
 * both. Every sum is exact (no saturating instruction is used), so outputs equal the
 * reference kernels'. Tails go through zero-padded stack copies: no read past an array.
 */
#include "../sq_internal.h"

#if SQ_HAVE_AARCH64_PORTS

#include <arm_neon.h>
#include <string.h>

#define SQ_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define SQ_INLINE static inline __attribute__((always_inline))

/* ---- FC accumulation -------------------------------------------------------------------- */

/* smlal: acc[r] = sum w[r][i] * (x[i] + off) in int16 x int16 -> int32, 4 rows share x. */
static void sq_neon_fc_acc(const int8_t *w, int32_t in_dim, int32_t rows, const int8_t *x,
                           int32_t input_offset, int32_t *acc)
{
    int16_t xo[SQ_MAX_LAYER_WIDTH + 8];
    const int32_t full = in_dim / 8;
    const int32_t rest = in_dim - 8 * full;
    int32_t i;
    int32_t r0;
    for (i = 0; i < in_dim; ++i) {
        xo[i] = (int16_t)((int32_t)x[i] + input_offset);
    }
    for (; i < 8 * (full + 1); ++i) {
        xo[i] = 0;
    }
    for (r0 = 0; r0 < rows; r0 += 4) {
        const int8_t *rp[4];
        int32x4_t a[4];
        int32_t c;
        int r;
        for (r = 0; r < 4; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
            a[r] = vdupq_n_s32(0);
        }
        for (c = 0; c < full; ++c) {
            const int16x8_t xv = vld1q_s16(xo + 8 * c);
            for (r = 0; r < 4; ++r) {
                const int16x8_t wv = vmovl_s8(vld1_s8(rp[r] + 8 * c));
                a[r] = vmlal_s16(a[r], vget_low_s16(wv), vget_low_s16(xv));
                a[r] = vmlal_high_s16(a[r], wv, xv);
            }
        }
        if (rest != 0) {
            const int16x8_t xv = vld1q_s16(xo + 8 * full);
            for (r = 0; r < 4; ++r) {
                int8_t tail[8] = {0};
                int16x8_t wv;
                memcpy(tail, rp[r] + 8 * full, (size_t)rest);
                wv = vmovl_s8(vld1_s8(tail));
                a[r] = vmlal_s16(a[r], vget_low_s16(wv), vget_low_s16(xv));
                a[r] = vmlal_high_s16(a[r], wv, xv);
            }
        }
        for (r = 0; r < 4 && r0 + r < rows; ++r) {
            acc[r0 + r] = vaddvq_s32(a[r]);
        }
    }
}

/* sdot: sum w (x + off) = sum w x + off sum w, both as s8 x s8 dots (x and all ones). */
SQ_DOTPROD static void sq_dot_fc_acc(const int8_t *w, int32_t in_dim, int32_t rows,
                                     const int8_t *x, int32_t input_offset, int32_t *acc)
{
    int8_t xp[SQ_MAX_LAYER_WIDTH + 16];
    const int32_t full = in_dim / 16;
    const int32_t rest = in_dim - 16 * full;
    const int8x16_t one = vdupq_n_s8(1);
    int32_t r0;
    memcpy(xp, x, (size_t)in_dim);
    memset(xp + in_dim, 0, 16);
    for (r0 = 0; r0 < rows; r0 += 4) {
        const int8_t *rp[4];
        int32x4_t a[4];
        int32x4_t s[4];
        int32_t c;
        int r;
        for (r = 0; r < 4; ++r) {
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
            a[r] = vdupq_n_s32(0);
            s[r] = vdupq_n_s32(0);
        }
        for (c = 0; c < full; ++c) {
            const int8x16_t xv = vld1q_s8(xp + 16 * c);
            for (r = 0; r < 4; ++r) {
                const int8x16_t wv = vld1q_s8(rp[r] + 16 * c);
                a[r] = vdotq_s32(a[r], wv, xv);
                s[r] = vdotq_s32(s[r], wv, one);
            }
        }
        if (rest != 0) {
            const int8x16_t xv = vld1q_s8(xp + 16 * full);
            for (r = 0; r < 4; ++r) {
                int8_t tail[16] = {0};
                int8x16_t wv;
                memcpy(tail, rp[r] + 16 * full, (size_t)rest);
                wv = vld1q_s8(tail);
                a[r] = vdotq_s32(a[r], wv, xv);
                s[r] = vdotq_s32(s[r], wv, one);
            }
        }
        for (r = 0; r < 4 && r0 + r < rows; ++r) {
            acc[r0 + r] = vaddvq_s32(a[r]) + input_offset * vaddvq_s32(s[r]);
        }
    }
}

/* ---- nearest codeword ------------------------------------------------------------------- */

#define SQ_NQ 16 /* queries (selected slots) per pass: 4 vectors of 4 lanes */

/* Lanes are queries; each keeps its own running minimum of score = ||e||^2 - 2 z.e over
 * increasing m with a strict '<' (ties keep the lowest index, as in the reference). */
SQ_INLINE void sq_update(int32x4_t nrm, int32x4_t dot, int32_t mi, int32x4_t *best_v,
                         int32x4_t *best_i)
{
    const int32x4_t score = vsubq_s32(nrm, vshlq_n_s32(dot, 1));
    const uint32x4_t lt = vcltq_s32(score, *best_v);
    *best_v = vbslq_s32(lt, score, *best_v);
    *best_i = vbslq_s32(lt, vdupq_n_s32(mi), *best_i);
}

/* smlal form: zq[i][q] = z_q[i] as int16 (d rows of `lanes` queries). */
SQ_INLINE void sq_neon_pass(const int16_t *zq, int32_t d, const int8_t *codebook, int32_t m,
                            const int32_t *norms, int nv, int32x4_t best_i[4])
{
    int16_t e16[SQ_MAX_D];
    int32x4_t best_v[4];
    int32_t mi;
    int v;
    for (v = 0; v < nv; ++v) {
        best_v[v] = vdupq_n_s32(INT32_MAX);
        best_i[v] = vdupq_n_s32(0);
    }
    for (mi = 0; mi < m; ++mi) {
        const int8_t *ep = codebook + (size_t)mi * (size_t)d;
        int32x4_t acc[4];
        int32_t norm = 0;
        int32_t i;
        for (i = 0; i < d; ++i) {
            e16[i] = ep[i];
            norm += (int32_t)ep[i] * ep[i];
        }
        if (norms != NULL) {
            norm = norms[mi];
        }
        for (v = 0; v < nv; ++v) {
            acc[v] = vdupq_n_s32(0);
        }
        for (i = 0; i < d; ++i) {
            for (v = 0; v < nv; ++v) {
                acc[v] = vmlal_n_s16(acc[v], vld1_s16(zq + (size_t)i * (size_t)(4 * nv) + 4 * v),
                                     e16[i]);
            }
        }
        for (v = 0; v < nv; ++v) {
            sq_update(vdupq_n_s32(norm), acc[v], mi, &best_v[v], &best_i[v]);
        }
    }
}

static void sq_neon_nearest(const int8_t *z, int32_t d, const uint16_t *positions, int32_t k,
                            const int8_t *codebook, int32_t m, const int32_t *norms,
                            uint16_t *indices)
{
    int16_t zq[SQ_MAX_D * SQ_NQ];
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ) {
        const int32_t kc = k - q0 < SQ_NQ ? k - q0 : SQ_NQ;
        const int nv = (int)((kc + 3) / 4);
        const int32_t lanes = 4 * nv;
        int32x4_t best_i[4];
        int32_t idx[SQ_NQ];
        int32_t q;
        int32_t i;
        memset(zq, 0, (size_t)d * (size_t)lanes * sizeof(int16_t));
        for (q = 0; q < kc; ++q) {
            const int8_t *row = z + (size_t)positions[q0 + q] * (size_t)d;
            for (i = 0; i < d; ++i) {
                zq[(size_t)i * (size_t)lanes + (size_t)q] = row[i];
            }
        }
        switch (nv) {
        case 1: sq_neon_pass(zq, d, codebook, m, norms, 1, best_i); break;
        case 2: sq_neon_pass(zq, d, codebook, m, norms, 2, best_i); break;
        case 3: sq_neon_pass(zq, d, codebook, m, norms, 3, best_i); break;
        default: sq_neon_pass(zq, d, codebook, m, norms, 4, best_i); break;
        }
        for (q = 0; q < nv; ++q) {
            vst1q_s32(idx + 4 * q, best_i[q]);
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

/* sdot form: zq[t][q][0..3] = z_q[4t .. 4t+3]; one sdot by lane j of a 16-byte codeword chunk
 * gives 4 queries' dot with 4 coordinates of the codeword. */
SQ_DOTPROD SQ_INLINE void sq_dot_pass(const int8_t *zq, int32_t d, const int8_t *codebook,
                                      int32_t m, const int32_t *norms, int nv,
                                      int32x4_t best_i[4])
{
    const int32_t chunks = (d + 15) / 16;
    int8_t ebuf[SQ_MAX_D + 16];
    int32x4_t best_v[4];
    int32_t mi;
    int v;
    for (v = 0; v < nv; ++v) {
        best_v[v] = vdupq_n_s32(INT32_MAX);
        best_i[v] = vdupq_n_s32(0);
    }
    memset(ebuf, 0, sizeof(ebuf)); /* the padding stays 0 */
    for (mi = 0; mi < m; ++mi) {
        int32x4_t acc[4];
        int32x4_t sq = vdupq_n_s32(0);
        int32_t c;
        memcpy(ebuf, codebook + (size_t)mi * (size_t)d, (size_t)d);
        for (v = 0; v < nv; ++v) {
            acc[v] = vdupq_n_s32(0);
        }
        for (c = 0; c < chunks; ++c) {
            const int8x16_t ev = vld1q_s8(ebuf + 16 * c);
            const int8_t *zc = zq + (size_t)(4 * c) * (size_t)(16 * nv);
            sq = vdotq_s32(sq, ev, ev);
            for (v = 0; v < nv; ++v) {
                acc[v] = vdotq_laneq_s32(acc[v], vld1q_s8(zc + 16 * v), ev, 0);
                acc[v] = vdotq_laneq_s32(acc[v], vld1q_s8(zc + 16 * (nv + v)), ev, 1);
                acc[v] = vdotq_laneq_s32(acc[v], vld1q_s8(zc + 16 * (2 * nv + v)), ev, 2);
                acc[v] = vdotq_laneq_s32(acc[v], vld1q_s8(zc + 16 * (3 * nv + v)), ev, 3);
            }
        }
        for (v = 0; v < nv; ++v) {
            sq_update(vdupq_n_s32(norms != NULL ? norms[mi] : vaddvq_s32(sq)), acc[v], mi,
                      &best_v[v], &best_i[v]);
        }
    }
}

SQ_DOTPROD static void sq_dot_nearest(const int8_t *z, int32_t d, const uint16_t *positions,
                                      int32_t k, const int8_t *codebook, int32_t m,
                                      const int32_t *norms, uint16_t *indices)
{
    /* t runs over whole 16-byte chunks (4 groups each): zero rows pad d to a multiple of 16 */
    int8_t zq[(SQ_MAX_D + 15) / 16 * 4 * SQ_NQ * 4];
    const int32_t d16 = (d + 15) / 16 * 16;
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ) {
        const int32_t kc = k - q0 < SQ_NQ ? k - q0 : SQ_NQ;
        const int nv = (int)((kc + 3) / 4);
        const int32_t lanes = 4 * nv;
        int32x4_t best_i[4];
        int32_t idx[SQ_NQ];
        int32_t q;
        int32_t i;
        memset(zq, 0, (size_t)d16 * (size_t)lanes);
        for (q = 0; q < kc; ++q) {
            const int8_t *row = z + (size_t)positions[q0 + q] * (size_t)d;
            for (i = 0; i < d; ++i) {
                zq[4 * ((size_t)(i / 4) * (size_t)lanes + (size_t)q) + (size_t)(i % 4)] = row[i];
            }
        }
        switch (nv) {
        case 1: sq_dot_pass(zq, d, codebook, m, norms, 1, best_i); break;
        case 2: sq_dot_pass(zq, d, codebook, m, norms, 2, best_i); break;
        case 3: sq_dot_pass(zq, d, codebook, m, norms, 3, best_i); break;
        default: sq_dot_pass(zq, d, codebook, m, norms, 4, best_i); break;
        }
        for (q = 0; q < nv; ++q) {
            vst1q_s32(idx + 4 * q, best_i[q]);
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

/* ---- 16x8 (int16 activations, int8 weights), both AArch64 ports ------------------------- */

/* acc[r] = sum_i w[r][i] x[i] in int64: smlal of the int16 x with the sign-extended w into
 * int32 lanes over SQ_INT32_CHUNK inputs (|w x| <= 2^22: a chunk's total <= 2^30), then int64.
 * Four rows share each load of x; the last partial 8 inputs go through zero-padded copies. */
static void sq_neon_fc16_acc(const int8_t *w, int32_t in_dim, int32_t rows, const int16_t *x,
                             int64_t *acc)
{
    int32_t r0;
    for (r0 = 0; r0 < rows; r0 += 4) {
        const int8_t *rp[4];
        int64_t tot[4] = {0, 0, 0, 0};
        int32_t i0;
        int r;
        for (r = 0; r < 4; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
        }
        for (i0 = 0; i0 < in_dim; i0 += SQ_INT32_CHUNK) {
            const int32_t end = in_dim - i0 < SQ_INT32_CHUNK ? in_dim : i0 + SQ_INT32_CHUNK;
            int32x4_t a[4];
            int32_t i = i0;
            for (r = 0; r < 4; ++r) {
                a[r] = vdupq_n_s32(0);
            }
            for (; i + 8 <= end; i += 8) {
                const int16x8_t xv = vld1q_s16(x + i);
                for (r = 0; r < 4; ++r) {
                    const int16x8_t wv = vmovl_s8(vld1_s8(rp[r] + i));
                    a[r] = vmlal_s16(a[r], vget_low_s16(wv), vget_low_s16(xv));
                    a[r] = vmlal_high_s16(a[r], wv, xv);
                }
            }
            if (i < end) {
                int16_t xt[8] = {0};
                int16x8_t xv;
                memcpy(xt, x + i, (size_t)(end - i) * sizeof(int16_t));
                xv = vld1q_s16(xt);
                for (r = 0; r < 4; ++r) {
                    int8_t wt[8] = {0};
                    int16x8_t wv;
                    memcpy(wt, rp[r] + i, (size_t)(end - i));
                    wv = vmovl_s8(vld1_s8(wt));
                    a[r] = vmlal_s16(a[r], vget_low_s16(wv), vget_low_s16(xv));
                    a[r] = vmlal_high_s16(a[r], wv, xv);
                }
            }
            for (r = 0; r < 4; ++r) {
                tot[r] += vaddvq_s32(a[r]);
            }
        }
        memcpy(acc + r0, tot, (size_t)(rows - r0 < 4 ? rows - r0 : 4) * sizeof(int64_t));
    }
}

#define SQ_NQ16 16 /* 16x8 search: queries per pass, 4 vectors of 4 lanes */

/* Running minimum of 2 of a vector's 4 queries: int64 scores from the int32 dot halves,
 * score = norm - 512 (zh . e) - 2 (zl . e); strict '<' keeps the lowest index on ties. */
SQ_INLINE void sq_min16_pair(int64x2_t h, int64x2_t l, int64x2_t nrm, int64x2_t mi,
                             int64x2_t *best, int64x2_t *best_i)
{
    const int64x2_t score = vsubq_s64(vsubq_s64(nrm, vshlq_n_s64(h, 9)), vshlq_n_s64(l, 1));
    const uint64x2_t lt = vcltq_s64(score, *best);
    *best = vbslq_s64(lt, score, *best);
    *best_i = vbslq_s64(lt, mi, *best_i);
}

/* One pass over the codebook for nv (1..4) vectors of 4 queries with the split halves stored
 * by coordinate: zh[i][q] = hi(z_q[i]) (zl alike); smlal by the broadcast coordinate e[i].
 * d <= 256 keeps each lane (<= 256 * 255 * 32768) inside int32. */
SQ_INLINE void sq_neon16_pass(const int16_t *zh, const int16_t *zl, int32_t d,
                              const int16_t *codebook, int32_t m, const int64_t *norms, int nv,
                              int64_t *idx)
{
    int64x2_t best[8];
    int64x2_t best_i[8];
    int32_t mi;
    int v;
    for (v = 0; v < 2 * nv; ++v) {
        best[v] = vdupq_n_s64(INT64_MAX);
        best_i[v] = vdupq_n_s64(0);
    }
    for (mi = 0; mi < m; ++mi) {
        const int16_t *e = codebook + (size_t)mi * (size_t)d;
        const int64x2_t nrm = vdupq_n_s64(norms[mi]);
        const int64x2_t mv = vdupq_n_s64(mi);
        int32x4_t ah[4];
        int32x4_t al[4];
        int32_t i;
        for (v = 0; v < nv; ++v) {
            ah[v] = vdupq_n_s32(0);
            al[v] = vdupq_n_s32(0);
        }
        for (i = 0; i < d; ++i) {
            const int16_t ei = e[i];
            for (v = 0; v < nv; ++v) {
                const size_t at = 4 * ((size_t)i * (size_t)nv + (size_t)v);
                ah[v] = vmlal_n_s16(ah[v], vld1_s16(zh + at), ei);
                al[v] = vmlal_n_s16(al[v], vld1_s16(zl + at), ei);
            }
        }
        for (v = 0; v < nv; ++v) {
            sq_min16_pair(vmovl_s32(vget_low_s32(ah[v])), vmovl_s32(vget_low_s32(al[v])), nrm,
                          mv, &best[2 * v], &best_i[2 * v]);
            sq_min16_pair(vmovl_high_s32(ah[v]), vmovl_high_s32(al[v]), nrm, mv,
                          &best[2 * v + 1], &best_i[2 * v + 1]);
        }
    }
    for (v = 0; v < 2 * nv; ++v) {
        vst1q_s64(idx + 2 * v, best_i[v]);
    }
}

static void sq_neon_nearest16(const int16_t *z, int32_t d, const uint16_t *positions,
                              int32_t k, const int16_t *codebook, int32_t m,
                              const int64_t *norms, uint16_t *indices)
{
    int16_t zh[SQ_INT32_CHUNK * SQ_NQ16];
    int16_t zl[SQ_INT32_CHUNK * SQ_NQ16];
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ16) {
        const int32_t kc = k - q0 < SQ_NQ16 ? k - q0 : SQ_NQ16;
        const int nv = (int)((kc + 3) / 4);
        const int32_t lanes = 4 * nv;
        int64_t idx[SQ_NQ16];
        int32_t q;
        sq_stage16(z, d, positions + q0, kc, lanes, 1, zh, zl);
        switch (nv) { /* constant nv: accumulators stay in registers */
        case 1: sq_neon16_pass(zh, zl, d, codebook, m, norms, 1, idx); break;
        case 2: sq_neon16_pass(zh, zl, d, codebook, m, norms, 2, idx); break;
        case 3: sq_neon16_pass(zh, zl, d, codebook, m, norms, 3, idx); break;
        default: sq_neon16_pass(zh, zl, d, codebook, m, norms, 4, idx); break;
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

const sq_port_ops sq_aarch64_neon_ops = {"aarch64_neon", sq_neon_fc_acc, NULL, sq_neon_nearest,
                                         sq_neon_fc16_acc, sq_neon_nearest16, NULL};
const sq_port_ops sq_aarch64_dotprod_ops = {"aarch64_dotprod", sq_dot_fc_acc, NULL,
                                            sq_dot_nearest, sq_neon_fc16_acc,
                                            sq_neon_nearest16, NULL};

#else
typedef int sq_aarch64_neon_unused; /* ISO C forbids an empty translation unit */
#endif
