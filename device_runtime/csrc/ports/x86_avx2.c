/*
 * ports/x86_avx2.c - AVX2 kernels on vpmaddwd (int16 x int16 pairs summed into int32 lanes).
 * vpmaddubsw (u8 x s8) would be twice as wide but saturates its int16 pair sums
 * (2 * 255 * 128 > 32767), so it cannot give the reference's integers; int16 can.
 * Per-function target attributes: the file builds with any x86-64 flags and runs only where
 * sq_dispatch.c saw AVX2. Tails go through zero-padded stack copies: no read past an array.
 */
#include "../sq_internal.h"

#if SQ_HAVE_X86_PORTS

#include <immintrin.h>
#include <string.h>

#define SQ_TARGET __attribute__((target("avx2")))
#define SQ_INLINE static inline __attribute__((always_inline))

/* out lane r = sum of the 8 lanes of a[r]: hadd tree, then the two 128-bit halves. */
SQ_TARGET SQ_INLINE __m256i sq_hsum8(const __m256i a[8])
{
    const __m256i h0 = _mm256_hadd_epi32(a[0], a[1]);
    const __m256i h1 = _mm256_hadd_epi32(a[2], a[3]);
    const __m256i h2 = _mm256_hadd_epi32(a[4], a[5]);
    const __m256i h3 = _mm256_hadd_epi32(a[6], a[7]);
    const __m256i g0 = _mm256_hadd_epi32(h0, h1); /* per 128-bit half: rows 0..3 */
    const __m256i g1 = _mm256_hadd_epi32(h2, h3); /* rows 4..7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
                            _mm256_permute2x128_si256(g0, g1, 0x31));
}

/* acc[r] = sum_i w[r][i] * (x[i] + off): x + off in [-255, 255] as int16 (zero-padded to a
 * multiple of 16), w sign-extended 16 bytes at a time; |w (x + off)| <= 32640 per product and
 * the int32 lane sums stay exact. Eight rows share each load of x. */
SQ_TARGET static void sq_fc_acc(const int8_t *w, int32_t in_dim, int32_t rows, const int8_t *x,
                                int32_t input_offset, int32_t *acc)
{
    int16_t xo[SQ_MAX_LAYER_WIDTH + 16];
    const int32_t full = in_dim / 16;
    const int32_t rest = in_dim - 16 * full;
    int32_t i;
    int32_t r0;
    for (i = 0; i < in_dim; ++i) {
        xo[i] = (int16_t)((int32_t)x[i] + input_offset);
    }
    for (; i < 16 * (full + 1); ++i) {
        xo[i] = 0;
    }
    for (r0 = 0; r0 < rows; r0 += 8) {
        const int8_t *rp[8];
        __m256i a[8];
        int32_t sums[8];
        int32_t c;
        int r;
        for (r = 0; r < 8; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
            a[r] = _mm256_setzero_si256();
        }
        for (c = 0; c < full; ++c) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xo + 16 * c));
            for (r = 0; r < 8; ++r) {
                const __m256i wv = _mm256_cvtepi8_epi16(
                    _mm_loadu_si128((const __m128i *)(rp[r] + 16 * c)));
                a[r] = _mm256_add_epi32(a[r], _mm256_madd_epi16(wv, xv));
            }
        }
        if (rest != 0) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xo + 16 * full));
            for (r = 0; r < 8; ++r) {
                int8_t tail[16] = {0};
                memcpy(tail, rp[r] + 16 * full, (size_t)rest);
                a[r] = _mm256_add_epi32(
                    a[r], _mm256_madd_epi16(
                              _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)tail)), xv));
            }
        }
        _mm256_storeu_si256((__m256i *)sums, sq_hsum8(a));
        memcpy(acc + r0, sums, (size_t)(rows - r0 < 8 ? rows - r0 : 8) * sizeof(int32_t));
    }
}

/* 4 doubles: round(v) half away from zero as sq_kernels.c's sq_scale_round, |v| limited to 2^20
 * first (the output clamp maps every larger value to the same int8 as saturation would). */
