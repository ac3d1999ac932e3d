/* Unit tests of the engine's decisions (src/prefetch/policy.c): the plan,
 * window, block size, lead and width from what was measured, and the
 * automatic width's steps, and which blocks in flight take a connection.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/internal.h"
#include "read/prefetch/prefetch.h"

#define MiB (1024ull * 1024)

/* The GCS profile: 220 MiB/s per connection, 38 ms to the first byte. */
#define GCS_RATE (220.0 * MiB)
#define GCS_TTFB 0.038

/* The block for window w, reads of io and the given width: the window
 * less one read, in 2 x width + 2 whole 64 KiB pieces. */
static uint64_t block_of(uint64_t w, uint64_t io, int width) {
  uint64_t avail = w - (io < w / 2 ? io : w / 2);
  uint64_t b = avail / (2 * (uint64_t)width + 2) / 65536 * 65536;
  return b < GSR__MIN_BLOCK ? GSR__MIN_BLOCK : b;
}

static struct gsr__engine_out policy(struct gsr__engine_in in) {
  struct gsr__engine_out out;
  gsr__engine_policy(&in, &out);
  return out;
}

/* A random reader's first reads are fetched as asked; the third read in a
 * row starts a ramp; a promised reader is at full width from its first. */
static void test_plans(void **state) {
  (void)state;
  struct gsr__engine_in in = {.run_reads = 1,
                              .avg_io = 64 * 1024,
                              .max_prefetch = 96 * MiB,
                              .width = 4};
  assert_int_equal(policy(in).plan, GSR__PLAN_NONE);
  in.run_reads = GSR__RUN_READS_TO_PREFETCH - 1;
  assert_int_equal(policy(in).plan, GSR__PLAN_NONE);
  assert_int_equal(policy(in).window, 0);
  in.run_reads = GSR__RUN_READS_TO_PREFETCH;
  assert_int_equal(policy(in).plan, GSR__PLAN_RAMP);
  /* The same rule, asked alone (the orchestrator's question). */
  assert_false(gsr__plan_reads_ahead(0, GSR__RUN_READS_TO_PREFETCH - 1));
  assert_true(gsr__plan_reads_ahead(0, GSR__RUN_READS_TO_PREFETCH));
  assert_true(gsr__plan_reads_ahead(1, 1));
  in.run_bytes = 1024 * MiB; /* a long run: the ramp reached its cap */
  assert_int_equal(policy(in).plan, GSR__PLAN_FULL);
  struct gsr__engine_in promised = {
      .promised = 1, .run_reads = 1, .max_prefetch = 96 * MiB, .width = 4};
  struct gsr__engine_out o = policy(promised);
  assert_int_equal(o.plan, GSR__PLAN_FULL);
  assert_true(o.window == 96 * MiB);
  assert_string_equal(gsr__plan_name(GSR__PLAN_FULL), "full");
  assert_string_equal(gsr__plan_name(GSR__PLAN_RAMP), "ramp");
  assert_string_equal(gsr__plan_name(GSR__PLAN_NONE), "none");
  assert_string_equal(gsr__plan_name(99), "none");
}

/* The window holds 2 x width + 2 blocks: each connection's block and the
 * next one's request waiting beside it, and two landed ahead of the
 * reader. Large reads raise the cap to 2 reads. */
static void test_full_window(void **state) {
  (void)state;
  struct gsr__engine_in in = {
      .promised = 1, .avg_io = 16 * MiB, .max_prefetch = 96 * MiB, .width = 4};
  struct gsr__engine_out o = policy(in);
  assert_true(o.block == block_of(96 * MiB, 16 * MiB, 4));
  assert_true(o.block == 8 * MiB);
  assert_true(o.lead == o.block / 2); /* nothing measured: half a block */
  assert_int_equal(o.width, 4);
  in.avg_io = 100 * MiB;
  o = policy(in);
  assert_true(o.window == 200 * MiB && o.block == 10 * MiB);
  /* Measured: the lead is what one connection gets in one first-byte
   * wait. */
  in.avg_io = 1 * MiB;
  in.rate = GCS_RATE;
  in.ttfb = GCS_TTFB;
  o = policy(in);
  assert_true(o.lead > 8 * MiB && o.lead == o.block); /* 1.5 x 8.4 MiB */
  assert_true(o.block == block_of(96 * MiB, MiB, 4));
  in.max_prefetch = 200 * MiB;
  o = policy(in);
  assert_true(o.lead > 12 * MiB && o.lead < 13 * MiB);
  in.max_prefetch = 96 * MiB;
  /* A tiny cap: blocks are never under the minimum, nor over the window. */
  /* The caller's block is kept as it is, and the window holds it. */
  in.block = 3 * MiB + 1;
  o = policy(in);
  assert_true(o.block == 3 * MiB + 1 && o.window >= 10 * o.block);
  in.block = 0;
  in.max_prefetch = 100 * 1024;
  in.avg_io = 1000;
  o = policy(in);
  assert_true(o.window == 100 * 1024 && o.block == 100 * 1024);
  assert_true(o.lead <= o.block);
}

