/*
 * sq_link.h - the node link protocol (docs/protocol.md) in portable C99: CRC-32, COBS, frame
 * encoding, the streaming frame decoder with the counters of the Python FrameDecoder, and the
 * packers / parsers of the messages a node answers.
 *
 * One implementation for every C node: the Cortex-M firmware (device_runtime/mcu/) runs it, and
 * the host tests (tests/test_c_link.py) check it byte for byte against semqam_node.protocol.
 *
 * Rules (as the core, semqam_core.h): C99, no dynamic allocation, no libc beyond string.h /
 * stdint.h / stddef.h, caller-owned buffers, every function returns an sql_status (0 = OK,
 * negative = error) and checks its buffers before writing.
 */
#ifndef SQ_LINK_H
#define SQ_LINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants of the protocol (docs/protocol.md section 1) ------------------------------- */
#define SQL_VERSION 1
#define SQL_MAX_PAYLOAD 4096
#define SQL_HEADER 6                              /* version u8, type u8, seq u16, length u16 */
#define SQL_CRC 4
#define SQL_OVERHEAD (SQL_HEADER + SQL_CRC)       /* 10 bytes around the payload before COBS */
#define SQL_COBS_MAX(n) ((n) + (n) / 254 + 1)     /* longest COBS encoding of n bytes */
#define SQL_MAX_RAW (SQL_OVERHEAD + SQL_MAX_PAYLOAD)             /* 4106 */
#define SQL_MAX_FRAME SQL_COBS_MAX(SQL_MAX_RAW)                  /* 4123 encoded bytes */
#define SQL_MAX_WIRE (SQL_MAX_FRAME + 1)                         /* + the 0x00 delimiter */
#define SQL_MAX_TEXT 1024                         /* longest ERROR text */
#define SQL_NO_SAMPLE 0xFFFFFFFFu
#define SQL_MAX_CHUNK (SQL_MAX_PAYLOAD - 8)       /* largest FLASH_CHUNK data */
#define SQL_SNR_MIN_CDB (-10000)
#define SQL_SNR_MAX_CDB 10000

/* message types (section 3) */
#define SQL_HELLO 0x01
#define SQL_PING 0x02
#define SQL_STATS_REQ 0x03
#define SQL_SNR_FEEDBACK 0x04
#define SQL_CONFIG 0x05
#define SQL_INPUT 0x10
#define SQL_FLASH_BEGIN 0x20
#define SQL_FLASH_CHUNK 0x21
#define SQL_FLASH_COMMIT 0x22
#define SQL_FLASH_ABORT 0x23
#define SQL_REPLY_BIT 0x80
#define SQL_INFO 0x81
#define SQL_PONG 0x82
#define SQL_STATS 0x83
#define SQL_SNR_ACK 0x84
#define SQL_CONFIG_ACK 0x85
#define SQL_SYMBOLS 0x90
#define SQL_ERROR 0xFF

/* ERROR codes (section 3.3) */
#define SQL_E_BAD_FRAME 1
#define SQL_E_OVERSIZED 2
#define SQL_E_VERSION 3
#define SQL_E_UNKNOWN_TYPE 4
#define SQL_E_BAD_LENGTH 5
#define SQL_E_RANGE 6
#define SQL_E_NO_BUNDLE 7
#define SQL_E_NO_ENCODER 8
#define SQL_E_ENCODE 9
#define SQL_E_FLASH_STATE 10
#define SQL_E_INTERNAL 19

/* CONFIG / SYMBOLS flags, INFO flags */
#define SQL_CFG_INDICES 0x01
#define SQL_INFO_ACTIVE 0x01
#define SQL_INFO_ENCODER 0x02
#define SQL_INFO_BUILT_IN 0x20 /* the bundle is built into the firmware: FLASH_* refused */
#define SQL_INFO_TRUST 0x04
#define SQL_INFO_TRANSFER 0x08

/* ---- status ------------------------------------------------------------------------------ */
typedef int32_t sql_status;
#define SQL_OK 0
#define SQL_ERR_NULL (-1)   /* a required pointer is NULL */
#define SQL_ERR_ARG (-2)    /* an argument out of range (seq, payload size, K, string length) */
#define SQL_ERR_BUFFER (-3) /* the output buffer is too small */
#define SQL_ERR_COBS (-4)   /* malformed COBS: a code byte past the end, or a 0x00 inside */

/* ---- CRC-32 / COBS ----------------------------------------------------------------------- */

/* CRC-32/IEEE 802.3 (reflected, poly 0xEDB88320, init and xorout 0xFFFFFFFF) = zlib.crc32.
 * Incremental: crc = sql_crc32_update(0, a, na); crc = sql_crc32_update(crc, b, nb). */
uint32_t sql_crc32_update(uint32_t crc, const uint8_t *data, size_t n);
uint32_t sql_crc32(const uint8_t *data, size_t n);

