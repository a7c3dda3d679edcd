/*
 * ports/x86_avx512_vnni.c - AVX-512 VNNI kernels (vpdpbusd: 64 u8 x s8 products summed into
 * 16 int32 lanes per instruction), AVX-512BW masked byte loads for every tail, so no read goes
 * past an array. Compiled with per-function target attributes: the file builds with any
 * x86-64 compiler flags, and sq_dispatch.c calls it only on CPUs that report the features.
 *
 * Exactness: vpdpbusd adds four u8 x s8 products (each |p| <= 255 * 128) to an int32 lane
 * without saturation; every sum below is bounded far inside int32 (in_dim <= 65536 for the FC,
 * d <= 256 for the codebook), so the integers are the reference kernels' exactly.
 */
#include "../sq_internal.h"

#if SQ_HAVE_X86_PORTS

#include <immintrin.h>
#include <string.h>

#define SQ_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define SQ_INLINE static inline __attribute__((always_inline))

/* Mask of the first n (0..64) bytes of a 64-byte chunk. */
static __mmask64 sq_mask64(int32_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

/* out lane r = sum of the 16 lanes of a[r], r in [0, 16): a transposing add tree
 * (30 shuffles, 15 adds for 16 rows instead of 16 full horizontal reductions). */
SQ_TARGET SQ_INLINE __m512i sq_hsum16(const __m512i a[16])
{
    __m512i t[8];
    __m512i u[4];
    __m512i v0;
    __m512i v1;
    int i;
    for (i = 0; i < 8; ++i) { /* 128-bit lane holds rows 2i (elements 0, 2), 2i+1 (1, 3) */
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                                _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
    }
    for (i = 0; i < 4; ++i) { /* 128-bit lane holds rows 4i .. 4i+3 */
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    }
    /* lanes: u0 lanes 0+1, u0 lanes 2+3, u1 lanes 0+1, u1 lanes 2+3 */
    v0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88),
                          _mm512_shuffle_i32x4(u[0], u[1], 0xdd));
    v1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x88),
                          _mm512_shuffle_i32x4(u[2], u[3], 0xdd));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(v0, v1, 0x88),
                            _mm512_shuffle_i32x4(v0, v1, 0xdd));
}

/* 16 rows' sums of w[r][i] * a[i] with a u8 (xu, or all ones when `ones`): full chunks with
 * plain loads, the tail with masked loads (xu is zero-padded, w is never read past its row). */
SQ_TARGET SQ_INLINE __m512i sq_fc_block16(const int8_t *const rows[16], const uint8_t *xu,
                                          int32_t in_dim, int ones)
{
    const __m512i one = _mm512_set1_epi8(1);
    const int32_t full = in_dim / 64;
    const __mmask64 tail = sq_mask64(in_dim - 64 * full);
    __m512i acc[16];
    int32_t c;
    int r;
    for (r = 0; r < 16; ++r) {
        acc[r] = _mm512_setzero_si512();
    }
    for (c = 0; c < full; ++c) {
        const __m512i xv = ones ? one : _mm512_loadu_si512((const void *)(xu + 64 * c));
        for (r = 0; r < 16; ++r) {
            acc[r] = _mm512_dpbusd_epi32(acc[r], xv,
                                         _mm512_loadu_si512((const void *)(rows[r] + 64 * c)));
        }
    }
    if (tail != 0 && in_dim % 64 != 0) {
        const __m512i xv = ones ? _mm512_maskz_mov_epi8(tail, one)
                                : _mm512_loadu_si512((const void *)(xu + 64 * full));
        for (r = 0; r < 16; ++r) {
            acc[r] = _mm512_dpbusd_epi32(acc[r], xv,
                                         _mm512_maskz_loadu_epi8(tail, rows[r] + 64 * full));
        }
    }
    return sq_hsum16(acc);
}

/* sum_i w (x + off) = sum_i w xu - (128 - off) sum_i w with xu = x + 128 in [0, 255]: the u8
 * operand vpdpbusd needs. Every layer of the exported models has off = 128 (zero point -128),
 * where the correction vanishes; other offsets pay a second pass for sum_i w. */
