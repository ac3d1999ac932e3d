/* The producer: how big the window ahead of the reader should be, and
 * scheduling blocks (one request each) to keep it full.
 *
 * The window grows with the bytes read sequentially in the current run
 * (4 x, as Linux ramps its readahead), not per block as gcsfs does, so a
 * 64 KiB reader reaches a full window after about 16 MiB instead of
 * hundreds of MiB; and it never exceeds the file's cap. The window is cut
 * into N blocks so that N requests run at once on N connections; a new
 * block is scheduled the moment the reader finishes the front one.
 *
 * SPDX-License-Identifier: MIT
 */
#include "core/file.h"
#include "fetch/rfetch.h"
#include "prefetch/prefetch.h"

#define MIN_BLOCK (256u * 1024)
/* The probe (see enum gsr__pf_plan): the stream's rate counts once
 * GSR__PROBE_STREAM_BLOCKS of its blocks landed beyond its first window
 * (which lands at once, whatever the reader does: the blocks after it
 * show whether the stream waits for the reader), the first one's
 * first-byte wait left out;
 * blocks are kept if what N of them would sustain, first-byte waits
 * included (probe_note), beats it by PROBE_GAIN. On a capped link they
 * win by about N x; where one connection is not the bound they lose or
 * tie, and the margin keeps a noisy tie on the side of fewer requests,
 * after one more round when the blocks' aggregate was a tie: a moment of
 * load during ~16 MiB of blocks once made 4 capped connections look like
 * 1.3 (gsr__probe_verdict). */
#define PROBE_GAIN 1.25

int gsr__probe_verdict(const struct gsr__probe_in *in, double *predicted) {
  double n = in->n > 0 ? in->n : 1;
  double rate = in->aggregate > 0
                    ? n * in->block / (in->ttfb + in->block * n / in->aggregate)
                    : 0;
  *predicted = rate;
  if (rate >= PROBE_GAIN * in->stream_rate) return GSR__PROBE_BLOCKS;
  double gain = in->stream_rate > 0 ? in->aggregate / in->stream_rate : 0;
  if (in->round == 0 && in->n > 1 && gain > 1.0 && gain < 2.0)
    return GSR__PROBE_AGAIN;
  return GSR__PROBE_STREAM;
}

void gsr__window_policy(const struct gsr__window_in *in,
                        struct gsr__window_out *out) {
  uint64_t io = in->avg_io ? in->avg_io : 1;
  uint64_t cap = GSR__MAX(in->max_prefetch, 2 * io);
  uint64_t w = in->promised ? cap : GSR__MAX(4 * in->run_bytes, 2 * io);
  if (w > cap) w = cap;
  int n = in->concurrency > 0 ? in->concurrency : 1;
  uint64_t block = (w + (uint64_t)n - 1) / (uint64_t)n;
  if (block < MIN_BLOCK) block = MIN_BLOCK;
  if (block > w) block = w;
  out->window = w;
  out->block = block;
}

/* A block counts as in flight while its bytes are still arriving (a
 * stream's blocks share one request: they do not count). */
static int block_arriving(const struct gsr__pf_block *b) {
  if (b->stream != NULL) return 0;
  if (b->waited || b->rf->waited || b->rf->reqs == NULL) return 0;
  if (atomic_load(&b->rf->reqs[0].progress) >= b->len) return 0;
  return !gsr__rfetch_done(b->rf);
}

static int in_flight(const struct gsr__prefetcher *p) {
  int n = 0;
  for (const struct gsr__pf_block *b = p->head; b != NULL; b = b->next)
    n += block_arriving(b);
  return n;
}

static void peak_update(atomic_uint_fast64_t *peak, uint64_t v) {
  uint_fast64_t cur = atomic_load(peak);
  while (v > cur && !atomic_compare_exchange_weak(peak, &cur, v)) {
  }
}

/* Schedules one block of len bytes at sched_end: its own request, or the
 * next piece of the stream. */