SQ_TARGET SQ_INLINE __m128i sq_round4(__m256d v)
{
    const __m256d lim = _mm256_set1_pd(1048576.0);
    const __m256d nlim = _mm256_set1_pd(-1048576.0);
    __m256d t;
    __m256d frac;
    __m128i ti;
    v = _mm256_min_pd(_mm256_max_pd(v, nlim), lim);
    t = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    frac = _mm256_sub_pd(v, t); /* exact */
    ti = _mm256_cvttpd_epi32(t);
    /* masked 1.0 / -1.0 where the fraction reaches +-0.5, converted exactly */
    ti = _mm_add_epi32(ti, _mm256_cvtpd_epi32(_mm256_and_pd(
                               _mm256_cmp_pd(frac, _mm256_set1_pd(0.5), _CMP_GE_OQ),
                               _mm256_set1_pd(1.0))));
    ti = _mm_add_epi32(ti, _mm256_cvtpd_epi32(_mm256_and_pd(
                               _mm256_cmp_pd(frac, _mm256_set1_pd(-0.5), _CMP_LE_OQ),
                               _mm256_set1_pd(-1.0))));
    return ti;
}

SQ_TARGET static void sq_requant_scale(const int32_t *acc, const int32_t *bias,
                                       const double *scale, int32_t n, int32_t output_offset,
                                       int32_t act_min, int32_t act_max, int8_t *y)
{
    const __m128i off = _mm_set1_epi32(output_offset);
    const __m128i lo = _mm_set1_epi32(act_min);
    const __m128i hi = _mm_set1_epi32(act_max);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i a = _mm_loadu_si128((const __m128i *)(acc + i));
        __m128i r;
        int32_t out[4];
        if (bias != NULL) { /* int32 add wraps like the reference's */
            a = _mm_add_epi32(a, _mm_loadu_si128((const __m128i *)(bias + i)));
        }
        r = sq_round4(_mm256_mul_pd(_mm256_cvtepi32_pd(a), _mm256_loadu_pd(scale + i)));
        r = _mm_min_epi32(_mm_max_epi32(_mm_add_epi32(r, off), lo), hi);
        _mm_storeu_si128((__m128i *)out, r);
        y[i] = (int8_t)out[0];
        y[i + 1] = (int8_t)out[1];
        y[i + 2] = (int8_t)out[2];
        y[i + 3] = (int8_t)out[3];
    }
    if (i < n) { /* the last 1..3 channels through a padded copy */
        int32_t a4[4] = {0, 0, 0, 0};
        int32_t b4[4] = {0, 0, 0, 0};
        double s4[4] = {0.0, 0.0, 0.0, 0.0};
        int8_t y4[4];
        memcpy(a4, acc + i, (size_t)(n - i) * sizeof(int32_t));
        if (bias != NULL) {
            memcpy(b4, bias + i, (size_t)(n - i) * sizeof(int32_t));
        }
        memcpy(s4, scale + i, (size_t)(n - i) * sizeof(double));
        sq_requant_scale(a4, b4, s4, 4, output_offset, act_min, act_max, y4);
        memcpy(y + i, y4, (size_t)(n - i));
    }
}

#define SQ_NQ 32 /* queries (selected slots) per pass: 4 vectors of 8 lanes */

/* One pass over the codebook for nv (1..4) vectors of 8 queries packed transposed as int16
 * pairs, zq[t][q][0..1] = z_q[2t], z_q[2t + 1]: one vpmaddwd gives 8 queries' dot with two
 * coordinates of one codeword (broadcast). score = ||e||^2 - 2 z.e (+ ||z||^2 = the squared
 * distance); lanes are queries with their own running minimum over increasing m and a strict
 * '<', so ties keep the lowest index. */
