/* Cache "blockcache": fsspec's BlockCache. Fixed pages of block_size
 * bytes, each fetched with its own request and kept in an LRU table of
 * max_blocks (default 32); a read fetches only its missing pages. The
 * table (pages.c) also fixes fsspec's duplicate fetches (#1960).
 *
 * SPDX-License-Identifier: MIT
 */
#include "read/cache/pages.h"

static int bc_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  uint64_t fetched;
  int status = gsr__pages_read(r, state, off, len, out, &fetched);
  if (status == GSR_OK && fetched == 0) atomic_fetch_add(&r->stats->hits, 1);
  return status;
}

const struct gsr__cache_ops gsr__cache_blockcache = {
    .name = "blockcache",
    .create = gsr__pages_create,
    .read = bc_read,
    .destroy = gsr__pages_destroy,
    .stateful = 1,
};
