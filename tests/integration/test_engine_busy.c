/* A sequential read keeps every connection busy: on
 * the gcs profile (38 ms to the first byte), a 160 MiB object read front
 * to back with gsr_read of 1 MiB at concurrency 4, prefetch "sequential"
 * and the default window, once cold (the client's first read of the
 * server) and once warm (its plan for the server known). From the
 * server's request log (tests/support/busy_check.h):
 *  (a) every request after the first N arrived before the response whose
 *      place it takes ended: the next request was out while a connection
 *      still carried bytes, so its first-byte wait overlapped them;
 *  (b) within the read (first first byte to one block before the end),
 *      no stretch with fewer than N transfers carrying bytes is longer
 *      than one ttfb + TOLERANCE.
 * TOLERANCE (15 ms) is for the 2-core machine: the server's two workers
 * and the client share it, and a worker busy sending may start a first
 * byte late. Fewer than 2N GETs fail too: one stream over the object would
 * leave (a) and (b) nothing to judge. BUSY_DUMP=1 prints the GETs.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "busy_check.h"
#include "fixture.h"
#include "gsread.h"

#define BUCKET "busy"
#define MiB (1024ull * 1024)
#define OBJ_SIZE (160 * MiB)
#define N 4
#define TTFB 0.038      /* the gcs profile's first-byte time */
#define TOLERANCE 0.015 /* 2-core noise, see above */
#define MAX_REQS 4096

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL}};
static const struct fx_spec spec = {.profile = "gcs",
                                    .bucket = BUCKET,
                                    .objects = objects,
                                    .n_objects = 1,
                                    .seed = 14};
static unsigned char *data; /* its bytes */

static int setup(void **state) {
  (void)state;
  if (fx_setup(&spec) != 0) return -1;
  data = objects[0].data;
  return 0;
}

/* Distinct connections among q[0..n). */
static int connections(const struct ts_media_req *q, int n) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    int seen = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = q[j].connection == q[i].connection;
    k += !seen;
  }
  return k;
}

/* Reads the object front to back and checks the log of that read. */
static void read_and_check(const char *label) {
  gsr_file_options fo;
  gsr_file f;
  gsr_file_options_init(&fo);
  fo.concurrency = N;
  fo.prefetch = "sequential";
  /* The default window (96 MiB: blocks of about 9.6 MiB, 2 x 4 + 2 of
   * them); it holds what 4 connections receive during a first-byte wait
   * and a block, so the 160 MiB span several blocks per connection and
   * hand-overs to judge. */
  assert_int_equal(gsr_open(fx.client, "gs://" BUCKET "/obj", &fo, &f), GSR_OK);
  long base = ts_log_quiet(&fx.srv, 60);

  unsigned char *buf = malloc(MiB);
  assert_non_null(buf);
  uint64_t off = 0;
  for (;;) {
    int64_t got = gsr_read(f, buf, MiB);
    if (got < 0)
      fail_msg("read at %llu: %s", (unsigned long long)off, gsr_errmsg());
    if (got == 0) break;
    if (memcmp(buf, data + off, (size_t)got) != 0)
      fail_msg("wrong bytes at %llu+%lld", (unsigned long long)off,
               (long long)got);
    off += (uint64_t)got;
  }
  free(buf);
  assert_int_equal(off, OBJ_SIZE);
  gsr_close(f);
  ts_log_quiet(&fx.srv, 100);

  static struct ts_media_req q[MAX_REQS];
  static struct busy_req r[MAX_REQS];
  int n = ts_media_log(&fx.srv, base, q, MAX_REQS);
  for (int i = 0; i < n; i++) r[i] = (struct busy_req){q[i].start, q[i].end};
  if (getenv("BUSY_DUMP"))
    for (int i = 0; i < n; i++)
      fprintf(stderr, "%llu-%llu conn %ld start %.3f end %.3f\n",
              (unsigned long long)q[i].first, (unsigned long long)q[i].last,
              q[i].connection, q[i].start, q[i].end);
  struct busy_report b;
  assert_int_equal(busy_check(r, n, N, TTFB, &b), 0);
  char summary[512];
  snprintf(summary, sizeof(summary),
           "%d media GETs on %d connections, block %.1f ms; (a) %d of %d "
           "requests after the first %d handed over in time, %d late (first "
           "#%d, worst %.1f ms after the end it should precede); (b) window "
           "%.1f ms, longest stretch with < %d carrying %.1f ms (limit %.1f), "
           "in all %.1f ms = %.0f%% of the window",
           n, connections(q, n), 1e3 * b.block_s, b.handed_over,
           n > N ? n - N : 0, N, b.late, b.first_late, 1e3 * b.worst_late,
           1e3 * (b.window_end - b.window_start), N, 1e3 * b.longest_short,
           1e3 * (TTFB + TOLERANCE), 1e3 * b.short_total,
           100 * b.short_fraction);
  print_message("engine_busy, %s: %s\n", label, summary);
  if (b.late > 0)
    fail_msg("%s: (a) requests sent only after a connection ended: %s", label,
             summary);
  if (b.longest_short > TTFB + TOLERANCE)
    fail_msg("%s: (b) fewer than %d connections carried bytes for too long: %s",
             label, N, summary);
  if (n < 2 * N) fail_msg("%s: too few GETs to judge: %s", label, summary);
}

/* The client's first read of this server: no plan known yet. */
static void test_cold_read_keeps_connections_busy(void **state) {
  (void)state;
  read_and_check("cold");
}

/* Again, with whatever the first read taught the client about the server
 * (the engine's plan, remembered per server): the steady state. */
static void test_warm_read_keeps_connections_busy(void **state) {
  (void)state;
  read_and_check("warm");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cold_read_keeps_connections_busy),
      cmocka_unit_test(test_warm_read_keeps_connections_busy),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
