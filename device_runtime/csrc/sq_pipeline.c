/*
 * sq_pipeline.c - the node's per-sample glue (docs/bundle.md "Node per-sample computation"):
 * the MLP graph from caller scratch, top-K by SCI, nearest codeword of the selected slots,
 * I/Q mapping, the SNR -> K policy lookup and positional-ID bitmaps.
 */
#include <string.h>

#include "semqam_core.h"

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

/* Run one head from h (held in buffer `h_slot` of 3) into `out`, ping-ponging in the others. */
static sq_status sq_head_run(const sq_fc_layer *layers, int32_t n_layers, const int8_t *h,
                             int8_t *bufs[3], int h_slot, int8_t *out)
{
    const int8_t *in = h;
    int next = (h_slot + 1) % 3;
    int32_t j;
    sq_status st;
    for (j = 0; j < n_layers; ++j) {
        int8_t *dst = (j == n_layers - 1) ? out : bufs[next];
        st = sq_fc_int8(&layers[j], in, dst);
        if (st != SQ_OK) {
            return st;
        }
        in = dst;
        next = (next + 1) % 3;
        if (next == h_slot) {
            next = (next + 1) % 3;
        }
    }
    return SQ_OK;
}

sq_status sq_graph_run(const sq_graph *graph, const int8_t *q, int8_t *scratch,
                       int32_t scratch_bytes, int8_t *z, int8_t *logit, int8_t *s)
{
    int32_t need = 0;
    int32_t stride;
    int8_t *bufs[3];
    const int8_t *h = q;
    int h_slot = 2; /* h = q lives outside scratch: any slot index is free to skip */
    int32_t j;
    sq_status st;
    if (q == NULL || z == NULL || logit == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_graph_check(graph, &need);
    if (st != SQ_OK) {
        return st;
    }
    if (need > 0 && scratch == NULL) {
        return SQ_ERR_NULL;
    }
    if (scratch_bytes < need) {
        return SQ_ERR_BUFFER;
    }
    stride = need / 3;
    bufs[0] = scratch;
    bufs[1] = (scratch != NULL) ? scratch + stride : NULL;
    bufs[2] = (scratch != NULL) ? scratch + 2 * stride : NULL;
    for (j = 0; j < graph->n_trunk; ++j) {
        int8_t *dst = bufs[j % 2];
        st = sq_fc_int8(&graph->trunk[j], h, dst);
        if (st != SQ_OK) {
            return st;
        }
        h = dst;
        h_slot = (int)(j % 2);
    }
    st = sq_head_run(graph->z_head, graph->n_z, h, bufs, h_slot, z);
    if (st != SQ_OK) {
        return st;
    }
    st = sq_head_run(graph->sci_head, graph->n_sci, h, bufs, h_slot, logit);
    if (st != SQ_OK || s == NULL) {
        return st;
    }
    if (graph->logistic_lut != NULL) {
        return sq_logistic_lut(graph->logistic_lut, logit, graph->n_concepts, s);
    }
    memcpy(s, logit, (size_t)graph->n_concepts);
    return SQ_OK;
}

/* ---- selection -------------------------------------------------------------------------- */

/* N slots within the compiled limit and K in [1, N]: the checks every per-slot step shares. */
static sq_status sq_check_slots(int32_t n, int32_t k)
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
static sq_status sq_check_positions(const uint16_t *positions, int32_t k, int32_t n)
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

sq_status sq_nearest_codewords(const int8_t *z, int32_t n, int32_t d, const uint16_t *positions,
                               int32_t k, const int8_t *codebook, int32_t m,
                               uint16_t *indices)
{
    int32_t j;
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

/* floor(a / b) for b > 0 (C99 '/' truncates toward zero). */
static int64_t sq_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && (a < 0)) {
        --q;
    }
    return q;
}

sq_status sq_policy_k(const sq_policy *policy, int16_t snr_cdb, int32_t n, uint16_t *k)
{
    int64_t i;
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
    i = sq_floor_div((int64_t)snr_cdb - policy->snr_min_cdb + policy->step_cdb / 2 - 1,
                     policy->step_cdb);
    if (i < 0) {
        i = 0;
    }
    if (i > policy->len - 1) {
        i = policy->len - 1;
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
    *bytes = need + graph->input_size + graph->n_concepts * graph->latent_dim +
             2 * graph->n_concepts;
    return SQ_OK;
}

sq_status sq_encode(const sq_graph *graph, const sq_tables *tables, const uint8_t *u, int32_t k,
                    int8_t *scratch, int32_t scratch_bytes, uint16_t *positions,
                    uint16_t *indices, int16_t *iq)
{
    int32_t need = 0;
    int32_t total = 0;
    int8_t *q;
    int8_t *z;
    int8_t *logit;
    int8_t *s;
    sq_status st;
    if (tables == NULL || u == NULL || scratch == NULL || positions == NULL || indices == NULL ||
        iq == NULL || tables->codebook == NULL || tables->constellation == NULL) {
        return SQ_ERR_NULL;
    }
    st = sq_encode_scratch_bytes(graph, &total);
    if (st != SQ_OK) {
        return st;
    }
    if (tables->latent_dim != graph->latent_dim) {
        return SQ_ERR_SHAPE;
    }
    if (k < 1 || k > graph->n_concepts) {
        return SQ_ERR_K_RANGE;
    }
    if (scratch_bytes < total) {
        return SQ_ERR_BUFFER;
    }
    need = total - graph->input_size - graph->n_concepts * graph->latent_dim -
           2 * graph->n_concepts;
    q = scratch + need;
    z = q + graph->input_size;
    logit = z + graph->n_concepts * graph->latent_dim;
    s = logit + graph->n_concepts;
    st = sq_input_from_u8(u, graph->input_size, q);
    if (st == SQ_OK) {
        st = sq_graph_run(graph, q, scratch, need, z, logit, graph->rank_by_sci ? s : NULL);
    }
    if (st == SQ_OK) {
        st = sq_top_k(graph->rank_by_sci ? s : logit, graph->n_concepts, k, positions);
    }
    if (st == SQ_OK) {
        st = sq_nearest_codewords(z, graph->n_concepts, graph->latent_dim, positions, k,
                                  tables->codebook, tables->order, indices);
    }
    if (st == SQ_OK) {
        st = sq_map_symbols(indices, k, tables->constellation, tables->order, iq);
    }
    return st;
}
