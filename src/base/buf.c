/* Refcounted buffers and the memory budget they are charged to.
 *
 * SPDX-License-Identifier: MIT
 */
#include "base/buf.h"

#include <assert.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
  uint_fast64_t before = atomic_fetch_sub(&b->used, n);
  assert(before >= n); /* released only what was charged */
  (void)before;
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

/* Keeps buf for reuse (replacing the oldest if full); returns 0 if it did
 * not. pool[0] is the oldest. */
static int pool_give(struct gsr__budget *b, struct gsr__buf *buf) {
  struct gsr__buf *evicted = NULL;
  if (buf->cap < GSR__POOL_MIN) return 0;
  pthread_mutex_lock(&b->pool_mu);
  int n = 0;
  for (int i = 0; i < GSR__POOL_SLOTS; i++) /* compact, oldest first */
    if (b->pool[i] != NULL) b->pool[n++] = b->pool[i];
  for (int i = n; i < GSR__POOL_SLOTS; i++) b->pool[i] = NULL;
  if (n == GSR__POOL_SLOTS) {
    evicted = b->pool[0];
    memmove(&b->pool[0], &b->pool[1],
            sizeof(b->pool[0]) * (GSR__POOL_SLOTS - 1));
    n--;
  }
  b->pool[n] = buf;
  pthread_mutex_unlock(&b->pool_mu);
  gsr__free(evicted);
  return 1;
}

/* Maps in a fresh buffer's pages on the allocating thread (a reader about
 * to wait for the bytes anyway) so the I/O thread, the one that bounds
 * throughput, does not take a page fault per 4 KiB as it stores them.
 * MADV_POPULATE_WRITE is Linux 5.14+; elsewhere, or if it fails, the pages
 * fault in later as before. */
static void populate(unsigned char *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  long ps = sysconf(_SC_PAGESIZE);
  uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
  uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
  uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
  if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)n;
#endif
}

size_t gsr__buf_n_marks(size_t cap) {
  return cap >= GSR__POOL_MIN ? cap / GSR__CRC_STRIDE : 0;
}

/* The checkpoints live after the data, 4-byte aligned. */
static size_t marks_at(size_t cap) { return (cap + 3) & ~(size_t)3; }

struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget) {
  struct gsr__buf *b = budget ? pool_take(budget, cap) : NULL;
  size_t n_marks = gsr__buf_n_marks(cap);
  if (b == NULL) {
    b = gsr__malloc(sizeof(*b) + marks_at(cap) + n_marks * sizeof(uint32_t));
    if (b != NULL && cap >= GSR__POOL_MIN) populate(b->data, cap);
  }
  if (b == NULL) {
    if (budget) gsr__budget_release(budget, cap);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->budget = budget;
  b->cap = cap;
  b->has_crc = 0;
  b->marks = n_marks ? (uint32_t *)(void *)(b->data + marks_at(cap)) : NULL;
  b->marked = 0;
  if (budget) atomic_fetch_add(&budget->refs, 1);
  return b;
}

struct gsr__buf *gsr__buf_ref(struct gsr__buf *b) {
  int before = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  assert(before >= 1); /* only a holder may take another reference */
  (void)before;
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

void gsr__buf_mark(struct gsr__buf *b, size_t len) {
  if (b->marks == NULL) return;
  uint32_t crc = 0;
  for (size_t k = 0; (k + 1) * GSR__CRC_STRIDE <= len; k++) {
    crc = gsr__crc32c(crc, b->data + k * GSR__CRC_STRIDE, GSR__CRC_STRIDE);
    b->marks[k] = crc;
  }
  b->marked = 1;
}

/* CRC32C of the prefix up to checkpoint k (k strides); 0 for k = 0. */
static uint32_t mark(const struct gsr__buf *b, size_t k) {
  return k == 0 ? 0 : b->marks[k - 1];
}

uint32_t gsr__buf_crc(const struct gsr__buf *b, size_t at, size_t len) {
  const size_t s = GSR__CRC_STRIDE;
  size_t first = (at + s - 1) / s, last = (at + len) / s; /* whole strides */
  if (!b->marked || first >= last) return gsr__crc32c(0, b->data + at, len);
  /* [at, first*s) hashed, [first*s, last*s) from the checkpoints (CRC
   * is linear: crc(AB) = crc(A) x^8|B| + crc(B), so crc(B) = crc(AB) +
   * crc(A) x^8|B|), [last*s, at+len) hashed. */
  size_t head = first * s - at, mid = (last - first) * s;
  size_t tail = at + len - last * s;
  uint32_t crc = gsr__crc32c(0, b->data + at, head);
  uint32_t m = mark(b, last) ^ gsr__crc32c_combine(mark(b, first), 0, mid);
  crc = gsr__crc32c_combine(crc, m, mid);
  return gsr__crc32c_combine(crc, gsr__crc32c(0, b->data + last * s, tail),
                             tail);
}