/* COBS-encode n bytes into out (cap bytes, SQL_COBS_MAX(n) always suffice), minimal like the
 * Python encoder (a final block of exactly 254 bytes gets no trailing 01); no delimiter.
 * in and out must not overlap. */
sql_status sql_cobs_encode(const uint8_t *in, int32_t n, uint8_t *out, int32_t cap,
                           int32_t *out_len);

/* Decode one COBS frame (no delimiter). out == in (in place) is allowed: the output is never
 * longer than the input. SQL_ERR_COBS on a 0x00 or a block running past the end. */
sql_status sql_cobs_decode(const uint8_t *in, int32_t n, uint8_t *out, int32_t cap,
                           int32_t *out_len);

/* ---- frames ------------------------------------------------------------------------------ */

/* The wire bytes of one frame, COBS(header | payload | crc32) 0x00, delimiter included.
 * raw: scratch of >= SQL_OVERHEAD + len bytes (may hold the payload already at offset
 * SQL_HEADER: payload == raw + SQL_HEADER is allowed, nothing is copied then).
 * SQL_ERR_ARG for len > SQL_MAX_PAYLOAD. */
sql_status sql_frame_encode(uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload,
                            int32_t len, uint8_t *raw, int32_t raw_cap, uint8_t *out,
                            int32_t out_cap, int32_t *out_len);

/* Decoder counters, in the order of semqam_node.protocol.COUNTERS (plus dropped). */
typedef struct {
    uint32_t bytes_rx, frames_ok, crc_errors, cobs_errors, runts, length_errors, oversized, empty,
        garbage_bytes;
} sql_counters;

#define SQL_N_DECODER_COUNTERS 9
extern const char *const sql_decoder_counter_names[SQL_N_DECODER_COUNTERS];

/* What a byte completed. */
#define SQL_EV_NONE 0       /* nothing (mid-frame, or a dropped / empty frame) */
#define SQL_EV_FRAME 1      /* a CRC-valid frame: version, type, seq, payload, len */
#define SQL_EV_OVERSIZED 2  /* frame longer than the limit: size, has_header (type, seq unchecked) */
#define SQL_EV_BAD_LENGTH 3 /* CRC-valid, length field wrong: type, seq, len = bytes present */

typedef struct {
    int32_t kind;
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    int32_t has_header; /* SQL_EV_OVERSIZED: 1 when the first bytes decode to a header */
    const uint8_t *payload; /* SQL_EV_FRAME: points into the decoder, valid until next byte */
    int32_t len;
    uint32_t size; /* SQL_EV_OVERSIZED: encoded bytes of the dropped frame */
} sql_event;

/* The streaming decoder (docs/protocol.md, "Receiving"): one static buffer of SQL_MAX_FRAME. */
typedef struct {
    uint8_t buf[SQL_MAX_FRAME + 1]; /* + the byte that makes a frame oversized */
    int32_t len;
    int32_t max_payload;
    int32_t max_encoded;
    uint32_t overflow; /* bytes seen of the current oversized frame (0: none) */
    int32_t head_len;  /* its first bytes kept in buf (<= 16), for the header */
    sql_counters c;
} sql_decoder;

/* max_payload in [0, SQL_MAX_PAYLOAD] (the protocol's is SQL_MAX_PAYLOAD). */
sql_status sql_decoder_init(sql_decoder *dec, int32_t max_payload);
/* Consume one byte; *ev says what it completed. */
sql_status sql_decoder_feed(sql_decoder *dec, uint8_t byte, sql_event *ev);
/* Consume data[0..n) up to and including the first 0x00 delimiter (or all of it when there is
 * none): *used says how many bytes were taken, *ev what the delimiter completed (SQL_EV_NONE
 * without one). The same state and counters as *used calls of sql_decoder_feed, but a run of
 * frame bytes is copied at once (memchr + memcpy): the receive path of a node with a UART FIFO
 * or an OS read buffer. Loop until the bytes are used up. */
sql_status sql_decoder_feed_buf(sql_decoder *dec, const uint8_t *data, int32_t n, int32_t *used,
                                sql_event *ev);
/* Zero the counters (a partial frame in progress is kept). */
void sql_decoder_reset_counters(sql_decoder *dec);
/* dropped = cobs_errors + runts + crc_errors + length_errors + oversized */
uint32_t sql_decoder_dropped(const sql_decoder *dec);
/* the counters in the order of sql_decoder_counter_names */
void sql_decoder_counter_values(const sql_decoder *dec, uint32_t values[SQL_N_DECODER_COUNTERS]);

/* ---- message payloads -------------------------------------------------------------------- */

/* A byte writer over a caller buffer; a write past cap sets overflow, which the packers turn
 * into SQL_ERR_BUFFER. */
