/* The engine's orchestrator (a source reader): classifies each read as
 * sequential, a soft seek (forward or backward inside what is scheduled:
 * keep it) or a hard seek (anywhere else: cancel everything in flight at
 * once and start a new run), and recovers from a failed block by
 * restarting at the next read.
 *
 * Whether a read is fetched exactly or from the window is the policy's
 * plan (policy.c): the first reads of a run are fetched exactly, straight
 * into the caller's buffer, so a random reader, whose every read starts a
 * run, never gets prefetch or over-fetch. A file opened "sequential"
 * skips both the wait and the ramp: its reader promised to go front to
 * back.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>

#include "fetch/rfetch.h"
#include "read/prefetch/prefetch.h"
#include "read/reader.h"

static void restart(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                    uint64_t off) {
  if (p->head != NULL)
    GSR__TRACE(s->client, "prefetch %s: cancel %llu scheduled bytes from %llu",
               s->r->display, (unsigned long long)(p->sched_end - p->head->off),
               (unsigned long long)p->head->off);
  gsr__producer_drop_all(s, p);
  gsr__tracker_clear(&p->tracker);
  p->run_reads = 0;
  p->run_bytes = 0;
  p->pos = off;
  p->sched_end = off;
  p->failed = 0;
}

static void classify(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                     uint64_t off) {
  const char *kind;
  if (p->failed) {
    kind = "restart after error";
    restart(s, p, off);
  } else if (off == p->pos) {
    kind = "sequential";
  } else if (p->head != NULL && off >= p->head->off && off < p->sched_end) {
    kind = off > p->pos ? "soft seek forward" : "soft seek back";
    if (off > p->pos) gsr__consumer_skip(s, p, off);
    p->pos = off;
  } else {
    kind = "hard seek";
    restart(s, p, off);
  }
  GSR__TRACE(s->client,
             "prefetch %s: read at %llu: %s (run %d reads, %llu "
             "bytes)",
             s->r->display, (unsigned long long)off, kind, p->run_reads,
             (unsigned long long)p->run_bytes);
}

/* The end of what may be fetched ahead for a read of [off, off+len): the
 * object's, or the reader's promise (gsr_set_read_end). A read past the
 * promise breaks it, and it is forgotten. */
uint64_t gsr__prefetch_limit(const struct gsr__sctx *s, uint64_t off,
                             uint64_t len) {
  uint64_t size = s->r->size, promised = atomic_load(s->read_end);
  if (promised < off + len) {
    uint64_t seen = promised;
    atomic_compare_exchange_strong(s->read_end, &seen, UINT64_MAX);
    promised = UINT64_MAX;
  }
  return GSR__MIN(size, promised);
}

/* After a read at off that delivered got bytes (status: how it ended):
 * the run moves on, and the window is topped up once the run is long
 * enough (the next read's plan may call for one). */
static int advance(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                   uint64_t off, uint64_t got, int status) {
  p->pos = off + got;
  p->run_bytes += got;
  int promised = s->prefetch == GSR__PREFETCH_SEQUENTIAL;
  if (status == GSR_OK && gsr__plan_reads_ahead(promised, p->run_reads + 1))
    status = gsr__producer_fill(s, p, 0);
  return status;
}

/* A read the plan fetches exactly, with nothing scheduled: it needs none
 * of the engine's state while its bytes travel. So the reader lock (which
 * guards the engine's state only: a cache above has its own) is let go
 * during the fetch: other threads' reads of the same file (a random
 * reader's every read comes here) run at once instead of waiting a
 * first-byte time each. The run advances by the bytes delivered only if no
 * other read moved it meanwhile; if one did, this reader's next read is
 * classified against that one's position, as a seek. */
static int exact_read(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                      uint64_t off, uint64_t len, struct gsr__out *out) {
  uint64_t before = out->done;
  assert(p->head == NULL);
  pthread_mutex_unlock(s->reader_mu);
  int status = gsr__direct_reader.read(s, NULL, off, len, out);
  pthread_mutex_lock(s->reader_mu);
  if (p->pos != off) return status; /* another read moved the run */
  return advance(s, p, off, out->done - before, status);
}

/* A read too large for the engine (gsr__plan_read_direct): the bytes the
 * blocks already cover are taken from them, nothing more is scheduled
 * for it, and the rest goes straight into the caller's buffer. */
