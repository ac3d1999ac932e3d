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

/* A block counts as in flight while its bytes are still arriving. */
static int block_arriving(const struct gsr__pf_block *b) {
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

/* Schedules one block of len bytes at sched_end. */
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
  struct gsr__iov one = {buf->data, (size_t)len};
  int status = gsr__rfetch_start(f, p->sched_end, len, &one, 1, 1, len, buf,
                                 &b->rf);
  if (status != GSR_OK) {
    gsr__buf_unref(buf);
    gsr__free(b);
    return status;
  }
  b->buf = buf; /* the block's reference; the fetch holds its own */
  b->off = p->sched_end;
  b->len = len;
  b->demand = demand;
  if (p->tail) p->tail->next = b;
  else p->head = b;
  p->tail = b;
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

int gsr__producer_fill(struct gsr__file *f, struct gsr__prefetcher *p,
                       uint64_t must) {
  uint64_t size = f->obj->st.size;
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
  p->window = w.window;
  p->block = w.block;
  atomic_store(&f->stats.window, w.window);
  if (p->head == NULL && p->sched_end < p->pos) p->sched_end = p->pos;
  uint64_t target = GSR__MIN(GSR__MAX(must, p->pos + w.window), size);
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
  else if (!b->waited)
    gsr__rfetch_wait(b->rf); /* all bytes are in: let curl finish cleanly
                              * and keep its connection alive */
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
    if (!b->waited) gsr__rfetch_cancel(b->rf);
  while (p->head != NULL) gsr__producer_pop(f, p);
}
