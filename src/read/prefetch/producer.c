/* The producer: schedules blocks (one request each) to keep the window
 * ahead of the reader full and `width` connections carrying bytes at
 * once, and measures the blocks as they complete: each connection's rate
 * and first-byte wait (the policy's lead), and, while the width is chosen
 * automatically, the aggregate at each width tried.
 *
 * What is bounded is bytes held (the window, the memory budget), not
 * requests: a block within `lead` bytes of its end no longer takes its
 * connection, so the next request goes out beside it and its first byte
 * arrives as the block ends. At most 2 x width requests are in flight.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "fetch/rfetch.h"
#include "read/prefetch/prefetch.h"
#include "read/reader.h"

/* Running averages of the measurements: a quarter of each new one. */
#define EWMA 0.25
/* Blocks smaller than this time their first-byte wait but not a rate:
 * their transfer is too short to tell. */
#define MIN_RATE_BLOCK (1024u * 1024)

static double ewma(double avg, double v) {
  return avg > 0 ? avg + EWMA * (v - avg) : v;
}

static uint64_t arrived(const struct gsr__pf_block *b) {
  if (b->rf == NULL || b->rf->reqs == NULL) return b->len;
  uint64_t got = atomic_load(&b->rf->reqs[0].progress);
  return GSR__MIN(got, b->len);
}

/* A block whose request has not ended. */
static int in_flight(const struct gsr__pf_block *b) {
  if (b->waited || b->rf == NULL || b->rf->waited) return 0;
  return arrived(b) < b->len && !gsr__rfetch_done(b->rf);
}

static void peak_update(atomic_uint_fast64_t *peak, uint64_t v) {
  uint_fast64_t cur = atomic_load(peak);
  while (v > cur && !atomic_compare_exchange_weak(peak, &cur, v)) {
  }
}

/* What the policy decides from, now. */
static struct gsr__engine_in engine_in(const struct gsr__sctx *s,
                                       const struct gsr__prefetcher *p) {
  return (struct gsr__engine_in){
      .promised = s->prefetch == GSR__PREFETCH_SEQUENTIAL,
      /* The window is for the reads to come: the run's next read. */
      .run_reads = p->run_reads + 1,
      .run_bytes = p->run_bytes,
      .avg_io = gsr__tracker_average(&p->tracker, 1024 * 1024),
      .max_prefetch = s->max_prefetch,
      .max_window = s->max_window,
      .width = p->width,
      .block = s->block,
      .auto_width = p->auto_width,
      .rate = p->rate,
      .ttfb = p->ttfb,
  };
}

/* The widest width this file may try: half the client's connections
 * (each may have a request waiting beside it), and what the window
 * holds at the measured lead. */
static int width_max(const struct gsr__sctx *s,
                     const struct gsr__prefetcher *p) {
  struct gsr__engine_in wide = engine_in(s, p);
  struct gsr__engine_out out;
  wide.width = GSR__MAX(s->client->opts.max_connections / 2, 1);
  gsr__engine_policy(&wide, &out);
  return out.width;
}

/* One step of the automatic width: once 3 x width blocks scheduled at the
 * current width completed, the file's aggregate over the last 2 x width
 * of them decides the next width (gsr__width_next). */
static void width_step(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       const struct gsr__pf_block *b) {
  if (!p->auto_width || b->width != p->width) return;
  uint64_t now = gsr__now_ns(),
           fetched = atomic_load(&s->r->stats->bytes_fetched);
  /* The first `width` blocks at a width carry the change (the ramp, or
   * the blocks of the width before): measured from the next. */
  if (++p->step_blocks == p->width) {
    p->step_t0 = now;
    p->step_bytes = fetched;
    return;
  }
  if (p->step_blocks <= 3 * p->width || now <= p->step_t0) return;
  struct gsr__width_in win = {
      .width = p->width,
      .aggregate = (double)(fetched - p->step_bytes) * 1e9 /
                   (double)(now - p->step_t0),
      .prev_width = p->prev_width,
      .prev_aggregate = p->prev_aggregate,
      .max = width_max(s, p),
  };
  int settled, next = gsr__width_next(&win, &settled);
  GSR__TRACE(s->client,
             "engine %s: width %d: %.0f MB/s all together%s; "
             "width %d%s",
             s->r->display, p->width, win.aggregate / 1e6,
             win.prev_width ? "" : " (the first measured)", next,
             settled ? " (chosen)" : " (trying)");
  p->prev_width = p->width;
  p->prev_aggregate = win.aggregate;
  p->width = next;
  p->step_blocks = 0;
  if (settled) {
    p->auto_width = 0;
    if (s->media_url != NULL)
      gsr__widths_put(s->client->widths, s->media_url, next);
  }
}

