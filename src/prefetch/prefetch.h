/* The adaptive prefetcher: a source reader that keeps a window of bytes
 * ahead of a sequential reader, fetched as blocks over N connections, and
 * does nothing for random readers. Four roles, one file each:
 *
 *   tracker.c     recent read sizes (running average) and the current run
 *   producer.c    the window policy, and scheduling blocks to fill it
 *   stream.c      one paced request feeding blocks, for promised readers
 *   plans.c       the probe's decisions, remembered per server by the client
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
struct gsr__pf_stream;

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

/* The probe's verdict on N blocks measured against one stream (pure;
 * producer.c): blocks mode would sustain N x block / (ttfb + block x N /
 * aggregate), first-byte waits charged to blocks of the size it would
 * use. BLOCKS if that beats the stream by the probe's 1.25x gain; else
 * STREAM, unless the blocks' aggregate (from the first first byte to the
 * last byte) was only 1-2x the stream's, in the first round: a tie that
 * a moment of load on the machine may have made (N capped connections
 * bring about N x), so one more round of N blocks is measured (AGAIN). */
enum { GSR__PROBE_STREAM, GSR__PROBE_BLOCKS, GSR__PROBE_AGAIN };
struct gsr__probe_in {
  int n;              /* blocks measured (the concurrency) */
  double block;       /* bytes per block in blocks mode */
  double ttfb;        /* their mean first-byte wait, seconds */
  double aggregate;   /* their bytes / (last byte - first first byte), B/s */
  double stream_rate; /* what the stream sustained, B/s */
  int round;          /* 0 for the first round */
};
int gsr__probe_verdict(const struct gsr__probe_in *in, double *predicted);

/* A prefetched block: one request's worth of bytes, or a piece of the
 * stream's one request. */
struct gsr__pf_block {
  uint64_t off, len;
  uint64_t used;            /* bytes consumed or skipped from the front */
  struct gsr__buf *buf;
  struct gsr__rfetch *rf;   /* its request; NULL for a stream's block */
  struct gsr__pf_stream *stream; /* the stream filling it, or NULL */
  uint32_t crc;             /* stream: CRC32C of the block, once landed */
  uint64_t submit_ns;       /* when it was scheduled (the probe's clock) */
  int probed;               /* noted by the probe */
  struct gsr__pf_block *snext; /* stream: its queue (under the stream's mutex) */
  int waited;               /* rf finished and was checked */
  int demand;               /* scheduled for a read, not ahead of it */
  struct gsr__pf_block *next;
};

/* How a promised (sequential) reader is served: one paced stream, or
 * blocks on N connections. Unless N is 1 the prefetcher measures: it
 * starts with the stream, then fetches N blocks, and keeps blocks only if
 * they were clearly faster. A capped connection (GCS: ~220 MB/s each)
 * wants N; a fast one (a local server, where the client's CPU is the
 * bound) wants one stream: fewer requests, less memory, no first-byte
 * wait per block. */
enum gsr__pf_plan {
  GSR__PLAN_PROBE_STREAM = 0, /* measuring the stream */
  GSR__PLAN_PROBE_BLOCKS,     /* measuring N blocks */
  GSR__PLAN_STREAM,
  GSR__PLAN_BLOCKS,
};

struct gsr__prefetcher {
  struct gsr__tracker tracker;
  uint64_t pos;             /* where a sequential read would start */
  uint64_t run_bytes;       /* bytes read sequentially in this run */
  int run_reads;            /* reads in this run */
  struct gsr__pf_block *head, *tail;
  uint64_t sched_end;       /* end of the scheduled bytes */
  uint64_t limit;           /* nothing is fetched at or past it: the
                             * object's end, or the reader's promise */
  int failed;               /* a block failed: restart at the next read */
  uint64_t window, block;   /* current policy output */
  uint64_t held;            /* bytes in blocks now */
  struct gsr__pf_stream *stream; /* the paced stream, if one runs */
  /* The plan (promised readers of network objects; kept across seeks). */
  int plan;                 /* enum gsr__pf_plan */
  double stream_rate;       /* bytes/s the stream sustained */
  uint64_t probe_from;      /* the N blocks from here are the probe's */
  int probe_n;              /* probe blocks noted so far */
  int probe_round;          /* 0, or 1 once a tie was measured again */
  uint64_t probe_bytes;     /* their bytes, */
  uint64_t probe_t0, probe_t1; /* from the first first byte to the last */
  uint64_t probe_ttfb;      /* their first-byte waits, summed */
  struct gsr__pf_stream *old_stream; /* the probe's stream, until its
                                      * last block is dropped */
};

/* ---- prefetcher.c */
/* The end of what may be fetched ahead for a read of [off, off+len): the
 * object's end, or the reader's promise if the read keeps it (a read
 * past it breaks it: it is forgotten). */
uint64_t gsr__prefetch_limit(struct gsr__file *f, uint64_t off, uint64_t len);

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