static int schedule(struct gsr__file *f, struct gsr__prefetcher *p,
                    uint64_t len, int demand) {
  struct gsr__budget *budget = f->client->budget;
  if (demand) gsr__budget_charge(budget, len);
  else if (!gsr__budget_try(budget, len)) return 1; /* budget spent: wait */
  struct gsr__pf_block *b = gsr__calloc(1, sizeof(*b));
  struct gsr__buf *buf = gsr__buf_new((size_t)len, budget);
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
  b->demand = demand;
  if (p->stream == NULL) {
    struct gsr__iov one = {buf->data, (size_t)len};
    int status = gsr__rfetch_start(f, p->sched_end, len, &one, 1, 1, len, buf,
                                   &b->rf);
    if (status != GSR_OK) {
      gsr__buf_unref(buf);
      gsr__free(b);
      return status;
    }
  }
  if (p->tail) p->tail->next = b;
  else p->head = b;
  p->tail = b;
  if (p->stream != NULL) gsr__stream_post(p->stream, b);
  GSR__TRACE(f->client, "prefetch %s: schedule %llu+%llu%s (window %llu, "
             "block %llu, held %llu)", f->obj->display,
             (unsigned long long)p->sched_end, (unsigned long long)len,
             demand ? " for the read" : " ahead", (unsigned long long)p->window,
             (unsigned long long)p->block, (unsigned long long)p->held + len);
  p->sched_end += len;
  p->held += len;
  peak_update(&f->stats.peak_buffered, p->held);
  return GSR_OK;
}

/* The plan for this file now: a reader that did not promise to be
 * sequential, or a local file, gets blocks; one connection, the stream. */
static int plan(const struct gsr__file *f, const struct gsr__prefetcher *p) {
  if (f->prefetch != GSR__PREFETCH_SEQUENTIAL || f->obj->ops->pread != NULL)
    return GSR__PLAN_BLOCKS;
  return f->concurrency == 1 ? GSR__PLAN_STREAM : p->plan;
}

/* The stream's half of the probe: once its rate is known, retire it (its
 * posted blocks are still read; it is freed with the last) and try N
 * blocks from where it stopped. A stream that had to wait for the reader,
 * or that kept the I/O thread busy, already does all a connection can be
 * asked: keep it (not remembered: the next file's reader, or the other
 * files sharing the thread, may differ). */
static void probe_stream(struct gsr__file *f, struct gsr__prefetcher *p) {
  double rate = 0, busy = 0;
  uint64_t window, block;
  gsr__stream_policy(f->max_prefetch, &window, &block);
  int blocks = (int)(window / block) + GSR__PROBE_STREAM_BLOCKS;
  int ready = p->stream ? gsr__stream_rate(p->stream, blocks, &rate, &busy) : 0;
  if (ready < 0) {
    p->plan = GSR__PLAN_STREAM;
    GSR__TRACE(f->client, "prefetch %s: plan: one stream (it waited for "
               "the reader)", f->obj->display);
  } else if (ready > 0 && busy >= GSR__PROBE_BUSY) {
    p->plan = GSR__PLAN_STREAM;
    GSR__TRACE(f->client, "prefetch %s: plan: one stream (%.0f MB/s kept "
               "the I/O thread busy %.1f%% of the time: more connections "
               "cannot go faster)", f->obj->display, rate / 1e6, busy * 100);
  } else if (ready > 0) {
    p->stream_rate = rate;
    p->plan = GSR__PLAN_PROBE_BLOCKS;
    p->old_stream = p->stream;
    p->stream = NULL;
    gsr__stream_retire(p->old_stream);
    p->probe_from = p->sched_end;
    GSR__TRACE(f->client, "prefetch %s: probe: one stream sustains %.0f "
               "MB/s (the I/O thread busy %.1f%%); trying %d blocks from %llu",
               f->obj->display, rate / 1e6, busy * 100, f->concurrency,
               (unsigned long long)p->sched_end);
  }
}

