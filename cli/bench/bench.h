/* gsread bench: what the parent (cmd.c), its worker processes
 * (proc.c) and the output (out.c) share.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSREAD_CLI_BENCH_H
#define GSREAD_CLI_BENCH_H

#include <stdatomic.h>

#include "cli.h"

/* What every worker does, fixed before the fork. */
struct bench_plan {
  const struct cli_args *a; /* mode already applied to a->file */
  uint64_t size;            /* the object's size, from the parent's probe */
  const struct cli_trace *trace; /* --trace lines, or NULL */
  /* Bytes read so far by all workers, in MAP_SHARED memory: the parent's
   * progress line reads it while they run. */
  _Atomic uint64_t *progress;
};

/* One worker's totals, sent to the parent over a pipe as raw bytes (the
 * worker is a fork of the same program, so the layout is the same). Small
 * enough (< PIPE_BUF) that each write arrives whole. */
struct bench_result {
  uint64_t bytes;    /* bytes the reads returned */
  uint64_t reads;    /* read calls */
  uint64_t opens;    /* files opened: 1 + reopen cycles */
  uint64_t requests; /* gsr_file_stats, summed over the opens */
  uint64_t bytes_fetched;
  uint64_t prefetched_unused;
  uint64_t bytes_copied; /* where the delivered bytes came from */
  uint64_t bytes_referenced;
  uint64_t bytes_direct;
  double stall_seconds;
  double seconds;        /* open to end of the reads */
  double cpu_seconds;    /* user + system, every thread */
  uint64_t peak_rss;     /* bytes: ru_maxrss of the worker itself */
  uint64_t minor_faults; /* ru_minflt of the worker itself */
  uint64_t pool_hits;    /* gsr_client_stats */
  uint64_t pool_misses;
};

/* The aggregate the parent prints. */
struct bench_total {
  struct bench_result sum; /* sums (peak_rss: of each worker's peak) */
  uint64_t wasted;         /* sum of max(0, fetched - delivered) */
  double wall;             /* first fork to the last worker done */
};

/* proc.c: runs one worker (index 0..procs-1) in a forked child and
 * writes its result to fd. Never returns: _exit(0) after a report, 1
 * after a failure it printed. */
_Noreturn void bench_worker(const struct bench_plan *p, int index, int fd);
/* User + system CPU seconds of this process so far (all its threads). */
double bench_cpu_seconds(void);

/* ranges.c: bench --ranges FILE, run in this process. */
int bench_ranges_finish(struct cli_args *a);
int bench_ranges_run(const struct cli_args *a);

/* out.c */
void bench_print_json(const struct bench_plan *p, const struct bench_total *t);
void bench_print_line(const struct bench_plan *p, const struct bench_total *t);
void bench_progress(double elapsed, uint64_t bytes);
void bench_progress_clear(void);

#endif /* GSREAD_CLI_BENCH_H */