/* ---- stream.c */
/* The window and block size of a stream for a file's max_prefetch (pure). */
void gsr__stream_policy(uint64_t max_prefetch, uint64_t *window,
                        uint64_t *block);
/* Starts streaming [off, off+len) of a network object; blocks are then
 * posted in order from off. GSR_OK and *out, or a status (message set). */
int gsr__stream_start(struct gsr__file *f, uint64_t off, uint64_t len,
                      struct gsr__pf_stream **out);
/* The object offset after the last posted block. */
uint64_t gsr__stream_end(const struct gsr__pf_stream *s);
/* Queues block b (at gsr__stream_end, its buffer allocated) to be filled;
 * resumes the transfer if it waited for room. */
void gsr__stream_post(struct gsr__pf_stream *s, struct gsr__pf_block *b);
/* No more blocks will be posted: the transfer fills the posted ones and
 * ends (a chunk it holds past them is dropped). */
void gsr__stream_retire(struct gsr__pf_stream *s);
/* If the transfer is paused for want of room: the object offset up to
 * which blocks must be posted for it to go on (the chunk it holds may
 * straddle several); else 0. */
uint64_t gsr__stream_room_wanted(struct gsr__pf_stream *s);
/* Waits up to timeout_ms (< 0: no limit) for every byte before object
 * offset end to land; 1 if they did. */
int gsr__stream_wait(struct gsr__pf_stream *s, uint64_t end, long timeout_ms);
/* A stream that kept its I/O thread busy this much of the time it was
 * measured is bound by the client, not by its connection: N connections
 * served by the same thread could at best go 1 / busy times faster (here
 * 1.4x), and cost it more per byte than one, so blocks would not clear
 * the probe's 1.25x gain: they are not tried. (Measured here: 80-100% on
 * the unshaped loopback server, 8-17% on the GCS profile.) */
#define GSR__PROBE_BUSY 0.7
/* ... measured from its first block to this many blocks past its first
 * window (which lands at once, whatever the reader does). */
#define GSR__PROBE_STREAM_BLOCKS 2
/* Once min_blocks of the stream landed: -1 if it spent a quarter of the
 * time since the first one paused for want of room (one connection
 * outruns the reader), else 1, *rate, the bytes/s it sustains while
 * not paused (its one first-byte wait left out), and *busy, the fraction
 * of that time the I/O thread was not waiting for work. 0 before. */
int gsr__stream_rate(struct gsr__pf_stream *s, int min_blocks, double *rate,
                     double *busy);
/* 1 if the request completed (all landed, failed or canceled). */
int gsr__stream_done(struct gsr__pf_stream *s);
/* For a stream that completed short: GSR_OK if it was submitted again
 * (a refused token was refreshed; keep waiting), else its status with the
 * message set. */
int gsr__stream_failed(struct gsr__pf_stream *s);
/* Cancels the request and waits until the I/O thread let go: its blocks
 * may then be dropped. */
void gsr__stream_stop(struct gsr__pf_stream *s);
/* Frees a stream (stopping it if needed). NULL is a no-op. */
void gsr__stream_free(struct gsr__pf_stream *s);

/* ---- plans.c (thread-safe) */
struct gsr__plans;
/* NULL on allocation failure. */
struct gsr__plans *gsr__plans_new(void);
void gsr__plans_free(struct gsr__plans *ps);
/* The plan remembered for url's origin (GSR__PLAN_STREAM or _BLOCKS), or
 * -1 if none (or too old). */
int gsr__plans_get(struct gsr__plans *ps, const char *url);
void gsr__plans_put(struct gsr__plans *ps, const char *url, int plan);
/* Adds the plans of file path that are still fresh (an origin already
 * known keeps its plan unless the file's is newer). Returns how many were
 * taken, 0 if there is no such file, -1 if it cannot be read or is not a
 * plans file. */
int gsr__plans_load(struct gsr__plans *ps, const char *path);
/* Writes the fresh plans to path (a temporary file renamed over it) if any
 * was decided since the load, merged with what the file holds now (other
 * processes' plans survive). Returns 1 if written, 0 if there was nothing
 * new, -1 on failure (errno set). */
int gsr__plans_save(struct gsr__plans *ps, const char *path);

/* ---- prefetcher.c */
/* Where the file's prefetcher has fetched or is fetching up to (its
 * scheduled end); 0 if the file has none. Takes reader_mu. */
uint64_t gsr__prefetch_scheduled_end(struct gsr__file *f);

/* ---- consumer.c */
/* Delivers [off, off+len) from the blocks into out (waiting for blocks
 * still in flight, refilling the window as blocks are used up). */
int gsr__consumer_take(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t off, uint64_t len, struct gsr__out *out);
/* Skips forward to off inside the scheduled range (a soft seek). */
void gsr__consumer_skip(struct gsr__file *f, struct gsr__prefetcher *p,
                        uint64_t off);

#endif /* GSR_PREFETCH_H */