/* The blocks' half: notes probe block b once it is in; once N are,
 * predicts what blocks mode would sustain and compares. The probe's blocks
 * are small (the stream's, from the same pool), so their first-byte waits
 * are measured apart from their transfer and charged to blocks of the
 * size blocks mode would use: N x block / (first-byte wait + block /
 * per-connection rate), the per-connection rate being the N blocks'
 * aggregate (from the first first byte to the last byte) over N. Blocks
 * are noted when the fill sees them done or when they are dropped. */
static void probe_note(struct gsr__file *f, struct gsr__prefetcher *p,
                       struct gsr__pf_block *b) {
  if (p->plan != GSR__PLAN_PROBE_BLOCKS || b->rf == NULL || b->probed ||
      b->off < p->probe_from || !gsr__rfetch_done(b->rf) ||
      b->rf->reqs == NULL || b->rf->reqs[0].err.status != GSR_OK)
    return;
  const struct gsr__request *req = &b->rf->reqs[0];
  b->probed = 1;
  if (p->probe_n == 0 || req->first_byte_ns < p->probe_t0)
    p->probe_t0 = req->first_byte_ns;
  p->probe_t1 = GSR__MAX(p->probe_t1, req->done_ns);
  p->probe_ttfb += req->first_byte_ns - b->submit_ns;
  p->probe_bytes += b->len;
  if (++p->probe_n < f->concurrency || p->probe_t1 <= p->probe_t0) return;
  struct gsr__window_in in = {
      .promised = 1,
      .avg_io = gsr__tracker_average(&p->tracker, 1024 * 1024),
      .max_prefetch = f->max_prefetch,
      .concurrency = f->concurrency,
  };
  struct gsr__window_out w;
  gsr__window_policy(&in, &w);
  struct gsr__probe_in pin = {
      .n = f->concurrency,
      .block = (double)w.block,
      .ttfb = (double)p->probe_ttfb / f->concurrency / 1e9,
      .aggregate = (double)p->probe_bytes * 1e9 /
                   (double)(p->probe_t1 - p->probe_t0),
      .stream_rate = p->stream_rate,
      .round = p->probe_round,
  };
  double rate;
  int verdict = gsr__probe_verdict(&pin, &rate);
  if (verdict == GSR__PROBE_AGAIN) {
    GSR__TRACE(f->client, "prefetch %s: probe: %d blocks all together "
               "%.0f MB/s, one stream %.0f MB/s: a tie; %d more blocks "
               "from %llu", f->obj->display, f->concurrency, pin.aggregate / 1e6,
               p->stream_rate / 1e6, f->concurrency,
               (unsigned long long)p->sched_end);
    p->probe_round = 1;
    p->probe_n = 0;
    p->probe_bytes = p->probe_t0 = p->probe_t1 = p->probe_ttfb = 0;
    p->probe_from = p->sched_end;
    return;
  }
  p->plan = verdict == GSR__PROBE_BLOCKS ? GSR__PLAN_BLOCKS : GSR__PLAN_STREAM;
  /* A property of the link, unlike a reader that outran the stream: the
   * client's later files of this server start with it. */
  gsr__plans_put(f->client->plans, f->obj->media_url, p->plan);
  GSR__TRACE(f->client, "prefetch %s: plan: %s (%d blocks of %llu would "
             "sustain %.0f MB/s: %.0f MB/s all together, first byte after "
             "%.1f ms; one stream: %.0f MB/s)", f->obj->display,
             p->plan == GSR__PLAN_BLOCKS ? "blocks" : "one stream",
             f->concurrency, (unsigned long long)w.block, rate / 1e6,
             pin.aggregate / 1e6, pin.ttfb * 1e3, p->stream_rate / 1e6);
}

/* The stream's fill: post blocks until the window ahead of the reader is
 * full. Blocks before `must` are posted whatever the window and the budget
 * say (a waiting reader passes the end of the chunk the transfer holds
 * while paused: it may straddle the block the reader waits on and the
 * ones after it). */
