/*
 * host_node.c - the C node (sq_server over sq_link and the C core) with a generated model, as a
 * shared library for the host tests (device_runtime/tests/test_c_link.py, via ctypes): the same
 * request code the Cortex-M firmware runs, fed the Python protocol's frames. The clock is a
 * counter (+1 us per reading) so replies are deterministic.
 */
#include <string.h>

#include "sq_server.h"
#include "sqm_model.h"

static sqs_server server;
static int8_t scratch[SQM_ENCODE_SCRATCH_BYTES];
static int32_t norms[SQM_ORDER];
static uint32_t ticks;

static uint32_t clock_steps[64];
static int32_t n_clock_steps, clock_at;

static uint32_t clock_us(void *ctx) {
    uint32_t now = ticks;
    (void)ctx;
    ticks += n_clock_steps > 0 ? clock_steps[clock_at++ % n_clock_steps] : 1u;
    return now;
}

/* From now on the clock advances by steps[0], steps[1], ... (cyclic, n <= 64) per reading
 * instead of 1 us, so the STATS arithmetic can be tested on chosen, large stage times. */
void sqh_clock_steps(const uint32_t *steps, int32_t n) {
    n_clock_steps = n < 0 ? 0 : (n > 64 ? 64 : n);
    memcpy(clock_steps, steps, (size_t)n_clock_steps * sizeof steps[0]);
    clock_at = 0;
}

int32_t sqh_init(uint32_t boot_id) {
    sqs_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.graph = &sqm_graph;
    cfg.codebook = sqm_codebook;
    cfg.order = SQM_ORDER;
    cfg.constellation[0] = sqm_const_semantic;
    cfg.constellation[1] = sqm_const_standard;
    cfg.frac_bits[0] = SQM_FRAC_SEMANTIC;
    cfg.frac_bits[1] = SQM_FRAC_STANDARD;
    cfg.policy = &sqm_policy;
    cfg.manifest_sha256 = sqm_manifest_sha256;
    cfg.bundle_id = sqm_bundle_id;
    cfg.node_id = "host-c";
    cfg.runtime_version = "0.1.0";
    cfg.boot_id = boot_id;
    cfg.now_us = clock_us;
    cfg.scratch = scratch;
    cfg.scratch_bytes = (int32_t)sizeof scratch;
    cfg.norms = norms;
    ticks = 0;
    n_clock_steps = 0;
    return sqs_init(&server, &cfg);
}

/* Feed n bytes; the replies' wire bytes go to out (cap bytes); returns their length, or -1 when
 * out is too small. */
int32_t sqh_feed(const uint8_t *data, int32_t n, uint8_t *out, int32_t cap) {
    int32_t i, len, total = 0;
    const uint8_t *reply;
    for (i = 0; i < n; i++) {
        (void)sqs_feed(&server, data[i], &reply, &len);
        if (len > 0) {
            if (total + len > cap) return -1;
            memcpy(out + total, reply, (size_t)len);
            total += len;
        }
    }
    return total;
}

/* The decoder's counters (sql_decoder_counter_names order), then dropped. */
void sqh_counters(uint32_t *values) {
    sql_decoder_counter_values(&server.dec, values);
    values[SQL_N_DECODER_COUNTERS] = sql_decoder_dropped(&server.dec);
}
