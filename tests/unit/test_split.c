/* Unit tests of how a range is split into parts (fetch/split.c), the
 * bounds of min_part_size included: a huge one never splits (it used to
 * double past 2^64 and divide by zero), and gsr_open refuses one of 2^63
 * or more.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fetch/rfetch.h"
#include "gsread.h"

#define MIB (1024ull * 1024)

static void split_is(uint64_t len, int max_parts, uint64_t min_part, int n,
                     uint64_t part_len) {
  uint64_t got = 0;
  assert_int_equal(gsr__split_range(len, max_parts, min_part, &got), n);
  assert_true(got == part_len);
}

static void test_split_as_gcsfs(void **state) {
  (void)state;
  split_is(10 * MIB - 1, 4, 5 * MIB, 1, 10 * MIB - 1); /* below 2 x min */
  split_is(10 * MIB, 4, 5 * MIB, 2, 5 * MIB);
  split_is(100 * MIB, 4, 5 * MIB, 4, 25 * MIB); /* max_parts caps it */
  split_is(100 * MIB, 1, 5 * MIB, 1, 100 * MIB);
  split_is(7, 4, 0, 4, 1); /* 0 is taken as 1 */
}

static void test_split_huge_min_part(void **state) {
  (void)state;
  uint64_t big = 1ull << 63;
  split_is(0, 4, big, 1, 0);
  split_is(1000, 4, big, 1, 1000);
  split_is(UINT64_MAX, 4, big, 1, UINT64_MAX);
  split_is(1000, 256, UINT64_MAX, 1, 1000);
  split_is(UINT64_MAX, 256, UINT64_MAX, 1, UINT64_MAX);
  split_is(UINT64_MAX, 2, big - 1, 2, UINT64_MAX / 2);
  split_is(INT64_MAX, 4, (1ull << 62) + 1, 1, INT64_MAX);
}

/* Options are checked before the URL is looked at: no server needed. */
static void open_with_min_part(uint64_t min_part, int want) {
  gsr_client *c;
  gsr_file_options o;
  gsr_file f;
  assert_int_equal(gsr_client_new(NULL, &c), GSR_OK);
  gsr_file_options_init(&o);
  o.min_part_size = min_part;
  assert_int_equal(gsr_open(c, "file:///nonexistent/gsread-split", &o, &f),
                   want);
  if (want == GSR_EINVAL)
    assert_non_null(strstr(gsr_errmsg(), "min_part_size"));
  gsr_client_free(c);
}

static void test_open_bounds_min_part(void **state) {
  (void)state;
  open_with_min_part(0, GSR_EINVAL);
  open_with_min_part(1ull << 63, GSR_EINVAL);
  open_with_min_part(UINT64_MAX, GSR_EINVAL);
  open_with_min_part(INT64_MAX, GSR_ENOENT); /* accepted: then the URL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_as_gcsfs),
      cmocka_unit_test(test_split_huge_min_part),
      cmocka_unit_test(test_open_bounds_min_part),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
