/* UTC calendar arithmetic for the metadata's times, without gmtime_r,
 * timegm or strftime: those take glibc's time zone lock, which a child
 * forked while another thread held it could never take (no atfork
 * handler of ours can reach it). Pure functions, unit-tested against
 * the C library's.
 *
 * The proleptic Gregorian calendar counted in 400-year eras of 146097
 * days, with years starting on 1 March so that the leap day ends one.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>

#include "base/internal.h"

#define DAYS_PER_ERA 146097
#define EPOCH_SHIFT 719468 /* days from 0000-03-01 to 1970-01-01 */

static int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t gsr__utc_seconds(int64_t year, int month, int day, int hour, int min,
                         int sec) {
  int64_t y = year - (month <= 2);
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;                         /* [0, 399] */
  int64_t mp = month > 2 ? month - 3 : month + 9;      /* March = 0 */
  int64_t doy = (153 * mp + 2) / 5 + day - 1;          /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
  int64_t days = era * DAYS_PER_ERA + doe - EPOCH_SHIFT;
  return days * 86400 + hour * 3600 + min * 60 + sec;
}

void gsr__utc_format(int64_t t, char *out, size_t n) {
  int64_t days = floor_div(t, 86400), secs = t - days * 86400;
  int64_t z = days + EPOCH_SHIFT;
  int64_t era = floor_div(z, DAYS_PER_ERA);
  int64_t doe = z - era * DAYS_PER_ERA;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2);
  snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)year,
           (int)month, (int)day, (int)(secs / 3600), (int)(secs / 60 % 60),
           (int)(secs % 60));
}
