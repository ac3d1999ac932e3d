/* Destinations: see dst.h. Pure functions over the caller's memory.
 *
 * SPDX-License-Identifier: MIT
 */
#include "base/dst.h"

#include <assert.h>
#include <string.h>

#include "base/internal.h"

void gsr__dst_set(struct gsr__dst *d, struct gsr__iov *seg, int n,
                  uint32_t *crc) {
  assert(n >= 0 && (n == 0 || seg != NULL));
  memset(d, 0, sizeof(*d));
  d->seg = seg;
  d->n = n;
  d->crc = crc;
  for (int i = 0; i < n; i++) d->len += seg[i].len;
  if (crc != NULL) memset(crc, 0, sizeof(*crc) * (size_t)n);
  gsr__dst_check(d);
}

int gsr__dst_has_holes(const struct gsr__dst *d) {
  for (int i = 0; i < d->n; i++)
    if (d->seg[i].base == NULL && d->seg[i].len > 0) return 1;
  return 0;
}

void gsr__dst_check(const struct gsr__dst *d) {
#ifndef NDEBUG
  uint64_t sum = 0;
  assert(d->n >= 0 && (d->n == 0 || d->seg != NULL));
  for (int i = 0; i < d->n; i++) sum += d->seg[i].len;
  assert(sum == d->len);                            /* lengths sum */
  assert(d->crc == NULL || !gsr__dst_has_holes(d)); /* CRCs: no holes */
  assert(d->marks == NULL || (d->n == 1 && d->crc != NULL)); /* seg[0]'s */
  assert(d->at_i >= 0 && d->at_i <= d->n);                   /* cursor inside */
  assert(d->at_i < d->n ? d->at_off <= d->seg[d->at_i].len : d->at_off == 0);
#else
  (void)d;
#endif
}

void gsr__dst_account(struct gsr__dst *d, int i, size_t at, size_t n,
                      const uint32_t *piece) {
  assert(i >= 0 && i < d->n && at + n <= d->seg[i].len); /* inside seg i */
  if (d->crc == NULL || n == 0) return;
  const unsigned char *p = d->seg[i].base + at; /* no hole: CRCs kept */
  if (d->marks != NULL) /* hashed stride by stride (i is 0) */
    gsr__crc32c_strided(&d->crc[i], d->marks, at, p, n);
  else
    d->crc[i] = piece != NULL ? gsr__crc32c_combine(d->crc[i], *piece, n)
                              : gsr__crc32c(d->crc[i], p, n);
}

void gsr__dst_put(struct gsr__dst *d, int i, size_t at, const void *p, size_t n,
                  const uint32_t *piece) {
  assert(i >= 0 && i < d->n && at + n <= d->seg[i].len); /* inside seg i */
  if (d->seg[i].base == NULL || n == 0) return;          /* a hole: dropped */
  memcpy(d->seg[i].base + at, p, n);
  gsr__dst_account(d, i, at, n, piece); /* still in the CPU cache */
}

void gsr__dst_scatter(struct gsr__dst *d, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) {
    assert(d->at_i < d->n); /* the caller checked that the bytes fit */
    size_t k = d->seg[d->at_i].len - d->at_off;
    if (k > n) k = n;
    gsr__dst_put(d, d->at_i, d->at_off, b, k, NULL);
    b += k;
    n -= k;
    d->at_off += k;
    if (d->at_off == d->seg[d->at_i].len) {
      d->at_i++;
      d->at_off = 0;
    }
  }
}

/* Puts d's cursor on byte at of the whole (at <= d->len). */
static void seek(struct gsr__dst *d, uint64_t at) {
  d->at_i = 0;
  while (d->at_i < d->n && at >= d->seg[d->at_i].len) {
    at -= d->seg[d->at_i].len;
    d->at_i++;
  }
  assert(d->at_i < d->n || at == 0); /* within the destination */
  d->at_off = (size_t)at;
}

void gsr__dst_write(const struct gsr__dst *d, uint64_t at, const void *p,
                    size_t n) {
  struct gsr__dst w = *d; /* a cursor of its own, no CRCs */
  w.crc = NULL;
  w.marks = NULL;
  seek(&w, at);
  gsr__dst_scatter(&w, p, n);
}

uint32_t gsr__dst_crc(const struct gsr__dst *d, uint64_t upto) {
  uint32_t crc = 0;
  if (d->crc == NULL) return 0;
  for (int i = 0; i < d->n && upto > 0; i++) {
    uint64_t n = GSR__MIN(upto, (uint64_t)d->seg[i].len);
    crc = gsr__crc32c_combine(crc, d->crc[i], n);
    upto -= n;
  }
  return crc;
}

int gsr__dst_cut(const struct gsr__dst *d, uint64_t from, uint64_t len,
                 struct gsr__iov *out) {
  struct gsr__dst c = *d;
  int k = 0;
  assert(from + len <= d->len); /* within the destination */
  seek(&c, from);
  for (int i = c.at_i; len > 0; i++) {
    const struct gsr__iov *v = &d->seg[i];
    size_t skip = i == c.at_i ? c.at_off : 0;
    size_t take = (size_t)GSR__MIN((uint64_t)(v->len - skip), len);
    if (take == 0) continue; /* an empty segment */
    out[k].base = v->base != NULL ? v->base + skip : NULL;
    out[k++].len = take;
    len -= take;
  }
  return k;
}

void gsr__dst_regroup(struct gsr__dst *d, const struct gsr__dst *pieces) {
  int j = 0;
  size_t used = 0; /* bytes of segment j accounted so far */
  assert(d->crc != NULL && pieces->crc != NULL && pieces->len == d->len);
  memset(d->crc, 0, sizeof(*d->crc) * (size_t)d->n);
  for (int k = 0; k < pieces->n; k++) {
    size_t n = pieces->seg[k].len;
    while (j < d->n && used == d->seg[j].len && n > 0) { /* next segment */
      j++;
      used = 0;
    }
    if (n == 0) continue;
    /* A piece never straddles two of d's segments. */
    assert(j < d->n && used + n <= d->seg[j].len);
    d->crc[j] = gsr__crc32c_combine(d->crc[j], pieces->crc[k], n);
    used += n;
  }
}
