/* Cache "none": every read goes straight to the source, exactly the bytes
 * asked (clamped at the end of the object by the file layer).
 *
 * SPDX-License-Identifier: MIT
 */
#include "read/cache/cache.h"

static int none_read(struct gsr__rctx *r, void *state, uint64_t off,
                     uint64_t len, struct gsr__out *out) {
  (void)state;
  atomic_fetch_add(&r->stats->misses, 1);
  return gsr__source_read(r, off, len, out);
}

const struct gsr__cache_ops gsr__cache_none = {
    .name = "none",
    .read = none_read,
};