static int stream_fill(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t must) {
  uint64_t size = p->limit, window, block; /* the reader's end */
  gsr__stream_policy(f->max_prefetch, &window, &block);
  p->window = window;
  p->block = block;
  atomic_store(&f->stats.window, window);
  if (p->head == NULL && p->sched_end < p->pos) p->sched_end = p->pos;
  /* The window is ahead of the read in progress, not of its start: a
   * reader of 16 MiB at a time would otherwise stop the stream at the end
   * of each read and wait for it to start again. */
  uint64_t target = GSR__MIN(GSR__MAX(must, p->pos) + window, size);
  /* Started before there is room for its first block (after the probe):
   * its first-byte wait passes while the reader finishes the others. */
  if (p->stream == NULL && p->sched_end < size) {
    int status = gsr__stream_start(f, p->sched_end, size - p->sched_end,
                                   &p->stream);
    if (status != GSR_OK) return status;
  }
  while (p->sched_end < target) {
    uint64_t len = GSR__MIN(block, size - p->sched_end);
    int demand = p->sched_end < must || p->head == NULL;
    if (!demand && p->held + len > window) break;
    int status = schedule(f, p, len, demand);
    if (status == 1) break;
    if (status != GSR_OK) return status;
  }
  return GSR_OK;
}

int gsr__producer_fill(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t must) {
  /* gsr_sendfile measured one stream already (sendfile.c): on to its
   * blocks' half, from here. */
  double measured = atomic_load(&f->stream_rate);
  if (plan(f, p) == GSR__PLAN_PROBE_STREAM && measured > 0 &&
      p->stream == NULL && p->head == NULL) {
    p->plan = GSR__PLAN_PROBE_BLOCKS;
    p->stream_rate = measured;
    p->probe_from = GSR__MAX(p->sched_end, p->pos);
    GSR__TRACE(f->client, "prefetch %s: probe: one stream sustained %.0f "
               "MB/s (measured by sendfile); trying %d blocks from %llu",
               f->obj->display, measured / 1e6, f->concurrency,
               (unsigned long long)p->probe_from);
  }
  if (plan(f, p) == GSR__PLAN_PROBE_STREAM) probe_stream(f, p);
  for (struct gsr__pf_block *b = p->head;
       b != NULL && plan(f, p) == GSR__PLAN_PROBE_BLOCKS; b = b->next)
    probe_note(f, p, b);
  int now = plan(f, p);
  atomic_store(&f->stats.plan, now == GSR__PLAN_STREAM   ? GSR__FETCH_STREAM
                               : now == GSR__PLAN_BLOCKS ? GSR__FETCH_BLOCKS
                                                         : GSR__FETCH_PROBE);
  /* gsr_sendfile handed this file over and the probe kept one stream:
   * sendfile takes it back from the probe's last block (sendfile.c), so
   * nothing is fetched ahead that it would not read. */
  if (now == GSR__PLAN_STREAM && measured > 0 && must <= p->sched_end)
    return GSR_OK;
  if (now == GSR__PLAN_PROBE_STREAM || now == GSR__PLAN_STREAM)
    return stream_fill(f, p, must);
  uint64_t size = p->limit; /* the reader's end */
  struct gsr__window_in in = {
      .run_bytes = p->run_bytes,
      .promised = f->prefetch == GSR__PREFETCH_SEQUENTIAL,
      .avg_io = gsr__tracker_average(&p->tracker, 1024 * 1024),
      .max_prefetch = f->max_prefetch,
      .concurrency = f->concurrency,
      .min_part = f->min_part,
  };
  struct gsr__window_out w;
  gsr__window_policy(&in, &w);
  if (now == GSR__PLAN_PROBE_BLOCKS) {
    /* N blocks of the stream's size (the same buffers, from the pool),
     * all in flight at once: beside what the retired stream still holds. */
    uint64_t stream_window, streamed = 0;
    gsr__stream_policy(f->max_prefetch, &stream_window, &w.block);
    for (const struct gsr__pf_block *b = p->head; b != NULL; b = b->next)
      if (b->stream != NULL) streamed += b->len;
    w.window = streamed + w.block * (uint64_t)f->concurrency *
                              (uint64_t)(p->probe_round + 1);
  }
  p->window = w.window;
  p->block = w.block;
  atomic_store(&f->stats.window, w.window);
  if (p->head == NULL && p->sched_end < p->pos) p->sched_end = p->pos;
  /* The probe is N blocks, all at once, wherever the reader is (the
   * stream's window ran ahead of the read in progress, not of its start):
   * no more until they are measured. */
  uint64_t ahead = now == GSR__PLAN_PROBE_BLOCKS
                       ? p->probe_from + w.block * (uint64_t)f->concurrency
                       : p->pos + w.window;
  uint64_t target = GSR__MIN(GSR__MAX(must, ahead), size);
  int busy = in_flight(p);
  while (p->sched_end < target && busy < f->concurrency) {
    int demand = p->sched_end < must;
    /* Bytes a read is waiting for are fetched whatever the budget says,
     * but only those: the budget overshoot is at most the reads' sizes. */
    uint64_t len = GSR__MIN(w.block, (demand ? must : size) - p->sched_end);
    /* The cap: everything held (the front block included) fits the
     * window, so a file's prefetch memory never exceeds max_prefetch. */
    if (!demand && p->held + len > w.window) break;
    int status = schedule(f, p, len, demand);
    if (status == 1) break;
    if (status != GSR_OK) return status;
    busy++;
  }
  return GSR_OK;
}

