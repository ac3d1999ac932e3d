/* The hand-over check; see busy_check.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "busy_check.h"

#include <stdlib.h>
#include <string.h>

/* A GET and where it stands in the log's order of ends. */
struct ranked {
  struct busy_get g;
  int ended;
};

static int by_first(const void *a, const void *b) {
  const struct busy_get *x = &((const struct ranked *)a)->g,
                        *y = &((const struct ranked *)b)->g;
  if (x->first != y->first)
    return (x->first > y->first) - (x->first < y->first);
  return (x->last > y->last) - (x->last < y->last);
}

/* (a): sorted ranges cover [0, size) once each. */
static void tiling(const struct ranked *s, int n, uint64_t size,
                   struct busy_report *o) {
  uint64_t next = 0; /* the first byte not yet covered */
  for (int i = 0; i < n; i++) {
    if (s[i].g.first != next) {
      o->gap_at = s[i].g.first < next ? s[i].g.first : next;
      return;
    }
    next = s[i].g.last + 1;
  }
  if (next != size) {
    o->gap_at = next < size ? next : size;
    return;
  }
  o->tiled = 1;
}

int busy_check(const struct busy_get *g, int n, uint64_t size, int conc,
               struct busy_report *o) {
  memset(o, 0, sizeof(*o));
  o->first_late = o->late_after = -1;
  if (n < 0 || conc < 1) return -1;
  for (int i = 0; i < n; i++)
    if (g[i].last < g[i].first) return -1;
  o->n = n;
  struct ranked *s = malloc(sizeof(*s) * (size_t)(n ? n : 1));
  if (s == NULL) return -1;
  for (int i = 0; i < n; i++) s[i] = (struct ranked){g[i], i};
  qsort(s, (size_t)n, sizeof(*s), by_first);
  tiling(s, n, size, o);

  for (int k = 0; k < n; k++) {
    int prev = -1, seen = 0; /* the GET its connection served before it */
    for (int j = 0; j < n; j++) {
      const struct busy_get *a = &s[j].g, *b = &s[k].g;
      if (j == k || a->connection != b->connection) continue;
      if (a->on_connection == b->on_connection) {
        free(s);
        return -1;
      }
      seen |= j < k;
      if (a->on_connection < b->on_connection &&
          (prev < 0 || a->on_connection > s[prev].g.on_connection))
        prev = j;
    }
    o->connections += !seen; /* counted at its first GET by first byte */
    if (prev > k) o->out_of_order++; /* (b) */
    if (k < conc) continue;
    /* (c): at most k - conc responses may have ended before GET k went
     * out; its connection's previous one was the (ended + 1)-th. */
    if (prev >= 0 && s[prev].ended >= k - conc) {
      o->late++;
      if (o->first_late < 0) {
        o->first_late = k;
        o->late_after = s[prev].ended;
      }
    } else {
      o->handed_over++;
    }
  }
  free(s);
  return 0;
}

enum busy_fault busy_verdict(const struct busy_report *r, int conc) {
  if (!r->tiled) return BUSY_NOT_TILED;
  if (r->out_of_order > 0) return BUSY_OUT_OF_ORDER;
  if (r->n < 2 * conc) return BUSY_TOO_FEW;
  if (r->late > r->handed_over) return BUSY_MOSTLY_LATE;
  return BUSY_OK;
}
