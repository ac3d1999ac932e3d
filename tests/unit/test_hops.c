/* Unit tests of the redirect decisions (src/transport/redirect.c): which
 * statuses redirect, each hop's verdict, origins, what a hop to another
 * origin may carry, and how a chain of hops is written in a message.
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

#include "../support/cases.h"
#include "transport/transport.h"

static void test_statuses(void **state) {
  (void)state;
  const long yes[] = {301, 302, 303, 307, 308};
  const long no[] = {200, 206, 300, 304, 305, 306, 309, 400, 404};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    assert_true(gsr__redirect_status(yes[i]));
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
    assert_false(gsr__redirect_status(no[i]));
}

static void test_decide(void **state) {
  (void)state;
  const char *a = "http://h:1/a", *b = "http://h:1/b", *c = "https://h:1/c";
  const char *hops[8] = {a, b, c};
  int cross = -1;
  /* Same origin, another path. */
  assert_int_equal(gsr__redirect_decide(hops, 1, b, 5, &cross),
                   GSR__HOP_FOLLOW);
  assert_int_equal(cross, 0);
  /* Another scheme is another origin. */
  assert_int_equal(gsr__redirect_decide(hops, 2, c, 5, &cross),
                   GSR__HOP_FOLLOW);
  assert_int_equal(cross, 1);
  assert_int_equal(gsr__redirect_decide(hops, 1, NULL, 5, &cross),
                   GSR__HOP_NO_LOCATION);
  assert_int_equal(gsr__redirect_decide(hops, 1, "", 5, &cross),
                   GSR__HOP_NO_LOCATION);
  assert_int_equal(gsr__redirect_decide(hops, 1, b, 0, &cross), GSR__HOP_OFF);
  assert_int_equal(gsr__redirect_decide(hops, 1, "ftp://h/x", 5, &cross),
                   GSR__HOP_SCHEME);
  assert_int_equal(
      gsr__redirect_decide(hops, 1, "file:///etc/passwd", 5, &cross),
      GSR__HOP_SCHEME);
  /* Back to any URL visited: a loop, itself included. */
  assert_int_equal(gsr__redirect_decide(hops, 2, a, 5, &cross), GSR__HOP_LOOP);
  assert_int_equal(gsr__redirect_decide(hops, 1, a, 5, &cross), GSR__HOP_LOOP);
  /* max 2: two hops taken (three URLs) is the end. */
  assert_int_equal(gsr__redirect_decide(hops, 2, "http://h:1/d", 2, &cross),
                   GSR__HOP_FOLLOW);
  assert_int_equal(gsr__redirect_decide(hops, 3, "http://h:1/d", 2, &cross),
                   GSR__HOP_TOO_MANY);
  /* The verdicts other than FOLLOW leave *cross at 1 (the safe side). */
  cross = 0;
  gsr__redirect_decide(hops, 3, "http://h:1/d", 2, &cross);
  assert_int_equal(cross, 1);
}

static void test_origins(void **state) {
  (void)state;
  assert_true(gsr__same_origin("http://h/a", "http://h:80/b?x"));
  assert_true(
      gsr__same_origin("https://H.example/a", "https://h.example:443/"));
  assert_true(gsr__same_origin("http://u:p@h/a", "http://h/b"));
  assert_false(gsr__same_origin("http://h/a", "https://h/a"));
  assert_false(gsr__same_origin("http://h/a", "http://h:8080/a"));
  /* Unparsable on either side: another origin (and nothing freed that
   * was never set). */
  assert_false(gsr__same_origin("http://[bad", "http://h/a"));
  assert_false(gsr__same_origin("http://h/a", "http://[bad"));
  assert_false(
      gsr__same_origin("http://127.0.0.1:9/a", "http://localhost:9/a"));
  assert_false(gsr__same_origin("http://h/a", "not a url"));
}

static void test_headers_to_another_origin(void **state) {
  (void)state;
  EXPECT_EACH(gsr__redirect_keeps_header, 1, "If-Match: \"abc\"",
              "if-match: \"abc\"");
  EXPECT_EACH(gsr__redirect_keeps_header, 0, "Authorization: Bearer t",
              "authorization: Basic x", "Proxy-Authorization: x", "Cookie: a=b",
              "X-Api-Key: k", "x-goog-user-project: p", "If-Match-Token: x");
}

static void test_strip_userinfo(void **state) {
  (void)state;
  char *u = gsr__url_strip_userinfo("http://user:pw@h:81/p?q=1");
  assert_non_null(u);
  assert_string_equal(u, "http://h:81/p?q=1");
  gsr__free(u);
  u = gsr__url_strip_userinfo("https://h/p");
  assert_string_equal(u, "https://h/p");
  gsr__free(u);
}

static void test_hops_text(void **state) {
  (void)state;
  char out[200];
  const char *two[] = {"http://a/x", "http://b/y"};
  gsr__hops_text(out, sizeof(out), two, 2);
  assert_string_equal(out, "http://a/x -> http://b/y");
  /* Long URLs are cut in the middle; both ends stay. */
  char longu[600];
  memset(longu, 'z', sizeof(longu));
  memcpy(longu, "http://host.example/", 20);
  memcpy(longu + sizeof(longu) - 9, "/end.bin", 9);
  const char *l2[] = {longu, longu};
  gsr__hops_text(out, sizeof(out), l2, 2);
  assert_true(strlen(out) < sizeof(out));
  assert_non_null(strstr(out, "http://host.example/"));
  assert_non_null(strstr(out, "/end.bin -> http://host.example/"));
  assert_non_null(strstr(out, "\xE2\x80\xA6"));
  assert_true(strlen(out) > 100); /* the room is used */
  /* Control bytes never reach a terminal raw. */
  const char *bad[] = {"http://h/\x1b[31mred\n"};
  gsr__hops_text(out, sizeof(out), bad, 1);
  assert_string_equal(out, "http://h/\\x1b[31mred\\x0a");
  /* A long chain: the first two and last two, and how many between. */
  const char *many[9] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"};
  gsr__hops_text(out, sizeof(out), many, 9);
  assert_string_equal(out, "u0 -> u1 -> \xE2\x80\xA6 (5 more) -> u7 -> u8");
  /* Tiny buffers are cut, never overrun. */
  char tiny[12];
  gsr__hops_text(tiny, sizeof(tiny), l2, 2);
  assert_true(strlen(tiny) < sizeof(tiny));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_statuses),
      cmocka_unit_test(test_decide),
      cmocka_unit_test(test_origins),
      cmocka_unit_test(test_headers_to_another_origin),
      cmocka_unit_test(test_strip_userinfo),
      cmocka_unit_test(test_hops_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
