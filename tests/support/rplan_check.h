/* The vectored-read planner's invariants, checked on a plan (shared by
 * tests/unit/test_rplan.c and tests/fuzz/fuzz_ranges.c). Returns NULL if
 * the plan of r[0..n) under lim is sound, else what is wrong:
 *  - spans are in order and disjoint, and no two neighbours could have
 *    been joined (the hole or the joined length is over its limit);
 *  - a span's segments are in order, disjoint, start and end it, their
 *    gaps (the holes) are each within hole_limit and sum to hole_bytes; a
 *    span with a hole is within span_limit;
 *  - every byte of every non-empty range lies in exactly one span, the
 *    one whose stretch of `order` holds it; its own bytes [copied, len)
 *    are exactly one segment of its own; its copied bytes are segments of
 *    other ranges of that span (never a hole);
 *  - empty ranges are in no span; the totals add up.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_RPLAN_CHECK_H
#define GSR_RPLAN_CHECK_H

#include <stdlib.h>

#include "fetch/rplan.h"

static inline const char *rplan_check(const struct gsr__rplan_range *r,
                                      size_t n,
                                      const struct gsr__rplan_limits *lim,
                                      const struct gsr__rplan *p) {
  size_t nonempty = 0, next_seg = 0, next_order = 0;
  uint64_t bytes = 0, holes = 0;
  unsigned char *seen = calloc(n ? n : 1, 1);
  size_t *own = malloc((n ? n : 1) * sizeof(*own)); /* a range's segment */
  const char *why = NULL;
  if (seen == NULL || own == NULL) abort();
  for (size_t i = 0; i < n; i++) {
    nonempty += r[i].len > 0;
    own[i] = (size_t)-1;
    if (r[i].len == 0 && p->copied[i] != 0) why = "empty range copies";
  }
  if (p->n_order != nonempty) why = "order misses ranges";
  for (size_t s = 0; s < p->n_spans && why == NULL; s++) {
    const struct gsr__rspan *sp = &p->spans[s];
    uint64_t end = sp->off + sp->len, at = sp->off, hole = 0;
    if (sp->len == 0) why = "empty span";
    if (s > 0) {
      const struct gsr__rspan *pr = &p->spans[s - 1];
      uint64_t pend = pr->off + pr->len;
      if (sp->off <= pend)
        why = "spans overlap, touch or are out of order";
      else if (sp->off - pend <= lim->hole_limit &&
               end - pr->off <= lim->span_limit)
        why = "two spans could have been joined";
    }
    if (sp->first_seg != next_seg || sp->n_segs == 0) why = "segments skipped";
    if (sp->first != next_order || sp->n == 0) why = "order skipped";
    if (why != NULL) break;
    next_seg += sp->n_segs;
    next_order += sp->n;
    for (size_t k = sp->first_seg; k < sp->first_seg + sp->n_segs; k++) {
      const struct gsr__rseg *g = &p->segs[k];
      if (k >= p->n_segs || g->len == 0 || g->off < at || g->range >= n) {
        why = "bad segment";
        break;
      }
      if (g->off - at > lim->hole_limit) why = "hole over the limit";
      hole += g->off - at;
      at = g->off + g->len;
      if (own[g->range] != (size_t)-1) why = "range with two segments";
      own[g->range] = k;
      const struct gsr__rplan_range *x = &r[g->range];
      if (g->off != x->off + p->copied[g->range] || at != x->off + x->len)
        why = "segment is not its range's own bytes";
    }
    if (why != NULL) break;
    if (at != end) why = "segments do not end the span";
    if (hole != sp->hole_bytes) why = "hole bytes miscounted";
    if (hole > 0 && sp->len > lim->span_limit) why = "span over the limit";
    bytes += sp->len;
    holes += hole;
    for (size_t j = sp->first; j < sp->first + sp->n && why == NULL; j++) {
      size_t i = p->order[j];
      if (i >= n || r[i].len == 0 || seen[i]) {
        why = "bad order entry";
        break;
      }
      seen[i] = 1;
      if (r[i].off < sp->off || r[i].off + r[i].len > end) {
        why = "range outside its span";
        break;
      }
      /* The copied bytes: other ranges' segments, no hole between. */
      uint64_t c = r[i].off, cend = r[i].off + p->copied[i];
      while (c < cend) {
        size_t k = gsr__rplan_seg_at(p, s, c);
        const struct gsr__rseg *g = &p->segs[k];
        if (g->off > c || g->off + g->len <= c || g->range == i) {
          why = "copied bytes not in another range's segment";
          break;
        }
        c = g->off + g->len;
      }
    }
  }
  if (why == NULL) {
    if (next_seg != p->n_segs || next_order != p->n_order)
      why = "segments or order outside every span";
    else if (bytes != p->bytes || holes != p->hole_bytes)
      why = "totals do not add up";
    for (size_t i = 0; i < n && why == NULL; i++)
      if (r[i].len > 0 &&
          (!seen[i] || (own[i] == (size_t)-1) != (p->copied[i] == r[i].len)))
        why = "a range is not covered";
  }
  free(seen);
  free(own);
  return why;
}

#endif /* GSR_RPLAN_CHECK_H */
