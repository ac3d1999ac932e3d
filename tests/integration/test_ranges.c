/* Integration tests of vectored reads (gsr_read_ranges) against the local
 * GCS server: byte-exact over thousands of random range sets at every
 * backend (gs, http, file), the server's log against the plan (one
 * request per span, the holes as planned), bad input, EOF, faults mid-span
 * (resumed; a span that keeps failing fails only its ranges), close while
 * in flight, threads, and a million ranges in one call.
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

#define BUCKET "ranges-bucket"
#define MiB (1024u * 1024u)

static struct ts_object objects[] = {
    {"obj", 3 * MiB + 12345, NULL}, {"empty", 0, NULL},
    {"big", 16 * MiB, NULL},        {"many/00", 200000, NULL},
    {"many/01", 200001, NULL},      {"many/02", 200002, NULL},
    {"many/03", 200003, NULL},      {"many/04", 200004, NULL},
    {"many/05", 200005, NULL},      {"many/06", 200006, NULL},
    {"many/07", 200007, NULL},      {"many/08", 200008, NULL},
    {"many/09", 200009, NULL},      {"many/10", 200010, NULL},
    {"many/11", 200011, NULL},      {"many/12", 200012, NULL},
    {"many/13", 200013, NULL},      {"many/14", 200014, NULL},
    {"many/15", 200015, NULL},      {"many/16", 200016, NULL},
    {"many/17", 200017, NULL},      {"many/18", 200018, NULL},
    {"many/19", 200019, NULL},
};
#define N_MANY 20
#define FIRST_MANY 3

static void control_ok(const char *path) {
  int code = ts_control(&fx.srv, path);
  if (code != 200) fail_msg("control %s: HTTP %d", path, code);
}

/* The URL of name at backend k: 0 gs://, 1 http://, 2 file://. */
static void url_of(int k, const char *name, char *out, size_t n) {
  if (k == 0)
    snprintf(out, n, "gs://%s/%s", BUCKET, name);
  else if (k == 1)
    ts_http_url(&fx.srv, BUCKET, name, out, n);
  else
    snprintf(out, n, "file://%s/%s/%s", fx.srv.data, BUCKET, name);
}

static gsr_client *new_client(int attempts) {
  gsr_client_options o;
  fx_client_options(&o);
  o.stall_timeout_ms = 1000;
  o.retry_initial_ms = 10;
  o.retry_max_delay_ms = 50;
  o.retry_max_attempts = attempts;
  return fx_client(&o);
}

const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 16};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  fx.client = new_client(8);
  return 0;
}

static gsr_file open_on(gsr_client *c, const char *url, uint64_t min_part) {
  gsr_file_options fo;
  gsr_file f;
  gsr_file_options_init(&fo);
  if (min_part) fo.min_part_size = min_part;
  int s = gsr_open(c, url, &fo, &f);
  if (s != GSR_OK) fail_msg("open %s: %s", url, gsr_errmsg());
  return f;
}

/* Object name on backend k (url_of), opened on the shared client with
 * default parts. */
static gsr_file open_obj(int k, const char *name) {
  char url[1024];
  url_of(k, name, url, sizeof(url));
  return open_on(fx.client, url, 0);
}

/* Each range holds the object's bytes (delivered: clamped to the end),
 * in its buffer or its slice; releases the slices. */
static void check_ranges(const struct ts_object *o, gsr_range *r, size_t n,
                         const char *what) {
  for (size_t i = 0; i < n; i++) {
    uint64_t off = (uint64_t)r[i].offset;
    uint64_t want = off >= o->size                ? 0
                    : r[i].length < o->size - off ? r[i].length
                                                  : o->size - off;
    if (r[i].status != GSR_OK)
      fail_msg("%s: range %zu: %s", what, i, gsr_status_name(r[i].status));
    if (r[i].delivered != want)
      fail_msg("%s: range %zu (%llu+%llu): delivered %llu, want %llu", what, i,
               (unsigned long long)off, (unsigned long long)r[i].length,
               (unsigned long long)r[i].delivered, (unsigned long long)want);
    const unsigned char *got = r[i].buf ? r[i].buf : r[i].slice.data;
    if (r[i].buf == NULL) {
      assert_int_equal(r[i].slice.len, want);
      assert_true((want == 0) == (r[i].slice.owner == NULL));
    }
    if (want > 0 && memcmp(got, o->data + off, want) != 0)
      fail_msg("%s: range %zu (%llu+%llu): wrong bytes", what, i,
               (unsigned long long)off, (unsigned long long)want);
    gsr_slice_release(&r[i].slice);
  }
}

