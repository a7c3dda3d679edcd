/*
 * semqam_core.h - portable C99 core of the semqam sensor node (docs/bundle.md).
 *
 * One sample: q = u - 128 (int8) -> MLP graph (int8 fully connected layers, logistic LUT)
 * -> z_q [N][D], SCI logit l_q [N] (and s_q = LUT(l_q)) -> top-K slots by SCI -> nearest
 * codeword of each selected slot -> I/Q symbol from the constellation table.
 *
 * Layers (as in TensorFlow Lite Micro):
 *   reference math   sq_fc_int8, sq_logistic_lut, sq_requantize   (sq_kernels.c)
 *   glue             sq_graph_check / sq_graph_run / sq_encode    (sq_pipeline.c)
 *   selection, codes sq_top_k, sq_nearest_codewords, sq_map_symbols, sq_policy_k, bitmaps
 *   optimized ports  FC accumulation, requantization, nearest codeword (sq_dispatch.c picks
 *                    one by CPU feature at load: ports/x86_avx2.c, ports/x86_avx512_vnni.c,
 *                    ports/aarch64_neon.c; at build time on an M core: ports/armv7em_dsp.c;
 *                    -DSQ_PORTABLE_ONLY keeps the reference kernels)
 *   validate once    sq_graph_prepare / sq_codebook_prepare, then the *_prepared entries
 *
 * Rules: no dynamic allocation, no libc beyond string.h / stdint.h / stddef.h, memory only from
 * caller-provided buffers, every function returns an sq_status (0 = OK, negative = error; the
 * one exception is sq_status_name) and validates its arguments before touching any output, so
 * bad input never reads or writes out of bounds.
 *
 * Integer semantics are those of TFLite's reference kernels: with the per-channel double
 * scales (sq_multiply_by_scale) outputs equal the LiteRT 2.3 interpreter's byte for byte when it
 * runs with OpResolverType.BUILTIN_REF; the integer-only Q31 path (single rounding by default,
 * see sq_multiply_by_quantized_multiplier) serves MCUs and differs only at rare near-ties.
 */
#ifndef SEMQAM_CORE_H
#define SEMQAM_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time limits (override with -DSQ_MAX_...=value) ------------------------------ */
#ifndef SQ_MAX_N
#define SQ_MAX_N 256 /* concepts (slots) per sample; positions fit in uint16 */
#endif
#ifndef SQ_MAX_D
#define SQ_MAX_D 256 /* latent dimension; D * 255^2 must fit in int32 */
#endif
#ifndef SQ_MAX_M
#define SQ_MAX_M 1024 /* codebook size = constellation order */
#endif
#ifndef SQ_MAX_LAYER_WIDTH
#define SQ_MAX_LAYER_WIDTH 4096 /* widest layer input or output, incl. input_size and N*D */
#endif
#ifndef SQ_MAX_CHAIN_LAYERS
#define SQ_MAX_CHAIN_LAYERS 8 /* layers per chain (trunk, z head, sci head) */
#endif
#ifndef SQ_MAX_POLICY_LEN
#define SQ_MAX_POLICY_LEN 4096 /* SNR grid points of the rate policy table */
#endif

#if SQ_MAX_N < 1 || SQ_MAX_N > 65535
#error "SQ_MAX_N must lie in [1, 65535] (positions are uint16)"
#endif
#if SQ_MAX_M < 1 || SQ_MAX_M > 65535
#error "SQ_MAX_M must lie in [1, 65535] (indices are uint16)"
#endif
#if SQ_MAX_D < 1 || SQ_MAX_D > 33025
#error "SQ_MAX_D must lie in [1, 33025] (squared distances are int32)"
#endif
#if SQ_MAX_LAYER_WIDTH < 1 || SQ_MAX_LAYER_WIDTH > 65536
#error "SQ_MAX_LAYER_WIDTH must lie in [1, 65536] (int32 accumulators cannot overflow)"
#endif

#ifndef SQ_DOUBLE_ROUNDING
#define SQ_DOUBLE_ROUNDING 0 /* 0: TFLite single rounding (LiteRT reference), 1: gemmlowp */
#endif
#if SQ_DOUBLE_ROUNDING
#define SQ_ROUNDING_NAME "double"
#else
#define SQ_ROUNDING_NAME "single"
#endif

