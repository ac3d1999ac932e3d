/* Integration tests of concurrent ranged reads and the adaptive prefetcher
 * against the local GCS server (its random read/seek mixes are
 * test_engine's): what random and sequential readers cost in
 * requests (from the server's log); at most N parts in flight per file;
 * cancellation on hard seek and close; the client's memory budget; errors
 * that surface at the read that needs the bytes, then recover.
 *
 * SPDX-License-Identifier: MIT
 */
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

#define BUCKET "pf-bucket"
#define MiB (1024ull * 1024)
#define OBJ_SIZE (48 * MiB + 12345)

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL}};
static unsigned char *data; /* its bytes */
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 99, .client = 1, .data = &data};

/* A pread of obj checked against its bytes. */
static void check_read(gsr_file f, uint64_t off, size_t len,
                       unsigned char *buf) {
  fx_check_pread(f, &objects[0], off, len, buf);
}

static gsr_file open_pf(gsr_client *c, int concurrency, const char *prefetch,
                        uint64_t min_part) {
  gsr_file_options o;
  gsr_file f;
  gsr_file_options_init(&o);
  o.concurrency = concurrency;
  o.prefetch = prefetch;
  if (min_part) o.min_part_size = min_part;
  int s = gsr_open(c, "gs://" BUCKET "/obj", &o, &f);
  if (s != GSR_OK) fail_msg("open: %s", gsr_errmsg());
  return f;
}

static long log_quiet(void) { return ts_log_quiet(&fx.srv, 60); }

static void test_concurrent_split(void **state) {
  (void)state;
  gsr_file f = open_pf(fx.client, 4, "off", 0);
  unsigned char *buf = malloc(40 * MiB);
  long base = log_quiet();
  check_read(f, 1000, 20 * MiB, buf); /* 4 parts of 5 MiB */
  check_read(f, 0, 9 * MiB, buf);     /* below 2 x 5 MiB: one request */
  check_read(f, 3, 40 * MiB, buf);    /* 4 parts of 10 MiB */
  log_quiet();
  struct ts_media_req q[16];
  int n = ts_media_log(&fx.srv, base, q, 16);
  assert_int_equal(n, 9);
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) sum += q[i].last - q[i].first + 1;
  assert_true(sum == 69 * MiB);
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.requests == 9 && st.bytes_fetched == 69 * MiB);
  assert_true(st.bytes_direct == 69 * MiB && st.bytes_copied == 0);
  gsr_close(f);
  free(buf);
}

static void test_random_reader_costs_one_request_per_read(void **state) {
  (void)state;
  gsr_file f = open_pf(fx.client, 4, "adaptive", 0);
  unsigned char *buf = malloc(MiB);
  long base = log_quiet();
  uint64_t x = 7, delivered = 0;
  for (int i = 0; i < 200; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    /* Even slots only: no read starts where the previous one ended. */
    uint64_t off = ((x >> 11) % (OBJ_SIZE / 131072)) * 131072 + 7;
    check_read(f, off, 65536, buf);
    delivered += off + 65536 <= OBJ_SIZE ? 65536 : OBJ_SIZE - off;
  }
  log_quiet();
  struct ts_media_req q[256];
  int nq = ts_media_log(&fx.srv, base, q, 256);
  if (nq != 200)
    for (int i = 0; i < nq; i++)
      fprintf(stderr, "%d: %llu-%llu sent %llu\n", i,
              (unsigned long long)q[i].first, (unsigned long long)q[i].last,
              (unsigned long long)q[i].sent);
  assert_int_equal(nq, 200);
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.requests == 200);
  assert_true(st.bytes_fetched == delivered); /* no over-fetch */
  assert_true(st.prefetched_unused == 0);
  assert_string_equal(st.plan, "none"); /* nothing fetched ahead */
  gsr_close(f);
  free(buf);
}

