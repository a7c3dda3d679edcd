/*
 * bench_core.c - latency of the reference kernels and of every port this CPU runs, MLPerf Tiny
 * style: warm-up calls, then timed windows of back-to-back calls; each figure is the median over
 * windows of (window time / calls), in microseconds. Not a test: `make bench`.
 *
 * Shape of the MNIST bundle with M = 1024: 784 -> 512 -> 256 trunk, z head 256 -> N*D = 4096,
 * SCI head 256 -> 128 -> 64 (1.62 M MACs), N = D = 64, K = 32 nearest-codeword searches
 * (2.1 M multiply-adds). Random int8 weights: the timings do not depend on the values.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "semqam_core.h"

enum { IN = 784, H0 = 512, H1 = 256, S0 = 128, N = 64, D = 64, M = 1024, K = 32 };
enum { WARMUP = 50, WINDOWS = 15, PER_WINDOW = 200, MAX_W = H0 * IN };

static int8_t g_w[5][MAX_W];
static int32_t g_bias[N * D], g_mult[N * D], g_shift[N * D];
static double g_scale[N * D];
static int8_t g_lut[256];
static int8_t g_cb[M * D];
static int32_t g_norms[M];
static int16_t g_table[M * 2];
static uint8_t g_u[IN];
static int8_t g_scratch[SQ_ENCODE_SCRATCH_BYTES];
static int8_t g_z[N * D];
static sq_graph g_graph;
static sq_graph_prepared g_prepared;
static sq_graph_prepared g_packed_prep; /* the same graph with its weights packed (sq_graph_pack) */
static int8_t g_packed[2 * 1024 * 1024];
static sq_tables g_tables;
static sq_codebook g_book;
static sq_fc_layer g_layers[5];
static uint16_t g_pos[K], g_idx[K];
static int16_t g_iq[2 * K];
static int16_t g_z16[N * D], g_cb16[M * D]; /* the 16x8 path: the same shapes, int16 activations */
static int64_t g_norms16[M];
static sq_codebook16 g_book16;
static int64_t g_bias16[N * D];
static int16_t g_lut16[256];
static int16_t g_x16[IN];
static int16_t g_scratch16[4 * SQ_MAX_LAYER_WIDTH + N * D + N];
static int16_t g_y16[N * D], g_logit16[N];
static sq_fc16_layer g_layers16[5];
static sq_graph16 g_graph16;
static sq_graph16_prepared g_prepared16;
static volatile int g_sink;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void);

static double median_us(bench_fn fn)
{
    double per_call[WINDOWS];
    int w;
    int i;
    for (i = 0; i < WARMUP; ++i) {
        fn();
    }
    for (w = 0; w < WINDOWS; ++w) {
        const double t0 = now_us();
        for (i = 0; i < PER_WINDOW; ++i) {
            fn();
        }
        per_call[w] = (now_us() - t0) / PER_WINDOW;
    }
    qsort(per_call, WINDOWS, sizeof(double), cmp_double);
    return per_call[WINDOWS / 2];
}

static void run_graph(void)
{
    g_sink += sq_graph_run_prepared(&g_prepared, (const int8_t *)g_u, g_scratch,
                                    g_prepared.graph_scratch_bytes, g_z, g_scratch + 3 * H0,
                                    NULL);
}

static void run_graph_packed(void)
{
    g_sink += sq_graph_run_prepared(&g_packed_prep, (const int8_t *)g_u, g_scratch,
                                    g_packed_prep.graph_scratch_bytes, g_z, g_scratch + 3 * H0,
                                    NULL);
}

static void run_encode_packed(void)
{
    g_sink += sq_encode_prepared(&g_packed_prep, &g_book, g_table, g_u, K, g_scratch,
                                 (int32_t)sizeof(g_scratch), g_pos, g_idx, g_iq);
}

/* Prepare and pack the graph for the active port (no packed kernel: nothing packed). */
static void pack_for_port(void)
{
    const int32_t bytes = sq_graph_prepare(&g_graph, &g_packed_prep) == SQ_OK
                              ? sq_graph_packed_bytes(&g_packed_prep)
                              : -1;
    if (bytes < 0 || bytes > (int32_t)sizeof(g_packed) ||
        sq_graph_pack(&g_packed_prep, g_packed, (int32_t)sizeof(g_packed)) != SQ_OK) {
        fprintf(stderr, "bench: packing failed\n");
        exit(1);
    }
}

static void run_fc0(void) /* the largest trunk layer alone: 784 -> 512 */
{
    g_sink += sq_fc_int8(&g_layers[0], (const int8_t *)g_u, g_scratch);
}

