/*
 * board.c - CMSDK UART0 and timer 0 of the mps2 boards (see board.h).
 */
#include "board.h"

#include <string.h>

#define UART_DATA (UART0_BASE + 0x00u)
#define UART_STATE (UART0_BASE + 0x04u)
#define UART_CTRL (UART0_BASE + 0x08u)
#define UART_INTSTATUS (UART0_BASE + 0x0Cu) /* write 1 to clear */
#define UART_BAUDDIV (UART0_BASE + 0x10u)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_STATE_RXOVR 0x8u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u
#define UART_CTRL_RXIRQ 0x8u
#define UART_INT_RX 0x2u

#define TIMER_CTRL (TIMER0_BASE + 0x00u)
#define TIMER_VALUE (TIMER0_BASE + 0x04u)
#define TIMER_RELOAD (TIMER0_BASE + 0x08u)

#define RX_RING 4096u /* power of two */

static volatile uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head, rx_tail, rx_overruns, rx_masked;

extern uint32_t __stack_bottom[], __stack_top[];

/* Move received bytes from the UART into the ring. When the ring is full the byte stays in the
   UART and its RX interrupt is masked: the UART then accepts nothing more, so QEMU holds the
   rest in its socket (flow control; a real board needs RTS/CTS or DMA for the same, see
   docs/mcu.md). board_read unmasks once it has taken a byte. Runs with the RX interrupt either
   in its handler or with interrupts disabled. */
static void rx_drain(void) {
    while (REG32(UART_STATE) & UART_STATE_RXFULL) {
        if (rx_head - rx_tail >= RX_RING) {
            REG32(UART_CTRL) = UART_CTRL_TXEN | UART_CTRL_RXEN;
            rx_masked = 1u;
            return;
        }
        rx_ring[rx_head & (RX_RING - 1u)] = (uint8_t)REG32(UART_DATA);
        rx_head++;
    }
    if (REG32(UART_STATE) & UART_STATE_RXOVR) { /* the UART's own overrun: a byte was lost */
        REG32(UART_STATE) = UART_STATE_RXOVR;
        rx_overruns++;
    }
}

void uart0_rx_handler(void) {
    /* clear first, then drain: a byte arriving after the last read raises the interrupt again
       (clearing after the drain could lose that edge and leave a byte stuck in the UART) */
    REG32(UART_INTSTATUS) = UART_INT_RX;
    rx_drain();
}

void board_init(void) {
    REG32(UART_BAUDDIV) = SYSCLK_HZ / 115200u;
    REG32(UART_CTRL) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIRQ;
    REG32(NVIC_ISER0) = 1u << 0; /* UART0 RX */
    REG32(TIMER_RELOAD) = 0xFFFFFFFFu;
    REG32(TIMER_VALUE) = 0xFFFFFFFFu;
    REG32(TIMER_CTRL) = 0x1u; /* enable, system clock, no interrupt */
}

void board_write(const uint8_t *data, int32_t n) {
    int32_t i;
    for (i = 0; i < n; i++) {
        while (REG32(UART_STATE) & UART_STATE_TXFULL) {
        }
        REG32(UART_DATA) = data[i];
    }
}

void board_puts(const char *s) { board_write((const uint8_t *)s, (int32_t)strlen(s)); }

int32_t board_read(uint8_t *b, int32_t wait) {
    for (;;) {
        __asm volatile("cpsid i" ::: "memory");
        if (rx_tail != rx_head) {
            *b = rx_ring[rx_tail & (RX_RING - 1u)];
            rx_tail++;
            if (rx_masked) { /* room again: unmask and take what the UART holds */
                rx_masked = 0u;
                REG32(UART_CTRL) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIRQ;
                rx_drain();
            }
            __asm volatile("cpsie i" ::: "memory");
            return 1;
        }
        if (!wait) {
            __asm volatile("cpsie i" ::: "memory");
            return 0;
        }
        /* WFI wakes on the pending UART interrupt even with PRIMASK set; it runs after cpsie */
        __asm volatile("wfi\n\tcpsie i" ::: "memory");
    }
}

/* 25 ticks per microsecond; the down-counter's complement counts up. The microsecond value
   wraps at 2^32 / 25 us (about 172 s), which the per-stage differences tolerate except across
   that wrap. */
uint32_t board_now_us(void *ctx) {
    (void)ctx;
    return (0xFFFFFFFFu - REG32(TIMER_VALUE)) / (SYSCLK_HZ / 1000000u);
}

uint32_t board_stack_high_water(void) {
    const volatile uint32_t *p = __stack_bottom;
    while ((uintptr_t)p < (uintptr_t)__stack_top && *p == BOARD_STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t board_stack_size(void) {
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t board_rx_overruns(void) { return rx_overruns; }