/* Measures block b: its first-byte wait as soon as its first byte is in
 * (the first blocks' leads need it before any block completed), a first
 * rate from its progress when none is known yet, and its rate once its
 * request completed well. */
static void note(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                 struct gsr__pf_block *b) {
  if (b->noted || b->rf == NULL || b->rf->reqs == NULL) return;
  const struct gsr__request *req = &b->rf->reqs[0];
  /* first_byte_ns is stored before the progress that shows it. */
  uint64_t got = atomic_load(&req->progress);
  if (got > 0 && !b->first_noted && req->first_byte_ns > b->submit_ns) {
    b->first_noted = 1;
    p->ttfb = ewma(p->ttfb, (double)(req->first_byte_ns - b->submit_ns) / 1e9);
  }
  uint64_t now = gsr__now_ns();
  if (p->rate == 0 && got >= MIN_RATE_BLOCK && b->first_noted &&
      now > req->first_byte_ns)
    p->rate = (double)got * 1e9 / (double)(now - req->first_byte_ns);
  if (!gsr__rfetch_done(b->rf) || req->err.status != GSR_OK) return;
  b->noted = 1;
  if (req->first_byte_ns <= b->submit_ns || req->done_ns <= req->first_byte_ns)
    return;
  if (b->len >= MIN_RATE_BLOCK)
    p->rate = ewma(p->rate, (double)b->len * 1e9 /
                                (double)(req->done_ns - req->first_byte_ns));
  width_step(s, p, b);
}

/* Schedules one block of len bytes at sched_end, within the budget; if
 * it does not fit and a read waits for its first `needed` bytes (> 0),
 * those alone, charged whatever the budget says. 1 if nothing was
 * scheduled (the budget is spent: wait). */
static int schedule(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                    uint64_t len, uint64_t needed) {
  struct gsr__budget *budget = s->client->budget;
  int demand = needed > 0, refused;
  struct gsr__buf *buf = gsr__buf_try((size_t)len, budget, &refused);
  if (buf == NULL && refused) {
    if (!demand) return 1;
    len = needed;
    buf = gsr__buf_new((size_t)len, budget);
  }
  struct gsr__pf_block *b = gsr__calloc(1, sizeof(*b));
  if (b == NULL || buf == NULL) {
    gsr__free(b);
    gsr__buf_unref(buf);
    return gsr__err(GSR_ENOMEM, "out of memory (prefetch block of %llu bytes)",
                    (unsigned long long)len);
  }
  b->buf = buf; /* the block's reference; a fetch holds its own */
  b->submit_ns = gsr__now_ns();
  b->off = p->sched_end;
  b->len = len;
  b->width = p->width;
  b->ahead = !demand;
  int status = gsr__rfetch_start_buf(s->r->target, p->sched_end, buf, len, 1,
                                     len, &b->rf);
  if (status != GSR_OK) {
    gsr__buf_unref(buf);
    gsr__free(b);
    return status;
  }
  if (p->tail)
    p->tail->next = b;
  else
    p->head = b;
  p->tail = b;
  GSR__TRACE(s->client,
             "engine %s: schedule %llu+%llu%s (plan %s, width %d, "
             "window %llu, lead %llu, held %llu)",
             s->r->display, (unsigned long long)p->sched_end,
             (unsigned long long)len, demand ? " for the read" : " ahead",
             gsr__plan_name(p->now.plan), p->now.width,
             (unsigned long long)p->now.window, (unsigned long long)p->now.lead,
             (unsigned long long)p->held + len);
  p->sched_end += len;
  p->held += len;
  peak_update(&s->r->stats->peak_buffered, p->held);
  return GSR_OK;
}

/* The block list's invariants: blocks are contiguous and ordered, end at
 * sched_end, and held is the sum of their lengths. */
