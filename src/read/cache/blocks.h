/* The block table behind "blockcache" and "background": fixed blocks of
 * block_size bytes, each its own request and its own chunk, at most
 * max_blocks of them, least recently used evicted first. A read is served
 * block by block in ascending order; it fetches only the blocks that were
 * missing when it started, each once, even when it spans more blocks than
 * the table holds (blocks it still needs are never evicted for it).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_CACHE_BLOCKS_H
#define GSR_CACHE_BLOCKS_H

#include "read/cache/cache.h"

struct gsr__blk {
  uint64_t idx;
  uint64_t stamp; /* last use; the smallest is the LRU block */
  struct gsr__buf *buf;
  struct gsr__rfetch *rf; /* non-NULL: a background fetch still fills buf */
};

struct gsr__blocks {
  struct gsr__blk *v; /* max entries, n used, in no order */
  int n, max;
  uint64_t clock;
  uint64_t bs, size, count; /* block size, object size, number of blocks */
  int inflight;             /* entries whose rf is set */
  uint64_t held;            /* bytes in the table's chunks */
};

/* A new, empty table for r's file: the create op of both caches' readers.
 * GSR_OK and *state, or GSR_ENOMEM with the message set. */
int gsr__blocks_create(const struct gsr__rctx *r, void **state);
/* Frees the table and every block; cancels and waits for background
 * fetches: the destroy op of both caches' readers. */
void gsr__blocks_destroy(void *state);
/* Length of block idx (the last one may be short). */
uint64_t gsr__blocks_len(const struct gsr__blocks *t, uint64_t idx);
struct gsr__blk *gsr__blocks_find(struct gsr__blocks *t, uint64_t idx);
/* Adds block idx holding buf (the table takes that reference) and rf.
 * When full, evicts the LRU block whose index is not in (keep_lo, keep_hi]
 * (the blocks the current read still needs). Returns 0, or -1 when every
 * entry is to be kept: nothing is added and the caller keeps buf. */
int gsr__blocks_insert(struct gsr__blocks *t, uint64_t idx,
                       struct gsr__buf *buf, struct gsr__rfetch *rf,
                       uint64_t keep_lo, uint64_t keep_hi);
/* Joins e's background fetch (waits for it). On failure e is removed (its
 * pointer is then invalid) and the status returned. */
int gsr__blocks_join(struct gsr__blocks *t, struct gsr__blk *e);
/* Serves [off, off+len) block by block, fetching each missing block with
 * one request (counted as a miss each); *fetched gets their number. Stops
 * early, with GSR_OK, when the caller's slice array is full. */
int gsr__blocks_read(struct gsr__rctx *r, struct gsr__blocks *t, uint64_t off,
                     uint64_t len, struct gsr__out *out, uint64_t *fetched);

#endif /* GSR_CACHE_BLOCKS_H */