/* Reads past the most the window may hold, or past half the budget, are
 * not the engine's; a huge window still goes out in blocks of at most
 * GSR__MAX_BLOCK (the caller's own block size is kept). */
static void test_large_reads_and_blocks(void **state) {
  (void)state;
  assert_false(gsr__plan_read_direct(96 * MiB, 256 * MiB, 256 * MiB));
  assert_false(gsr__plan_read_direct(128 * MiB, 256 * MiB, 256 * MiB));
  assert_true(gsr__plan_read_direct(128 * MiB + 1, 256 * MiB, 256 * MiB));
  assert_true(gsr__plan_read_direct(5 * MiB, 4 * MiB, 256 * MiB));
  assert_false(gsr__plan_read_direct(4 * MiB, 4 * MiB, 256 * MiB));
  assert_true(gsr__plan_read_direct(4 * MiB + 1, 96 * MiB, 8 * MiB));
  assert_true(gsr__plan_read_direct(20ull << 30, 256 * MiB, 256 * MiB));
  struct gsr__engine_in in = {
      .promised = 1, .avg_io = MiB, .max_prefetch = 20ull << 30, .width = 4};
  struct gsr__engine_out o = policy(in);
  assert_true(o.window == 20ull << 30);
  assert_true(o.block == GSR__MAX_BLOCK);
  assert_true(o.lead <= o.block);
  in.block = 100 * MiB; /* the caller's */
  o = policy(in);
  assert_true(o.block == 100 * MiB);
}

/* An automatic width is lowered to what the window holds at blocks no
 * shorter than the lead; an explicit one is obeyed, with smaller blocks. */
static void test_width_fits_the_window(void **state) {
  (void)state;
  struct gsr__engine_in in = {.promised = 1,
                              .avg_io = 1 * MiB,
                              .max_prefetch = 96 * MiB,
                              .width = 8,
                              .rate = GCS_RATE,
                              .ttfb = GCS_TTFB,
                              .auto_width = 1};
  struct gsr__engine_out o = policy(in);
  assert_true(o.block >= o.lead);
  assert_int_equal(o.width, 4); /* 10 blocks of 8.4 MiB in 96 MiB */
  assert_true((2 * (uint64_t)o.width + 2) * o.block <= o.window - MiB);
  /* The window may grow for the width, within max_window. */
  in.max_window = 128 * MiB;
  o = policy(in);
  assert_int_equal(o.width, 6); /* 14 blocks of 8.4 MiB in 128 MiB */
  assert_true(o.window > 96 * MiB && o.window <= 128 * MiB);
  assert_true((2 * (uint64_t)o.width + 2) * o.block <= o.window - MiB);
  in.max_window = 0;
  in.max_prefetch = 200 * MiB;
  assert_int_equal(policy(in).width, 8); /* 22 fit: 8 asked */
  in.max_prefetch = 96 * MiB;
  in.auto_width = 0;
  o = policy(in);
  assert_int_equal(o.width, 8);
  assert_true(o.block == block_of(96 * MiB, MiB, 8));
  /* Nothing measured: the lead is unknown, the width stands. */
  in.auto_width = 1;
  in.rate = in.ttfb = 0;
  assert_int_equal(policy(in).width, 8);
}

/* An adaptive reader's window grows GSR__RAMP x its run, but from its first
 * window holds width x 2 minimum blocks: full width at once. */
