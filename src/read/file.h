/* An open file: one pinned object, a position, its readers (cache over
 * source), its statistics, and the range fetches in flight for it (so
 * close can cancel them). Shared between threads by reference count; the
 * handle registry maps public handles to it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_FILE_H
#define GSR_FILE_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend.h"
#include "fetch/rfetch.h"
#include "read/reader.h"

/* The mode named "off", "adaptive" or "sequential"; -1 for anything else. */
int gsr__prefetch_mode(const char *name);
/* A file's prefetch mode from its options (pure): the one prefetch names
 * ("default": client_default); with prefetch NULL, off if a cache is named
 * ("none" too, as gcsfs), else client_default. -1 for an unknown name. */
int gsr__prefetch_pick(const char *prefetch, const char *cache,
                       int client_default);
/* A client's default prefetch mode (pure): the client option if given,
 * else $GSREAD_PREFETCH (gsread_env), else gcsfs's
 * $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING (gcsfs_env) as gcsfs >= 2026.8.0
 * reads it: unset means adaptive, "true"/"1" (any case) adaptive, anything
 * else off. A mode name it does not know means off. */
/* 1 if a read of len bytes at off of an object of size goes straight to
 * the caller's buffer, past the cache and the prefetcher (pure): a read
 * into the caller's memory (to_caller) that runs to the object's end and
 * is at least a cache page and 16 MiB long. A cache would hold a second copy of
 * those bytes (fsspec's readahead keeps the whole rest plus its window), and
 * nothing after them can be read ahead. Such a read still takes what a
 * prefetcher's blocks hold of it (out.land), and only the rest lands. */
int gsr__read_skips_cache(int to_caller, uint64_t off, uint64_t len,
                          uint64_t size, uint64_t page_size);
int gsr__prefetch_default(const char *option, const char *gsread_env,
                          const char *gcsfs_env);

struct gsr__file {
  atomic_int refs;
  gsr_file id;
  gsr_client *client;
  struct gsr__object *obj;
  /* Options, resolved at open (the caches' own in rctx). */
  int concurrency;
  int auto_width; /* concurrency 0: the engine chooses the width
                   * for a promised reader, by measurement */
  uint64_t min_part;
  int prefetch; /* enum gsr__prefetch_mode */
  uint64_t max_prefetch;
  uint64_t max_window; /* what the window may grow to for a width
                        * chosen by measurement */
  uint64_t reorder;    /* gsr_file_options.reorder_bytes */
  /* Readers. */
  const struct gsr__cache_ops *cache;
  const struct gsr__reader_ops *source;
  void *cache_state, *source_state;
  struct gsr__rctx rctx;     /* the cache's view of the file */
  struct gsr__sctx sctx;     /* the source's view of the file */
  pthread_mutex_t cache_mu;  /* serializes the reads of a cache with
                              * state that is not concurrent */
  pthread_mutex_t reader_mu; /* serializes a stateful source's calls (the
                              * cache's way down) */
  pthread_mutex_t pos_mu;    /* serializes gsr_read/gsr_seek; guards pos
                              * and the CRC fields */
  int64_t pos;
  /* Whole-object check: while gsr_read calls run from 0 in order, the
   * CRC32C of what they delivered; compared at the end of the object. */
  uint64_t crc_pos; /* next offset expected; UINT64_MAX: off */
  uint32_t crc;
  struct gsr__rtarget target; /* its range fetches' view of it; closed and
                               * the fetches in flight, under target.mu */
  struct gsr__stats stats;
  /* gsr_set_read_end's promise: no read at or past it; UINT64_MAX: none.
   * The prefetcher reads it at each read. */
  atomic_uint_fast64_t read_end;
};

/* ---- handle.c: public handles <-> files. */
/* Registers f (one reference moves to the registry); sets f->id. */
int gsr__handle_add(struct gsr__file *f);
/* Finds a live file and takes a reference. GSR_OK, GSR_EBADF (never a
 * handle) or GSR_ECLOSED (closed). Message set on failure. */
int gsr__handle_get(gsr_file id, struct gsr__file **out);
/* Unregisters id; hands the registry's reference to the caller. */
int gsr__handle_remove(gsr_file id, struct gsr__file **out);
/* Unregisters the first live file of client c, or returns NULL. */
struct gsr__file *gsr__handle_remove_any(gsr_client *c);
/* Frees the table when no file is open (so leak checkers see nothing). */
void gsr__handle_trim(void);