static void test_sequential_window_grows_within_n(void **state) {
  (void)state;
  /* Shape the server so requests overlap in time. */
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=5&rate=200m"), 200);
  gsr_file f = open_pf(fx.client, 3, "adaptive", 0);
  unsigned char *buf = malloc(MiB);
  long base = log_quiet();
  uint64_t w_small = 0, w_big = 0;
  for (uint64_t off = 0; off < 40 * MiB; off += 256 * 1024) {
    check_read(f, off, 256 * 1024, buf);
    gsr_file_stats st;
    gsr_file_stats_get(f, &st);
    if (off == 512 * 1024) w_small = st.window;
    w_big = st.window;
  }
  assert_true(w_small > 0 && w_big > w_small); /* the window grew */
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  /* The ramp reached its cap (8 x 12 MiB read > 96 MiB) at width 3. */
  assert_string_equal(st.plan, "full");
  assert_int_equal(st.connections, 3);
  gsr_close(f);
  log_quiet();
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  struct ts_media_req q[512];
  int n = ts_media_log(&fx.srv, base, q, 512);
  assert_true(n > 4);
  /* Never more than N taken and N more waiting beside them. */
  assert_true(ts_media_max_overlap(q, n) <= 2 * 3);
  /* Ranges asked never overlap: no byte is fetched twice. */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      assert_true(q[i].last < q[j].first || q[j].last < q[i].first);
  free(buf);
}

static void test_hard_seek_and_close_cancel(void **state) {
  (void)state;
  /* Slow enough that a prefetched 8 MiB block is still streaming at the
   * seek (the socket buffers absorb at most about 4 MiB of it). */
  assert_int_equal(ts_control(&fx.srv, "config?rate=8m"), 200);
  gsr_file f = open_pf(fx.client, 1, "adaptive", 0);
  unsigned char *buf = malloc(2 * MiB);
  long base = log_quiet();
  check_read(f, 0, 2 * MiB, buf);       /* first two reads: exact; then a */
  check_read(f, 2 * MiB, 2 * MiB, buf); /* window is scheduled */
  check_read(f, 4 * MiB, 2 * MiB, buf);
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.window >= 8 * MiB);
  usleep(300000); /* let the window's request reach the server */
  check_read(f, 30 * MiB, 2 * MiB, buf); /* hard seek: cancels the window */
  check_read(f, 32 * MiB, 2 * MiB, buf);
  check_read(f, 34 * MiB, 2 * MiB, buf); /* a new window here */
  usleep(300000); /* let that window's request reach the server */
  gsr_close(f);   /* cancels it */
  /* nginx logs an aborted response at its next (rate-limited) write. */
  ts_log_quiet(&fx.srv, 1500);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  struct ts_media_req q[64];
  int n = ts_media_log(&fx.srv, base, q, 64);
  int cut_before = 0, cut_after = 0;
  for (int i = 0; i < n; i++) {
    if (getenv("TEST_VERBOSE"))
      fprintf(stderr, "%llu-%llu sent %llu status %d\n",
              (unsigned long long)q[i].first, (unsigned long long)q[i].last,
              (unsigned long long)q[i].sent, q[i].status);
    if (q[i].sent >= q[i].last - q[i].first + 1) continue;
    if (q[i].first < 30 * MiB)
      cut_before++;
    else
      cut_after++;
  }
  assert_true(cut_before >= 1); /* prefetches aborted by the hard seek */
  assert_true(cut_after >= 1);  /* and by close */
  free(buf);
}

struct reader_arg {
  int idx, errors;
};

static gsr_client *budget_client;