SQ_TARGET static void sq_fc_acc(const int8_t *w, int32_t in_dim, int32_t rows, const int8_t *x,
                                int32_t input_offset, int32_t *acc)
{
    uint8_t xu[SQ_MAX_LAYER_WIDTH + 64];
    const int32_t chunks = (in_dim + 63) / 64;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m512i corr = _mm512_set1_epi32(128 - input_offset);
    int32_t c;
    int32_t r0;
    for (c = 0; c < chunks; ++c) { /* padding bytes stay 0 */
        const __mmask64 mk = sq_mask64(in_dim - 64 * c);
        const __m512i v = _mm512_maskz_loadu_epi8(mk, x + 64 * c);
        _mm512_storeu_si512((void *)(xu + 64 * c),
                            _mm512_maskz_mov_epi8(mk, _mm512_xor_si512(v, bias)));
    }
    for (r0 = 0; r0 < rows; r0 += 16) {
        const int8_t *rp[16];
        int32_t sums[16];
        __m512i s;
        int r;
        for (r = 0; r < 16; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
        }
        s = sq_fc_block16(rp, xu, in_dim, 0);
        if (input_offset != 128) {
            s = _mm512_sub_epi32(s, _mm512_mullo_epi32(sq_fc_block16(rp, xu, in_dim, 1), corr));
        }
        if (rows - r0 >= 16) {
            _mm512_storeu_si512((void *)(acc + r0), s);
        } else {
            _mm512_storeu_si512((void *)sums, s);
            memcpy(acc + r0, sums, (size_t)(rows - r0) * sizeof(int32_t));
        }
    }
}

/* 8 doubles: round(acc * scale) half away from zero, exactly as sq_kernels.c's sq_scale_round,
 * except that |v| is first limited to 2^20: the output clamp (|offset| <= 128, bounds in int8)
 * maps every such value to the same int8 as the int32 saturation would. */
SQ_TARGET SQ_INLINE __m256i sq_round8(__m512d v)
{
    const __m512d lim = _mm512_set1_pd(1048576.0);
    const __m512d half = _mm512_set1_pd(0.5);
    __m512d t;
    __m512d frac;
    __m512i ti;
    v = _mm512_min_pd(_mm512_max_pd(v, _mm512_sub_pd(_mm512_setzero_pd(), lim)), lim);
    t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    frac = _mm512_sub_pd(v, t); /* exact */
    ti = _mm512_cvtepi32_epi64(_mm512_cvttpd_epi32(t));
    ti = _mm512_mask_add_epi64(ti, _mm512_cmp_pd_mask(frac, half, _CMP_GE_OQ), ti,
                               _mm512_set1_epi64(1));
    ti = _mm512_mask_sub_epi64(ti, _mm512_cmp_pd_mask(frac, _mm512_sub_pd(_mm512_setzero_pd(),
                                                                         half),
                                                      _CMP_LE_OQ),
                               ti, _mm512_set1_epi64(1));
    return _mm512_cvtepi64_epi32(ti);
}

SQ_TARGET static void sq_requant_scale(const int32_t *acc, const int32_t *bias,
                                       const double *scale, int32_t n, int32_t output_offset,
                                       int32_t act_min, int32_t act_max, int8_t *y)
{
    const __m512i off = _mm512_set1_epi32(output_offset);
    const __m512i lo = _mm512_set1_epi32(act_min);
    const __m512i hi = _mm512_set1_epi32(act_max);
    int32_t i;
    for (i = 0; i < n; i += 16) {
        const int32_t left = n - i;
        const __mmask16 mk = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512i a = _mm512_maskz_loadu_epi32(mk, acc + i);
        __m512i r;
        __m512d s0;
        __m512d s1;
        if (bias != NULL) { /* int32 add wraps like the reference's */
            a = _mm512_add_epi32(a, _mm512_maskz_loadu_epi32(mk, bias + i));
        }
        s0 = _mm512_maskz_loadu_pd((__mmask8)(mk & 0xff), scale + i);
        s1 = _mm512_maskz_loadu_pd((__mmask8)(mk >> 8), scale + i + 8);
        r = _mm512_inserti64x4(
            _mm512_castsi256_si512(sq_round8(
                _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(a)), s0))),
            sq_round8(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(a, 1)), s1)),
            1);
        r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, off), lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(y + i, mk, r);
    }
}