static void check_blocks(const struct gsr__prefetcher *p) {
#ifndef NDEBUG
  uint64_t sum = 0;
  const struct gsr__pf_block *last = NULL;
  for (const struct gsr__pf_block *b = p->head; b != NULL; b = b->next) {
    assert(b->len > 0 && b->used <= b->len);
    assert(last == NULL || b->off == last->off + last->len);
    sum += b->len;
    last = b;
  }
  assert(last == p->tail);
  assert(last == NULL || last->off + last->len == p->sched_end);
  assert(sum == p->held);
#else
  (void)p;
#endif
}

/* A file with no width asked for chooses one by measurement, or takes the
 * one already chosen for this server (widths.c), from its first full plan
 * (gsr__width_engages). Returns 1 if the width changed. */
static int width_begin(const struct gsr__sctx *s, struct gsr__prefetcher *p) {
  if (p->width_began || !gsr__width_engages(s->auto_width, p->now.plan))
    return 0;
  p->width_began = 1;
  int known = s->media_url != NULL
                  ? gsr__widths_get(s->client->widths, s->media_url)
                  : -1;
  p->auto_width = known < 1;
  p->width = known >= 1 ? known : GSR__WIDTH_START;
  GSR__TRACE(s->client, "engine %s: width %d (%s)", s->r->display, p->width,
             known >= 1 ? "chosen before for this server"
                        : "a start: chosen by measurement");
  return 1;
}

int gsr__producer_fill(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       uint64_t must) {
  for (struct gsr__pf_block *b = p->head; b != NULL; b = b->next) note(s, p, b);
  struct gsr__engine_in in = engine_in(s, p);
  gsr__engine_policy(&in, &p->now);
  if (width_begin(s, p)) {
    in = engine_in(s, p);
    gsr__engine_policy(&in, &p->now);
  }
  const struct gsr__engine_out *w = &p->now;
  assert(w->width >= 1 && w->block > 0 && w->lead <= w->block);
  atomic_store(&s->r->stats->window, w->window);
  atomic_store(&s->r->stats->plan, w->plan);
  atomic_store(&s->r->stats->width, w->plan == GSR__PLAN_NONE ? 0 : w->width);
  if (p->head == NULL && p->sched_end < p->pos) p->sched_end = p->pos;
  check_blocks(p);
  assert(p->sched_end >= p->pos); /* blocks are never all behind the reader */
  uint64_t size = p->limit;       /* the reader's end */
  uint64_t target = GSR__MIN(GSR__MAX(must, p->pos + w->window), size);
  /* A connection is taken by a block until the block comes within the
   * lead of its end, and until its first byte arrived: a block shorter
   * than the lead has its successor wait for that, so no more than
   * width connections ever carry bytes at once. Streams are not taken
   * (gsr__block_takes): a zonal block's bytes show a whole gRPC message
   * (2 MiB) at a time, and its successor, held until then, came a
   * first-byte wait after the block it followed had ended. */
  int flying = 0, taken = 0;
  int streamed = gsr__rtarget_streamed(s->r->target);
  for (const struct gsr__pf_block *b = p->head; b != NULL; b = b->next) {
    if (!in_flight(b)) continue;
    flying++;
    taken += gsr__block_takes(streamed, arrived(b), b->len, w->lead);
  }
  while (p->sched_end < target && taken < w->width && flying < 2 * w->width) {
    /* Bytes a read is waiting for are fetched whatever the window and the
     * budget say, but only those: the overshoot is at most the reads'.
     * At full width, where the window and the budget have room, the
     * whole block (cut at the read's end, it would cost one more
     * first-byte wait). */
    uint64_t len = GSR__MIN(w->block, size - p->sched_end);
    uint64_t needed = p->sched_end < must ? GSR__MIN(len, must - p->sched_end)
                                          : 0;
    if (needed > 0 && (w->plan != GSR__PLAN_FULL || p->held + len > w->window))
      len = needed;
    if (needed == 0 && p->held + len > w->window) break;
    int status = schedule(s, p, len, needed);
    if (status == 1) break;
    if (status != GSR_OK && needed > 0) return status;
    if (status != GSR_OK) {
      /* No read waits for these bytes: the one that comes to them
       * schedules them itself, and its failure is its own. */
      GSR__TRACE(s->client, "engine %s: %llu+%llu not scheduled ahead: %s",
                 s->r->display, (unsigned long long)p->sched_end,
                 (unsigned long long)len, gsr_errmsg());
      break;
    }
    flying++;
    taken++;
  }
  check_blocks(p);
  return GSR_OK;
}

