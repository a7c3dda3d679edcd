/*
 * sq_graph16.c - the node graph in 16x8 quantization (semqam_core.h "16x8"): int16 activations
 * with zero point 0, int8 weights. Per sample:
 *   q = input_lut[u] (int16)  ->  trunk  ->  z head -> z [N*D] (int16)
 *                                       \->  sci head -> logit [N] (int16)
 *   top-K slots on the logit (stable: ties to the lower slot)
 *   nearest int16 codeword of each selected slot (squared distance in int64, ties to lower m;
 *   the codeword norms computed once, sq_codebook16_prepare)
 *   I/Q from the constellation table (sq_map_symbols).
 * Validation happens once (sq_graph16_prepare); the per-sample entries check their arguments.
 * The FC accumulation and the codeword search go to the active port's 16x8 kernels where it
 * has them (sq_internal.h: fc16_acc, nearest16); the loops here are the reference.
 */
#include <string.h>

#include "sq_internal.h"

#define SQ_GRAPH16_MAGIC 0x31364751u /* "QG16" */

/* One chain: every layer valid and its widths chained from *width; *max_hidden grows with the
 * outputs that land in scratch (all but the chain's last when last_to_caller). */
static sq_status sq_chain16_check(const sq_fc16_layer *layers, int32_t n_layers,
                                  int32_t min_layers, int32_t *width, int last_to_caller,
                                  int32_t *max_hidden)
{
    int32_t j;
    sq_status st;
    if (n_layers < min_layers) {
        return SQ_ERR_ARG;
    }
    if (n_layers > SQ_MAX_CHAIN_LAYERS) {
        return SQ_ERR_LIMIT;
    }
    if (n_layers > 0 && layers == NULL) {
        return SQ_ERR_NULL;
    }
    for (j = 0; j < n_layers; ++j) {
        st = sq_fc16_check(&layers[j]);
        if (st != SQ_OK) {
            return st;
        }
        if (layers[j].in_dim != *width) {
            return SQ_ERR_SHAPE;
        }
        *width = layers[j].out_dim;
        if (!(last_to_caller && j == n_layers - 1) && *width > *max_hidden) {
            *max_hidden = *width;
        }
    }
    return SQ_OK;
}