/* ||e||^2 of one codeword from its (masked) chunks. */
SQ_TARGET SQ_INLINE int32_t sq_norm(const __m512i *e, int32_t chunks)
{
    __m512i sum = _mm512_setzero_si512();
    int32_t c;
    for (c = 0; c < chunks; ++c) {
        const __m512i lo = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(e[c]));
        const __m512i hi = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(e[c], 1));
        sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_madd_epi16(lo, lo),
                                                     _mm512_madd_epi16(hi, hi)));
    }
    return _mm512_reduce_add_epi32(sum);
}

#define SQ_NQ 64 /* queries (selected slots) per pass: 4 vectors of 16 lanes */

/* One pass over the codebook for nv (1..4) vectors of 16 queries. The queries are packed
 * transposed, zq[t][q][0..3] = z_q[4t .. 4t+3] (signed, the s8 operand), so one vpdpbusd
 * computes the dot of 16 queries with 4 bytes of one codeword, broadcast as u8: e + 128 (the
 * ^0x80). sum z (e + 128) = z.e + 128 sum z, and 128 sum z is constant per query, so
 * score = ||e||^2 - 2 sum z (e + 128) orders codewords exactly as the squared distance does.
 * Lanes are queries: each keeps its own running minimum over m in increasing order with a
 * strict '<', so ties keep the lowest index, as in the reference. */
SQ_TARGET SQ_INLINE void sq_nearest_pass(const int8_t *zq, int32_t d, const int8_t *codebook,
                                         int32_t m, const int32_t *norms, int nv,
                                         __m512i best_i[4])
{
    const int32_t d4 = (d + 3) / 4;
    const int32_t chunks = (d + 63) / 64;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    uint32_t eu[(SQ_MAX_D + 63) / 64 * 16];
    __m512i best_v[4];
    __m512i e[(SQ_MAX_D + 63) / 64];
    int32_t mi;
    int v;
    for (v = 0; v < nv; ++v) {
        best_v[v] = _mm512_set1_epi32(INT32_MAX);
        best_i[v] = _mm512_setzero_si512();
    }
    for (mi = 0; mi < m; ++mi) {
        const int8_t *ep = codebook + (size_t)mi * (size_t)d;
        __m512i acc[4];
        __m512i nrm;
        int32_t c;
        int32_t t;
        for (c = 0; c < chunks; ++c) {
            e[c] = _mm512_maskz_loadu_epi8(sq_mask64(d - 64 * c), ep + 64 * c);
            _mm512_storeu_si512((void *)(eu + 16 * c), _mm512_xor_si512(e[c], flip));
        }
        nrm = _mm512_set1_epi32(norms != NULL ? norms[mi] : sq_norm(e, chunks));
        for (v = 0; v < nv; ++v) {
            acc[v] = _mm512_setzero_si512();
        }
        for (t = 0; t < d4; ++t) {
            const __m512i b = _mm512_set1_epi32((int)eu[t]);
            for (v = 0; v < nv; ++v) {
                acc[v] = _mm512_dpbusd_epi32(
                    acc[v], b, _mm512_loadu_si512((const void *)(zq + 64 * (t * nv + v))));
            }
        }
        for (v = 0; v < nv; ++v) {
            const __m512i score = _mm512_sub_epi32(nrm, _mm512_slli_epi32(acc[v], 1));
            const __mmask16 lt = _mm512_cmplt_epi32_mask(score, best_v[v]);
            best_v[v] = _mm512_mask_mov_epi32(best_v[v], lt, score);
            best_i[v] = _mm512_mask_mov_epi32(best_i[v], lt, _mm512_set1_epi32(mi));
        }
    }
}

