/* Range fetches: bytes [off, off+len) of a file's object into a
 * destination, split into up to N parts fetched in parallel, each part
 * written by the I/O thread straight into its place (no join copy).
 * Local files are read with pread at start. A 401 is the backend's to
 * judge (backend ops reauthorize); the fetch only resubmits.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_RFETCH_H
#define GSR_RFETCH_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend.h"
#include "base/buf.h"
#include "transport/transport.h"

struct gsr__rfetch;

/* What range fetches need of the file they read for (the file fills it at
 * open): no client, no file, no statistics beyond the counters named. */
struct gsr__rtarget {
  struct gsr__object *obj;
  struct gsr__transport *transport;
  /* Network: each attempt counted in both as it goes on the wire, bytes
   * in both as they arrive. Local: in [0] only, per pread. */
  atomic_uint_fast64_t *requests[2], *bytes_fetched[2];
  pthread_mutex_t mu; /* guards closed and inflight */
  int closed;
  struct gsr__rfetch *inflight; /* so close can cancel them */
};

/* How a range of len bytes is split: returns the number of parts n (>= 1)
 * and the length of each but the last (which takes the remainder) in
 * *part_len. A range is split only when it is at least 2 x min_part, into
 * at most max_parts parts of at least min_part. */
int gsr__split_range(uint64_t len, int max_parts, uint64_t min_part,
                     uint64_t *part_len);

struct gsr__rfetch {
  struct gsr__completion completion;
  struct gsr__rtarget *target;
  uint64_t off, len;
  int n_parts;
  struct gsr__request *reqs; /* network: n_parts (in this allocation) */
  struct gsr__buf *hold;     /* kept alive until the transport let go */
  int waited;                /* gsr__rfetch_wait ran */
  int status;                /* valid once waited */
  uint32_t crc; /* CRC32C of the range, once waited with OK (CRCs kept) */
  /* The caller's destination's stretch, cut at the parts' boundaries
   * (arrays in this allocation): part i's request lands in its pieces
   * [part_first[i], part_first[i+1]). CRCs kept if the caller's were. */
  struct gsr__dst cut;
  int *part_first;
  uint64_t auth_gen; /* generation of the credentials the parts carry */
  int auth_retried;  /* the one resubmission the backend allowed */
  struct gsr__rfetch *next, *prev; /* the target's in-flight list */
};

/* Starts fetching [off, off+dst->len) into dst with up to max_parts parts
 * of at least min_part. dst's segments are copied, so the caller's arrays
 * may go at once; its holes drop their bytes (a local file skips them: no
 * pread). With dst->crc set (no holes), the CRC32Cs are kept: rf->crc,
 * once waited (dst->crc itself is not written: gsr__rfetch_run does).
 * hold, if given, gets a reference released when the fetch is freed; the
 * fetch writes its checkpoints when it fills it whole in one part.
 * A local file counts one request, or one per pread with holes.
 * Returns GSR_OK and *out, or a status (message set; nothing started). */
int gsr__rfetch_start(struct gsr__rtarget *t, uint64_t off,
                      const struct gsr__dst *dst, int max_parts,
                      uint64_t min_part, struct gsr__buf *hold,
                      struct gsr__rfetch **out);
/* gsr__rfetch_start into buf's first len bytes, CRCs kept, buf held
 * (and its checkpoints written when one part fills it). */
int gsr__rfetch_start_buf(struct gsr__rtarget *t, uint64_t off,
                          struct gsr__buf *buf, uint64_t len, int max_parts,
                          uint64_t min_part, struct gsr__rfetch **out);
/* 1 if every part completed (never blocks). */
int gsr__rfetch_done(struct gsr__rfetch *rf);
/* 1 if t's requests queue on a few streams of the backend's own (zonal:
 * its gRPC streams, each carrying one range after another), 0 if each
 * goes on a connection of its own (the I/O threads' HTTP requests). */
int gsr__rtarget_streamed(const struct gsr__rtarget *t);
/* Blocks until done; returns the status and sets this thread's message on
 * failure. May be called again: returns the same. */
int gsr__rfetch_wait(struct gsr__rfetch *rf);
/* Asks the transport to abort every part (thread-safe, idempotent). */
void gsr__rfetch_cancel(struct gsr__rfetch *rf);
/* Cancels if still running, waits for the transport to let go, frees.
 * NULL is a no-op. Never sets the thread's message. */
void gsr__rfetch_free(struct gsr__rfetch *rf);

/* Fetch and wait in one call: [off, off+len) into dst's bytes [at,
 * at+len). With dst->crc set, *crc gets the range's CRC32C, and, when the
 * fetch filled dst whole, dst->crc each segment's. */
int gsr__rfetch_run(struct gsr__rtarget *t, uint64_t off, struct gsr__dst *dst,
                    uint64_t at, uint64_t len, int max_parts, uint64_t min_part,
                    uint32_t *crc);

#endif /* GSR_RFETCH_H */
