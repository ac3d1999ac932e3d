/* Cache "first": fsspec's FirstChunkCache. Keeps only the object's first
 * page, [0, min(block_size, size)), for formats whose header is read
 * again and again. Reads starting past it go straight to the source with
 * the caller's destination (no copy, nothing kept).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

struct fc {
  struct gsr__buf *head; /* the first page, once read */
};

static uint64_t fc_len(const struct gsr__rctx *r) {
  return GSR__MIN(r->page_size, r->size);
}

/* The first read starts in the first page and ends past it: ONE request
 * for [0, end), scattered into the page (kept) and the rest (handed to
 * this read only). */
static int fc_first_wide(struct gsr__rctx *r, struct fc *fc, uint64_t off,
                         uint64_t end, struct gsr__out *out) {
  assert(off < fc_len(r) && end > fc_len(r));
  uint64_t lens[2] = {fc_len(r), end - fc_len(r)};
  struct gsr__buf *bufs[2];
  int status = gsr__chunk_fetch(r, 0, lens, 2, bufs);
  if (status != GSR_OK) return status;
  fc->head = bufs[0];
  gsr__cache_held(r, lens[0]);
  if (gsr__out_put(r->stats, out, fc->head, (size_t)off, lens[0] - off) != 0)
    gsr__out_put(r->stats, out, bufs[1], 0, lens[1]);
  gsr__buf_unref(bufs[1]);
  return GSR_OK;
}

static int fc_read(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct fc *fc = state;
  uint64_t end = off + len, bs = fc_len(r);
  if (off >= bs) { /* past the first page: pass-through */
    atomic_fetch_add(&r->stats->misses, 1);
    return gsr__source_read(r, off, len, out);
  }
  if (fc->head == NULL) {
    atomic_fetch_add(&r->stats->misses, 1);
    if (end > bs) return fc_first_wide(r, fc, off, end, out);
    int status = gsr__chunk_fetch(r, 0, &bs, 1, &fc->head);
    if (status != GSR_OK) return status;
    gsr__cache_held(r, bs);
    gsr__out_put(r->stats, out, fc->head, (size_t)off, len);
    return GSR_OK;
  }
  atomic_fetch_add(end > bs ? &r->stats->misses : &r->stats->hits, 1);
  if (gsr__out_put(r->stats, out, fc->head, (size_t)off,
                   GSR__MIN(end, bs) - off) == 0 ||
      end <= bs)
    return GSR_OK;
  return gsr__source_read(r, bs, end - bs, out); /* the overflow */
}

static void fc_destroy(void *state) {
  gsr__buf_unref(((struct fc *)state)->head);
}

const struct gsr__cache_ops gsr__cache_first = {
    .name = "first",
    .state_size = sizeof(struct fc),
    .read = fc_read,
    .destroy = fc_destroy,
};
