/*
 * main.c - the semqam node as bare-metal firmware: the model built in (sqm_model.c, generated
 * from the bundle), the request table of sq_server over the UART, one banner line at start.
 *
 * Banner (then only frames): "SEMQAM-MCU board=<board> bundle=<id> manifest=<sha256 hex>
 * requant=<q31|double> ram_stack=<bytes>\n" followed by a 0x00 delimiter, so a frame decoder
 * that sees the banner counts it as one dropped frame and is in sync.
 */
#include <string.h>

#include "board.h"
#include "sq_server.h"
#include "sqm_model.h"

#ifndef BOARD_NAME
#define BOARD_NAME "mps2"
#endif
#if SQM_DOUBLE_SCALES
#define REQUANT "double"
#else
#define REQUANT "q31"
#endif

static sqs_server server;
/* STATS extras: the stack high-water mark (bytes of the painted stack ever written), the stack
   size, the UART's RX overruns */
static const char *const platform_names[3] = {"stack_bytes", "stack_size", "rx_overruns"};

static uint32_t platform_counter(int32_t i) {
    switch (i) {
    case 0: return board_stack_high_water();
    case 1: return board_stack_size();
    default: return board_rx_overruns();
    }
}

static int8_t scratch[SQM_ENCODE_SCRATCH_BYTES];
static int32_t norms[SQM_ORDER];

static void put_hex(const uint8_t *p, int32_t n) {
    static const char hex[] = "0123456789abcdef";
    char out[2];
    int32_t i;
    for (i = 0; i < n; i++) {
        out[0] = hex[p[i] >> 4];
        out[1] = hex[p[i] & 15u];
        board_write((const uint8_t *)out, 2);
    }
}

int main(void) {
    sqs_config cfg;
    sq_status st;
    const char *kernels;
    const uint8_t *reply;
    int32_t len;
    uint8_t b, zero = 0;
    board_init();
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
    cfg.node_id = BOARD_NAME;
    cfg.runtime_version = "semqam-mcu 0.1.0 (" REQUANT ")";
    cfg.now_us = board_now_us;
    /* boot_id: the timer is not random under QEMU; mix the clock at start with a per-build
       constant, enough to tell a restart of a running session (the clock moves) */
    cfg.boot_id = board_now_us(NULL) * 2654435761u ^ 0x5EC0A11Du;
    cfg.scratch = scratch;
    cfg.scratch_bytes = (int32_t)sizeof scratch;
    cfg.norms = norms;
    cfg.n_platform_counters = 3;
    cfg.platform_counter_names = platform_names;
    cfg.platform_counter = platform_counter;
    /* Choose the kernels now (bare-metal startup runs no constructors), so the first sample
       costs what every other one does. */
    kernels = sq_port_name(sq_port_active());
    st = sqs_init(&server, &cfg);
    board_puts("SEMQAM-MCU board=" BOARD_NAME " bundle=");
    put_hex(sqm_bundle_id, 8);
    board_puts(" manifest=");
    put_hex(sqm_manifest_sha256, 32);
    board_puts(" requant=" REQUANT " kernels=");
    board_puts(kernels);
    board_puts(" model=");
    board_puts(st == SQ_OK ? "ok" : sq_status_name(st));
    board_puts("\n");
    board_write(&zero, 1);
    for (;;) {
        (void)board_read(&b, 1);
        (void)sqs_feed(&server, b, &reply, &len);
        if (len > 0) board_write(reply, len);
    }
}
