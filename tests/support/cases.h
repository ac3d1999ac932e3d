/* Table-driven checks for the unit tests: a predicate on strings, true for
 * each case of one list and false for each of another. Include after
 * cmocka.h.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_TEST_CASES_H
#define GSR_TEST_CASES_H

/* Fails the running test unless pred(s) is true (want 1) or false (want
 * 0) for each s of the NULL-ended cases, naming the first that is not. */
static inline void expect_each(const char *name, int (*pred)(const char *),
                               int want, const char *const *cases) {
  for (; *cases != NULL; cases++)
    if (!pred(*cases) != !want)
      fail_msg("%s(\"%s\") is %s", name, *cases, want ? "false" : "true");
}

/* expect_each(pred, want) on the strings listed. */
#define EXPECT_EACH(pred, want, ...) \
  expect_each(#pred, pred, want, (const char *const[]){__VA_ARGS__, NULL})

#endif
