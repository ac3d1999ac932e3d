/* --ranges (cat and bench): what both commands decide the same way about
 * a list of ranges read with gsr_read_ranges.
 *
 * SPDX-License-Identifier: MIT
 */
#include "cli.h"

/* A batch of gsr_read_ranges holds its bytes until they are used, so a
 * long list is read this many bytes (or ranges) at a time. */
#define RANGES_BATCH_BYTES ((uint64_t)256 << 20)
#define RANGES_BATCH_N ((size_t)1 << 20)

size_t cli_ranges_batch_end(const struct cli_range *r, size_t n, size_t i,
                            uint64_t size, size_t max_n) {
  size_t k = i;
  uint64_t bytes = 0;

  if (max_n == 0 || max_n > RANGES_BATCH_N) max_n = RANGES_BATCH_N;
  /* The first range always goes in, however long: one range larger than
   * the byte limit is a batch of its own, never an endless loop. */
  while (k < n && k - i < max_n &&
         (k == i || bytes + cli_range_clamp(&r[k], size) <= RANGES_BATCH_BYTES))
    bytes += cli_range_clamp(&r[k++], size);
  return k;
}

void cli_ranges_stats_add(gsr_ranges_stats *t, const gsr_ranges_stats *s) {
  t->ranges += s->ranges;
  t->spans += s->spans;
  t->requests += s->requests;
  t->bytes_fetched += s->bytes_fetched;
  t->hole_bytes += s->hole_bytes;
  t->bytes_delivered += s->bytes_delivered;
  t->failed += s->failed;
  t->hole_limit = s->hole_limit;
  t->span_limit = s->span_limit;
  t->seconds += s->seconds;
}
