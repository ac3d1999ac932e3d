/* The sequential engine: a source reader that keeps a window of bytes
 * ahead of a sequential reader, fetched as blocks (one request each) over
 * `width` connections, and does nothing for random readers. Every
 * sequential reader is served by it: gsr_read, gsr_read_slices and
 * gsr_sendfile through the file's readers, gsr_download and gsread cp
 * through the same reads. Roles, one file each:
 *
 *   policy.c      the pure decisions: the plan, window, block size and
 *                 lead from measurements; the next width to try (auto)
 *   tracker.c     recent read sizes (running average)
 *   producer.c    scheduling blocks to keep the window full and every
 *                 connection busy; measuring them as they complete
 *   consumer.c    handing bytes from ready blocks to the reader
 *   widths.c       the widths chosen, remembered per server by the client
 *   prefetcher.c  the orchestrator: sequential / soft seek / hard seek,
 *                 errors, close
 *
 * Threads: all state is touched under the file's reader mutex, by reader
 * threads (through the cache's way down, file.c); a read fetched exactly
 * lets go of it while its bytes travel (prefetcher.c). The I/O thread only
 * fills blocks (through range fetches); there is no prefetch thread: blocks are
 * scheduled when the reader reads, and while it waits (every few ms).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_PREFETCH_H
#define GSR_PREFETCH_H

#include <stdint.h>

#include "base/buf.h"

struct gsr__sctx;
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

/* ---- policy.c (pure) */

/* The engine's plan for a file (gsr_file_stats.plan names it). */
enum gsr__plan {
  GSR__PLAN_NONE = 0, /* nothing read ahead: each read fetched as asked
                       * (random readers, prefetch off, local files) */
  GSR__PLAN_RAMP,     /* a sequential run of an adaptive reader: the
                       * window grows with the bytes read */
  GSR__PLAN_FULL,     /* the whole window at full width: a reader that
                       * promised to be sequential, or a ramp at its cap */
};
/* "none", "ramp" or "full". */
const char *gsr__plan_name(int plan);
/* 1 if the read that is the run_reads'th of its run gets a window (the
 * plan is not none): a promised reader's always, an adaptive reader's
 * from GSR__RUN_READS_TO_PREFETCH on. */
int gsr__plan_reads_ahead(int promised, int run_reads);
/* Whether a read that needs the bytes of a block that failed fetches them
 * again (pure): only a block scheduled ahead (speculative work never fails
 * a read), and only if its request failed without retrying (an error of
 * its own start: memory, credentials, a refusal with no retry allowed).
 * One that retried and still failed was the read's wait too: the link is
 * failing, and fetching again let a read take up to twice the retry
 * deadline. */
int gsr__refetch_failed(int ahead, int attempts);
/* Whether a block in flight, got of its len bytes arrived, takes one of
 * the width connections (pure): on a connection of its own, until its
 * first byte arrived and while more than the lead is still to come (the
 * next block's request waits for that); queued on one of a backend's
 * streams (streamed), never: a stream carries its ranges one after
 * another, so a block waiting behind another makes no more of them carry
 * bytes, and its first-byte wait runs beside the one carried (the 2 x
 * width requests in flight still bound them). */
int gsr__block_takes(int streamed, uint64_t got, uint64_t len, uint64_t lead);

/* 1 if a read of len bytes is too large for the engine, and is fetched
 * straight into the caller's buffer instead: larger than the most the
 * file's window may hold (max_window), or than half the client's budget.
 * The engine would hold the read's blocks and a window of twice the read,
 * about its size again past both (the blocks a read waits for skip the
 * budget). */
int gsr__plan_read_direct(uint64_t len, uint64_t max_window, uint64_t budget);

/* Reads a run must have before an adaptive reader gets a window. Two
 * adjacent reads happen by chance in random workloads (often, when reads
 * are large: 100 MiB reads of a 1 GiB object are adjacent one time in
 * ten); three in a row rarely do. */
#define GSR__RUN_READS_TO_PREFETCH 3
/* The smallest block worth a request; blocks are whole multiples of the
 * alignment (requests that start on round offsets). */
