/* Unit tests of the hand-over check (tests/support/busy_check.c) on
 * synthetic request logs: an engine that sends each next request while
 * the block before is still coming in passes, one that waits for a block
 * to end fails at every hand-over, one late hand-over is counted once;
 * the order of the ends decides, gaps and overlaps in the ranges,
 * out-of-order requests on a connection, and bad arguments.
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

#define N 4
#define BLOCK 1000u

/* n blocks of BLOCK bytes, listed (ended) in order; block k on connection
 * conn(k), its place there counted in the order of the blocks. */
static void make_log(struct busy_get *g, int n, long (*conn)(int k)) {
  for (int k = 0; k < n; k++) {
    g[k].first = (uint64_t)k * BLOCK;
    g[k].last = g[k].first + BLOCK - 1;
    g[k].connection = conn(k);
    g[k].on_connection = 1;
    for (int j = 0; j < k; j++)
      g[k].on_connection += g[j].connection == g[k].connection;
  }
}
/* Handed over early: N + 1 connections in turn, block k on the one that
 * served k - N - 1 (the N before it are all still coming in). */
static long early(int k) { return k % (N + 1); }
/* Each block on a connection of its own. */
static long own(int k) { return 100 + k; }
/* Sent when a block ended: the freed connection, the one of k - N. */
static long late(int k) { return k % N; }
/* Early, with a pool that takes an older idle connection: the one that
 * served k - N - 2. */
static long early_any(int k) { return k % (N + 2); }

static void check(const struct busy_get *g, int n, uint64_t size,
                  struct busy_report *o) {
  assert_int_equal(busy_check(g, n, size, N, o), 0);
  assert_int_equal(o->n, n);
}

/* make_log, checked as the log of an object of exactly its n blocks. */
static void check_log(struct busy_get *g, int n, long (*conn)(int k),
                      struct busy_report *o) {
  make_log(g, n, conn);
  check(g, n, (uint64_t)n * BLOCK, o);
}

/* Blocks a and b (on one connection) swap their places on it. */
static void swap_places(struct busy_get *g, int a, int b) {
  long t = g[a].on_connection;
  g[a].on_connection = g[b].on_connection;
  g[b].on_connection = t;
}

static void test_early_passes(void **state) {
  (void)state;
  struct busy_get g[40];
  struct busy_report o;
  check_log(g, 40, early, &o);
  assert_int_equal(o.tiled, 1);
  assert_int_equal(o.out_of_order, 0);
  assert_int_equal(o.late, 0);
  assert_int_equal(o.handed_over, 40 - N);
  assert_int_equal(o.first_late, -1);
  assert_int_equal(o.connections, N + 1);
}

static void test_early_any_connection_passes(void **state) {
  (void)state;
  struct busy_get g[40];
  struct busy_report o;
  make_log(g, 40, early_any);
  /* Each block's predecessor on its connection is N + 1 or more back. */
  for (int k = N; k < 40; k++)
    for (int j = k - N; j < k; j++)
      assert_true(g[j].connection != g[k].connection);
  check(g, 40, 40 * BLOCK, &o);
  assert_int_equal(o.late, 0);
  assert_int_equal(o.handed_over, 40 - N);
}

static void test_waiting_for_the_end_fails(void **state) {
  (void)state;
  struct busy_get g[40];
  struct busy_report o;
  check_log(g, 40, late, &o);
  assert_int_equal(o.tiled, 1);
  assert_int_equal(o.late, 40 - N);
  assert_int_equal(o.handed_over, 0);
  assert_int_equal(o.first_late, N);
  assert_int_equal(o.late_after, 0); /* block 0 ended first */
  assert_int_equal(o.connections, N);
}

/* One block sent on the connection of a block among the N before it. */
static void test_one_late(void **state) {
  (void)state;
  struct busy_get g[40];
  struct busy_report o;
  make_log(g, 40, own);
  g[20].connection = g[17].connection; /* 17 is one of 16..19 */
  g[20].on_connection = 2;
  check(g, 40, 40 * BLOCK, &o);
  assert_int_equal(o.late, 1);
  assert_int_equal(o.first_late, 20);
  assert_int_equal(o.late_after, 17);
  assert_int_equal(o.handed_over, 40 - N - 1);
  assert_int_equal(o.connections, 39);
}

/* The first N blocks take over from nothing; a new connection for a
 * later one is in time. */
static void test_first_blocks_and_new_connections(void **state) {
  (void)state;
  struct busy_get g[12];
  struct busy_report o;
  check_log(g, 12, own, &o);
  assert_int_equal(o.late, 0);
  assert_int_equal(o.connections, 12);
  check_log(g, 3, late, &o); /* no GET after the first N to judge */
  assert_int_equal(o.late, 0);
  assert_int_equal(o.handed_over, 0);
}

/* Which ranges: a gap, a byte fetched twice, a short or long total. */
static void test_tiling(void **state) {
  (void)state;
  struct busy_get g[10];
  struct busy_report o;
  make_log(g, 10, early);
  check(g, 10, 10 * BLOCK + 1, &o); /* the last byte never fetched */
  assert_int_equal(o.tiled, 0);
  assert_int_equal(o.gap_at, 10 * BLOCK);
  check(g, 10, 10 * BLOCK - 1, &o); /* a byte past the end */
  assert_int_equal(o.tiled, 0);
  g[4].first += 10; /* a gap at 4000 */
  check(g, 10, 10 * BLOCK, &o);
  assert_int_equal(o.tiled, 0);
  assert_int_equal(o.gap_at, 4 * BLOCK);
  g[4].first -= 20; /* 3990..3999 twice */
  check(g, 10, 10 * BLOCK, &o);
  assert_int_equal(o.tiled, 0);
  assert_int_equal(o.gap_at, 4 * BLOCK - 10);
  make_log(g, 0, early);
  check(g, 0, 0, &o);
  assert_int_equal(o.tiled, 1);
}

