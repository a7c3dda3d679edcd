/*
 * sq_pipeline.c - the node's per-sample glue (docs/bundle.md "Node per-sample computation"):
 * the MLP graph from caller scratch, top-K by SCI, nearest codeword of the selected slots,
 * I/Q mapping, the SNR -> K policy lookup and positional-ID bitmaps.
 *
 * Validation happens once per call of a public entry (sq_encode checks the graph once, not per
 * layer), or once per bundle with sq_graph_prepare / sq_codebook_prepare and the *_prepared
 * entries, which then check only the per-sample arguments.
 */
#include <string.h>

#include "sq_internal.h"

/* ---- graph ------------------------------------------------------------------------------ */

/* Check one chain: every layer valid, widths and quantization chained from (width, offset).
 * Updates *max_hidden with the outputs that land in scratch (all but the chain's last when
 * `last_to_caller`). Returns the chain's output width / output offset through the pointers. */
static sq_status sq_chain_check(const sq_fc_layer *layers, int32_t n_layers, int32_t min_layers,
                                int32_t *width, int32_t *zp, int last_to_caller,
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
        st = sq_fc_check(&layers[j]);
        if (st != SQ_OK) {
            return st;
        }
        if (layers[j].in_dim != *width) {
            return SQ_ERR_SHAPE;
        }
        /* input_offset = -zp_in; zp = INT32_MIN marks an unknown input zero point. */
        if (*zp != INT32_MIN && layers[j].input_offset != -*zp) {
            return SQ_ERR_SHAPE;
        }
        *width = layers[j].out_dim;
        *zp = layers[j].output_offset;
        if (!(last_to_caller && j == n_layers - 1) && *width > *max_hidden) {
            *max_hidden = *width;
        }
    }
    return SQ_OK;
}

