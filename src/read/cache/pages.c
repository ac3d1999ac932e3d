/* The LRU page table shared by "blockcache" and "background". See
 * pages.h. Lookups scan the table: it holds max_blocks entries (32 by
 * default), and every hit is followed by a copy or a slice of up to a
 * whole page, which dwarfs the scan.
 *
 * Reads run in many threads at once. The table is looked at and changed
 * under its lock; a page is fetched, and a background fetch waited for,
 * without it. A read needing a page that another read is fetching (or
 * waiting for) waits for that one, then looks again; such a page is never
 * the one evicted.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "fetch/rfetch.h"
#include "read/cache/pages.h"

int gsr__pages_create(const struct gsr__rctx *r, void *state) {
  struct gsr__pages *t = state;
  t->bs = r->page_size;
  t->size = r->size;
  t->count = t->size / t->bs + (t->size % t->bs != 0);
  /* No more slots than the object has pages: a huge max_blocks costs
   * nothing then, and eviction is the same (the table never fills). */
  t->max = (uint64_t)r->max_pages < t->count ? r->max_pages : (int)t->count;
  if (t->max < 1) t->max = 1;
  t->v = gsr__calloc((size_t)t->max, sizeof(*t->v));
  if (t->v == NULL)
    return gsr__err(GSR_ENOMEM, "%s: out of memory", r->display);
  gsr__cache_lock_init(&t->lock);
  t->lock_ready = 1;
  return GSR_OK;
}

/* Lets go of entry i and fills its slot with the last entry. */
static void page_remove(struct gsr__pages *t, int i) {
  struct gsr__page *e = &t->v[i];
  if (e->rf != NULL) { /* cancels it if still running */
    gsr__rfetch_free(e->rf);
    t->inflight--;
  }
  assert(t->inflight >= 0 && t->held >= e->buf->cap);
  assert(!e->joining); /* its joiner holds on to e until it is done */
  t->held -= e->buf->cap;
  gsr__buf_unref(e->buf);
  t->v[i] = t->v[--t->n];
}

void gsr__pages_destroy(void *state) {
  struct gsr__pages *t = state;
  while (t->n > 0) page_remove(t, t->n - 1);
  gsr__free(t->v);
  if (t->lock_ready) gsr__cache_lock_destroy(&t->lock);
}

uint64_t gsr__pages_len(const struct gsr__pages *t, uint64_t idx) {
  return GSR__MIN(t->bs, t->size - idx * t->bs);
}

struct gsr__page *gsr__pages_find(struct gsr__pages *t, uint64_t idx) {
  for (int i = 0; i < t->n; i++)
    if (t->v[i].idx == idx) return &t->v[i];
  return NULL;
}

/* The LRU entry outside (keep_lo, keep_hi], or -1. */
static int page_victim(const struct gsr__pages *t, uint64_t keep_lo,
                       uint64_t keep_hi) {
  int best = -1;
  for (int i = 0; i < t->n; i++) {
    uint64_t idx = t->v[i].idx;
    if ((idx > keep_lo && idx <= keep_hi) || t->v[i].joining) continue;
    if (best < 0 || t->v[i].stamp < t->v[best].stamp) best = i;
  }
  return best;
}

int gsr__pages_insert(struct gsr__pages *t, uint64_t idx, struct gsr__buf *buf,
                      struct gsr__rfetch *rf, uint64_t keep_lo,
                      uint64_t keep_hi) {
  if (t->n == t->max) {
    int i = page_victim(t, keep_lo, keep_hi);
    if (i < 0) return -1;
    page_remove(t, i);
  }
  assert(t->n < t->max && gsr__pages_find(t, idx) == NULL); /* once each */
  t->v[t->n++] = (struct gsr__page){idx, ++t->clock, buf, rf, 0};
  t->held += buf->cap;
  if (rf != NULL) t->inflight++;
  return 0;
}

int gsr__pages_join(struct gsr__pages *t, struct gsr__page *e) {
  if (e->rf == NULL) return GSR_OK;
  assert(t->inflight > 0); /* e's fetch is one of them */
  int status = gsr__rfetch_wait(e->rf);
  gsr__rfetch_free(e->rf);
  e->rf = NULL;
  t->inflight--;
  if (status != GSR_OK) page_remove(t, (int)(e - t->v));
  return status;
}

