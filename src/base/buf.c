/* Refcounted buffers and the memory budget they are charged to.
 *
 * SPDX-License-Identifier: MIT
 */
#include "base/buf.h"

#include <assert.h>
#include <string.h>

int gsr__pool_class(size_t n) {
  if (n < GSR__POOL_MIN || n > GSR__POOL_MAX) return -1;
  int octave = 0; /* GSR__POOL_MIN << octave <= n < twice that */
  while ((GSR__POOL_MIN << (octave + 1)) <= n) octave++;
  size_t base = GSR__POOL_MIN << octave, step = base / GSR__POOL_STEPS;
  size_t k = (n - base + step - 1) / step; /* 0..GSR__POOL_STEPS */
  return octave * GSR__POOL_STEPS + (int)k;
}

size_t gsr__pool_class_size(int k) {
  assert(k >= 0 && k < GSR__POOL_CLASSES);
  size_t base = GSR__POOL_MIN << (k / GSR__POOL_STEPS);
  return base + base / GSR__POOL_STEPS * (size_t)(k % GSR__POOL_STEPS);
}

int gsr__pool_idle(uint64_t last_ns, uint64_t now_ns) {
  return now_ns >= last_ns && now_ns - last_ns >= GSR__POOL_IDLE_NS;
}

struct gsr__budget *gsr__budget_new(uint64_t limit) {
  struct gsr__budget *b = gsr__calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  if (pthread_mutex_init(&b->pool_mu, NULL) != 0) {
    gsr__free(b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  atomic_init(&b->last_ns, gsr__now_ns());
  atomic_init(&b->limit, limit);
  return b;
}

/* The checkpoints live after the data, 4-byte aligned. */
static size_t marks_at(size_t size) { return (size + 3) & ~(size_t)3; }

size_t gsr__buf_n_marks(size_t cap) {
  return cap >= GSR__MARKS_MIN ? cap / GSR__CRC_STRIDE : 0;
}

/* One allocation holds a buffer of size bytes: header, data, checkpoints. */
static size_t buf_bytes(size_t size) {
  return sizeof(struct gsr__buf) + marks_at(size) +
         gsr__buf_n_marks(size) * sizeof(uint32_t);
}

/* Every buffer's memory goes back through here. */
static void buf_free(struct gsr__buf *buf) {
  if (buf == NULL) return;
  if (buf->mapped)
    gsr__unmap(buf, buf_bytes(buf->size));
  else
    gsr__free(buf);
}

static void free_list(struct gsr__buf *list) {
  while (list != NULL) {
    struct gsr__buf *next = list->next;
    buf_free(list);
    list = next;
  }
}

/* Takes idle buffers off the pool, largest class first, until pooled is
 * at most `keep` bytes; returns them as a list for the caller to free once
 * it let go of pool_mu. */
static struct gsr__buf *pool_shed(struct gsr__budget *b, uint64_t keep) {
  struct gsr__buf *out = NULL;
  for (int k = GSR__POOL_CLASSES - 1; k >= 0; k--)
    while (b->pool[k] != NULL && atomic_load(&b->pooled) > keep) {
      struct gsr__buf *buf = b->pool[k];
      b->pool[k] = buf->next;
      atomic_fetch_sub(&b->pooled, buf->size);
      buf->next = out;
      out = buf;
    }
  return out;
}

uint64_t gsr__budget_set_limit(struct gsr__budget *b, uint64_t limit) {
  pthread_mutex_lock(&b->pool_mu);
  atomic_store(&b->limit, limit);
  uint64_t used = atomic_load(&b->used), before = atomic_load(&b->pooled);
  struct gsr__buf *shed = pool_shed(b, limit > used ? limit - used : 0);
  uint64_t given = before - atomic_load(&b->pooled);
  pthread_mutex_unlock(&b->pool_mu);
  free_list(shed);
  return given;
}

uint64_t gsr__budget_idle(struct gsr__budget *b, uint64_t now_ns) {
  uint64_t given = 0;
  struct gsr__buf *shed = NULL;
  pthread_mutex_lock(&b->pool_mu);
  if (atomic_load(&b->pooled) > 0 &&
      gsr__pool_idle(atomic_load(&b->last_ns), now_ns)) {
    given = atomic_load(&b->pooled);
    shed = pool_shed(b, 0);
  }
  pthread_mutex_unlock(&b->pool_mu);
  free_list(shed);
  return given;
}

void gsr__budget_unref(struct gsr__budget *b) {
  if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) return;
  free_list(pool_shed(b, 0));
  pthread_mutex_destroy(&b->pool_mu);
  gsr__free(b);
}

/* The newest pooled buffer of class j, taken off the pool; NULL if none. */
static struct gsr__buf *pool_pop(struct gsr__budget *b, int j) {
  struct gsr__buf *buf = b->pool[j];
  if (buf == NULL) return NULL;
  b->pool[j] = buf->next;
  atomic_fetch_sub(&b->pooled, buf->size);
  return buf;
}

static void pool_push(struct gsr__budget *b, struct gsr__buf *buf) {
  buf->next = b->pool[buf->klass];
  b->pool[buf->klass] = buf;
  atomic_fetch_add(&b->pooled, buf->size);
}

/* For class k: its own, else the smallest up to 2x larger
 * (GSR__POOL_STEPS classes up); NULL if none. */
static struct gsr__buf *pool_fit(struct gsr__budget *b, int k) {
  struct gsr__buf *buf = NULL;
  for (int j = k;
       buf == NULL && j < GSR__POOL_CLASSES && j <= k + GSR__POOL_STEPS; j++)
    buf = pool_pop(b, j);
  return buf;
}

/* For class k when none fits: the largest smaller one, to be grown (its
 * pages are kept, only the new ones fault); NULL if none. */
static struct gsr__buf *pool_below(struct gsr__budget *b, int k) {
  struct gsr__buf *buf = NULL;
  for (int j = k - 1; buf == NULL && j >= 0; j--) buf = pool_pop(b, j);
  return buf;
}

/* For class k when none fits nor is smaller: the smallest larger one,
 * however large; NULL if none. */
static struct gsr__buf *pool_above(struct gsr__budget *b, int k) {
  struct gsr__buf *buf = NULL;
  for (int j = k + 1; buf == NULL && j < GSR__POOL_CLASSES; j++)
    buf = pool_pop(b, j);
  return buf;
}

static void peak_update(atomic_uint_fast64_t *peak, uint64_t v) {
  uint_fast64_t p = atomic_load(peak);
  while (v > p && !atomic_compare_exchange_weak(peak, &p, v)) {
  }
}

/* Fresh memory for a buffer of size bytes: mapped for a pooled size (or
 * larger: its pages go back to the system when it is freed, whatever the
 * heap's thresholds say), else from the heap. */
static struct gsr__buf *buf_alloc(size_t size) {
  struct gsr__buf *buf;
  if (size >= GSR__POOL_MIN) {
    buf = gsr__map(buf_bytes(size));
    if (buf != NULL) buf->mapped = 1;
  } else {
    buf = gsr__malloc(buf_bytes(size));
    if (buf != NULL) buf->mapped = 0;
  }
  return buf;
}

/* A buffer for cap bytes charged to budget: a pooled one that fits, else
 * a smaller pooled one grown, else fresh. demand: charged whatever the
 * limit; else NULL with *refused = 1 when the budget has no room. */
static struct gsr__buf *acquire(struct gsr__budget *b, size_t cap, int demand,
                                int *refused) {
  int k = gsr__pool_class(cap);
  size_t size = k >= 0 ? gsr__pool_class_size(k) : cap;
  struct gsr__buf *buf = NULL, *grow = NULL, *shed = NULL;
  *refused = 0;
  pthread_mutex_lock(&b->pool_mu);
  uint64_t used = atomic_load(&b->used), limit = atomic_load(&b->limit);
  if (k >= 0 && (buf = pool_fit(b, k)) != NULL)
    size = buf->size; /* moves from pooled to used: the sum is the same */
  if (!demand && used + size > limit) {
    if (buf != NULL) pool_push(b, buf);
    pthread_mutex_unlock(&b->pool_mu);
    *refused = 1;
    return NULL;
  }
  if (buf == NULL && k >= 0) grow = pool_below(b, k);
  if (buf == NULL && grow == NULL && k >= 0 &&
      used + size + atomic_load(&b->pooled) > limit) {
    /* Fresh pages would cost idle ones (unmapped to make room, mapped
     * again later): a larger idle buffer does, charged for its size, if
     * the budget has room for that. */
    buf = pool_above(b, k);
    if (buf != NULL && !demand && used + buf->size > limit) {
      pool_push(b, buf);
      buf = NULL;
    }
    if (buf != NULL) size = buf->size;
  }
  if (buf == NULL && used + size + atomic_load(&b->pooled) > limit) {
    /* Room for new pages: idle buffers go. */
    uint64_t room = limit > used + size ? limit - used - size : 0;
    shed = pool_shed(b, room);
  }
  atomic_fetch_add(&b->used, size);
  peak_update(&b->peak, used + size);
  if (k >= 0) {
    atomic_fetch_add(buf != NULL || grow != NULL ? &b->hits : &b->misses, 1);
    atomic_store(&b->last_ns, gsr__now_ns());
  }
  pthread_mutex_unlock(&b->pool_mu);
  free_list(shed);
  if (buf != NULL) return buf;
  if (grow != NULL) {
    buf = gsr__remap(grow, buf_bytes(grow->size), buf_bytes(size));
    if (buf != NULL) {
      buf->size = size;
      buf->klass = k;
      return buf;
    }
    buf_free(grow); /* could not grow: unchanged, and fresh memory instead */
  }
  if ((buf = buf_alloc(size)) == NULL) {
    atomic_fetch_sub(&b->used, size);
    return NULL;
  }
  buf->size = size;
  buf->klass = k;
  return buf;
}

/* Gives buf's memory back to its budget: to the pool while the budget
 * holds it, else to the system. */
static void give(struct gsr__budget *b, struct gsr__buf *buf) {
  int keep = 0;
  pthread_mutex_lock(&b->pool_mu);
  uint_fast64_t before = atomic_fetch_sub(&b->used, buf->size);
  assert(before >= buf->size); /* released only what was charged */
  uint64_t held = before - buf->size + atomic_load(&b->pooled);
  if (buf->klass >= 0 && held + buf->size <= atomic_load(&b->limit)) {
    pool_push(b, buf);
    keep = 1;
  }
  if (buf->klass >= 0) atomic_store(&b->last_ns, gsr__now_ns());
  pthread_mutex_unlock(&b->pool_mu);
  if (!keep) buf_free(buf);
}

static struct gsr__buf *buf_init(struct gsr__buf *b, size_t cap,
                                 struct gsr__budget *budget) {
  atomic_init(&b->refs, 1);
  b->budget = budget;
  b->cap = cap;
  b->next = NULL;
  b->has_crc = 0;
  b->marks = gsr__buf_n_marks(cap)
                 ? (uint32_t *)(void *)(b->data + marks_at(b->size))
                 : NULL;
  b->marked = 0;
  if (budget) atomic_fetch_add(&budget->refs, 1);
  return b;
}

struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget) {
  struct gsr__buf *b;
  int refused;
  if (budget != NULL) {
    b = acquire(budget, cap, 1, &refused);
  } else if ((b = buf_alloc(cap)) != NULL) {
    b->size = cap;
    b->klass = -1;
  }
  return b == NULL ? NULL : buf_init(b, cap, budget);
}

struct gsr__buf *gsr__buf_try(size_t cap, struct gsr__budget *budget,
                              int *refused) {
  struct gsr__buf *b = acquire(budget, cap, 0, refused);
  return b == NULL ? NULL : buf_init(b, cap, budget);
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
    buf_free(b);
    return NULL;
  }
  give(budget, b);
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
