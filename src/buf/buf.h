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

#include "internal.h"

/* Bytes held by the buffers of one client, and the limit prefetching must
 * respect. Demand reads are counted but never refused. */
/* Freed large buffers kept for reuse: a fresh multi-MiB allocation is a
 * fresh mmap whose every page faults and is zeroed on first touch, which
 * cost more CPU than the bytes' own copy. A sequential reader frees a
 * block just before it schedules the next one, so two suffice. */
#define GSR__POOL_SLOTS 2
#define GSR__POOL_MIN (1u << 20) /* smaller buffers come from the heap */

struct gsr__budget {
  atomic_int refs; /* the client, and every buffer charged to it */
  atomic_uint_fast64_t used;
  atomic_uint_fast64_t peak;
  uint64_t limit;
  pthread_mutex_t pool_mu;
  struct gsr__buf *pool[GSR__POOL_SLOTS];
};

/* A budget outlives its client while buffers (slices) still hold it. */
struct gsr__budget *gsr__budget_new(uint64_t limit);
void gsr__budget_unref(struct gsr__budget *b);

/* Reserves n bytes if that keeps used <= limit; returns 1 if reserved. */
int gsr__budget_try(struct gsr__budget *b, uint64_t n);
/* Charges n bytes unconditionally (demand reads). */
void gsr__budget_charge(struct gsr__budget *b, uint64_t n);
void gsr__budget_release(struct gsr__budget *b, uint64_t n);

struct gsr__buf {
  atomic_int refs;
  struct gsr__budget *budget; /* charged for cap bytes (holds a ref) */
  size_t cap;
  int has_crc;    /* crc is the CRC32C of all cap bytes (set once filled) */
  uint32_t crc;
  unsigned char data[];
};

/* New buffer of cap bytes, one reference. If budget is given the bytes are
 * already charged to it (by _try or _charge) and released when the buffer
 * is freed. NULL on allocation failure (the charge is then released). */
struct gsr__buf *gsr__buf_new(size_t cap, struct gsr__budget *budget);
/* Returns b with one more reference. */
struct gsr__buf *gsr__buf_ref(struct gsr__buf *b);
/* Drops one reference, frees on the last; returns NULL. NULL is a no-op. */
struct gsr__buf *gsr__buf_unref(struct gsr__buf *b);

#endif /* GSR_BUF_H */
