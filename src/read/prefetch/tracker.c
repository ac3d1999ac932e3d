/* The read-size tracker: the last GSR__TRACKER_LEN read sizes and their
 * average, which sizes the prefetch window (gcsfs's
 * RunningAverageTracker, same length).
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "read/prefetch/prefetch.h"

void gsr__tracker_add(struct gsr__tracker *t, uint64_t size) {
  if (t->n == GSR__TRACKER_LEN)
    t->sum -= t->sizes[t->next];
  else
    t->n++;
  t->sizes[t->next] = size;
  t->sum += size;
  t->next = (t->next + 1) % GSR__TRACKER_LEN;
}

uint64_t gsr__tracker_average(const struct gsr__tracker *t, uint64_t dflt) {
  return t->n == 0 ? dflt : t->sum / (uint64_t)t->n;
}

void gsr__tracker_clear(struct gsr__tracker *t) { memset(t, 0, sizeof(*t)); }
