/* Cache "all": fsspec's AllBytes. The whole object is fetched once, at
 * the first read (fsspec fetches at open; we keep open at one request),
 * then every read is served from that one chunk.
 *
 * Reads run in many threads at once: the first read fetches, the reads
 * beside it wait for that one fetch (a failed fetch leaves the next read
 * to fetch again).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct ac {
  struct gsr__cache_lock lock; /* guards all */
  struct gsr__buf *all;
};

static int ac_create(const struct gsr__rctx *r, void *state) {
  (void)r;
  gsr__cache_lock_init(&((struct ac *)state)->lock);
  return GSR_OK;
}

static int ac_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct ac *ac = state;
  struct gsr__buf *b = NULL;
  int status = GSR_OK;
  pthread_mutex_lock(&ac->lock.mu);
  while (ac->all == NULL && gsr__cache_fetching(&ac->lock, 0))
    gsr__cache_wait(&ac->lock);
  if (ac->all == NULL) {
    uint64_t size = r->size;
    struct gsr__cache_fetch fx;
    atomic_fetch_add(&r->stats->misses, 1);
    gsr__cache_fetch_begin(&ac->lock, &fx, 0, size);
    status = gsr__chunk_fetch(r, 0, &size, 1, &b);
    gsr__cache_fetch_end(&ac->lock, &fx);
    if (status == GSR_OK) {
      assert(ac->all == NULL); /* the reads beside it waited */
      ac->all = gsr__buf_ref(b);
      gsr__cache_held(r, size);
    }
  } else {
    atomic_fetch_add(&r->stats->hits, 1);
    b = gsr__buf_ref(ac->all);
  }
  pthread_mutex_unlock(&ac->lock.mu);
  if (status != GSR_OK) return status;
  assert(off + len <= b->cap); /* the chunk is the whole object */
  gsr__out_put(r->stats, out, b, (size_t)off, len);
  gsr__buf_unref(b);
  return GSR_OK;
}

static void ac_destroy(void *state) {
  struct ac *ac = state;
  gsr__buf_unref(ac->all);
  gsr__cache_lock_destroy(&ac->lock);
}

const struct gsr__cache_ops gsr__cache_all = {
    .name = "all",
    .state_size = sizeof(struct ac),
    .concurrent = 1,
    .create = ac_create,
    .read = ac_read,
    .destroy = ac_destroy,
};
