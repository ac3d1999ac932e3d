/* Unit tests of the buffer pool and the memory budget (base/buf.c): the
 * size classes, what the budget counts (buffers in use and idle pooled
 * ones), reuse within a class and up to 2x larger, making room by
 * unmapping idle buffers, demand reads past the limit, and the idle
 * release.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/internal.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static uint64_t used(struct gsr__budget *b) { return atomic_load(&b->used); }
static uint64_t pooled(struct gsr__budget *b) {
  return atomic_load(&b->pooled);
}

/* 4 classes per power of two from 256 KiB, each a multiple of 64 KiB; a
 * size belongs to the smallest class that holds it. */
static void test_classes(void **state) {
  (void)state;
  assert_int_equal(gsr__pool_class(GSR__POOL_MIN - 1), -1);
  assert_int_equal(gsr__pool_class(GSR__POOL_MAX + 1), -1);
  assert_int_equal(gsr__pool_class(256 * KiB), 0);
  assert_int_equal(gsr__pool_class(256 * KiB + 1), 1);
  assert_true(gsr__pool_class_size(1) == 320 * KiB);
  assert_true(gsr__pool_class_size(4) == 512 * KiB);
  assert_true(gsr__pool_class_size(GSR__POOL_CLASSES - 1) == GSR__POOL_MAX);
  for (int k = 0; k < GSR__POOL_CLASSES; k++) {
    size_t size = gsr__pool_class_size(k);
    assert_true(size % (64 * KiB) == 0);
    assert_int_equal(gsr__pool_class(size), k);
    if (k == 0) continue;
    size_t below = gsr__pool_class_size(k - 1);
    /* less than a quarter wasted */
    assert_true((size - below - 1) * 4 < below + 1);
    assert_int_equal(gsr__pool_class(below + 1), k);
  }
  assert_int_equal(gsr__pool_class(24 * MiB), gsr__pool_class(20 * MiB + 1));
  assert_true(gsr__pool_class_size(gsr__pool_class(23 * MiB)) == 24 * MiB);
}

/* A buffer given back stays in the pool, still counted against the
 * budget, and the next one of its class is that buffer, its pages
 * mapped. */
static void test_reuse_and_budget(void **state) {
  (void)state;
  struct gsr__budget *b = gsr__budget_new(4 * MiB);
  struct gsr__buf *bufs[4];
  int refused;
  for (int i = 0; i < 4; i++) {
    bufs[i] = gsr__buf_try(MiB, b, &refused);
    assert_non_null(bufs[i]);
    memset(bufs[i]->data, i, MiB);
  }
  assert_true(used(b) == 4 * MiB);
  assert_null(gsr__buf_try(MiB, b, &refused)); /* the budget is spent */
  assert_int_equal(refused, 1);
  unsigned char *data = bufs[3]->data;
  gsr__buf_unref(bufs[3]);
  assert_true(used(b) == 3 * MiB && pooled(b) == MiB);
  assert_null(gsr__buf_try(2 * MiB, b, &refused)); /* pooled counts */
  assert_int_equal(refused, 1);
  assert_true(pooled(b) == MiB); /* and a refusal leaves the pool be */
  bufs[3] = gsr__buf_try(MiB, b, &refused);
  assert_true(bufs[3] != NULL && bufs[3]->data == data);
  assert_true(bufs[3]->data[MiB - 1] == 3); /* the same pages */
  assert_true(used(b) == 4 * MiB && pooled(b) == 0);
  assert_true(atomic_load(&b->hits) == 1 && atomic_load(&b->misses) == 4);
  for (int i = 0; i < 4; i++) gsr__buf_unref(bufs[i]);
  assert_true(used(b) == 0 && pooled(b) == 4 * MiB);
  gsr__budget_unref(b);
}

/* A request takes its class, else a pooled buffer up to 2x larger
 * (charged for that one's size), else the largest smaller one grown (its
 * pages kept), else, where fresh pages would not fit beside the idle
 * ones, the smallest larger one; a fresh buffer that does not fit unmaps
 * idle ones, largest first. */
static void test_near_classes_and_room(void **state) {
  (void)state;
  struct gsr__budget *b = gsr__budget_new(8 * MiB);
  int refused;
  struct gsr__buf *big = gsr__buf_try(4 * MiB, b, &refused);
  struct gsr__buf *small = gsr__buf_try(MiB, b, &refused);
  assert_true(big != NULL && small != NULL);
  gsr__buf_unref(big);
  gsr__buf_unref(small);
  assert_true(pooled(b) == 5 * MiB);
  struct gsr__buf *x = gsr__buf_try(3 * MiB, b, &refused); /* 4 MiB's */
  assert_true(x != NULL && x->cap == 3 * MiB && x->size == 4 * MiB);
  assert_true(used(b) == 4 * MiB && pooled(b) == MiB);
  assert_true(atomic_load(&b->hits) == 1);
  memset(x->data, 7, 3 * MiB);
  gsr__buf_unref(x);
  /* 6 MiB: nothing pooled holds it; the 4 MiB one grows, its bytes
   * kept (the same pages). */
  x = gsr__buf_try(6 * MiB, b, &refused);
  assert_true(x != NULL && x->size == 6 * MiB);
  assert_true(x->data[0] == 7 && x->data[3 * MiB - 1] == 7);
  memset(x->data, 8, 6 * MiB); /* all of it writable */
  assert_true(used(b) == 6 * MiB && pooled(b) == MiB);
  assert_true(atomic_load(&b->hits) == 2 && atomic_load(&b->misses) == 2);
  struct gsr__buf *y = gsr__buf_try(2 * MiB, b, &refused); /* 1 grown */
  assert_true(y != NULL && used(b) == 8 * MiB && pooled(b) == 0);
  gsr__buf_unref(x);
  gsr__buf_unref(y);
  assert_true(pooled(b) == 8 * MiB);
  /* 256 KiB: nothing fits nor is smaller, and 8 + 0.25 > 8: the 2 MiB
   * one, charged for 2 MiB, rather than unmap one and map another. */
  x = gsr__buf_try(256 * KiB, b, &refused);
  assert_true(x != NULL && x->size == 2 * MiB);
  assert_true(used(b) == 2 * MiB && pooled(b) == 6 * MiB);
  assert_true(atomic_load(&b->hits) == 4 && atomic_load(&b->misses) == 2);
  gsr__buf_unref(x);
  /* A heap buffer (under 256 KiB) has no class: room is made for it, the
   * largest idle buffer (6 MiB) unmapped, the 2 MiB one kept. */
  x = gsr__buf_try(100 * KiB, b, &refused);
  assert_non_null(x);
  assert_true(used(b) == 100 * KiB && pooled(b) == 2 * MiB);
  gsr__buf_unref(x);
  gsr__budget_unref(b);
}

