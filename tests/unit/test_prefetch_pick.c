/* Unit tests of gsr__prefetch_pick, the one place that decides a file's
 * prefetch mode from its options: a named mode wins, "default" is the
 * client's, and with none named a cache other than "none" turns the
 * prefetcher off (gcsfs's rule: caches and the prefetcher do not stack
 * unless asked to).
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "read/file.h"

enum {
  OFF = GSR__PREFETCH_OFF,
  ADA = GSR__PREFETCH_ADAPTIVE,
  SEQ = GSR__PREFETCH_SEQUENTIAL
};

static void test_no_cache_takes_the_clients(void **state) {
  (void)state;
  for (int d = OFF; d <= SEQ; d++) {
    assert_int_equal(gsr__prefetch_pick(NULL, "none", d), d);
    assert_int_equal(gsr__prefetch_pick(NULL, NULL, d), d);
    assert_int_equal(gsr__prefetch_pick("default", "none", d), d);
  }
}

static void test_a_cache_turns_it_off(void **state) {
  static const char *const caches[] = {"readahead",  "readahead_chunked",
                                       "blockcache", "background",
                                       "first",      "all",
                                       "bytes"};
  (void)state;
  for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
    for (int d = OFF; d <= SEQ; d++)
      assert_int_equal(gsr__prefetch_pick(NULL, caches[i], d), OFF);
}

static void test_asked_for_wins(void **state) {
  (void)state;
  assert_int_equal(gsr__prefetch_pick("adaptive", "readahead", OFF), ADA);
  assert_int_equal(gsr__prefetch_pick("sequential", "blockcache", OFF), SEQ);
  assert_int_equal(gsr__prefetch_pick("off", "none", SEQ), OFF);
  assert_int_equal(gsr__prefetch_pick("default", "readahead", SEQ), SEQ);
  assert_int_equal(gsr__prefetch_pick("default", "readahead", OFF), OFF);
  assert_int_equal(gsr__prefetch_pick("always", "none", OFF), -1);
  assert_int_equal(gsr__prefetch_pick("", "readahead", ADA), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_cache_takes_the_clients),
      cmocka_unit_test(test_a_cache_turns_it_off),
      cmocka_unit_test(test_asked_for_wins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