#define GSR__MIN_BLOCK (256u * 1024)
#define GSR__BLOCK_ALIGN (64u * 1024)
/* The largest block the policy chooses: at 200 MB/s a connection's 40 ms
 * first-byte wait is paid back within 8 MB, and a larger one only holds
 * memory (a window of gigabytes still goes out as many blocks). */
#define GSR__MAX_BLOCK (64u * 1024 * 1024)
/* An adaptive reader's window: this many times its run (policy.c). */
#define GSR__RAMP 16

struct gsr__engine_in {
  int promised;          /* the reader promised to be sequential */
  int run_reads;         /* reads in the current sequential run */
  uint64_t run_bytes;    /* bytes read sequentially in it */
  uint64_t avg_io;       /* average read size */
  uint64_t max_prefetch; /* the file's cap on bytes held */
  uint64_t max_window;   /* ... raised to hold an automatic width, up to
                          * this (the file's cap if the caller set it) */
  int width;             /* connections that should carry bytes at once */
  uint64_t block;        /* bytes per request the caller chose; 0: the
                          * policy's (the window then holds its blocks) */
  int auto_width;        /* chosen by measurement: may be lowered to what
                          * the window holds (an explicit one is obeyed) */
  double rate;           /* measured bytes/s of one connection; 0: unknown */
  double ttfb;           /* measured first-byte wait, seconds; 0: unknown */
};
struct gsr__engine_out {
  int plan;        /* enum gsr__plan */
  uint64_t window; /* most bytes held: in flight and landed */
  uint64_t block;  /* bytes per request */
  uint64_t lead;   /* a block with this many bytes still to come is
                    * followed at once by the next request, on
                    * another connection: its first byte then comes
                    * as this block ends */
  int width;       /* the width the window holds: at most in.width */
};
void gsr__engine_policy(const struct gsr__engine_in *in,
                        struct gsr__engine_out *out);

/* Automatic width: start at GSR__WIDTH_START connections; after each
 * measurement of the aggregate rate at one width, try GSR__WIDTH_STEP
 * more while the last step raised it by at least GSR__WIDTH_GAIN, up to
 * max. Returns the width to use next and sets *settled once it is chosen
 * (the best width measured: the step that did not pay is taken back). */
#define GSR__WIDTH_START 4
#define GSR__WIDTH_STEP 2
#define GSR__WIDTH_GAIN 1.10
struct gsr__width_in {
  int width;        /* the width just measured */
  double aggregate; /* its bytes/s, all connections together */
  int prev_width;   /* the one measured before it; 0: none */
  double prev_aggregate;
  int max; /* max_connections and what the window holds */
};
int gsr__width_next(const struct gsr__width_in *in, int *settled);
/* Whether a file that may choose its width (no concurrency asked) starts
 * choosing it at a plan (enum gsr__plan): once the plan is full. A
 * promised reader's is from its first read; an adaptive reader's once its
 * run filled the window, when it has shown itself sequential (the mount's
 * and Python's readers, which never promise). Random readers never. */
int gsr__width_engages(int may_choose, int plan);

/* ---- the engine's state */

/* A block: one request's worth of bytes. */
struct gsr__pf_block {
  uint64_t off, len;
  uint64_t used; /* bytes consumed or skipped from the front */
  struct gsr__buf *buf;
  struct gsr__rfetch *rf; /* its request */
  uint64_t submit_ns;     /* when it was scheduled */
  int width;              /* the width it was scheduled at */
  int first_noted, noted; /* its first byte, its whole, measured */
  int waited;             /* rf finished and was checked */
  int ahead;              /* scheduled for no read (speculative): if it
                           * fails, its bytes are fetched again for the
                           * read that needs them, which alone may fail */
  struct gsr__pf_block *next;
};