SQ_TARGET static void sq_nearest(const int8_t *z, int32_t d, const uint16_t *positions,
                                 int32_t k, const int8_t *codebook, int32_t m,
                                 const int32_t *norms, uint16_t *indices)
{
    int8_t zq[(SQ_MAX_D + 3) / 4 * SQ_NQ * 4];
    const int32_t d4 = (d + 3) / 4;
    int32_t q0;
    for (q0 = 0; q0 < k; q0 += SQ_NQ) {
        const int32_t kc = k - q0 < SQ_NQ ? k - q0 : SQ_NQ;
        const int nv = (int)((kc + 15) / 16);
        const int32_t lanes = 16 * nv;
        __m512i best_i[4];
        int32_t idx[SQ_NQ];
        int32_t q;
        int32_t t;
        /* Transpose the selected rows into zq[t][q][4]; padding (d % 4, unused lanes) is 0. */
        memset(zq, 0, (size_t)d4 * (size_t)lanes * 4);
        for (q = 0; q < kc; ++q) {
            const int8_t *row = z + (size_t)positions[q0 + q] * (size_t)d;
            for (t = 0; t < d4; ++t) {
                const int32_t nb = d - 4 * t < 4 ? d - 4 * t : 4;
                memcpy(zq + 4 * ((size_t)t * (size_t)lanes + (size_t)q), row + 4 * t,
                       (size_t)nb);
            }
        }
        switch (nv) { /* constant nv: accumulators stay in registers */
        case 1: sq_nearest_pass(zq, d, codebook, m, norms, 1, best_i); break;
        case 2: sq_nearest_pass(zq, d, codebook, m, norms, 2, best_i); break;
        case 3: sq_nearest_pass(zq, d, codebook, m, norms, 3, best_i); break;
        default: sq_nearest_pass(zq, d, codebook, m, norms, 4, best_i); break;
        }
        for (q = 0; q < nv; ++q) {
            _mm512_storeu_si512((void *)(idx + 16 * q), best_i[q]);
        }
        for (q = 0; q < kc; ++q) {
            indices[q0 + q] = (uint16_t)idx[q];
        }
    }
}

/* ---- FC on weights packed at prepare time (sq_graph_pack) ---------------------------------
 * Rows in blocks of 16, inputs in groups of 4: packed[(b * g4 + g) * 64 + 4 r + t] =
 * w[16 b + r][4 g + t] (zero past the row / column ends), g4 = ceil(in_dim / 4). One vpdpbusd
 * of the broadcast x + 128 bytes 4g .. 4g+3 (u8) with one 64-byte group adds 4 products to 16
 * rows' accumulators: the lanes are the rows, so no horizontal sums; 8 blocks (128 rows) run
 * side by side. Only layers with input_offset 128: sum w (x + 128) is then the whole sum. */
static int32_t sq_vnni_packed_bytes(int32_t in_dim, int32_t out_dim)
{
    return (out_dim + 15) / 16 * ((in_dim + 3) / 4) * 64;
}

static void sq_vnni_pack(const int8_t *w, int32_t in_dim, int32_t out_dim, int8_t *packed)
{
    const int32_t g4 = (in_dim + 3) / 4;
    const int32_t blocks = (out_dim + 15) / 16;
    int32_t b;
    int32_t g;
    int32_t r;
    int32_t t;
    for (b = 0; b < blocks; ++b) {
        for (g = 0; g < g4; ++g) {
            int8_t *dst = packed + ((size_t)b * (size_t)g4 + (size_t)g) * 64;
            for (r = 0; r < 16; ++r) {
                for (t = 0; t < 4; ++t) {
                    const int32_t row = 16 * b + r;
                    const int32_t col = 4 * g + t;
                    dst[4 * r + t] = (row < out_dim && col < in_dim)
                                         ? w[(size_t)row * (size_t)in_dim + (size_t)col]
                                         : 0;
                }
            }
        }
    }
}

#define SQ_PB 8 /* row blocks of 16 side by side */

