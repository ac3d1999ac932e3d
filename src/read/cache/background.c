/* Cache "background": fsspec's BackgroundBlockCache. The page table of
 * "blockcache", plus: after each read, the page after the last one it
 * touched is fetched in the background (an async range fetch) if it
 * exists, is not in the table and no background fetch is running. A read
 * that needs that page waits for it; close cancels it.
 *
 * The page takes its LRU slot when its fetch starts, not when a later
 * read collects it as in fsspec: what the table holds then never depends
 * on how fast the network was, only on the reads.
 *
 * Reads run in many threads at once, as blockcache's (pages.c); the
 * background fetch is started and collected under the table's lock.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "fetch/rfetch.h"
#include "read/cache/pages.h"

/* A finished background fetch is collected (fsspec does it at the start
 * of the next read; we also do it before starting the next one, as the
 * read itself may have taken long enough), which frees the way for the
 * next. A failed one is dropped quietly: a read that needs the page
 * fetches it itself. One a read waits on is that read's to collect. */
static void bg_collect(struct gsr__pages *t) {
  assert(t->inflight <= 1); /* one background fetch at a time */
  for (int i = 0; i < t->n && t->inflight > 0; i++) {
    struct gsr__page *e = &t->v[i];
    if (e->rf != NULL && !e->joining && gsr__rfetch_done(e->rf) &&
        gsr__pages_join(t, e) != GSR_OK)
      i--; /* entry i was removed: its slot holds another one now */
  }
}

/* Starts fetching page idx in the background if the rules allow it and
 * the budget has room (it is a prefetch: it waits for nobody). */
static void bg_start(struct gsr__rctx *r, struct gsr__pages *t, uint64_t idx) {
  bg_collect(t);
  if (idx >= t->count || t->inflight > 0 || gsr__pages_find(t, idx) != NULL ||
      gsr__cache_fetching(&t->lock, idx * t->bs))
    return;
  uint64_t len = gsr__pages_len(t, idx);
  int refused;
  struct gsr__buf *buf = gsr__buf_try((size_t)len, r->budget, &refused);
  if (buf == NULL) return; /* no room in the budget, or no memory */
  struct gsr__rfetch *rf;
  if (gsr__rfetch_start_buf(r->target, idx * t->bs, buf, len, r->concurrency,
                            r->min_part, &rf) != GSR_OK) {
    gsr__buf_unref(buf); /* e.g. the file is closing */
    return;
  }
  atomic_fetch_add(&r->stats->misses, 1);   /* fsspec counts it as a fetch */
  gsr__pages_insert(t, idx, buf, rf, 0, 0); /* keeps nothing: never fails */
  gsr__cache_held(r, t->held);
}

static int bg_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct gsr__pages *t = state;
  uint64_t before = out->done;
  pthread_mutex_lock(&t->lock.mu);
  bg_collect(t);
  pthread_mutex_unlock(&t->lock.mu);
  int status = gsr__pages_read(r, t, off, len, out);
  if (status != GSR_OK) return status;
  /* The page after the last one touched; fsspec's end // bs is one page
   * further when the read ends on a page boundary. */
  uint64_t end = off + (out->done - before);
  pthread_mutex_lock(&t->lock.mu);
  if (end > off) bg_start(r, t, (end - 1) / t->bs + 1);
  pthread_mutex_unlock(&t->lock.mu);
  return GSR_OK;
}

const struct gsr__cache_ops gsr__cache_background = {
    .name = "background",
    .state_size = sizeof(struct gsr__pages),
    .concurrent = 1,
    .create = gsr__pages_create,
    .read = bg_read,
    .destroy = gsr__pages_destroy,
};
