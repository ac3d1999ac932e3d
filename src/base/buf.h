/* Buffers: refcounted blocks of bytes, immutable once filled, header and
 * data in one allocation. Caches and the prefetcher hold them; slices
 * handed to callers each hold a reference. Memory held in buffers is
 * charged to the client's budget counter until the last reference goes.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_BUF_H
#define GSR_BUF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"

/* The pool: buffers of GSR__POOL_MIN bytes or more are mapped (mmap) in
 * size classes and kept, once their last reference goes, for the next
 * buffer of their class, instead of being unmapped. A fresh mapping's
 * every page faults and is zeroed on first touch, which costs more CPU
 * than the bytes' own copy into it; a pooled buffer's pages stay mapped.
 * Classes are GSR__POOL_STEPS per power of two from GSR__POOL_MIN
 * (256, 320, 384, 448, 512, 640 KiB, ...), every one a multiple of
 * 64 KiB: a buffer wastes less than a quarter of its class, and a window
 * whose blocks grow or shrink (its width changing) still finds buffers.
 * A request takes a buffer of its own class, else one up to 2x larger,
 * else the largest smaller one grown (mremap: its pages kept, only the
 * new ones fault), else, where fresh pages would not fit beside the idle
 * ones, the smallest larger one (charged for its size): a page unmapped
 * to make room would only be faulted in again. Buffers over
 * GSR__POOL_MAX are mapped but not kept; smaller than GSR__POOL_MIN come
 * from the heap.
 *
 * The budget counts what the pool holds: used (buffers in use, charged
 * at their class's size) + pooled (idle in the pool) stays within the
 * limit for everything but demand reads; a buffer that does not fit is
 * made room for by unmapping idle ones, and one given back past the limit
 * is unmapped. The pool gives its memory back when the client has taken
 * and given no buffer for GSR__POOL_IDLE_NS (gsr__budget_idle, called by
 * the I/O threads about once a second), and when the budget goes. */
#define GSR__POOL_MIN ((size_t)256 * 1024)
#define GSR__POOL_STEPS 4
#define GSR__POOL_MAX ((size_t)1 << 30)
#define GSR__POOL_CLASSES (12 * GSR__POOL_STEPS + 1) /* 256 KiB .. 1 GiB */
#define GSR__POOL_IDLE_NS (5ull * 1000 * 1000 * 1000)

/* The size classes (pure). The class of n bytes: the smallest whose size
 * is >= n, or -1 when n is under GSR__POOL_MIN or over GSR__POOL_MAX. */
int gsr__pool_class(size_t n);
/* Bytes of class k (0 <= k < GSR__POOL_CLASSES). */
size_t gsr__pool_class_size(int k);
/* 1 if a pool whose last take or give was at last_ns is idle at now_ns:
 * GSR__POOL_IDLE_NS or more (pure). */
int gsr__pool_idle(uint64_t last_ns, uint64_t now_ns);

/* Bytes held by the buffers of one client, and the limit prefetching must
 * respect. Demand reads are counted but never refused. */
struct gsr__budget {
  atomic_int refs;           /* the client, and every buffer charged to it */
  atomic_uint_fast64_t used; /* charged to buffers in use */
  atomic_uint_fast64_t peak; /* most used at once */
  /* Changed only under pool_mu (gsr__budget_set_limit); read anywhere. */
  atomic_uint_fast64_t limit;
  pthread_mutex_t pool_mu; /* pool[], pooled, and every change of used
                            * that adds to it */
  struct gsr__buf *pool[GSR__POOL_CLASSES]; /* idle buffers, by class;
                                             * each list newest first */
  atomic_uint_fast64_t pooled;              /* bytes in pool[] */
  atomic_uint_fast64_t hits, misses;        /* pooled sizes: reused, mapped */
  atomic_uint_fast64_t last_ns;             /* the last take or give */
};

/* A budget outlives its client while buffers (slices) still hold it. */
struct gsr__budget *gsr__budget_new(uint64_t limit);
void gsr__budget_unref(struct gsr__budget *b);
/* A new limit: a lower one unmaps at once the pooled buffers past it
 * (buffers in use stay, charged, until let go; prefetching waits until
 * used is under it). Returns the bytes given back. */
uint64_t gsr__budget_set_limit(struct gsr__budget *b, uint64_t limit);
/* Unmaps every pooled buffer if the pool is idle at now_ns
 * (gsr__pool_idle); returns the bytes given back. */
uint64_t gsr__budget_idle(struct gsr__budget *b, uint64_t now_ns);

/* CRC32C checkpoints: buffers of GSR__MARKS_MIN bytes or more carry room for
 * the CRC32C of every prefix of GSR__CRC_STRIDE x k bytes. A buffer filled
 * by one request gets them written by the I/O thread as the bytes land, so
 * the CRC of any landed range costs at most two strides of hashing (its
 * unaligned ends) and O(log) combines, not a second pass over the range. A
 * reader that hands out a block in pieces that are not whole blocks (16 MiB
 * reads of 24 MiB blocks) would otherwise hash every byte twice. The
 * stride, GSR__CRC_STRIDE, is in internal.h (the transport writes them). */
#define GSR__MARKS_MIN ((size_t)1 << 20)
struct gsr__buf {
  atomic_int refs;
  struct gsr__budget *budget; /* charged for size bytes (holds a ref) */
  size_t cap;                 /* bytes asked for: data[0, cap) */
  size_t size;                /* bytes it has room for: its class's */
  int klass;                  /* its class; -1: not pooled */
  int mapped;                 /* mmap'd (else from the heap) */
  struct gsr__buf *next;      /* in the pool */
  int has_crc; /* crc is the CRC32C of all cap bytes (set once filled) */
  uint32_t crc;
  /* marks[k] = CRC32C of data[0, (k+1) x GSR__CRC_STRIDE); NULL for small
   * buffers. Valid for the landed bytes only when marked is set (by whoever
   * starts the fill that writes them). */
  uint32_t *marks;
  int marked;
  unsigned char data[];
};

/* New buffer of cap bytes, one reference, from the pool when it has one
 * of cap's class. If budget is given it is charged to it (for the class's
 * size) whatever its limit says (a demand read), until the last reference
 * goes. NULL on allocation failure. */
struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget);
/* The same, for a prefetch: only if the budget has room for it (idle
 * pooled buffers are unmapped to make it). NULL with *refused = 1 when it
 * has none; NULL with *refused = 0 on allocation failure. */
struct gsr__buf *gsr__buf_try(size_t cap, struct gsr__budget *budget,
                              int *refused);
/* Returns b with one more reference. */
struct gsr__buf *gsr__buf_ref(struct gsr__buf *b);
/* Drops one reference, frees on the last; returns NULL. NULL is a no-op. */
struct gsr__buf *gsr__buf_unref(struct gsr__buf *b);

/* Number of checkpoints a buffer of cap bytes has room for. */
size_t gsr__buf_n_marks(size_t cap);
/* Writes the checkpoints of the first len bytes from the data (a fill that
 * did not write them as it went, such as a local pread) and sets marked. */
void gsr__buf_mark(struct gsr__buf *b, size_t len);
/* CRC32C of data[at, at+len), from the checkpoints when b is marked (the
 * bytes must have landed), else by hashing the range. */
uint32_t gsr__buf_crc(const struct gsr__buf *b, size_t at, size_t len);

#endif /* GSR_BUF_H */
