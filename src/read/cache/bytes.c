/* Cache "bytes": fsspec's BytesCache with trim=True, ported line by line
 * from fsspec/caching.py, quirks included: the strict `end < self.end`
 * hit test (a read ending exactly at the cache's end is a miss), prepend,
 * append or refetch by the blocksize rules, and the trim of the front.
 *
 * One growable buffer in fsspec; here an immutable chunk, so growing
 * makes a new chunk (old bytes copied in, new bytes fetched in place) and
 * slices of the old one stay valid. Trimming only moves `at`: the front
 * stays allocated until the next grow or refetch.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "read/cache/cache.h"

struct bc {
  int has;              /* self.start / self.end are not None */
  uint64_t start, end;  /* self.start, self.end */
  struct gsr__buf *buf; /* self.cache is buf->data[at, at + end - start) */
  size_t at;
};

static void bc_set(struct gsr__rctx *r, struct bc *bc, struct gsr__buf *b,
                   uint64_t start) {
  gsr__buf_unref(bc->buf);
  bc->buf = b;
  bc->at = 0;
  bc->start = start;
  bc->end = start + b->cap; /* self.end = self.start + len(self.cache) */
  bc->has = 1;
  gsr__cache_held(r, b->cap);
}

/* self.cache = self.fetcher(start, bend); self.start = start */
static int bc_refetch(struct gsr__rctx *r, struct bc *bc, uint64_t start,
                      uint64_t bend) {
  uint64_t len = bend - start;
  struct gsr__buf *b;
  int status = gsr__chunk_fetch(r, start, &len, 1, &b);
  if (status == GSR_OK) bc_set(r, bc, b, start);
  return status;
}

/* new = self.fetcher(start, self.start); self.cache = new + self.cache */
static int bc_prepend(struct gsr__rctx *r, struct bc *bc, uint64_t start) {
  uint64_t add = bc->start - start, old = bc->end - bc->start;
  struct gsr__buf *b;
  int status = gsr__chunk_alloc(r, add + old, &b);
  if (status != GSR_OK) return status;
  if ((status = gsr__chunk_fill(r, start, b->data, add)) != GSR_OK) {
    gsr__buf_unref(b);
    return status;
  }
  memcpy(b->data + add, bc->buf->data + bc->at, (size_t)old);
  bc_set(r, bc, b, start);
  return GSR_OK;
}

/* new = self.fetcher(self.end, bend); self.cache = self.cache + new */
static int bc_append(struct gsr__rctx *r, struct bc *bc, uint64_t bend) {
  uint64_t add = bend - bc->end, old = bc->end - bc->start;
  struct gsr__buf *b;
  int status = gsr__chunk_alloc(r, old + add, &b);
  if (status != GSR_OK) return status;
  if ((status = gsr__chunk_fill(r, bc->end, b->data + old, add)) != GSR_OK) {
    gsr__buf_unref(b);
    return status;
  }
  memcpy(b->data, bc->buf->data + bc->at, (size_t)old);
  bc_set(r, bc, b, bc->start);
  return GSR_OK;
}

/* Everything in fsspec's _fetch between the hit test and `self.end = `. */
static int bc_miss(struct gsr__rctx *r, struct bc *bc, uint64_t start,
                   uint64_t end) {
  uint64_t size = r->size, bs = r->page_size;
  uint64_t bend = end + GSR__MIN(bs, size - end); /* min(size, end + bs) */
  atomic_fetch_add(&r->stats->misses, 1);
  if ((!bc->has || start < bc->start) && (!bc->has || end > bc->end))
    return bc_refetch(r, bc, start, bend); /* first read, or both ends */
  if (start < bc->start) {
    if (bc->end - end > bs) return bc_refetch(r, bc, start, bend);
    return bc_prepend(r, bc, start);
  }
  if (bend > bc->end) {
    if (bc->end > size) return GSR_OK; /* fsspec's `pass`; never true */
    if (end - bc->end > bs) return bc_refetch(r, bc, start, bend);
    return bc_append(r, bc, bend);
  }
  return GSR_OK; /* end == self.end == size: no fetch, still a miss */
}

/* num = (self.end - self.start) // (self.blocksize + 1); drop bs * num. */
static void bc_trim(struct bc *bc, uint64_t bs) {
  if (bs == UINT64_MAX) return; /* bs + 1 would wrap; num would be 0 */
  uint64_t num = (bc->end - bc->start) / (bs + 1);
  if (num > 1) {
    bc->start += bs * num;
    bc->at += (size_t)(bs * num);
  }
}

static int bc_read(struct gsr__rctx *r, void *state, uint64_t start,
                   uint64_t len, struct gsr__out *out) {
  struct bc *bc = state;
  uint64_t end = start + len;
  if (bc->has && start >= bc->start && end < bc->end) { /* strict < */
    atomic_fetch_add(&r->stats->hits, 1);
    gsr__out_put(r->stats, out, bc->buf, bc->at + (size_t)(start - bc->start),
                 len);
    return GSR_OK;
  }
  int status = bc_miss(r, bc, start, end);
  if (status != GSR_OK) return status;
  if (start < bc->start || end > bc->end) /* the rules above rule it out */
    return gsr__err(GSR_EIO, "%s: bytes cache does not cover %llu-%llu",
                    r->display, (unsigned long long)start,
                    (unsigned long long)end);
  gsr__out_put(r->stats, out, bc->buf, bc->at + (size_t)(start - bc->start),
               len);
  bc_trim(bc, r->page_size);
  return GSR_OK;
}

static void bc_destroy(void *state) {
  gsr__buf_unref(((struct bc *)state)->buf);
}

const struct gsr__cache_ops gsr__cache_bytes = {
    .name = "bytes",
    .state_size = sizeof(struct bc),
    .read = bc_read,
    .destroy = bc_destroy,
};