/* ---- file.c: the work of the public file calls (api/file.c looks the
 * handle up and checks the arguments). Each returns what its gsr_ call
 * does (gsread.h). */
/* A new file of client c for url, with its readers (opts not NULL); not
 * yet registered. known: what a listing said of the object (no metadata
 * request), or NULL. GSR_OK or a status (message set). */
int gsr__file_open(gsr_client *c, const char *url, const gsr_file_options *opts,
                   const gsr_stat *known, struct gsr__file **out);
void gsr__file_unref(struct gsr__file *f);
int64_t gsr__file_pread(struct gsr__file *f, void *buf, size_t n,
                        int64_t offset);
/* gsr_read: at the file's position, with the whole-object CRC32C check. */
int64_t gsr__file_read(struct gsr__file *f, void *buf, size_t n);
int64_t gsr__file_read_slices(struct gsr__file *f, size_t n, gsr_slice *out,
                              size_t max, size_t *count);
int64_t gsr__file_seek(struct gsr__file *f, int64_t offset, int whence);
void gsr__file_stats(struct gsr__file *f, gsr_file_stats *out);
/* gsr_pread_slices on a file; with want_crc, *crc is the CRC32C of the
 * bytes returned. */
int64_t gsr__file_slice_read(struct gsr__file *f, size_t n, int64_t offset,
                             gsr_slice *out, size_t max, size_t *count,
                             int want_crc, uint32_t *crc);
/* Marks f closed and cancels its fetches (the caller drops its ref). */
void gsr__file_shutdown(struct gsr__file *f);
/* The engine's bytes per request (gsr_download's part_size; 0, the
 * default: its own choice). Before the file's first read only. */
void gsr__file_set_block(struct gsr__file *f, uint64_t block);
/* gsr_set_read_end's promise: no read at or past end (UINT64_MAX: none). */
void gsr__file_set_read_end(struct gsr__file *f, uint64_t end);
/* The object's size, fixed at open. */
uint64_t gsr__file_size(const struct gsr__file *f);

/* ---- sendfile.c: a range of a file written to a file descriptor,
 * through the file's readers (gsr_sendfile, gsr_download). */
struct gsr__send {
  int fd;
  const char *what; /* names fd in messages; NULL: "file descriptor N" */
  /* Called at the start and at most 4 times a second; may be NULL. */
  void (*progress)(void *arg, uint64_t done, uint64_t total);
  void *progress_arg;
  uint64_t written; /* out: bytes written to fd, also on failure */
  uint32_t crc;     /* out: their CRC32C */
  int write_errno;  /* out: why fd refused a write, or 0 */
};
/* Writes [off, end) of f (end within the object) to s->fd, promising the
 * range while it runs (gsr_set_read_end). GSR_OK or a status (message
 * set). */
int gsr__file_send(struct gsr__file *f, uint64_t off, uint64_t end,
                   struct gsr__send *s);

/* The whole-object check: GSR_OK if crc, the CRC32C of the whole object's
 * bytes as `what` (read, written, downloaded), matches the server's (or
 * the server published none), else GSR_EINTEGRITY with the message set. */
int gsr__file_check_crc(const struct gsr__file *f, uint32_t crc,
                        const char *what);
/* gsr_sendfile's work, its arguments checked (off, fd not negative): the
 * range clamped to the object, written, and checked against the object's
 * CRC32C when whole. *write_errno: why fd refused a write, or 0. */
int gsr__file_sendfile(struct gsr__file *f, int fd, uint64_t off,
                       uint64_t count, uint64_t *written, int *write_errno);

/* ---- ranges.c: gsr_read_ranges. */
#define GSR__RANGES_MAX_CONCURRENCY 256
/* Checks the arguments; sets every range's results to the status (GSR_OK
 * or GSR_EINVAL, message set). */
int gsr__ranges_check(gsr_range *r, size_t n, const gsr_ranges_options *o);
/* gsr_read_ranges on a file, its arguments checked; t0: when the call
 * began (gsr__now_ns), for the stats. */
int gsr__file_read_ranges(struct gsr__file *f, gsr_range *ranges, size_t n,
                          const gsr_ranges_options *opts, uint64_t t0);
/* gsr_read_ranges_files: ranges[i] of files[i] (NULL: not read, its
 * status already set), planned per file and fetched under one width, the
 * arguments checked. */
int gsr__files_read_ranges(struct gsr__file **files, gsr_range *ranges,
                           size_t n, const gsr_ranges_options *opts,
                           uint64_t t0);

#endif /* GSR_FILE_H */