static int read_past_engine(const struct gsr__sctx *s,
                            struct gsr__prefetcher *p, uint64_t off,
                            uint64_t len, struct gsr__out *out) {
  uint64_t have = 0, before = out->done;
  if (p->head != NULL && p->sched_end > off)
    have = GSR__MIN(p->sched_end - off, len);
  if (have > 0) {
    uint64_t limit = p->limit;
    p->limit = off + have; /* the blocks' end: no block past it for now */
    int status = gsr__consumer_take(s, p, off, have, out);
    p->limit = limit;
    if (status != GSR_OK || out->done - before < have || have == len)
      return status; /* failed, the caller's slices are full, or done */
  }
  assert(p->head == NULL); /* every block was within the read, used up */
  GSR__TRACE(s->client,
             "prefetch %s: read %llu+%llu too large for the engine: %llu "
             "bytes from its blocks, the rest direct",
             s->r->display, (unsigned long long)off, (unsigned long long)len,
             (unsigned long long)have);
  return gsr__direct_reader.read(s, NULL, off + have, len - have, out);
}

/* A read that arrived out of order (sctx.reorder): wholly before the
 * run's position, at most reorder bytes before it. It leaves the run as it
 * is (a seek back would cancel the window the reads around it still
 * use): its bytes come from the blocks ahead if it lies in the first,
 * else from the blocks kept behind, else are fetched exactly, as a
 * random read's (without the reader lock). */
static int is_behind(const struct gsr__sctx *s, const struct gsr__prefetcher *p,
                     uint64_t off, uint64_t len) {
  return s->reorder > 0 && !p->failed && off + len <= p->pos &&
         p->pos - off <= s->reorder;
}

static int read_behind(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       uint64_t off, uint64_t len, struct gsr__out *out) {
  const char *from = "the blocks ahead";
  uint64_t behind = p->pos - off; /* before the lock may be let go */
  /* [off, split) lies before the first block ahead, [split, end) in it. */
  uint64_t end = off + len, split = end;
  if (p->head != NULL) split = GSR__MAX(off, GSR__MIN(p->head->off, end));
  int status = GSR_OK;
  if (split == off) {
    status = gsr__consumer_take(s, p, off, len, out);
  } else if (gsr__consumer_take_behind(s, p, off, split - off, out)) {
    from = "the blocks kept behind";
    if (split < end) status = gsr__consumer_take(s, p, split, end - split, out);
  } else {
    from = "the server";
    pthread_mutex_unlock(s->reader_mu); /* as exact_read */
    status = gsr__direct_reader.read(s, NULL, off, len, out);
    pthread_mutex_lock(s->reader_mu);
  }
  GSR__TRACE(s->client, "prefetch %s: read at %llu+%llu: %llu behind, from %s",
             s->r->display, (unsigned long long)off, (unsigned long long)len,
             (unsigned long long)behind, from);
  return status;
}

static int pf_read(const struct gsr__sctx *s, void *state, uint64_t off,
                   uint64_t len, struct gsr__out *out) {
  struct gsr__prefetcher *p = state;
  uint64_t before = out->done;
  int status;
  if (is_behind(s, p, off, len)) return read_behind(s, p, off, len, out);
  uint64_t limit = gsr__prefetch_limit(s, off, len);
  if (limit != p->limit) {
    /* A new end: the blocks were cut for the old one, so start over
     * (rare: a promise made, changed or broken). */
    restart(s, p, off);
    p->limit = limit;
  }
  classify(s, p, off);
  int direct = out->land ||
               gsr__plan_read_direct(len, s->max_window,
                                     atomic_load(&s->client->budget->limit));
  if (!direct) gsr__tracker_add(&p->tracker, len); /* it sizes the window */
  p->run_reads++;
  /* The policy's plan for this read: none reads exactly what was asked,
   * straight into the caller's buffer (a random reader never gets
   * prefetch or over-fetch). */
  int promised = s->prefetch == GSR__PREFETCH_SEQUENTIAL;
  if (direct) {
    status = read_past_engine(s, p, off, len, out);
    return advance(s, p, off, out->done - before, status);
  }
  if (!gsr__plan_reads_ahead(promised, p->run_reads) && p->head == NULL)
    return exact_read(s, p, off, len, out);
  status = gsr__producer_fill(s, p, off + len);
  if (status == GSR_OK) status = gsr__consumer_take(s, p, off, len, out);
  return advance(s, p, off, out->done - before, status);
}

static int pf_create(const struct gsr__sctx *s, void **state) {
  struct gsr__prefetcher *p = gsr__calloc(1, sizeof(*p));
  if (p == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  /* An automatic width begins at the first full plan (producer.c). */
  p->width = s->r->concurrency;
  *state = p;
  return GSR_OK;
}

static void pf_destroy(const struct gsr__sctx *s, void *state) {
  struct gsr__prefetcher *p = state;
  gsr__producer_drop_all(s, p);
  gsr__free(p);
}

const struct gsr__reader_ops gsr__prefetch_reader = {
    .name = "prefetch",
    .create = pf_create,
    .read = pf_read,
    /* No cancel op: close cancels every fetch the file tracks, blocks
     * included. */
    .destroy = pf_destroy,
    .stateful = 1,
};