/* In which order: a connection that asks for earlier bytes later. */
static void test_out_of_order(void **state) {
  (void)state;
  struct busy_get g[20];
  struct busy_report o;
  make_log(g, 20, early);
  swap_places(g, 5, 10); /* blocks 5 and 10 share a connection */
  check(g, 20, 20 * BLOCK, &o);
  assert_int_equal(o.out_of_order, 1);
}

/* Where the connection's previous response stands among the ends is
 * what counts: block 5 may take over block 3's connection if block 3
 * ended first (only one end before it: 5 - N), not if it ended second. */
static void test_end_order_decides(void **state) {
  (void)state;
  struct busy_get g[8], s[8];
  struct busy_report o;
  make_log(g, 8, own);
  g[5].connection = g[3].connection;
  g[5].on_connection = 2;
  static const int first[8] = {3, 0, 1, 2, 4, 5, 6, 7};
  static const int second[8] = {0, 3, 1, 2, 4, 5, 6, 7};
  for (int i = 0; i < 8; i++) s[i] = g[first[i]];
  check(s, 8, 8 * BLOCK, &o);
  assert_int_equal(o.late, 0);
  for (int i = 0; i < 8; i++) s[i] = g[second[i]];
  check(s, 8, 8 * BLOCK, &o);
  assert_int_equal(o.late, 1);
  assert_int_equal(o.first_late, 5);
  assert_int_equal(o.late_after, 1);
}

/* Which ranges, their order on a connection and the connections do not
 * depend on the order of the ends. */
static void test_ranges_order_free(void **state) {
  (void)state;
  struct busy_get g[40], s[40];
  struct busy_report a, b;
  make_log(g, 40, late);
  g[4].first += 10;
  for (int i = 0; i < 40; i++) s[i] = g[(i * 7) % 40]; /* 7 is prime to 40 */
  check(g, 40, 40 * BLOCK, &a);
  check(s, 40, 40 * BLOCK, &b);
  assert_int_equal(a.tiled, b.tiled);
  assert_true(a.gap_at == b.gap_at);
  assert_int_equal(a.out_of_order, b.out_of_order);
  assert_int_equal(a.connections, b.connections);
}

/* The verdict: the ranges and their order must hold; hand-overs may be
 * late at a few, not at most. */
static void test_verdict(void **state) {
  (void)state;
  struct busy_get g[40];
  struct busy_report o;
  check_log(g, 40, early, &o);
  assert_int_equal(busy_verdict(&o, N), BUSY_OK);
  check_log(g, 40, late, &o);
  assert_int_equal(busy_verdict(&o, N), BUSY_MOSTLY_LATE);
  /* Late at every other hand-over: as many in time as late, still OK;
   * one more late and it is not. */
  make_log(g, 40, own);
  for (int k = N; k < 40; k += 2) {
    g[k].connection = g[k - 1].connection;
    g[k].on_connection = 2;
  }
  check(g, 40, 40 * BLOCK, &o);
  assert_int_equal(o.late, (40 - N) / 2);
  assert_int_equal(busy_verdict(&o, N), BUSY_OK);
  g[39].connection = g[38].connection; /* after 38 there */
  g[39].on_connection = 3;
  check(g, 40, 40 * BLOCK, &o);
  assert_int_equal(o.late, (40 - N) / 2 + 1);
  assert_int_equal(busy_verdict(&o, N), BUSY_MOSTLY_LATE);
  check_log(g, 2 * N - 1, early, &o); /* too few */
  assert_int_equal(busy_verdict(&o, N), BUSY_TOO_FEW);
  make_log(g, 40, early);
  check(g, 40, 40 * BLOCK + 1, &o); /* a byte never fetched */
  assert_int_equal(busy_verdict(&o, N), BUSY_NOT_TILED);
  swap_places(g, 5, 10); /* blocks 5 and 10 share a connection */
  check(g, 40, 40 * BLOCK, &o);
  assert_int_equal(busy_verdict(&o, N), BUSY_OUT_OF_ORDER);
}

static void test_bad_arguments(void **state) {
  (void)state;
  struct busy_get g[2] = {{0, 9, 1, 1}, {10, 19, 1, 1}};
  struct busy_report o;
  assert_int_equal(busy_check(g, 1, 10, 0, &o), -1);
  assert_int_equal(busy_check(g, -1, 10, N, &o), -1);
  assert_int_equal(busy_check(g, 2, 20, N, &o), -1); /* one place twice */
  g[1].on_connection = 2;
  assert_int_equal(busy_check(g, 2, 20, N, &o), 0);
  g[1].last = 5; /* ends before it begins */
  assert_int_equal(busy_check(g, 2, 20, N, &o), -1);
  assert_int_equal(busy_check(g, 0, 0, N, &o), 0);
  assert_int_equal(o.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_early_passes),
      cmocka_unit_test(test_early_any_connection_passes),
      cmocka_unit_test(test_waiting_for_the_end_fails),
      cmocka_unit_test(test_one_late),
      cmocka_unit_test(test_first_blocks_and_new_connections),
      cmocka_unit_test(test_tiling),
      cmocka_unit_test(test_out_of_order),
      cmocka_unit_test(test_end_order_decides),
      cmocka_unit_test(test_ranges_order_free),
      cmocka_unit_test(test_verdict),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