static uint64_t rnd(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 17;
}

/* Random range sets: clustered offsets (so holes, overlaps and duplicates
 * are common), lengths up to 300 KiB, a few straddling or past the end,
 * some empty; half into buffers, half by reference; random limits. Two
 * files per backend: default parts, and 64 KiB parts (spans split over
 * connections, part boundaries cutting segments and holes). */
static void random_sets(int backend, int sets) {
  struct ts_object *o = fx_object("obj");
  char url[1024];
  url_of(backend, o->name, url, sizeof(url));
  gsr_file files[2] = {open_on(fx.client, url, 0),
                       open_on(fx.client, url, 64 * 1024)};
  uint64_t x = 77 + (uint64_t)backend;
  unsigned char *pool = malloc(64 * 300 * 1024);
  for (int set = 0; set < sets; set++) {
    gsr_range r[64];
    size_t n = 1 + rnd(&x) % 64;
    uint64_t base = rnd(&x) % o->size, spread = 1 + rnd(&x) % (2 * MiB);
    for (size_t i = 0; i < n; i++) {
      memset(&r[i], 0, sizeof(r[i]));
      uint64_t off = (base + rnd(&x) % spread) % (o->size + 1000);
      uint64_t len = rnd(&x) % 5 == 0 ? rnd(&x) % 300000 : rnd(&x) % 20000;
      if (rnd(&x) % 13 == 0) len = 0;
      if (i > 0 && rnd(&x) % 6 == 0) off = (uint64_t)r[i - 1].offset;
      r[i].offset = (int64_t)off;
      r[i].length = len;
      r[i].buf = rnd(&x) % 2 ? pool + i * 300 * 1024 : NULL;
    }
    gsr_ranges_options ro;
    gsr_ranges_stats st;
    gsr_ranges_options_init(&ro);
    ro.stats = &st;
    switch (rnd(&x) % 4) {
    case 0:
      ro.hole_limit = 0;
      break;
    case 1:
      ro.hole_limit = (int64_t)(rnd(&x) % (512 * 1024));
      break;
    default:
      break; /* the cost model */
    }
    if (rnd(&x) % 3 == 0) ro.span_limit = 1 + rnd(&x) % (1 * MiB);
    if (rnd(&x) % 3 == 0) ro.concurrency = 1 + (int)(rnd(&x) % 8);
    gsr_file f = files[set % 2];
    int s = gsr_read_ranges(f, r, n, &ro);
    if (s != GSR_OK) fail_msg("set %d: %s", set, gsr_errmsg());
    char what[64];
    snprintf(what, sizeof(what), "backend %d set %d", backend, set);
    check_ranges(o, r, n, what);
    assert_int_equal(st.ranges, n);
    assert_int_equal(st.failed, 0);
    assert_true(st.spans <= n && st.requests >= st.spans);
    assert_true(st.hole_bytes <= st.bytes_fetched);
    if (backend == 2) assert_int_equal(st.hole_bytes, 0); /* preads skip */
  }
  free(pool);
  gsr_close(files[0]);
  gsr_close(files[1]);
}

static void test_random_gs(void **state) {
  (void)state;
  random_sets(0, 1000);
}
static void test_random_http(void **state) {
  (void)state;
  random_sets(1, 1000);
}
static void test_random_file(void **state) {
  (void)state;
  random_sets(2, 1000);
}

/* Waits until the log stopped growing; its length. */
static long log_now(void) { return ts_log_quiet(&fx.srv, 50); }

/* The server's log: one request per span, each exactly the span's bytes
 * (holes included), the holes' bytes counted as waste. */
