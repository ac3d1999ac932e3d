/* The page table behind "blockcache" and "background": fixed pages of
 * block_size bytes, each its own request and its own chunk, at most
 * max_blocks of them, least recently used evicted first. A read is served
 * page by page in ascending order; it fetches only the pages that were
 * missing when it started, each once, even when it spans more pages than
 * the table holds (pages it still needs are never evicted for it).
 * Its read op runs in many threads at once (pages.c).
 *
 * A page is a cache's fixed-size unit. Its options keep fsspec's and
 * gcsfs's names (block_size, max_blocks, the cache "blockcache"); in
 * gsread's own words a block is one engine request's bytes (prefetch/).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_CACHE_PAGES_H
#define GSR_CACHE_PAGES_H

#include "read/cache/cache.h"

struct gsr__page {
  uint64_t idx;
  uint64_t stamp; /* last use; the smallest is the LRU page */
  struct gsr__buf *buf;
  struct gsr__rfetch *rf; /* non-NULL: a background fetch still fills buf */
  int joining;            /* a read waits on rf with the lock let go */
};

struct gsr__pages {
  struct gsr__cache_lock lock; /* guards the rest but the fixed sizes */
  int lock_ready;              /* lock set up (create got that far) */
  struct gsr__page *v;         /* max entries, n used, in no order */
  int n, max;
  uint64_t clock;
  uint64_t bs, size, count; /* page size, object size, number of pages */
  int inflight;             /* entries whose rf is set */
  uint64_t held;            /* bytes in the table's chunks */
};

/* Under t's lock unless said otherwise. */
/* Sets up an empty table (state, zeroed) for r's file: the create op of
 * both caches. GSR_OK, or GSR_ENOMEM with the message set. */
int gsr__pages_create(const struct gsr__rctx *r, void *state);
/* Lets go of every page, cancelling background fetches: the destroy op of
 * both caches. */
void gsr__pages_destroy(void *state);
/* Length of page idx (the last one may be short). */
uint64_t gsr__pages_len(const struct gsr__pages *t, uint64_t idx);
struct gsr__page *gsr__pages_find(struct gsr__pages *t, uint64_t idx);
/* Adds page idx holding buf (the table takes that reference) and rf.
 * When full, evicts the LRU page whose index is not in (keep_lo, keep_hi]
 * (the pages the current read still needs). Returns 0, or -1 when every
 * entry is to be kept: nothing is added and the caller keeps buf. */
int gsr__pages_insert(struct gsr__pages *t, uint64_t idx, struct gsr__buf *buf,
                      struct gsr__rfetch *rf, uint64_t keep_lo,
                      uint64_t keep_hi);
/* Joins e's background fetch (waits for it, under the lock: for one that
 * is done). On failure e is removed (its pointer is then invalid) and the
 * status returned. */
int gsr__pages_join(struct gsr__pages *t, struct gsr__page *e);
/* Takes the lock itself: serves [off, off+len) from table state page by
 * page, fetching each missing page with one request (counted as a miss
 * each; a read that fetched none counts a hit): blockcache's read op. Stops
 * early, with GSR_OK, when the caller's slice array is full. */
int gsr__pages_read(struct gsr__rctx *r, void *state, uint64_t off,
                    uint64_t len, struct gsr__out *out);

#endif /* GSR_CACHE_PAGES_H */
