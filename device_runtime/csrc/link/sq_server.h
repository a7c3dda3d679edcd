/*
 * sq_server.h - the request table of a C node (docs/protocol.md sections 2-3) over sq_link and
 * the C core's prepared entries: HELLO -> INFO, PING -> PONG, STATS_REQ -> STATS,
 * SNR_FEEDBACK -> SNR_ACK, CONFIG -> CONFIG_ACK, INPUT -> SYMBOLS with per-stage timings.
 * FLASH_* are answered with ERROR FLASH_STATE: the bundle is built into the image.
 *
 * Portable C99 and host-testable: the firmware (device_runtime/mcu/) feeds it UART bytes, the
 * host test feeds it the Python protocol's frames. All memory is in the sqs_server struct and
 * the caller's scratch; a clock callback gives microseconds for the timings.
 */
#ifndef SQ_SERVER_H
#define SQ_SERVER_H

#include "semqam_core.h"
#include "sq_link.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SQS_N_STAGES 5     /* neural select quantize map frame (conventions.TIMING_STAGES) */
#define SQS_N_COUNTERS 9   /* frames_tx bytes_tx requests samples_encoded errors_sent ... */
#define SQS_MAX_PLATFORM_COUNTERS 4
#ifndef SQS_TIMING_WINDOW
#define SQS_TIMING_WINDOW 64 /* samples per stage kept for p50 / p99 (the Linux node: 4096) */
#endif

/* What the firmware is built with: the model, its identity and the platform hooks. */
typedef struct {
    const sq_graph *graph;
    const int8_t *codebook; /* [order][latent_dim] */
    int32_t order;
    const int16_t *constellation[2]; /* semantic, standard: int16 [order][2] */
    uint8_t frac_bits[2];
    const sq_policy *policy;
    const uint8_t *manifest_sha256; /* [32] */
    const uint8_t *bundle_id;       /* [8] */
    const char *node_id;
    const char *runtime_version;
    uint32_t boot_id;
    uint32_t (*now_us)(void *ctx); /* a free-running microsecond clock (wraps) */
    void *clock_ctx;
    int8_t *scratch; /* encode scratch, >= the prepared graph's need */
    int32_t scratch_bytes;
    int32_t *norms; /* [order] codebook norms */
    /* optional platform counters appended to STATS (the firmware's stack high-water mark) */
    int32_t n_platform_counters; /* <= SQS_MAX_PLATFORM_COUNTERS */
    const char *const *platform_counter_names;
    uint32_t (*platform_counter)(int32_t i);
} sqs_config;

typedef struct {
    uint32_t ring[SQS_TIMING_WINDOW];
    uint32_t count, max;
    uint64_t total;
} sqs_timing;

typedef struct {
    sqs_config cfg;
    sql_decoder dec;
    sq_graph_prepared graph;
    sq_codebook codebook;
    sq_status load_status; /* SQ_OK when the encoder loaded */
    uint8_t constellation; /* 1 semantic, 2 standard */
    uint8_t cfg_flags;
    int16_t snr_cdb;
    uint16_t k_override;
    uint16_t policy_k;
    uint32_t started_us;
    uint32_t uptime_ms, last_us; /* uptime accumulated across clock wraps */
    uint32_t counters[SQS_N_COUNTERS];
    sqs_timing timing[SQS_N_STAGES];
    uint16_t positions[SQ_MAX_N];
    uint16_t indices[SQ_MAX_N];
    int16_t iq[2 * SQ_MAX_N];
    char text[160];
    uint8_t raw[SQL_MAX_RAW];  /* header + payload + CRC of the reply */
    uint8_t tx[SQL_MAX_WIRE];  /* its wire bytes */
} sqs_server;

/* Prepare the graph and codebook once (SQ_ERR_* of the core when the model does not load: the
 * node still answers, INPUT with ERROR NO_ENCODER). */
sq_status sqs_init(sqs_server *s, const sqs_config *cfg);

/* Feed one received byte. When it completes a request (or a rejected frame the node answers),
 * *reply points to the reply's wire bytes (valid until the next call) and *reply_len > 0;
 * otherwise *reply_len = 0. The "frame" stage of an INPUT runs from its delimiter (COBS, CRC,
 * parsing) to the start of the encoder, as on the Linux node. */
sq_status sqs_feed(sqs_server *s, uint8_t byte, const uint8_t **reply, int32_t *reply_len);

#ifdef __cplusplus
}
#endif

#endif /* SQ_SERVER_H */