static void run_fc_z(void) /* the z head: 256 -> 4096 */
{
    g_sink += sq_fc_int8(&g_layers[2], g_scratch, g_z);
}

static void run_check(void)
{
    g_sink += sq_graph_check(&g_graph, NULL);
}

static void run_nearest(void)
{
    g_sink += sq_nearest_codewords(g_z, N, D, g_pos, K, g_cb, M, g_idx);
}

static void run_nearest_prepared(void)
{
    g_sink += sq_nearest_codewords_prepared(&g_book, g_z, N, g_pos, K, g_idx);
}

static void run_nearest16(void)
{
    g_sink += sq_nearest_codewords16(g_z16, N, D, g_pos, K, g_cb16, M, g_idx);
}

static void run_nearest16_prepared(void)
{
    g_sink += sq_nearest_codewords16_prepared(&g_book16, g_z16, N, g_pos, K, g_idx);
}

static void run_fc16_0(void)
{
    g_sink += sq_fc_s16x8(&g_layers16[0], g_x16, g_y16);
}

static void run_fc16_z(void)
{
    g_sink += sq_fc_s16x8(&g_layers16[2], g_x16, g_y16);
}

static void run_graph16(void)
{
    g_sink += sq_graph16_run_prepared(&g_prepared16, g_u, g_scratch16,
                                      (int32_t)(sizeof(g_scratch16) / sizeof(int16_t)), g_y16,
                                      g_logit16);
}

static void run_encode16(void)
{
    g_sink += sq_encode16_prepared(&g_prepared16, &g_book16, g_table, g_u, K, g_scratch16,
                                   (int32_t)(sizeof(g_scratch16) / sizeof(int16_t)), g_pos,
                                   g_idx, g_iq);
}

static void run_encode(void)
{
    g_sink += sq_encode(&g_graph, &g_tables, g_u, K, g_scratch, (int32_t)sizeof(g_scratch),
                        g_pos, g_idx, g_iq);
}

static void run_encode_prepared(void)
{
    g_sink += sq_encode_prepared(&g_prepared, &g_book, g_table, g_u, K, g_scratch,
                                 (int32_t)sizeof(g_scratch), g_pos, g_idx, g_iq);
}

static void setup(void)
{
    static const int32_t dims[5][2] = {{IN, H0}, {H0, H1}, {H1, N * D}, {H1, S0}, {S0, N}};
    uint32_t r = 12345u;
    int32_t i;
    int j;
    for (j = 0; j < 5; ++j) {
        for (i = 0; i < dims[j][0] * dims[j][1]; ++i) {
            r = r * 1664525u + 1013904223u;
            g_w[j][i] = (int8_t)(int32_t)((r >> 24) - 128u);
        }
    }
    for (i = 0; i < N * D; ++i) {
        g_bias[i] = (int32_t)(i % 2001) - 1000;
        g_scale[i] = 1.0 / 4096.0 + 1e-7 * (double)(i % 97);
        g_mult[i] = 1073741824 + i;
        g_shift[i] = -12;
    }
    for (i = 0; i < M * D; ++i) {
        r = r * 1664525u + 1013904223u;
        g_cb[i] = (int8_t)(int32_t)((r >> 24) - 128u);
    }
    for (i = 0; i < M * D; ++i) {
        r = r * 1664525u + 1013904223u;
        g_cb16[i] = (int16_t)(int32_t)((r >> 16) - 32768u);
    }
    for (i = 0; i < N * D; ++i) {
        r = r * 1664525u + 1013904223u;
        g_z16[i] = (int16_t)(int32_t)((r >> 16) - 32768u);
    }
    for (i = 0; i < 256; ++i) {
        g_lut[i] = (int8_t)(i - 128);
    }
    for (i = 0; i < IN; ++i) {
        g_u[i] = (uint8_t)(i * 7);
    }
    for (i = 0; i < K; ++i) {
        g_pos[i] = (uint16_t)(2 * i);
    }
    for (j = 0; j < 5; ++j) {
        sq_fc_layer *l = &g_layers[j];
        l->weights = g_w[j];
        l->bias = g_bias;
        l->scale = g_scale;
        l->multiplier = g_mult;
        l->shift = g_shift;
        l->in_dim = dims[j][0];
        l->out_dim = dims[j][1];
        l->input_offset = 128;
        l->output_offset = -128;
        l->act_min = -128;
        l->act_max = 127;
    }
    g_layers[2].output_offset = 3;
    g_graph.trunk = &g_layers[0];
    g_graph.n_trunk = 2;
    g_graph.z_head = &g_layers[2];
    g_graph.n_z = 1;
    g_graph.sci_head = &g_layers[3];
    g_graph.n_sci = 2;
    g_graph.logistic_lut = g_lut;
    g_graph.input_size = IN;
    g_graph.n_concepts = N;
    g_graph.latent_dim = D;
    g_graph.rank_by_sci = 0;
    g_tables.codebook = g_cb;
    g_tables.constellation = g_table;
    g_tables.order = M;
    g_tables.latent_dim = D;
    for (i = 0; i < N * D; ++i) {
        g_bias16[i] = (int64_t)(i % 2001) - 1000;
    }
    for (i = 0; i < 256; ++i) {
        g_lut16[i] = (int16_t)(128 * i);
    }
    for (i = 0; i < IN; ++i) {
        g_x16[i] = (int16_t)(128 * (int32_t)g_u[i] - 16384);
    }
    for (j = 0; j < 5; ++j) { /* int16 outputs: s_in s_w / s_out = 2^-12 */
        sq_fc16_layer *l = &g_layers16[j];
        l->weights = g_w[j];
        l->bias = g_bias16;
        l->scale = g_scale;
        l->multiplier = g_mult;
        l->shift = g_shift;
        l->in_dim = dims[j][0];
        l->out_dim = dims[j][1];
        l->act_min = -32768;
        l->act_max = 32767;
    }
    g_graph16.trunk = &g_layers16[0];
    g_graph16.n_trunk = 2;
    g_graph16.z_head = &g_layers16[2];
    g_graph16.n_z = 1;
    g_graph16.sci_head = &g_layers16[3];
    g_graph16.n_sci = 2;
    g_graph16.input_lut = g_lut16;
    g_graph16.input_size = IN;
    g_graph16.n_concepts = N;
    g_graph16.latent_dim = D;
    if (sq_graph16_prepare(&g_graph16, &g_prepared16) != SQ_OK ||
        g_prepared16.encode_scratch > (int32_t)(sizeof(g_scratch16) / sizeof(int16_t))) {
        fprintf(stderr, "bench setup (16x8) failed\n");
        exit(1);
    }
    if (sq_graph_prepare(&g_graph, &g_prepared) != SQ_OK ||
        sq_codebook_prepare(g_cb, M, D, g_norms, M, &g_book) != SQ_OK ||
        sq_codebook16_prepare(g_cb16, M, D, g_norms16, M, &g_book16) != SQ_OK) {
        fprintf(stderr, "bench setup failed\n");
        exit(1);
    }
}

