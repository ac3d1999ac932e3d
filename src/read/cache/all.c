/* Cache "all": fsspec's AllBytes. The whole object is fetched once, at
 * the first read (fsspec fetches at open; we keep open at one request),
 * then every read is served from that one chunk.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct ac {
  struct gsr__buf *all;
};

static int ac_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct ac *ac = state;
  if (ac->all == NULL) {
    uint64_t size = r->size;
    atomic_fetch_add(&r->stats->misses, 1);
    int status = gsr__chunk_fetch(r, 0, &size, 1, &ac->all);
    if (status != GSR_OK) return status;
    gsr__cache_held(r, size);
  } else {
    atomic_fetch_add(&r->stats->hits, 1);
  }
  assert(off + len <= ac->all->cap); /* the chunk is the whole object */
  gsr__out_put(r->stats, out, ac->all, (size_t)off, len);
  return GSR_OK;
}

static void ac_destroy(void *state) {
  gsr__buf_unref(((struct ac *)state)->all);
}

const struct gsr__cache_ops gsr__cache_all = {
    .name = "all",
    .state_size = sizeof(struct ac),
    .read = ac_read,
    .destroy = ac_destroy,
};
