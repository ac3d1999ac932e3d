/* Fault tests: long sequential reads against the local GCS server while it
 * injects faults (503s, 429s with Retry-After, bodies cut off midway,
 * stalls longer than the stall timeout, connection resets), with the
 * prefetcher on and off. Every run must return the object byte for byte.
 * Then the ways retrying must end: a permanent failure stops at the
 * deadline with a clear message, and closing files or freeing the client
 * in the middle of a fault storm is prompt and leaks nothing (ASan/LSan).
 *
 * The object is 512 MiB; $GSR_FAULTS_MIB makes it smaller (the sanitizer
 * builds run a 64 MiB variant). The per-run figures are printed, and
 * written as a markdown table to $GSR_RELIABILITY_OUT if it is set (that
 * table is what docs/RELIABILITY.md shows).
 *
 * SPDX-License-Identifier: MIT
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "fault-bucket"
#define OBJECT "big.bin"
#define MiB (1024u * 1024u)
#define IO_SIZE (8 * MiB) /* each gsr_read asks for this much */

static unsigned char *data; /* the object's bytes, to compare against */
static size_t size;
static char url[256];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void control_ok(const char *path) {
  int code = ts_control(&fx.srv, path);
  if (code != 200) fail_msg("control %s: HTTP %d", path, code);
}

/* Retry settings for a test: quick backoff, a bounded number of attempts.
 * Retry-After is always honoured (the library has no switch to ignore it;
 * the 429 runs check that it waited). The stall timeout is 1 s, the
 * smallest that curl's own check (used before the first byte) can do. */
static gsr_client *new_client(long initial_ms, int attempts, long deadline_ms) {
  gsr_client_options o;
  fx_client_options(&o);
  o.stall_timeout_ms = 1000;
  o.retry_initial_ms = initial_ms;
  o.retry_max_delay_ms = 1000;
  o.retry_max_attempts = attempts;
  o.retry_deadline_ms = deadline_ms;
  return fx_client(&o);
}

static gsr_file open_file(gsr_client *c, int prefetch) {
  gsr_file_options fo;
  gsr_file f;
  gsr_file_options_init(&fo);
  fo.concurrency = 4;
  fo.prefetch = prefetch ? "adaptive" : "off";
  int s = gsr_open(c, url, &fo, &f);
  if (s != GSR_OK) fail_msg("open %s: %s", url, gsr_errmsg());
  return f;
}

