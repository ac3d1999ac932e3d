/* Unit tests of the busy-connection check (tests/support/busy_check.c) on
 * synthetic request logs: an engine that hands over ttfb early passes, one
 * that lets connections idle through first-byte waits fails, and the
 * window, the order of the input and bad arguments.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "busy_check.h"

#define TTFB 0.038
#define BLOCK 0.073 /* 16 MiB at 220 MiB/s */
#define N 4

/* A log of n blocks at concurrency N: the first N sent at t0, request k
 * (k >= N) sent `lead` seconds before response k - N ends (a negative
 * lead: after it). Each response ends ttfb + BLOCK after its request. */
static void make_log(struct busy_req *r, int n, double lead) {
  for (int k = 0; k < n; k++) {
    r[k].start = k < N ? 100.0 : r[k - N].end - lead;
    r[k].end = r[k].start + TTFB + BLOCK;
  }
}

static void check(const struct busy_req *r, int n, struct busy_report *o) {
  assert_int_equal(busy_check(r, n, N, TTFB, o), 0);
  assert_int_equal(o->n, n);
}

static void test_overlapped_passes(void **state) {
  (void)state;
  struct busy_req r[40];
  struct busy_report o;
  make_log(r, 40, TTFB); /* the next first byte lands as the block ends */
  check(r, 40, &o);
  assert_int_equal(o.late, 0);
  assert_int_equal(o.handed_over, 40 - N);
  assert_int_equal(o.first_late, -1);
  assert_true(o.worst_late == 0);
  assert_true(o.block_s > BLOCK - 1e-9 && o.block_s < BLOCK + 1e-9);
  assert_true(o.window_end > o.window_start);
  assert_true(o.longest_short < 1e-6);
  assert_true(o.short_fraction < 1e-6);
}

static void test_idle_gap_fails(void **state) {
  (void)state;
  struct busy_req r[40];
  struct busy_report o;
  make_log(r, 40, -0.0005); /* sent half a ms after a response ends */
  check(r, 40, &o);
  assert_int_equal(o.late, 40 - N);
  assert_int_equal(o.handed_over, 0);
  assert_int_equal(o.first_late, N);
  assert_true(o.worst_late > 0.0004 && o.worst_late < 0.0006);
  /* Each hand-over leaves a connection waiting ttfb for its first byte. */
  assert_true(o.longest_short > TTFB && o.longest_short < TTFB + 0.001);
  assert_true(o.short_fraction > 0.3);
}

/* A request sent within the log's clock resolution of the end counts as
 * late: the ms timestamps cannot tell it from one sent after. */
static void test_clock_slack(void **state) {
  (void)state;
  struct busy_req r[12];
  struct busy_report o;
  make_log(r, 12, BUSY_CLOCK_S / 2);
  check(r, 12, &o);
  assert_int_equal(o.late, 12 - N);
  make_log(r, 12, 2 * BUSY_CLOCK_S);
  check(r, 12, &o);
  assert_int_equal(o.late, 0);
}

/* One late hand-over in an otherwise overlapped read: counted once, and
 * the stretch it leaves is the longest. */
static void test_one_stall(void **state) {
  (void)state;
  struct busy_req r[40];
  struct busy_report o;
  make_log(r, 40, TTFB);
  for (int k = 20; k < 40; k++) r[k].start += 0.010; /* a 10 ms gap at 20 */
  for (int k = 20; k < 40; k++) r[k].end += 0.010;
  for (int k = 24; k < 40; k++)
    r[k].start = r[k - N].end - TTFB, r[k].end = r[k].start + TTFB + BLOCK;
  check(r, 40, &o);
  assert_int_equal(o.late, 0); /* still sent before response 16 ended */
  assert_true(o.longest_short > 0.0099 && o.longest_short < 0.0101);
  assert_true(o.longest_short_at > r[16].end - 1e-9);
  assert_true(o.longest_short_at < r[16].end + 1e-9);
}

/* The input's order does not matter: the log lists responses as they end,
 * a test may sort them otherwise. */
static void test_order_free(void **state) {
  (void)state;
  struct busy_req r[40], s[40];
  struct busy_report a, b;
  make_log(r, 40, -0.0005);
  for (int i = 0; i < 40; i++) s[i] = r[(i * 7) % 40]; /* 7 is prime to 40 */
  check(r, 40, &a);
  check(s, 40, &b);
  assert_int_equal(a.late, b.late);
  assert_true(a.longest_short == b.longest_short);
  assert_true(a.short_total == b.short_total);
}

/* The window starts at the first first byte and ends one block before
 * the last response ends (the tail, where the last blocks end one by
 * one, is outside). */
static void test_window(void **state) {
  (void)state;
  struct busy_req r[8];
  struct busy_report o;
  make_log(r, 8, TTFB);
  check(r, 8, &o);
  double last_end = r[7].end;
  assert_true(o.window_start == 100.0 + TTFB);
  assert_true(o.window_end > last_end - BLOCK - 1e-9);
  assert_true(o.window_end < last_end - BLOCK + 1e-9);
  assert_true(o.longest_short < 1e-6);
  make_log(r, 2, TTFB); /* no request after the first N to judge */
  check(r, 2, &o);
  assert_int_equal(o.late, 0);
  assert_int_equal(o.handed_over, 0);
}

static void test_bad_arguments(void **state) {
  (void)state;
  struct busy_req r[2] = {{1.0, 2.0}, {3.0, 2.5}};
  struct busy_report o;
  assert_int_equal(busy_check(r, 1, 0, TTFB, &o), -1);
  assert_int_equal(busy_check(r, -1, N, TTFB, &o), -1);
  assert_int_equal(busy_check(r, 2, N, TTFB, &o), -1); /* ends first */
  assert_int_equal(busy_check(r, 0, N, TTFB, &o), 0);
  assert_int_equal(o.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_overlapped_passes),
      cmocka_unit_test(test_idle_gap_fails),
      cmocka_unit_test(test_clock_slack),
      cmocka_unit_test(test_one_stall),
      cmocka_unit_test(test_order_free),
      cmocka_unit_test(test_window),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
