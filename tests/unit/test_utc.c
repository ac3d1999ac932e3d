/* Unit tests of the library's own UTC arithmetic (base/utc.c) against the
 * C library's gmtime_r and timegm, which it replaces (they take a lock a
 * forked child may never get).
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/internal.h"

static void same_as_libc(int64_t t) {
  char want[40], got[40];
  struct tm tm;
  time_t tt = (time_t)t;
  assert_non_null(gmtime_r(&tt, &tm));
  strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
  gsr__utc_format(t, got, sizeof got);
  assert_string_equal(got, want);
  assert_true(gsr__utc_seconds((int64_t)tm.tm_year + 1900, tm.tm_mon + 1,
                               tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec) == t);
  assert_true(gsr__utc_seconds((int64_t)tm.tm_year + 1900, tm.tm_mon + 1,
                               tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec) == (int64_t)timegm(&tm));
}

static void test_known_dates(void **state) {
  (void)state;
  char buf[40];
  gsr__utc_format(0, buf, sizeof buf);
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
  gsr__utc_format(1704164645, buf, sizeof buf);
  assert_string_equal(buf, "2024-01-02T03:04:05Z");
  gsr__utc_format(951782400, buf, sizeof buf); /* a leap day of a 400th */
  assert_string_equal(buf, "2000-02-29T00:00:00Z");
  gsr__utc_format(-1, buf, sizeof buf);
  assert_string_equal(buf, "1969-12-31T23:59:59Z");
  assert_true(gsr__utc_seconds(2024, 1, 2, 3, 4, 5) == 1704164645);
  assert_true(gsr__utc_seconds(1900, 3, 1, 0, 0, 0) == -2203891200LL);
}

/* Every day from 1600 to 2400 at some second of it, and the edges. */
static void test_against_libc(void **state) {
  (void)state;
  for (int64_t t = -11676096000LL; t < 13569465600LL; t += 86400 + 3607)
    same_as_libc(t);
  int64_t edges[] = {0,
                     -1,
                     1,
                     86399,
                     86400,
                     951868799,
                     951868800,
                     4107542399LL,
                     4107542400LL,
                     253402300799LL};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    same_as_libc(edges[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_dates),
      cmocka_unit_test(test_against_libc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