static struct ts_object objects[] = {{OBJECT, 0, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 20261122, .data = &data};

static int setup(void **state) {
  (void)state;
  const char *mib = getenv("GSR_FAULTS_MIB");
  size = (size_t)(mib && atoi(mib) > 0 ? atoi(mib) : 512) * MiB;
  objects[0].size = size;
  if (fx_setup(&fx_spec) != 0) return -1;
  snprintf(url, sizeof(url), "gs://%s/%s", BUCKET, OBJECT);
  return 0;
}

/* ---- The runs: one fault kind each, prefetch on and off. */

struct fault_case {
  const char *label;  /* for the table */
  const char *kind;   /* key in the server's "faults" counters */
  const char *config; /* the knobs; fault_next=1 makes sure every run,
                       * even the small sanitizer variant, gets one */
};

static const struct fault_case cases[] = {
    {"none", "status", NULL},
    {"503, 10% of media requests", "status",
     "config?fault_kind=status&fault_status=503&fault_ratio=0.1&fault_next=1&seed=11"},
    {"429 + Retry-After: 1, 10%", "status",
     "config?fault_kind=status&fault_status=429&fault_retry_after=1&fault_ratio=0.1&fault_next=1&seed=12"},
    {"body cut midway, 5%", "cut",
     "config?fault_kind=cut&fault_ratio=0.05&fault_next=1&seed=13"},
    {"stall 2.5 s (timeout 1 s), 2%", "stall",
     "config?fault_kind=stall&stall_ms=2500&fault_ratio=0.02&fault_next=1&seed=14"},
    {"connection reset, 5%", "reset",
     "config?fault_kind=reset&fault_ratio=0.05&fault_next=1&seed=15"},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

struct run_result {
  const struct fault_case *c;
  int prefetch;
  long long faults, media_requests;
  uint64_t retries, resumes, requests, bytes;
  double seconds;
};

static struct run_result results[2 * N_CASES];
static size_t n_results;

/* Reads the whole object with IO_SIZE reads, comparing every byte. */
static void run_one(const struct fault_case *fc, int prefetch,
                    struct run_result *r) {
  char stats[2048];
  unsigned char *buf = malloc(IO_SIZE);
  assert_non_null(buf);
  control_ok("reset");
  gsr_client *c = new_client(20, 10, 60000);
  gsr_file f = open_file(c, prefetch); /* metadata: never faulted here */
  if (fc->config) control_ok(fc->config);
  size_t pos = 0;
  double t0 = now_s();
  for (;;) {
    int64_t n = gsr_read(f, buf, IO_SIZE);
    if (n < 0)
      fail_msg("%s, prefetch %s: read at %zu: %s: %s", fc->label,
               prefetch ? "on" : "off", pos, gsr_status_name((int)n),
               gsr_errmsg());
    if (n == 0) break;
    if (memcmp(buf, data + pos, (size_t)n) != 0)
      fail_msg("%s, prefetch %s: wrong bytes in [%zu, %zu)", fc->label,
               prefetch ? "on" : "off", pos, pos + (size_t)n);
    pos += (size_t)n;
  }
  r->seconds = now_s() - t0;
  assert_int_equal(pos, size);
  gsr_client_stats cs;
  gsr_file_stats fs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_int_equal(gsr_file_stats_get(f, &fs), GSR_OK);
  assert_int_equal(ts_control_body(&fx.srv, "stats", stats, sizeof(stats)),
                   200);
  char key[64];
  snprintf(key, sizeof(key), "%s", fc->kind);
  r->c = fc;
  r->prefetch = prefetch;
  r->faults = ts_stats_get(stats, "faults_total");
  r->media_requests = ts_stats_get(stats, "media_requests");
  r->retries = cs.retries;
  r->resumes = cs.resumes;
  r->requests = fs.requests;
  r->bytes = pos;
  printf("  %-32s prefetch %-3s faults %3lld retries %3llu resumes %3llu "
         "%6.2f s\n",
         fc->label, prefetch ? "on" : "off", r->faults,
         (unsigned long long)r->retries, (unsigned long long)r->resumes,
         r->seconds);
  fflush(stdout);
  assert_int_equal(gsr_close(f), GSR_OK);
  gsr_client_free(c);
  free(buf);
  control_ok("reset");

  /* What each kind must have cost. Every injected fault failed one
   * attempt, and the read still succeeded, so each was retried; a reset
   * on a reused connection may instead be redone by curl itself (not
   * counted as our retry), so resets only need the data to be right. */
  if (fc->config == NULL) {
    assert_int_equal(r->faults, 0);
    assert_true(r->retries == 0);
    return;
  }
  assert_true(r->faults >= 1);
  assert_true(ts_stats_get(stats, key) == r->faults);
  if (strcmp(fc->kind, "reset") != 0)
    assert_true(r->retries >= (uint64_t)r->faults);
  /* A cut or stalled body continues after its last byte, never restarts. */
  if (strcmp(fc->kind, "cut") == 0 || strcmp(fc->kind, "stall") == 0)
    assert_true(r->resumes >= (uint64_t)r->faults);
  /* Retry-After: 1 was waited for, whatever the 20 ms backoff says. */
  if (strstr(fc->config, "fault_retry_after=1")) assert_true(r->seconds >= 1.0);
}

static void write_table(FILE *out) {
  fprintf(out, "| faults injected by the server | prefetch | faults | "
               "retries | resumes | requests | bytes verified | seconds | "
               "MiB/s |\n");
  fprintf(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
               "---: |\n");
  for (size_t i = 0; i < n_results; i++) {
    const struct run_result *r = &results[i];
    fprintf(out,
            "| %s | %s | %lld | %llu | %llu | %llu | %llu | %.2f | %.0f |\n",
            r->c->label, r->prefetch ? "adaptive" : "off", r->faults,
            (unsigned long long)r->retries, (unsigned long long)r->resumes,
            (unsigned long long)r->requests, (unsigned long long)r->bytes,
            r->seconds, (double)r->bytes / MiB / r->seconds);
  }
}

static void test_sequential_reads_under_faults(void **state) {
  (void)state;
  printf("  object %zu MiB, reads of %u MiB, concurrency 4\n", size / MiB,
         IO_SIZE / MiB);
  for (size_t i = 0; i < N_CASES; i++)
    for (int prefetch = 1; prefetch >= 0; prefetch--)
      run_one(&cases[i], prefetch, &results[n_results++]);
  write_table(stdout);
  const char *path = getenv("GSR_RELIABILITY_OUT");
  if (path != NULL && path[0] != '\0') {
    FILE *f = fopen(path, "w");
    if (f == NULL) fail_msg("cannot write %s", path);
    write_table(f);
    fclose(f);
  }
}

/* ---- Retry-After on its own: one 429, then success. */
static void test_retry_after_is_honoured(void **state) {
  (void)state;
  unsigned char *buf = malloc(MiB);
  control_ok("reset");
  gsr_client *c = new_client(20, 10, 60000);
  gsr_file f = open_file(c, 0);
  control_ok(
      "config?fault_kind=status&fault_status=429&fault_retry_after=1&fault_next=1");
  double t0 = now_s();
  assert_int_equal(gsr_pread(f, buf, MiB, 12345), MiB);
  double dt = now_s() - t0;
  assert_memory_equal(buf, data + 12345, MiB);
  gsr_client_stats cs;
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries == 1);
  if (dt < 1.0) fail_msg("the retry came %.3f s after a Retry-After: 1", dt);
  gsr_close(f);
  gsr_client_free(c);
  control_ok("reset");
  free(buf);
}

/* ---- A deadline near LONG_MAX means no deadline: the 503 is retried (in
 * ns it used to wrap to a moment already past, and nothing was). */
static void test_huge_deadline_still_retries(void **state) {
  (void)state;
  unsigned char *buf = malloc(MiB);
  control_ok("reset");
  gsr_client *c = new_client(20, 10, LONG_MAX);
  gsr_file f = open_file(c, 0);
  control_ok("config?fault_kind=status&fault_status=503&fault_next=1");
  if (gsr_pread(f, buf, MiB, 777) != MiB) fail_msg("read: %s", gsr_errmsg());
  assert_memory_equal(buf, data + 777, MiB);
  gsr_client_stats cs;
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries == 1);
  gsr_close(f);
  gsr_client_free(c);
  control_ok("reset");
  free(buf);
}

