/* Delivering bytes to a read's destination: a copy into caller memory, or
 * a slice that holds a reference. Counted in the file's stats.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "read/file.h"

void gsr__out_copy_init(struct gsr__out *o, void *dst, size_t len) {
  memset(o, 0, sizeof(*o));
  o->one = (struct gsr__iov){dst, len};
  gsr__dst_set(&o->dst, &o->one, 1, &o->one_crc);
}

void gsr__out_slices_init(struct gsr__out *o, gsr_slice *s, size_t max) {
  memset(o, 0, sizeof(*o));
  o->slices = s;
  o->max_slices = max;
}

void gsr__out_internal_init(struct gsr__out *o, const struct gsr__dst *dst) {
  memset(o, 0, sizeof(*o));
  assert(dst->crc != NULL); /* the segments' CRCs may be kept */
  o->dst = *dst;
  o->internal = 1;
}

/* known: the CRC of the bytes, or NULL to compute it (right after the
 * copy, while they are still in the cache). */
static uint64_t put(struct gsr__stats *st, struct gsr__out *o,
                    struct gsr__buf *b, size_t at, uint64_t len,
                    const uint32_t *known) {
  if (len == 0) return 0;
  assert(at + len <= b->cap); /* the bytes lie inside the buffer */
  if (o->slices != NULL) {
    if (o->n_slices == o->max_slices) return 0;
    gsr_slice *s = &o->slices[o->n_slices++];
    s->data = b->data + at;
    s->len = (size_t)len;
    s->owner = gsr__buf_ref(b);
    atomic_fetch_add(&st->bytes_referenced, len);
  } else {
    gsr__dst_write(&o->dst, o->done, b->data + at, (size_t)len);
    if (!o->internal) atomic_fetch_add(&st->bytes_copied, len);
  }
  if (o->want_crc) {
    if (known == NULL && at == 0 && len == b->cap && b->has_crc)
      known = &b->crc; /* computed by the I/O thread as it arrived */
    /* Else from the checkpoints the I/O thread wrote, if it did. */
    uint32_t c = known ? *known : gsr__buf_crc(b, at, (size_t)len);
    o->crc = gsr__crc32c_combine(o->crc, c, len);
  }
  o->done += len;
  return len;
}

uint64_t gsr__out_put(struct gsr__stats *st, struct gsr__out *o,
                      struct gsr__buf *b, size_t at, uint64_t len) {
  return put(st, o, b, at, len, NULL);
}

uint64_t gsr__out_put_crc(struct gsr__stats *st, struct gsr__out *o,
                          struct gsr__buf *b, size_t at, uint64_t len,
                          uint32_t crc) {
  return put(st, o, b, at, len, &crc);
}

void gsr__out_landed(struct gsr__out *o, uint64_t len, uint32_t crc) {
  if (o->want_crc) o->crc = gsr__crc32c_combine(o->crc, crc, len);
  o->done += len;
}

void gsr__out_abandon(struct gsr__out *o) {
  for (size_t i = 0; o->slices != NULL && i < o->n_slices; i++)
    gsr__slice_release(&o->slices[i]);
  o->n_slices = 0;
  o->done = 0;
}

void gsr__slice_release(gsr_slice *s) {
  if (s == NULL || s->owner == NULL) return;
  gsr__buf_unref(s->owner);
  s->owner = NULL;
  s->data = NULL;
  s->len = 0;
}
