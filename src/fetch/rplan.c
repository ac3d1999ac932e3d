/* The vectored-read planner: sort, merge into extents, join extents into
 * spans by cost. Pure: no I/O, no clock. See rplan.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "fetch/rplan.h"

struct sorted {
  uint64_t off, len;
  size_t idx;
};

/* Offset first; at one offset the longest first (it takes the bytes, the
 * others copy them); then the caller's order, so the plan is stable. */
static int by_offset(const void *a, const void *b) {
  const struct sorted *x = a, *y = b;
  if (x->off != y->off) return x->off < y->off ? -1 : 1;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void gsr__rplan_free(struct gsr__rplan *p) {
  gsr__free(p->spans);
  gsr__free(p->segs);
  gsr__free(p->order);
  gsr__free(p->copied);
  memset(p, 0, sizeof(*p));
}

uint64_t gsr__rplan_hole_limit(double rate, double ttfb) {
  if (!(rate > 0) || !(ttfb > 0)) return GSR__HOLE_DEFAULT;
  double h = rate * ttfb / GSR__HOLE_MARGIN;
  if (h >= (double)GSR__HOLE_MAX) return GSR__HOLE_MAX;
  return (uint64_t)h;
}

int gsr__rplan_parts(size_t remaining, int conc) {
  if (conc <= 1 || remaining >= (size_t)conc) return 1;
  return conc - (int)remaining + 1;
}

static double width_time(size_t spans, uint64_t bytes, double rate, double ttfb,
                         int w) {
  double waits = (double)((spans + (size_t)w - 1) / (size_t)w);
  return waits * ttfb + (double)bytes / ((double)w * rate);
}

int gsr__rplan_width(size_t spans, uint64_t bytes, double rate, double ttfb,
                     int least, int max) {
  if (max < 1) max = 1;
  if (spans == 0) return 1;
  if (!(rate > 0) || !(ttfb > 0)) {
    size_t w = GSR__MAX(spans, (size_t)GSR__MAX(least, 1));
    return (int)GSR__MIN(w, (size_t)max);
  }
  double best = width_time(spans, bytes, rate, ttfb, max);
  int w = 1;
  while (w < max &&
         width_time(spans, bytes, rate, ttfb, w) > GSR__WIDTH_TOLERANCE * best)
    w++;
  assert(w >= 1 && w <= max);
  return w;
}

/* What the plan promises its users: spans in offset order, apart; each
 * span's segments in offset order, apart, inside it. */
static void check_plan(const struct gsr__rplan *p) {
#ifndef NDEBUG
  for (size_t s = 0; s < p->n_spans; s++) {
    const struct gsr__rspan *sp = &p->spans[s];
    assert(sp->n_segs >= 1 && sp->first_seg + sp->n_segs <= p->n_segs);
    assert(s == 0 || p->spans[s - 1].off + p->spans[s - 1].len < sp->off);
    uint64_t at = sp->off, holes = 0;
    for (size_t g = sp->first_seg; g < sp->first_seg + sp->n_segs; g++) {
      assert(p->segs[g].off >= at && p->segs[g].len > 0);
      holes += p->segs[g].off - at;
      at = p->segs[g].off + p->segs[g].len;
    }
    assert(at == sp->off + sp->len && holes == sp->hole_bytes);
  }
#else
  (void)p;
#endif
}

/* The state of one pass over the sorted ranges. */
struct planner {
  const struct gsr__rplan_limits *lim;
  struct gsr__rplan *p;
  int open;                  /* a span is open (the last of p->spans) */
  uint64_t ext_off, ext_end; /* the extent being built */
  size_t ext_first_seg, ext_first;
};

/* Ends the extent being built: joins it to the open span if the hole costs
 * less than a request and the span stays within its limit, else opens a
 * new span with it. */
static void close_extent(struct planner *pl, size_t end_order) {
  struct gsr__rplan *p = pl->p;
  struct gsr__rspan *s = pl->open ? &p->spans[p->n_spans - 1] : NULL;
  if (s != NULL && pl->ext_off - (s->off + s->len) <= pl->lim->hole_limit &&
      pl->ext_end - s->off <= pl->lim->span_limit) {
    uint64_t hole = pl->ext_off - (s->off + s->len);
    s->hole_bytes += hole;
    p->hole_bytes += hole;
    p->bytes += pl->ext_end - (s->off + s->len);
    s->len = pl->ext_end - s->off;
  } else {
    s = &p->spans[p->n_spans++];
    s->off = pl->ext_off;
    s->len = pl->ext_end - pl->ext_off;
    s->hole_bytes = 0;
    s->first_seg = pl->ext_first_seg;
    s->first = pl->ext_first;
    p->bytes += s->len;
    pl->open = 1;
  }
  s->n_segs = p->n_segs - s->first_seg;
  s->n = end_order - s->first;
}

int gsr__rplan_build(const struct gsr__rplan_range *r, size_t n,
                     const struct gsr__rplan_limits *lim,
                     struct gsr__rplan *out) {
  memset(out, 0, sizeof(*out));
  size_t m = 0;
  for (size_t i = 0; i < n; i++) m += r[i].len > 0;
  struct sorted *v = gsr__malloc((m ? m : 1) * sizeof(*v));
  out->copied = gsr__calloc(n ? n : 1, sizeof(*out->copied));
  out->order = gsr__malloc((m ? m : 1) * sizeof(*out->order));
  out->segs = gsr__malloc((m ? m : 1) * sizeof(*out->segs));
  out->spans = gsr__malloc((m ? m : 1) * sizeof(*out->spans));
  if (v == NULL || out->copied == NULL || out->order == NULL ||
      out->segs == NULL || out->spans == NULL) {
    gsr__free(v);
    gsr__rplan_free(out);
    return gsr__err(GSR_ENOMEM, "out of memory planning %zu ranges", n);
  }
  m = 0;
  for (size_t i = 0; i < n; i++)
    if (r[i].len > 0) v[m++] = (struct sorted){r[i].off, r[i].len, i};
  qsort(v, m, sizeof(*v), by_offset);

  struct planner pl = {.lim = lim, .p = out};
  for (size_t k = 0; k < m; k++) {
    uint64_t off = v[k].off, end = off + v[k].len;
    if (k == 0 || off > pl.ext_end) { /* a gap: a new extent */
      if (k > 0) close_extent(&pl, k);
      pl.ext_off = off;
      pl.ext_end = off;
      pl.ext_first_seg = out->n_segs;
      pl.ext_first = k;
    }
    out->order[k] = v[k].idx;
    /* off <= ext_end: the extent already holds [off, ext_end). */
    uint64_t own = GSR__MAX(off, pl.ext_end);
    out->copied[v[k].idx] = GSR__MIN(own, end) - off;
    if (end > pl.ext_end) {
      out->segs[out->n_segs++] = (struct gsr__rseg){pl.ext_end,
                                                    end - pl.ext_end, v[k].idx};
      pl.ext_end = end;
    }
  }
  if (m > 0) close_extent(&pl, m);
  out->n_order = m;
  check_plan(out);
  gsr__free(v);
  /* The worst case (every range its own span) was allocated; give back
   * what the joins saved. A failed shrink keeps the larger block. */
  if (out->n_spans > 0 && out->n_spans < m) {
    struct gsr__rspan *s = gsr__realloc(out->spans,
                                        out->n_spans * sizeof(*out->spans));
    if (s != NULL) out->spans = s;
  }
  return GSR_OK;
}

size_t gsr__rplan_seg_at(const struct gsr__rplan *p, size_t s, uint64_t off) {
  const struct gsr__rspan *sp = &p->spans[s];
  size_t lo = sp->first_seg, hi = sp->first_seg + sp->n_segs; /* [lo, hi) */
  while (hi - lo > 1) { /* the last segment starting at or before off */
    size_t mid = lo + (hi - lo) / 2;
    if (p->segs[mid].off <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}
