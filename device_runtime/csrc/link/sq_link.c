/*
 * sq_link.c - the link protocol in C99 (see sq_link.h and docs/protocol.md).
 */
#include "sq_link.h"

#include <string.h>

/* ---- CRC-32 ------------------------------------------------------------------------------ */

/* Table-driven, 4-bit (64 bytes of table): small enough for any MCU and ~2 table steps per byte.
 * t[i] = CRC of the nibble i through 4 reflected shifts with 0xEDB88320. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

#if defined(SQL_CRC_SLICE8) && SQL_CRC_SLICE8
/* A host build (the Linux node's extension) may trade 8 KB of tables for 8 bytes per step:
 * -DSQL_CRC_SLICE8=1 (slice-by-8, Kounavis & Berry 2005). Same CRC; the MCU keeps the nibble
 * table. */
#include "sq_crc_tables.h"

uint32_t sql_crc32_update(uint32_t crc, const uint8_t *data, size_t n) {
    size_t i = 0;
    uint32_t lo, hi;
    crc = ~crc;
    if (data == NULL) return ~crc;
    (void)crc_nibble;
    for (; i + 8 <= n; i += 8) {
        lo = crc ^ ((uint32_t)data[i] | ((uint32_t)data[i + 1] << 8) |
                    ((uint32_t)data[i + 2] << 16) | ((uint32_t)data[i + 3] << 24));
        hi = (uint32_t)data[i + 4] | ((uint32_t)data[i + 5] << 8) |
             ((uint32_t)data[i + 6] << 16) | ((uint32_t)data[i + 7] << 24);
        crc = sql_crc_slice8[7][lo & 0xFFu] ^ sql_crc_slice8[6][(lo >> 8) & 0xFFu] ^
              sql_crc_slice8[5][(lo >> 16) & 0xFFu] ^ sql_crc_slice8[4][lo >> 24] ^
              sql_crc_slice8[3][hi & 0xFFu] ^ sql_crc_slice8[2][(hi >> 8) & 0xFFu] ^
              sql_crc_slice8[1][(hi >> 16) & 0xFFu] ^ sql_crc_slice8[0][hi >> 24];
    }
    for (; i < n; i++) crc = (crc >> 8) ^ sql_crc_slice8[0][(crc ^ data[i]) & 0xFFu];
    return ~crc;
}
#else
uint32_t sql_crc32_update(uint32_t crc, const uint8_t *data, size_t n) {
    size_t i;
    crc = ~crc;
    if (data == NULL) return ~crc;
    for (i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}
#endif

uint32_t sql_crc32(const uint8_t *data, size_t n) { return sql_crc32_update(0, data, n); }

/* ---- COBS -------------------------------------------------------------------------------- */

sql_status sql_cobs_encode(const uint8_t *in, int32_t n, uint8_t *out, int32_t cap,
                           int32_t *out_len) {
    int32_t i, o, code_at;
    uint8_t code;
    if ((in == NULL && n > 0) || out == NULL || out_len == NULL) return SQL_ERR_NULL;
    if (n < 0) return SQL_ERR_ARG;
    if (cap < SQL_COBS_MAX(n)) return SQL_ERR_BUFFER;
    code_at = 0;
    o = 1;
    code = 1;
    for (i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            code++;
            /* a full block of 254: close it; open the next one only if bytes follow (minimal) */
            if (code == 0xFF && i + 1 < n) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    *out_len = o;
    return SQL_OK;
}

sql_status sql_cobs_decode(const uint8_t *in, int32_t n, uint8_t *out, int32_t cap,
                           int32_t *out_len) {
    int32_t i = 0, o = 0, j, end;
    uint8_t code;
    if ((in == NULL && n > 0) || out == NULL || out_len == NULL) return SQL_ERR_NULL;
    if (n < 0) return SQL_ERR_ARG;
    while (i < n) {
        code = in[i];
        if (code == 0) return SQL_ERR_COBS;
        end = i + code;
        if (end > n) return SQL_ERR_COBS;
        if (o + (end - i - 1) > cap) return SQL_ERR_BUFFER;
        for (j = i + 1; j < end; j++) {
            if (in[j] == 0) return SQL_ERR_COBS;
            out[o++] = in[j]; /* o <= j always: in place is safe */
        }
        i = end;
        if (code != 0xFF && i < n) {
            if (o >= cap) return SQL_ERR_BUFFER;
            out[o++] = 0;
        }
    }
    *out_len = o;
    return SQL_OK;
}

/* ---- frames ------------------------------------------------------------------------------ */

static void put_u16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static int16_t get_i16(const uint8_t *p) {
    int32_t v = (int32_t)get_u16(p);
    return (int16_t)(v >= 0x8000 ? v - 0x10000 : v);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

sql_status sql_frame_encode(uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload,
                            int32_t len, uint8_t *raw, int32_t raw_cap, uint8_t *out,
                            int32_t out_cap, int32_t *out_len) {
    int32_t n;
    sql_status st;
    if ((payload == NULL && len > 0) || raw == NULL || out == NULL || out_len == NULL)
        return SQL_ERR_NULL;
    if (len < 0 || len > SQL_MAX_PAYLOAD) return SQL_ERR_ARG;
    if (raw_cap < SQL_OVERHEAD + len || out_cap < SQL_COBS_MAX(SQL_OVERHEAD + len) + 1)
        return SQL_ERR_BUFFER;
    raw[0] = version;
    raw[1] = type;
    put_u16(raw + 2, seq);
    put_u16(raw + 4, (uint32_t)len);
    if (len > 0 && payload != raw + SQL_HEADER) memmove(raw + SQL_HEADER, payload, (size_t)len);
    put_u32(raw + SQL_HEADER + len, sql_crc32(raw, (size_t)(SQL_HEADER + len)));
    st = sql_cobs_encode(raw, SQL_OVERHEAD + len, out, out_cap - 1, &n);
    if (st != SQL_OK) return st;
    out[n] = 0;
    *out_len = n + 1;
    return SQL_OK;
}

const char *const sql_decoder_counter_names[SQL_N_DECODER_COUNTERS] = {
    "bytes_rx", "frames_ok", "crc_errors", "cobs_errors", "runts",
    "length_errors", "oversized", "empty", "garbage_bytes"};

sql_status sql_decoder_init(sql_decoder *dec, int32_t max_payload) {
    if (dec == NULL) return SQL_ERR_NULL;
    if (max_payload < 0 || max_payload > SQL_MAX_PAYLOAD) return SQL_ERR_ARG;
    memset(dec, 0, sizeof *dec);
    dec->max_payload = max_payload;
    dec->max_encoded = SQL_COBS_MAX(SQL_OVERHEAD + max_payload);
    return SQL_OK;
}

void sql_decoder_reset_counters(sql_decoder *dec) {
    if (dec != NULL) memset(&dec->c, 0, sizeof dec->c);
}

uint32_t sql_decoder_dropped(const sql_decoder *dec) {
    return dec->c.cobs_errors + dec->c.runts + dec->c.crc_errors + dec->c.length_errors +
           dec->c.oversized;
}

void sql_decoder_counter_values(const sql_decoder *dec, uint32_t v[SQL_N_DECODER_COUNTERS]) {
    v[0] = dec->c.bytes_rx;
    v[1] = dec->c.frames_ok;
    v[2] = dec->c.crc_errors;
    v[3] = dec->c.cobs_errors;
    v[4] = dec->c.runts;
    v[5] = dec->c.length_errors;
    v[6] = dec->c.oversized;
    v[7] = dec->c.empty;
    v[8] = dec->c.garbage_bytes;
}

/* The lenient decode of at most the first 16 encoded bytes of an oversized frame, as the
 * Python decoder's _cobs_prefix: enough for the header's type and seq (not CRC-checked). */
static int32_t cobs_prefix_header(const uint8_t *head, int32_t n, uint8_t hdr[SQL_HEADER]) {
    int32_t i = 0, o = 0, j, end;
    uint8_t code;
    while (i < n && o < SQL_HEADER) {
        code = head[i];
        if (code == 0) break;
        end = i + code;
        for (j = i + 1; j < end && j < n && o < SQL_HEADER; j++) hdr[o++] = head[j];
        i = end;
        if (code != 0xFF && o < SQL_HEADER) hdr[o++] = 0;
    }
    return o >= SQL_HEADER;
}

static void finish(sql_decoder *dec, sql_event *ev) {
    int32_t n = dec->len, raw_len;
    uint32_t crc, length;
    dec->len = 0;
    if (dec->overflow) {
        uint8_t hdr[SQL_HEADER];
        ev->size = dec->overflow;
        dec->overflow = 0;
        dec->c.oversized++;
        dec->c.garbage_bytes += ev->size;
        ev->kind = SQL_EV_OVERSIZED;
        ev->has_header = cobs_prefix_header(dec->buf, dec->head_len, hdr);
        if (ev->has_header) {
            ev->version = hdr[0];
            ev->type = hdr[1];
            ev->seq = (uint16_t)get_u16(hdr + 2);
        }
        return;
    }
    if (n == 0) {
        dec->c.empty++;
        return;
    }
    if (sql_cobs_decode(dec->buf, n, dec->buf, (int32_t)sizeof dec->buf, &raw_len) != SQL_OK) {
        dec->c.cobs_errors++;
        dec->c.garbage_bytes += (uint32_t)n;
        return;
    }
    if (raw_len < SQL_OVERHEAD) {
        dec->c.runts++;
        dec->c.garbage_bytes += (uint32_t)n;
        return;
    }
    crc = get_u32(dec->buf + raw_len - SQL_CRC);
    if (crc != sql_crc32(dec->buf, (size_t)(raw_len - SQL_CRC))) {
        dec->c.crc_errors++;
        dec->c.garbage_bytes += (uint32_t)n;
        return;
    }
    ev->version = dec->buf[0];
    ev->type = dec->buf[1];
    ev->seq = (uint16_t)get_u16(dec->buf + 2);
    length = get_u16(dec->buf + 4);
    ev->len = raw_len - SQL_OVERHEAD;
    if (length != (uint32_t)ev->len || (int32_t)length > dec->max_payload) {
        dec->c.length_errors++;
        dec->c.garbage_bytes += (uint32_t)n;
        ev->kind = SQL_EV_BAD_LENGTH;
        return;
    }
    dec->c.frames_ok++;
    ev->payload = dec->buf + SQL_HEADER;
    ev->kind = SQL_EV_FRAME;
}

sql_status sql_decoder_feed(sql_decoder *dec, uint8_t byte, sql_event *ev) {
    if (dec == NULL || ev == NULL) return SQL_ERR_NULL;
    memset(ev, 0, sizeof *ev);
    dec->c.bytes_rx++;
    if (byte == 0) {
        finish(dec, ev);
        return SQL_OK;
    }
    if (dec->overflow) {
        dec->overflow++;
        return SQL_OK;
    }
    if (dec->len >= dec->max_encoded) {
        /* one byte beyond the longest frame: stop buffering, keep the first bytes for the seq */
        dec->buf[dec->len] = byte;
        dec->overflow = (uint32_t)dec->len + 1u;
        dec->head_len = dec->len + 1 < 16 ? dec->len + 1 : 16;
        dec->len = 0;
        return SQL_OK;
    }
    dec->buf[dec->len++] = byte;
    return SQL_OK;
}

/* ---- writer ------------------------------------------------------------------------------ */

void sql_put_bytes(sql_writer *w, const void *data, int32_t n) {
    if (n <= 0) return;
    if (w->overflow || w->len + n > w->cap) {
        w->overflow = 1;
        return;
    }
    memcpy(w->p + w->len, data, (size_t)n);
    w->len += n;
}

static void put8(sql_writer *w, uint32_t v) {
    uint8_t b = (uint8_t)v;
    sql_put_bytes(w, &b, 1);
}

static void put16(sql_writer *w, uint32_t v) {
    uint8_t b[2];
    put_u16(b, v);
    sql_put_bytes(w, b, 2);
}

static void put32(sql_writer *w, uint32_t v) {
    uint8_t b[4];
    put_u32(b, v);
    sql_put_bytes(w, b, 4);
}

void sql_put_str(sql_writer *w, const char *s) {
    if (s != NULL) sql_put_bytes(w, s, (int32_t)strlen(s));
}

void sql_put_dec(sql_writer *w, int32_t v) {
    char tmp[12];
    int32_t i = 12;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    sql_put_bytes(w, tmp + i, 12 - i);
}

void sql_put_hex2(sql_writer *w, uint8_t v) {
    static const char hex[] = "0123456789abcdef";
    char t[2];
    t[0] = hex[v >> 4];
    t[1] = hex[v & 15u];
    sql_put_bytes(w, t, 2);
}

/* u8 length + the bytes of s, cut to 255 (the Python side cuts the UTF-8 bytes the same way) */
static void put_lstr(sql_writer *w, const char *s) {
    size_t n = s == NULL ? 0 : strlen(s);
    if (n > 255) n = 255;
    put8(w, (uint32_t)n);
    sql_put_bytes(w, s, (int32_t)n);
}

static sql_status done(const sql_writer *w, int32_t *len) {
    if (w->overflow) return SQL_ERR_BUFFER;
    *len = w->len;
    return SQL_OK;
}

/* ---- packers ----------------------------------------------------------------------------- */

sql_status sql_pack_info(const sql_info *m, uint8_t *out, int32_t cap, int32_t *len) {
    sql_writer w;
    if (m == NULL || out == NULL || len == NULL) return SQL_ERR_NULL;
    w.p = out;
    w.cap = cap;
    w.len = 0;
    w.overflow = 0;
    put8(&w, m->flags);
    put8(&w, m->active_slot);
    put8(&w, m->backend);
    put8(&w, m->constellation);
    put32(&w, m->boot_id);
    put32(&w, m->uptime_ms);
    put16(&w, m->order);
    put16(&w, m->n_concepts);
    put16(&w, m->latent_dim);
    put16(&w, m->input_size);
    put16(&w, m->k);
    put16(&w, (uint16_t)m->snr_cdb);
    put8(&w, m->frac_bits_semantic);
    put8(&w, m->frac_bits_standard);
    put8(&w, m->config_flags);
    put8(&w, m->proto_version);
    put16(&w, m->max_payload);
    put16(&w, m->max_order);
    put16(&w, m->max_concepts);
    put16(&w, m->max_latent);
    put16(&w, m->max_input);
    put16(&w, m->max_chunk);
    put16(&w, m->staged_kib);
    sql_put_bytes(&w, m->bundle_id, 8);
    sql_put_bytes(&w, m->manifest_sha256, 32);
    put_lstr(&w, m->node_id);
    put_lstr(&w, m->runtime_version);
    put_lstr(&w, m->status);
    return done(&w, len);
}

sql_status sql_pack_snr_ack(int16_t snr_cdb, uint16_t k, uint16_t policy_k, uint8_t *out,
                            int32_t cap, int32_t *len) {
    if (out == NULL || len == NULL) return SQL_ERR_NULL;
    if (cap < 6) return SQL_ERR_BUFFER;
    put_u16(out, (uint16_t)snr_cdb);
    put_u16(out + 2, k);
    put_u16(out + 4, policy_k);
    *len = 6;
    return SQL_OK;
}

sql_status sql_pack_config_ack(uint8_t constellation, uint8_t flags, uint8_t frac_bits,
                               uint8_t *out, int32_t cap, int32_t *len) {
    if (out == NULL || len == NULL) return SQL_ERR_NULL;
    if (cap < 4) return SQL_ERR_BUFFER;
    out[0] = constellation;
    out[1] = flags;
    out[2] = frac_bits;
    out[3] = 0;
    *len = 4;
    return SQL_OK;
}

sql_status sql_pack_stats(const char *const *names, const uint32_t *values, int32_t n_counters,
                          const sql_stage *stages, int32_t n_stages, uint8_t *out, int32_t cap,
                          int32_t *len) {
    sql_writer w;
    int32_t i;
    if (out == NULL || len == NULL || (n_counters > 0 && (names == NULL || values == NULL)) ||
        (n_stages > 0 && stages == NULL))
        return SQL_ERR_NULL;
    if (n_counters < 0 || n_counters > 255 || n_stages < 0 || n_stages > 255) return SQL_ERR_ARG;
    w.p = out;
    w.cap = cap;
    w.len = 0;
    w.overflow = 0;
    put8(&w, (uint32_t)n_counters);
    for (i = 0; i < n_counters; i++) {
        put_lstr(&w, names[i]);
        put32(&w, values[i]);
    }
    put8(&w, (uint32_t)n_stages);
    for (i = 0; i < n_stages; i++) {
        put_lstr(&w, stages[i].name);
        put32(&w, stages[i].count);
        put32(&w, stages[i].mean_us);
        put32(&w, stages[i].p50_us);
        put32(&w, stages[i].p99_us);
        put32(&w, stages[i].max_us);
    }
    return done(&w, len);
}

sql_status sql_pack_symbols(uint32_t sample_seq, uint16_t k, uint8_t frac_bits,
                            uint8_t constellation, const uint16_t *positions,
                            const uint16_t *indices, const int16_t *iq,
                            const uint32_t *timings_us, int32_t n_timings, uint8_t *out,
                            int32_t cap, int32_t *len) {
    sql_writer w;
    int32_t i;
    if (out == NULL || len == NULL || (k > 0 && (positions == NULL || iq == NULL)) ||
        (n_timings > 0 && timings_us == NULL))
        return SQL_ERR_NULL;
    if (n_timings < 0 || n_timings > 255) return SQL_ERR_ARG;
    w.p = out;
    w.cap = cap;
    w.len = 0;
    w.overflow = 0;
    put32(&w, sample_seq);
    put16(&w, k);
    put8(&w, frac_bits);
    put8(&w, constellation);
    put8(&w, indices != NULL ? SQL_CFG_INDICES : 0u);
    put8(&w, (uint32_t)n_timings);
    for (i = 0; i < k; i++) put16(&w, positions[i]);
    if (indices != NULL)
        for (i = 0; i < k; i++) put16(&w, indices[i]);
    for (i = 0; i < 2 * (int32_t)k; i++) put16(&w, (uint16_t)iq[i]);
    for (i = 0; i < n_timings; i++) put32(&w, timings_us[i]);
    return done(&w, len);
}

sql_status sql_pack_error(uint16_t code, uint8_t ref_type, uint32_t ref_sample, const char *text,
                          int32_t text_len, uint8_t *out, int32_t cap, int32_t *len) {
    sql_writer w;
    if (out == NULL || len == NULL || (text == NULL && text_len > 0)) return SQL_ERR_NULL;
    if (text_len < 0) return SQL_ERR_ARG;
    if (text_len > SQL_MAX_TEXT) text_len = SQL_MAX_TEXT;
    w.p = out;
    w.cap = cap;
    w.len = 0;
    w.overflow = 0;
    put16(&w, code);
    put8(&w, ref_type);
    put8(&w, 0);
    put32(&w, ref_sample);
    sql_put_bytes(&w, text, text_len);
    return done(&w, len);
}

/* ---- requests ---------------------------------------------------------------------------- */

const char *sql_type_name(uint8_t type) {
    switch (type) {
    case SQL_HELLO: return "HELLO";
    case SQL_PING: return "PING";
    case SQL_STATS_REQ: return "STATS_REQ";
    case SQL_SNR_FEEDBACK: return "SNR_FEEDBACK";
    case SQL_CONFIG: return "CONFIG";
    case SQL_INPUT: return "INPUT";
    case SQL_FLASH_BEGIN: return "FLASH_BEGIN";
    case SQL_FLASH_CHUNK: return "FLASH_CHUNK";
    case SQL_FLASH_COMMIT: return "FLASH_COMMIT";
    case SQL_FLASH_ABORT: return "FLASH_ABORT";
    case SQL_INFO: return "INFO";
    case SQL_PONG: return "PONG";
    case SQL_STATS: return "STATS";
    case SQL_SNR_ACK: return "SNR_ACK";
    case SQL_CONFIG_ACK: return "CONFIG_ACK";
    case SQL_SYMBOLS: return "SYMBOLS";
    case 0xA0: return "FLASH_BEGIN_ACK";
    case 0xA1: return "FLASH_CHUNK_ACK";
    case 0xA2: return "FLASH_COMMIT_ACK";
    case 0xA3: return "FLASH_ABORT_ACK";
    case SQL_ERROR: return "ERROR";
    default: return NULL;
    }
}

/* The payload rule of each request: the Python class name (for the texts), the size and
 * whether it is exact (else a minimum). */
static int32_t request_rule(uint8_t type, const char **name, int32_t *size, int32_t *exact) {
    *exact = 1;
    switch (type) {
    case SQL_HELLO: *name = "Hello"; *size = 0; return 1;
    case SQL_PING: *name = "Ping"; *size = 0; *exact = 0; return 1;
    case SQL_STATS_REQ: *name = "StatsRequest"; *size = 1; return 1;
    case SQL_SNR_FEEDBACK: *name = "SnrFeedback"; *size = 4; return 1;
    case SQL_CONFIG: *name = "Config"; *size = 2; return 1;
    case SQL_INPUT: *name = "Input"; *size = 4; *exact = 0; return 1;
    case SQL_FLASH_BEGIN: *name = "FlashBegin"; *size = 38; return 1;
    case SQL_FLASH_CHUNK: *name = "FlashChunk"; *size = 9; *exact = 0; return 1;
    case SQL_FLASH_COMMIT: *name = "FlashCommit"; *size = 32; return 1;
    case SQL_FLASH_ABORT: *name = "FlashAbort"; *size = 0; return 1;
    default: return 0;
    }
}

sql_status sql_parse_request(uint8_t version, uint8_t type, const uint8_t *payload, int32_t len,
                             sql_request *req, uint16_t *err_code, char *text, int32_t text_cap,
                             int32_t *text_len) {
    sql_writer w;
    const char *name = NULL;
    int32_t size = 0, exact = 1;
    if ((payload == NULL && len > 0) || req == NULL || err_code == NULL || text == NULL ||
        text_len == NULL)
        return SQL_ERR_NULL;
    if (text_cap < 64 || len < 0) return SQL_ERR_ARG;
    memset(req, 0, sizeof *req);
    req->type = type;
    *err_code = 0;
    *text_len = 0;
    w.p = (uint8_t *)text;
    w.cap = text_cap;
    w.len = 0;
    w.overflow = 0;
    if (version != SQL_VERSION) {
        *err_code = SQL_E_VERSION;
        sql_put_str(&w, "protocol version ");
        sql_put_dec(&w, version);
        sql_put_str(&w, "; this side speaks 1");
    } else if (sql_type_name(type) == NULL) {
        *err_code = SQL_E_UNKNOWN_TYPE;
        sql_put_str(&w, "unknown message type 0x");
        sql_put_hex2(&w, type);
    } else if (!request_rule(type, &name, &size, &exact)) {
        /* a reply type sent as a request (its payload is not parsed) */
        *err_code = SQL_E_UNKNOWN_TYPE;
        sql_put_str(&w, sql_type_name(type));
        sql_put_str(&w, " is a node reply, not a request");
    } else if (exact ? len != size : len < size) {
        *err_code = SQL_E_BAD_LENGTH;
        sql_put_str(&w, name);
        sql_put_str(&w, ": payload of ");
        sql_put_dec(&w, len);
        sql_put_str(&w, exact ? " bytes, expected " : " bytes, expected at least ");
        sql_put_dec(&w, size);
    } else {
        switch (type) {
        case SQL_STATS_REQ: req->stats_reset = payload[0]; break;
        case SQL_SNR_FEEDBACK:
            req->snr_cdb = get_i16(payload);
            req->k_override = (uint16_t)get_u16(payload + 2);
            break;
        case SQL_CONFIG:
            req->constellation = payload[0];
            req->config_flags = payload[1];
            break;
        case SQL_INPUT:
            req->sample_seq = get_u32(payload);
            req->data = payload + 4;
            req->data_len = len - 4;
            break;
        default:
            req->data = payload;
            req->data_len = len;
            break;
        }
    }
    *text_len = w.len;
    return SQL_OK;
}

/* ---- bulk receive ------------------------------------------------------------------------ */

/* Append a run of non-zero bytes: the state n calls of sql_decoder_feed would leave. */
static void append_run(sql_decoder *dec, const uint8_t *data, int32_t run) {
    int32_t space;
    if (dec->overflow) {
        dec->overflow += (uint32_t)run;
        return;
    }
    space = dec->max_encoded - dec->len;
    if (run <= space) {
        memcpy(dec->buf + dec->len, data, (size_t)run);
        dec->len += run;
        return;
    }
    memcpy(dec->buf + dec->len, data, (size_t)space);
    dec->len += space;
    /* the byte after the longest frame: as sql_decoder_feed, keep the first bytes for the seq */
    dec->buf[dec->len] = data[space];
    dec->overflow = (uint32_t)dec->len + 1u + (uint32_t)(run - space - 1);
    dec->head_len = dec->len + 1 < 16 ? dec->len + 1 : 16;
    dec->len = 0;
}

sql_status sql_decoder_feed_buf(sql_decoder *dec, const uint8_t *data, int32_t n, int32_t *used,
                                sql_event *ev) {
    const uint8_t *z;
    int32_t run;
    if (dec == NULL || ev == NULL || used == NULL || (data == NULL && n > 0)) return SQL_ERR_NULL;
    if (n < 0) return SQL_ERR_ARG;
    memset(ev, 0, sizeof *ev);
    *used = 0;
    if (n == 0) return SQL_OK;
    z = (const uint8_t *)memchr(data, 0, (size_t)n);
    run = z != NULL ? (int32_t)(z - data) : n;
    if (run > 0) append_run(dec, data, run);
    dec->c.bytes_rx += (uint32_t)run;
    *used = run;
    if (z != NULL) {
        dec->c.bytes_rx++;
        *used = run + 1;
        finish(dec, ev);
    }
    return SQL_OK;
}
