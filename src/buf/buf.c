/* Refcounted buffers and the memory budget they are charged to.
 *
 * SPDX-License-Identifier: MIT
 */
#include "buf/buf.h"

static void peak_update(atomic_uint_fast64_t *peak, uint64_t v) {
  uint_fast64_t p = atomic_load(peak);
  while (v > p && !atomic_compare_exchange_weak(peak, &p, v)) {
  }
}

int gsr__budget_try(struct gsr__budget *b, uint64_t n) {
  uint_fast64_t used = atomic_load(&b->used);
  do {
    if (used + n > b->limit) return 0;
  } while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
  peak_update(&b->peak, used + n);
  return 1;
}

void gsr__budget_charge(struct gsr__budget *b, uint64_t n) {
  uint64_t now = atomic_fetch_add(&b->used, n) + n;
  peak_update(&b->peak, now);
}

void gsr__budget_release(struct gsr__budget *b, uint64_t n) {
  atomic_fetch_sub(&b->used, n);
}

struct gsr__budget *gsr__budget_new(uint64_t limit) {
  struct gsr__budget *b = gsr__calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  atomic_init(&b->refs, 1);
  b->limit = limit;
  return b;
}

void gsr__budget_unref(struct gsr__budget *b) {
  if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1) gsr__free(b);
}

struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget) {
  struct gsr__buf *b = gsr__malloc(sizeof(*b) + cap);
  if (b == NULL) {
    if (budget) gsr__budget_release(budget, cap);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->budget = budget;
  b->cap = cap;
  if (budget) atomic_fetch_add(&budget->refs, 1);
  return b;
}

struct gsr__buf *gsr__buf_ref(struct gsr__buf *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

struct gsr__buf *gsr__buf_unref(struct gsr__buf *b) {
  if (b == NULL) return NULL;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
    return NULL;
  if (b->budget) {
    gsr__budget_release(b->budget, b->cap);
    gsr__budget_unref(b->budget);
  }
  gsr__free(b);
  return NULL;
}
