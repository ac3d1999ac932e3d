/* Unit test of the destination type (src/base/dst.c): a body scattered in
 * chunks of every size over segments with holes and empty segments, a
 * chunk crossing several segment boundaries, a body resumed from the
 * cursor after a cut, the cut of a destination into a fetch's parts and
 * the CRCs regrouped from them, gRPC pieces landed by offset with their
 * CRC known, and the checkpoints of one segment.
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

#include "base/dst.h"
#include "base/internal.h"

#include "../support/bytes.h"

/* d: a body of 100 bytes over 10 bytes, a hole of 7, 0 bytes, 30, a
 * hole of 3, 50 (holes: no CRCs), the cursor at the start. mem holds the
 * non-hole segments, prefilled with 0xEE. */
#define BODY 100
static const size_t lens[] = {10, 7, 0, 30, 3, 50};
static const int hole[] = {0, 1, 0, 0, 1, 0};
#define NSEG 6

static void layout(struct gsr__iov *seg, unsigned char *mem,
                   struct gsr__dst *d) {
  size_t at = 0;
  memset(mem, 0xEE, BODY);
  for (int i = 0; i < NSEG; i++) {
    seg[i].base = hole[i] ? NULL : mem + at;
    seg[i].len = lens[i];
    at += lens[i];
  }
  gsr__dst_set(d, seg, NSEG, NULL);
  assert_int_equal(d->len, BODY);
}

/* mem must hold body's bytes where the segments are, and 0xEE in the
 * holes' places (a hole's bytes are dropped, never written). */
static void check_landed(const unsigned char *mem, const unsigned char *body) {
  size_t at = 0;
  for (int i = 0; i < NSEG; i++) {
    for (size_t k = 0; k < lens[i]; k++)
      assert_int_equal(mem[at + k], hole[i] ? 0xEE : body[at + k]);
    at += lens[i];
  }
}

/* Scatters body [from, to) in chunks of `chunk` bytes. */
static void scatter_chunks(struct gsr__dst *d, const unsigned char *body,
                           size_t from, size_t to, size_t chunk) {
  for (size_t at = from; at < to; at += chunk)
    gsr__dst_scatter(d, body + at, to - at < chunk ? to - at : chunk);
}

/* Chunks of every size, each body cut after every byte count and resumed
 * from the cursor (the second attempt's bytes land after the first's,
 * never over them): the bytes land in place, holes untouched. */
static void test_scatter_resumed(void **state) {
  (void)state;
  unsigned char *body = bytes(BODY, 3), mem[BODY];
  struct gsr__iov seg[NSEG];
  for (size_t chunk = 1; chunk <= BODY; chunk++) {
    for (size_t cut = 0; cut <= BODY; cut++) {
      struct gsr__dst d;
      layout(seg, mem, &d);
      scatter_chunks(&d, body, 0, cut, chunk);
      gsr__dst_check(&d);
      scatter_chunks(&d, body, cut, BODY, chunk);
      check_landed(mem, body);
      assert_int_equal(d.at_i, NSEG);
      assert_int_equal(d.at_off, 0);
      assert_true(gsr__dst_crc(&d, BODY) == 0); /* keeps none */
    }
  }
  free(body);
}

/* Segments without holes keep each one's CRC32C, whatever the chunks;
 * the combined CRC of what landed so far is theirs. */
static void test_scatter_crc(void **state) {
  (void)state;
  size_t n = 3000;
  unsigned char *body = bytes(n, 11), *mem = malloc(n);
  struct gsr__iov seg[3] = {{mem, 1000}, {mem + 1000, 1}, {mem + 1001, 1999}};
  uint32_t crc[3];
  size_t chunks[] = {1, 7, 999, 1000, 1001, 1002, 3000};
  for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
    struct gsr__dst d;
    gsr__dst_set(&d, seg, 3, crc);
    for (size_t at = 0; at < n; at += chunks[c]) {
      size_t len = n - at < chunks[c] ? n - at : chunks[c];
      gsr__dst_scatter(&d, body + at, len);
      /* what landed so far (a reader's view while the rest streams) */
      assert_true(gsr__dst_crc(&d, at + len) == gsr__crc32c(0, body, at + len));
    }
    assert_memory_equal(mem, body, n);
    assert_true(crc[0] == gsr__crc32c(0, body, 1000));
    assert_true(crc[1] == gsr__crc32c(0, body + 1000, 1));
    assert_true(crc[2] == gsr__crc32c(0, body + 1001, 1999));
  }
  free(body);
  free(mem);
}

/* A fetch cuts its destination at its parts' boundaries (any offset, in
 * a segment or on one), each part scatters its own pieces, and the
 * destination's CRCs are regrouped from theirs. */