/* ---- A permanent failure ends at the deadline, with a clear message. */

#define DEADLINE_MS 2000
/* The deadline bounds when the last attempt may start; that attempt and
 * the bookkeeping around it get this much more. */
#define DEADLINE_SLACK_S 1.5

static void expect_deadline_failure(int64_t n, double dt, const char *what) {
  if (n != GSR_ENETWORK)
    fail_msg("%s: got %lld (%s), want GSR_ENETWORK", what, (long long)n,
             gsr_errmsg());
  if (strstr(gsr_errmsg(), "503") == NULL ||
      strstr(gsr_errmsg(), "fault-bucket") == NULL)
    fail_msg("%s: message does not name the URL and status: %s", what,
             gsr_errmsg());
  if (dt > DEADLINE_MS / 1000.0 + DEADLINE_SLACK_S)
    fail_msg("%s: failed after %.2f s, deadline %d ms", what, dt, DEADLINE_MS);
  printf("  %s: %.2f s: %s\n", what, dt, gsr_errmsg());
}

static void test_permanent_failure_ends_at_deadline(void **state) {
  (void)state;
  unsigned char *buf = malloc(IO_SIZE);
  gsr_client_stats cs;
  control_ok("reset");
  /* 100 attempts allowed: only the deadline can end it. */
  gsr_client *c = new_client(20, 100, DEADLINE_MS);
  for (int prefetch = 0; prefetch <= 1; prefetch++) {
    gsr_file f = open_file(c, prefetch);
    /* Two good reads first, so the prefetcher has a window in flight
     * when the server starts failing everything. */
    assert_int_equal(gsr_read(f, buf, IO_SIZE), IO_SIZE);
    assert_int_equal(gsr_read(f, buf, IO_SIZE), IO_SIZE);
    assert_memory_equal(buf, data + IO_SIZE, IO_SIZE);
    control_ok("config?fault_kind=status&fault_status=503&fault_ratio=1");
    uint64_t before = (gsr_client_stats_get(c, &cs), cs.retries);
    /* Prefetched bytes that arrived before the failures may still be
     * served; the first read that needs the network must fail. */
    int64_t n;
    double t0, dt;
    do {
      t0 = now_s();
      n = gsr_read(f, buf, IO_SIZE);
      dt = now_s() - t0;
    } while (n > 0);
    if (n == 0) { /* a small object was all prefetched: go back for more */
      assert_int_equal(gsr_seek(f, 0, GSR_SEEK_SET), 0);
      t0 = now_s();
      n = gsr_read(f, buf, IO_SIZE);
      dt = now_s() - t0;
    }
    expect_deadline_failure(
        n, dt, prefetch ? "read, prefetch on" : "read, prefetch off");
    gsr_client_stats_get(c, &cs);
    assert_true(cs.retries - before >= 2); /* it did retry until then */
    /* The failure is not sticky: once the server recovers, so does the
     * file, at the position where the failed read left it. */
    control_ok("reset");
    int64_t pos = gsr_tell(f);
    n = gsr_read(f, buf, IO_SIZE);
    assert_true(n > 0);
    assert_memory_equal(buf, data + pos, (size_t)n);
    gsr_close(f);
  }
  /* Metadata too: open fails the same way. */
  control_ok(
      "config?fault_kind=status&fault_status=503&fault_ratio=1&fault_on=meta");
  gsr_file g = GSR_FILE_INVALID;
  double t0 = now_s();
  int s = gsr_open(c, url, NULL, &g);
  expect_deadline_failure(s, now_s() - t0, "open");
  assert_true(g == GSR_FILE_INVALID);
  control_ok("reset");
  gsr_client_free(c);
  free(buf);
}

