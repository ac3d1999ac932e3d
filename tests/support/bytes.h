/* Test data for the unit tests: n pseudo-random bytes from a seed (the
 * same seed, the same bytes), malloc'd (the caller frees them).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_TEST_BYTES_H
#define GSR_TEST_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline unsigned char *bytes(size_t n, uint32_t seed) {
  unsigned char *p = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (unsigned char)(seed >> 16);
  }
  return p;
}

#endif /* GSR_TEST_BYTES_H */