SQ_TARGET SQ_INLINE void sq_nearest_pass(const int16_t *zq, int32_t d, const int8_t *codebook,
                                         int32_t m, const int32_t *norms, int nv,
                                         __m256i best_i[4])
{
    const int32_t d2 = (d + 1) / 2;
    const int32_t chunks = (d + 15) / 16;
    int16_t e16[SQ_MAX_D + 16];
    __m256i best_v[4];
    int32_t mi;
    int v;
    for (v = 0; v < nv; ++v) {
        best_v[v] = _mm256_set1_epi32(INT32_MAX);
        best_i[v] = _mm256_setzero_si256();
    }
    memset(e16, 0, sizeof(e16)); /* the padding stays 0 */
    for (mi = 0; mi < m; ++mi) {
        const int8_t *ep = codebook + (size_t)mi * (size_t)d;
        __m256i acc[4];
        __m256i nrm;
        int32_t c;
        int32_t t;
        int32_t norm;
        if (d % 16 == 0) {
            for (c = 0; c < chunks; ++c) {
                _mm256_storeu_si256(
                    (__m256i *)(e16 + 16 * c),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(ep + 16 * c))));
            }
        } else {
            for (c = 0; c < d; ++c) {
                e16[c] = ep[c];
            }
        }
        if (norms != NULL) {
            norm = norms[mi];
        } else {
            __m256i s = _mm256_setzero_si256();
            __m128i h;
            for (c = 0; c < chunks; ++c) {
                const __m256i ev = _mm256_loadu_si256((const __m256i *)(e16 + 16 * c));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(ev, ev));
            }
            h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
            norm = _mm_cvtsi128_si32(h);
        }
        nrm = _mm256_set1_epi32(norm);
        for (v = 0; v < nv; ++v) {
            acc[v] = _mm256_setzero_si256();
        }
        for (t = 0; t < d2; ++t) {
            int32_t pair;
            __m256i b;
            memcpy(&pair, e16 + 2 * t, sizeof(pair));
            b = _mm256_set1_epi32(pair);
            for (v = 0; v < nv; ++v) {
                acc[v] = _mm256_add_epi32(
                    acc[v], _mm256_madd_epi16(b, _mm256_loadu_si256(
                                                     (const __m256i *)(zq + 16 * (t * nv + v)))));
            }
        }
        for (v = 0; v < nv; ++v) {
            const __m256i score = _mm256_sub_epi32(nrm, _mm256_slli_epi32(acc[v], 1));
            const __m256i lt = _mm256_cmpgt_epi32(best_v[v], score);
            best_v[v] = _mm256_blendv_epi8(best_v[v], score, lt);
            best_i[v] = _mm256_blendv_epi8(best_i[v], _mm256_set1_epi32(mi), lt);
        }
    }
}

SQ_TARGET static void sq_nearest(const int8_t *z, int32_t d, const uint16_t *positions,
                                 int32_t k, const int8_t *codebook, int32_t m,
                                 const int32_t *norms, uint16_t *indices)
{
    int16_t zq[(SQ_MAX_D + 1) / 2 * SQ_NQ * 2];
    const int32_t d2 = (d + 1) / 2;
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ) {
        const int32_t kc = k - q0 < SQ_NQ ? k - q0 : SQ_NQ;
        const int nv = (int)((kc + 7) / 8);
        const int32_t lanes = 8 * nv;
        __m256i best_i[4];
        int32_t idx[SQ_NQ];
        int32_t q;
        int32_t i;
        memset(zq, 0, (size_t)d2 * (size_t)lanes * 2 * sizeof(int16_t));
        for (q = 0; q < kc; ++q) {
            const int8_t *row = z + (size_t)positions[q0 + q] * (size_t)d;
            for (i = 0; i < d; ++i) {
                zq[2 * ((size_t)(i / 2) * (size_t)lanes + (size_t)q) + (size_t)(i % 2)] = row[i];
            }
        }
        switch (nv) { /* constant nv: accumulators stay in registers */
        case 1: sq_nearest_pass(zq, d, codebook, m, norms, 1, best_i); break;
        case 2: sq_nearest_pass(zq, d, codebook, m, norms, 2, best_i); break;
        case 3: sq_nearest_pass(zq, d, codebook, m, norms, 3, best_i); break;
        default: sq_nearest_pass(zq, d, codebook, m, norms, 4, best_i); break;
        }
        for (q = 0; q < nv; ++q) {
            _mm256_storeu_si256((__m256i *)(idx + 8 * q), best_i[q]);
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

/* ---- 16x8 (int16 activations, int8 weights) ------------------------------------------------ */

/* acc[r] = sum_i w[r][i] x[i] in int64: the int16 x as it is, w sign-extended 16 bytes at a
 * time, vpmaddwd into int32 lanes over SQ_INT32_CHUNK inputs (|w x| <= 2^22: a chunk's lane
 * sums and their total stay below 2^30), then added in int64. Eight rows share each load of x;
 * the last partial 16 inputs go through zero-padded copies. */
SQ_TARGET static void sq_fc16_acc(const int8_t *w, int32_t in_dim, int32_t rows,
                                  const int16_t *x, int64_t *acc)
{
    int32_t r0;
    for (r0 = 0; r0 < rows; r0 += 8) {
        const int8_t *rp[8];
        int64_t tot[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int32_t i0;
        int r;
        for (r = 0; r < 8; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
        }
        for (i0 = 0; i0 < in_dim; i0 += SQ_INT32_CHUNK) {
            const int32_t end = in_dim - i0 < SQ_INT32_CHUNK ? in_dim : i0 + SQ_INT32_CHUNK;
            __m256i a[8];
            int32_t sums[8];
            int32_t i = i0;
            for (r = 0; r < 8; ++r) {
                a[r] = _mm256_setzero_si256();
            }
            for (; i + 16 <= end; i += 16) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + i));
                for (r = 0; r < 8; ++r) {
                    const __m256i wv = _mm256_cvtepi8_epi16(
                        _mm_loadu_si128((const __m128i *)(rp[r] + i)));
                    a[r] = _mm256_add_epi32(a[r], _mm256_madd_epi16(wv, xv));
                }
            }
            if (i < end) {
                int16_t xt[16] = {0};
                __m256i xv;
                memcpy(xt, x + i, (size_t)(end - i) * sizeof(int16_t));
                xv = _mm256_loadu_si256((const __m256i *)xt);
                for (r = 0; r < 8; ++r) {
                    int8_t wt[16] = {0};
                    memcpy(wt, rp[r] + i, (size_t)(end - i));
                    a[r] = _mm256_add_epi32(
                        a[r], _mm256_madd_epi16(
                                  _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wt)),
                                  xv));
                }
            }
            _mm256_storeu_si256((__m256i *)sums, sq_hsum8(a));
            for (r = 0; r < 8; ++r) {
                tot[r] += sums[r];
            }
        }
        memcpy(acc + r0, tot, (size_t)(rows - r0 < 8 ? rows - r0 : 8) * sizeof(int64_t));
    }
}

