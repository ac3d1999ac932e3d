/* Unit tests of the temporary file names of downloads: what
 * gsr__temp_name writes, and gsr__temp_owner's verdict on directory
 * entries (ours for this NAME, and whose; or not ours at all).
 *
 * SPDX-License-Identifier: MIT
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/internal.h"

static void test_name(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(
      gsr__temp_name(buf, sizeof buf, "dir/sub/f.bin", 4242, "Ab3xYz"),
      (int)strlen("dir/sub/.f.bin.gsread-4242-Ab3xYz"));
  assert_string_equal(buf, "dir/sub/.f.bin.gsread-4242-Ab3xYz");
  gsr__temp_name(buf, sizeof buf, "f", 1, "AAAAAA");
  assert_string_equal(buf, ".f.gsread-1-AAAAAA");
  gsr__temp_name(buf, sizeof buf, "/f", 7, "zzzzzz");
  assert_string_equal(buf, "/.f.gsread-7-zzzzzz");
  assert_int_equal(gsr__temp_name(buf, 10, "dir/f", 1, "AAAAAA"), -1);
}

static void owner_is(const char *entry, const char *name, long want) {
  long pid = -1;
  assert_int_equal(gsr__temp_owner(entry, name, &pid), 1);
  assert_true(pid == want);
}

static void not_ours(const char *entry, const char *name) {
  long pid = -1;
  assert_int_equal(gsr__temp_owner(entry, name, &pid), 0);
  assert_true(pid == -1);
}

static void test_owner(void **state) {
  (void)state;
  char buf[64];
  /* What gsr__temp_name writes is recognized, with its pid. */
  gsr__temp_name(buf, sizeof buf, "a/f.bin", 31337, "q9Q9q9");
  owner_is(buf + 2, "f.bin", 31337);
  owner_is(".f.gsread-1-AAAAAA", "f", 1);
  owner_is(".f.gsread-2147483647-AAAAAA", "f", 2147483647);
  owner_is("..gsread-5-AAAAAA", "", 5); /* odd, but exact */
  owner_is(".x.gsread-1-AB.gsread-9-zzzzzz", "x.gsread-1-AB", 9);
  /* Another destination's, even one whose name starts the same. */
  not_ours(".f.gsread-12-AAAAAA", "g");
  not_ours(".fx.gsread-12-AAAAAA", "f");
  not_ours(".f.gsread-12-AAAAAA", "f.gsread-12-AAAAAA");
  not_ours(".f.gsread-12-AAAAAA", "fx");
  /* The old form without a pid, and anything near it: never ours. */
  not_ours(".f.gsread-AAAAAA", "f");
  not_ours(".f.gsread--AAAAAA", "f");
  not_ours(".f.gsread-0-AAAAAA", "f");          /* no pid 0 */
  not_ours(".f.gsread-012-AAAAAA", "f");        /* leading zero */
  not_ours(".f.gsread-2147483648-AAAAAA", "f"); /* past a pid_t */
  not_ours(".f.gsread-99999999999-AAAAAA", "f");
  not_ours(".f.gsread-+12-AAAAAA", "f");
  not_ours(".f.gsread-12-AAAAA", "f");   /* suffix too short */
  not_ours(".f.gsread-12-AAAAAAA", "f"); /* too long */
  not_ours(".f.gsread-12-AAA.AA", "f");
  not_ours(".f.gsread-12-AAAAAA~", "f");
  not_ours(".f.gsread-12AAAAAA", "f");
  not_ours("f.gsread-12-AAAAAA", "f"); /* no leading dot */
  not_ours(".f.gsreadx12-AAAAAA", "f");
  not_ours(".f", "f");
  not_ours("", "f");
  not_ours(".f.gsread-notes", "f");
}

/* A destination name of any legal length (up to NAME_MAX) has a
 * temporary name that is itself legal, and that gsr__temp_owner knows. */
static void test_long_name(void **state) {
  (void)state;
  char name[NAME_MAX + 1], dest[NAME_MAX + 8], buf[2 * NAME_MAX];
  long pid;
  for (size_t len = 200; len <= NAME_MAX; len++) {
    memset(name, 'n', len);
    name[len] = '\0';
    snprintf(dest, sizeof dest, "d/%s", name);
    int n = gsr__temp_name(buf, sizeof buf, dest, 2147483647, "Ab3xYz");
    assert_true(n > 0);
    assert_true(strlen(buf + 2) <= NAME_MAX);
    assert_int_equal(strncmp(buf, "d/.nnnnnnnnnn", 13), 0);
    assert_int_equal(gsr__temp_owner(buf + 2, name, &pid), 1);
    assert_int_equal(pid, 2147483647);
    gsr__temp_name(buf, sizeof buf, dest, 7, "Ab3xYz");
    assert_int_equal(gsr__temp_owner(buf + 2, name, &pid), 1);
    assert_int_equal(pid, 7);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name),
      cmocka_unit_test(test_owner),
      cmocka_unit_test(test_long_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