/* Validate the graph; *hidden = its widest activation kept in scratch. */
static sq_status sq_graph16_check(const sq_graph16 *graph, int32_t *hidden)
{
    int32_t width;
    int32_t h_width;
    int32_t max_hidden = 0;
    sq_status st;
    if (graph == NULL || graph->input_lut == NULL) {
        return SQ_ERR_NULL;
    }
    if (graph->input_size < 1 || graph->n_concepts < 1 || graph->latent_dim < 1) {
        return SQ_ERR_ARG;
    }
    if (graph->input_size > SQ_MAX_LAYER_WIDTH || graph->n_concepts > SQ_MAX_N ||
        graph->latent_dim > SQ_MAX_D ||
        (int64_t)graph->n_concepts * graph->latent_dim > SQ_MAX_LAYER_WIDTH) {
        return SQ_ERR_LIMIT;
    }
    width = graph->input_size;
    st = sq_chain16_check(graph->trunk, graph->n_trunk, 0, &width, 0, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    h_width = width;
    st = sq_chain16_check(graph->z_head, graph->n_z, 1, &width, 1, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    if (width != graph->n_concepts * graph->latent_dim) {
        return SQ_ERR_SHAPE;
    }
    width = h_width;
    st = sq_chain16_check(graph->sci_head, graph->n_sci, 1, &width, 1, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    if (width != graph->n_concepts) {
        return SQ_ERR_SHAPE;
    }
    *hidden = max_hidden;
    return SQ_OK;
}

/* Copy `n` layers into the prepared struct from index `at`; returns the chain's new base. */
static const sq_fc16_layer *sq_copy_chain16(sq_graph16_prepared *p, int32_t at,
                                            const sq_fc16_layer *src, int32_t n)
{
    if (n > 0) {
        memcpy(&p->layers[at], src, (size_t)n * sizeof(sq_fc16_layer));
    }
    return &p->layers[at];
}

sq_status sq_graph16_prepare(const sq_graph16 *graph, sq_graph16_prepared *prepared)
{
    int32_t hidden = 0;
    sq_status st;
    if (prepared == NULL) {
        return SQ_ERR_NULL;
    }
    prepared->magic = 0;
    st = sq_graph16_check(graph, &hidden);
    if (st != SQ_OK) {
        return st;
    }
    prepared->graph = *graph;
    prepared->graph.trunk = sq_copy_chain16(prepared, 0, graph->trunk, graph->n_trunk);
    prepared->graph.z_head = sq_copy_chain16(prepared, graph->n_trunk, graph->z_head,
                                             graph->n_z);
    prepared->graph.sci_head = sq_copy_chain16(prepared, graph->n_trunk + graph->n_z,
                                               graph->sci_head, graph->n_sci);
    /* input + three activation buffers (trunk ping-pong, then each head's from the third) */
    prepared->hidden = hidden;
    prepared->run_scratch = graph->input_size + 3 * hidden;
    prepared->encode_scratch = prepared->run_scratch + graph->n_concepts * graph->latent_dim +
                               graph->n_concepts;
    prepared->magic = SQ_GRAPH16_MAGIC;
    return SQ_OK;
}

static sq_status sq_prepared16_ok(const sq_graph16_prepared *prepared)
{
    if (prepared == NULL) {
        return SQ_ERR_NULL;
    }
    return prepared->magic == SQ_GRAPH16_MAGIC ? SQ_OK : SQ_ERR_STATE;
}

/* One head from h (in buffer h_slot of 3) into out, ping-ponging in the other two. */
static void sq_head16_run(const sq_fc16_layer *layers, int32_t n_layers, const int16_t *h,
                          int16_t *bufs[3], int h_slot, int16_t *out)
{
    const int16_t *in = h;
    int next = (h_slot + 1) % 3;
    int32_t j;
    for (j = 0; j < n_layers; ++j) {
        int16_t *dst = (j == n_layers - 1) ? out : bufs[next];
        sq_fc16_run(&layers[j], in, dst);
        in = dst;
        next = (next + 1) % 3;
        if (next == h_slot) {
            next = (next + 1) % 3;
        }
    }
}

static void sq_graph16_exec(const sq_graph16_prepared *p, const uint8_t *u, int16_t *scratch,
                            int16_t *z, int16_t *logit)
{
    const sq_graph16 *g = &p->graph;
    int16_t *q = scratch;
    int16_t *bufs[3];
    const int16_t *h = q;
    int h_slot = 2; /* h = q lives before the buffers: any slot is free to skip */
    int32_t i;
    bufs[0] = scratch + g->input_size;
    bufs[1] = bufs[0] + p->hidden;
    bufs[2] = bufs[1] + p->hidden;
    for (i = 0; i < g->input_size; ++i) {
        q[i] = g->input_lut[u[i]];
    }
    for (i = 0; i < g->n_trunk; ++i) {
        int16_t *dst = bufs[i % 2];
        sq_fc16_run(&g->trunk[i], h, dst);
        h = dst;
        h_slot = (int)(i % 2);
    }
    sq_head16_run(g->z_head, g->n_z, h, bufs, h_slot, z);
    sq_head16_run(g->sci_head, g->n_sci, h, bufs, h_slot, logit);
}

sq_status sq_graph16_run_prepared(const sq_graph16_prepared *prepared, const uint8_t *u,
                                  int16_t *scratch, int32_t scratch_elems, int16_t *z,
                                  int16_t *logit)
{
    const sq_status st = sq_prepared16_ok(prepared);
    if (st != SQ_OK) {
        return st;
    }
    if (u == NULL || scratch == NULL || z == NULL || logit == NULL) {
        return SQ_ERR_NULL;
    }
    if (scratch_elems < prepared->run_scratch) {
        return SQ_ERR_BUFFER;
    }
    sq_graph16_exec(prepared, u, scratch, z, logit);
    return SQ_OK;
}

sq_status sq_top_k16(const int16_t *scores, int32_t n, int32_t k, uint16_t *positions)
{
    int32_t i;
    int32_t filled = 0;
    sq_status st;
    if (scores == NULL || positions == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_check_slots(n, k);
    if (st != SQ_OK) {
        return st;
    }
    /* Insertion into the kept K in slot order: a later slot passes only strictly lower
     * scores, so ties keep the lower slot first (the stable descending order). O(N K). */
    for (i = 0; i < n; ++i) {
        const int16_t v = scores[i];
        int32_t at = filled;
        while (at > 0 && scores[positions[at - 1]] < v) {
            --at;
        }
        if (at >= k) {
            continue;
        }
        if (filled < k) {
            ++filled;
        }
        memmove(&positions[at + 1], &positions[at],
                (size_t)(filled - 1 - at) * sizeof(uint16_t));
        positions[at] = (uint16_t)i;
    }
    return SQ_OK;
}

/* dot[q] = z . e_q for nc <= 4 codewords e_q = e + q d, with z = 256 zh + zl (see below):
 * int32 sums over chunks of 256 terms (|zh e| <= 2^22, |zl e| < 2^23), met in int64. Rows past
 * nc repeat the last one (same memory, results unused). */
static void sq_dot16x4(const int16_t *zh, const int16_t *zl, const int16_t *e, int32_t d,
                       int32_t nc, int64_t dot[4])
{
    const int16_t *e0 = e;
    const int16_t *e1 = nc > 1 ? e0 + d : e0;
    const int16_t *e2 = nc > 2 ? e1 + d : e1;
    const int16_t *e3 = nc > 3 ? e2 + d : e2;
    int32_t i0;
    int32_t i;
    dot[0] = dot[1] = dot[2] = dot[3] = 0;
    for (i0 = 0; i0 < d; i0 += SQ_INT32_CHUNK) {
        const int32_t end = d - i0 < SQ_INT32_CHUNK ? d : i0 + SQ_INT32_CHUNK;
        int32_t h0 = 0, h1 = 0, h2 = 0, h3 = 0;
        int32_t l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        for (i = i0; i < end; ++i) {
            const int32_t a = zh[i];
            const int32_t b = zl[i];
            h0 += a * e0[i];
            l0 += b * e0[i];
            h1 += a * e1[i];
            l1 += b * e1[i];
            h2 += a * e2[i];
            l2 += b * e2[i];
            h3 += a * e3[i];
            l3 += b * e3[i];
        }
        /* z = 256 (zh + 128) + zl - 32768 = 256 zh + zl: the offsets cancel */
        dot[0] += (int64_t)h0 * 256 + l0;
        dot[1] += (int64_t)h1 * 256 + l1;
        dot[2] += (int64_t)h2 * 256 + l2;
        dot[3] += (int64_t)h3 * 256 + l3;
    }
}

#define SQ_CODEBOOK16_MAGIC 0x42433136u /* "16CB" */

/* ||e_m||^2 < 2^38 for each codeword. */
static void sq_norms16(const int16_t *codebook, int32_t m, int32_t d, int64_t *norms)
{
    int32_t c;
    int32_t i;
    for (c = 0; c < m; ++c) {
        const int16_t *e = codebook + (size_t)c * (size_t)d;
        int64_t norm = 0;
        for (i = 0; i < d; ++i) {
            norm += (int64_t)((int32_t)e[i] * e[i]);
        }
        norms[c] = norm;
    }
}

/* The search on validated arguments.
 * argmin_m ||z - e_m||^2 = argmin_m (||e_m||^2 - 2 z.e_m) (||z||^2 is the same for every m;
 * exact integers, so the order and the ties are those of the squared distance). z is split as
 * z = 256 zh + zl with zh in [-128, 127], zl in [0, 255]: both dot products with e (|e| <=
 * 32768) are int16 x int16 -> int32 multiply-adds in chunks of SQ_INT32_CHUNK, met in int64. */
static void sq_nearest16_run(const int16_t *z, int32_t d, const uint16_t *positions, int32_t k,
                             const int16_t *codebook, int32_t m, const int64_t *norms,
                             uint16_t *indices)
{
    int16_t zh[SQ_MAX_D];
    int16_t zl[SQ_MAX_D];
    const sq_port_ops *ops = sq_port_ops_active();
    int32_t j;
    int32_t c;
    int32_t i;
    if (ops->nearest16 != NULL && d <= SQ_INT32_CHUNK) {
        ops->nearest16(z, d, positions, k, codebook, m, norms, indices);
        return;
    }
    for (j = 0; j < k; ++j) {
        const int16_t *v = z + (size_t)positions[j] * (size_t)d;
        int64_t best = INT64_MAX;
        int32_t best_m = 0;
        for (i = 0; i < d; ++i) {
            sq_split16(v[i], &zh[i], &zl[i]);
        }
        for (c = 0; c < m; c += 4) { /* four codewords per pass share the loads of zh, zl */
            const int32_t nc = m - c < 4 ? m - c : 4;
            int64_t dot[4];
            int32_t q;
            sq_dot16x4(zh, zl, codebook + (size_t)c * (size_t)d, d, nc, dot);
            for (q = 0; q < nc; ++q) {
                const int64_t score = norms[c + q] - 2 * dot[q];
                if (score < best) { /* strict, in index order: ties keep the lower index */
                    best = score;
                    best_m = c + q;
                }
            }
        }
        indices[j] = (uint16_t)best_m;
    }
}

static sq_status sq_nearest16_args(const int16_t *z, int32_t n, int32_t d,
                                   const uint16_t *positions, int32_t k, const void *codebook,
                                   int32_t m, const uint16_t *indices)
{
    sq_status st;
    if (z == NULL || positions == NULL || codebook == NULL || indices == NULL) {
        return SQ_ERR_NULL;
    }
    if (d < 1 || m < 1) {
        return SQ_ERR_ARG;
    }
    if (d > SQ_MAX_D || m > SQ_MAX_M) {
        return SQ_ERR_LIMIT;
    }
    st = sq_check_slots(n, k);
    return st != SQ_OK ? st : sq_check_positions(positions, k, n);
}

sq_status sq_nearest_codewords16(const int16_t *z, int32_t n, int32_t d,
                                 const uint16_t *positions, int32_t k, const int16_t *codebook,
                                 int32_t m, uint16_t *indices)
{
    int64_t norms[SQ_MAX_M]; /* 8 KiB of stack: use a prepared codebook per sample */
    const sq_status st = sq_nearest16_args(z, n, d, positions, k, codebook, m, indices);
    if (st != SQ_OK) {
        return st;
    }
    sq_norms16(codebook, m, d, norms);
    sq_nearest16_run(z, d, positions, k, codebook, m, norms, indices);
    return SQ_OK;
}

sq_status sq_codebook16_prepare(const int16_t *codebook, int32_t m, int32_t d, int64_t *norms,
                                int32_t norms_len, sq_codebook16 *out)
{
    if (out == NULL) {
        return SQ_ERR_NULL;
    }
    out->magic = 0;
    if (codebook == NULL || norms == NULL) {
        return SQ_ERR_NULL;
    }
    if (m < 1 || d < 1) {
        return SQ_ERR_ARG;
    }
    if (m > SQ_MAX_M || d > SQ_MAX_D) {
        return SQ_ERR_LIMIT;
    }
    if (norms_len < m) {
        return SQ_ERR_BUFFER;
    }
    sq_norms16(codebook, m, d, norms);
    out->codebook = codebook;
    out->norms = norms;
    out->order = m;
    out->latent_dim = d;
    out->magic = SQ_CODEBOOK16_MAGIC;
    return SQ_OK;
}

sq_status sq_nearest_codewords16_prepared(const sq_codebook16 *codebook, const int16_t *z,
                                          int32_t n, const uint16_t *positions, int32_t k,
                                          uint16_t *indices)
{
    sq_status st;
    if (codebook == NULL) {
        return SQ_ERR_NULL;
    }
    if (codebook->magic != SQ_CODEBOOK16_MAGIC) {
        return SQ_ERR_STATE;
    }
    st = sq_nearest16_args(z, n, codebook->latent_dim, positions, k, codebook->codebook,
                           codebook->order, indices);
    if (st != SQ_OK) {
        return st;
    }
    sq_nearest16_run(z, codebook->latent_dim, positions, k, codebook->codebook,
                     codebook->order, codebook->norms, indices);
    return SQ_OK;
}

sq_status sq_encode16_prepared(const sq_graph16_prepared *prepared,
                               const sq_codebook16 *codebook, const int16_t *constellation,
                               const uint8_t *u, int32_t k, int16_t *scratch,
                               int32_t scratch_elems, uint16_t *positions, uint16_t *indices,
                               int16_t *iq)
{
    const sq_graph16 *g;
    int16_t *z;
    int16_t *logit;
    sq_status st = sq_prepared16_ok(prepared);
    if (st != SQ_OK) {
        return st;
    }
    if (u == NULL || scratch == NULL || codebook == NULL || constellation == NULL ||
        positions == NULL || indices == NULL || iq == NULL) {
        return SQ_ERR_NULL;
    }
    if (codebook->magic != SQ_CODEBOOK16_MAGIC) {
        return SQ_ERR_STATE;
    }
    g = &prepared->graph;
    if (codebook->latent_dim != g->latent_dim) {
        return SQ_ERR_SHAPE;
    }
    if (scratch_elems < prepared->encode_scratch) {
        return SQ_ERR_BUFFER;
    }
    if (k < 1 || k > g->n_concepts) {
        return SQ_ERR_K_RANGE;
    }
    z = scratch + prepared->run_scratch;
    logit = z + g->n_concepts * g->latent_dim;
    sq_graph16_exec(prepared, u, scratch, z, logit);
    st = sq_top_k16(logit, g->n_concepts, k, positions);
    if (st == SQ_OK) {
        st = sq_nearest_codewords16_prepared(codebook, z, g->n_concepts, positions, k, indices);
    }
    if (st == SQ_OK) {
        st = sq_map_symbols(indices, k, constellation, codebook->order, iq);
    }
    return st;
}