/* ---- static buffer sizes (bytes) at the compiled limits --------------------------------- */
/* sq_graph_run: three int8 activation buffers of the widest hidden layer. */
#define SQ_GRAPH_SCRATCH_BYTES (3 * SQ_MAX_LAYER_WIDTH)
/* sq_encode: graph scratch + int8 input + z_q [N*D] + l_q [N] + s_q [N]. */
#define SQ_ENCODE_SCRATCH_BYTES (SQ_GRAPH_SCRATCH_BYTES + 2 * SQ_MAX_LAYER_WIDTH + 2 * SQ_MAX_N)
/* positional-ID bitmap of N slots. */
#define SQ_BITMAP_BYTES(n) (((n) + 7) / 8)

/* ---- status codes ----------------------------------------------------------------------- */
typedef int32_t sq_status;
#define SQ_OK 0
#define SQ_ERR_NULL (-1)    /* a required pointer is NULL */
#define SQ_ERR_ARG (-2)     /* a size is < 1, or a duplicate position */
#define SQ_ERR_K_RANGE (-3) /* K outside [1, N] (argument or policy table entry) */
#define SQ_ERR_LIMIT (-4)   /* a dimension exceeds a compiled SQ_MAX_* limit */
#define SQ_ERR_QUANT (-5)   /* shift outside [-31, 30], multiplier < 0, bad scale/offsets/range */
#define SQ_ERR_SHAPE (-6)   /* layer widths or quantization do not chain */
#define SQ_ERR_BUFFER (-7)  /* a caller buffer is too small */
#define SQ_ERR_INDEX (-8)   /* a position >= N or a codeword index >= M */
#define SQ_ERR_STATE (-9)   /* a handle its prepare step did not make, or a port not runnable */

/* Short constant name of a status ("SQ_ERR_LIMIT"); "SQ_UNKNOWN" for other values. */
const char *sq_status_name(sq_status status);

/* ---- kernels (sq_kernels.c) ------------------------------------------------------------- */

/*
 * TFLite MultiplyByQuantizedMultiplier, x * multiplier * 2^(shift - 31) rounded to int32, in
 * the compiled rounding (SQ_ROUNDING_NAME):
 *  single (default; TFLITE_SINGLE_ROUNDING, what LiteRT 2.3's reference kernels compute):
 *     floor((x * m + 2^(30 - shift)) / 2^(31 - shift)) in int64: round half up.
 *  double (-DSQ_DOUBLE_ROUNDING=1; gemmlowp): l = max(shift, 0), r = max(-shift, 0),
 *     RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^l, m), r), where
 *     SRDHM(a, b) = (a*b + (a*b >= 0 ? 2^30 : 1 - 2^30)) / 2^31 with C division (toward zero),
 *     RoundingDivideByPOT rounds half away from zero, and x * 2^l wraps modulo 2^32.
 * Results outside int32 wrap like TFLite's int32 cast. Requires multiplier >= 0 and shift in
 * [-31, 30] (TFLite's DCHECKs), else SQ_ERR_QUANT.
 */
sq_status sq_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift,
                                              int32_t *out);
/* The two roundings explicitly, whatever the compiled default. */
sq_status sq_mbqm_single_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out);
sq_status sq_mbqm_double_rounding(int32_t x, int32_t multiplier, int32_t shift, int32_t *out);

/* Requantize one accumulator: clamp(MBQM(acc, multiplier, shift) + output_offset,
 * act_min, act_max) -> int8. act_min <= act_max within [-128, 127]. */
sq_status sq_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                        int32_t act_min, int32_t act_max, int8_t *out);

/*
 * Requantization in double precision, what LiteRT 2.3's reference kernels (BUILTIN_REF) compute
 * for per-channel int8 FULLY_CONNECTED (measured; docs/bundle.md): *out = round(x * scale) half
 * away from zero, scale = s_in * s_w[c] / s_out as a double, results beyond int32 saturate.
 * Exact rounding without math.h. scale must be finite and in [0, 1e30], else SQ_ERR_QUANT.
 * The Q31 integer form above differs from it only at near-ties (~1 in 4e6 outputs).
 */