/* The 16x8 double requantization, 4 channels per step: acc + bias as double exactly (|.| < 2^47:
 * signed high dword * 2^32 + unsigned low dword), times the scale, then sq_round4 (limit to
 * +-2^20, round half away from zero exactly) and the clamp. */
SQ_TARGET SQ_INLINE __m128i sq_requant16_4(__m256i a, __m256d s, __m128i lo_act, __m128i hi_act)
{
    const __m256i odd = _mm256_setr_epi32(1, 3, 5, 7, 0, 2, 4, 6); /* high dwords, then low */
    const __m256i hl = _mm256_permutevar8x32_epi32(a, odd);
    const __m256d v = _mm256_add_pd(
        _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(hl)),
                      _mm256_set1_pd(4294967296.0)),
        _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(_mm256_extracti128_si256(hl, 1),
                                                       _mm_set1_epi32((int)0x80000000u))),
                      _mm256_set1_pd(2147483648.0)));
    return _mm_min_epi32(_mm_max_epi32(sq_round4(_mm256_mul_pd(v, s)), lo_act), hi_act);
}

SQ_TARGET static void sq_requant16_scale(const int64_t *acc, const int64_t *bias,
                                         const double *scale, int32_t n, int32_t act_min,
                                         int32_t act_max, int16_t *y)
{
    const __m128i lo_act = _mm_set1_epi32(act_min);
    const __m128i hi_act = _mm_set1_epi32(act_max);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
        if (bias != NULL) {
            a = _mm256_add_epi64(a, _mm256_loadu_si256((const __m256i *)(bias + i)));
        }
        _mm_storel_epi64((__m128i *)(y + i),
                         _mm_packs_epi32(sq_requant16_4(a, _mm256_loadu_pd(scale + i), lo_act,
                                                        hi_act),
                                         _mm_setzero_si128()));
    }
    if (i < n) { /* the last 1..3 channels through padded copies */
        int64_t a4[4] = {0, 0, 0, 0};
        int64_t b4[4] = {0, 0, 0, 0};
        double s4[4] = {0.0, 0.0, 0.0, 0.0};
        int16_t y4[4];
        memcpy(a4, acc + i, (size_t)(n - i) * sizeof(int64_t));
        if (bias != NULL) {
            memcpy(b4, bias + i, (size_t)(n - i) * sizeof(int64_t));
        }
        memcpy(s4, scale + i, (size_t)(n - i) * sizeof(double));
        sq_requant16_scale(a4, b4, s4, 4, act_min, act_max, y4);
        memcpy(y + i, y4, (size_t)(n - i) * sizeof(int16_t));
    }
}

#define SQ_NQ16 16 /* 16x8 search: queries per pass, 2 vectors of 8 lanes */

/* Running minimum of one vector of 8 queries: the int64 scores of 4 lanes (half h of the 8)
 * from the int32 dot halves, score = norm - 512 (zh . e) - 2 (zl . e). */
SQ_TARGET SQ_INLINE void sq_min16_half(__m128i h, __m128i l, __m256i nrm, __m256i mi,
                                       __m256i *best, __m256i *best_i)
{
    const __m256i score = _mm256_sub_epi64(
        _mm256_sub_epi64(nrm, _mm256_slli_epi64(_mm256_cvtepi32_epi64(h), 9)),
        _mm256_slli_epi64(_mm256_cvtepi32_epi64(l), 1));
    const __m256i lt = _mm256_cmpgt_epi64(*best, score);
    *best = _mm256_blendv_epi8(*best, score, lt);
    *best_i = _mm256_blendv_epi8(*best_i, mi, lt);
}