/* Lets go of block b, no longer in either list: a fetch still running
 * is stopped (or, all its bytes read, let finish), bytes received and
 * never read count as waste. */
static void release(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                    struct gsr__pf_block *b) {
  if (!b->waited && b->rf != NULL) {
    /* All bytes read: let curl finish cleanly and keep its connection
     * alive. Else stop it, and wait for the transport to let go so that
     * what it received is known (without touching the thread's message:
     * a failure being reported may be on its way out). */
    if (b->used < b->len) {
      gsr__rfetch_cancel(b->rf);
      gsr__completion_wait(&b->rf->completion);
    } else {
      (void)gsr__rfetch_wait(b->rf);
    }
  }
  note(s, p, b); /* a block read at once is not seen by a fill */
  uint64_t got = arrived(b);
  if (got > b->used) /* received and never read: waste */
    atomic_fetch_add(&s->r->stats->prefetched_unused, got - b->used);
  gsr__rfetch_free(b->rf);
  gsr__buf_unref(b->buf);
  gsr__free(b);
}

static void drop(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                 struct gsr__pf_block *b) {
  assert(p->held >= b->len);
  p->held -= b->len;
  release(s, p, b);
}

static void drop_oldest_behind(const struct gsr__sctx *s,
                               struct gsr__prefetcher *p) {
  struct gsr__pf_block *b = p->behind;
  assert(b != NULL && p->behind_bytes >= b->len);
  p->behind = b->next;
  if (p->behind == NULL) p->behind_tail = NULL;
  p->behind_bytes -= b->len;
  release(s, p, b);
}

/* Keeps block b, which the reader passed, for reads that arrive out of
 * order (sctx.reorder): one whose fetch has not failed, and only the
 * blocks that cover the last reorder bytes, the oldest let go first.
 * Returns 1 if kept. */
static int keep_behind(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       struct gsr__pf_block *b) {
  if (s->reorder == 0 || b->rf == NULL) return 0;
  if (!b->waited && gsr__rfetch_done(b->rf)) {
    if (gsr__rfetch_wait(b->rf) != GSR_OK) return 0;
    b->waited = 1;
  }
  /* One still arriving (a read skipped it: the kernel sent the read for
   * it later) is kept too: a read behind waits for its bytes. */
  if (!b->waited && b->rf->reqs == NULL) return 0; /* no progress to see */
  note(s, p, b);
  assert(p->held >= b->len);
  p->held -= b->len;
  b->next = NULL;
  /* In order of offset: a new run (a hard seek) let go of the last
   * run's, and within a run blocks are passed front to back. */
  assert(p->behind_tail == NULL ||
         p->behind_tail->off + p->behind_tail->len <= b->off);
  if (p->behind_tail != NULL)
    p->behind_tail->next = b;
  else
    p->behind = b;
  p->behind_tail = b;
  p->behind_bytes += b->len;
  /* The blocks that cover the last reorder bytes before the position
   * (blocks are larger at width: one may cover them all), no more: less
   * than reorder + one block. */
  while (p->behind != b && p->behind_bytes - p->behind->len >= s->reorder)
    drop_oldest_behind(s, p);
  return 1;
}

void gsr__producer_pop(const struct gsr__sctx *s, struct gsr__prefetcher *p) {
  struct gsr__pf_block *b = p->head;
  if (b == NULL) return;
  p->head = b->next;
  if (p->head == NULL) p->tail = NULL;
  if (!keep_behind(s, p, b)) drop(s, p, b);
}

void gsr__producer_restart_at(const struct gsr__sctx *s,
                              struct gsr__prefetcher *p, uint64_t off) {
  assert(p->head != NULL && off >= p->head->off && off < p->sched_end);
  gsr__producer_drop_all(s, p);
  p->sched_end = off;
}

void gsr__producer_drop_all(const struct gsr__sctx *s,
                            struct gsr__prefetcher *p) {
  /* Cancel every fetch first, so they all stop at once. */
  for (struct gsr__pf_block *b = p->head; b != NULL; b = b->next)
    if (!b->waited && b->rf != NULL) gsr__rfetch_cancel(b->rf);
  while (p->head != NULL) {
    struct gsr__pf_block *b = p->head;
    p->head = b->next;
    drop(s, p, b);
  }
  p->tail = NULL;
  assert(p->held == 0);
  while (p->behind != NULL) drop_oldest_behind(s, p);
  assert(p->behind_bytes == 0);
}