sq_status sq_multiply_by_scale(int32_t x, double scale, int32_t *out);

/* One int8 fully connected layer with per-output-channel requantization (TFLite reference
 * FullyConnectedPerChannel). The pointers are borrowed; nothing is copied. With `scale` the
 * layer requantizes in double precision (bit-exact with LiteRT's reference kernels); without it
 * (NULL, e.g. MCUs without a double FPU) with the Q31 multiplier and shift. */
typedef struct {
    const int8_t *weights;     /* [out_dim][in_dim], symmetric (zero point 0) */
    const int32_t *bias;       /* [out_dim], scale s_in * s_w[c]; NULL = no bias */
    const double *scale;       /* [out_dim], s_in * s_w[c] / s_out in double; NULL = use Q31 */
    const int32_t *multiplier; /* [out_dim], Q31 significand of s_in * s_w[c] / s_out */
    const int32_t *shift;      /* [out_dim], power-of-two exponent, in [-31, 30] */
    int32_t in_dim;
    int32_t out_dim;
    int32_t input_offset;  /* -zp_in, in [-127, 128] */
    int32_t output_offset; /* zp_out, in [-128, 127] */
    int32_t act_min;       /* fused activation range, [-128, 127] */
    int32_t act_max;
} sq_fc_layer;

/* Check one layer's dims against the limits and every channel's constants. */
sq_status sq_fc_check(const sq_fc_layer *layer);

/*
 * acc[c] = bias[c] + sum_i w[c][i] * (x[i] + input_offset)
 * y[c] = clamp(R(acc[c]) + output_offset, act_min, act_max)        for c in [0, out_dim)
 * R = sq_multiply_by_scale(., scale[c]) when scale != NULL, else
 *     sq_multiply_by_quantized_multiplier(., multiplier[c], shift[c]).
 * x: int8 [in_dim], y: int8 [out_dim]; x and y must not overlap. multiplier and shift are
 * required (and checked) either way, so a layer can switch paths.
 */
sq_status sq_fc_int8(const sq_fc_layer *layer, const int8_t *x, int8_t *y);

/*
 * 16x8 quantization (TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8):
 * int16 activations with zero point 0, int8 symmetric per-channel weights, int64 bias. One
 * layer: acc[c] = bias[c] + sum_i w[c][i] * x[i] in int64 (|acc| < 2^39 for in_dim <= 65536),
 * y[c] = clamp(R(acc[c]), act_min, act_max) -> int16, with R
 *   scale != NULL: round(double(acc) * scale[c]) half away from zero, saturated to int32: what
 *                  LiteRT's reference kernels compute (measured, docs/bundle.md "16x8");
 *   scale == NULL: TFLite's int64 MultiplyByQuantizedMultiplier (sq_mbqm64): the integer-only
 *                  form of TFLite Micro's 16x8 kernels.
 * A finer grid for the activations (65,536 levels instead of 256) at the same weight bytes.
 */
typedef struct {
    const int8_t *weights;     /* [out_dim][in_dim], symmetric */
    const int64_t *bias;       /* [out_dim], scale s_in * s_w[c]; NULL = no bias */
    const double *scale;       /* [out_dim], s_in * s_w[c] / s_out; NULL = use Q31 */
    const int32_t *multiplier; /* [out_dim], Q31 significand of s_in * s_w[c] / s_out */
    const int32_t *shift;      /* [out_dim], in [-31, 7] (TFLite's range for int64 inputs) */
    int32_t in_dim;
    int32_t out_dim;
    int32_t act_min; /* fused activation range, [-32768, 32767] */
    int32_t act_max;
} sq_fc16_layer;