SQ_TARGET SQ_INLINE void sq_packed_blocks(const int8_t *packed, int32_t g4, const uint32_t *xw,
                                          int nb, int32_t *out)
{
    __m512i acc[SQ_PB];
    int32_t g;
    int j;
    for (j = 0; j < nb; ++j) {
        acc[j] = _mm512_setzero_si512();
    }
    for (g = 0; g < g4; ++g) {
        const __m512i xb = _mm512_set1_epi32((int)xw[g]);
        for (j = 0; j < nb; ++j) {
            acc[j] = _mm512_dpbusd_epi32(
                acc[j], xb,
                _mm512_loadu_si512((const void *)(packed + ((size_t)j * (size_t)g4 +
                                                            (size_t)g) * 64)));
        }
    }
    for (j = 0; j < nb; ++j) {
        _mm512_storeu_si512((void *)(out + 16 * j), acc[j]);
    }
}

SQ_TARGET static void sq_fc_acc_packed(const int8_t *packed, int32_t in_dim, int32_t r0,
                                       int32_t rows, const int8_t *x, int32_t *acc)
{
    uint32_t xw[(SQ_MAX_LAYER_WIDTH + 3) / 4 + 16];
    int32_t out[16 * SQ_PB];
    const int32_t g4 = (in_dim + 3) / 4;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const int32_t blocks = (rows + 15) / 16;
    int32_t c;
    int32_t b;
    for (c = 0; c < in_dim; c += 64) { /* xu = x + 128 as u8, zero past in_dim */
        const __mmask64 mk = sq_mask64(in_dim - c);
        const __m512i v = _mm512_maskz_loadu_epi8(mk, x + c);
        _mm512_storeu_si512((void *)((uint8_t *)xw + c),
                            _mm512_maskz_mov_epi8(mk, _mm512_xor_si512(v, bias)));
    }
    for (b = 0; b < blocks; b += SQ_PB) {
        const int nb = blocks - b < SQ_PB ? (int)(blocks - b) : SQ_PB;
        const int8_t *p = packed + ((size_t)(r0 / 16 + b) * (size_t)g4) * 64;
        const int32_t n = rows - 16 * b < 16 * nb ? rows - 16 * b : 16 * nb;
        if (nb == SQ_PB) { /* constant count: accumulators stay in registers */
            sq_packed_blocks(p, g4, xw, SQ_PB, out);
        } else {
            sq_packed_blocks(p, g4, xw, nb, out);
        }
        memcpy(acc + 16 * b, out, (size_t)n * sizeof(int32_t));
    }
}

/* ---- 16x8 (int16 activations, int8 weights): vpdpwssd, 32 int16 products into 16 int32 lanes
 * per instruction (|w x| <= 2^22, no saturation) ------------------------------------------- */

/* acc[r] = sum_i w[r][i] x[i] in int64: 16 rows share each load of x; w sign-extended 32 bytes
 * at a time; the lanes sum over SQ_INT32_CHUNK inputs (the chunk total <= 2^30), are reduced
 * with sq_hsum16 and added in int64. Masked loads for the tail: nothing read past an array. */
SQ_TARGET static void sq_fc16_acc(const int8_t *w, int32_t in_dim, int32_t rows,
                                  const int16_t *x, int64_t *acc)
{
    int32_t r0;
    for (r0 = 0; r0 < rows; r0 += 16) {
        const int8_t *rp[16];
        int64_t tot[16];
        int32_t i0;
        int r;
        for (r = 0; r < 16; ++r) { /* rows past the end repeat the last one; not stored */
            const int32_t row = r0 + r < rows ? r0 + r : rows - 1;
            rp[r] = w + (size_t)row * (size_t)in_dim;
            tot[r] = 0;
        }
        for (i0 = 0; i0 < in_dim; i0 += SQ_INT32_CHUNK) {
            const int32_t end = in_dim - i0 < SQ_INT32_CHUNK ? in_dim : i0 + SQ_INT32_CHUNK;
            __m512i a[16];
            int32_t sums[16];
            int32_t i = i0;
            for (r = 0; r < 16; ++r) {
                a[r] = _mm512_setzero_si512();
            }
            for (; i + 32 <= end; i += 32) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + i));
                for (r = 0; r < 16; ++r) {
                    a[r] = _mm512_dpwssd_epi32(
                        a[r], _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(rp[r] + i))),
                        xv);
                }
            }
            if (i < end) {
                const __mmask64 mk = sq_mask64(end - i); /* <= 32 bytes of w, int16 of x */
                const __m512i xv = _mm512_maskz_loadu_epi16((__mmask32)mk, x + i);
                for (r = 0; r < 16; ++r) {
                    const __m256i wb = _mm512_castsi512_si256(_mm512_maskz_loadu_epi8(mk, rp[r] + i));
                    a[r] = _mm512_dpwssd_epi32(a[r], _mm512_cvtepi8_epi16(wb), xv);
                }
            }
            _mm512_storeu_si512((void *)sums, sq_hsum16(a));
            for (r = 0; r < 16; ++r) {
                tot[r] += sums[r];
            }
        }
        memcpy(acc + r0, tot, (size_t)(rows - r0 < 16 ? rows - r0 : 16) * sizeof(int64_t));
    }
}

