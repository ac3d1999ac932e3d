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
  struct gsr__request *reqs;
  struct gsr__buf *hold;        /* kept alive until the transport let go */
  int waited;                   /* gsr__rfetch_wait ran */
  int status;                   /* valid once waited */
  uint32_t crc;                 /* CRC32C of the range, once waited with OK */
  int n_seg;                    /* the destination's segments, and the CRC32C */
  size_t seg_len[GSR__REQ_IOV]; /* of each, once waited with OK */
  uint32_t seg_crc[GSR__REQ_IOV];
  uint64_t auth_gen; /* generation of the credentials the parts carry */
  int auth_retried;  /* the one resubmission the backend allowed */
  /* gsr__rfetch_start_sg's scatter list, cut at the parts' boundaries
   * (owned): each part's request lands in a stretch of it (xdst). */
  struct gsr__iov *sg;
  size_t n_sg;
  struct gsr__rfetch *next, *prev; /* the target's in-flight list */
};

/* Starts fetching [off, off+len) into iov[0..n_iov) (n_iov <= GSR__REQ_IOV;
 * lengths sum to len) with up to max_parts parts of at least min_part.
 * hold, if given, gets a reference released when the fetch is freed.
 * Returns GSR_OK and *out, or a status (message set; nothing started). */
int gsr__rfetch_start(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                      const struct gsr__iov *iov, int n_iov, int max_parts,
                      uint64_t min_part, struct gsr__buf *hold,
                      struct gsr__rfetch **out);
/* The same into a scatter list of any length, segs[0..n_segs) (lengths
 * summing to len; copied, so the caller's array may go at once). A NULL
 * base drops its bytes: the hole between two ranges of a vectored read
 * (a local file skips them: no pread). No CRCs are computed (crc, seg_crc
 * stay 0). A local file counts one request per pread. */
int gsr__rfetch_start_sg(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                         const struct gsr__iov *segs, size_t n_segs,
                         int max_parts, uint64_t min_part,
                         struct gsr__buf *hold, struct gsr__rfetch **out);
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

/* Fetch and wait in one call. */
int gsr__rfetch_run(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                    const struct gsr__iov *iov, int n_iov, int max_parts,
                    uint64_t min_part, uint32_t *crc, uint32_t *seg_crc);

/* ---- segcrc.c: the CRC32C of each of a fetch's destination segments
 * (seg_len[0..n_seg)) and of the whole range, from its parts'
 * per-segment CRCs (reqs[0..n_reqs)): parts cut the destination in order
 * and a part's segment never straddles two of the destination's.
 * seg_crc has GSR__REQ_IOV entries. */
void gsr__seg_crcs(const struct gsr__request *reqs, int n_reqs,
                   const size_t *seg_len, int n_seg, uint32_t *seg_crc,
                   uint32_t *crc);

#endif /* GSR_RFETCH_H */