/* ---- Closing in a storm: half the requests stall or are cut. */

struct reader {
  gsr_file f;
  int64_t last;  /* the status the reader ended with */
  int64_t bytes; /* good bytes it read */
  char msg[512]; /* gsr_errmsg() when it ended with an error */
};

static void *reader_main(void *arg) {
  struct reader *r = arg;
  unsigned char *buf = malloc(IO_SIZE);
  int64_t n;
  while ((n = gsr_read(r->f, buf, IO_SIZE)) > 0) {
    int64_t pos = r->bytes;
    if (memcmp(buf, data + pos, (size_t)n) != 0) {
      r->last = -1000; /* wrong bytes */
      break;
    }
    r->bytes += n;
  }
  if (r->last != -1000) r->last = n;
  if (r->last < 0) snprintf(r->msg, sizeof(r->msg), "%s", gsr_errmsg());
  free(buf);
  return NULL;
}

static void expect_prompt(double dt, const char *what) {
  printf("  %s: %.3f s\n", what, dt);
  if (dt > 1.0) fail_msg("%s took %.3f s", what, dt);
}

static void test_close_during_fault_storm(void **state) {
  (void)state;
  const char *storms[] = {
      "config?fault_kind=stall&stall_ms=2500&fault_ratio=0.5&seed=21",
      "config?fault_kind=cut&fault_ratio=0.5&seed=22",
  };
  unsigned char *buf = malloc(IO_SIZE);
  for (size_t k = 0; k < 2; k++) {
    control_ok("reset");
    /* A slower backoff, so that some retries are still waiting their turn
     * when the files close. */
    gsr_client *c = new_client(200, 10, 60000);
    gsr_file a = open_file(c, 1), b = open_file(c, 1), d = open_file(c, 1);
    control_ok(storms[k]);

    /* 1. Close between reads, with the prefetch window in flight. */
    for (int i = 0; i < 3; i++) {
      int64_t n = gsr_read(a, buf, IO_SIZE);
      if (n != IO_SIZE) fail_msg("storm read: %s", gsr_errmsg());
      assert_memory_equal(buf, data + (size_t)i * IO_SIZE, IO_SIZE);
    }
    double t0 = now_s();
    assert_int_equal(gsr_close(a), GSR_OK);
    expect_prompt(now_s() - t0, k ? "close after reads (cuts)"
                                  : "close after reads (stalls)");
    assert_int_equal(gsr_read(a, buf, 10), GSR_ECLOSED);

    /* 2. Close while another thread is inside gsr_read. */
    struct reader r = {b, 0, 0, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    usleep(400 * 1000);
    t0 = now_s();
    assert_int_equal(gsr_close(b), GSR_OK);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    if (pthread_timedjoin_np(th, NULL, &until) != 0)
      fail_msg("a reader blocked in gsr_read did not return after close");
    expect_prompt(now_s() - t0, "close with a reader inside gsr_read");
    /* It stopped with the close (or finished first); never wrong bytes. */
    if (!(r.last == GSR_ECANCELED || r.last == GSR_ECLOSED || r.last == 0))
      fail_msg("the reader ended with %lld (%s) after %lld good bytes: %s",
               (long long)r.last,
               r.last == -1000 ? "wrong bytes" : gsr_status_name((int)r.last),
               (long long)r.bytes, r.msg);

    /* 3. Free the client with a file still open and its window in flight. */
    for (int i = 0; i < 2; i++) {
      int64_t n = gsr_read(d, buf, IO_SIZE);
      if (n != IO_SIZE) fail_msg("storm read: %s", gsr_errmsg());
    }
    t0 = now_s();
    gsr_client_free(c);
    expect_prompt(now_s() - t0, "client free with an open file");
    assert_int_equal(gsr_read(d, buf, 10), GSR_ECLOSED);
  }
  control_ok("reset");
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sequential_reads_under_faults),
      cmocka_unit_test(test_retry_after_is_honoured),
      cmocka_unit_test(test_huge_deadline_still_retries),
      cmocka_unit_test(test_permanent_failure_ends_at_deadline),
      cmocka_unit_test(test_close_during_fault_storm),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