/* Demand reads are charged past the limit; what is given back past it
 * is unmapped, not pooled. Small buffers come from the heap, unpooled. */
static void test_demand_and_small(void **state) {
  (void)state;
  struct gsr__budget *b = gsr__budget_new(2 * MiB);
  struct gsr__buf *a = gsr__buf_new(2 * MiB, b);
  struct gsr__buf *c = gsr__buf_new(MiB, b);
  assert_true(a != NULL && c != NULL);
  assert_true(used(b) == 3 * MiB && atomic_load(&b->peak) == 3 * MiB);
  gsr__buf_unref(a); /* 1 in use + 2 > 2: unmapped */
  assert_true(used(b) == MiB && pooled(b) == 0);
  gsr__buf_unref(c);
  assert_true(used(b) == 0 && pooled(b) == MiB);
  struct gsr__buf *s = gsr__buf_new(100 * KiB, b);
  assert_true(s != NULL && s->klass == -1 && used(b) == 100 * KiB);
  gsr__buf_unref(s);
  assert_true(used(b) == 0 && pooled(b) == MiB);
  gsr__budget_unref(b);
}

/* The pool gives everything back once nothing was taken or given for
 * GSR__POOL_IDLE_NS, not before. */
static void test_idle_release(void **state) {
  (void)state;
  assert_false(gsr__pool_idle(1000, 1000 + GSR__POOL_IDLE_NS - 1));
  assert_true(gsr__pool_idle(1000, 1000 + GSR__POOL_IDLE_NS));
  assert_false(gsr__pool_idle(1000, 999)); /* a clock behind: not idle */
  struct gsr__budget *b = gsr__budget_new(8 * MiB);
  struct gsr__buf *x = gsr__buf_new(2 * MiB, b);
  gsr__buf_unref(x);
  uint64_t last = atomic_load(&b->last_ns);
  assert_int_equal(gsr__budget_idle(b, last + GSR__POOL_IDLE_NS - 1), 0);
  assert_true(pooled(b) == 2 * MiB);
  assert_true(gsr__budget_idle(b, last + GSR__POOL_IDLE_NS) == 2 * MiB);
  assert_true(pooled(b) == 0 && used(b) == 0);
  assert_int_equal(gsr__budget_idle(b, last + 2 * GSR__POOL_IDLE_NS), 0);
  gsr__budget_unref(b);
}

/* A smaller budget gives back at once the idle buffers past it (those
 * in use stay, charged), refuses prefetching until used is under it, and
 * a larger one lets it go on. */
static void test_budget_shrinks(void **state) {
  (void)state;
  struct gsr__budget *b = gsr__budget_new(8 * MiB);
  struct gsr__buf *bufs[8];
  int refused;
  for (int i = 0; i < 8; i++)
    assert_non_null(bufs[i] = gsr__buf_try(MiB, b, &refused));
  for (int i = 2; i < 8; i++) gsr__buf_unref(bufs[i]);
  assert_true(used(b) == 2 * MiB && pooled(b) == 6 * MiB);
  assert_true(gsr__budget_set_limit(b, 5 * MiB) == 3 * MiB);
  assert_true(used(b) == 2 * MiB && pooled(b) == 3 * MiB);
  /* Below what is in use: every idle one goes, those in use stay. */
  assert_true(gsr__budget_set_limit(b, MiB) == 3 * MiB);
  assert_true(used(b) == 2 * MiB && pooled(b) == 0);
  assert_null(gsr__buf_try(MiB, b, &refused));
  assert_int_equal(refused, 1);
  gsr__buf_unref(bufs[1]); /* over the limit: unmapped, not pooled */
  assert_true(used(b) == MiB && pooled(b) == 0);
  assert_null(gsr__buf_try(MiB, b, &refused)); /* used + 1 MiB > 1 MiB */
  assert_true(gsr__budget_set_limit(b, 4 * MiB) == 0);
  assert_non_null(bufs[1] = gsr__buf_try(MiB, b, &refused));
  gsr__buf_unref(bufs[0]);
  gsr__buf_unref(bufs[1]);
  assert_true(used(b) == 0 && pooled(b) == 2 * MiB);
  gsr__budget_unref(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classes),
      cmocka_unit_test(test_reuse_and_budget),
      cmocka_unit_test(test_near_classes_and_room),
      cmocka_unit_test(test_demand_and_small),
      cmocka_unit_test(test_idle_release),
      cmocka_unit_test(test_budget_shrinks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