sq_status sq_graph_check(const sq_graph *graph, int32_t *scratch_bytes)
{
    int32_t width;
    int32_t zp = INT32_MIN;
    int32_t h_width;
    int32_t h_zp;
    int32_t max_hidden = 0;
    sq_status st;
    if (graph == NULL) {
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
    st = sq_chain_check(graph->trunk, graph->n_trunk, 0, &width, &zp, 0, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    h_width = width;
    h_zp = zp;
    st = sq_chain_check(graph->z_head, graph->n_z, 1, &width, &zp, 1, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    if (width != graph->n_concepts * graph->latent_dim) {
        return SQ_ERR_SHAPE;
    }
    width = h_width;
    zp = h_zp;
    st = sq_chain_check(graph->sci_head, graph->n_sci, 1, &width, &zp, 1, &max_hidden);
    if (st != SQ_OK) {
        return st;
    }
    if (width != graph->n_concepts) {
        return SQ_ERR_SHAPE;
    }
    if (scratch_bytes != NULL) {
        *scratch_bytes = 3 * max_hidden;
    }
    return SQ_OK;
}

/* Weights packed for the active port (sq_graph_pack), or none. */
typedef struct {
    const sq_packed_ops *ops; /* NULL: run the plain kernels */
    const int8_t *const *packed;
} sq_packing;

static sq_packing sq_packing_of(const sq_graph_prepared *prepared)
{
    sq_packing pk = {NULL, NULL};
    if (prepared != NULL && prepared->packed_port >= 0 &&
        prepared->packed_port == sq_port_active()) {
        pk.ops = sq_packed_ops_of(prepared->packed_port);
        pk.packed = prepared->packed;
    }
    return pk;
}

/* Layer `index` (in the prepared layers[] order) with its packed weights when there are. */
static void sq_layer_run(const sq_fc_layer *layer, sq_packing pk, int32_t index, const int8_t *x,
                         int8_t *y)
{
    if (pk.ops != NULL && pk.packed[index] != NULL) {
        sq_fc_run_packed(layer, pk.ops, pk.packed[index], x, y);
    } else {
        sq_fc_run(layer, x, y);
    }
}

/* Run one head from h (held in buffer `h_slot` of 3) into `out`, ping-ponging in the others;
 * `first` is the index of its first layer in the prepared order. */
static void sq_head_run(const sq_fc_layer *layers, int32_t n_layers, const int8_t *h,
                        int8_t *bufs[3], int h_slot, int8_t *out, sq_packing pk, int32_t first)
{
    const int8_t *in = h;
    int next = (h_slot + 1) % 3;
    int32_t j;
    for (j = 0; j < n_layers; ++j) {
        int8_t *dst = (j == n_layers - 1) ? out : bufs[next];
        sq_layer_run(&layers[j], pk, first + j, in, dst);
        in = dst;
        next = (next + 1) % 3;
        if (next == h_slot) {
            next = (next + 1) % 3;
        }
    }
}

/* Run a validated graph; `need` = its scratch bytes (3 x widest hidden), scratch holds them. */
static void sq_graph_exec(const sq_graph *graph, int32_t need, const int8_t *q, int8_t *scratch,
                          int8_t *z, int8_t *logit, int8_t *s, sq_packing pk)
{
    const int32_t stride = need / 3;
    int8_t *bufs[3];
    const int8_t *h = q;
    int h_slot = 2; /* h = q lives outside scratch: any slot index is free to skip */
    int32_t j;
    bufs[0] = scratch;
    bufs[1] = (scratch != NULL) ? scratch + stride : NULL;
    bufs[2] = (scratch != NULL) ? scratch + 2 * stride : NULL;
    for (j = 0; j < graph->n_trunk; ++j) {
        int8_t *dst = bufs[j % 2];
        sq_layer_run(&graph->trunk[j], pk, j, h, dst);
        h = dst;
        h_slot = (int)(j % 2);
    }
    sq_head_run(graph->z_head, graph->n_z, h, bufs, h_slot, z, pk, graph->n_trunk);
    sq_head_run(graph->sci_head, graph->n_sci, h, bufs, h_slot, logit, pk,
                graph->n_trunk + graph->n_z);
    if (s == NULL) {
        return;
    }
    if (graph->logistic_lut != NULL) {
        int32_t i;
        for (i = 0; i < graph->n_concepts; ++i) {
            s[i] = graph->logistic_lut[(int32_t)logit[i] + 128];
        }
        return;
    }
    memcpy(s, logit, (size_t)graph->n_concepts);
}

/* The per-call arguments of a graph run on a validated graph needing `need` scratch bytes. */
static sq_status sq_graph_run_args(int32_t need, const int8_t *q, const int8_t *scratch,
                                   int32_t scratch_bytes, const int8_t *z, const int8_t *logit)
{
    if (q == NULL || z == NULL || logit == NULL) {
        return SQ_ERR_NULL;
    }
    if (need > 0 && scratch == NULL) {
        return SQ_ERR_NULL;
    }
    if (scratch_bytes < need) {
        return SQ_ERR_BUFFER;
    }
    return SQ_OK;
}

sq_status sq_graph_run(const sq_graph *graph, const int8_t *q, int8_t *scratch,
                       int32_t scratch_bytes, int8_t *z, int8_t *logit, int8_t *s)
{
    int32_t need = 0;
    sq_status st;
    if (q == NULL || z == NULL || logit == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_graph_check(graph, &need);
    if (st == SQ_OK) {
        st = sq_graph_run_args(need, q, scratch, scratch_bytes, z, logit);
    }
    if (st == SQ_OK) {
        sq_graph_exec(graph, need, q, scratch, z, logit, s, sq_packing_of(NULL));
    }
    return st;
}

/* ---- selection -------------------------------------------------------------------------- */

/* N slots within the compiled limit and K in [1, N]: the checks every per-slot step shares. */
sq_status sq_check_slots(int32_t n, int32_t k)
{
    if (n < 1) {
        return SQ_ERR_ARG;
    }
    if (n > SQ_MAX_N) {
        return SQ_ERR_LIMIT;
    }
    if (k < 1 || k > n) {
        return SQ_ERR_K_RANGE;
    }
    return SQ_OK;
}

/* Every one of the K positional IDs names one of the N slots. */
sq_status sq_check_positions(const uint16_t *positions, int32_t k, int32_t n)
{
    int32_t j;
    for (j = 0; j < k; ++j) {
        if ((int32_t)positions[j] >= n) {
            return SQ_ERR_INDEX;
        }
    }
    return SQ_OK;
}

sq_status sq_top_k(const int8_t *scores, int32_t n, int32_t k, uint16_t *positions)
{
    /* start[v]: rank of the next slot with score v - 128 in descending order. */
    uint16_t start[256];
    uint16_t acc = 0;
    int32_t v;
    int32_t i;
    sq_status st;
    if (scores == NULL || positions == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_check_slots(n, k);
    if (st != SQ_OK) {
        return st;
    }
    memset(start, 0, sizeof(start));
    for (i = 0; i < n; ++i) {
        ++start[(int32_t)scores[i] + 128];
    }
    for (v = 255; v >= 0; --v) {
        const uint16_t count = start[v];
        start[v] = acc;
        acc = (uint16_t)(acc + count);
    }
    /* Slots in ascending order keep ties in ascending order (stable). */
    for (i = 0; i < n; ++i) {
        const int32_t rank = start[(int32_t)scores[i] + 128]++;
        if (rank < k) {
            positions[rank] = (uint16_t)i;
        }
    }
    return SQ_OK;
}

/* Squared distance of v to one codeword; diffs in [-255, 255] fit int16, D * 255^2 fits int32. */
static int32_t sq_dist(const int8_t *v, const int8_t *e, int32_t d)
{
    int32_t dist = 0;
    int32_t i;
    for (i = 0; i < d; ++i) {
        const int16_t a = (int16_t)((int16_t)v[i] - (int16_t)e[i]);
        dist += (int32_t)a * a;
    }
    return dist;
}

/* The arguments every nearest-codeword entry shares. */
static sq_status sq_nearest_args(const int8_t *z, int32_t n, int32_t d, const uint16_t *positions,
                                 int32_t k, const int8_t *codebook, int32_t m,
                                 const uint16_t *indices)
{
    if (z == NULL || positions == NULL || codebook == NULL || indices == NULL) {
        return SQ_ERR_NULL;
    }
    if (n < 1 || d < 1 || m < 1) {
        return SQ_ERR_ARG;
    }
    if (n > SQ_MAX_N || d > SQ_MAX_D || m > SQ_MAX_M) {
        return SQ_ERR_LIMIT;
    }
    if (k < 1 || k > n) {
        return SQ_ERR_K_RANGE;
    }
    if (sq_check_positions(positions, k, n) != SQ_OK) {
        return SQ_ERR_INDEX;
    }
    return SQ_OK;
}

/* The reference search (squared distances) on validated arguments. */
static void sq_nearest_reference(const int8_t *z, int32_t d, const uint16_t *positions,
                                 int32_t k, const int8_t *codebook, int32_t m,
                                 uint16_t *indices)
{
    int32_t j;
    /* Four codewords per pass share the loads of v and vectorize (int16 multiply-add); no
     * early exit, so the time does not depend on the data. Candidates are compared in index
     * order with a strict '<', so ties keep the lower index. */
    for (j = 0; j < k; ++j) {
        const int8_t *v = z + (size_t)positions[j] * (size_t)d;
        int32_t best = INT32_MAX;
        int32_t best_m = 0;
        int32_t c = 0;
        for (; c + 4 <= m; c += 4) {
            const int8_t *e0 = codebook + (size_t)c * (size_t)d;
            const int8_t *e1 = e0 + d;
            const int8_t *e2 = e1 + d;
            const int8_t *e3 = e2 + d;
            int32_t d0 = 0;
            int32_t d1 = 0;
            int32_t d2 = 0;
            int32_t d3 = 0;
            int32_t i;
            for (i = 0; i < d; ++i) {
                const int16_t x = (int16_t)v[i];
                const int16_t a0 = (int16_t)(x - (int16_t)e0[i]);
                const int16_t a1 = (int16_t)(x - (int16_t)e1[i]);
                const int16_t a2 = (int16_t)(x - (int16_t)e2[i]);
                const int16_t a3 = (int16_t)(x - (int16_t)e3[i]);
                d0 += (int32_t)a0 * a0;
                d1 += (int32_t)a1 * a1;
                d2 += (int32_t)a2 * a2;
                d3 += (int32_t)a3 * a3;
            }
            if (d0 < best) {
                best = d0;
                best_m = c;
            }
            if (d1 < best) {
                best = d1;
                best_m = c + 1;
            }
            if (d2 < best) {
                best = d2;
                best_m = c + 2;
            }
            if (d3 < best) {
                best = d3;
                best_m = c + 3;
            }
        }
        for (; c < m; ++c) {
            const int32_t dist = sq_dist(v, codebook + (size_t)c * (size_t)d, d);
            if (dist < best) {
                best = dist;
                best_m = c;
            }
        }
        indices[j] = (uint16_t)best_m;
    }
}

/* ||e||^2 of one codeword: at most 256 * 128^2 = 2^22. */
static int32_t sq_norm(const int8_t *e, int32_t d)
{
    int32_t sum = 0;
    int32_t i;
    for (i = 0; i < d; ++i) {
        sum += (int32_t)e[i] * e[i];
    }
    return sum;
}

sq_status sq_nearest_codewords(const int8_t *z, int32_t n, int32_t d, const uint16_t *positions,
                               int32_t k, const int8_t *codebook, int32_t m,
                               uint16_t *indices)
{
    const sq_port_ops *ops;
    const sq_status st = sq_nearest_args(z, n, d, positions, k, codebook, m, indices);
    if (st != SQ_OK) {
        return st;
    }
    ops = sq_port_ops_active();
    if (ops->nearest != NULL) {
        ops->nearest(z, d, positions, k, codebook, m, NULL, indices);
    } else {
        sq_nearest_reference(z, d, positions, k, codebook, m, indices);
    }
    return SQ_OK;
}

sq_status sq_map_symbols(const uint16_t *indices, int32_t k, const int16_t *table, int32_t m,
                         int16_t *iq)
{
    int32_t j;
    if (indices == NULL || table == NULL || iq == NULL) {
        return SQ_ERR_NULL;
    }
    if (k < 1 || m < 1) {
        return SQ_ERR_ARG;
    }
    if (k > SQ_MAX_N || m > SQ_MAX_M) {
        return SQ_ERR_LIMIT;
    }
    for (j = 0; j < k; ++j) {
        if ((int32_t)indices[j] >= m) {
            return SQ_ERR_INDEX;
        }
    }
    for (j = 0; j < k; ++j) {
        iq[2 * j] = table[2 * (size_t)indices[j]];
        iq[2 * j + 1] = table[2 * (size_t)indices[j] + 1];
    }
    return SQ_OK;
}

sq_status sq_policy_k(const sq_policy *policy, int16_t snr_cdb, int32_t n, uint16_t *k)
{
    int64_t a;
    uint32_t i;
    int32_t value;
    if (policy == NULL || policy->k == NULL || k == NULL) {
        return SQ_ERR_NULL;
    }
    if (policy->len < 1 || policy->step_cdb < 1 || n < 1) {
        return SQ_ERR_ARG;
    }
    if (policy->len > SQ_MAX_POLICY_LEN || n > SQ_MAX_N) {
        return SQ_ERR_LIMIT;
    }
    /* floor(a / step) clamped to [0, len - 1]. a < 0 floors below 0: index 0. Otherwise
     * 0 <= a <= 32767 + 2^31 + 2^30 < 2^32, so unsigned 32-bit division is exact (an MCU's
     * UDIV, no 64-bit division routine linked). */
    a = (int64_t)snr_cdb - policy->snr_min_cdb + policy->step_cdb / 2 - 1;
    i = a < 0 ? 0u : (uint32_t)a / (uint32_t)policy->step_cdb;
    if (i > (uint32_t)(policy->len - 1)) {
        i = (uint32_t)(policy->len - 1);
    }
    value = policy->k[i];
    if (value < 1 || value > n) {
        return SQ_ERR_K_RANGE;
    }
    *k = (uint16_t)value;
    return SQ_OK;
}

/* ---- positional-ID bitmap --------------------------------------------------------------- */

sq_status sq_position_bitmap(const uint16_t *positions, int32_t k, int32_t n, uint8_t *bitmap,
                             int32_t bitmap_bytes)
{
    int32_t j;
    sq_status st;
    if (positions == NULL || bitmap == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_check_slots(n, k);
    if (st != SQ_OK) {
        return st;
    }
    if (bitmap_bytes < SQ_BITMAP_BYTES(n)) {
        return SQ_ERR_BUFFER;
    }
    st = sq_check_positions(positions, k, n);
    if (st != SQ_OK) {
        return st;
    }
    memset(bitmap, 0, (size_t)SQ_BITMAP_BYTES(n));
    for (j = 0; j < k; ++j) {
        const uint16_t p = positions[j];
        const uint8_t bit = (uint8_t)(1u << (p & 7u));
        if (bitmap[p >> 3] & bit) {
            return SQ_ERR_ARG;
        }
        bitmap[p >> 3] = (uint8_t)(bitmap[p >> 3] | bit);
    }
    return SQ_OK;
}

sq_status sq_bitmap_positions(const uint8_t *bitmap, int32_t bitmap_bytes, int32_t n,
                              uint16_t *positions, int32_t capacity, int32_t *k)
{
    int32_t p;
    int32_t count = 0;
    if (bitmap == NULL || positions == NULL || k == NULL) {
        return SQ_ERR_NULL;
    }
    if (n < 1 || capacity < 0) {
        return SQ_ERR_ARG;
    }
    if (n > SQ_MAX_N) {
        return SQ_ERR_LIMIT;
    }
    if (bitmap_bytes < SQ_BITMAP_BYTES(n)) {
        return SQ_ERR_BUFFER;
    }
    for (p = 0; p < n; ++p) {
        if (bitmap[p >> 3] & (1u << (p & 7))) {
            ++count;
        }
    }
    if (count > capacity) {
        return SQ_ERR_BUFFER;
    }
    count = 0;
    for (p = 0; p < n; ++p) {
        if (bitmap[p >> 3] & (1u << (p & 7))) {
            positions[count++] = (uint16_t)p;
        }
    }
    *k = count;
    return SQ_OK;
}

/* ---- whole sample ----------------------------------------------------------------------- */

/* Encode scratch = graph scratch + q [input_size] + z [N*D] + logit [N] + s [N]. */
static int32_t sq_encode_bytes(const sq_graph *graph, int32_t graph_bytes)
{
    return graph_bytes + graph->input_size + graph->n_concepts * graph->latent_dim +
           2 * graph->n_concepts;
}

sq_status sq_encode_scratch_bytes(const sq_graph *graph, int32_t *bytes)
{
    int32_t need = 0;
    sq_status st;
    if (bytes == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_graph_check(graph, &need);
    if (st != SQ_OK) {
        return st;
    }
    *bytes = sq_encode_bytes(graph, need);
    return SQ_OK;
}

/* The per-sample path on a validated graph (graph scratch `need`), a validated codebook and
 * validated per-sample arguments; norms may be NULL. Nothing here can fail. */
static void sq_encode_exec(const sq_graph *graph, int32_t need, const int8_t *codebook,
                           const int32_t *norms, int32_t order, const int16_t *constellation,
                           const uint8_t *u, int32_t k, int8_t *scratch, uint16_t *positions,
                           uint16_t *indices, int16_t *iq, sq_packing pk)
{
    const sq_port_ops *ops = sq_port_ops_active();
    const int32_t n = graph->n_concepts;
    const int32_t d = graph->latent_dim;
    int8_t *q = scratch + need;
    int8_t *z = q + graph->input_size;
    int8_t *logit = z + n * d;
    int8_t *s = logit + n;
    const int8_t *rank = graph->rank_by_sci ? s : logit;
    int32_t i;
    for (i = 0; i < graph->input_size; ++i) {
        q[i] = (int8_t)((int32_t)u[i] - 128);
    }
    sq_graph_exec(graph, need, q, scratch, z, logit, graph->rank_by_sci ? s : NULL, pk);
    (void)sq_top_k(rank, n, k, positions); /* n, k validated: cannot fail */
    if (ops->nearest != NULL) {
        ops->nearest(z, d, positions, k, codebook, order, norms, indices);
    } else { /* the reference's distance form is its fastest: norms are for the ports */
        sq_nearest_reference(z, d, positions, k, codebook, order, indices);
    }
    for (i = 0; i < k; ++i) {
        iq[2 * i] = constellation[2 * (size_t)indices[i]];
        iq[2 * i + 1] = constellation[2 * (size_t)indices[i] + 1];
    }
}

sq_status sq_encode(const sq_graph *graph, const sq_tables *tables, const uint8_t *u, int32_t k,
                    int8_t *scratch, int32_t scratch_bytes, uint16_t *positions,
                    uint16_t *indices, int16_t *iq)
{
    int32_t need = 0;
    sq_status st;
    if (tables == NULL || u == NULL || scratch == NULL || positions == NULL || indices == NULL ||
        iq == NULL || tables->codebook == NULL || tables->constellation == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_graph_check(graph, &need); /* once per sample, not once per layer */
    if (st != SQ_OK) {
        return st;
    }
    if (tables->latent_dim != graph->latent_dim) {
        return SQ_ERR_SHAPE;
    }
    if (tables->order < 1) {
        return SQ_ERR_ARG;
    }
    if (tables->order > SQ_MAX_M) {
        return SQ_ERR_LIMIT;
    }
    if (k < 1 || k > graph->n_concepts) {
        return SQ_ERR_K_RANGE;
    }
    if (scratch_bytes < sq_encode_bytes(graph, need)) {
        return SQ_ERR_BUFFER;
    }
    sq_encode_exec(graph, need, tables->codebook, NULL, tables->order, tables->constellation, u,
                   k, scratch, positions, indices, iq, sq_packing_of(NULL));
    return SQ_OK;
}

/* ---- validate once ---------------------------------------------------------------------- */

#define SQ_GRAPH_MAGIC 0x53514770u    /* "SQGp" */
#define SQ_CODEBOOK_MAGIC 0x53514370u /* "SQCp" */

/* Copy one chain's layer structs into the handle; returns the copy's start. */
static const sq_fc_layer *sq_copy_chain(sq_fc_layer *dst, int32_t *used, const sq_fc_layer *src,
                                        int32_t n_layers)
{
    sq_fc_layer *start = dst + *used;
    if (n_layers > 0) {
        memcpy(start, src, (size_t)n_layers * sizeof(*src));
    }
    *used += n_layers;
    return start;
}

sq_status sq_graph_prepare(const sq_graph *graph, sq_graph_prepared *prepared)
{
    int32_t need = 0;
    int32_t used = 0;
    sq_status st;
    if (prepared == NULL) {
        return SQ_ERR_NULL;
    }
    prepared->magic = 0;
    st = sq_graph_check(graph, &need);
    if (st != SQ_OK) {
        return st;
    }
    /* The check bounded every chain by SQ_MAX_CHAIN_LAYERS, so the copies fit layers[]. */
    prepared->graph = *graph;
    prepared->graph.trunk = sq_copy_chain(prepared->layers, &used, graph->trunk, graph->n_trunk);
    prepared->graph.z_head = sq_copy_chain(prepared->layers, &used, graph->z_head, graph->n_z);
    prepared->graph.sci_head =
        sq_copy_chain(prepared->layers, &used, graph->sci_head, graph->n_sci);
    prepared->graph_scratch_bytes = need;
    prepared->encode_scratch_bytes = sq_encode_bytes(graph, need);
    for (used = 0; used < 3 * SQ_MAX_CHAIN_LAYERS; ++used) {
        prepared->packed[used] = NULL;
    }
    prepared->packed_port = -1;
    prepared->magic = SQ_GRAPH_MAGIC;
    return SQ_OK;
}

const sq_packed_ops *sq_packed_ops_of(int32_t port)
{
#if SQ_HAVE_X86_PORTS
    if (port == SQ_PORT_X86_AVX512_VNNI) {
        return &sq_x86_avx512_vnni_packed;
    }
#endif
    (void)port;
    return NULL;
}

/* Packed bytes of every qualifying layer for `pops` (0 for none), or of layer j alone. */
static int32_t sq_packed_layer_bytes(const sq_packed_ops *pops, const sq_fc_layer *layer)
{
    return (pops != NULL && layer->input_offset == 128) ? pops->bytes(layer->in_dim,
                                                                      layer->out_dim)
                                                        : 0;
}

int32_t sq_graph_packed_bytes(const sq_graph_prepared *prepared)
{
    const sq_packed_ops *pops = sq_packed_ops_of(sq_port_active());
    int32_t total = 0;
    int32_t j;
    if (prepared == NULL || prepared->magic != SQ_GRAPH_MAGIC || pops == NULL) {
        return 0;
    }
    for (j = 0; j < prepared->graph.n_trunk + prepared->graph.n_z + prepared->graph.n_sci;
         ++j) {
        total += sq_packed_layer_bytes(pops, &prepared->layers[j]);
    }
    return total;
}

sq_status sq_graph_pack(sq_graph_prepared *prepared, int8_t *buf, int32_t bytes)
{
    const int32_t port = sq_port_active();
    const sq_packed_ops *pops = sq_packed_ops_of(port);
    int32_t need;
    int32_t at = 0;
    int32_t j;
    if (prepared == NULL) {
        return SQ_ERR_NULL;
    }
    if (prepared->magic != SQ_GRAPH_MAGIC) {
        return SQ_ERR_STATE;
    }
    need = sq_graph_packed_bytes(prepared);
    if (need == 0) {
        return SQ_OK;
    }
    if (buf == NULL) {
        return SQ_ERR_NULL;
    }
    if (bytes < need) {
        return SQ_ERR_BUFFER;
    }
    for (j = 0; j < prepared->graph.n_trunk + prepared->graph.n_z + prepared->graph.n_sci;
         ++j) {
        const sq_fc_layer *layer = &prepared->layers[j];
        const int32_t nb = sq_packed_layer_bytes(pops, layer);
        prepared->packed[j] = NULL;
        if (nb > 0) {
            pops->pack(layer->weights, layer->in_dim, layer->out_dim, buf + at);
            prepared->packed[j] = buf + at;
            at += nb;
        }
    }
    prepared->packed_port = port;
    return SQ_OK;
}

sq_status sq_graph_run_prepared(const sq_graph_prepared *prepared, const int8_t *q,
                                int8_t *scratch, int32_t scratch_bytes, int8_t *z,
                                int8_t *logit, int8_t *s)
{
    sq_status st;
    if (prepared == NULL) {
        return SQ_ERR_NULL;
    }
    if (prepared->magic != SQ_GRAPH_MAGIC) {
        return SQ_ERR_STATE;
    }
    st = sq_graph_run_args(prepared->graph_scratch_bytes, q, scratch, scratch_bytes, z, logit);
    if (st == SQ_OK) {
        sq_graph_exec(&prepared->graph, prepared->graph_scratch_bytes, q, scratch, z, logit, s,
                      sq_packing_of(prepared));
    }
    return st;
}

sq_status sq_codebook_prepare(const int8_t *codebook, int32_t m, int32_t d, int32_t *norms,
                              int32_t norms_len, sq_codebook *out)
{
    int32_t c;
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
    for (c = 0; c < m; ++c) {
        norms[c] = sq_norm(codebook + (size_t)c * (size_t)d, d);
    }
    out->codebook = codebook;
    out->norms = norms;
    out->order = m;
    out->latent_dim = d;
    out->magic = SQ_CODEBOOK_MAGIC;
    return SQ_OK;
}

static sq_status sq_codebook_ok(const sq_codebook *codebook)
{
    if (codebook == NULL) {
        return SQ_ERR_NULL;
    }
    return codebook->magic == SQ_CODEBOOK_MAGIC ? SQ_OK : SQ_ERR_STATE;
}

sq_status sq_nearest_codewords_prepared(const sq_codebook *codebook, const int8_t *z, int32_t n,
                                        const uint16_t *positions, int32_t k,
                                        uint16_t *indices)
{
    const sq_port_ops *ops;
    sq_status st = sq_codebook_ok(codebook);
    if (st != SQ_OK) {
        return st;
    }
    st = sq_nearest_args(z, n, codebook->latent_dim, positions, k, codebook->codebook,
                         codebook->order, indices);
    if (st != SQ_OK) {
        return st;
    }
    ops = sq_port_ops_active();
    if (ops->nearest != NULL) {
        ops->nearest(z, codebook->latent_dim, positions, k, codebook->codebook, codebook->order,
                     codebook->norms, indices);
    } else { /* the reference's distance form is its fastest: norms are for the ports */
        sq_nearest_reference(z, codebook->latent_dim, positions, k, codebook->codebook,
                             codebook->order, indices);
    }
    return SQ_OK;
}

sq_status sq_encode_prepared(const sq_graph_prepared *graph, const sq_codebook *codebook,
                             const int16_t *constellation, const uint8_t *u, int32_t k,
                             int8_t *scratch, int32_t scratch_bytes, uint16_t *positions,
                             uint16_t *indices, int16_t *iq)
{
    sq_status st;
    if (graph == NULL || constellation == NULL || u == NULL || scratch == NULL ||
        positions == NULL || indices == NULL || iq == NULL) {
        return SQ_ERR_NULL;
    }
    if (graph->magic != SQ_GRAPH_MAGIC) {
        return SQ_ERR_STATE;
    }
    st = sq_codebook_ok(codebook);
    if (st != SQ_OK) {
        return st;
    }
    if (codebook->latent_dim != graph->graph.latent_dim) {
        return SQ_ERR_SHAPE;
    }
    if (k < 1 || k > graph->graph.n_concepts) {
        return SQ_ERR_K_RANGE;
    }
    if (scratch_bytes < graph->encode_scratch_bytes) {
        return SQ_ERR_BUFFER;
    }
    sq_encode_exec(&graph->graph, graph->graph_scratch_bytes, codebook->codebook,
                   codebook->norms, codebook->order, constellation, u, k, scratch, positions,
                   indices, iq, sq_packing_of(graph));
    return SQ_OK;
}
