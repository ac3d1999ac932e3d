/* Cache "readahead_chunked" (alias "readahead_v2"): gcsfs's
 * ReadAheadChunked. The same requests, the same window and the same
 * counts as "readahead", but each fetch is ONE request scattered into two
 * immutable chunks: the part the read asked for and the read-ahead part.
 * Every byte is then served by reference at any alignment (a read that
 * spans both chunks gets two slices), and a partial hit copies nothing.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct rac {
  struct gsr__buf *chunk[2]; /* [requested part, read-ahead part] */
  uint64_t off[2], len[2];
  int n; /* chunks held: 0, 1 (at EOF) or 2 */
};

static uint64_t rac_start(const struct rac *rc) { return rc->off[0]; }

static uint64_t rac_end(const struct rac *rc) {
  assert(rc->n > 0); /* only asked of a window that holds bytes */
  return rc->off[rc->n - 1] + rc->len[rc->n - 1];
}

/* Delivers [from, to) (inside the window) chunk by chunk; 0 if the
 * caller's slice array ran out first. */
static int rac_serve(struct gsr__rctx *r, const struct rac *rc, uint64_t from,
                     uint64_t to, struct gsr__out *out) {
  for (int i = 0; i < rc->n && from < to; i++) {
    uint64_t cend = rc->off[i] + rc->len[i];
    if (from >= cend) continue;
    uint64_t n = GSR__MIN(to, cend) - from;
    if (gsr__out_put(r->stats, out, rc->chunk[i], (size_t)(from - rc->off[i]),
                     n) == 0)
      return 0;
    from += n;
  }
  return 1;
}

static void rac_drop(struct rac *rc) {
  for (int i = 0; i < rc->n; i++) rc->chunk[i] = gsr__buf_unref(rc->chunk[i]);
  rc->n = 0;
}

/* Fetches [from, to) plus up to a page of read-ahead with ONE request,
 * as two chunks that replace the window. */
static int rac_replace(struct gsr__rctx *r, struct rac *rc, uint64_t from,
                       uint64_t to) {
  uint64_t lens[2] = {to - from, GSR__MIN(r->page_size, r->size - to)};
  struct gsr__buf *bufs[2];
  int n = lens[1] > 0 ? 2 : 1;
  /* The window is replaced either way: drop it first, so its memory can
   * be reused for the new chunks instead of both being held at once
   * (slices still hold what they reference). After a failed fetch the
   * window is empty and the next read misses, as it would anyway. */
  rac_drop(rc);
  assert(from < to && to <= r->size);
  int status = gsr__chunk_fetch(r, from, lens, n, bufs);
  if (status != GSR_OK) return status;
  for (int i = 0; i < n; i++) {
    rc->chunk[i] = bufs[i];
    rc->off[i] = i == 0 ? from : to;
    rc->len[i] = lens[i];
  }
  rc->n = n;
  gsr__cache_held(r, lens[0] + (n == 2 ? lens[1] : 0));
  return GSR_OK;
}

static int rac_read(struct gsr__rctx *r, void *state, uint64_t off,
                    uint64_t len, struct gsr__out *out) {
  struct rac *rc = state;
  uint64_t end = off + len, from = off;
  int inside = rc->n > 0 && off >= rac_start(rc) && off < rac_end(rc);
  if (inside && end <= rac_end(rc)) {
    atomic_fetch_add(&r->stats->hits, 1);
    rac_serve(r, rc, off, end, out);
    return GSR_OK;
  }
  atomic_fetch_add(&r->stats->misses, 1);
  if (inside) { /* partial hit: the cached tail first, by reference */
    from = rac_end(rc);
    if (!rac_serve(r, rc, off, from, out) || gsr__out_full(out))
      return GSR_OK; /* no room for more: fetch nothing */
  }
  int status = rac_replace(r, rc, from, end);
  if (status == GSR_OK)
    gsr__out_put(r->stats, out, rc->chunk[0], 0, end - from);
  return status;
}

static void rac_destroy(void *state) { rac_drop(state); }

const struct gsr__cache_ops gsr__cache_readahead_chunked = {
    .name = "readahead_chunked",
    .state_size = sizeof(struct rac),
    .read = rac_read,
    .destroy = rac_destroy,
};