/*
 * TFLite MultiplyByQuantizedMultiplier for an int64 accumulator (both rounding modes share it):
 * m' = multiplier < 0x7FFF0000 ? (multiplier + 2^15) >> 16 : 0x7FFF (the Q15 multiplier),
 * out = (x * m' + 2^(14 - shift)) >> (15 - shift), i.e. x * m' * 2^(shift - 15) rounded half up,
 * wrapped to int32. Requires multiplier >= 0, shift in [-31, 7] and |x| < 2^47 (TFLite's
 * DCHECKs), else SQ_ERR_QUANT.
 */
sq_status sq_mbqm64(int64_t x, int32_t multiplier, int32_t shift, int32_t *out);

/* Check one 16x8 layer: dims against the limits, every channel's constants, the range. */
sq_status sq_fc16_check(const sq_fc16_layer *layer);

/* One 16x8 layer: x int16 [in_dim] -> y int16 [out_dim] (must not overlap). */
sq_status sq_fc_s16x8(const sq_fc16_layer *layer, const int16_t *x, int16_t *y);

/* y[i] = lut[x[i] + 128] for i in [0, n); x == y (in place) is allowed. */
sq_status sq_logistic_lut(const int8_t lut[256], const int8_t *x, int32_t n, int8_t *y);

/* q[i] = u[i] - 128: the node's int8 input for input scale 1/255, zero point -128. */
sq_status sq_input_from_u8(const uint8_t *u, int32_t n, int8_t *q);

/* ---- graph, selection, quantization, mapping (sq_pipeline.c) ---------------------------- */

/* h = trunk(q); z = z_head(h) [N*D]; l = sci_head(h) [N] (the SCI logit);
 * s = logistic_lut[l + 128] when the LUT is not NULL (the SCI, scale 1/256, zero point -128).
 * Top-K ranks on l (docs/bundle.md: the int8 sigmoid saturates and would turn top-K into a
 * tie-break by slot); rank_by_sci = 1 ranks on s instead (bundles without "rank_by"). */
typedef struct {
    const sq_fc_layer *trunk; /* [n_trunk], may be 0 layers (h = q) */
    int32_t n_trunk;
    const sq_fc_layer *z_head; /* [n_z] >= 1 */
    int32_t n_z;
    const sq_fc_layer *sci_head; /* [n_sci] >= 1 */
    int32_t n_sci;
    const int8_t *logistic_lut; /* [256] or NULL (no logistic: s = l) */
    int32_t input_size;
    int32_t n_concepts; /* N */
    int32_t latent_dim; /* D */
    int32_t rank_by_sci; /* 0: rank on the logit l (format default), 1: on s */
} sq_graph;

/* Validate the graph once (prepare step): limits, every layer, widths and quantization chain
 * (a layer's input_offset == -previous output_offset). *scratch_bytes (may be NULL) receives
 * the scratch size sq_graph_run needs: 3 x the widest hidden activation. */
sq_status sq_graph_check(const sq_graph *graph, int32_t *scratch_bytes);

/* Run the graph on int8 input q [input_size] -> z [N*D], logit [N] and, if s is not NULL,
 * s [N] (the LUT of the logit, or a copy of it without a LUT), using only `scratch`. */
sq_status sq_graph_run(const sq_graph *graph, const int8_t *q, int8_t *scratch,
                       int32_t scratch_bytes, int8_t *z, int8_t *logit, int8_t *s);

/* The K slots with the largest scores, most important first, ties to the lower slot
 * (a stable descending counting sort: O(N + 256), 512 bytes of stack). */
sq_status sq_top_k(const int8_t *scores, int32_t n, int32_t k, uint16_t *positions);

/* For each selected slot p = positions[j] only: indices[j] = argmin_m
 * sum_d (z[p][d] - codebook[m][d])^2 in int32, ties to the lower m. z: int8 [n][d],
 * codebook: int8 [m][d] in z's quantization. */
sq_status sq_nearest_codewords(const int8_t *z, int32_t n, int32_t d, const uint16_t *positions,
                               int32_t k, const int8_t *codebook, int32_t m,
                               uint16_t *indices);

/* iq[j][0..1] = table[indices[j]][0..1]: Q-format int16 I/Q; table: int16 [m][2]. */
sq_status sq_map_symbols(const uint16_t *indices, int32_t k, const int16_t *table, int32_t m,
                         int16_t *iq);