static void *budget_reader(void *p) {
  struct reader_arg *a = p;
  gsr_file f;
  gsr_file_options o;
  gsr_file_options_init(&o);
  o.prefetch = "adaptive";
  o.concurrency = 2;
  if (gsr_open(budget_client, "gs://" BUCKET "/obj", &o, &f) != GSR_OK) {
    a->errors++;
    return NULL;
  }
  unsigned char *buf = malloc(256 * 1024);
  uint64_t start = (uint64_t)a->idx * MiB;
  for (uint64_t off = start; off < start + 12 * MiB; off += 256 * 1024) {
    int64_t n = gsr_pread(f, buf, 256 * 1024, (int64_t)off);
    if (n != 256 * 1024 || memcmp(buf, data + off, 256 * 1024) != 0)
      a->errors++;
  }
  gsr_close(f);
  free(buf);
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_memory_budget_16_files(void **state) {
  (void)state;
  gsr_client_options o;
  fx_client_options(&o);
  o.memory_budget = 16 * MiB;
  assert_int_equal(gsr_client_new(&o, &budget_client), GSR_OK);
  struct reader_arg a[16];
  for (int i = 0; i < 16; i++) a[i] = (struct reader_arg){i, 0};
  FX_RUN_THREADS(16, budget_reader, a);
  for (int i = 0; i < 16; i++) assert_int_equal(a[i].errors, 0);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(budget_client, &cs), GSR_OK);
  /* Prefetch stays in the budget; only the bytes reads wait for exceed it. */
  assert_true(cs.peak_buffered <= 16 * MiB + 16 * 256 * 1024);
  assert_true(cs.buffered == 0);
  /* The blocks' buffers were reused from the client's pool, which the
   * budget holds, and which gives them back once idle for 5 s (the I/O
   * threads look once a second). */
  assert_true(cs.pool_hits > cs.pool_misses);
  assert_true(cs.pooled > 0 && cs.pooled <= 16 * MiB);
  uint64_t t0 = now_ns();
  while (cs.pooled > 0 && now_ns() - t0 < 10000000000ull) {
    usleep(100 * 1000);
    assert_int_equal(gsr_client_stats_get(budget_client, &cs), GSR_OK);
  }
  assert_true(cs.pooled == 0);
  assert_true(now_ns() - t0 >= 3000000000ull); /* idle first: not at once */
  gsr_client_free(budget_client);
}

/* gsr_client_set_memory_budget: a smaller budget gives the idle pooled
 * buffers past it back at once, not after 5 s idle; 0 is the default. */
static void test_memory_budget_shrinks(void **state) {
  (void)state;
  gsr_client_options o;
  gsr_client *c;
  fx_client_options(&o);
  o.memory_budget = 32 * MiB;
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  gsr_file f = open_pf(c, 4, "sequential", 0);
  unsigned char *buf = malloc(MiB);
  for (uint64_t off = 0; off + MiB <= 24 * MiB; off += MiB)
    check_read(f, off, MiB, buf);
  gsr_close(f);
  free(buf);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_true(cs.budget == 32 * MiB && cs.buffered == 0);
  if (cs.pooled <= MiB)
    fail_msg("the pool holds %llu bytes: nothing to give back",
             (unsigned long long)cs.pooled);
  assert_int_equal(gsr_client_set_memory_budget(c, MiB), GSR_OK);
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_true(cs.budget == MiB && cs.pooled <= MiB);
  assert_int_equal(gsr_client_set_memory_budget(c, 0), GSR_OK);
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_true(cs.budget == 256 * MiB);
  assert_int_equal(gsr_client_set_memory_budget(NULL, 0), GSR_EINVAL);
  gsr_client_free(c);
}

static void test_failed_prefetch_surfaces_then_recovers(void **state) {
  (void)state;
  gsr_file f = open_pf(fx.client, 2, "adaptive", 0);
  unsigned char *buf = malloc(MiB);
  check_read(f, 0, 512 * 1024, buf);
  check_read(f, 512 * 1024, 512 * 1024, buf); /* window scheduled */
  /* Every request from now fails with 503 until reset. */
  assert_int_equal(
      ts_control(&fx.srv,
                 "config?fault_kind=status&fault_status=503&fault_ratio=1"),
      200);
  int64_t n = 0;
  for (uint64_t off = MiB; off < 40 * MiB && n >= 0; off += 512 * 1024)
    n = gsr_pread(f, buf, 512 * 1024, (int64_t)off);
  assert_true(n < 0);
  assert_non_null(strstr(gsr_errmsg(), "503"));
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  check_read(f, 20 * MiB, 512 * 1024, buf); /* recovers */
  check_read(f, 20 * MiB + 512 * 1024, 512 * 1024, buf);
  gsr_close(f);
  free(buf);
}

