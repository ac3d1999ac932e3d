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

/* Bytes held by the buffers of one client, and the limit prefetching must
 * respect. Demand reads are counted but never refused. */
/* Freed large buffers kept for reuse: a fresh multi-MiB allocation is a
 * fresh mmap whose every page faults and is zeroed on first touch, which
 * cost more CPU than the bytes' own copy. A sequential reader's blocks
 * come back one by one while it writes them out (slices) and the next
 * ones are scheduled: four slots cover a window's turnover. */
#define GSR__POOL_SLOTS 4
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

/* CRC32C checkpoints: buffers of GSR__POOL_MIN bytes or more carry room for
 * the CRC32C of every prefix of GSR__CRC_STRIDE x k bytes. A buffer filled
 * by one request gets them written by the I/O thread as the bytes land, so
 * the CRC of any landed range costs at most two strides of hashing (its
 * unaligned ends) and O(log) combines, not a second pass over the range. A
 * reader that hands out a block in pieces that are not whole blocks (16 MiB
 * reads of 24 MiB blocks) would otherwise hash every byte twice. The
 * stride, GSR__CRC_STRIDE, is in internal.h (the transport writes them). */
struct gsr__buf {
  atomic_int refs;
  struct gsr__budget *budget; /* charged for cap bytes (holds a ref) */
  size_t cap;
  int has_crc; /* crc is the CRC32C of all cap bytes (set once filled) */
  uint32_t crc;
  /* marks[k] = CRC32C of data[0, (k+1) x GSR__CRC_STRIDE); NULL for small
   * buffers. Valid for the landed bytes only when marked is set (by whoever
   * starts the fill that writes them). */
  uint32_t *marks;
  int marked;
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

/* Number of checkpoints a buffer of cap bytes has room for. */
size_t gsr__buf_n_marks(size_t cap);
/* Writes the checkpoints of the first len bytes from the data (a fill that
 * did not write them as it went, such as a local pread) and sets marked. */
void gsr__buf_mark(struct gsr__buf *b, size_t len);
/* CRC32C of data[at, at+len), from the checkpoints when b is marked (the
 * bytes must have landed), else by hashing the range. */
uint32_t gsr__buf_crc(const struct gsr__buf *b, size_t at, size_t len);

#endif /* GSR_BUF_H */