/* Rate policy: K for grid point i = snr_min_cdb + i * step_cdb (centi-dB). */
typedef struct {
    const uint16_t *k; /* [len], each in [1, N] */
    int32_t len;
    int32_t snr_min_cdb;
    int32_t step_cdb; /* >= 1 */
} sq_policy;

/* *k = policy->k[i], i = clamp(floor((snr_cdb - snr_min_cdb + step_cdb / 2 - 1) / step_cdb),
 * 0, len - 1) with C integer step_cdb / 2 (docs/bundle.md step 5: the nearest grid point, ties
 * to the lower one, exact for even steps). SQ_ERR_K_RANGE if that entry is outside [1, n]. */
sq_status sq_policy_k(const sq_policy *policy, int16_t snr_cdb, int32_t n, uint16_t *k);

/* Positional-ID bitmap: bit (p & 7) of byte p >> 3 set for every selected slot p (LSB first);
 * the first SQ_BITMAP_BYTES(n) bytes are written. Duplicates -> SQ_ERR_ARG. */
sq_status sq_position_bitmap(const uint16_t *positions, int32_t k, int32_t n, uint8_t *bitmap,
                             int32_t bitmap_bytes);

/* Inverse: the set slots in ascending order; *k = their count (<= capacity). */
sq_status sq_bitmap_positions(const uint8_t *bitmap, int32_t bitmap_bytes, int32_t n,
                              uint16_t *positions, int32_t capacity, int32_t *k);

/* Codebook + constellation of one bundle. */
typedef struct {
    const int8_t *codebook;       /* [order][latent_dim], int8 in z's quantization */
    const int16_t *constellation; /* [order][2] Q-format I/Q */
    int32_t order;                /* M */
    int32_t latent_dim;           /* D, must equal the graph's */
} sq_tables;

/* Scratch bytes sq_encode needs for this graph (graph scratch + input + z + logit + s). */
sq_status sq_encode_scratch_bytes(const sq_graph *graph, int32_t *bytes);

/* The whole per-sample path: q = u - 128, graph, top-K on the logit (or s, rank_by_sci),
 * nearest codeword, map.
 * u: uint8 [input_size]; positions, indices: uint16 [k]; iq: int16 [k][2]. */
sq_status sq_encode(const sq_graph *graph, const sq_tables *tables, const uint8_t *u, int32_t k,
                    int8_t *scratch, int32_t scratch_bytes, uint16_t *positions,
                    uint16_t *indices, int16_t *iq);

/* ---- the 16x8 graph (sq_graph16.c) ------------------------------------------------------ */

/* q = input_lut[u] -> trunk -> {z head -> z int16 [N*D], sci head -> logit int16 [N]}, every
 * layer 16x8 (sq_fc16_layer). The node ranks on the logit (no logistic). */
typedef struct {
    const sq_fc16_layer *trunk; /* [n_trunk], may be 0 layers (h = q) */
    int32_t n_trunk;
    const sq_fc16_layer *z_head; /* [n_z] >= 1 */
    int32_t n_z;
    const sq_fc16_layer *sci_head; /* [n_sci] >= 1 */
    int32_t n_sci;
    const int16_t *input_lut; /* [256]: the int16 input of raw byte u, round(u / 255 / s_in) */
    int32_t input_size;
    int32_t n_concepts; /* N */
    int32_t latent_dim; /* D */
} sq_graph16;

/* A 16x8 graph checked once (copies of the graph and its layer structs; the arrays stay
 * borrowed and must not change). Do not copy it: the chains point into the struct itself. */
typedef struct {
    sq_graph16 graph;
    sq_fc16_layer layers[3 * SQ_MAX_CHAIN_LAYERS];
    int32_t hidden;         /* widest activation kept in scratch */
    int32_t run_scratch;    /* int16 elements sq_graph16_run_prepared needs */
    int32_t encode_scratch; /* int16 elements sq_encode16_prepared needs (+ z and logit) */
    uint32_t magic;
} sq_graph16_prepared;

/* Validate the graph (limits, layers, widths) and fill *prepared; on error it is unusable. */
sq_status sq_graph16_prepare(const sq_graph16 *graph, sq_graph16_prepared *prepared);

