/* Allocation-failure ("torture") test. A small scenario (client new; a
 * gs:// object on the local server, an http:// URL and a local file each
 * opened, read at a few ranges with pread and with gsr_read_ranges,
 * stat'ed and closed; client free) is run once to count its N allocations, then
 * N times more with the k-th allocation failing, k = 1..N, all in this one
 * process.
 *
 * Every run must end cleanly: each call returns GSR_OK with the right
 * bytes, or GSR_ENOMEM; never a crash, a hang (an alarm kills a run that
 * takes too long) or a leak (each run frees everything; LSan checks at exit
 * in the ASan build). A final run without failures must still work.
 *
 * With $GSR_TORTURE_CURL=1 libcurl's allocations fail too: this test (not
 * the library, which leaves curl's allocator alone) hands the hook to
 * curl_global_init_mem before any other curl call. curl's own OOM paths
 * do not all fail cleanly: out of memory, curl 7.88 may send a GET
 * without its Range header (Curl_http_range does not check its
 * allocation) or without its URL's query string. gsread's response checks
 * reject what comes back (a 200 where a 206 was asked: GSR_EPROTO, "server
 * ignored the Range header"), so no wrong byte is ever delivered; in this
 * mode that outcome is allowed and counted, anything else still fails.
 *
 * $GSR_TORTURE_STEP=s runs only every s-th k (quick local checks);
 * $GSR_TORTURE_K=k runs only that k (and prints what the server saw).
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>

#include "base/internal.h" /* the hook and gsr__malloc & co. (gsread_static) */
#include "fixture.h"

#define BUCKET "torture-bucket"
#define OBJECT "obj"
#define SIZE (700 * 1024) /* big enough for a read split over 4 parts */
#define RUN_ALARM_S 60    /* a run that takes this long has hung */

static unsigned char *data;
static char gs_url[256], http_url[512], file_path[512];

/* One scenario run's tally. */
struct tally {
  int calls, ok, enomem;
  int rejected;        /* curl mode: a request curl altered, caught */
  int bad;             /* calls with a status other than OK / ENOMEM */
  char first_bad[600]; /* what the first of those was */
};

static int curl_mode; /* $GSR_TORTURE_CURL: curl's allocations fail too */

static void note(struct tally *t, int64_t status, const char *what) {
  t->calls++;
  if (status >= 0) {
    t->ok++;
  } else if (status == GSR_ENOMEM) {
    t->enomem++;
  } else if (curl_mode && status == GSR_EPROTO &&
             strstr(gsr_errmsg(), "server ignored the Range header")) {
    t->rejected++;
  } else {
    if (t->bad++ == 0)
      snprintf(t->first_bad, sizeof(t->first_bad), "%s: %s: %s", what,
               gsr_status_name((int)status), gsr_errmsg());
  }
}

/* pread of [off, off+len): the right count and bytes, or an error. */
static void check_pread(struct tally *t, gsr_file f, uint64_t off, size_t len,
                        const char *what) {
  unsigned char *buf = malloc(len);
  int64_t n = gsr_pread(f, buf, len, (int64_t)off);
  size_t want = off >= SIZE ? 0 : (len < SIZE - off ? len : SIZE - off);
  if (n >= 0 && (n != (int64_t)want || memcmp(buf, data + off, want) != 0))
    fail_msg("%s: pread %llu+%zu returned %lld or wrong bytes", what,
             (unsigned long long)off, len, (long long)n);
  note(t, n, what);
  free(buf);
}

/* gsr_sendfile of a range to a temporary file (through the engine's
 * blocks): the right bytes, or an error. */
static void check_sendfile(struct tally *t, gsr_file f, const char *what) {
  char path[] = "/tmp/gsread-torture-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  const uint64_t off = 777, len = 300 * 1024;
  uint64_t written = 0;
  int s = gsr_sendfile(f, fd, (int64_t)off, len, &written);
  if (s == GSR_OK) {
    unsigned char *buf = malloc(len + 1);
    if (written != len || pread(fd, buf, len + 1, 0) != (ssize_t)len ||
        memcmp(buf, data + off, len) != 0)
      fail_msg("%s: sendfile wrote %llu or wrong bytes", what,
               (unsigned long long)written);
    free(buf);
  }
  note(t, s, "sendfile");
  close(fd);
}

/* gsr_read_ranges: overlapping, duplicate and by-reference ranges, holes
 * joined, a span split in parts. Each range that says GSR_OK holds the
 * right bytes, whatever the call returned. */
