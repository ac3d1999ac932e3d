/* gsread bench: the result, as one JSON object or one readable line, and
 * the progress line shown on a terminal while it runs.
 *
 * Units: mbps is MB/s with MB = 10^6 bytes; peak_rss_mb is in MiB
 * (2^20 bytes), the unit RSS is usually shown in (and the one gcsfs's
 * harness computes, though it labels it MB).
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>

#include "bench.h"

#define MIB (1024.0 * 1024.0)

static double mbps(const struct bench_total *t) {
  return t->wall > 0 ? (double)t->sum.bytes / t->wall / 1e6 : 0.0;
}

static const char *prefetch_name(const struct cli_args *a) {
  return a->file.prefetch ? a->file.prefetch : "default";
}

/* What was measured: the cell's coordinates. */
static void json_settings(const struct bench_plan *p) {
  const struct cli_args *a = p->a;

  fputs("{\"tool\":\"gsread\",\"version\":", stdout);
  cli_json_string(stdout, gsr_version());
  fputs(",\"url\":", stdout);
  cli_json_string(stdout, a->url);
  printf(",\"pattern\":\"%s\",\"io_size\":%" PRIu64 ",\"mode\":\"%s\"",
         cli_pattern_name(a->bench.pattern), a->io_size,
         cli_mode_name(a->bench.mode));
  fputs(",\"cache\":", stdout);
  cli_json_string(stdout, a->file.cache_type ? a->file.cache_type : "none");
  printf(",\"block_size\":%" PRIu64 ",\"concurrency\":%d,\"prefetch\":",
         a->file.block_size, a->file.concurrency);
  cli_json_string(stdout, prefetch_name(a));
  printf(",\"procs\":%d,\"seed\":%" PRIu64 ",\"zero_copy\":%s,\"trace\":",
         a->bench.procs, a->bench.seed, a->zero_copy ? "true" : "false");
  if (a->trace)
    cli_json_string(stdout, a->trace);
  else
    fputs("null", stdout);
  printf(",\"max_bytes\":%" PRIu64 ",\"max_seconds\":%g"
         ",\"object_size\":%" PRIu64,
         a->bench.max_bytes, a->bench.max_seconds, p->size);
}

/* Exactly one object on one line, so results can be appended to a
 * .jsonl file and read back one per line. */
void bench_print_json(const struct bench_plan *p, const struct bench_total *t) {
  const struct bench_result *s = &t->sum;

  json_settings(p);
  printf(",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"mbps\":%.3f"
         ",\"peak_rss_mb\":%.3f,\"cpu_seconds\":%.6f,\"reads\":%" PRIu64
         ",\"opens\":%" PRIu64 ",\"requests\":%" PRIu64
         ",\"bytes_fetched\":%" PRIu64 ",\"wasted_bytes\":%" PRIu64
         ",\"prefetched_unused\":%" PRIu64 ",\"bytes_copied\":%" PRIu64
         ",\"bytes_referenced\":%" PRIu64 ",\"bytes_direct\":%" PRIu64
         ",\"stall_seconds\":%.6f,\"minor_faults\":%" PRIu64
         ",\"pool_hits\":%" PRIu64 ",\"pool_misses\":%" PRIu64 "}\n",
         s->bytes, t->wall, mbps(t), (double)s->peak_rss / MIB, s->cpu_seconds,
         s->reads, s->opens, s->requests, s->bytes_fetched, t->wasted,
         s->prefetched_unused, s->bytes_copied, s->bytes_referenced,
         s->bytes_direct, s->stall_seconds, s->minor_faults, s->pool_hits,
         s->pool_misses);
}

void bench_print_line(const struct bench_plan *p, const struct bench_total *t) {
  const struct cli_args *a = p->a;
  const struct bench_result *s = &t->sum;
  char io[32];
  double waste = s->bytes_fetched
                     ? 100.0 * (double)t->wasted / (double)s->bytes_fetched
                     : 0.0;

  cli_format_size(a->io_size, io, sizeof io);
  printf("%s %s reads, mode %s (concurrency %d, prefetch %s), cache %s, "
         "%d process%s: %" PRIu64 " bytes in %.2f s = %.1f MB/s; "
         "peak RSS %.1f MiB, CPU %.2f s, %" PRIu64 " requests, "
         "%.1f%% wasted, stalled %.2f s, %" PRIu64 " minor faults\n",
         cli_pattern_name(a->bench.pattern), io, cli_mode_name(a->bench.mode),
         a->file.concurrency, prefetch_name(a),
         a->file.cache_type ? a->file.cache_type : "none", a->bench.procs,
         a->bench.procs == 1 ? "" : "es", s->bytes, t->wall, mbps(t),
         (double)s->peak_rss / MIB, s->cpu_seconds, s->requests, waste,
         s->stall_seconds, s->minor_faults);
}

/* "\r" and erase-to-end-of-line redraw the line in place. */
void bench_progress(double elapsed, uint64_t bytes) {
  double rate = elapsed > 0 ? (double)bytes / elapsed / 1e6 : 0.0;

  fprintf(stderr, "\rbench: %.1f s, %.1f MB, %.1f MB/s\033[K", elapsed,
          (double)bytes / 1e6, rate);
  fflush(stderr);
}

void bench_progress_clear(void) {
  fputs("\r\033[K", stderr);
  fflush(stderr);
}