typedef struct {
    uint8_t *p;
    int32_t cap;
    int32_t len;
    int32_t overflow;
} sql_writer;

/* INFO (section 3.1): the 82-byte fixed part and the three strings. */
typedef struct {
    uint8_t flags, active_slot, backend, constellation;
    uint32_t boot_id, uptime_ms;
    uint16_t order, n_concepts, latent_dim, input_size, k;
    int16_t snr_cdb;
    uint8_t frac_bits_semantic, frac_bits_standard, config_flags, proto_version;
    uint16_t max_payload, max_order, max_concepts, max_latent, max_input, max_chunk, staged_kib;
    uint8_t bundle_id[8];
    uint8_t manifest_sha256[32];
    const char *node_id, *runtime_version, *status; /* NUL-terminated, cut to 255 bytes */
} sql_info;

#define SQL_INFO_FIXED 82

/* One stage summary of STATS (section 3.4). */
typedef struct {
    const char *name;
    uint32_t count, mean_us, p50_us, p99_us, max_us;
} sql_stage;

sql_status sql_pack_info(const sql_info *info, uint8_t *out, int32_t cap, int32_t *len);
sql_status sql_pack_snr_ack(int16_t snr_cdb, uint16_t k, uint16_t policy_k, uint8_t *out,
                            int32_t cap, int32_t *len);
sql_status sql_pack_config_ack(uint8_t constellation, uint8_t flags, uint8_t frac_bits,
                               uint8_t *out, int32_t cap, int32_t *len);
/* STATS: n_counters names (NUL-terminated, <= 255 bytes) and u32 values, then the stages. */
sql_status sql_pack_stats(const char *const *names, const uint32_t *values, int32_t n_counters,
                          const sql_stage *stages, int32_t n_stages, uint8_t *out, int32_t cap,
                          int32_t *len);
/* SYMBOLS (section 3.2): indices may be NULL (flags bit 0 clear); iq holds 2k int16. */
sql_status sql_pack_symbols(uint32_t sample_seq, uint16_t k, uint8_t frac_bits,
                            uint8_t constellation, const uint16_t *positions,
                            const uint16_t *indices, const int16_t *iq,
                            const uint32_t *timings_us, int32_t n_timings, uint8_t *out,
                            int32_t cap, int32_t *len);
/* ERROR (section 3.3): text of text_len bytes, cut to SQL_MAX_TEXT. */
sql_status sql_pack_error(uint16_t code, uint8_t ref_type, uint32_t ref_sample, const char *text,
                          int32_t text_len, uint8_t *out, int32_t cap, int32_t *len);

/* ---- requests ---------------------------------------------------------------------------- */

/* A parsed request; which fields are set depends on type. */
typedef struct {
    uint8_t type;
    uint8_t stats_reset;                 /* STATS_REQ */
    int16_t snr_cdb;                     /* SNR_FEEDBACK */
    uint16_t k_override;
    uint8_t constellation, config_flags; /* CONFIG */
    uint32_t sample_seq;                 /* INPUT */
    const uint8_t *data;                 /* INPUT sample / PING data (into the frame) */
    int32_t data_len;
} sql_request;

/*
 * Parse the payload of a valid frame as a request, with the checks and order of
 * semqam_node.protocol.decode_message: version, known type, payload length (a reply type sent
 * as a request is refused as UNKNOWN_TYPE without parsing its payload; the Python node parses it
 * first and may answer BAD_LENGTH instead). On a protocol error *err_code is SQL_E_VERSION, SQL_E_UNKNOWN_TYPE or
 * SQL_E_BAD_LENGTH and text[0..*text_len) says what was wrong, in the Python node's words
 * (e.g. "SnrFeedback: payload of 3 bytes, expected 4"); otherwise *err_code = 0. The FLASH_*
 * requests parse too (lengths checked as the protocol says), so a node can answer them.
 * Returns SQL_OK either way; an error status only for NULL pointers or text_cap < 64.
 */
sql_status sql_parse_request(uint8_t version, uint8_t type, const uint8_t *payload, int32_t len,
                             sql_request *req, uint16_t *err_code, char *text, int32_t text_cap,
                             int32_t *text_len);

/* Text helpers for building ERROR texts without stdio: append a NUL-terminated string, a signed
 * decimal, or a two-digit lower-case hex byte. */
void sql_put_bytes(sql_writer *w, const void *data, int32_t n);
void sql_put_str(sql_writer *w, const char *s);
void sql_put_dec(sql_writer *w, int32_t v);
void sql_put_hex2(sql_writer *w, uint8_t v);

/* The message name of a type as semqam_node.protocol.type_name gives it ("SNR_FEEDBACK"), or
 * NULL for an unknown type. */
const char *sql_type_name(uint8_t type);

#ifdef __cplusplus
}
#endif

#endif /* SQ_LINK_H */
