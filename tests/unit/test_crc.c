/* Unit test of gsr__crc32c_combine against a straight CRC32C: every split
 * point of a buffer, lengths 0.., pieces of odd sizes and large ones, and
 * a fold over many parts as gsr_download does it; and the CRC of buffer
 * ranges taken from a buffer's checkpoints (buf.h).
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

#include "base/buf.h"
#include "base/internal.h"

#include "../support/bytes.h"

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

static void test_combine_long_pieces(void **state) {
  (void)state;
  /* Past 2^29 bytes the power of x needs more than 32 squarings: check
   * against a straight CRC of "ab" followed by that many zero bytes
   * (calloc'd pages read as the zero page: cheap). */
  size_t n = ((size_t)1 << 29) + 12345;
  unsigned char *z = calloc(n + 2, 1);
  assert_non_null(z);
  z[0] = 'a';
  z[1] = 'b';
  uint32_t want = gsr__crc32c(0, z, n + 2);
  uint32_t a = gsr__crc32c(0, "ab", 2), zeros = gsr__crc32c(0, z + 2, n);
  assert_true(gsr__crc32c_combine(a, zeros, n) == want);
  free(z);
  /* Powers compose: n + m zero bytes at once, or n then m. */
  uint64_t big = (uint64_t)1 << 40, m = 977;
  assert_true(gsr__crc32c_combine(gsr__crc32c_combine(a, 0, big), 0, m) ==
              gsr__crc32c_combine(a, 0, big + m));
}

/* A checkpointed buffer of cap bytes of pseudo-random data, marked. */
static struct gsr__buf *marked_buf(size_t cap) {
  struct gsr__buf *b = gsr__buf_new(cap, NULL);
  assert_non_null(b);
  assert_non_null(b->marks);
  unsigned char *p = bytes(cap, 5);
  memcpy(b->data, p, cap);
  free(p);
  gsr__buf_mark(b, cap);
  return b;
}

static void test_checkpoint_ranges(void **state) {
  (void)state;
  const size_t s = GSR__CRC_STRIDE, cap = 9 * s + 4321;
  struct gsr__buf *b = marked_buf(cap);
  /* Ends on, just before and just after stride boundaries, inside one
   * stride, across many, the whole buffer and the tail past the last. */
  const size_t pts[] = {0,         1,          s - 1, s,         s + 1,
                        2 * s,     3 * s + 77, 5 * s, 8 * s + 1, 9 * s,
                        9 * s + 1, cap - 1,    cap};
  size_t n = sizeof(pts) / sizeof(pts[0]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i; j < n; j++) {
      size_t at = pts[i], len = pts[j] - pts[i];
      assert_true(gsr__buf_crc(b, at, len) ==
                  gsr__crc32c(0, b->data + at, len));
    }
  gsr__buf_unref(b);
}

static void test_checkpoints_are_used(void **state) {
  (void)state;
  /* A wrong checkpoint shows in ranges spanning it, so they come from the
   * checkpoints and not from hashing the range again... */
  const size_t s = GSR__CRC_STRIDE;
  struct gsr__buf *b = marked_buf(6 * s);
  uint32_t right = gsr__crc32c(0, b->data + 10, 5 * s);
  b->marks[4] ^= 1; /* the checkpoint at the range's last whole stride */
  assert_true(gsr__buf_crc(b, 10, 5 * s) != right);
  /* ...but an unmarked buffer (a fill that wrote none) is hashed. */
  b->marked = 0;
  assert_true(gsr__buf_crc(b, 10, 5 * s) == right);
  gsr__buf_unref(b);
  /* Small buffers have no checkpoints: always hashed. */
  struct gsr__buf *small = gsr__buf_new(1000, NULL);
  assert_non_null(small);
  assert_null(small->marks);
  memset(small->data, 7, 1000);
  gsr__buf_mark(small, 1000);
  assert_true(gsr__buf_crc(small, 3, 900) ==
              gsr__crc32c(0, small->data + 3, 900));
  gsr__buf_unref(small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_vector),
      cmocka_unit_test(test_every_split),
      cmocka_unit_test(test_parts_fold),
      cmocka_unit_test(test_combine_long_pieces),
      cmocka_unit_test(test_checkpoint_ranges),
      cmocka_unit_test(test_checkpoints_are_used),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
