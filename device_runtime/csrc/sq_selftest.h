/* sq_selftest.h - the core's self-test digest (sq_selftest.c). */
#ifndef SQ_SELFTEST_H
#define SQ_SELFTEST_H

#include <stdint.h>

/* FNV-1a digest of the core's integer results on fixed pseudo-random data; identical on every
 * build of the core; 0 if a core call failed. */
uint32_t sq_self_test_digest(void);

#endif
