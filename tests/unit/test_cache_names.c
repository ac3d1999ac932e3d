/* Unit tests of the one table of cache names (read/cache/registry.c): a
 * name or its alias finds the cache, anything else finds none, and the
 * list that the "unknown cache type" message carries names every cache
 * and alias, a cut list staying terminated.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "read/reader.h"

static const char *const names[] = {
    "none",       "readahead",  "readahead_chunked",
    "blockcache", "background", "first",
    "all",        "bytes"};

static void test_every_name_finds_its_cache(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const struct gsr__cache_ops *ops = gsr__cache_lookup(names[i]);
    assert_non_null(ops);
    assert_string_equal(ops->name, names[i]);
  }
}

static void test_the_alias_finds_its_cache(void **state) {
  (void)state;
  assert_ptr_equal(gsr__cache_lookup("readahead_v2"),
                   gsr__cache_lookup("readahead_chunked"));
}

static void test_other_names_find_none(void **state) {
  (void)state;
  assert_null(gsr__cache_lookup("nope"));
  assert_null(gsr__cache_lookup(""));
  assert_null(gsr__cache_lookup("Readahead"));
  assert_null(gsr__cache_lookup("readahead_v"));
}

static void test_the_list_names_each_once(void **state) {
  char buf[256];
  (void)state;
  gsr__cache_names(buf, sizeof(buf));
  assert_string_equal(buf, "none, readahead, readahead_chunked (alias "
                           "readahead_v2), blockcache, background, first, "
                           "all, bytes");
  gsr__cache_names(buf, 12);
  assert_string_equal(buf, "none, reada");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_name_finds_its_cache),
      cmocka_unit_test(test_the_alias_finds_its_cache),
      cmocka_unit_test(test_other_names_find_none),
      cmocka_unit_test(test_the_list_names_each_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