static void check_ranges(struct tally *t, gsr_file f, const char *what) {
  static unsigned char buf[4][200 * 1024];
  gsr_range r[6] = {
      {.offset = 5000, .length = 1000, .buf = buf[0]},
      {.offset = 100, .length = 200 * 1024, .buf = NULL},
      {.offset = 5500, .length = 1000, .buf = NULL},
      {.offset = 300 * 1024, .length = 200 * 1024, .buf = buf[1]},
      {.offset = 100, .length = 50, .buf = buf[2]},
      {.offset = SIZE - 10, .length = 100, .buf = buf[3]},
  };
  gsr_ranges_options ro;
  gsr_ranges_options_init(&ro);
  ro.hole_limit = 64 * 1024;
  int s = gsr_read_ranges(f, r, 6, &ro);
  for (int i = 0; i < 6; i++) {
    uint64_t off = (uint64_t)r[i].offset;
    uint64_t want = off + r[i].length > SIZE ? SIZE - off : r[i].length;
    const unsigned char *got = r[i].buf ? r[i].buf : r[i].slice.data;
    if (r[i].status == GSR_OK &&
        (r[i].delivered != want || memcmp(got, data + off, want) != 0))
      fail_msg("%s: range %d delivered %llu or wrong bytes", what, i,
               (unsigned long long)r[i].delivered);
    if (s == GSR_OK && r[i].status != GSR_OK)
      fail_msg("%s: range %d failed, the call did not", what, i);
    gsr_slice_release(&r[i].slice);
  }
  note(t, s, "read_ranges");
}

/* prefetch: 0 off, 1 adaptive (blocks on 4 connections), 2 sequential on
 * one connection (the stream). */
static void one_file(struct tally *t, gsr_client *c, const char *url,
                     int prefetch) {
  static const char *modes[] = {"off", "adaptive", "sequential"};
  gsr_file_options fo;
  gsr_file f = 77;
  gsr_stat st;
  gsr_file_options_init(&fo);
  fo.concurrency = prefetch == 2 ? 1 : 4;
  fo.min_part_size = 64 * 1024; /* so the 512 KiB read splits in 4 */
  fo.prefetch = modes[prefetch];
  int s = gsr_open(c, url, &fo, &f);
  note(t, s, url);
  if (s != GSR_OK) {
    if (f != GSR_FILE_INVALID) fail_msg("failed open left a handle");
    return;
  }
  check_pread(t, f, 0, 100, url);
  check_pread(t, f, 1000, 512 * 1024, url); /* split over 4 connections */
  check_pread(t, f, SIZE - 50, 100, url);   /* straddles the end */
  if (!prefetch) check_ranges(t, f, url);
  if (prefetch) { /* sequential reads: the prefetcher schedules blocks */
    if (prefetch == 2) assert_int_equal(gsr_seek(f, 0, GSR_SEEK_SET), 0);
    unsigned char buf[64 * 1024];
    for (int i = 0; i < 4; i++) {
      int64_t n = gsr_read(f, buf, sizeof(buf));
      if (n >= 0 && (n != (int64_t)sizeof(buf) ||
                     memcmp(buf, data + gsr_tell(f) - n, (size_t)n) != 0))
        fail_msg("%s: read returned %lld or wrong bytes", url, (long long)n);
      note(t, n, "read");
    }
  }
  if (prefetch) check_sendfile(t, f, url);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_true(st.size == SIZE);
  assert_int_equal(gsr_close(f), GSR_OK);
}

static void scenario(struct tally *t) {
  gsr_client_options o;
  gsr_client *c = (gsr_client *)1;
  fx_client_options(&o);
  o.retry_initial_ms = 1; /* the one injected 503 is retried at once */
  int s = gsr_client_new(&o, &c);
  note(t, s, "client new");
  if (s != GSR_OK) {
    if (c != NULL) fail_msg("failed gsr_client_new left a client");
    return;
  }
  one_file(t, c, gs_url, 0);
  one_file(t, c, gs_url, 1);
  one_file(t, c, gs_url, 2);
  one_file(t, c, http_url, 0);
  one_file(t, c, file_path, 0);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  gsr_client_free(c);
}

static volatile sig_atomic_t alarm_k; /* the k of the run in progress */
static char stop_cmd[1200];           /* stops the server, then exit 2 */

/* A run that outlives RUN_ALARM_S has hung: say which k, stop the server
 * (exec: no teardown will run) and fail the whole test. Only
 * async-signal-safe calls here. */
static void on_alarm(int sig) {
  char msg[80] = "test_torture: the run with k=", digits[24];
  size_t n = strlen(msg), d = 0;
  unsigned long k = (unsigned long)alarm_k;
  (void)sig;
  do digits[d++] = (char)('0' + k % 10);
  while ((k /= 10) > 0 && d < 20);
  while (d > 0) msg[n++] = digits[--d];
  memcpy(msg + n, " hung\n", 6);
  if (write(2, msg, n + 6) < 0) _exit(3);
  execl("/bin/sh", "sh", "-c", stop_cmd, (char *)NULL);
  _exit(2);
}

/* One run with the k-th allocation failing (k = 0: none). Returns the
 * allocations it counted. */
static uint64_t run(uint64_t k, struct tally *t) {
  memset(t, 0, sizeof(*t));
  alarm_k = (sig_atomic_t)k;
  /* One 503 for the first media request, so the retry path runs too. This
   * control request goes through curl, so it comes before the count. */
  assert_int_equal(
      ts_control(&fx.srv,
                 "config?fault_kind=status&fault_status=503&fault_next=1"),
      200);
  alarm(RUN_ALARM_S);
  gsr__alloc_fail_at(k);
  scenario(t);
  uint64_t n = gsr__alloc_fail_at(0);
  alarm(0);
  return n;
}

