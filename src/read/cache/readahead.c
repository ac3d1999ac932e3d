/* Cache "readahead": fsspec's ReadAheadCache. One window [start, end) in
 * ONE contiguous chunk. A read inside it is a hit; a read starting inside
 * it but running past its end keeps the cached tail and fetches
 * [end, read end + page) (a partial hit); any other read fetches
 * [read start, read end + page). Every fetch replaces the window.
 *
 * Reads run in many threads at once: the window is looked at and replaced
 * under the cache's lock, fetched without it. A read starting inside a
 * window being fetched waits for that fetch, then looks again; of two
 * windows fetched at once the one that lands last is kept.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "read/cache/cache.h"

struct ra {
  struct gsr__cache_lock lock; /* guards the rest */
  struct gsr__buf *buf; /* the window's bytes; NULL before the first read */
  uint64_t start, end;
};

static int ra_create(const struct gsr__rctx *r, void *state) {
  (void)r;
  gsr__cache_lock_init(&((struct ra *)state)->lock);
  return GSR_OK;
}

/* Under the lock, which it lets go of for the fetch and returns without:
 * fetches [from, to + page) (clamped to the object) as the new window.
 * *b: a reference to its bytes, for the caller to deliver and drop. */
static int ra_replace(struct gsr__rctx *r, struct ra *ra, uint64_t from,
                      uint64_t to, struct gsr__buf **b) {
  uint64_t last = to + GSR__MIN(r->page_size, r->size - to);
  uint64_t len = last - from;
  struct gsr__cache_fetch fx;
  gsr__cache_fetch_begin(&ra->lock, &fx, from, last);
  int status = gsr__chunk_fetch(r, from, &len, 1, b);
  gsr__cache_fetch_end(&ra->lock, &fx);
  if (status == GSR_OK) { /* else the old window stays */
    gsr__buf_unref(ra->buf);
    ra->buf = gsr__buf_ref(*b);
    ra->start = from;
    ra->end = last;
    gsr__cache_held(r, len);
  }
  pthread_mutex_unlock(&ra->lock.mu);
  return status;
}

/* Slice mode: fsspec's `part + cache[:l]`. The tail of the old window and
 * the head of the new one are joined into one new chunk handed out as ONE
 * slice; those bytes count as copied, not referenced (the cost that
 * readahead_chunked avoids). */
static int ra_join(struct gsr__rctx *r, struct gsr__out *out,
                   struct gsr__buf *old, size_t at, uint64_t tail,
                   const struct gsr__buf *head, uint64_t l) {
  struct gsr__buf *j;
  int status = gsr__chunk_alloc(r, tail + l, &j);
  if (status != GSR_OK) return status;
  memcpy(j->data, old->data + at, (size_t)tail);
  memcpy(j->data + tail, head->data, (size_t)l);
  if (gsr__out_put(r->stats, out, j, 0, tail + l) != 0) {
    atomic_fetch_sub(&r->stats->bytes_referenced, tail + l);
    atomic_fetch_add(&r->stats->bytes_copied, tail + l);
  }
  gsr__buf_unref(j);
  return GSR_OK;
}

/* Under the lock, returns without it: the read starts inside the window
 * and ends past it. In copy mode the caller's buffer is where the two
 * parts meet, so nothing extra is copied there. */
static int ra_partial(struct gsr__rctx *r, struct ra *ra, uint64_t off,
                      uint64_t end, struct gsr__out *out) {
  assert(off >= ra->start && off < ra->end && end > ra->end);
  struct gsr__buf *old = gsr__buf_ref(ra->buf), *b = NULL;
  size_t at = (size_t)(off - ra->start);
  uint64_t tail = ra->end - off, from = ra->end;
  int status = ra_replace(r, ra, from, end, &b);
  if (status == GSR_OK && out->slices != NULL) {
    status = ra_join(r, out, old, at, tail, b, end - from);
  } else if (status == GSR_OK) {
    gsr__out_put(r->stats, out, old, at, tail);
    gsr__out_put(r->stats, out, b, 0, end - from);
  }
  gsr__buf_unref(b);
  gsr__buf_unref(old);
  return status;
}

static int ra_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct ra *ra = state;
  uint64_t end = off + len;
  pthread_mutex_lock(&ra->lock.mu);
  for (;;) {
    if (ra->buf != NULL && off >= ra->start && end <= ra->end) {
      atomic_fetch_add(&r->stats->hits, 1);
      struct gsr__buf *b = gsr__buf_ref(ra->buf);
      size_t at = (size_t)(off - ra->start);
      pthread_mutex_unlock(&ra->lock.mu);
      gsr__out_put(r->stats, out, b, at, len);
      gsr__buf_unref(b);
      return GSR_OK;
    }
    if (!gsr__cache_fetching(&ra->lock, off)) break;
    gsr__cache_wait(&ra->lock); /* its window may hold this read */
  }
  atomic_fetch_add(&r->stats->misses, 1);
  if (ra->buf != NULL && off >= ra->start && off < ra->end)
    return ra_partial(r, ra, off, end, out);
  struct gsr__buf *b = NULL;
  int status = ra_replace(r, ra, off, end, &b);
  if (status == GSR_OK) gsr__out_put(r->stats, out, b, 0, len);
  gsr__buf_unref(b);
  return status;
}

/* Slices still out keep their own reference. */
static void ra_destroy(void *state) {
  struct ra *ra = state;
  gsr__buf_unref(ra->buf);
  gsr__cache_lock_destroy(&ra->lock);
}

const struct gsr__cache_ops gsr__cache_readahead = {
    .name = "readahead",
    .state_size = sizeof(struct ra),
    .concurrent = 1,
    .create = ra_create,
    .read = ra_read,
    .destroy = ra_destroy,
};
