/* Unit tests of the vectored-read planner (src/fetch/rplan.c):
 * sorting with the caller's indices kept, merging overlaps and
 * neighbours, joining by the hole limit, the span limit, the cost model,
 * and random range sets checked against the invariants.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/rplan_check.h"
#include "base/internal.h"
#include "fetch/rplan.h"

#define R(o, l) ((struct gsr__rplan_range){(o), (l)})

static void plan(const struct gsr__rplan_range *r, size_t n, uint64_t hole,
                 uint64_t span, struct gsr__rplan *p) {
  struct gsr__rplan_limits lim = {hole, span};
  assert_int_equal(gsr__rplan_build(r, n, &lim, p), GSR_OK);
  const char *why = rplan_check(r, n, &lim, p);
  if (why != NULL) fail_msg("plan unsound: %s", why);
}

static void test_empty(void **state) {
  (void)state;
  struct gsr__rplan p;
  plan(NULL, 0, 100, 1000, &p);
  assert_int_equal(p.n_spans, 0);
  gsr__rplan_free(&p);
  struct gsr__rplan_range zero[] = {R(5, 0), R(0, 0)};
  plan(zero, 2, 100, 1000, &p);
  assert_int_equal(p.n_spans, 0);
  assert_int_equal(p.n_order, 0);
  gsr__rplan_free(&p);
}

/* Unsorted ranges come out by offset, naming the caller's indices. */
static void test_sorted_indices(void **state) {
  (void)state;
  struct gsr__rplan_range r[] = {R(300, 10), R(100, 10), R(200, 10)};
  struct gsr__rplan p;
  plan(r, 3, 0, 1000, &p);
  assert_int_equal(p.n_spans, 3);
  assert_int_equal(p.order[0], 1);
  assert_int_equal(p.order[1], 2);
  assert_int_equal(p.order[2], 0);
  assert_int_equal(p.spans[0].off, 100);
  assert_int_equal(p.segs[0].range, 1);
  assert_int_equal(p.spans[2].off, 300);
  assert_int_equal(p.bytes, 30);
  assert_int_equal(p.hole_bytes, 0);
  gsr__rplan_free(&p);
}

/* Overlapping, contained, duplicate and adjacent ranges: one span, each
 * byte fetched once; the later ranges copy what they share. */
static void test_overlaps(void **state) {
  (void)state;
  struct gsr__rplan_range r[] = {R(0, 100), R(50, 100), R(60, 10),
                                 R(0, 100), R(150, 50), R(0, 0)};
  struct gsr__rplan p;
  plan(r, 6, 0, 1000, &p);
  assert_int_equal(p.n_spans, 1);
  assert_int_equal(p.spans[0].off, 0);
  assert_int_equal(p.spans[0].len, 200);
  assert_int_equal(p.spans[0].hole_bytes, 0);
  assert_int_equal(p.n_segs, 3);        /* 0-100, 100-150, 150-200 */
  assert_int_equal(p.segs[0].range, 0); /* the first of the duplicates */
  assert_int_equal(p.copied[0], 0);
  assert_int_equal(p.copied[3], 100); /* the duplicate: all copied */
  assert_int_equal(p.copied[1], 50);
  assert_int_equal(p.copied[2], 10);
  assert_int_equal(p.copied[4], 0); /* adjacent: its own bytes */
  assert_int_equal(p.copied[5], 0);
  assert_int_equal(p.n_order, 5);
  assert_int_equal(gsr__rplan_seg_at(&p, 0, 120), 1);
  assert_int_equal(gsr__rplan_seg_at(&p, 0, 99), 0);
  /* At one offset the longest range takes the bytes. */
  struct gsr__rplan_range s[] = {R(10, 5), R(10, 20)};
  gsr__rplan_free(&p);
  plan(s, 2, 0, 1000, &p);
  assert_int_equal(p.n_segs, 1);
  assert_int_equal(p.segs[0].range, 1);
  assert_int_equal(p.copied[0], 5);
  gsr__rplan_free(&p);
}

/* Holes up to the limit are fetched; a larger one costs a request. */
static void test_hole_limit(void **state) {
  (void)state;
  struct gsr__rplan_range r[] = {R(0, 10), R(20, 10), R(40, 10), R(61, 10)};
  struct gsr__rplan p;
  plan(r, 4, 10, 1000, &p);
  assert_int_equal(p.n_spans, 2);
  assert_int_equal(p.spans[0].len, 50);
  assert_int_equal(p.spans[0].hole_bytes, 20);
  assert_int_equal(p.spans[1].off, 61);
  assert_int_equal(p.hole_bytes, 20);
  assert_int_equal(p.bytes, 60);
  gsr__rplan_free(&p);
  plan(r, 4, 11, 1000, &p);
  assert_int_equal(p.n_spans, 1);
  assert_int_equal(p.hole_bytes, 31);
  gsr__rplan_free(&p);
  plan(r, 4, 0, 1000, &p);
  assert_int_equal(p.n_spans, 4);
  gsr__rplan_free(&p);
}

/* Joins stop at the span limit; a run longer than it stays whole. */
static void test_span_limit(void **state) {
  (void)state;
  struct gsr__rplan_range r[] = {R(0, 10),  R(15, 10),   R(30, 10),
                                 R(45, 10), R(100, 500), R(550, 100)};
  struct gsr__rplan p;
  plan(r, 6, 100, 40, &p);
  assert_int_equal(p.n_spans, 3);
  assert_int_equal(p.spans[0].len, 40); /* 0-40: 55 would be over */
  assert_int_equal(p.spans[1].off, 45);
  assert_int_equal(p.spans[1].len, 10); /* 45-650 would be over */
  assert_int_equal(p.spans[2].off, 100);
  assert_int_equal(p.spans[2].len, 550); /* one run: not cut */
  assert_int_equal(p.spans[2].hole_bytes, 0);
  gsr__rplan_free(&p);
}

