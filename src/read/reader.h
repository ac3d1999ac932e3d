/* Readers: how a file turns "bytes [off, off+len)" into bytes. A file has
 * two stacked readers, each behind a small ops table:
 *
 *   cache   none | readahead | readahead_chunked | blockcache | ...
 *           (gsr__cache_ops, given the file's narrow view, gsr__rctx)
 *   source  direct (range fetches, split over N connections) | prefetch
 *           (gsr__reader_ops, given the source's view, gsr__sctx: the
 *           cache's view and what the engine decides with)
 *
 * A cache asks its source for what it lacks, through the context's way
 * down; "none" passes reads straight through. Bytes go to a gsr__out: copied
 * into caller memory, or handed over as slices (references) for the zero-copy
 * API.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_READER_H
#define GSR_READER_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "transport/transport.h"

struct gsr__file;
struct gsr__rtarget;

/* Counters, updated from any thread. */
struct gsr__stats {
  atomic_uint_fast64_t reads, hits, misses, requests, bytes_fetched,
      bytes_delivered, bytes_copied, bytes_referenced, bytes_direct,
      prefetched_unused, stalls, stall_ns, window, peak_buffered;
  atomic_int plan;  /* enum gsr__plan (prefetch/prefetch.h) */
  atomic_int width; /* connections the engine keeps carrying bytes */
};

/* Where a read's bytes go. Copy mode: into dst (the caller's buffer, or a
 * cache's chunk buffers). Slice mode: as references in slices[]. */
struct gsr__out {
  /* Copy mode: its arrays are one and one_crc (the caller's buffer; an
   * out is not moved once set) or the cache's. dst.crc gets each
   * segment's CRC32C when a direct fetch fills dst whole (seg_crc_ok). */
  struct gsr__dst dst;
  struct gsr__iov one;
  uint32_t one_crc;
  gsr_slice *slices; /* non-NULL: slice mode */
  size_t max_slices, n_slices;
  uint64_t done;  /* bytes delivered so far */
  int internal;   /* a cache filling its own buffers: not caller bytes */
  int want_crc;   /* keep crc: the file checks the whole object */
  uint32_t crc;   /* CRC32C of the bytes delivered so far */
  int seg_crc_ok; /* a direct fetch filled dst whole: dst.crc holds */
  int land;       /* the caller's buffer takes the rest of the object
                   * (gsr__read_skips_cache): a prefetcher gives what its
                   * blocks hold and fetches the rest into it, no blocks */
};

/* gsr_slice_release (api/file.c): drops a slice's reference. */
void gsr__slice_release(gsr_slice *s);
void gsr__out_copy_init(struct gsr__out *o, void *dst, size_t len);
void gsr__out_slices_init(struct gsr__out *o, gsr_slice *s, size_t max);
/* A copy-mode out into dst (no holes, CRCs kept), for a cache's own
 * buffers. */
void gsr__out_internal_init(struct gsr__out *o, const struct gsr__dst *dst);
/* Delivers len bytes of b starting at b->data + at: copies them, or adds a
 * slice holding a reference. Returns the bytes delivered: len, or 0 when
 * the slice array is full. */
uint64_t gsr__out_put(struct gsr__stats *st, struct gsr__out *o,
                      struct gsr__buf *b, size_t at, uint64_t len);
/* The same when the CRC32C of those bytes is already known (computed by
 * the I/O thread as they arrived), so it is not computed again. */
uint64_t gsr__out_put_crc(struct gsr__stats *st, struct gsr__out *o,
                          struct gsr__buf *b, size_t at, uint64_t len,
                          uint32_t crc);
/* Accounts len bytes written into the out's dst by someone else, whose
 * CRC32C is crc. */
void gsr__out_landed(struct gsr__out *o, uint64_t len, uint32_t crc);
/* Releases every slice taken so far (on failure). */
void gsr__out_abandon(struct gsr__out *o);

/* What a cache reads and writes of its file, and nothing more (as
 * gsr__rtarget is what a range fetch sees of it): filled by file.c at
 * open and fixed from then on, but for the counters. */
