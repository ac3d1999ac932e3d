/* `--stats`: a file's counters (gsr_file_stats) and the client's buffer
 * pool's (gsr_client_stats) as "key: value" lines.
 *
 * The keys are the field names of gsr_file_stats and gsr_client_stats
 * (and minor_faults, getrusage's), so a line can be grepped and looked up
 * in gsread.h without a translation table.
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static void stat_line(FILE *out, const char *key, uint64_t v) {
  fprintf(out, "%s:%*s%" PRIu64 "\n", key, (int)(19 - strlen(key)), "", v);
}

/* Prints every counter of file to out. Returns GSR_OK, or the library's
 * status after reporting it. */
int cli_print_file_stats(FILE *out, gsr_file file) {
  gsr_file_stats s;
  int rc = gsr_file_stats_get(file, &s);

  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot get the file's statistics");
    return rc;
  }
  stat_line(out, "reads", s.reads);
  stat_line(out, "hits", s.hits);
  stat_line(out, "misses", s.misses);
  stat_line(out, "requests", s.requests);
  stat_line(out, "bytes_fetched", s.bytes_fetched);
  stat_line(out, "bytes_delivered", s.bytes_delivered);
  stat_line(out, "bytes_copied", s.bytes_copied);
  stat_line(out, "bytes_referenced", s.bytes_referenced);
  stat_line(out, "bytes_direct", s.bytes_direct);
  stat_line(out, "prefetched_unused", s.prefetched_unused);
  stat_line(out, "stalls", s.stalls);
  fprintf(out, "stall_seconds:      %.6f\n", s.stall_seconds);
  stat_line(out, "window", s.window);
  stat_line(out, "peak_buffered", s.peak_buffered);
  fprintf(out, "plan:               %s\n", s.plan);
  fprintf(out, "connections:        %d\n", s.connections);
  return GSR_OK;
}

int cli_print_client_stats(FILE *out, gsr_client *client) {
  gsr_client_stats s;
  struct rusage ru;
  int rc = gsr_client_stats_get(client, &s);

  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot get the client's statistics");
    return rc;
  }
  stat_line(out, "pooled", s.pooled);
  stat_line(out, "pool_hits", s.pool_hits);
  stat_line(out, "pool_misses", s.pool_misses);
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    stat_line(out, "minor_faults", (uint64_t)ru.ru_minflt);
  return GSR_OK;
}

/* `--stats` with --ranges: the vectored reads' counters (gsr_ranges_stats,
 * summed over the calls), each key prefixed "ranges_" but the first. */
void cli_print_ranges_stats(FILE *out, const gsr_ranges_stats *s) {
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges:", s->ranges);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_spans:", s->spans);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_requests:", s->requests);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_bytes_fetched:", s->bytes_fetched);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_hole_bytes:", s->hole_bytes);
  fprintf(out, "%-24s%" PRIu64 "\n",
          "ranges_bytes_delivered:", s->bytes_delivered);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_failed:", s->failed);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_hole_limit:", s->hole_limit);
  fprintf(out, "%-24s%" PRIu64 "\n", "ranges_span_limit:", s->span_limit);
  fprintf(out, "%-24s%.6f\n", "ranges_seconds:", s->seconds);
}