/* The 16x8 double requantization, 8 channels per step: acc + bias as double exactly (|.| < 2^47:
 * high dword * 2^32 + unsigned low dword, no AVX512DQ needed), times the scale (one rounding,
 * as the reference), limited to +-2^20 (every larger value clamps to the same int16), rounded
 * half away from zero by the exact trunc / fraction test of sq_kernels.c, clamped. */
SQ_TARGET static void sq_requant16_scale(const int64_t *acc, const int64_t *bias,
                                         const double *scale, int32_t n, int32_t act_min,
                                         int32_t act_max, int16_t *y)
{
    const __m512d two32 = _mm512_set1_pd(4294967296.0);
    const __m512d lim = _mm512_set1_pd(1048576.0);
    const __m512d nlim = _mm512_set1_pd(-1048576.0);
    const __m512d half = _mm512_set1_pd(0.5);
    const __m512d nhalf = _mm512_set1_pd(-0.5);
    const __m512d one = _mm512_set1_pd(1.0);
    const __m256i lo_act = _mm256_set1_epi32(act_min);
    const __m256i hi_act = _mm256_set1_epi32(act_max);
    int32_t i;
    for (i = 0; i < n; i += 8) {
        const __mmask8 mk = (__mmask8)(n - i >= 8 ? 0xff : (1u << (n - i)) - 1u);
        __m512i a = _mm512_maskz_loadu_epi64(mk, acc + i);
        __m512d v;
        __m512d t;
        __m512d frac;
        __m256i r;
        int32_t out[8];
        int32_t j;
        if (bias != NULL) {
            a = _mm512_add_epi64(a, _mm512_maskz_loadu_epi64(mk, bias + i));
        }
        v = _mm512_add_pd(
            _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(_mm512_srai_epi64(a, 32))),
                          two32),
            _mm512_cvtepu32_pd(_mm512_cvtepi64_epi32(a)));
        v = _mm512_mul_pd(v, _mm512_maskz_loadu_pd(mk, scale + i));
        v = _mm512_min_pd(_mm512_max_pd(v, nlim), lim);
        t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        frac = _mm512_sub_pd(v, t); /* exact */
        t = _mm512_mask_add_pd(t, _mm512_cmp_pd_mask(frac, half, _CMP_GE_OQ), t, one);
        t = _mm512_mask_sub_pd(t, _mm512_cmp_pd_mask(frac, nhalf, _CMP_LE_OQ), t, one);
        r = _mm256_min_epi32(_mm256_max_epi32(_mm512_cvttpd_epi32(t), lo_act), hi_act);
        _mm256_storeu_si256((__m256i *)out, r);
        for (j = 0; j < 8 && i + j < n; ++j) {
            y[i + j] = (int16_t)out[j];
        }
    }
}

#define SQ_NQ16 32 /* 16x8 search: queries per pass, 2 vectors of 16 lanes */

/* Running minimum of 8 of a vector's 16 queries (half h): int64 scores from the int32 dot
 * halves, score = norm - 512 (zh . e) - 2 (zl . e). */
