/* Cache "readahead_chunked" (alias "readahead_v2"): gcsfs's
 * ReadAheadChunked. The same requests, the same window and the same
 * counts as "readahead", but each fetch is ONE request scattered into two
 * immutable chunks: the part the read asked for and the read-ahead part.
 * Every byte is then served by reference at any alignment (a read that
 * spans both chunks gets two slices), and a partial hit copies nothing.
 *
 * Reads run in many threads at once, as "readahead"'s: the window is
 * looked at, dropped and installed under the cache's lock, fetched and
 * served without it (a read serves from its own references to the
 * chunks).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct rac {
  struct gsr__cache_lock lock; /* guards the window */
  struct rac_window {
    struct gsr__buf *chunk[2]; /* [requested part, read-ahead part] */
    uint64_t off[2], len[2];
    int n; /* chunks held: 0, 1 (at EOF) or 2 */
  } w;
};

static int rac_create(const struct gsr__rctx *r, void *state) {
  (void)r;
  gsr__cache_lock_init(&((struct rac *)state)->lock);
  return GSR_OK;
}

static uint64_t rac_start(const struct rac_window *w) { return w->off[0]; }

static uint64_t rac_end(const struct rac_window *w) {
  assert(w->n > 0); /* only asked of a window that holds bytes */
  return w->off[w->n - 1] + w->len[w->n - 1];
}

/* A copy of w holding its own references: served from with no lock. */
static struct rac_window rac_hold(const struct rac_window *w) {
  struct rac_window c = *w;
  for (int i = 0; i < c.n; i++) gsr__buf_ref(c.chunk[i]);
  return c;
}

static void rac_drop(struct rac_window *w) {
  for (int i = 0; i < w->n; i++) w->chunk[i] = gsr__buf_unref(w->chunk[i]);
  w->n = 0;
}

/* Delivers [from, to) (inside the window) chunk by chunk; 0 if the
 * caller's slice array ran out first. */
static int rac_serve(struct gsr__rctx *r, const struct rac_window *w,
                     uint64_t from, uint64_t to, struct gsr__out *out) {
  for (int i = 0; i < w->n && from < to; i++) {
    uint64_t cend = w->off[i] + w->len[i];
    if (from >= cend) continue;
    uint64_t n = GSR__MIN(to, cend) - from;
    if (gsr__out_put(r->stats, out, w->chunk[i], (size_t)(from - w->off[i]),
                     n) == 0)
      return 0;
    from += n;
  }
  return 1;
}

/* Under the lock, which it lets go of for the fetch and returns without:
 * fetches [from, to) plus up to a page of read-ahead with ONE request, as
 * two chunks that replace the window, and delivers [from, to). */
static int rac_replace(struct gsr__rctx *r, struct rac *rc, uint64_t from,
                       uint64_t to, struct gsr__out *out) {
  uint64_t lens[2] = {to - from, GSR__MIN(r->page_size, r->size - to)};
  struct rac_window w = {{NULL, NULL}, {from, to}, {lens[0], lens[1]}, 0};
  int n = lens[1] > 0 ? 2 : 1;
  /* The window is replaced either way: drop it first, so its memory can
   * be reused for the new chunks instead of both being held at once
   * (slices and other reads still hold what they reference). After a
   * failed fetch the window is empty and the next read misses, as it
   * would anyway. */
  rac_drop(&rc->w);
  assert(from < to && to <= r->size);
  struct gsr__cache_fetch fx;
  gsr__cache_fetch_begin(&rc->lock, &fx, from, to + lens[1]);
  int status = gsr__chunk_fetch(r, from, lens, n, w.chunk);
  gsr__cache_fetch_end(&rc->lock, &fx);
  if (status == GSR_OK) {
    w.n = n;
    rac_drop(&rc->w); /* one another read installed meanwhile */
    rc->w = rac_hold(&w);
    gsr__cache_held(r, lens[0] + (n == 2 ? lens[1] : 0));
  }
  pthread_mutex_unlock(&rc->lock.mu);
  if (status == GSR_OK) gsr__out_put(r->stats, out, w.chunk[0], 0, lens[0]);
  rac_drop(&w);
  return status;
}

static int rac_read(struct gsr__rctx *r, void *state, uint64_t off,
                    uint64_t len, struct gsr__out *out) {
  struct rac *rc = state;
  uint64_t end = off + len, from = off;
  pthread_mutex_lock(&rc->lock.mu);
  int inside;
  for (;;) {
    inside = rc->w.n > 0 && off >= rac_start(&rc->w) && off < rac_end(&rc->w);
    if (inside || !gsr__cache_fetching(&rc->lock, off)) break;
    gsr__cache_wait(&rc->lock); /* its window may hold this read */
  }
  if (inside && end <= rac_end(&rc->w)) {
    atomic_fetch_add(&r->stats->hits, 1);
    struct rac_window w = rac_hold(&rc->w);
    pthread_mutex_unlock(&rc->lock.mu);
    rac_serve(r, &w, off, end, out);
    rac_drop(&w);
    return GSR_OK;
  }
  atomic_fetch_add(&r->stats->misses, 1);
  if (inside) { /* partial hit: the cached tail first, by reference */
    struct rac_window w = rac_hold(&rc->w);
    pthread_mutex_unlock(&rc->lock.mu);
    from = rac_end(&w);
    int room = rac_serve(r, &w, off, from, out) && !gsr__out_full(out);
    rac_drop(&w);
    if (!room) return GSR_OK; /* no room for more: fetch nothing */
    pthread_mutex_lock(&rc->lock.mu);
  }
  return rac_replace(r, rc, from, end, out);
}

static void rac_destroy(void *state) {
  struct rac *rc = state;
  rac_drop(&rc->w);
  gsr__cache_lock_destroy(&rc->lock);
}

const struct gsr__cache_ops gsr__cache_readahead_chunked = {
    .name = "readahead_chunked",
    .state_size = sizeof(struct rac),
    .concurrent = 1,
    .create = rac_create,
    .read = rac_read,
    .destroy = rac_destroy,
};
