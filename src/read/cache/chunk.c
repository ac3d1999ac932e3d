/* Chunk helpers shared by the caches: allocate a buffer charged to the
 * client's budget, fill it from the source with one read, and keep the
 * file's peak_buffered figure. See cache.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "read/cache/cache.h"

int gsr__chunk_alloc(struct gsr__rctx *r, uint64_t len, struct gsr__buf **out) {
  *out = gsr__buf_new((size_t)len, r->budget);
  if (*out == NULL)
    return gsr__err(GSR_ENOMEM, "%s: out of memory for a %llu-byte chunk",
                    r->display, (unsigned long long)len);
  return GSR_OK;
}

/* Fills iov with one source read; when the source could tell the CRC32C
 * of each segment (a direct fetch), stores them in seg_crc and returns 1
 * in *crc_ok. */
static int fill(struct gsr__rctx *r, uint64_t off, const struct gsr__iov *iov,
                int n, uint32_t *seg_crc, int *crc_ok) {
  struct gsr__out o;
  uint64_t len = 0;
  for (int i = 0; i < n; i++) len += iov[i].len;
  gsr__out_internal_init(&o, iov, n);
  int status = gsr__source_read(r, off, len, &o);
  *crc_ok = status == GSR_OK && o.seg_crc_ok;
  if (*crc_ok) memcpy(seg_crc, o.seg_crc, sizeof(uint32_t) * (size_t)n);
  return status;
}

int gsr__chunk_fill(struct gsr__rctx *r, uint64_t off,
                    const struct gsr__iov *iov, int n) {
  uint32_t seg_crc[GSR__REQ_IOV];
  int crc_ok;
  return fill(r, off, iov, n, seg_crc, &crc_ok);
}

int gsr__chunk_fetch(struct gsr__rctx *r, uint64_t off, const uint64_t *lens,
                     int n, struct gsr__buf **bufs) {
  struct gsr__iov iov[GSR__REQ_IOV] = {{NULL, 0}};
  int status = GSR_OK, made = 0;
  assert(n >= 1 && n <= GSR__REQ_IOV); /* one request's segments */
  while (made < n && made < GSR__REQ_IOV && status == GSR_OK) {
    status = gsr__chunk_alloc(r, lens[made], &bufs[made]);
    if (status == GSR_OK)
      iov[made] = (struct gsr__iov){bufs[made]->data, (size_t)lens[made]};
    made++;
  }
  uint32_t seg_crc[GSR__REQ_IOV];
  int crc_ok = 0;
  if (status == GSR_OK) status = fill(r, off, iov, made, seg_crc, &crc_ok);
  for (int i = 0; status == GSR_OK && crc_ok && i < made; i++) {
    bufs[i]->crc = seg_crc[i]; /* whole chunks then need no CRC pass */
    bufs[i]->has_crc = 1;
  }
  if (status != GSR_OK) /* bufs[made - 1] is NULL if its alloc failed */
    for (int i = 0; i < made; i++) bufs[i] = gsr__buf_unref(bufs[i]);
  return status;
}

/* Here, not in file.c: a cache's way down must not depend on what opens
 * the caches. */
int gsr__source_read(struct gsr__rctx *r, uint64_t off, uint64_t len,
                     struct gsr__out *out) {
  return r->source(r->source_arg, off, len, out);
}

int gsr__out_full(const struct gsr__out *out) {
  return out->slices != NULL && out->n_slices == out->max_slices;
}

void gsr__cache_held(struct gsr__rctx *r, uint64_t held) {
  uint_fast64_t p = atomic_load(&r->stats->peak_buffered);
  while (held > p &&
         !atomic_compare_exchange_weak(&r->stats->peak_buffered, &p, held)) {
  }
}