static void test_slices_from_prefetch(void **state) {
  (void)state;
  gsr_file f = open_pf(fx.client, 4, "adaptive", 0);
  gsr_slice s[8];
  size_t ns;
  uint64_t pos = 0;
  for (int i = 0; i < 40; i++) {
    int64_t n = gsr_read_slices(f, 300000, s, 8, &ns);
    assert_true(n > 0);
    uint64_t at = pos;
    for (size_t k = 0; k < ns; k++) {
      assert_memory_equal(s[k].data, data + at, s[k].len);
      at += s[k].len;
    }
    assert_true(at - pos == (uint64_t)n);
    pos += (uint64_t)n;
    for (size_t k = 0; k < ns; k++) gsr_slice_release(&s[k]);
  }
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.bytes_referenced > 0 && st.bytes_copied == 0);
  /* A slice outlives its file. */
  assert_true(gsr_read_slices(f, 1000, s, 1, &ns) > 0);
  gsr_close(f);
  assert_memory_equal(s[0].data, data + pos, s[0].len);
  gsr_slice_release(&s[0]);
  gsr_slice_release(&s[0]); /* released twice: harmless */
}

/* "sequential" (the reader's promise) reads ahead with the full window
 * from the first read, and again right after a hard seek; "adaptive"
 * waits for three sequential reads. The I/O cost shows in the request
 * log: bytes asked beyond what the reads needed. */
static void test_sequential_promise_prefetches_at_once(void **state) {
  (void)state;
  const char *modes[] = {"adaptive", "sequential"};
  unsigned char *buf = malloc(MiB);
  for (int m = 0; m < 2; m++) {
    gsr_file_options o;
    gsr_file f;
    gsr_file_options_init(&o);
    o.concurrency = 2;
    o.prefetch = modes[m];
    o.max_prefetch = 8 * MiB;
    assert_int_equal(gsr_open(fx.client, "gs://" BUCKET "/obj", &o, &f),
                     GSR_OK);
    long base = log_quiet();
    check_read(f, 0, MiB, buf);
    gsr_file_stats st;
    assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
    if (m == 0) {
      assert_true(st.window == 0); /* one read is no evidence yet */
    } else {
      assert_true(st.window == 8 * MiB);   /* the whole window, no ramp */
      assert_true(st.peak_buffered > MiB); /* and blocks beyond the read */
    }
    check_read(f, 30 * MiB, MiB, buf); /* a hard seek */
    assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
    gsr_close(f); /* cancels what is left: the log has what was asked */
    log_quiet();
    struct ts_media_req q[64];
    int n = ts_media_log(&fx.srv, base, q, 64);
    uint64_t asked_after_seek = 0;
    for (int i = 0; i < n; i++)
      if (q[i].first >= 30 * MiB)
        asked_after_seek += q[i].last - q[i].first + 1;
    if (m == 0)
      assert_true(asked_after_seek == MiB); /* exactly the read */
    else
      assert_true(asked_after_seek > MiB); /* read ahead again at once */
  }
  free(buf);
}

static void test_environment_defaults(void **state) {
  (void)state;
  gsr_client *c;
  gsr_client_options o;
  fx_client_options(&o);
  setenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING", "true", 1);
  setenv("DEFAULT_GCSFS_CONCURRENCY", "3", 1);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  unsetenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING");
  unsetenv("DEFAULT_GCSFS_CONCURRENCY");
  gsr_file f;
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/obj", NULL, &f), GSR_OK);
  unsigned char *buf = malloc(MiB);
  long base = log_quiet();
  for (uint64_t off = 0; off < 8 * MiB; off += 512 * 1024)
    check_read(f, off, 512 * 1024, buf);
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.window > 0); /* prefetching was on */
  /* gcsfs's concurrency: at most 3 connections (the default is 4). How
   * many requests the ramp takes depends on the link it measured, which
   * a loaded machine slows: not counted here. */
  assert_true(st.connections >= 1 && st.connections <= 3);
  gsr_close(f);
  log_quiet();
  struct ts_media_req q[64];
  assert_true(ts_media_log(&fx.srv, base, q, 64) >= 1);
  gsr_client_free(c);
  /* gsread's own variable, with the sequential promise: a window at the
   * first read already. */
  setenv("GSREAD_PREFETCH", "sequential", 1);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  unsetenv("GSREAD_PREFETCH");
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/obj", NULL, &f), GSR_OK);
  check_read(f, 0, 512 * 1024, buf);
  gsr_file_stats_get(f, &st);
  assert_true(st.window > 512 * 1024);
  gsr_client_free(c);
  free(buf);
}

