/* The engine's decisions, as pure functions of what was measured.
 *
 * Window: a promised reader gets the whole cap at once; an adaptive
 * reader, once its run is long enough, a window GSR__RAMP x the bytes it
 * read sequentially (Linux ramps its readahead 4 x, then 2 x; here each
 * step costs a first-byte wait, and the reader only reads what landed, so
 * the window about doubles per wait), but never less than width x 2
 * minimum blocks, so that it runs at full width from its first blocks.
 * What a reader that stops early wasted is at most GSR__RAMP x what it
 * read, or those minimum blocks.
 *
 * Blocks and lead: the window, less the read in progress (held until it
 * is done), is cut into 2 x width + 2 blocks, since each
 * of the width connections carrying a block may have the next block's
 * request already waiting for its first byte beside it, while the reader
 * is still on blocks that landed before. The next request
 * goes out when a block has `lead` bytes left, lead being what one
 * connection receives in one first-byte wait (rate x ttfb): its first
 * byte then arrives as the block ends, and no connection idles through a
 * first-byte wait. A block shorter than the lead would have its
 * connection wait more than carry, so at full width blocks are at least
 * the lead, and an automatic width is lowered to what the window holds.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "base/internal.h"
#include "read/prefetch/prefetch.h"

/* Blocks the window is cut into: per connection, the block it carries and
 * the next one's request waiting beside it; and two more, for the blocks
 * that landed while the reader is still on the one before them. */
static uint64_t slots(int width) { return 2 * (uint64_t)width + 2; }

const char *gsr__plan_name(int plan) {
  switch (plan) {
  case GSR__PLAN_RAMP:
    return "ramp";
  case GSR__PLAN_FULL:
    return "full";
  default:
    return "none";
  }
}

int gsr__plan_reads_ahead(int promised, int run_reads) {
  return promised || run_reads >= GSR__RUN_READS_TO_PREFETCH;
}

int gsr__plan_read_direct(uint64_t len, uint64_t max_window, uint64_t budget) {
  return len > GSR__MIN(max_window, budget / 2);
}

int gsr__refetch_failed(int ahead, int attempts) {
  return ahead && attempts <= 1;
}

int gsr__block_takes(int streamed, uint64_t got, uint64_t len, uint64_t lead) {
  assert(got <= len);
  return !streamed && (got == 0 || len - got > lead);
}

void gsr__engine_policy(const struct gsr__engine_in *in,
                        struct gsr__engine_out *out) {
  uint64_t io = in->avg_io ? in->avg_io : 1;
  uint64_t cap = GSR__MAX(in->max_prefetch, 2 * io);
  int width = in->width > 0 ? in->width : 1;
  *out = (struct gsr__engine_out){.plan = GSR__PLAN_NONE, .width = width};
  if (!gsr__plan_reads_ahead(in->promised, in->run_reads)) return;
  uint64_t w = cap;
  if (!in->promised) {
    w = GSR__MAX(GSR__RAMP * in->run_bytes, 2 * io);
    w = GSR__MAX(w, 2 * (uint64_t)width * GSR__MIN_BLOCK);
    w = GSR__MIN(w, cap);
  }
  int full = in->promised || w >= cap;
  double lead_bytes = in->rate * in->ttfb;
  uint64_t lead = lead_bytes > 0 && lead_bytes < (double)UINT64_MAX / 2
                      ? (uint64_t)lead_bytes
                      : 0;
  /* The reader holds the blocks of the read in progress until it is
   * done: the pipeline has the rest of the window. */
  uint64_t avail = w - GSR__MIN(io, w / 2);
  uint64_t block = avail / slots(width);
  if (full && in->auto_width && block < lead) {
    /* Blocks of the lead: the window grows to hold them, within
     * max_window, and the width is what it then holds. */
    uint64_t read = w - avail;
    uint64_t grown = GSR__MIN(slots(width) * lead + read,
                              GSR__MAX(in->max_window, w));
    w = GSR__MAX(w, grown);
    avail = w - read;
    block = lead;
    int fit = 1;
    while (fit < width && slots(fit + 1) * block <= avail) fit++;
    width = fit;
  }
  block = GSR__MIN(block, (uint64_t)GSR__MAX_BLOCK);
  block = block / GSR__BLOCK_ALIGN * GSR__BLOCK_ALIGN;
  if (in->block > 0) { /* the caller's: the window holds its blocks */
    block = in->block;
    w = GSR__MAX(w, slots(width) * block + (w - avail));
  }
  block = GSR__MAX(block, (uint64_t)GSR__MIN_BLOCK);
  block = GSR__MIN(block, w);
  /* The margin covers the reader's few ms between looks at its blocks
   * and first-byte waits that vary. */
  lead = lead > 0 ? lead + lead / 2 : block / 2; /* nothing measured: half */
  out->plan = full ? GSR__PLAN_FULL : GSR__PLAN_RAMP;
  out->window = w;
  out->block = block;
  out->lead = GSR__MIN(lead, block);
  out->width = width;
  /* The window holds a block; the width is at most what was asked. */
  assert(width >= 1 && width <= GSR__MAX(in->width, 1));
  assert(block <= w && out->lead <= block);
}

int gsr__width_next(const struct gsr__width_in *in, int *settled) {
  *settled = 0;
  if (in->prev_width > 0 &&
      in->aggregate < GSR__WIDTH_GAIN * in->prev_aggregate) {
    *settled = 1; /* the step did not pay: take it back */
    return in->prev_width;
  }
  if (in->width + GSR__WIDTH_STEP > in->max) {
    *settled = 1;
    return in->width;
  }
  return in->width + GSR__WIDTH_STEP;
}

int gsr__width_engages(int may_choose, int plan) {
  return may_choose && plan == GSR__PLAN_FULL;
}
