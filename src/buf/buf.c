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
  if (pthread_mutex_init(&b->pool_mu, NULL) != 0) {
    gsr__free(b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->limit = limit;
  return b;
}

void gsr__budget_unref(struct gsr__budget *b) {
  if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) return;
  for (int i = 0; i < GSR__POOL_SLOTS; i++) gsr__free(b->pool[i]);
  pthread_mutex_destroy(&b->pool_mu);
  gsr__free(b);
}

/* A pooled buffer of exactly cap bytes, or NULL. On a miss the pool is
 * emptied: sizes changed (a window growing), so what it holds would only
 * add to the process's memory without being reused. */
static struct gsr__buf *pool_take(struct gsr__budget *b, size_t cap) {
  struct gsr__buf *buf = NULL, *stale[GSR__POOL_SLOTS] = {0};
  pthread_mutex_lock(&b->pool_mu);
  for (int i = 0; i < GSR__POOL_SLOTS && buf == NULL; i++)
    if (b->pool[i] != NULL && b->pool[i]->cap == cap) {
      buf = b->pool[i];
      b->pool[i] = NULL;
    }
  if (buf == NULL && cap >= GSR__POOL_MIN)
    for (int i = 0; i < GSR__POOL_SLOTS; i++) {
      stale[i] = b->pool[i];
      b->pool[i] = NULL;
    }
  pthread_mutex_unlock(&b->pool_mu);
  for (int i = 0; i < GSR__POOL_SLOTS; i++) gsr__free(stale[i]);
  return buf;
}

/* Keeps buf for reuse (replacing an older one); returns 0 if it did not. */
static int pool_give(struct gsr__budget *b, struct gsr__buf *buf) {
  struct gsr__buf *evicted = NULL;
  if (buf->cap < GSR__POOL_MIN) return 0;
  pthread_mutex_lock(&b->pool_mu);
  int slot = b->pool[0] == NULL ? 0 : b->pool[1] == NULL ? 1 : 0;
  evicted = b->pool[slot];
  if (slot == 0 && b->pool[1] != NULL) { /* keep the newest two */
    evicted = b->pool[0];
    b->pool[0] = b->pool[1];
    slot = 1;
  }
  b->pool[slot] = buf;
  pthread_mutex_unlock(&b->pool_mu);
  gsr__free(evicted);
  return 1;
}

struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget) {
  struct gsr__buf *b = budget ? pool_take(budget, cap) : NULL;
  if (b == NULL) b = gsr__malloc(sizeof(*b) + cap);
  if (b == NULL) {
    if (budget) gsr__budget_release(budget, cap);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->budget = budget;
  b->cap = cap;
  b->has_crc = 0;
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
  struct gsr__budget *budget = b->budget;
  if (budget == NULL) {
    gsr__free(b);
    return NULL;
  }
  gsr__budget_release(budget, b->cap);
  if (!pool_give(budget, b)) gsr__free(b);
  gsr__budget_unref(budget);
  return NULL;
}
