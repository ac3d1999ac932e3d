/* What the caches share: the ops tables they export to the registry, and
 * small helpers to allocate chunks (refcounted buffers charged to the
 * client's budget) and fill them from the file's source. Chunks are
 * immutable once filled, so a slice can reference one at any time.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_CACHE_H
#define GSR_CACHE_H

#include "read/reader.h"

extern const struct gsr__cache_ops gsr__cache_none;
extern const struct gsr__cache_ops gsr__cache_readahead;
extern const struct gsr__cache_ops gsr__cache_readahead_chunked;
extern const struct gsr__cache_ops gsr__cache_blockcache;
extern const struct gsr__cache_ops gsr__cache_background;
extern const struct gsr__cache_ops gsr__cache_first;
extern const struct gsr__cache_ops gsr__cache_all;
extern const struct gsr__cache_ops gsr__cache_bytes;

/* A cache's way down: reads [off, off+len) from the file's source. */
int gsr__source_read(struct gsr__rctx *r, uint64_t off, uint64_t len,
                     struct gsr__out *out);
/* A new, unfilled chunk of len bytes, charged to the budget as demand
 * (never refused). GSR_OK, or GSR_ENOMEM with the message set. */
int gsr__chunk_alloc(struct gsr__rctx *r, uint64_t len, struct gsr__buf **out);
/* ONE source read of [off, off+len) into dst. */
int gsr__chunk_fill(struct gsr__rctx *r, uint64_t off, void *dst, uint64_t len);
/* The most chunks one source read fills (readahead_chunked's two). */
#define GSR__CHUNKS_MAX 2
/* Fetches [off, off+len) into n (<= GSR__CHUNKS_MAX) new chunks of lens[i]
 * bytes each, with one source read. On failure no chunk is left. */
int gsr__chunk_fetch(struct gsr__rctx *r, uint64_t off, const uint64_t *lens,
                     int n, struct gsr__buf **bufs);
/* ---- lock.c: a cache whose read op may run in many threads at once
 * (gsr__cache_ops.concurrent). Its state is touched only under mu, to
 * decide what a read needs and to install what it fetched; the fetch
 * itself runs unlocked, registered as in flight, so that a read needing
 * bytes another read is fetching waits for that one fetch (cond) instead
 * of fetching them again. */
struct gsr__cache_fetch {
  uint64_t off, end; /* [off, end): the bytes it brings */
  struct gsr__cache_fetch *next;
};
struct gsr__cache_lock {
  pthread_mutex_t mu;
  pthread_cond_t cond;              /* broadcast when a fetch ends */
  struct gsr__cache_fetch *fetches; /* in flight, each on its reader's
                                     * stack */
};
void gsr__cache_lock_init(struct gsr__cache_lock *l);
/* After every read let go: nothing is in flight. */
void gsr__cache_lock_destroy(struct gsr__cache_lock *l);
/* Under mu: 1 if a fetch in flight brings byte off. */
int gsr__cache_fetching(const struct gsr__cache_lock *l, uint64_t off);
/* Under mu: waits (mu let go meanwhile) until some fetch in flight ends. */
void gsr__cache_wait(struct gsr__cache_lock *l);
/* Under mu: registers fx, the caller's fetch of [off, end), then lets go
 * of mu for it. gsr__cache_fetch_end, under mu again, takes it back. */
void gsr__cache_fetch_begin(struct gsr__cache_lock *l,
                            struct gsr__cache_fetch *fx, uint64_t off,
                            uint64_t end);
/* Takes mu again, unregisters fx and wakes the reads waiting; returns
 * with mu held, for the caller to install what it fetched. */
void gsr__cache_fetch_end(struct gsr__cache_lock *l,
                          struct gsr__cache_fetch *fx);

/* 1 when out takes no more bytes (slice mode, slice array full): a cache
 * then stops and fetches nothing more for this read. */
int gsr__out_full(const struct gsr__out *out);
/* Records that the cache now holds `held` bytes (for peak_buffered). */
void gsr__cache_held(struct gsr__rctx *r, uint64_t held);

#endif /* GSR_CACHE_H */
