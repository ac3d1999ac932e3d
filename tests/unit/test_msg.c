/* Unit tests of gsr_shorten_middle, the one way a message too long for
 * its buffer is shortened: the start and, mostly, the end survive (the
 * end says why something failed), "…" marks the cut, and a UTF-8
 * sequence is never split. Also through the library's own message
 * formatting (gsr__err, gsr__error_set).
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

#include "base/internal.h"

#define MARK "\xe2\x80\xa6"

static void test_fits_unchanged(void **state) {
  char out[16];
  (void)state;
  assert_int_equal(gsr_shorten_middle(out, sizeof(out), "short"), 5);
  assert_string_equal(out, "short");
  /* 15 bytes fit a 16-byte buffer exactly. */
  assert_int_equal(gsr_shorten_middle(out, sizeof(out), "abcdefghijklmno"), 15);
  assert_string_equal(out, "abcdefghijklmno");
  assert_int_equal(gsr_shorten_middle(out, sizeof(out), ""), 0);
  assert_string_equal(out, "");
}

static void test_middle_goes(void **state) {
  char out[16];
  (void)state;
  /* 16 bytes in 16: room 12 = 3 of the start, 9 of the end. */
  assert_int_equal(gsr_shorten_middle(out, sizeof(out), "abcdefghijklmnop"),
                   15);
  assert_string_equal(out, "abc" MARK "hijklmnop");
}

static void test_reason_survives(void **state) {
  (void)state;
  size_t ulen = 100 * 1024;
  char *s = malloc(ulen + 64), out[512];
  assert_non_null(s);
  memcpy(s, "GET http://h/", 13);
  memset(s + 13, 'x', ulen);
  strcpy(s + 13 + ulen, ": HTTP 404: Not Found");
  size_t n = gsr_shorten_middle(out, sizeof(out), s);
  assert_int_equal(n, strlen(out));
  assert_true(n <= sizeof(out) - 1 && n >= sizeof(out) - 4);
  assert_memory_equal(out, "GET http://h/xxx", 16);
  assert_non_null(strstr(out, MARK));
  assert_null(strstr(strstr(out, MARK) + 3, MARK)); /* one mark */
  const char *end = ": HTTP 404: Not Found";
  assert_string_equal(out + n - strlen(end), end);
  free(s);
}

/* No cut inside a UTF-8 sequence: "é" is 2 bytes (C3 A9). */
static void test_utf8_whole(void **state) {
  (void)state;
  char s[401], out[64];
  for (int i = 0; i < 200; i++) memcpy(s + 2 * i, "\xc3\xa9", 2);
  s[400] = '\0';
  size_t n = gsr_shorten_middle(out, sizeof(out), s);
  assert_int_equal(n, strlen(out));
  assert_true(n < sizeof(out));
  const char *m = strstr(out, MARK);
  assert_non_null(m);
  size_t head = (size_t)(m - out), tail = n - head - 3;
  assert_int_equal(head % 2, 0);
  assert_int_equal(tail % 2, 0);
  assert_int_equal((unsigned char)m[3], 0xc3);
  assert_true(head > 0 && tail > 2 * head); /* the end gets most */
}

static void test_tiny_buffers(void **state) {
  char out[4] = "zzz";
  (void)state;
  assert_int_equal(gsr_shorten_middle(out, 0, "abcdef"), 0);
  assert_string_equal(out, "zzz"); /* untouched */
  assert_int_equal(gsr_shorten_middle(out, 1, "abcdef"), 0);
  assert_string_equal(out, "");
  /* No room for the mark: cut at the end. */
  assert_int_equal(gsr_shorten_middle(out, 4, "abcdef"), 3);
  assert_string_equal(out, "abc");
}

/* The library's messages (gsr_errmsg, a request's error) use it. */
static void test_library_messages(void **state) {
  (void)state;
  size_t plen = 100 * 1024;
  char *path = malloc(plen + 1);
  assert_non_null(path);
  memset(path, 'p', plen);
  path[plen] = '\0';
  assert_int_equal(
      gsr__err(GSR_EIO, "open /%s: %s", path, "File name too long"), GSR_EIO);
  const char *m = gsr_errmsg();
  const char *end = ": File name too long";
  assert_true(strlen(m) > strlen(end));
  assert_string_equal(m + strlen(m) - strlen(end), end);
  assert_memory_equal(m, "open /ppp", 9);
  struct gsr__error e;
  gsr__error_set(&e, GSR_ENOENT, "GET http://h/%s: HTTP %d: %s", path, 404,
                 "No such object");
  end = ": HTTP 404: No such object";
  assert_string_equal(e.msg + strlen(e.msg) - strlen(end), end);
  free(path);
}

/* gsr__escape, the one escaping of foreign text in messages: control
 * bytes as \xNN, the rest as is, an escape never cut in half. */
static void test_escape(void **state) {
  char out[64];
  (void)state;
  assert_int_equal(gsr__escape(out, sizeof(out), "a\x1b[2Jb\x7f\n", 8), 17);
  assert_string_equal(out, "a\\x1b[2Jb\\x7f\\x0a");
  /* Bytes past len are not read; a NUL inside len is escaped. */
  assert_int_equal(gsr__escape(out, sizeof(out), "x\0y", 3), 6);
  assert_string_equal(out, "x\\x00y");
  /* A full buffer: the escape that does not fit is left out whole. */
  assert_int_equal(gsr__escape(out, 6, "ab\x1b", 3), 2);
  assert_string_equal(out, "ab");
  assert_int_equal(gsr__escape(out, 1, "abc", 3), 0);
  assert_string_equal(out, "");
  assert_int_equal(gsr__escape(out, sizeof(out), "caf\xc3\xa9", 5), 5);
  assert_string_equal(out, "caf\xc3\xa9"); /* UTF-8 passes */
  /* C1 controls (CSI c2 9b) are escaped, both bytes; U+00A0 is not. */
  assert_int_equal(gsr__escape(out, sizeof(out),
                               "a\xc2\x9b"
                               "2Jb\xc2\xa0",
                               8),
                   14);
  assert_string_equal(out, "a\\xc2\\x9b2Jb\xc2\xa0");
  /* A C1 pair that does not fit is left out whole. */
  assert_int_equal(gsr__escape(out, 9, "ab\xc2\x85", 4), 2);
  assert_string_equal(out, "ab");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_fits_unchanged),
      cmocka_unit_test(test_middle_goes),
      cmocka_unit_test(test_reason_survives),
      cmocka_unit_test(test_utf8_whole),
      cmocka_unit_test(test_tiny_buffers),
      cmocka_unit_test(test_library_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