static struct ts_object objects[] = {{OBJECT, SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 99, .data = &data};

static int setup(void **state) {
  (void)state;
  const char *cm = getenv("GSR_TORTURE_CURL");
  curl_mode = cm != NULL && strcmp(cm, "1") == 0;
  /* This must be the process's first curl call (the library's own
   * curl_global_init and ts_control come later): curl only takes an
   * allocator at its first initialization. */
  if (curl_mode &&
      curl_global_init_mem(CURL_GLOBAL_ALL, gsr__malloc, gsr__free,
                           gsr__realloc, gsr__strdup, gsr__calloc) != CURLE_OK)
    return -1;
  if (fx_setup(&fx_spec) != 0) return -1;
  ts_server_stop_command(&fx.srv, stop_cmd, sizeof(stop_cmd) - 16);
  strcat(stop_cmd, "; exit 2");
  signal(SIGALRM, on_alarm);
  snprintf(gs_url, sizeof(gs_url), "gs://%s/%s", BUCKET, OBJECT);
  ts_http_url(&fx.srv, BUCKET, OBJECT, http_url, sizeof(http_url));
  snprintf(file_path, sizeof(file_path), "%s/%s/%s", fx.srv.data, BUCKET,
           OBJECT);
  return 0;
}

static int teardown(void **state) {
  ts_control(&fx.srv, "reset");
  return fx_teardown(state);
}

/* The request log's size: where the next run's lines will start. (Not
 * ts_log_lines: counting lines re-reads the whole log every run.) */
static long log_size(void) {
  char path[400];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/requests.log", fx.srv.state);
  return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

static void print_log_from(long offset) {
  char path[400], line[4096];
  snprintf(path, sizeof(path), "%s/requests.log", fx.srv.state);
  FILE *f = fopen(path, "r");
  if (f == NULL || fseek(f, offset, SEEK_SET) != 0) {
    if (f) fclose(f);
    return;
  }
  while (fgets(line, sizeof(line), f) != NULL) printf("    server: %s", line);
  fclose(f);
}

static void test_every_allocation_may_fail(void **state) {
  (void)state;
  struct tally t;
  const char *step_env = getenv("GSR_TORTURE_STEP");
  uint64_t step = step_env && atoi(step_env) > 0 ? (uint64_t)atoi(step_env) : 1;
  /* A first run pays the one-time allocations (curl's global state, the
   * handle table); the count is taken on the second. */
  run(0, &t);
  assert_int_equal(t.bad + t.enomem + t.rejected, 0);
  uint64_t n = run(0, &t);
  assert_int_equal(t.bad + t.enomem + t.rejected, 0);
  printf("  the scenario makes %llu allocations (%d calls); failing each\n",
         (unsigned long long)n, t.calls);
  fflush(stdout);
  assert_true(n > 50);

  uint64_t runs = 0, all_ok = 0, bad_runs = 0, missed = 0, first = 1;
  uint64_t rejected_runs = 0, slowest_k = 0;
  double slowest = 0;
  const char *only = getenv("GSR_TORTURE_K"); /* debugging: just this k */
  if (only != NULL && atoi(only) > 0) first = n = (uint64_t)atoi(only);
  time_t t0 = time(NULL);
  for (uint64_t k = first; k <= n; k += step) {
    long log0 = log_size();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t counted = run(k, &t);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) +
                  (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    if (secs > slowest) slowest = secs, slowest_k = k;
    runs++;
    if (counted < k) missed++; /* this run made fewer than k allocations */
    if (t.enomem == 0 && t.bad == 0 && t.rejected == 0) all_ok++;
    if (t.rejected > 0) rejected_runs++;
    if (t.bad > 0) {
      bad_runs++;
      printf("  k=%llu: %s\n", (unsigned long long)k, t.first_bad);
      print_log_from(log0); /* what the server saw in that run */
    }
  }
  printf("  %s: %llu runs in %ld s: %llu without any failure seen, %llu "
         "with fewer than k allocations, %llu where a request curl altered "
         "was rejected, %llu with a status other than GSR_OK/GSR_ENOMEM\n",
         curl_mode ? "gsread and curl allocations" : "gsread allocations",
         (unsigned long long)runs, (long)(time(NULL) - t0),
         (unsigned long long)all_ok, (unsigned long long)missed,
         (unsigned long long)rejected_runs, (unsigned long long)bad_runs);
  printf("  slowest run: k=%llu, %.3f s\n", (unsigned long long)slowest_k,
         slowest);
  /* Afterwards everything still works. */
  run(0, &t);
  assert_int_equal(t.bad + t.enomem + t.rejected, 0);
  assert_int_equal(bad_runs, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_allocation_may_fail),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