/* One pass over the codebook for nv (1..2) vectors of 8 queries, the split halves transposed
 * as int16 pairs: zh[t][q][0..1] = hi(z_q[2t]), hi(z_q[2t + 1]) (zl alike). One vpmaddwd per
 * half gives 8 queries' dot with two coordinates of one codeword (broadcast); d <= 256 keeps
 * every lane's sum (<= 256 * 255 * 32768) inside int32. Strict '<' over increasing m: ties
 * keep the lowest index. */
SQ_TARGET SQ_INLINE void sq_nearest16_pass(const int16_t *zh, const int16_t *zl, int32_t d,
                                           const int16_t *codebook, int32_t m,
                                           const int64_t *norms, int nv, int64_t *idx)
{
    const int32_t d2 = (d + 1) / 2;
    int16_t ep[SQ_MAX_D + 2];
    __m256i best[4];
    __m256i best_i[4];
    int32_t mi;
    int v;
    for (v = 0; v < 2 * nv; ++v) {
        best[v] = _mm256_set1_epi64x(INT64_MAX);
        best_i[v] = _mm256_setzero_si256();
    }
    ep[d] = 0; /* the pad of an odd d */
    for (mi = 0; mi < m; ++mi) {
        const int16_t *e = codebook + (size_t)mi * (size_t)d;
        const __m256i nrm = _mm256_set1_epi64x(norms[mi]);
        const __m256i mv = _mm256_set1_epi64x(mi);
        __m256i ah[2];
        __m256i al[2];
        int32_t t;
        if (d % 2 != 0) {
            memcpy(ep, e, (size_t)d * sizeof(int16_t));
            e = ep;
        }
        for (v = 0; v < nv; ++v) {
            ah[v] = _mm256_setzero_si256();
            al[v] = _mm256_setzero_si256();
        }
        for (t = 0; t < d2; ++t) {
            int32_t pair;
            __m256i b;
            memcpy(&pair, e + 2 * t, sizeof(pair));
            b = _mm256_set1_epi32(pair);
            for (v = 0; v < nv; ++v) {
                const size_t at = 16 * ((size_t)t * (size_t)nv + (size_t)v);
                ah[v] = _mm256_add_epi32(
                    ah[v], _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(zh + at))));
                al[v] = _mm256_add_epi32(
                    al[v], _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(zl + at))));
            }
        }
        for (v = 0; v < nv; ++v) {
            sq_min16_half(_mm256_castsi256_si128(ah[v]), _mm256_castsi256_si128(al[v]), nrm, mv,
                          &best[2 * v], &best_i[2 * v]);
            sq_min16_half(_mm256_extracti128_si256(ah[v], 1), _mm256_extracti128_si256(al[v], 1),
                          nrm, mv, &best[2 * v + 1], &best_i[2 * v + 1]);
        }
    }
    for (v = 0; v < 2 * nv; ++v) {
        _mm256_storeu_si256((__m256i *)(idx + 4 * v), best_i[v]);
    }
}

SQ_TARGET static void sq_nearest16(const int16_t *z, int32_t d, const uint16_t *positions,
                                   int32_t k, const int16_t *codebook, int32_t m,
                                   const int64_t *norms, uint16_t *indices)
{
    int16_t zh[(SQ_INT32_CHUNK + 1) / 2 * SQ_NQ16 * 2];
    int16_t zl[(SQ_INT32_CHUNK + 1) / 2 * SQ_NQ16 * 2];
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ16) {
        const int32_t kc = k - q0 < SQ_NQ16 ? k - q0 : SQ_NQ16;
        const int nv = (int)((kc + 7) / 8);
        const int32_t lanes = 8 * nv;
        int64_t idx[SQ_NQ16];
        int32_t q;
        sq_stage16(z, d, positions + q0, kc, lanes, 2, zh, zl);
        if (nv == 1) { /* constant nv: accumulators stay in registers */
            sq_nearest16_pass(zh, zl, d, codebook, m, norms, 1, idx);
        } else {
            sq_nearest16_pass(zh, zl, d, codebook, m, norms, 2, idx);
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

const sq_port_ops sq_x86_avx2_ops = {"x86_avx2", sq_fc_acc, sq_requant_scale, sq_nearest,
                                     sq_fc16_acc, sq_nearest16, sq_requant16_scale};

#else
typedef int sq_x86_avx2_unused; /* ISO C forbids an empty translation unit */
#endif