SQ_TARGET SQ_INLINE void sq_min16_half(__m256i h, __m256i l, __m512i nrm, __m512i mi,
                                       __m512i *best, __m512i *best_i)
{
    const __m512i score = _mm512_sub_epi64(
        _mm512_sub_epi64(nrm, _mm512_slli_epi64(_mm512_cvtepi32_epi64(h), 9)),
        _mm512_slli_epi64(_mm512_cvtepi32_epi64(l), 1));
    const __mmask8 lt = _mm512_cmplt_epi64_mask(score, *best);
    *best = _mm512_mask_mov_epi64(*best, lt, score);
    *best_i = _mm512_mask_mov_epi64(*best_i, lt, mi);
}

/* One pass over the codebook for nv (1..2) vectors of 16 queries, the split halves transposed
 * as int16 pairs: zh[t][q][0..1] = hi(z_q[2t]), hi(z_q[2t + 1]) (zl alike). One vpdpwssd per
 * half adds 16 queries' products with two coordinates of one codeword (broadcast); d <= 256
 * keeps every lane (<= 256 * 255 * 32768) inside int32. Strict '<' over increasing m: ties keep
 * the lowest index. */
SQ_TARGET SQ_INLINE void sq_nearest16_pass(const int16_t *zh, const int16_t *zl, int32_t d,
                                           const int16_t *codebook, int32_t m,
                                           const int64_t *norms, int nv, int64_t *idx)
{
    const int32_t d2 = (d + 1) / 2;
    int16_t ep[SQ_MAX_D + 2];
    __m512i best[4];
    __m512i best_i[4];
    int32_t mi;
    int v;
    for (v = 0; v < 2 * nv; ++v) {
        best[v] = _mm512_set1_epi64(INT64_MAX);
        best_i[v] = _mm512_setzero_si512();
    }
    ep[d] = 0; /* the pad of an odd d */
    for (mi = 0; mi < m; ++mi) {
        const int16_t *e = codebook + (size_t)mi * (size_t)d;
        const __m512i nrm = _mm512_set1_epi64(norms[mi]);
        const __m512i mv = _mm512_set1_epi64(mi);
        __m512i ah[2];
        __m512i al[2];
        int32_t t;
        if (d % 2 != 0) {
            memcpy(ep, e, (size_t)d * sizeof(int16_t));
            e = ep;
        }
        for (v = 0; v < nv; ++v) {
            ah[v] = _mm512_setzero_si512();
            al[v] = _mm512_setzero_si512();
        }
        for (t = 0; t < d2; ++t) {
            int32_t pair;
            __m512i b;
            memcpy(&pair, e + 2 * t, sizeof(pair));
            b = _mm512_set1_epi32(pair);
            for (v = 0; v < nv; ++v) {
                const size_t at = 32 * ((size_t)t * (size_t)nv + (size_t)v);
                ah[v] = _mm512_dpwssd_epi32(ah[v], b, _mm512_loadu_si512((const void *)(zh + at)));
                al[v] = _mm512_dpwssd_epi32(al[v], b, _mm512_loadu_si512((const void *)(zl + at)));
            }
        }
        for (v = 0; v < nv; ++v) {
            sq_min16_half(_mm512_castsi512_si256(ah[v]), _mm512_castsi512_si256(al[v]), nrm, mv,
                          &best[2 * v], &best_i[2 * v]);
            sq_min16_half(_mm512_extracti64x4_epi64(ah[v], 1), _mm512_extracti64x4_epi64(al[v], 1),
                          nrm, mv, &best[2 * v + 1], &best_i[2 * v + 1]);
        }
    }
    for (v = 0; v < 2 * nv; ++v) {
        _mm512_storeu_si512((void *)(idx + 8 * v), best_i[v]);
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
        const int nv = (int)((kc + 15) / 16);
        const int32_t lanes = 16 * nv;
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

const sq_packed_ops sq_x86_avx512_vnni_packed = {sq_vnni_packed_bytes, sq_vnni_pack,
                                                 sq_fc_acc_packed};

const sq_port_ops sq_x86_avx512_vnni_ops = {"x86_avx512_vnni", sq_fc_acc, sq_requant_scale,
                                            sq_nearest, sq_fc16_acc, sq_nearest16,
                                            sq_requant16_scale};

#else
typedef int sq_x86_avx512_vnni_unused; /* ISO C forbids an empty translation unit */
#endif
