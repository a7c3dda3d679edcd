/*
 * sq_server.c - the request table of a C node (see sq_server.h).
 */
#include "sq_server.h"

#include <string.h>

static const char *const stage_names[SQS_N_STAGES] = {"neural", "select", "quantize", "map",
                                                      "frame"};
static const char *const server_counter_names[SQS_N_COUNTERS] = {
    "frames_tx", "bytes_tx", "requests", "samples_encoded", "errors_sent", "flash_chunks",
    "flash_commits", "port_reopens", "replies_dropped"}; /* the Python node's SERVER_COUNTERS */
enum { C_FRAMES_TX, C_BYTES_TX, C_REQUESTS, C_SAMPLES, C_ERRORS_SENT };

#define ST_NEURAL 0
#define ST_SELECT 1
#define ST_QUANTIZE 2
#define ST_MAP 3
#define ST_FRAME 4

static uint32_t now(const sqs_server *s) { return s->cfg.now_us(s->cfg.clock_ctx); }

static void policy_k(sqs_server *s) {
    uint16_t k = (uint16_t)s->cfg.graph->n_concepts;
    if (sq_policy_k(s->cfg.policy, s->snr_cdb, s->cfg.graph->n_concepts, &k) == SQ_OK)
        s->policy_k = k;
}

sq_status sqs_init(sqs_server *s, const sqs_config *cfg) {
    sq_status st;
    if (s == NULL || cfg == NULL || cfg->graph == NULL || cfg->codebook == NULL ||
        cfg->constellation[0] == NULL || cfg->constellation[1] == NULL || cfg->policy == NULL ||
        cfg->manifest_sha256 == NULL || cfg->bundle_id == NULL || cfg->now_us == NULL ||
        cfg->scratch == NULL || cfg->norms == NULL)
        return SQ_ERR_NULL;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    (void)sql_decoder_init(&s->dec, SQL_MAX_PAYLOAD);
    s->constellation = 1;
    s->started_us = now(s);
    s->last_us = s->started_us;
    st = sq_graph_prepare(cfg->graph, &s->graph);
    if (st == SQ_OK && s->graph.encode_scratch_bytes > cfg->scratch_bytes) st = SQ_ERR_BUFFER;
    if (st == SQ_OK)
        st = sq_codebook_prepare(cfg->codebook, cfg->order, cfg->graph->latent_dim, cfg->norms,
                                 cfg->order, &s->codebook);
    s->load_status = st;
    s->policy_k = (uint16_t)cfg->graph->n_concepts; /* K = N until SNR feedback */
    return st;
}

/* ---- timings ------------------------------------------------------------------------------ */

static void timing_add(sqs_timing *t, uint32_t us) {
    t->ring[t->count % SQS_TIMING_WINDOW] = us;
    t->count++;
    t->total += us;
    if (us > t->max) t->max = us;
}

/* floor(num / den) for a quotient that fits uint32 (den > 0), by shift and subtract: on a
   32-bit MCU the C operator would link libgcc's 64-bit division (~0.8 KB of flash). */
static uint32_t div_u64_u32(uint64_t num, uint32_t den) {
    uint64_t rem = 0;
    uint32_t q = 0;
    int bit;
    for (bit = 63; bit >= 0; bit--) {
        rem = (rem << 1) | ((num >> bit) & 1u);
        if (rem >= den) {
            rem -= den;
            if (bit < 32) q |= 1u << bit;
        }
    }
    return q;
}

/* numpy's linear-interpolation percentile of the window, rounded down like int() */
static uint32_t percentile(const uint32_t *sorted, uint32_t n, uint32_t pct) {
    uint32_t num = (n - 1u) * pct, lo = num / 100u, frac = num % 100u;
    uint32_t a = sorted[lo], b = sorted[lo + 1u < n ? lo + 1u : lo];
    return a + div_u64_u32((uint64_t)(b - a) * frac, 100u);
}

