/* A destination: where a range's bytes land, from a read's caller (or a
 * cache's buffers) down to the transport's write callback and the zonal
 * backend's gRPC pieces. One type for every producer: any number of
 * segments in order, holes allowed (a NULL base drops its bytes: the gap
 * between two ranges of a vectored read), and an optional CRC32C per
 * segment computed as the bytes land, while still in the CPU cache.
 *
 * A gsr__dst is a view: its arrays are its owner's (a request's one
 * segment, a range fetch's parts, a cache's chunks), so it is copied
 * freely and never allocates.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_DST_H
#define GSR_DST_H

#include <stddef.h>
#include <stdint.h>

/* A piece of a destination: len bytes at base (NULL: a hole). */
struct gsr__iov {
  unsigned char *base;
  size_t len;
};

struct gsr__dst {
  struct gsr__iov *seg; /* n segments, in order; lengths sum to len */
  int n;
  uint64_t len;
  /* NULL, or n entries: the CRC32C of the bytes landed in each segment so
   * far. Only a destination without holes keeps CRCs. */
  uint32_t *crc;
  /* NULL, or CRC32C checkpoints of seg[0] (buf.h; n 1 and crc set):
   * marks[k] = CRC32C of its first (k + 1) x GSR__CRC_STRIDE bytes,
   * written as they land. */
  uint32_t *marks;
  /* The write cursor of gsr__dst_scatter: segment i, off bytes into it.
   * Kept across a body cut short, so a resumed body goes on from there. */
  int at_i;
  size_t at_off;
};

/* Points d at seg[0..n) (n >= 0), with crc (NULL, or n entries, zeroed
 * here) and no marks; the cursor at the start. Asserts the invariants. */
void gsr__dst_set(struct gsr__dst *d, struct gsr__iov *seg, int n,
                  uint32_t *crc);
/* Asserts d's invariants (a no-op under NDEBUG): the lengths sum to len,
 * CRCs only without holes, marks only on one segment with a CRC, the
 * cursor within the segments. */
void gsr__dst_check(const struct gsr__dst *d);
/* 1 if some segment is a hole (of 1 byte or more). */
int gsr__dst_has_holes(const struct gsr__dst *d);
/* Adds the n bytes at offset at of segment i, already in place (a
 * pread), to its CRC32C if d keeps them (piece: theirs, if known). */
void gsr__dst_account(struct gsr__dst *d, int i, size_t at, size_t n,
                      const uint32_t *piece);
/* Lands n bytes at p at offset at of segment i: copied there (a hole
 * drops them) and added to its CRC32C if d keeps them; piece, if not
 * NULL, is their CRC32C already computed. Bytes land in order within a
 * segment (at is what landed in it before). */
void gsr__dst_put(struct gsr__dst *d, int i, size_t at, const void *p, size_t n,
                  const uint32_t *piece);
/* Lands n bytes at the cursor and moves it past them: a chunk may span
 * any number of segments. The caller checked that they fit (asserted). */
void gsr__dst_scatter(struct gsr__dst *d, const void *p, size_t n);
/* Copies n bytes at p into d's bytes [at, at+n) (a hole drops its
 * share): no cursor, no CRC (a cache's bytes, whose CRC is known). */
void gsr__dst_write(const struct gsr__dst *d, uint64_t at, const void *p,
                    size_t n);
/* The CRC32C of the first upto bytes of d, those that landed so far (in
 * order): its segments' combined; 0 when d keeps none. */
uint32_t gsr__dst_crc(const struct gsr__dst *d, uint64_t upto);
/* Writes into out the segments of d covering its bytes [from, from+len)
 * (a hole stays a hole), the first and last cut to fit; returns how many
 * (at most d->n). */
int gsr__dst_cut(const struct gsr__dst *d, uint64_t from, uint64_t len,
                 struct gsr__iov *out);
/* Sets d's CRCs (d keeps them) from those of pieces, which cover d's
 * bytes in order, each within one of d's segments (d cut into a fetch's
 * parts, and the parts' destinations laid end to end). */
void gsr__dst_regroup(struct gsr__dst *d, const struct gsr__dst *pieces);

#endif /* GSR_DST_H */
