/*
 * board.h - the peripherals of QEMU's mps2-an386 / mps2-an500 the firmware uses: CMSDK APB
 * UART0 (RX interrupt into a ring buffer, polled TX), CMSDK APB timer 0 (a free-running
 * microsecond clock at the 25 MHz system clock), and the stack high-water mark.
 */
#ifndef SEMQAM_BOARD_H
#define SEMQAM_BOARD_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define SYSCLK_HZ 25000000u
#define UART0_BASE 0x40004000u
#define TIMER0_BASE 0x40000000u
#define NVIC_ISER0 0xE000E100u
#define SCB_CPACR 0xE000ED88u
#define BOARD_STACK_PAINT 0xC5C5C5C5u

void board_init(void);
void board_write(const uint8_t *data, int32_t n);
void board_puts(const char *s);
/* Next received byte into *b: 1, or 0 when none is waiting (then sleeps until one arrives when
   `wait`). */
int32_t board_read(uint8_t *b, int32_t wait);
uint32_t board_now_us(void *ctx);
/* Bytes of stack ever used (the painted words overwritten). */
uint32_t board_stack_high_water(void);
/* Bytes reserved for the stack (the linker script's STACK_SIZE). */
uint32_t board_stack_size(void);
/* Times the UART flagged an RX overrun (a byte lost before the handler ran); the ring never
   drops bytes: when full it masks the RX interrupt and the UART holds the line (board.c). */
uint32_t board_rx_overruns(void);

#endif
