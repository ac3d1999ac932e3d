/* The direct source: every read is one range fetch (split over the file's
 * connections), written straight into the destination. In copy mode that
 * is the caller's buffer: the bytes are copied once, from curl's receive
 * buffer to their final place. In slice mode it is a fresh buffer.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fetch/rfetch.h"
#include "read/file.h"

int gsr__direct_read(const struct gsr__rctx *r, uint64_t off, uint64_t len,
                     struct gsr__out *out) {
  if (out->slices == NULL) {
    uint32_t crc;
    /* from out->done on; from the start to the end: each segment's CRC */
    int status = gsr__rfetch_run(r->target, off, &out->dst, out->done, len,
                                 r->concurrency, r->min_part, &crc);
    out->seg_crc_ok = status == GSR_OK && out->done == 0 && len == out->dst.len;
    if (status != GSR_OK) return status;
    if (!out->internal) atomic_fetch_add(&r->stats->bytes_direct, len);
    gsr__out_landed(out, len, crc);
    return GSR_OK;
  }
  if (out->n_slices == out->max_slices) return GSR_OK;
  struct gsr__buf *b = gsr__buf_new((size_t)len, r->budget);
  if (b == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory (%llu bytes)",
                    (unsigned long long)len);
  struct gsr__iov one = {b->data, (size_t)len};
  uint32_t crc, seg_crc;
  struct gsr__dst d;
  gsr__dst_set(&d, &one, 1, &seg_crc);
  int status = gsr__rfetch_run(r->target, off, &d, 0, len, r->concurrency,
                               r->min_part, &crc);
  if (status == GSR_OK) gsr__out_put_crc(r->stats, out, b, 0, len, crc);
  gsr__buf_unref(b);
  return status;
}

static int direct_read(const struct gsr__sctx *s, void *state, uint64_t off,
                       uint64_t len, struct gsr__out *out) {
  (void)state;
  return gsr__direct_read(s->r, off, len, out);
}

const struct gsr__reader_ops gsr__direct_reader = {
    .name = "direct",
    .read = direct_read,
};
