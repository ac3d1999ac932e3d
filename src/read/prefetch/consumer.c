/* The consumer: hands bytes from prefetched blocks to the reader, copied
 * once into its buffer or as slices (references, no copy), waiting only
 * for the block that holds the next byte. Every block it finishes makes
 * room for the producer to schedule the next one at once.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "fetch/rfetch.h"
#include "read/prefetch/prefetch.h"
#include "read/reader.h"

/* While the reader waits, look every few ms whether a block came within
 * its lead of its end or finished, so that the next request goes out at
 * once instead of when the front block is in. */
#define REFILL_POLL_MS 3

/* Waits until bytes [0, end) of block b (the front block, or one kept
 * behind that a read behind needs) have arrived; the rest may still be
 * streaming in. Counts a stall if the reader had to wait. */
static int wait_block(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                      struct gsr__pf_block *b, uint64_t end) {
  if (b->waited || b->rf->waited) return b->rf->status;
  assert(b->rf->n_parts == 1); /* a block is one request */
  struct gsr__request *req = &b->rf->reqs[0];
  if (atomic_load(&req->progress) >= end) return GSR_OK;
  uint64_t t0 = gsr__now_ns(), got;
  atomic_fetch_add(&s->r->stats->stalls, 1);
  while ((got = gsr__request_wait_bytes_for(req, end, REFILL_POLL_MS)) < end &&
         !gsr__rfetch_done(b->rf)) {
    int status = gsr__producer_fill(s, p, 0);
    if (status != GSR_OK) return status;
  }
  atomic_fetch_add(&s->r->stats->stall_ns, gsr__now_ns() - t0);
  if (got >= end) return GSR_OK;
  int status = gsr__rfetch_wait(b->rf); /* it ended early: why? */
  if (status == GSR_OK) b->waited = 1;
  return status;
}

/* The CRC32C of a block whose bytes have all arrived: computed by the I/O
 * thread as they came in (published before the progress that got us here). */
static uint32_t block_crc(const struct gsr__pf_block *b) {
  return b->rf->reqs != NULL ? gsr__request_crc(&b->rf->reqs[0]) : b->rf->crc;
}

int gsr__consumer_take(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                       uint64_t off, uint64_t len, struct gsr__out *out) {
  uint64_t cur = off, end = off + len;
  while (cur < end) {
    struct gsr__pf_block *b = p->head;
    if (b != NULL && cur >= b->off + b->len) { /* used up: make room */
      gsr__producer_pop(s, p);
      int status = gsr__producer_fill(s, p, end);
      if (status != GSR_OK) return status;
      continue;
    }
    if (b == NULL || b->off > cur) {
      int status = gsr__producer_fill(s, p, end);
      if (status != GSR_OK) return status;
      if (p->head == NULL || p->head->off > cur)
        return gsr__err(GSR_EIO, "prefetch: no block covers offset %llu",
                        (unsigned long long)cur);
      continue;
    }
    assert(cur >= b->off && cur < b->off + b->len); /* b holds cur */
    uint64_t at = cur - b->off;
    uint64_t n = GSR__MIN(end - cur, b->len - at);
    int status = wait_block(s, p, b, at + n);
    const struct gsr__request *q = b->rf->reqs;
    if (status != GSR_OK && q != NULL &&
        gsr__refetch_failed(b->ahead, q->attempts)) {
      /* Speculative work failed: fetched again, for this read. */
      GSR__TRACE(s->client,
                 "engine %s: block %llu+%llu ahead failed (%s): "
                 "fetched again from %llu for the read",
                 s->r->display, (unsigned long long)b->off,
                 (unsigned long long)b->len, gsr_errmsg(),
                 (unsigned long long)cur);
      gsr__producer_restart_at(s, p, cur);
      continue;
    }
    if (status != GSR_OK) {
      p->failed = 1;
      return status;
    }
    uint64_t got = at == 0 && n == b->len
                       ? gsr__out_put_crc(s->r->stats, out, b->buf, 0, n,
                                          block_crc(b))
                       : gsr__out_put(s->r->stats, out, b->buf, (size_t)at, n);
    if (got == 0) break; /* the caller's slice array is full */
    assert(got == n);    /* all of it, or none */
    cur += got;
    if (at + got > b->used) b->used = at + got;
  }
  /* A block read to its end makes room for the next one at once. */
  if (p->head != NULL && p->head->used == p->head->len) {
    gsr__producer_pop(s, p);
    return gsr__producer_fill(s, p, 0);
  }
  return GSR_OK;
}

int gsr__consumer_take_behind(const struct gsr__sctx *s,
                              struct gsr__prefetcher *p, uint64_t off,
                              uint64_t len, struct gsr__out *out) {
  uint64_t cur = off, end = off + len;
  /* All of it or nothing: a read half from the blocks would still wait a
   * first byte for the rest. The blocks are in order, maybe with holes. */
  for (const struct gsr__pf_block *b = p->behind; b != NULL && cur < end;
       b = b->next) {
    if (b->off > cur) return 0;
    if (b->off + b->len > cur) cur = b->off + b->len;
  }
  if (cur < end) return 0;
  /* Their bytes in (a block kept while its fetch ran: a read skipped it);
   * one that failed leaves the read to the server. */
  cur = off;
  for (struct gsr__pf_block *b = p->behind; b != NULL && cur < end;
       b = b->next) {
    if (b->off + b->len <= cur) continue;
    assert(b->waited || b->rf->reqs != NULL); /* keep_behind's rule */
    if (wait_block(s, p, b, GSR__MIN(end, b->off + b->len) - b->off) != GSR_OK)
      return 0;
    cur = b->off + b->len;
  }
  cur = off;
  for (struct gsr__pf_block *b = p->behind; b != NULL && cur < end;
       b = b->next) {
    if (b->off + b->len <= cur) continue;
    assert(cur >= b->off); /* covers cur, its bytes in */
    uint64_t at = cur - b->off, n = GSR__MIN(end - cur, b->len - at);
    uint64_t got = gsr__out_put(s->r->stats, out, b->buf, (size_t)at, n);
    if (got == 0) break; /* the caller's slice array is full */
    assert(got == n);
    if (at + got > b->used) b->used = at + got;
    cur += got;
  }
  return 1;
}

void gsr__consumer_skip(const struct gsr__sctx *s, struct gsr__prefetcher *p,
                        uint64_t off) {
  while (p->head != NULL && p->head->off + p->head->len <= off)
    gsr__producer_pop(s, p);
  struct gsr__pf_block *b = p->head;
  if (b != NULL && off > b->off + b->used) {
    atomic_fetch_add(&s->r->stats->prefetched_unused, off - b->off - b->used);
    b->used = off - b->off;
  }
}