/* Under the lock, which it lets go of meanwhile: waits for e's background
 * fetch, claimed (so that no other read waits on it too, and it is not
 * evicted). GSR_OK with e's page ready, or the fetch's failure (e
 * removed). */
static int page_join(struct gsr__pages *t, struct gsr__page *e) {
  uint64_t idx = e->idx, first = idx * t->bs;
  struct gsr__rfetch *rf = e->rf;
  struct gsr__cache_fetch fx;
  assert(rf != NULL && !e->joining);
  e->joining = 1;
  gsr__cache_fetch_begin(&t->lock, &fx, first, first + gsr__pages_len(t, idx));
  gsr__rfetch_wait(rf);
  gsr__cache_fetch_end(&t->lock, &fx);
  e = gsr__pages_find(t, idx); /* the table moves entries about */
  assert(e != NULL && e->rf == rf && e->joining); /* claimed: kept */
  e->joining = 0;
  return gsr__pages_join(t, e); /* done: returns at once */
}

/* Under the lock, which it lets go of while it waits or fetches: a
 * reference to page b's chunk, from the table (joining a background fetch
 * of it), else fetched now and added, keeping (b, last]. A failed
 * background fetch is dropped and the page fetched again here. */
static int page_get(struct gsr__rctx *r, struct gsr__pages *t, uint64_t b,
                    uint64_t last, struct gsr__buf **buf, uint64_t *fetched) {
  for (;;) {
    struct gsr__page *e = gsr__pages_find(t, b);
    if (e != NULL && !e->joining &&
        (e->rf == NULL || page_join(t, e) == GSR_OK)) {
      e = gsr__pages_find(t, b); /* page_join may have moved it */
      e->stamp = ++t->clock;
      *buf = gsr__buf_ref(e->buf);
      return GSR_OK;
    }
    /* Another read fetches it, or waits on its background fetch. */
    if (!gsr__cache_fetching(&t->lock, b * t->bs)) break;
    gsr__cache_wait(&t->lock);
  }
  uint64_t len = gsr__pages_len(t, b);
  struct gsr__cache_fetch fx;
  gsr__cache_fetch_begin(&t->lock, &fx, b * t->bs, b * t->bs + len);
  int status = gsr__chunk_fetch(r, b * t->bs, &len, 1, buf);
  gsr__cache_fetch_end(&t->lock, &fx);
  if (status != GSR_OK) return status;
  atomic_fetch_add(&r->stats->misses, 1);
  (*fetched)++;
  if (gsr__pages_insert(t, b, gsr__buf_ref(*buf), NULL, b, last) != 0)
    gsr__buf_unref(*buf); /* no room: serve it once, keep nothing */
  gsr__cache_held(r, t->held);
  return GSR_OK;
}

int gsr__pages_read(struct gsr__rctx *r, void *state, uint64_t off,
                    uint64_t len, struct gsr__out *out) {
  struct gsr__pages *t = state;
  assert(len > 0 && off + len <= t->size); /* reader.h: clamped, len > 0 */
  uint64_t end = off + len, last = (end - 1) / t->bs, fetched = 0;
  for (uint64_t b = off / t->bs; b <= last && !gsr__out_full(out); b++) {
    struct gsr__buf *buf;
    pthread_mutex_lock(&t->lock.mu);
    int status = page_get(r, t, b, last, &buf, &fetched);
    pthread_mutex_unlock(&t->lock.mu);
    if (status != GSR_OK) return status;
    uint64_t first = b * t->bs;
    uint64_t from = GSR__MAX(off, first);
    uint64_t to = GSR__MIN(end, first + gsr__pages_len(t, b));
    gsr__out_put(r->stats, out, buf, (size_t)(from - first), to - from);
    gsr__buf_unref(buf);
  }
  if (fetched == 0) atomic_fetch_add(&r->stats->hits, 1);
  return GSR_OK;
}
