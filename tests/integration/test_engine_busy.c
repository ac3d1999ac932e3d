/* A sequential read hands each connection's next request over before the
 * block it takes over from is in: on the gcs profile (38 ms to the first
 * byte), a 160 MiB object read front to back with gsr_read of 1 MiB at
 * concurrency N = 4, prefetch "sequential" and the default window, once
 * cold (the client's first read of the server) and once warm (its plan
 * for the server known). Judged from the order of things in the server's
 * request log, never from times (tests/support/busy_check.h):
 *  (a) the GETs' ranges tile the object exactly once;
 *  (b) each connection asks for later bytes with each request;
 *  (c) most GETs k >= N went out before the (k - N + 1)-th response
 *      ended: none of them on a connection whose previous response was
 *      that one or a later one (under HTTP/1.1 a connection takes its
 *      next request only once its response is in). An engine that sends
 *      the next request only when a block is in is late at every
 *      hand-over; a machine too busy to run the reader's thread for a
 *      first-byte wait makes a few late, which is allowed.
 * At least 2N GETs, or (c) has too little to judge. How long the
 * connections carry bytes is a timing, measured by the benchmarks.
 * BUSY_DUMP=1 prints the GETs.
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
#define MAX_REQS 4096

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL}};
static unsigned char *data; /* its bytes */
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .profile = "gcs",
                                .bucket = BUCKET,    .seed = 14,
                                .client = 1,         .data = &data};

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
  static struct busy_get g[MAX_REQS];
  int n = ts_media_log(&fx.srv, base, q, MAX_REQS), bad_status = 0;
  for (int i = 0; i < n; i++) {
    g[i] = (struct busy_get){q[i].first, q[i].last, q[i].connection,
                             q[i].on_connection};
    bad_status += q[i].status != 206;
  }
  if (getenv("BUSY_DUMP"))
    for (int i = 0; i < n; i++)
      fprintf(stderr, "%llu-%llu conn %ld #%ld status %d\n",
              (unsigned long long)q[i].first, (unsigned long long)q[i].last,
              q[i].connection, q[i].on_connection, q[i].status);
  struct busy_report b;
  assert_int_equal(busy_check(g, n, OBJ_SIZE, N, &b), 0);
  char summary[512];
  snprintf(summary, sizeof(summary),
           "%d media GETs (%d not 206) on %d connections; (a) %s (first "
           "offset not fetched exactly once: %llu); (b) %d out of order on "
           "their connection; (c) %d of %d GETs after the first %d handed "
           "over in time, %d late (first #%d, sent after end #%d)",
           n, bad_status, b.connections, b.tiled ? "tiled" : "NOT tiled",
           (unsigned long long)b.gap_at, b.out_of_order, b.handed_over,
           n > N ? n - N : 0, N, b.late, b.first_late, b.late_after);
  print_message("engine_busy, %s: %s\n", label, summary);
  if (bad_status > 0) fail_msg("%s: GETs that failed: %s", label, summary);
  switch (busy_verdict(&b, N)) {
  case BUSY_OK:
    break;
  case BUSY_NOT_TILED:
    fail_msg("%s: (a) the GETs do not fetch the object once: %s", label,
             summary);
  case BUSY_OUT_OF_ORDER:
    fail_msg("%s: (b) a connection went back in the object: %s", label,
             summary);
  case BUSY_TOO_FEW:
    fail_msg("%s: too few GETs to judge: %s", label, summary);
  case BUSY_MOSTLY_LATE:
    fail_msg("%s: (c) most requests sent only after a block they should "
             "overlap was in: %s",
             label, summary);
  }
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
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
