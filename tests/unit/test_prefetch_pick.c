/* Unit tests of gsr__prefetch_pick, the one place that decides a file's
 * prefetch mode from its options: a named mode wins, "default" is the
 * client's, and with none named any cache named ("none" too) turns the
 * prefetcher off (gcsfs's rule: caches and the prefetcher do not stack
 * unless asked to), and gsr__prefetch_default, the client's mode from
 * its option and the environment (gcsfs's current default: adaptive),
 * and gsr__read_skips_cache (a whole-rest read lands directly).
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

static void test_no_cache_named_takes_the_clients(void **state) {
  (void)state;
  for (int d = OFF; d <= SEQ; d++) {
    assert_int_equal(gsr__prefetch_pick(NULL, NULL, d), d);
    assert_int_equal(gsr__prefetch_pick("default", "none", d), d);
  }
}

static void test_a_cache_turns_it_off(void **state) {
  static const char *const caches[] = {
      "none",       "readahead",  "readahead_chunked",
      "blockcache", "background", "first",
      "all",        "bytes"};
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

/* gcsfs 2026.8.0's defaults: the prefetcher is on unless
 * $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING says otherwise; gsread's own
 * option and variable come first. */
static void test_client_default_as_gcsfs(void **state) {
  (void)state;
  assert_int_equal(gsr__prefetch_default(NULL, NULL, NULL), ADA);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "true"), ADA);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "TRUE"), ADA);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "1"), ADA);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "false"), OFF);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "0"), OFF);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, ""), OFF);
  assert_int_equal(gsr__prefetch_default(NULL, NULL, "yes"), OFF);
  assert_int_equal(gsr__prefetch_default(NULL, "off", NULL), OFF);
  assert_int_equal(gsr__prefetch_default(NULL, "sequential", "0"), SEQ);
  assert_int_equal(gsr__prefetch_default(NULL, "bogus", "true"), OFF);
  assert_int_equal(gsr__prefetch_default("off", "adaptive", "1"), OFF);
  assert_int_equal(gsr__prefetch_default("adaptive", "off", "0"), ADA);
}

/* A read of the whole rest into the caller's buffer skips the cache; a
 * short read, one that stops before the end, or slices do not. */
static void test_whole_rest_skips_the_cache(void **state) {
  const uint64_t B = 5u << 20, S = 256u << 20;
  (void)state;
  assert_true(gsr__read_skips_cache(1, 0, S, S, B));
  assert_true(gsr__read_skips_cache(1, S - 16 * B, 16 * B, S, B));
  assert_false(gsr__read_skips_cache(1, S - B, B, S, B)); /* < 16 MiB */
  assert_false(gsr__read_skips_cache(1, S - (64u << 20), 64u << 20, S,
                                     128u << 20)); /* < a block */
  assert_false(gsr__read_skips_cache(1, 0, S - 1, S, B));
  assert_false(gsr__read_skips_cache(0, 0, S, S, B));
  assert_false(gsr__read_skips_cache(1, 0, 0, 0, B));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_cache_named_takes_the_clients),
      cmocka_unit_test(test_a_cache_turns_it_off),
      cmocka_unit_test(test_asked_for_wins),
      cmocka_unit_test(test_client_default_as_gcsfs),
      cmocka_unit_test(test_whole_rest_skips_the_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