static void test_ramp(void **state) {
  (void)state;
  struct gsr__engine_in in = {.run_reads = 3,
                              .run_bytes = 3 * 65536,
                              .avg_io = 65536,
                              .max_prefetch = 96 * MiB,
                              .width = 4};
  struct gsr__engine_out o = policy(in);
  assert_int_equal(o.plan, GSR__PLAN_RAMP);
  assert_true(o.window == GSR__RAMP * 3 * 65536);
  assert_true(o.block == GSR__MIN_BLOCK);
  assert_true(o.window / o.block >= 2 * (uint64_t)o.width);
  in.run_bytes = 65536; /* a short run: still width x 2 minimum blocks */
  o = policy(in);
  assert_true(o.window == 8 * (uint64_t)GSR__MIN_BLOCK);
  in.run_bytes = 5 * MiB;
  o = policy(in);
  assert_true(o.window == GSR__RAMP * 5 * MiB);
  assert_true(o.block == block_of(o.window, 65536, 4));
  /* The ramp never lowers the width: its blocks follow the window. */
  in.rate = GCS_RATE;
  in.ttfb = GCS_TTFB;
  in.auto_width = 1;
  assert_int_equal(policy(in).width, 4);
}

/* gsr__width_next(in) is want, and settles (1) or not (0) as settles. */
static void next_is(const struct gsr__width_in *in, int want, int settles) {
  int settled;
  assert_int_equal(gsr__width_next(in, &settled), want);
  assert_int_equal(settled != 0, settles);
}

/* The automatic width: from 4, +2 while each step gains 10%, back to the
 * last width that paid, never past the maximum. */
static void test_width_steps(void **state) {
  (void)state;
  struct gsr__width_in in = {.width = 4, .aggregate = 800e6, .max = 8};
  next_is(&in, 6, 0);
  in = (struct gsr__width_in){.width = 6,
                              .aggregate = 1000e6,
                              .prev_width = 4,
                              .prev_aggregate = 800e6,
                              .max = 8};
  next_is(&in, 8, 0);
  in.aggregate = 850e6; /* +6%: not worth two connections */
  next_is(&in, 4, 1);
  in.aggregate = 700e6; /* slower */
  next_is(&in, 4, 1);
  in = (struct gsr__width_in){.width = 8,
                              .aggregate = 1300e6,
                              .prev_width = 6,
                              .prev_aggregate = 1000e6,
                              .max = 8};
  next_is(&in, 8, 1); /* at the maximum */
  in = (struct gsr__width_in){.width = 4, .aggregate = 800e6, .max = 4};
  next_is(&in, 4, 1);
}

/* A file with no width asked for starts measuring one at its first full
 * plan (a promised reader's first, an adaptive one's once its window is
 * full), never while it ramps or reads exactly, nor with a width asked. */
static void test_width_engages(void **state) {
  (void)state;
  assert_true(gsr__width_engages(1, GSR__PLAN_FULL));
  assert_false(gsr__width_engages(1, GSR__PLAN_RAMP));
  assert_false(gsr__width_engages(1, GSR__PLAN_NONE));
  assert_false(gsr__width_engages(0, GSR__PLAN_FULL));
}

/* A failed block is fetched again for the read that needs it only when it
 * was speculative and failed at its first attempt. */
static void test_refetch_failed(void **state) {
  (void)state;
  assert_true(gsr__refetch_failed(1, 1));
  assert_true(gsr__refetch_failed(1, 0));  /* never sent: memory, a token */
  assert_false(gsr__refetch_failed(0, 1)); /* the read's own block */
  assert_false(gsr__refetch_failed(1, 2)); /* retried: the link fails */
  assert_false(gsr__refetch_failed(1, 30));
}

/* A block takes a connection until its first byte and while more than the
 * lead is to come; a block on a backend's stream never takes one. */
static void test_block_takes(void **state) {
  (void)state;
  assert_int_equal(gsr__block_takes(0, 0, 8 * MiB, 4 * MiB), 1);
  assert_int_equal(gsr__block_takes(0, 1 * MiB, 8 * MiB, 4 * MiB), 1);
  assert_int_equal(gsr__block_takes(0, 4 * MiB, 8 * MiB, 4 * MiB), 0);
  assert_int_equal(gsr__block_takes(0, 1, 8 * MiB, 8 * MiB), 0);
  assert_int_equal(gsr__block_takes(1, 0, 8 * MiB, 4 * MiB), 0);
  assert_int_equal(gsr__block_takes(1, 1 * MiB, 8 * MiB, 4 * MiB), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refetch_failed),
      cmocka_unit_test(test_block_takes),
      cmocka_unit_test(test_plans),
      cmocka_unit_test(test_full_window),
      cmocka_unit_test(test_large_reads_and_blocks),
      cmocka_unit_test(test_width_fits_the_window),
      cmocka_unit_test(test_ramp),
      cmocka_unit_test(test_width_steps),
      cmocka_unit_test(test_width_engages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
