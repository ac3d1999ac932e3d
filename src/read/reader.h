/* Readers: how a file turns "bytes [off, off+len)" into bytes. A file has
 * two stacked readers, each behind the same small ops table:
 *
 *   cache   none | readahead | readahead_chunked | blockcache | ...
 *   source  direct (range fetches, split over N connections) | prefetch
 *
 * A cache asks its source for what it lacks; "none" passes reads straight
 * through. Bytes go to a gsr__out: copied into caller memory, or handed
 * over as slices (references) for the zero-copy API.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_READER_H
#define GSR_READER_H

#include "base/buf.h"
#include "transport/transport.h"

struct gsr__file;

/* Where a read's bytes go. Copy mode: into iov (the caller's buffer, or a
 * cache's chunk buffers). Slice mode: as references in slices[]. */
struct gsr__out {
  struct gsr__iov iov[GSR__REQ_IOV];
  int n_iov;
  gsr_slice *slices; /* non-NULL: slice mode */
  size_t max_slices, n_slices;
  uint64_t done;  /* bytes delivered so far */
  int internal;   /* a cache filling its own buffers: not caller bytes */
  int want_crc;   /* keep crc: the file checks the whole object */
  uint32_t crc;   /* CRC32C of the bytes delivered so far */
  int seg_crc_ok; /* a direct fetch filled iov from its start: */
  uint32_t seg_crc[GSR__REQ_IOV]; /* the CRC32C of each segment */
};

/* gsr_slice_release (api/file.c): drops a slice's reference. */
void gsr__slice_release(gsr_slice *s);
void gsr__out_copy_init(struct gsr__out *o, void *dst, size_t len);
void gsr__out_slices_init(struct gsr__out *o, gsr_slice *s, size_t max);
/* A copy-mode out over the given segments, for a cache's own buffers. */
void gsr__out_internal_init(struct gsr__out *o, const struct gsr__iov *iov,
                            int n);
/* Delivers len bytes of b starting at b->data + at: copies them, or adds a
 * slice holding a reference. Returns the bytes delivered: len, or 0 when
 * the slice array is full. */
uint64_t gsr__out_put(struct gsr__file *f, struct gsr__out *o,
                      struct gsr__buf *b, size_t at, uint64_t len);
/* The same when the CRC32C of those bytes is already known (computed by
 * the I/O thread as they arrived), so it is not computed again. */
uint64_t gsr__out_put_crc(struct gsr__file *f, struct gsr__out *o,
                          struct gsr__buf *b, size_t at, uint64_t len,
                          uint32_t crc);
/* Accounts len bytes written into the out's iov by someone else, whose
 * CRC32C is crc. */
void gsr__out_landed(struct gsr__out *o, uint64_t len, uint32_t crc);
/* Releases every slice taken so far (on failure). */
void gsr__out_abandon(struct gsr__out *o);

struct gsr__reader_ops {
  const char *name;
  /* Creates per-file state (may be NULL for stateless readers). */
  int (*create)(struct gsr__file *f, void **state);
  /* Delivers [off, off+len) (clamped to the object, len > 0) into out,
   * advancing out->done; may deliver less only when out's slices run out.
   * Returns GSR_OK or a status with the message set. */
  int (*read)(struct gsr__file *f, void *state, uint64_t off, uint64_t len,
              struct gsr__out *out);
  /* Aborts background work (close); may be NULL. Thread-safe. */
  void (*cancel)(struct gsr__file *f, void *state);
  /* Frees the state after everything in flight was let go. */
  void (*destroy)(struct gsr__file *f, void *state);
  int stateful; /* 1: calls must be serialized per file */
};

/* The sources. */
extern const struct gsr__reader_ops gsr__direct_reader;
extern const struct gsr__reader_ops gsr__prefetch_reader;
/* Caches; gsr__cache_lookup returns NULL for an unknown name. */
extern const struct gsr__reader_ops gsr__cache_none;
const struct gsr__reader_ops *gsr__cache_lookup(const char *name);

/* A cache's way down: reads [off, off+len) from the file's source. */
int gsr__source_read(struct gsr__file *f, uint64_t off, uint64_t len,
                     struct gsr__out *out);

#endif /* GSR_READER_H */