static void test_log_matches_plan(void **state) {
  (void)state;
  struct ts_object *o = fx_object("obj");
  char url[1024];
  url_of(0, o->name, url, sizeof(url));
  gsr_file f = open_on(fx.client, url, 0);
  static unsigned char buf[5][1000];
  /* Spans at hole limit 100: [0, 250) (hole 50), [10000, 10100) with a
   * duplicate, [20000, 21000) from two overlapping ranges. */
  gsr_range r[] = {
      {.offset = 20500, .length = 500, .buf = buf[0]},
      {.offset = 0, .length = 100, .buf = buf[1]},
      {.offset = 10000, .length = 100, .buf = NULL},
      {.offset = 150, .length = 100, .buf = buf[2]},
      {.offset = 10000, .length = 100, .buf = buf[3]},
      {.offset = 20000, .length = 1000, .buf = buf[4]},
  };
  gsr_ranges_options ro;
  gsr_ranges_stats st;
  gsr_ranges_options_init(&ro);
  ro.hole_limit = 100;
  ro.concurrency = 1; /* the log then lists the spans in order */
  ro.stats = &st;
  long before = log_now();
  assert_int_equal(gsr_read_ranges(f, r, 6, &ro), GSR_OK);
  check_ranges(o, r, 6, "plan");
  assert_int_equal(st.spans, 3);
  assert_int_equal(st.requests, 3);
  assert_int_equal(st.hole_bytes, 50);
  assert_int_equal(st.bytes_fetched, 250 + 100 + 1000);
  assert_int_equal(st.bytes_delivered, 100 + 100 + 100 + 100 + 500 + 1000);
  assert_int_equal(st.hole_limit, 100);
  struct ts_media_req m[8];
  long after = log_now();
  assert_int_equal(after - before, 3);
  assert_int_equal(ts_media_log(&fx.srv, before, m, 8), 3);
  uint64_t want[3][2] = {{0, 249}, {10000, 10099}, {20000, 20999}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(m[i].first, want[i][0]);
    assert_int_equal(m[i].last, want[i][1]);
    assert_int_equal(m[i].sent, want[i][1] - want[i][0] + 1);
  }
  /* Hole limit 0: every run its own request. */
  ro.hole_limit = 0;
  before = log_now();
  assert_int_equal(gsr_read_ranges(f, r, 6, &ro), GSR_OK);
  check_ranges(o, r, 6, "no holes");
  assert_int_equal(st.spans, 4);
  assert_int_equal(st.hole_bytes, 0);
  assert_int_equal(log_now() - before, 4);
  /* The cost model, measured on this link by now: its limit is reported,
   * and the log still shows one request per span. */
  ro.hole_limit = -1;
  before = log_now();
  assert_int_equal(gsr_read_ranges(f, r, 6, &ro), GSR_OK);
  check_ranges(o, r, 6, "cost model");
  assert_true(st.hole_limit > 0);
  assert_int_equal(log_now() - before, (long)st.requests);
  /* A span of 8 MiB with 1 MiB parts: one request per part. */
  url_of(0, "big", url, sizeof(url));
  gsr_file g = open_on(fx.client, url, 1 * MiB);
  gsr_range big = {.offset = 0, .length = 8 * MiB, .buf = NULL};
  ro.concurrency = 4;
  before = log_now();
  assert_int_equal(gsr_read_ranges(g, &big, 1, &ro), GSR_OK);
  check_ranges(fx_object("big"), &big, 1, "parts");
  assert_int_equal(st.spans, 1);
  assert_int_equal(st.requests, 4);
  assert_int_equal(log_now() - before, 4);
  gsr_close(g);
  gsr_close(f);
}

/* The width of n spans before anything is measured: one per span, within
 * the client's default pool (max_connections). */
static int widest(int n) {
  gsr_client_options o;
  gsr_client_options_init(&o);
  return n < o.max_connections ? n : o.max_connections;
}

/* Bad input: GSR_EINVAL naming the range, nothing read; EOF and empty
 * ranges; n 0; a closed handle. */
/* 64 ranges 256 KiB apart, never joined: 64 spans. At its defaults the
 * call keeps as many requests in flight as the pool has (64), not the
 * file's 4, and the server sees them at once; a concurrency the caller set
 * (the file's, here) still wins. */