struct gsr__rctx {
  const char *display;         /* names the object in messages */
  uint64_t size;               /* the object's */
  uint64_t page_size;          /* a cache's unit (the block_size option) */
  int max_pages;               /* pages a page table keeps (max_blocks) */
  int concurrency;             /* parts one fetch may split into */
  uint64_t min_part;           /* smallest part of a split fetch */
  struct gsr__budget *budget;  /* what a cache's buffers are charged to */
  struct gsr__rtarget *target; /* the file's range fetches */
  struct gsr__stats *stats;    /* the file's */
  /* The way down: reads [off, off+len) from the file's source (direct
   * range fetches or the prefetcher), as a source's read op does. */
  int (*source)(void *arg, uint64_t off, uint64_t len, struct gsr__out *out);
  void *source_arg;
};

/* A cache: the file's upper reader. */
struct gsr__cache_ops {
  const char *name;
  /* Bytes of per-file state, which the file allocates zeroed before
   * create and frees after destroy; 0: none (state NULL). A cache with
   * state is called for one read at a time per file, unless concurrent. */
  size_t state_size;
  /* 1: read may run in many threads at once on one file: the cache locks
   * its own state, never across a fetch (gsr__cache_lock, cache.h). */
  int concurrent;
  /* Sets the state up for r's file; NULL: zeroes are a fresh state. */
  int (*create)(const struct gsr__rctx *r, void *state);
  /* Delivers [off, off+len) (clamped to the object, len > 0) into out,
   * advancing out->done; may deliver less only when out's slices run out.
   * Returns GSR_OK or a status with the message set. */
  int (*read)(struct gsr__rctx *r, void *state, uint64_t off, uint64_t len,
              struct gsr__out *out);
  /* Lets go of what the state holds, after everything in flight was let
   * go; also after a create that failed. May be NULL. */
  void (*destroy)(void *state);
};

/* A file's prefetch option (gsr_file_options.prefetch). */
enum gsr__prefetch_mode {
  GSR__PREFETCH_OFF,
  GSR__PREFETCH_ADAPTIVE,   /* once reads turn out sequential */
  GSR__PREFETCH_SEQUENTIAL, /* from the first read: the reader promised */
};

/* A source's view of its file (the file fills it at open; the engine's
 * block size may be set after, before the first read): the cache's view,
 * plus what the engine decides with. */
struct gsr__sctx {
  const struct gsr__rctx *r; /* display, size, concurrency, counters, the
                              * fetch target, the budget */
  gsr_client *client;        /* traces, the widths remembered, the pool */
  const char *media_url;     /* the widths' key; NULL: none kept */
  int prefetch;              /* enum gsr__prefetch_mode */
  int auto_width;            /* the engine chooses the width */
  uint64_t max_prefetch;     /* the window's cap */
  uint64_t max_window;       /* what a measured width may grow it to */
  uint64_t reorder;          /* gsr_file_options.reorder_bytes */
  uint64_t
      block; /* bytes per engine request; 0: its choice (gsr__file_set_block) */
  atomic_uint_fast64_t *read_end; /* gsr_set_read_end's promise */
  pthread_mutex_t *reader_mu;     /* held around a read of a source with
                                   * state; the cache's state is not under
                                   * it, so a source may let go of it while
                                   * bytes travel */
};

/* A source: the file's lower reader, given the source's view. */
struct gsr__reader_ops {
  const char *name;
  /* Creates per-file state (may be NULL for stateless readers). */
  int (*create)(const struct gsr__sctx *s, void **state);
  /* As gsr__cache_ops.read. */
  int (*read)(const struct gsr__sctx *s, void *state, uint64_t off,
              uint64_t len, struct gsr__out *out);
  /* Frees the state after everything in flight was let go. */
  void (*destroy)(const struct gsr__sctx *s, void *state);
  int stateful; /* 1: calls must be serialized per file */
};

/* The sources. */
extern const struct gsr__reader_ops gsr__direct_reader;
extern const struct gsr__reader_ops gsr__prefetch_reader;
/* The direct source's work on a reader context: one range fetch. */
int gsr__direct_read(const struct gsr__rctx *r, uint64_t off, uint64_t len,
                     struct gsr__out *out);

/* ---- cache/registry.c: the one table of cache names. */
/* The cache called name (or by an alias of its name), or NULL. */
const struct gsr__cache_ops *gsr__cache_lookup(const char *name);
/* The names, each alias after its name ("readahead_chunked (alias
 * readahead_v2)"), comma-separated into buf (n > 0 bytes, always
 * terminated): for the message that rejects an unknown one. */
void gsr__cache_names(char *buf, size_t n);

#endif /* GSR_READER_H */
