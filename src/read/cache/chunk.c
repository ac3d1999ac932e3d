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

/* Fills dst with one source read; 1 if the source could tell the CRC32C
 * of each segment (a direct fetch): then in dst->crc. */
static int fill(struct gsr__rctx *r, uint64_t off, struct gsr__dst *dst,
                int *crc_ok) {
  struct gsr__out o;
  gsr__out_internal_init(&o, dst);
  int status = gsr__source_read(r, off, dst->len, &o);
  *crc_ok = status == GSR_OK && o.seg_crc_ok;
  return status;
}

int gsr__chunk_fill(struct gsr__rctx *r, uint64_t off, void *dst,
                    uint64_t len) {
  struct gsr__iov seg = {dst, (size_t)len};
  uint32_t crc;
  struct gsr__dst d;
  int crc_ok;
  gsr__dst_set(&d, &seg, 1, &crc);
  return fill(r, off, &d, &crc_ok);
}

int gsr__chunk_fetch(struct gsr__rctx *r, uint64_t off, const uint64_t *lens,
                     int n, struct gsr__buf **bufs) {
  struct gsr__iov seg[GSR__CHUNKS_MAX];
  uint32_t crc[GSR__CHUNKS_MAX];
  int status = GSR_OK, made = 0;
  assert(n >= 1 && n <= GSR__CHUNKS_MAX); /* one request's chunks */
  while (made < n && status == GSR_OK) {
    status = gsr__chunk_alloc(r, lens[made], &bufs[made]);
    if (status == GSR_OK)
      seg[made] = (struct gsr__iov){bufs[made]->data, (size_t)lens[made]};
    made++;
  }
  int crc_ok = 0;
  if (status == GSR_OK) {
    struct gsr__dst d;
    gsr__dst_set(&d, seg, made, crc);
    status = fill(r, off, &d, &crc_ok);
  }
  for (int i = 0; status == GSR_OK && crc_ok && i < made; i++) {
    bufs[i]->crc = crc[i]; /* whole chunks then need no CRC pass */
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