static void test_width_from_plan(void **state) {
  (void)state;
  enum { N = 64 };
  struct ts_object *o = fx_object("big");
  char url[1024];
  url_of(0, o->name, url, sizeof(url));
  gsr_client *c = new_client(4); /* nothing measured yet */
  static unsigned char buf[N][1000];
  gsr_range r[N];
  for (int round = 0; round < 2; round++) {
    gsr_file_options fo;
    gsr_file f;
    gsr_file_options_init(&fo);
    if (round == 1) fo.concurrency = 3;
    if (gsr_open(c, url, &fo, &f) != GSR_OK) fail_msg("%s", gsr_errmsg());
    for (int i = 0; i < N; i++)
      r[i] = (gsr_range){
          .offset = (int64_t)i * 256 * 1024 + 7, .length = 1000, .buf = buf[i]};
    gsr_ranges_options ro;
    gsr_ranges_stats st;
    gsr_ranges_options_init(&ro);
    ro.hole_limit = 0;
    ro.stats = &st;
    control_ok("config?ttfb_ms=150");
    long base = log_now();
    assert_int_equal(gsr_read_ranges(f, r, N, &ro), GSR_OK);
    long end = log_now();
    control_ok("reset");
    check_ranges(o, r, N, "width");
    assert_int_equal(st.spans, N);
    struct ts_media_req q[2 * N];
    int n = ts_media_log(&fx.srv, base, q, 2 * N);
    assert_int_equal(n, (int)(end - base));
    int most = ts_media_max_overlap(q, n);
    if (round == 0 &&
        (st.concurrency != widest(N) || most < st.concurrency * 3 / 4))
      fail_msg("defaults: width %d, at most %d requests at once",
               st.concurrency, most);
    if (round == 1 && (st.concurrency != 3 || most > 3))
      fail_msg("concurrency 3: width %d, at most %d requests at once",
               st.concurrency, most);
    gsr_close(f);
  }
  gsr_client_free(c);
}

static void test_bad_input_and_eof(void **state) {
  (void)state;
  struct ts_object *o = fx_object("obj");
  gsr_file f = open_obj(0, o->name);
  unsigned char b[16];
  gsr_range r[3] = {{.offset = 0, .length = 10, .buf = b},
                    {.offset = 5, .length = 5, .buf = NULL},
                    {.offset = -1, .length = 5, .buf = b}};
  long before = log_now();
  assert_int_equal(gsr_read_ranges(f, r, 3, NULL), GSR_EINVAL);
  assert_non_null(strstr(gsr_errmsg(), "range 2"));
  for (int i = 0; i < 3; i++) assert_int_equal(r[i].status, GSR_EINVAL);
  r[2].offset = INT64_MAX - 2;
  r[2].length = 3;
  assert_int_equal(gsr_read_ranges(f, r, 3, NULL), GSR_EINVAL);
  assert_non_null(strstr(gsr_errmsg(), "range 2"));
  assert_int_equal(gsr_read_ranges(f, NULL, 1, NULL), GSR_EINVAL);
  gsr_ranges_options ro;
  gsr_ranges_options_init(&ro);
  ro.concurrency = 1000;
  r[2].length = 0;
  assert_int_equal(gsr_read_ranges(f, r, 3, &ro), GSR_EINVAL);
  assert_non_null(strstr(gsr_errmsg(), "concurrency"));
  ro.concurrency = 0;
  ro.hole_limit = -2;
  assert_int_equal(gsr_read_ranges(f, r, 3, &ro), GSR_EINVAL);
  assert_int_equal(log_now(), before); /* nothing was read */
  /* n 0, empty ranges, at and past the end, straddling it. */
  assert_int_equal(gsr_read_ranges(f, NULL, 0, NULL), GSR_OK);
  gsr_range e[4] = {{.offset = 100, .length = 0, .buf = NULL},
                    {.offset = (int64_t)o->size, .length = 10, .buf = b},
                    {.offset = INT64_MAX - 10, .length = 10, .buf = NULL},
                    {.offset = (int64_t)o->size - 3, .length = 10, .buf = b}};
  gsr_ranges_stats st;
  ro.hole_limit = -1;
  ro.stats = &st;
  assert_int_equal(gsr_read_ranges(f, e, 4, &ro), GSR_OK);
  check_ranges(o, e, 4, "eof");
  assert_int_equal(st.spans, 1);
  assert_int_equal(st.bytes_delivered, 3);
  assert_int_equal(log_now(), before + 1);
  /* An empty object: no request at all. */
  char eurl[1024];
  url_of(0, "empty", eurl, sizeof(eurl));
  gsr_file g = open_on(fx.client, eurl, 0);
  before = log_now();
  e[3].offset = 0;
  assert_int_equal(gsr_read_ranges(g, e, 4, NULL), GSR_OK);
  check_ranges(fx_object("empty"), e, 4, "empty object");
  assert_int_equal(log_now(), before);
  gsr_close(g);
  gsr_close(f);
  assert_int_equal(gsr_read_ranges(f, e, 1, NULL), GSR_ECLOSED);
  assert_int_equal(e[0].status, GSR_ECLOSED);
}