/* Run the graph on raw bytes u [input_size] -> z [N*D], logit [N]. */
sq_status sq_graph16_run_prepared(const sq_graph16_prepared *prepared, const uint8_t *u,
                                  int16_t *scratch, int32_t scratch_elems, int16_t *z,
                                  int16_t *logit);

/* The K slots with the largest int16 scores, most important first, ties to the lower slot. */
sq_status sq_top_k16(const int16_t *scores, int32_t n, int32_t k, uint16_t *positions);

/* indices[j] = argmin_m sum_d (z[p][d] - codebook[m][d])^2 in int64 for p = positions[j], ties
 * to the lower m; z int16 [n][d], codebook int16 [m][d] in z's quantization. */
sq_status sq_nearest_codewords16(const int16_t *z, int32_t n, int32_t d,
                                 const uint16_t *positions, int32_t k, const int16_t *codebook,
                                 int32_t m, uint16_t *indices);

/* An int16 codebook with its squared norms ||e_m||^2 (int64), computed once into caller memory
 * (norms: int64 [norms_len >= m], kept alive with *out); the per-sample search then reads them. */
typedef struct {
    const int16_t *codebook; /* [order][latent_dim], borrowed, must not change */
    const int64_t *norms;    /* [order] */
    int32_t order;
    int32_t latent_dim;
    uint32_t magic;
} sq_codebook16;

sq_status sq_codebook16_prepare(const int16_t *codebook, int32_t m, int32_t d, int64_t *norms,
                                int32_t norms_len, sq_codebook16 *out);

/* sq_nearest_codewords16 on a prepared codebook: the same indices. */
sq_status sq_nearest_codewords16_prepared(const sq_codebook16 *codebook, const int16_t *z,
                                          int32_t n, const uint16_t *positions, int32_t k,
                                          uint16_t *indices);

/* The whole per-sample path in 16x8: graph, top-K on the logit, nearest codeword, I/Q map.
 * constellation int16 [codebook->order][2]; codebook->latent_dim must equal the graph's;
 * scratch >= prepared->encode_scratch int16 elements. */
sq_status sq_encode16_prepared(const sq_graph16_prepared *prepared,
                               const sq_codebook16 *codebook, const int16_t *constellation,
                               const uint8_t *u, int32_t k, int16_t *scratch,
                               int32_t scratch_elems, uint16_t *positions, uint16_t *indices,
                               int16_t *iq);

/* ---- optimized ports (sq_dispatch.c, ports/) -------------------------------------------- */
/* Every port computes the reference kernels' integers exactly (byte-identical outputs); they
 * differ only in speed. The best port this CPU runs is selected when the library loads. */
#define SQ_PORT_REFERENCE 0        /* portable C99 (sq_kernels.c, sq_pipeline.c), the MCU path */
#define SQ_PORT_X86_AVX2 1         /* vpmaddwd int16 multiply-add */
#define SQ_PORT_X86_AVX512_VNNI 2  /* vpdpbusd u8 x s8 dot products, AVX-512BW masked tails */
#define SQ_PORT_AARCH64_NEON 3     /* smlal int16 multiply-accumulate */
#define SQ_PORT_AARCH64_DOTPROD 4  /* sdot (Armv8.2 dot product) */
#define SQ_PORT_ARMV7EM_DSP 5      /* smlad packed 16-bit multiply-add (Cortex-M4/M7) */
#define SQ_PORT_COUNT 6

/* Short name of a port id ("x86_avx2"); "unknown" outside [0, SQ_PORT_COUNT). */
const char *sq_port_name(int32_t port);

/* SQ_OK if the port is compiled in and this CPU runs it; otherwise SQ_ERR_STATE (SQ_ERR_ARG
 * for an unknown id) and *why (may be NULL) says why not. */
sq_status sq_port_available(int32_t port, const char **why);

/* Use `port` from now on (SQ_ERR_STATE if unavailable; nothing changes then). Process-wide:
 * call it before kernels run on other threads (tests, benchmarks). */