/* The cost model: rate x first-byte time / 16, a default before any
 * measurement, a cap. */
static void test_cost_model(void **state) {
  (void)state;
  assert_true(gsr__rplan_hole_limit(0, 0) == GSR__HOLE_DEFAULT);
  assert_true(gsr__rplan_hole_limit(100e6, 0) == GSR__HOLE_DEFAULT);
  /* 1/16 of the break-even rate x ttfb: a join saves >= 15/16 of a wait. */
  uint64_t h = gsr__rplan_hole_limit(100e6, 0.016);
  assert_true(h >= 99999 && h <= 100000);
  h = gsr__rplan_hole_limit(220e6, 0.038); /* a GCS link: 220 MB/s, 38 ms */
  assert_true(h >= 522499 && h <= 522500);
  assert_true(gsr__rplan_hole_limit(1e12, 1) == GSR__HOLE_MAX);
}

/* Spans split only where connections would idle: one part while the
 * spans left fill the connections, then enough to fill the rest. */
static void test_parts(void **state) {
  (void)state;
  assert_int_equal(gsr__rplan_parts(22, 4), 1);
  assert_int_equal(gsr__rplan_parts(4, 4), 1);
  assert_int_equal(gsr__rplan_parts(3, 4), 2);
  assert_int_equal(gsr__rplan_parts(1, 4), 4);
  assert_int_equal(gsr__rplan_parts(1, 1), 1);
  assert_int_equal(gsr__rplan_parts(0, 0), 1);
}

/* The vectored read's width: many spans over a link with first-byte
 * waits want the pool; one small span wants one request; nothing measured
 * means a request per span within the pool, at least the file's. */
static void test_width(void **state) {
  (void)state;
  const double gcs_rate = 220.0 * 1024 * 1024, gcs_ttfb = 0.038;
  /* Zarr-like: 252 spans, 160 MB: a first-byte wait per round dominates. */
  int w = gsr__rplan_width(252, 160000000, gcs_rate, gcs_ttfb, 4, 16);
  assert_true(w >= 14 && w <= 16);
  /* Parquet-like: 42 spans of about 4 MB. */
  w = gsr__rplan_width(42, 170000000, gcs_rate, gcs_ttfb, 4, 16);
  assert_true(w >= 12 && w <= 16);
  /* One 1 MiB span: the first-byte wait is the time; more connections
   * save a few ms of 43. */
  assert_true(gsr__rplan_width(1, 1 << 20, gcs_rate, gcs_ttfb, 4, 16) <= 2);
  /* Two huge spans: the bytes want every connection (parts). */
  w = gsr__rplan_width(2, (uint64_t)2 << 30, gcs_rate, gcs_ttfb, 4, 16);
  assert_true(w >= 15);
  /* A pool of one. */
  assert_int_equal(gsr__rplan_width(252, 160000000, gcs_rate, gcs_ttfb, 4, 1),
                   1);
  /* Nothing measured. */
  assert_int_equal(gsr__rplan_width(252, 160000000, 0, 0, 4, 16), 16);
  assert_int_equal(gsr__rplan_width(2, 1000, 0, 0.038, 4, 16), 4);
  assert_int_equal(gsr__rplan_width(9, 1000, gcs_rate, 0, 4, 16), 9);
  assert_int_equal(gsr__rplan_width(0, 0, 0, 0, 4, 16), 1);
  assert_int_equal(gsr__rplan_width(5, 1000, 0, 0, 4, 0), 1);
  /* Never above the pool, never below one, whatever the link. */
  for (int spans = 1; spans < 600; spans += 37)
    for (double t = 0.001; t < 2; t *= 3) {
      w = gsr__rplan_width((size_t)spans, (uint64_t)spans << 20, 1e8, t, 4, 64);
      assert_true(w >= 1 && w <= 64);
    }
}

/* Random range sets (duplicates, overlaps, empties, clustered offsets)
 * under random limits: every plan sound. */
static void test_random(void **state) {
  (void)state;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(seed % 64);
    struct gsr__rplan_range r[64];
    for (size_t i = 0; i < n; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t x = seed >> 16;
      r[i].off = x % 2000;
      r[i].len = (x >> 12) % 7 == 0 ? 0 : (x >> 20) % 150;
      if (i > 0 && (x >> 30) % 5 == 0) r[i] = r[i - 1]; /* duplicate */
    }
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    struct gsr__rplan p;
    plan(r, n, (seed >> 20) % 200, (seed >> 40) % 1000, &p);
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++) want += r[i].len > 0;
    assert_int_equal(p.n_order, want);
    gsr__rplan_free(&p);
  }
}

/* A million ranges: planned in one call (O(n log n)). */
static void test_million(void **state) {
  (void)state;
  size_t n = 1000000;
  struct gsr__rplan_range *r = malloc(n * sizeof(*r));
  assert_non_null(r);
  for (size_t i = 0; i < n; i++) /* reversed, every third one a gap */
    r[i] = R((uint64_t)(n - i) * 100, i % 3 ? 100 : 50);
  struct gsr__rplan p;
  plan(r, n, 10, 1 << 20, &p);
  assert_true(p.n_spans > 1);
  assert_int_equal(p.n_order, n);
  gsr__rplan_free(&p);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),      cmocka_unit_test(test_sorted_indices),
      cmocka_unit_test(test_overlaps),   cmocka_unit_test(test_hole_limit),
      cmocka_unit_test(test_parts),      cmocka_unit_test(test_width),
      cmocka_unit_test(test_span_limit), cmocka_unit_test(test_cost_model),
      cmocka_unit_test(test_random),     cmocka_unit_test(test_million),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
