/*
 * selftest.c - a second, tiny image for the mps2 boards: prints the core's self-test digest
 * ("SEMQAM-SELFTEST board=<board> digest=<8 hex>\n") and idles. Built with `make selftest`;
 * device_runtime/tests/test_mcu.py compares it with the host's.
 */
#include "board.h"
#include "sq_selftest.h"

#ifndef BOARD_NAME
#define BOARD_NAME "mps2"
#endif

int main(void) {
    static const char hex[] = "0123456789abcdef";
    char out[8];
    uint32_t d;
    int i;
    board_init();
    d = sq_self_test_digest();
    for (i = 0; i < 8; i++) out[i] = hex[(d >> (28 - 4 * i)) & 15u];
    board_puts("SEMQAM-SELFTEST board=" BOARD_NAME " digest=");
    board_write((const uint8_t *)out, 8);
    board_puts("\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