static void drop(struct gsr__file *f, struct gsr__prefetcher *p,
                 struct gsr__pf_block *b) {
  if (b->used < b->len)
    atomic_fetch_add(&f->stats.prefetched_unused, b->len - b->used);
  else if (!b->waited && b->rf != NULL)
    gsr__rfetch_wait(b->rf); /* all bytes are in: let curl finish cleanly
                              * and keep its connection alive */
  probe_note(f, p, b);
  if (b->stream != NULL) {
    /* The I/O thread may still write into a block skipped before its
     * bytes landed: let the stream pass it (the bytes after it, which the
     * reader skipped to, come after them anyway), unless it stopped. If
     * the transfer waits for room past the blocks posted (a chunk may
     * straddle several small ones), post them (a fill that failed for
     * memory is tried again at the next turn). */
    while (!gsr__stream_wait(b->stream, b->off + b->len, 10) &&
           !gsr__stream_done(b->stream)) {
      uint64_t want = gsr__stream_room_wanted(b->stream);
      if (want > 0 && b->stream == p->stream)
        (void)gsr__producer_fill(f, p, want);
    }
    if (b->stream == p->old_stream &&
        b->off + b->len == gsr__stream_end(p->old_stream)) {
      gsr__stream_free(p->old_stream); /* its last block */
      p->old_stream = NULL;
    }
  }
  gsr__rfetch_free(b->rf);
  gsr__buf_unref(b->buf);
  p->held -= b->len;
  gsr__free(b);
}

void gsr__producer_pop(struct gsr__file *f, struct gsr__prefetcher *p) {
  struct gsr__pf_block *b = p->head;
  if (b == NULL) return;
  p->head = b->next;
  if (p->head == NULL) p->tail = NULL;
  drop(f, p, b);
}

void gsr__producer_drop_all(struct gsr__file *f, struct gsr__prefetcher *p) {
  /* Cancel every fetch first, so they all stop at once. */
  for (struct gsr__pf_block *b = p->head; b != NULL; b = b->next)
    if (!b->waited && b->rf != NULL) gsr__rfetch_cancel(b->rf);
  if (p->stream != NULL) gsr__stream_stop(p->stream);
  if (p->old_stream != NULL) gsr__stream_stop(p->old_stream);
  while (p->head != NULL) gsr__producer_pop(f, p);
  gsr__stream_free(p->stream);
  gsr__stream_free(p->old_stream);
  p->stream = p->old_stream = NULL;
}