/* A body cut mid-span resumes after its last byte, into the right
 * ranges; a span whose every attempt fails fails only its ranges. */
static void test_faults_mid_span(void **state) {
  (void)state;
  struct ts_object *o = fx_object("obj");
  char url[1024];
  url_of(0, o->name, url, sizeof(url));
  gsr_client *c = new_client(2); /* for the 503s: two attempts */
  gsr_file f = open_on(fx.client, url, 0), g = open_on(c, url, 0);
  static unsigned char buf[40][4096];
  gsr_range r[40];
  for (int i = 0; i < 40; i++) /* 4 spans of 10 ranges with holes */
    r[i] = (gsr_range){.offset = (int64_t)((i / 10) * MiB + (i % 10) * 6000),
                       .length = 4096,
                       .buf = i % 3 ? buf[i] : NULL};
  gsr_ranges_options ro;
  gsr_ranges_stats st;
  gsr_ranges_options_init(&ro);
  ro.hole_limit = 4096;
  ro.concurrency = 1;
  ro.stats = &st;
  gsr_client_stats cs0, cs1;
  gsr_client_stats_get(fx.client, &cs0);
  control_ok("config?fault_kind=cut&fault_next=3&cut_at=5000");
  assert_int_equal(gsr_read_ranges(f, r, 40, &ro), GSR_OK);
  check_ranges(o, r, 40, "cut");
  assert_int_equal(st.spans, 4);
  gsr_client_stats_get(fx.client, &cs1);
  assert_int_equal(cs1.resumes - cs0.resumes, 3);
  /* Two 503s for the first span: its two attempts fail, it alone. */
  control_ok("reset");
  control_ok("config?fault_status=503&fault_next=2");
  int s = gsr_read_ranges(g, r, 40, &ro);
  assert_int_equal(s, GSR_ENETWORK);
  assert_non_null(strstr(gsr_errmsg(), "range 0 "));
  assert_int_equal(st.failed, 10);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(r[i].status, i < 10 ? GSR_ENETWORK : GSR_OK);
    if (i < 10) {
      assert_int_equal(r[i].delivered, 0);
      assert_null(r[i].slice.owner);
    }
  }
  check_ranges(o, r + 10, 30, "after a failed span");
  control_ok("reset");
  gsr_close(f);
  gsr_close(g);
  gsr_client_free(c);
}