static void test_cut_and_regroup(void **state) {
  (void)state;
  size_t n = 1200;
  unsigned char *body = bytes(n, 13), *mem = malloc(n);
  struct gsr__iov seg[4] = {
      {mem, 100}, {mem + 100, 500}, {mem + 600, 0}, {mem + 600, 600}};
  uint32_t crc[4];
  for (uint64_t part = 1; part <= n; part += 37) {
    struct gsr__dst d, pieces;
    struct gsr__iov cut[4 + 1200];
    uint32_t cut_crc[4 + 1200];
    int first[1200 + 1], k = 0, parts = 0;
    memset(mem, 0, n);
    gsr__dst_set(&d, seg, 4, crc);
    for (uint64_t off = 0; off < n; off += part) {
      uint64_t len = n - off < part ? n - off : part;
      first[parts++] = k;
      int got = gsr__dst_cut(&d, off, len, cut + k);
      assert_true(got >= 1 && got <= 4);
      k += got;
    }
    first[parts] = k;
    gsr__dst_set(&pieces, cut, k, cut_crc);
    assert_int_equal(pieces.len, n);
    for (int i = 0; i < parts; i++) { /* each part's own view */
      struct gsr__dst p;
      gsr__dst_set(&p, cut + first[i], first[i + 1] - first[i],
                   cut_crc + first[i]);
      uint64_t off = (uint64_t)i * part;
      assert_int_equal(p.len, n - off < part ? n - off : part);
      gsr__dst_scatter(&p, body + off, (size_t)p.len);
    }
    gsr__dst_regroup(&d, &pieces);
    assert_memory_equal(mem, body, n);
    assert_true(crc[0] == gsr__crc32c(0, body, 100));
    assert_true(crc[1] == gsr__crc32c(0, body + 100, 500));
    assert_true(crc[2] == 0);
    assert_true(crc[3] == gsr__crc32c(0, body + 600, 600));
    assert_true(gsr__dst_crc(&pieces, n) == gsr__crc32c(0, body, n));
  }
  free(body);
  free(mem);
}

/* A cut keeps holes holes, cut to fit. */
static void test_cut_holes(void **state) {
  (void)state;
  unsigned char mem[BODY];
  struct gsr__iov seg[NSEG], out[NSEG];
  struct gsr__dst d;
  layout(seg, mem, &d);
  int k = gsr__dst_cut(&d, 8, 35, out); /* 2 of seg 0, the hole, 26 */
  assert_int_equal(k, 3);
  assert_ptr_equal(out[0].base, mem + 8);
  assert_int_equal(out[0].len, 2);
  assert_null(out[1].base);
  assert_int_equal(out[1].len, 7);
  assert_ptr_equal(out[2].base, mem + 17);
  assert_int_equal(out[2].len, 26);
  k = gsr__dst_cut(&d, 12, 30, out); /* from inside the hole */
  assert_int_equal(k, 2);
  assert_null(out[0].base);
  assert_int_equal(out[0].len, 5);
  assert_ptr_equal(out[1].base, mem + 17);
  assert_int_equal(out[1].len, 25);
}

/* A cache's bytes are written at any offset, across segments, a hole's
 * share dropped; the cursor stays. */
static void test_write_at(void **state) {
  (void)state;
  unsigned char *body = bytes(BODY, 23), mem[BODY];
  struct gsr__iov seg[NSEG];
  for (size_t at = 0; at < BODY; at += 3) {
    for (size_t len = 0; at + len <= BODY; len += 11) {
      struct gsr__dst d;
      layout(seg, mem, &d);
      gsr__dst_write(&d, 0, body, at); /* the bytes before */
      gsr__dst_write(&d, at, body + at, len);
      gsr__dst_write(&d, at + len, body + at + len, BODY - at - len);
      check_landed(mem, body);
      assert_int_equal(d.at_i, 0);
    }
  }
  free(body);
}

/* gRPC pieces land by segment and offset, their CRC known (zonal). */
static void test_put_pieces(void **state) {
  (void)state;
  size_t n = 600;
  unsigned char *body = bytes(n, 17), *mem = malloc(n);
  struct gsr__iov seg[2] = {{mem, 250}, {mem + 250, 350}};
  uint32_t crc[2];
  struct gsr__dst d;
  gsr__dst_set(&d, seg, 2, crc);
  for (int i = 0; i < 2; i++) {
    size_t base = i == 0 ? 0 : 250;
    for (size_t at = 0; at < seg[i].len; at += 64) {
      size_t len = seg[i].len - at < 64 ? seg[i].len - at : 64;
      uint32_t piece = gsr__crc32c(0, body + base + at, len);
      gsr__dst_put(&d, i, at, body + base + at, len, &piece);
    }
  }
  assert_memory_equal(mem, body, n);
  assert_true(crc[0] == gsr__crc32c(0, body, 250));
  assert_true(crc[1] == gsr__crc32c(0, body + 250, 350));
  free(body);
  free(mem);
}

/* One segment with checkpoints: every whole stride's prefix CRC is
 * recorded as the bytes land, across chunk and stride boundaries. */
static void test_marks(void **state) {
  (void)state;
  size_t n = 3 * GSR__CRC_STRIDE + 1234;
  unsigned char *body = bytes(n, 19), *mem = malloc(n);
  struct gsr__iov seg = {mem, n};
  uint32_t crc, marks[3] = {0, 0, 0};
  struct gsr__dst d;
  gsr__dst_set(&d, &seg, 1, &crc);
  d.marks = marks;
  gsr__dst_check(&d);
  for (size_t at = 0; at < n; at += 100003)
    gsr__dst_scatter(&d, body + at, n - at < 100003 ? n - at : 100003);
  assert_true(crc == gsr__crc32c(0, body, n));
  for (size_t k = 0; k < 3; k++)
    assert_true(marks[k] == gsr__crc32c(0, body, (k + 1) * GSR__CRC_STRIDE));
  free(body);
  free(mem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scatter_resumed),
      cmocka_unit_test(test_scatter_crc),
      cmocka_unit_test(test_cut_and_regroup),
      cmocka_unit_test(test_cut_holes),
      cmocka_unit_test(test_write_at),
      cmocka_unit_test(test_put_pieces),
      cmocka_unit_test(test_marks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
