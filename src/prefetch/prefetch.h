/* The adaptive prefetcher: a source reader that keeps a window of bytes
 * ahead of a sequential reader, fetched as blocks over N connections, and
 * does nothing for random readers. Four roles, one file each:
 *
 *   tracker.c     recent read sizes (running average) and the current run
 *   producer.c    the window policy, and scheduling blocks to fill it
 *   consumer.c    handing bytes from ready blocks to the reader
 *   prefetcher.c  the orchestrator: sequential / soft seek / hard seek,
 *                 errors, close
 *
 * Threads: all state is touched under the file's reader mutex, by reader
 * threads. The I/O thread only fills blocks (through range fetches); there
 * is no prefetch thread: a block is scheduled the moment the reader
 * consumes the one in front of it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_PREFETCH_H
#define GSR_PREFETCH_H

#include <stdint.h>

#include "buf/buf.h"

struct gsr__file;
struct gsr__out;
struct gsr__rfetch;

/* ---- tracker.c (pure) */
#define GSR__TRACKER_LEN 10
struct gsr__tracker {
  uint64_t sizes[GSR__TRACKER_LEN];
  uint64_t sum;
  int n, next;
};
void gsr__tracker_add(struct gsr__tracker *t, uint64_t size);
/* Average of the recorded sizes; dflt when none. */
uint64_t gsr__tracker_average(const struct gsr__tracker *t, uint64_t dflt);
void gsr__tracker_clear(struct gsr__tracker *t);

/* ---- producer.c: the window policy (pure) */
struct gsr__window_in {
  uint64_t run_bytes;   /* bytes read sequentially in this run */
  int promised;         /* the reader promised to be sequential: no ramp */
  uint64_t avg_io;      /* average read size */
  uint64_t max_prefetch;/* the file's cap */
  int concurrency;      /* N */
  uint64_t min_part;    /* smallest block worth a request */
};
struct gsr__window_out {
  uint64_t window;      /* bytes to keep scheduled ahead of the reader */
  uint64_t block;       /* bytes per prefetch request */
};
void gsr__window_policy(const struct gsr__window_in *in,
                        struct gsr__window_out *out);

/* A prefetched block: one request's worth of bytes. */
struct gsr__pf_block {
  uint64_t off, len;
  uint64_t used;            /* bytes consumed or skipped from the front */
  struct gsr__buf *buf;
  struct gsr__rfetch *rf;
  int waited;               /* rf finished and was checked */
  int demand;               /* scheduled for a read, not ahead of it */
  struct gsr__pf_block *next;
};

struct gsr__prefetcher {
  struct gsr__tracker tracker;
  uint64_t pos;             /* where a sequential read would start */
  uint64_t run_bytes;       /* bytes read sequentially in this run */
  int run_reads;            /* reads in this run */
  struct gsr__pf_block *head, *tail;
  uint64_t sched_end;       /* end of the scheduled bytes */
  int failed;               /* a block failed: restart at the next read */
  uint64_t window, block;   /* current policy output */
  uint64_t held;            /* bytes in blocks now */
};

/* ---- producer.c */
/* Schedules blocks after sched_end until the window ahead of pos is full,
 * at most concurrency requests in flight, within the memory budget; bytes
 * before `must` (the current read) are scheduled regardless of the budget.
 * Returns GSR_OK or a status (message set). */
int gsr__producer_fill(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t must);
/* Drops every block, cancelling fetches; counts unread bytes as waste. */
void gsr__producer_drop_all(struct gsr__file *f, struct gsr__prefetcher *p);
/* Drops the head block (consumed or skipped). */
void gsr__producer_pop(struct gsr__file *f, struct gsr__prefetcher *p);

/* ---- consumer.c */
/* Delivers [off, off+len) from the blocks into out (waiting for blocks
 * still in flight, refilling the window as blocks are used up). */
int gsr__consumer_take(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t off, uint64_t len, struct gsr__out *out);
/* Skips forward to off inside the scheduled range (a soft seek). */
void gsr__consumer_skip(struct gsr__file *f, struct gsr__prefetcher *p,
                        uint64_t off);

#endif /* GSR_PREFETCH_H */