/* gcsfs 2026.8.0's defaults with nothing set: a file with default options
 * reads through the adaptive prefetcher; one that names a cache, "none"
 * included, does not (unless it asks for prefetch too);
 * $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING=false turns the default off. */
static uint64_t window_of_a_sequential_read(gsr_client *c,
                                            const gsr_file_options *fo,
                                            unsigned char *buf) {
  gsr_file f;
  gsr_file_stats st;
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/obj", fo, &f), GSR_OK);
  for (uint64_t off = 0; off < 8 * MiB; off += 512 * 1024)
    check_read(f, off, 512 * 1024, buf);
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  gsr_close(f);
  return st.window;
}

static void test_gcsfs_defaults_with_nothing_set(void **state) {
  (void)state;
  gsr_client *c;
  gsr_client_options o;
  gsr_file_options fo;
  unsigned char *buf = malloc(512 * 1024);
  assert_non_null(buf);
  fx_client_options(&o);
  assert_null(getenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING"));
  assert_null(getenv("GSREAD_PREFETCH"));
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  assert_true(window_of_a_sequential_read(c, NULL, buf) > 0);
  gsr_file_options_init(&fo);
  assert_true(window_of_a_sequential_read(c, &fo, buf) > 0);
  fo.cache_type = "none";
  assert_true(window_of_a_sequential_read(c, &fo, buf) == 0);
  fo.prefetch = "adaptive";
  assert_true(window_of_a_sequential_read(c, &fo, buf) > 0);
  gsr_client_free(c);
  setenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING", "false", 1);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  unsetenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING");
  assert_true(window_of_a_sequential_read(c, NULL, buf) == 0);
  gsr_client_free(c);
  free(buf);
}

struct trace_log {
  pthread_mutex_t mu;
  int schedule, hard_seek, sequential;
};

static void on_trace(void *arg, const char *line) {
  struct trace_log *t = arg;
  pthread_mutex_lock(&t->mu);
  if (strstr(line, "schedule")) t->schedule++;
  if (strstr(line, "hard seek")) t->hard_seek++;
  if (strstr(line, "sequential")) t->sequential++;
  pthread_mutex_unlock(&t->mu);
}

static void test_debug_trace(void **state) {
  (void)state;
  struct trace_log t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
  gsr_client *c = fx_client_traced(on_trace, &t);
  gsr_file f = open_pf(c, 2, "adaptive", 0);
  unsigned char *buf = malloc(MiB);
  for (uint64_t off = 0; off < 4 * MiB; off += 256 * 1024)
    check_read(f, off, 256 * 1024, buf);
  /* Back before every block held: a hard seek, whatever the window
   * reached (a jump ahead may land inside it: a soft seek). */
  check_read(f, 0, 1000, buf);
  gsr_close(f);
  gsr_client_free(c);
  assert_true(t.sequential >= 10 && t.schedule >= 2 && t.hard_seek == 1);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_split),
      cmocka_unit_test(test_random_reader_costs_one_request_per_read),
      cmocka_unit_test(test_sequential_window_grows_within_n),
      cmocka_unit_test(test_hard_seek_and_close_cancel),
      cmocka_unit_test(test_memory_budget_16_files),
      cmocka_unit_test(test_memory_budget_shrinks),
      cmocka_unit_test(test_failed_prefetch_surfaces_then_recovers),
      cmocka_unit_test(test_slices_from_prefetch),
      cmocka_unit_test(test_sequential_promise_prefetches_at_once),
      cmocka_unit_test(test_environment_defaults),
      cmocka_unit_test(test_gcsfs_defaults_with_nothing_set),
      cmocka_unit_test(test_debug_trace),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