sq_status sq_port_select(int32_t port);

/* The id of the port in use. */
int32_t sq_port_active(void);

/* ---- validate once (sq_pipeline.c) ------------------------------------------------------- */

/* A graph checked once by sq_graph_prepare. It holds copies of the graph and its layer
 * structs; the arrays they point to (weights, bias, scale, multiplier, shift, LUT) stay
 * borrowed and must not change afterwards (the check covered their values). Treat as opaque
 * and do not copy it: the chains point into the struct itself (prepare it where it lives). */
typedef struct {
    sq_graph graph; /* chains point into layers[] */
    sq_fc_layer layers[3 * SQ_MAX_CHAIN_LAYERS];
    int32_t graph_scratch_bytes;  /* what sq_graph_run_prepared needs */
    int32_t encode_scratch_bytes; /* what sq_encode_prepared needs */
    /* sq_graph_pack: per layer (in layers[] order) its weights repacked for packed_port's FC
     * kernel in caller memory, or NULL; used only while that port is active. */
    const int8_t *packed[3 * SQ_MAX_CHAIN_LAYERS];
    int32_t packed_port; /* -1: nothing packed */
    uint32_t magic;
} sq_graph_prepared;

/* sq_graph_check once and fill *prepared; on error *prepared is marked unusable. */
sq_status sq_graph_prepare(const sq_graph *graph, sq_graph_prepared *prepared);

/* Bytes sq_graph_pack needs to repack the weights for the active port's packed FC kernel
 * (AVX-512 VNNI: rows in blocks of 16, inputs in groups of 4, no horizontal sums); 0 when the
 * port has none or no layer qualifies (input zero point -128, i.e. input_offset 128). */
int32_t sq_graph_packed_bytes(const sq_graph_prepared *prepared);

/* Repack those weights into buf (>= sq_graph_packed_bytes, kept alive and unchanged with
 * *prepared). The prepared runs then use them while that port is active, with the same
 * integers; under any other port they are ignored. SQ_OK with nothing to do when the bytes
 * are 0. */
sq_status sq_graph_pack(sq_graph_prepared *prepared, int8_t *buf, int32_t bytes);

/* sq_graph_run without re-validating the graph (checks only the per-call arguments). */
sq_status sq_graph_run_prepared(const sq_graph_prepared *prepared, const int8_t *q,
                                int8_t *scratch, int32_t scratch_bytes, int8_t *z,
                                int8_t *logit, int8_t *s);

/* A codebook with its squared norms ||e_m||^2, computed once into caller memory. */
typedef struct {
    const int8_t *codebook; /* [order][latent_dim], borrowed, must not change */
    const int32_t *norms;   /* [order], caller memory filled by sq_codebook_prepare */
    int32_t order;
    int32_t latent_dim;
    uint32_t magic;
} sq_codebook;

/* norms: int32 [norms_len >= m] the caller keeps alive with *out. */
sq_status sq_codebook_prepare(const int8_t *codebook, int32_t m, int32_t d, int32_t *norms,
                              int32_t norms_len, sq_codebook *out);

/* sq_nearest_codewords on a prepared codebook: the same indices. The ports compute them as
 * argmin_m ||e_m||^2 - 2 z.e_m (||z||^2 is constant per slot: the same order and ties, lower m
 * wins) from the stored norms; the reference keeps its squared-distance loop (its fastest). */
sq_status sq_nearest_codewords_prepared(const sq_codebook *codebook, const int8_t *z, int32_t n,
                                        const uint16_t *positions, int32_t k,
                                        uint16_t *indices);

/* sq_encode on prepared handles: the per-sample path validates only u, k, the buffers and that
 * codebook->latent_dim matches. constellation: int16 [codebook->order][2]. */
sq_status sq_encode_prepared(const sq_graph_prepared *graph, const sq_codebook *codebook,
                             const int16_t *constellation, const uint8_t *u, int32_t k,
                             int8_t *scratch, int32_t scratch_bytes, uint16_t *positions,
                             uint16_t *indices, int16_t *iq);

#ifdef __cplusplus
}
#endif

#endif /* SEMQAM_CORE_H */
