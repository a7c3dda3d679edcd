/*
 * startup.c - vector table and reset handler for the mps2 boards (Cortex-M4F / Cortex-M7):
 * copy .data, zero .bss, paint the stack (for the high-water mark), enable the FPU, call main.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];
int main(void);
void reset_handler(void);
void uart0_rx_handler(void);

static void default_handler(void) {
    for (;;) {
    }
}

void nmi_handler(void) __attribute__((weak, alias("default_handler")));
void hardfault_handler(void) __attribute__((weak, alias("default_handler")));

typedef void (*vector)(void);

/* 16 system exceptions, then the external interrupts: UART0 RX is IRQ 0 on both boards. */
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 1] = {
    (vector)(uintptr_t)__stack_top,
    reset_handler,
    nmi_handler,
    hardfault_handler,
    default_handler, /* MemManage */
    default_handler, /* BusFault */
    default_handler, /* UsageFault */
    0, 0, 0, 0,
    default_handler, /* SVC */
    default_handler, /* DebugMon */
    0,
    default_handler, /* PendSV */
    default_handler, /* SysTick */
    uart0_rx_handler,
};

void reset_handler(void) {
    volatile uint32_t *p;
    uintptr_t paint_end = (uintptr_t)__stack_top - 256u; /* leave this function's frame */
    memcpy(__data_start, __data_load, (size_t)((uintptr_t)__data_end - (uintptr_t)__data_start));
    memset(__bss_start, 0, (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start));
    /* paint the stack below the current frame with a pattern: board_stack_high_water() finds
       the deepest word ever written */
    for (p = __stack_bottom; (uintptr_t)p < paint_end; p++) *p = BOARD_STACK_PAINT;
    REG32(SCB_CPACR) |= 0xFu << 20; /* CP10, CP11 full access: the FPU */
    __asm volatile("dsb\n\tisb");
    (void)main();
    for (;;) {
    }
}
