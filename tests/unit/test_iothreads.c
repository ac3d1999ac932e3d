/* Unit tests of the I/O thread count (gsr__io_threads) and each thread's
 * share of the connection pool (gsr__loop_connections).
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "transport/transport.h"

static void test_auto(void **state) {
  (void)state;
  /* One per 4 connections, rounded up. */
  assert_int_equal(gsr__io_threads(0, 64, 16), 4);
  assert_int_equal(gsr__io_threads(0, 64, 17), 5);
  assert_int_equal(gsr__io_threads(0, 64, 4), 1);
  assert_int_equal(gsr__io_threads(0, 64, 5), 2);
  assert_int_equal(gsr__io_threads(0, 64, 1), 1);
  /* Never more than the CPUs... */
  assert_int_equal(gsr__io_threads(0, 2, 16), 2);
  assert_int_equal(gsr__io_threads(0, 1, 1024), 1);
  assert_int_equal(gsr__io_threads(0, 16, 1024), 16);
  /* ... an unknown CPU count is no bound, and at least one. */
  assert_int_equal(gsr__io_threads(0, 0, 16), 4);
  assert_int_equal(gsr__io_threads(0, 0, 0), 1);
  assert_int_equal(gsr__io_threads(0, -1, -3), 1);
}

static void test_explicit(void **state) {
  (void)state;
  /* Obeyed whatever the CPUs... */
  assert_int_equal(gsr__io_threads(4, 2, 16), 4);
  assert_int_equal(gsr__io_threads(1, 64, 16), 1);
  assert_int_equal(gsr__io_threads(7, 0, 16), 7);
  /* ... but a thread needs a connection of its own. */
  assert_int_equal(gsr__io_threads(4, 64, 2), 2);
  assert_int_equal(gsr__io_threads(4, 64, 1), 1);
}

static void test_shares(void **state) {
  (void)state;
  for (int conns = 1; conns <= 64; conns++) {
    for (int n = 1; n <= conns && n <= 16; n++) {
      int sum = 0, lo = conns, hi = 0;
      for (int i = 0; i < n; i++) {
        int c = gsr__loop_connections(conns, n, i);
        sum += c;
        if (c < lo) lo = c;
        if (c > hi) hi = c;
      }
      assert_int_equal(sum, conns); /* the pool, no more */
      assert_true(lo >= 1);         /* every thread has one */
      assert_true(hi - lo <= 1);    /* evenly */
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auto),
      cmocka_unit_test(test_explicit),
      cmocka_unit_test(test_shares),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