int main(void)
{
    static const struct {
        const char *name;
        bench_fn fn;
    } cases[] = {
        {"fc 784->512", run_fc0},
        {"fc 256->4096 (z head)", run_fc_z},
        {"graph (5 FC, prepared)", run_graph},
        {"sq_graph_check", run_check},
        {"nearest K=32", run_nearest},
        {"nearest K=32 prepared", run_nearest_prepared},
        {"16x8 fc 784->512", run_fc16_0},
        {"16x8 fc 256->4096 (z head)", run_fc16_z},
        {"16x8 graph (prepared)", run_graph16},
        {"16x8 nearest K=32", run_nearest16},
        {"16x8 nearest K=32 prepared", run_nearest16_prepared},
        {"16x8 encode prepared", run_encode16},
        {"encode", run_encode},
        {"encode prepared", run_encode_prepared},
        {"graph prepared + packed", run_graph_packed},
        {"encode prepared + packed", run_encode_packed},
    };
    enum { NC = sizeof(cases) / sizeof(cases[0]) };
    double ref[NC];
    int32_t p;
    int c;
    setup();
    printf("semqam C core bench: M=%d N=%d D=%d K=%d; median over %d windows of %d calls "
           "(warm-up %d), thread CPU microseconds per call\n",
           M, N, D, K, WINDOWS, PER_WINDOW, WARMUP);
    for (p = 0; p < SQ_PORT_COUNT; ++p) {
        const char *why = NULL;
        if (sq_port_available(p, &why) != SQ_OK) {
            printf("\nport %s: skipped (%s)\n", sq_port_name(p), why);
            continue;
        }
        sq_port_select(p);
        pack_for_port();
        printf("\nport %s (%ld packed weight bytes)\n", sq_port_name(p),
               (long)sq_graph_packed_bytes(&g_packed_prep));
        for (c = 0; c < NC; ++c) {
            const double us = median_us(cases[c].fn);
            if (p == SQ_PORT_REFERENCE) {
                ref[c] = us;
                printf("  %-28s %9.2f us\n", cases[c].name, us);
            } else {
                printf("  %-28s %9.2f us   %6.2fx vs reference\n", cases[c].name, us,
                       ref[c] / us);
            }
        }
    }
    return g_sink == 12345 ? 1 : 0;
}