struct closer {
  gsr_file f;
  gsr_range *r;
  size_t n;
  int status;
  double seconds;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *read_thread(void *arg) {
  struct closer *c = arg;
  double t0 = now_s();
  c->status = gsr_read_ranges(c->f, c->r, c->n, NULL);
  c->seconds = now_s() - t0;
  return NULL;
}

/* Close while spans are in flight on a slow link: the call ends at once,
 * its ranges failed, nothing leaked (LSan, valgrind). */
static void test_close_cancels(void **state) {
  (void)state;
  gsr_file f = open_obj(0, "big");
  /* 16 ranges of 512 KiB, 1 MiB apart: separate spans whatever the
   * measured hole limit, each far more than one sendfile chunk (512k,
   * sent before the rate's first pause), so each takes seconds. */
  gsr_range r[64];
  static unsigned char buf[32][512 * 1024];
  for (int i = 0; i < 16; i++)
    r[i] = (gsr_range){.offset = (int64_t)i * 1024 * 1024 + 1,
                       .length = 512 * 1024,
                       .buf = i % 2 ? buf[i / 2] : NULL};
  for (int i = 16; i < 64; i++) r[i] = (gsr_range){.offset = 0};
  control_ok("config?rate=64k");
  struct closer c = {f, r, 16, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, read_thread, &c);
  usleep(300 * 1000);
  assert_int_equal(gsr_close(f), GSR_OK);
  pthread_join(t, NULL);
  control_ok("reset");
  if (c.status != GSR_ECANCELED && c.status != GSR_ECLOSED)
    fail_msg("status %d (%s)", c.status, gsr_status_name(c.status));
  assert_true(c.seconds < 5);
  for (int i = 0; i < 64; i++) gsr_slice_release(&r[i].slice);
}

struct worker {
  gsr_file f;
  int seed;
  int failures;
};

static void *worker(void *arg) {
  struct worker *w = arg;
  struct ts_object *o = fx_object("obj");
  uint64_t x = (uint64_t)w->seed;
  for (int k = 0; k < 30; k++) {
    gsr_range r[16];
    for (int i = 0; i < 16; i++)
      r[i] = (gsr_range){.offset = (int64_t)(rnd(&x) % o->size),
                         .length = rnd(&x) % 50000,
                         .buf = NULL};
    if (gsr_read_ranges(w->f, r, 16, NULL) != GSR_OK) w->failures++;
    for (int i = 0; i < 16; i++) {
      uint64_t off = (uint64_t)r[i].offset;
      uint64_t want = GSR_OK == r[i].status && off < o->size
                          ? (r[i].length < o->size - off ? r[i].length
                                                         : o->size - off)
                          : 0;
      if (r[i].delivered != want ||
          (want && memcmp(r[i].slice.data, o->data + off, want) != 0))
        w->failures++;
      gsr_slice_release(&r[i].slice);
    }
  }
  return NULL;
}

/* Eight threads on one file at once (thread-safe like gsr_pread). */
static void test_threads(void **state) {
  (void)state;
  gsr_file f = open_obj(0, "obj");
  struct worker w[8];
  for (int i = 0; i < 8; i++) w[i] = (struct worker){f, i + 1, 0};
  FX_RUN_THREADS(8, worker, w);
  for (int i = 0; i < 8; i++) assert_int_equal(w[i].failures, 0);
  gsr_close(f);
}

/* gsr_read_ranges_files: 20 objects x 5 ranges, interleaved across the
 * files, in one call. Every range gets its object's bytes; each file's
 * ranges are planned apart (5 spans each: 100 requests, the server's
 * count); the spans of all files share one width (the pool's, not a
 * file's 4), seen at once by the server. A closed handle and one of
 * another client fail their own ranges only, and the call's status is the
 * first failure in the caller's order. */
static void test_many_files(void **state) {
  (void)state;
  enum { PER = 5, N = N_MANY * PER };
  gsr_client *c = new_client(4), *other = new_client(4);
  gsr_file fs[N_MANY];
  char url[1024];
  for (int k = 0; k < N_MANY; k++) {
    url_of(0, objects[FIRST_MANY + k].name, url, sizeof(url));
    fs[k] = open_on(c, url, 0);
  }
  static unsigned char buf[N + 2][3000];
  gsr_file ids[N + 2];
  gsr_range r[N + 2];
  for (int i = 0; i < N; i++) { /* range i: file i % 20, part i / 20 */
    int k = i % N_MANY, part = i / N_MANY;
    ids[i] = fs[k];
    r[i] = (gsr_range){.offset = part * 40000 + k,
                       .length = 3000,
                       .buf = part == 2 ? NULL : buf[i]};
  }
  gsr_ranges_options ro;
  gsr_ranges_stats st;
  gsr_ranges_options_init(&ro);
  ro.hole_limit = 0;
  ro.stats = &st;
  control_ok("config?ttfb_ms=150");
  long base = log_now();
  assert_int_equal(gsr_read_ranges_files(ids, r, N, &ro), GSR_OK);
  long end = log_now();
  control_ok("reset");
  for (int i = 0; i < N; i++)
    check_ranges(&objects[FIRST_MANY + i % N_MANY], &r[i], 1, "many files");
  assert_int_equal(st.ranges, N);
  assert_int_equal(st.spans, N);
  assert_int_equal(st.failed, 0);
  assert_int_equal(st.bytes_delivered, (uint64_t)N * 3000);
  assert_int_equal(end - base, N); /* one request per span */
  struct ts_media_req q[2 * N];
  int n = ts_media_log(&fx.srv, base, q, 2 * N);
  int most = ts_media_max_overlap(q, n);
  if (st.concurrency != widest(N) || most < st.concurrency * 3 / 4)
    fail_msg("20 files: width %d, at most %d requests at once", st.concurrency,
             most);

  /* A closed handle (range 1) and another client's file (range N + 1). */
  url_of(0, "obj", url, sizeof(url));
  gsr_file closed = open_on(c, url, 0), foreign = open_on(other, url, 0);
  gsr_close(closed);
  ids[1] = closed;
  ids[N] = fs[0];
  r[N] = (gsr_range){.offset = 5, .length = 3000, .buf = buf[N]};
  ids[N + 1] = foreign;
  r[N + 1] = (gsr_range){.offset = 0, .length = 3000, .buf = buf[N + 1]};
  int status = gsr_read_ranges_files(ids, r, N + 2, &ro);
  assert_true(status == GSR_ECLOSED || status == GSR_EBADF);
  assert_non_null(strstr(gsr_errmsg(), "range 1"));
  assert_int_equal(r[1].status, status);
  assert_int_equal(r[N + 1].status, GSR_EINVAL);
  assert_int_equal(st.failed, 2);
  assert_int_equal(st.ranges, N + 2);
  for (int i = 0; i < N + 1; i++)
    if (i != 1)
      check_ranges(&objects[FIRST_MANY + (i == N ? 0 : i % N_MANY)], &r[i], 1,
                   "beside a closed handle");
  /* Bad arguments. */
  assert_int_equal(gsr_read_ranges_files(NULL, r, 1, NULL), GSR_EINVAL);
  assert_int_equal(gsr_read_ranges_files(ids, r, 0, NULL), GSR_OK);
  gsr_close(foreign);
  for (int k = 0; k < N_MANY; k++) gsr_close(fs[k]);
  gsr_client_free(other);
  gsr_client_free(c);
}

/* A million ranges in one call: 8 bytes every 16, by gs:// (one span's
 * scatter list of two million segments, holes dropped by the I/O thread)
 * and by file:// (preads). */
static void test_million(void **state) {
  (void)state;
  struct ts_object *o = fx_object("big");
  size_t n = 1000000;
  gsr_range *r = calloc(n, sizeof(*r));
  unsigned char *buf = malloc(n * 8);
  assert_true(r != NULL && buf != NULL);
  for (int k = 0; k < 3; k += 2) {
    gsr_file f = open_obj(k, o->name);
    for (size_t i = 0; i < n; i++) { /* backwards, every 100th by reference */
      size_t j = n - 1 - i;
      r[i] = (gsr_range){.offset = (int64_t)(j * 16),
                         .length = 8,
                         .buf = i % 100 ? buf + j * 8 : NULL};
    }
    gsr_ranges_options ro;
    gsr_ranges_stats st;
    gsr_ranges_options_init(&ro);
    ro.stats = &st;
    double t0 = now_s();
    int s = gsr_read_ranges(f, r, n, &ro);
    if (s != GSR_OK) fail_msg("million: %s", gsr_errmsg());
    print_message("million ranges (%s): %.2f s, %llu spans, %llu requests\n",
                  k ? "file" : "gs", now_s() - t0, (unsigned long long)st.spans,
                  (unsigned long long)st.requests);
    check_ranges(o, r, n, "million");
    assert_int_equal(st.bytes_delivered, n * 8);
    if (k == 0) assert_int_equal(st.hole_bytes, n * 8 - 8);
    gsr_close(f);
  }
  free(buf);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_matches_plan),
      cmocka_unit_test(test_width_from_plan),
      cmocka_unit_test(test_bad_input_and_eof),
      cmocka_unit_test(test_random_gs),
      cmocka_unit_test(test_random_http),
      cmocka_unit_test(test_random_file),
      cmocka_unit_test(test_faults_mid_span),
      cmocka_unit_test(test_close_cancels),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_many_files),
      cmocka_unit_test(test_million),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
