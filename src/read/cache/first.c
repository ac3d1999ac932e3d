/* Cache "first": fsspec's FirstChunkCache. Keeps only the object's first
 * page, [0, min(block_size, size)), for formats whose header is read
 * again and again. Reads starting past it go straight to the source with
 * the caller's destination (no copy, nothing kept).
 *
 * Reads run in many threads at once: those past the page take no lock;
 * the read that fetches the page is waited for by the reads beside it
 * that start in it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct fc {
  struct gsr__cache_lock lock; /* guards head */
  struct gsr__buf *head;       /* the first page, once read */
};

static int fc_create(const struct gsr__rctx *r, void *state) {
  (void)r;
  gsr__cache_lock_init(&((struct fc *)state)->lock);
  return GSR_OK;
}

static uint64_t fc_len(const struct gsr__rctx *r) {
  return GSR__MIN(r->page_size, r->size);
}

/* Under the lock, which it lets go of for the fetch and returns without:
 * the first read, which starts in the first page. ONE request for [0,
 * max(end, page)), scattered into the page (kept) and the rest, if any
 * (handed to this read only). */
static int fc_fetch(struct gsr__rctx *r, struct fc *fc, uint64_t off,
                    uint64_t end, struct gsr__out *out) {
  uint64_t bs = fc_len(r);
  assert(off < bs && fc->head == NULL);
  uint64_t lens[2] = {bs, end > bs ? end - bs : 0};
  int n = end > bs ? 2 : 1;
  struct gsr__buf *bufs[2] = {NULL, NULL};
  struct gsr__cache_fetch fx;
  gsr__cache_fetch_begin(&fc->lock, &fx, 0, bs);
  int status = gsr__chunk_fetch(r, 0, lens, n, bufs);
  gsr__cache_fetch_end(&fc->lock, &fx);
  if (status == GSR_OK) {
    assert(fc->head == NULL); /* the reads beside it waited */
    fc->head = gsr__buf_ref(bufs[0]);
    gsr__cache_held(r, bs);
  }
  pthread_mutex_unlock(&fc->lock.mu);
  if (status == GSR_OK &&
      gsr__out_put(r->stats, out, bufs[0], (size_t)off,
                   GSR__MIN(end, bs) - off) != 0 &&
      n == 2)
    gsr__out_put(r->stats, out, bufs[1], 0, lens[1]);
  for (int i = 0; i < n; i++) gsr__buf_unref(bufs[i]);
  return status;
}

static int fc_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct fc *fc = state;
  uint64_t end = off + len, bs = fc_len(r);
  if (off >= bs) { /* past the first page: pass-through */
    atomic_fetch_add(&r->stats->misses, 1);
    return gsr__source_read(r, off, len, out);
  }
  pthread_mutex_lock(&fc->lock.mu);
  while (fc->head == NULL && gsr__cache_fetching(&fc->lock, 0))
    gsr__cache_wait(&fc->lock);
  if (fc->head == NULL) {
    atomic_fetch_add(&r->stats->misses, 1);
    return fc_fetch(r, fc, off, end, out);
  }
  struct gsr__buf *head = gsr__buf_ref(fc->head);
  pthread_mutex_unlock(&fc->lock.mu);
  atomic_fetch_add(end > bs ? &r->stats->misses : &r->stats->hits, 1);
  uint64_t got = gsr__out_put(r->stats, out, head, (size_t)off,
                              GSR__MIN(end, bs) - off);
  gsr__buf_unref(head);
  if (got == 0 || end <= bs) return GSR_OK;
  return gsr__source_read(r, bs, end - bs, out); /* the overflow */
}

static void fc_destroy(void *state) {
  struct fc *fc = state;
  gsr__buf_unref(fc->head);
  gsr__cache_lock_destroy(&fc->lock);
}

const struct gsr__cache_ops gsr__cache_first = {
    .name = "first",
    .state_size = sizeof(struct fc),
    .concurrent = 1,
    .create = fc_create,
    .read = fc_read,
    .destroy = fc_destroy,
};