static void timing_summary(const sqs_timing *t, const char *name, sql_stage *out) {
    uint32_t v[SQS_TIMING_WINDOW], n = t->count < SQS_TIMING_WINDOW ? t->count : SQS_TIMING_WINDOW;
    uint32_t i, j, x;
    memset(out, 0, sizeof *out);
    out->name = name;
    if (n == 0) return;
    memcpy(v, t->ring, n * sizeof v[0]);
    for (i = 1; i < n; i++) { /* insertion sort: n <= SQS_TIMING_WINDOW */
        x = v[i];
        for (j = i; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    out->count = t->count;
    out->mean_us = div_u64_u32(t->total, t->count); /* the mean of uint32 values fits */
    out->p50_us = percentile(v, n, 50);
    out->p99_us = percentile(v, n, 99);
    out->max_us = t->max;
}

/* ---- replies ------------------------------------------------------------------------------ */

#define PAYLOAD(s) ((s)->raw + SQL_HEADER)
#define PAYLOAD_CAP (SQL_MAX_PAYLOAD)

static int32_t frame(sqs_server *s, uint8_t type, uint16_t seq, int32_t len) {
    int32_t n = 0;
    if (sql_frame_encode(SQL_VERSION, type, seq, PAYLOAD(s), len, s->raw, (int32_t)sizeof s->raw,
                         s->tx, (int32_t)sizeof s->tx, &n) != SQL_OK)
        return 0;
    if (type == SQL_ERROR) s->counters[C_ERRORS_SENT]++;
    s->counters[C_FRAMES_TX]++;
    s->counters[C_BYTES_TX] += (uint32_t)n;
    return n;
}

static int32_t error_reply(sqs_server *s, uint16_t seq, uint16_t code, uint8_t ref_type,
                           uint32_t ref_sample, const char *text, int32_t text_len) {
    int32_t len = 0;
    (void)sql_pack_error(code, ref_type, ref_sample, text, text_len, PAYLOAD(s), PAYLOAD_CAP,
                         &len);
    return frame(s, SQL_ERROR, seq, len);
}

/* ERROR with a text built from pieces: a, then the decimal v (when has_v), then b. */
static int32_t error_text(sqs_server *s, uint16_t seq, uint16_t code, uint8_t ref_type,
                          uint32_t ref_sample, const char *a, int32_t has_v, int32_t v,
                          const char *b) {
    sql_writer w;
    w.p = (uint8_t *)s->text;
    w.cap = (int32_t)sizeof s->text;
    w.len = 0;
    w.overflow = 0;
    sql_put_str(&w, a);
    if (has_v) sql_put_dec(&w, v);
    sql_put_str(&w, b);
    return error_reply(s, seq, code, ref_type, ref_sample, s->text, w.len);
}

static void update_uptime(sqs_server *s) {
    uint32_t t = now(s), d = t - s->last_us; /* unsigned: correct across one wrap */
    s->uptime_ms += d / 1000u;
    s->last_us = t - d % 1000u;
}

static int32_t info_reply(sqs_server *s, uint16_t seq) {
    sql_info m;
    int32_t len = 0, ok = s->load_status == SQ_OK;
    memset(&m, 0, sizeof m);
    update_uptime(s);
    m.flags = (uint8_t)(SQL_INFO_ACTIVE | SQL_INFO_BUILT_IN | (ok ? SQL_INFO_ENCODER : 0));
    m.active_slot = 1;
    m.backend = 1;
    m.constellation = s->constellation;
    m.boot_id = s->cfg.boot_id;
    m.uptime_ms = s->uptime_ms;
    m.order = (uint16_t)s->cfg.order;
    m.n_concepts = (uint16_t)s->cfg.graph->n_concepts;
    m.latent_dim = (uint16_t)s->cfg.graph->latent_dim;
    m.input_size = (uint16_t)s->cfg.graph->input_size;
    m.k = ok ? (s->k_override ? s->k_override : s->policy_k) : 0;
    m.snr_cdb = s->snr_cdb;
    m.frac_bits_semantic = ok ? s->cfg.frac_bits[0] : 0;
    m.frac_bits_standard = ok ? s->cfg.frac_bits[1] : 0;
    m.config_flags = s->cfg_flags;
    m.proto_version = SQL_VERSION;
    m.max_payload = SQL_MAX_PAYLOAD;
    m.max_order = SQ_MAX_M;
    m.max_concepts = SQ_MAX_N;
    m.max_latent = SQ_MAX_D;
    m.max_input = SQ_MAX_LAYER_WIDTH < SQL_MAX_PAYLOAD - 4 ? SQ_MAX_LAYER_WIDTH
                                                           : SQL_MAX_PAYLOAD - 4;
    m.max_chunk = SQL_MAX_CHUNK;
    m.staged_kib = 0;
    memcpy(m.bundle_id, s->cfg.bundle_id, 8);
    memcpy(m.manifest_sha256, s->cfg.manifest_sha256, 32);
    m.node_id = s->cfg.node_id;
    m.runtime_version = s->cfg.runtime_version;
    m.status = ok ? "ready" : sq_status_name(s->load_status);
    (void)sql_pack_info(&m, PAYLOAD(s), PAYLOAD_CAP, &len);
    return frame(s, SQL_INFO, seq, len);
}

static int32_t stats_reply(sqs_server *s, uint16_t seq, int32_t reset) {
    const char *names[SQL_N_DECODER_COUNTERS + 1 + SQS_N_COUNTERS + SQS_MAX_PLATFORM_COUNTERS];
    uint32_t values[SQL_N_DECODER_COUNTERS + 1 + SQS_N_COUNTERS + SQS_MAX_PLATFORM_COUNTERS];
    sql_stage stages[SQS_N_STAGES];
    int32_t i, n = 0, len = 0, out;
    sql_decoder_counter_values(&s->dec, values);
    for (i = 0; i < SQL_N_DECODER_COUNTERS; i++) names[n++] = sql_decoder_counter_names[i];
    names[n] = "dropped";
    values[n++] = sql_decoder_dropped(&s->dec);
    /* this reply's own frame is counted by the next STATS, as on the Linux node */
    for (i = 0; i < SQS_N_COUNTERS; i++) {
        names[n] = server_counter_names[i];
        values[n++] = s->counters[i];
    }
    for (i = 0; i < s->cfg.n_platform_counters && i < SQS_MAX_PLATFORM_COUNTERS; i++) {
        names[n] = s->cfg.platform_counter_names[i];
        values[n++] = s->cfg.platform_counter(i);
    }
    for (i = 0; i < SQS_N_STAGES; i++) timing_summary(&s->timing[i], stage_names[i], &stages[i]);
    (void)sql_pack_stats(names, values, n, stages, SQS_N_STAGES, PAYLOAD(s), PAYLOAD_CAP, &len);
    out = frame(s, SQL_STATS, seq, len);
    if (reset) {
        sql_decoder_reset_counters(&s->dec);
        memset(s->counters, 0, sizeof s->counters);
        memset(s->timing, 0, sizeof s->timing);
    }
    return out;
}

static int32_t snr_reply(sqs_server *s, uint16_t seq, const sql_request *r) {
    int32_t n = s->cfg.graph->n_concepts, len = 0;
    if (r->snr_cdb < SQL_SNR_MIN_CDB || r->snr_cdb > SQL_SNR_MAX_CDB)
        return error_text(s, seq, SQL_E_RANGE, r->type, SQL_NO_SAMPLE, "SNR ", 1,
                          r->snr_cdb, " cdB outside [-100, 100] dB");
    if (r->k_override > n)
        return error_text(s, seq, SQL_E_RANGE, r->type, SQL_NO_SAMPLE, "K override ", 1,
                          r->k_override, " outside 1..N (0 = follow the policy)");
    s->snr_cdb = r->snr_cdb;
    s->k_override = r->k_override;
    policy_k(s);
    (void)sql_pack_snr_ack(s->snr_cdb, s->k_override ? s->k_override : s->policy_k, s->policy_k,
                           PAYLOAD(s), PAYLOAD_CAP, &len);
    return frame(s, SQL_SNR_ACK, seq, len);
}

static int32_t config_reply(sqs_server *s, uint16_t seq, const sql_request *r) {
    int32_t len = 0;
    if (r->constellation != 1 && r->constellation != 2)
        return error_text(s, seq, SQL_E_RANGE, r->type, SQL_NO_SAMPLE, "constellation ", 1,
                          r->constellation, "; use 1 (semantic) or 2 (standard)");
    if (r->config_flags & ~SQL_CFG_INDICES)
        return error_text(s, seq, SQL_E_RANGE, r->type, SQL_NO_SAMPLE, "unknown CONFIG flags ",
                          1, r->config_flags, "");
    s->constellation = r->constellation;
    s->cfg_flags = r->config_flags;
    (void)sql_pack_config_ack(s->constellation, s->cfg_flags,
                              s->cfg.frac_bits[s->constellation - 1], PAYLOAD(s), PAYLOAD_CAP,
                              &len);
    return frame(s, SQL_CONFIG_ACK, seq, len);
}

static int32_t input_reply(sqs_server *s, uint16_t seq, const sql_request *r, uint32_t t_frame) {
    const sq_graph *g = s->cfg.graph;
    int32_t n = g->n_concepts, d = g->latent_dim, len = 0, i;
    int32_t need = s->graph.graph_scratch_bytes;
    int8_t *q = s->cfg.scratch + need, *z = q + g->input_size, *logit = z + n * d, *sv = logit + n;
    uint32_t t[SQS_N_STAGES + 1], us[SQS_N_STAGES];
    uint16_t k;
    sq_status st;
    if (s->load_status != SQ_OK)
        return error_text(s, seq, SQL_E_NO_ENCODER, r->type, r->sample_seq,
                          "the built-in model did not load: ", 0, 0,
                          sq_status_name(s->load_status));
    if (r->data_len != g->input_size) {
        sql_writer w; /* "sample of 10 bytes; this bundle takes 784", as the Linux node */
        w.p = (uint8_t *)s->text;
        w.cap = (int32_t)sizeof s->text;
        w.len = 0;
        w.overflow = 0;
        sql_put_str(&w, "sample of ");
        sql_put_dec(&w, r->data_len);
        sql_put_str(&w, " bytes; this bundle takes ");
        sql_put_dec(&w, g->input_size);
        return error_reply(s, seq, SQL_E_BAD_LENGTH, r->type, r->sample_seq, s->text, w.len);
    }
    k = s->k_override ? s->k_override : s->policy_k;
    t[0] = now(s);
    st = sq_input_from_u8(r->data, g->input_size, q);
    if (st == SQ_OK)
        st = sq_graph_run_prepared(&s->graph, q, s->cfg.scratch, need, z, logit, sv);
    t[1] = now(s);
    if (st == SQ_OK) st = sq_top_k(g->rank_by_sci ? sv : logit, n, k, s->positions);
    t[2] = now(s);
    if (st == SQ_OK)
        st = sq_nearest_codewords_prepared(&s->codebook, z, n, s->positions, k, s->indices);
    t[3] = now(s);
    if (st == SQ_OK)
        st = sq_map_symbols(s->indices, k, s->cfg.constellation[s->constellation - 1],
                            s->cfg.order, s->iq);
    t[4] = now(s);
    if (st != SQ_OK)
        return error_text(s, seq, SQL_E_ENCODE, r->type, r->sample_seq, "encoder: ", 0, 0,
                          sq_status_name(st));
    for (i = 0; i < 4; i++) us[i] = t[i + 1] - t[i];
    us[ST_FRAME] = t[0] - t_frame;
    for (i = 0; i < SQS_N_STAGES; i++) timing_add(&s->timing[i], us[i]);
    s->counters[C_SAMPLES]++;
    (void)sql_pack_symbols(r->sample_seq, k, s->cfg.frac_bits[s->constellation - 1],
                           s->constellation, s->positions,
                           (s->cfg_flags & SQL_CFG_INDICES) ? s->indices : NULL, s->iq, us,
                           SQS_N_STAGES, PAYLOAD(s), PAYLOAD_CAP, &len);
    return frame(s, SQL_SYMBOLS, seq, len);
}

static int32_t request(sqs_server *s, const sql_event *ev, uint32_t t_frame) {
    sql_request r;
    uint16_t code = 0;
    int32_t text_len = 0, len;
    s->counters[C_REQUESTS]++;
    (void)sql_parse_request(ev->version, ev->type, ev->payload, ev->len, &r, &code, s->text,
                            (int32_t)sizeof s->text, &text_len);
    if (code != 0)
        return error_reply(s, ev->seq, code, ev->type,
                           ev->type == SQL_INPUT && ev->len >= 4 ? r.sample_seq : SQL_NO_SAMPLE,
                           s->text, text_len);
    switch (r.type) {
    case SQL_HELLO: return info_reply(s, ev->seq);
    case SQL_PING:
        len = r.data_len;
        memmove(PAYLOAD(s), r.data, (size_t)len);
        return frame(s, SQL_PONG, ev->seq, len);
    case SQL_STATS_REQ: return stats_reply(s, ev->seq, r.stats_reset & 1);
    case SQL_SNR_FEEDBACK: return snr_reply(s, ev->seq, &r);
    case SQL_CONFIG: return config_reply(s, ev->seq, &r);
    case SQL_INPUT: return input_reply(s, ev->seq, &r, t_frame);
    default: /* FLASH_*: this node's bundle is part of its firmware image */
        return error_text(s, ev->seq, 10 /* FLASH_STATE */, r.type, SQL_NO_SAMPLE,
                          "this node runs the bundle built into its firmware (", 0, 0,
                          "); flashing over the link is not supported: rebuild the firmware");
    }
}

sq_status sqs_feed(sqs_server *s, uint8_t byte, const uint8_t **reply, int32_t *reply_len) {
    sql_event ev;
    uint32_t t0;
    int32_t n = 0;
    if (s == NULL || reply == NULL || reply_len == NULL) return SQ_ERR_NULL;
    *reply = s->tx;
    *reply_len = 0;
    t0 = byte == 0 ? now(s) : 0; /* the frame stage: COBS + CRC + parsing from the delimiter */
    (void)sql_decoder_feed(&s->dec, byte, &ev);
    switch (ev.kind) {
    case SQL_EV_FRAME: n = request(s, &ev, t0); break;
    case SQL_EV_OVERSIZED:
        if (ev.has_header)
            n = error_text(s, ev.seq, SQL_E_OVERSIZED, ev.type, SQL_NO_SAMPLE, "frame of ", 1,
                           (int32_t)ev.size,
                           " encoded bytes exceeds the 4096-byte payload limit; dropped");
        break;
    case SQL_EV_BAD_LENGTH:
        n = error_text(s, ev.seq, SQL_E_BAD_FRAME, ev.type, SQL_NO_SAMPLE,
                       "length field disagrees with the ", 1, ev.len,
                       "-byte payload; dropped");
        break;
    default: break;
    }
    *reply_len = n;
    return SQ_OK;
}
