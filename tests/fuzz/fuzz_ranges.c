/* libFuzzer target: the vectored-read planner (gsr__rplan_build,
 * rplan.c), fed random ranges and limits. Every plan must pass
 * rplan_check (tests/support/rplan_check.h): every byte of every range
 * covered exactly once, by exactly one span, holes and spans within their
 * limits, nothing joinable left apart.
 *
 * Input: 16 bytes of limits (hole, span), then 16 bytes per range (offset,
 * length). Offsets and lengths are masked to 40 bits, so that off + len
 * never overflows (the API checks that before planning), and every third
 * byte pattern lands on a small scale where overlaps are common.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../support/rplan_check.h"
#include "base/internal.h"
#include "fetch/rplan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 16) return 0;
  struct gsr__rplan_limits lim = {take(data), take(data + 8)};
  /* Small scales too, where holes and the limits interact. */
  if (lim.hole_limit & 1) lim.hole_limit = (lim.hole_limit >> 1) % 4096;
  if (lim.span_limit & 1) lim.span_limit = (lim.span_limit >> 1) % 65536;
  data += 16;
  size -= 16;
  size_t n = size / 16;
  struct gsr__rplan_range *r = malloc((n ? n : 1) * sizeof(*r));
  if (r == NULL) abort();
  for (size_t i = 0; i < n; i++) {
    uint64_t off = take(data + 16 * i), len = take(data + 16 * i + 8);
    if (off & 1) { /* a small world: overlaps and duplicates */
      off = (off >> 1) % 8192;
      len = len % 1024;
    } else {
      off = (off >> 1) & ((1ull << 40) - 1);
      len &= (1ull << 40) - 1;
    }
    r[i] = (struct gsr__rplan_range){off, len};
  }
  struct gsr__rplan p;
  if (gsr__rplan_build(r, n, &lim, &p) != GSR_OK) abort();
  if (rplan_check(r, n, &lim, &p) != NULL) abort();
  gsr__rplan_free(&p);
  free(r);
  return 0;
}