struct gsr__prefetcher {
  struct gsr__tracker tracker;
  uint64_t pos;       /* where a sequential read would start */
  uint64_t run_bytes; /* bytes read sequentially in this run */
  int run_reads;      /* reads in this run */
  struct gsr__pf_block *head, *tail;
  uint64_t sched_end; /* end of the scheduled bytes */
  uint64_t limit;     /* nothing is fetched at or past it: the
                       * object's end, or the reader's promise */
  int failed;         /* a block failed: restart at the next read */
  uint64_t held;      /* bytes in blocks now */
  /* Blocks the reader passed, kept for reads that arrive out of order
   * (sctx.reorder), oldest first, whole and checked; not in held (they
   * take no room of the window ahead), in the budget as every block. */
  struct gsr__pf_block *behind, *behind_tail;
  uint64_t behind_bytes;
  struct gsr__engine_out now; /* the policy's latest output */
  /* Measurements of completed blocks (kept across seeks). */
  double rate, ttfb; /* running averages; 0: none yet */
  /* Automatic width (GSR__WIDTH_*): the width in use, whether it is
   * chosen, and the aggregate of blocks scheduled at it, from the first
   * first byte to the last byte. */
  int width;
  int width_began; /* gsr__width_engages said yes once */
  int auto_width;  /* still choosing */
  int prev_width;
  double prev_aggregate;
  int step_blocks;
  uint64_t step_bytes, step_t0, step_t1;
};

/* ---- prefetcher.c */
/* The end of what may be fetched ahead for a read of [off, off+len): the
 * object's end, or the reader's promise if the read keeps it (a read
 * past it breaks it: it is forgotten). */
uint64_t gsr__prefetch_limit(const struct gsr__sctx *s, uint64_t off,
                             uint64_t len);

/* ---- producer.c */
/* Schedules blocks after sched_end until the window ahead of pos is full,
 * with at most `width` requests carrying more than the lead and 2 x width
 * in flight, within the memory budget; bytes before `must` (the current
 * read) are scheduled regardless of the window and the budget. Returns
 * GSR_OK or a status (message set), which only a block for bytes before
 * `must` can give: speculative work never fails a read (a block ahead
 * that cannot be scheduled is not, and is left to the read that needs
 * it). */
int gsr__producer_fill(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       uint64_t must);
/* Drops every block, those kept behind too, cancelling fetches; counts
 * bytes received and never read as waste. */
void gsr__producer_drop_all(const struct gsr__sctx *s,
                            struct gsr__prefetcher *p);
/* Drops the head block (consumed or skipped), or keeps it behind the
 * reader (sctx.reorder). */
void gsr__producer_pop(const struct gsr__sctx *s, struct gsr__prefetcher *p);
/* Drops every block and schedules anew from off (within them): a block
 * ahead failed, and a read now needs its bytes. */
void gsr__producer_restart_at(const struct gsr__sctx *s,
                              struct gsr__prefetcher *p, uint64_t off);

/* ---- widths.c (thread-safe) */
struct gsr__widths;
/* NULL on allocation failure. */
struct gsr__widths *gsr__widths_new(void);
void gsr__widths_free(struct gsr__widths *ps);
/* The width chosen for url's origin, or -1 if none (or too old). */
int gsr__widths_get(struct gsr__widths *ps, const char *url);
void gsr__widths_put(struct gsr__widths *ps, const char *url, int width);
/* Adds the widths of file path that are still fresh (an origin already
 * known keeps its width unless the file's is newer). Returns how many were
 * taken, 0 if there is no such file, -1 if it cannot be read or is not a
 * plans file. */
int gsr__widths_load(struct gsr__widths *ps, const char *path);
/* Writes the fresh widths to path (a temporary file renamed over it) if any
 * was decided since the load, merged with what the file holds now (other
 * processes' widths survive). Returns 1 if written, 0 if there was nothing
 * new, -1 on failure (errno set). */
int gsr__widths_save(struct gsr__widths *ps, const char *path);

/* ---- consumer.c */
/* Delivers [off, off+len) from the blocks into out (waiting for blocks
 * still in flight, refilling the window as blocks are used up). */
int gsr__consumer_take(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       uint64_t off, uint64_t len, struct gsr__out *out);
/* Delivers [off, off+len) from the blocks kept behind the reader if
 * they hold all of it: returns 1 if so (out may be short only where the
 * caller's slice array is full), 0 if they do not (nothing delivered). */
int gsr__consumer_take_behind(const struct gsr__sctx *s,
                              struct gsr__prefetcher *p, uint64_t off,
                              uint64_t len, struct gsr__out *out);
/* Skips forward to off inside the scheduled range (a soft seek). */
void gsr__consumer_skip(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                        uint64_t off);

#endif /* GSR_PREFETCH_H */
