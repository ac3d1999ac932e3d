/* Unit test of gsr__crc32c_combine against a straight CRC32C: every split
 * point of a buffer, lengths 0.., pieces of odd sizes and large ones, and
 * a fold over many parts as gsr_download does it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static unsigned char *bytes(size_t n, uint32_t seed) {
  unsigned char *p = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (unsigned char)(seed >> 16);
  }
  return p;
}

static void test_known_vector(void **state) {
  (void)state;
  /* RFC 3720's check value: CRC32C("123456789") = 0xE3069283. */
  assert_true(gsr__crc32c(0, "123456789", 9) == 0xE3069283u);
  uint32_t a = gsr__crc32c(0, "1234", 4), b = gsr__crc32c(0, "56789", 5);
  assert_true(gsr__crc32c_combine(a, b, 5) == 0xE3069283u);
}

static void test_every_split(void **state) {
  (void)state;
  size_t n = 300;
  unsigned char *p = bytes(n, 7);
  uint32_t whole = gsr__crc32c(0, p, n);
  for (size_t k = 0; k <= n; k++) {
    uint32_t a = gsr__crc32c(0, p, k), b = gsr__crc32c(0, p + k, n - k);
    assert_true(gsr__crc32c_combine(a, b, n - k) == whole);
  }
  free(p);
}

static void test_parts_fold(void **state) {
  (void)state;
  /* As download.c: equal parts and a short last one, folded left. */
  size_t n = 5u * 1024 * 1024 + 12345, part = 1u << 20;
  unsigned char *p = bytes(n, 99);
  uint32_t crc = 0;
  for (size_t off = 0; off < n; off += part) {
    size_t len = n - off < part ? n - off : part;
    crc = gsr__crc32c_combine(crc, gsr__crc32c(0, p + off, len), len);
  }
  assert_true(crc == gsr__crc32c(0, p, n));
  /* Empty pieces anywhere change nothing. */
  assert_true(gsr__crc32c_combine(crc, 0, 0) == crc);
  assert_true(gsr__crc32c_combine(0, crc, n) == crc);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_vector),
      cmocka_unit_test(test_every_split),
      cmocka_unit_test(test_parts_fold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
