/* The busy-connection check; see busy_check.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "busy_check.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A change in the number of transfers carrying bytes. */
struct edge {
  double t;
  int d; /* +1 or -1 */
};

static int cmp_edge(const void *a, const void *b) {
  const struct edge *x = a, *y = b;
  if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
  return x->d - y->d; /* an end before a start at the same instant */
}

/* (b): the stretches of [w0, w1) with fewer than conc carrying. */
static void sweep(const struct edge *e, int ne, int conc, double w0, double w1,
                  struct busy_report *o) {
  int count = 0;
  double run = 0, run_at = 0;
  for (int i = 0; i < ne; i++) {
    if (i > 0) {
      double a = e[i - 1].t > w0 ? e[i - 1].t : w0;
      double b = e[i].t < w1 ? e[i].t : w1;
      if (b > a) {
        if (count < conc) {
          if (run == 0) run_at = a;
          run += b - a;
          o->short_total += b - a;
          if (run > o->longest_short) {
            o->longest_short = run;
            o->longest_short_at = run_at;
          }
        } else {
          run = 0; /* only a stretch of full width ends one */
        }
      }
    }
    count += e[i].d;
  }
}

int busy_check(const struct busy_req *r, int n, int conc, double ttfb,
               struct busy_report *o) {
  memset(o, 0, sizeof(*o));
  o->first_late = -1;
  if (n < 0 || conc < 1) return -1;
  for (int i = 0; i < n; i++)
    if (!(r[i].end >= r[i].start)) return -1;
  o->n = n;
  if (n == 0) return 0;
  double *starts = malloc(sizeof(double) * (size_t)n);
  double *ends = malloc(sizeof(double) * (size_t)n);
  double *carry = malloc(sizeof(double) * (size_t)n);
  struct edge *e = malloc(sizeof(struct edge) * 2 * (size_t)n);
  if (!starts || !ends || !carry || !e) {
    free(starts), free(ends), free(carry), free(e);
    return -1;
  }
  int ne = 0;
  for (int i = 0; i < n; i++) {
    starts[i] = r[i].start;
    ends[i] = r[i].end;
    double first_byte = r[i].start + ttfb;
    carry[i] = r[i].end > first_byte ? r[i].end - first_byte : 0;
    if (carry[i] > 0) {
      e[ne++] = (struct edge){first_byte, +1};
      e[ne++] = (struct edge){r[i].end, -1};
    }
  }
  qsort(starts, (size_t)n, sizeof(double), cmp_double);
  qsort(ends, (size_t)n, sizeof(double), cmp_double);
  qsort(carry, (size_t)n, sizeof(double), cmp_double);
  qsort(e, (size_t)ne, sizeof(struct edge), cmp_edge);

  /* (a) */
  for (int k = conc; k < n; k++) {
    double late_by = starts[k] - ends[k - conc];
    if (late_by <= -BUSY_CLOCK_S) {
      o->handed_over++;
      continue;
    }
    o->late++;
    if (o->first_late < 0) o->first_late = k;
    if (late_by > o->worst_late) o->worst_late = late_by;
  }

  /* (b) */
  o->block_s = n % 2 ? carry[n / 2] : (carry[n / 2 - 1] + carry[n / 2]) / 2;
  double w0 = starts[0] + ttfb, w1 = ends[n - 1] - o->block_s;
  if (w1 > w0) {
    o->window_start = w0;
    o->window_end = w1;
    sweep(e, ne, conc, w0, w1, o);
    o->short_fraction = o->short_total / (w1 - w0);
  }
  free(starts), free(ends), free(carry), free(e);
  return 0;
}
