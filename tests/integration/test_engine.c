/* Integration tests of the sequential engine (src/prefetch/) with readers
 * that promised to be sequential (prefetch "sequential"), against the
 * local GCS server: exact bytes for whole reads in odd pieces, copied and
 * as slices, with the server's log tiling the object; a slow reader holds
 * at most the window and is never taken for a stall; soft seeks keep
 * blocks, hard seeks and close cancel them (the server's log shows them
 * cut short); a body cut short, or stalled, resumes where it broke, also
 * past the retry budget; the whole-object CRC32C passes and catches a
 * corrupted byte; byte-exact random read/seek mixes at widths 1, 4, 16
 * and automatic, and with prefetch "adaptive" at 1, 4 and 16 (the one
 * random-mix test of the library); the automatic width steps up on a link
 * capped per connection and is remembered per server (in the client, and in a
 * plans file); an explicit width is obeyed; the memory budget holds with 16
 * files read at once.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define BUCKET "engine-bucket"
#define MiB (1024ull * 1024)
#define OBJ_SIZE (40 * MiB + 4321)
/* The object the automatic width is measured on: long enough for its
 * steps at 4, 6 and 8 connections (each 2 x width + 1 blocks). */
#define WIDE_SIZE (160 * MiB + 99)
/* Its window: blocks of 1.6, 1.1 and 0.9 MiB at widths 4, 6 and 8. */
#define WIDE_WINDOW (32 * MiB)

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL},
                                     {"wide", WIDE_SIZE, NULL}};
static unsigned char *data, *wide; /* their bytes */
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 77, .client = 1, .data = &data};

static int setup(void **state) {
  (void)state;
  /* The automatic width is chosen only when the environment names none. */
  unsetenv("GSREAD_CONCURRENCY");
  unsetenv("DEFAULT_GCSFS_CONCURRENCY");
  if (fx_setup(&fx_spec) != 0) return -1;
  wide = objects[1].data;
  return 0;
}

/* The engine's width decisions from the debug trace: "width N (a start:
 * ...)", "... (chosen before for this server)", "... (trying)",
 * "... (chosen)". */
struct widths {
  pthread_mutex_t mu;
  char text[4096];
};

static void on_trace(void *arg, const char *line) {
  struct widths *w = arg;
  const char *at = strstr(line, "engine ");
  if (at == NULL || strstr(line, "schedule ") != NULL ||
      strstr(line, "width ") == NULL)
    return;
  pthread_mutex_lock(&w->mu);
  size_t used = strlen(w->text);
  snprintf(w->text + used, sizeof(w->text) - used, "%s\n", at);
  pthread_mutex_unlock(&w->mu);
}

/* A client of the test server; 0 (or NULL) leaves an option at its
 * default. */
static gsr_client *client_of(long stall_timeout_ms, long retry_initial_ms,
                             struct widths *trace, const char *plans_file) {
  gsr_client_options o;
  fx_client_options(&o);
  o.plans_file = plans_file;
  /* The pool these tests' widths were chosen for: the engine tries widths
   * up to half of it (8). */
  o.max_connections = 16;
  if (stall_timeout_ms) o.stall_timeout_ms = stall_timeout_ms;
  if (retry_initial_ms) o.retry_initial_ms = retry_initial_ms;
  if (trace) {
    o.trace = on_trace;
    o.trace_arg = trace;
  }
  return fx_client(&o);
}

static gsr_client *new_client(long stall_timeout_ms, long retry_initial_ms) {
  return client_of(stall_timeout_ms, retry_initial_ms, NULL, NULL);
}

/* A reader of name in prefetch mode `mode` at this width (0: automatic),
 * cap (0: the default) and reorder_bytes. */
static gsr_file open_mode(gsr_client *c, const char *name, const char *mode,
                          int concurrency, uint64_t max_prefetch,
                          uint64_t reorder) {
  gsr_file_options o;
  gsr_file f;
  char url[256];
  gsr_file_options_init(&o);
  o.concurrency = concurrency;
  o.prefetch = mode;
  o.max_prefetch = max_prefetch;
  o.reorder_bytes = reorder;
  snprintf(url, sizeof(url), "gs://" BUCKET "/%s", name);
  if (gsr_open(c, url, &o, &f) != GSR_OK) fail_msg("open: %s", gsr_errmsg());
  return f;
}

/* A promised reader of name at this width (0: automatic) and cap (0: the
 * default). */
static gsr_file open_seq(gsr_client *c, const char *name, int concurrency,
                         uint64_t max_prefetch) {
  return open_mode(c, name, "sequential", concurrency, max_prefetch, 0);
}

static gsr_file open_obj(gsr_client *c, int concurrency,
                         uint64_t max_prefetch) {
  return open_seq(c, "obj", concurrency, max_prefetch);
}

static long log_quiet(void) { return ts_log_quiet(&fx.srv, 100); }

static gsr_file_stats stats_of(gsr_file f) {
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  return st;
}

/* A pread of obj checked against its bytes. */
static void check_pread(gsr_file f, uint64_t off, size_t len,
                        unsigned char *buf) {
  fx_check_pread(f, &objects[0], off, len, buf);
}

/* Reads f (an object whose bytes are obj[0, size)) from its position to
 * the end, `piece` bytes at a time, copied or as slices, comparing every
 * byte; returns the last result (0 at the end, or the failure). */
static int64_t read_all(gsr_file f, const unsigned char *obj, uint64_t size,
                        size_t piece, int slices) {
  unsigned char *buf = malloc(piece);
  int64_t n = 1, pos = gsr_tell(f);
  while (n > 0) {
    if (slices) {
      gsr_slice s[16];
      size_t ns = 0;
      n = gsr_read_slices(f, piece, s, 16, &ns);
      int64_t at = pos;
      for (size_t i = 0; i < ns; i++) {
        if (memcmp(s[i].data, obj + at, s[i].len) != 0)
          fail_msg("wrong slice bytes at %lld", (long long)at);
        at += (int64_t)s[i].len;
        gsr_slice_release(&s[i]);
      }
    } else {
      n = gsr_read(f, buf, piece);
      if (n > 0 && memcmp(buf, obj + pos, (size_t)n) != 0)
        fail_msg("wrong bytes at %lld+%lld", (long long)pos, (long long)n);
    }
    if (n > 0) pos += n;
  }
  if (n == 0 && pos != (int64_t)size)
    fail_msg("ended at %lld of %llu", (long long)pos, (unsigned long long)size);
  free(buf);
  return n;
}

static int64_t read_to_end(gsr_file f, size_t piece, int slices) {
  return read_all(f, data, OBJ_SIZE, piece, slices);
}

static int by_first(const void *a, const void *b) {
  const struct ts_media_req *x = a, *y = b;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* The server's media requests since base tile [0, size) (each byte asked
 * once, in order of offset) and each was sent whole. Returns how many. */
static int expect_tiled(long base, uint64_t size) {
  struct ts_media_req q[256];
  log_quiet();
  int n = ts_media_log(&fx.srv, base, q, 256);
  assert_true(n > 0 && n < 256);
  qsort(q, (size_t)n, sizeof(q[0]), by_first);
  fx_check_tiling(q, n, 0, size);
  return n;
}

/* A whole read, in pieces that cut the blocks anywhere, copied and as
 * slices: every byte delivered once, every byte fetched once (the
 * server's log tiles the object), within the window, at full width. */
static void test_whole_reads(void **state) {
  (void)state;
  const size_t pieces[] = {777777, 16 * MiB, 4096};
  for (size_t p = 0; p < 3; p++)
    for (int slices = 0; slices < 2; slices++) {
      long base = log_quiet();
      gsr_file f = open_obj(fx.client, 4, 16 * MiB);
      assert_int_equal(read_to_end(f, pieces[p], slices), 0);
      gsr_file_stats st = stats_of(f);
      gsr_close(f);
      assert_int_equal(st.bytes_fetched, OBJ_SIZE);
      assert_int_equal(st.bytes_delivered, OBJ_SIZE);
      assert_int_equal(st.prefetched_unused, 0);
      assert_string_equal(st.plan, "full");
      assert_int_equal(st.connections, 4);
      /* The window (raised to 2 x a read larger than half of it). */
      uint64_t window = 16 * MiB > 2 * pieces[p] ? 16 * MiB : 2 * pieces[p];
      if (st.peak_buffered > window)
        fail_msg("piece %zu: peak %llu, window %llu", pieces[p],
                 (unsigned long long)st.peak_buffered,
                 (unsigned long long)window);
      int n = expect_tiled(base, OBJ_SIZE);
      assert_int_equal(st.requests, (uint64_t)n);
    }
}

/* A reader slower than the network: the window fills and waits for it
 * (nothing past it is fetched), no request is left half done while the
 * reader sleeps longer than the stall timeout, so none is taken for a
 * stall: no retry, every request sent whole. */
static void test_slow_reader_holds_the_window(void **state) {
  (void)state;
  gsr_client *c = new_client(300, 0);
  long base = log_quiet();
  gsr_file f = open_obj(c, 4, MiB);
  unsigned char *buf = malloc(MiB);
  uint64_t off = 0;
  for (int i = 0; i < 3; i++) {
    check_pread(f, off, 64 * 1024, buf);
    off += 64 * 1024;
    usleep(700 * 1000);
    gsr_file_stats st = stats_of(f);
    assert_int_equal(st.window, MiB);
    /* What it fetched ahead is at most the window past what it read. */
    assert_true(st.bytes_fetched <= off + MiB);
  }
  assert_int_equal(gsr_seek(f, (int64_t)off, GSR_SEEK_SET), (int64_t)off);
  assert_int_equal(read_to_end(f, 300000, 0), 0);
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  assert_true(st.peak_buffered <= MiB);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_int_equal(cs.retries, 0);
  gsr_client_free(c);
  expect_tiled(base, OBJ_SIZE);
  free(buf);
}

/* A soft seek (forward or back inside what is scheduled) keeps the
 * blocks: no request starts at it. A hard seek cancels the blocks in
 * flight, and close cancels what is left: each request made to wait for
 * its first byte (ttfb_ms) and cancelled meanwhile sent far less than it
 * asked. A 12 MiB window keeps the three runs' requests apart: A in
 * [0, 16 MiB), C in [16 MiB, 30 MiB), B after. */
static void test_seeks(void **state) {
  (void)state;
  gsr_client *c = new_client(0, 0);
  gsr_file f = open_obj(c, 2, 12 * MiB);
  long base = log_quiet();
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=400"), 200);
  unsigned char *buf = malloc(MiB);
  check_pread(f, 0, MiB, buf);                /* run A, at 0 */
  check_pread(f, MiB + 300000, MiB, buf);     /* soft seek forward */
  check_pread(f, 2 * MiB + 100000, 100, buf); /* soft seek back */
  /* Before each cancel, a pause: the requests that went out when the
   * run's first blocks landed are on the wire by then, waiting. */
  usleep(150 * 1000);
  check_pread(f, 30 * MiB + 5, MiB, buf); /* hard seek: run B */
  check_pread(f, 31 * MiB + 5, MiB, buf);
  usleep(150 * 1000);
  check_pread(f, 16 * MiB + 7, 4096, buf); /* hard seek back: run C */
  usleep(150 * 1000);
  gsr_file_stats st = stats_of(f);
  gsr_close(f); /* cancels C's blocks */
  gsr_client_free(c);
  free(buf);
  ts_log_quiet(&fx.srv, 900); /* the cancelled ones end after their wait */
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_true(st.prefetched_unused > 0);
  struct ts_media_req q[64];
  int n = ts_media_log(&fx.srv, base, q, 64);
  int starts[3] = {0, 0, 0}, cancelled[3] = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    uint64_t first = q[i].first, len = q[i].last - q[i].first + 1;
    if (first == MiB + 300000 || first == 2 * MiB + 100000)
      fail_msg("a soft seek started a request at %llu",
               (unsigned long long)first);
    int run = first < 16 * MiB ? 0 : first >= 30 * MiB ? 1 : 2;
    starts[run] += first == 0 || first == 30 * MiB + 5 || first == 16 * MiB + 7;
    if (q[i].sent < len / 2) cancelled[run]++;
  }
  for (int run = 0; run < 3; run++) {
    assert_int_equal(starts[run], 1); /* each run's first block, once */
    if (cancelled[run] < 1) {
      for (int i = 0; i < n; i++)
        printf("  %llu-%llu sent %llu, %.3f-%.3f\n",
               (unsigned long long)q[i].first, (unsigned long long)q[i].last,
               (unsigned long long)q[i].sent, q[i].start, q[i].end);
      fail_msg("run %d: nothing cancelled (%d requests)", run, n);
    }
  }
}

/* The kinds of reads the debug trace names ("read at N: soft seek
 * forward", ...). */
struct kinds {
  pthread_mutex_t mu;
  int soft, hard;
};

static void count_kinds(void *arg, const char *line) {
  struct kinds *k = arg;
  pthread_mutex_lock(&k->mu);
  k->soft += strstr(line, ": soft seek") != NULL;
  k->hard += strstr(line, ": hard seek") != NULL;
  pthread_mutex_unlock(&k->mu);
}

/* Soft seeks forward over blocks still landing, with the smallest blocks
 * (a 1 MiB window at width 4: 256 KiB blocks, the whole window
 * scheduled after each read): every one is soft, the
 * skipped bytes are counted, nothing is fetched twice. */
static void test_soft_seeks_over_small_blocks(void **state) {
  (void)state;
  struct kinds k = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
  gsr_client *c = fx_client_traced(count_kinds, &k);
  long base = log_quiet();
  gsr_file f = open_obj(c, 4, MiB);
  unsigned char *buf = malloc(MiB);
  uint64_t off = 0;
  for (int i = 0; i < 60 && off < OBJ_SIZE; i++) {
    check_pread(f, off, 1000, buf);
    off += 1000 + (uint64_t)(i % 3) * 100000; /* forward, inside the window */
  }
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  if (k.soft != 39 || k.hard != 0) /* every read after a skip */
    fail_msg("%d soft seeks, %d hard ones; want 39 soft", k.soft, k.hard);
  log_quiet();
  struct ts_media_req q[256];
  int n = ts_media_log(&fx.srv, base, q, 256);
  assert_true(n > 0 && n < 256);
  qsort(q, (size_t)n, sizeof(q[0]), by_first);
  for (int i = 1; i < n; i++) /* soft seeks: no byte asked twice */
    assert_true(q[i].first > q[i - 1].last);
  assert_true(st.prefetched_unused > 0); /* skipped bytes are counted */
}

/* Reads that arrive out of order (reorder_bytes): what the trace says
 * of each read. */
struct order {
  pthread_mutex_t mu;
  int hard, kept, server;
};

static void count_order(void *arg, const char *line) {
  struct order *k = arg;
  pthread_mutex_lock(&k->mu);
  k->hard += strstr(line, ": hard seek") != NULL;
  k->kept += strstr(line, "behind, from the blocks kept behind") != NULL;
  k->server += strstr(line, "behind, from the server") != NULL;
  pthread_mutex_unlock(&k->mu);
}

/* A sequential reader's reads, then one behind it (and its run) by
 * `back`, then the run goes on; returns the trace's counts. */
static struct order read_out_of_order(uint64_t reorder, long *base) {
  struct order k = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
  gsr_client *c = fx_client_traced(count_order, &k);
  gsr_file f = open_mode(c, "obj", "sequential", 4, 8 * MiB, reorder);
  *base = log_quiet();
  unsigned char *buf = malloc(MiB);
  for (uint64_t off = 0; off < 10 * MiB; off += MiB)
    check_pread(f, off, MiB, buf);
  check_pread(f, 8 * MiB + 5, 1000, buf);  /* behind: in blocks passed */
  check_pread(f, 10 * MiB, MiB, buf);      /* the run goes on */
  check_pread(f, 20 * MiB, MiB, buf);      /* a hard seek: a new run */
  check_pread(f, 19 * MiB + 7, 4096, buf); /* behind it: never fetched */
  check_pread(f, 21 * MiB, MiB, buf);      /* the run goes on */
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  return k;
}

/* reorder_bytes: a read a little behind the run is served from the blocks
 * the reader passed (no request), or fetched exactly (one request of its
 * bytes) where none holds it, and the run goes on: no hard seek but the
 * one asked for, no byte past the first run's start fetched twice. Without
 * it, each read behind is a seek that starts a new run. */
static void test_reads_out_of_order(void **state) {
  (void)state;
  long base;
  struct order k = read_out_of_order(3 * MiB, &base);
  log_quiet();
  struct ts_media_req q[128];
  int n = ts_media_log(&fx.srv, base, q, 128);
  assert_true(n > 0 && n < 128);
  int exact = 0;
  for (int i = 0; i < n; i++) {
    if (q[i].first == 8 * MiB + 5)
      fail_msg("the read behind the run was fetched again");
    exact += q[i].first == 19 * MiB + 7 && q[i].last == 19 * MiB + 7 + 4095;
  }
  if (k.hard != 1 || k.kept != 1 || k.server != 1 || exact != 1)
    fail_msg("hard seeks %d (want 1), kept %d (1), server %d (1), exact "
             "requests %d (1)",
             k.hard, k.kept, k.server, exact);
  /* Without: both reads behind are hard seeks (the runs they start
   * schedule what comes next, so the reads after them are soft). */
  k = read_out_of_order(0, &base);
  if (k.hard != 3 || k.kept != 0 || k.server != 0)
    fail_msg(
        "without reorder_bytes: hard seeks %d (want 3), kept %d, server %d",
        k.hard, k.kept, k.server);
}

/* A read of the whole rest of the object (gsr__read_skips_cache) after a
 * sequential start takes what the blocks already hold and fetches only
 * the rest: no byte of the object is fetched twice (it went past the
 * prefetcher and fetched again what its blocks held). */
static void test_whole_rest_after_a_start(void **state) {
  (void)state;
  gsr_client *c = new_client(0, 0);
  gsr_file f = open_seq(c, "obj", 4, 8 * MiB); /* a window of 8 MiB */
  unsigned char *buf = malloc(OBJ_SIZE);
  assert_non_null(buf);
  for (int i = 0; i < 3; i++)
    assert_int_equal(gsr_read(f, buf + (size_t)i * MiB, MiB), (int64_t)MiB);
  /* Blocks ahead of the reader landed (the window tops up only at a read:
   * wait for some, not for all of it). */
  for (int i = 0; i < 10000 && stats_of(f).bytes_fetched < 4 * MiB; i++)
    usleep(1000);
  assert_true(stats_of(f).bytes_fetched >= 4 * MiB);
  int64_t n = gsr_read(f, buf + 3 * MiB, OBJ_SIZE);
  assert_int_equal(n, (int64_t)(OBJ_SIZE - 3 * MiB));
  assert_memory_equal(buf, data, OBJ_SIZE);
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  if (st.bytes_fetched > OBJ_SIZE || st.bytes_direct == 0)
    fail_msg("fetched %llu of %llu bytes, %llu direct",
             (unsigned long long)st.bytes_fetched, (unsigned long long)OBJ_SIZE,
             (unsigned long long)st.bytes_direct);
  /* An adaptive reader whose window still ramps (a few MiB after three
   * reads of 64 KiB) and the rest within its cap (96 MiB): the rest lands
   * in the caller's buffer (one copy), not in blocks first (two). */
  c = new_client(0, 0);
  f = open_mode(c, "obj", "adaptive", 4, 0, 0);
  buf = malloc(OBJ_SIZE);
  assert_non_null(buf);
  const size_t k = 64 * 1024;
  for (int i = 0; i < 3; i++)
    assert_int_equal(gsr_read(f, buf + (size_t)i * k, k), (int64_t)k);
  n = gsr_read(f, buf + 3 * k, OBJ_SIZE);
  assert_int_equal(n, (int64_t)(OBJ_SIZE - 3 * k));
  assert_memory_equal(buf, data, OBJ_SIZE);
  st = stats_of(f);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  if (st.bytes_fetched > OBJ_SIZE || st.bytes_direct < 16 * MiB ||
      cs.peak_buffered >= 36 * MiB)
    fail_msg("adaptive: fetched %llu of %llu bytes, %llu direct, %llu held "
             "at most",
             (unsigned long long)st.bytes_fetched, (unsigned long long)OBJ_SIZE,
             (unsigned long long)st.bytes_direct,
             (unsigned long long)cs.peak_buffered);
}

/* reorder_bytes smaller than the blocks: the block the reader passed is
 * kept all the same (the blocks covering the last reorder_bytes), and a
 * read behind that straddles it and the block ahead is served from both,
 * with no request and no seek. */
static void test_reads_behind_across_blocks(void **state) {
  (void)state;
  struct order k = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
  gsr_client *c = fx_client_traced(count_order, &k);
  /* A window of 32 MiB: blocks of about 3 MiB. */
  gsr_file f = open_mode(c, "obj", "sequential", 4, 32 * MiB, MiB);
  long base = log_quiet();
  unsigned char *buf = malloc(MiB);
  check_pread(f, 0, MiB, buf);
  log_quiet();
  struct ts_media_req q[64];
  int n = ts_media_log(&fx.srv, base, q, 64);
  assert_true(n > 1 && n < 64);
  qsort(q, (size_t)n, sizeof(q[0]), by_first);
  uint64_t b = 0; /* a block's start past 4 MiB, its predecessor > 1 MiB */
  for (int i = 1; i < n && b == 0; i++)
    if (q[i].first > 4 * MiB && q[i - 1].last - q[i - 1].first + 1 > MiB)
      b = (uint64_t)q[i].first;
  if (b == 0) fail_msg("no block boundary past 4 MiB in %d requests", n);
  for (uint64_t off = MiB, len; off < b + MiB / 2; off += len) {
    len = b + MiB / 2 - off < MiB ? b + MiB / 2 - off : MiB;
    check_pread(f, off, len, buf);
  }
  long mid = log_quiet();
  check_pread(f, b - 4096, 8192, buf); /* behind, across the boundary */
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  log_quiet();
  n = ts_media_log(&fx.srv, mid, q, 64);
  for (int i = 0; i < n; i++)
    if ((uint64_t)q[i].first <= b && (uint64_t)q[i].last >= b - 4096)
      fail_msg("the read behind was fetched again: %lld-%lld",
               (long long)q[i].first, (long long)q[i].last);
  if (k.kept != 1 || k.server != 0 || k.hard != 0)
    fail_msg("kept %d (want 1), server %d (0), hard seeks %d (0)", k.kept,
             k.server, k.hard);
}

/* A block's body cut short is resumed from the byte where it broke, to
 * the block's end: the server saw the block asked, cut, and its rest
 * asked once. */
static void test_cut_body_resumes(void **state) {
  (void)state;
  gsr_file f = open_obj(fx.client, 1, 0);
  long base = log_quiet();
  /* The first block (the first read's 8 MiB) is cut. */
  assert_int_equal(
      ts_control(&fx.srv, "config?fault_kind=cut&cut_at=3000001&fault_next=1"),
      200);
  assert_int_equal(read_to_end(f, 8 * MiB, 0), 0);
  gsr_close(f);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  log_quiet();
  struct ts_media_req q[16];
  int n = ts_media_log(&fx.srv, base, q, 16);
  assert_true(n >= 3 && n < 16); /* the cut block, its rest, the others */
  qsort(q, (size_t)n, sizeof(q[0]), by_first);
  assert_int_equal(q[0].first, 0);
  assert_int_equal(q[0].sent, 3000001);
  assert_true(q[0].last > 3000001);
  assert_int_equal(q[1].first, 3000001);
  assert_int_equal(q[1].last, q[0].last); /* the rest of the same block */
  assert_int_equal(q[1].sent, q[1].last - q[1].first + 1);
  fx_check_tiling(q + 2, n - 2, q[1].last + 1, OBJ_SIZE);
}

/* A block whose body stops mid-way (the reader waiting for it) is aborted
 * by the stall watchdog and resumed where it stopped. */
static void test_stalled_body_resumes(void **state) {
  (void)state;
  gsr_client *c = new_client(400, 0);
  gsr_file f = open_obj(c, 1, 0);
  long base = log_quiet();
  assert_int_equal(
      ts_control(
          &fx.srv,
          "config?fault_kind=stall&stall_ms=3000&cut_at=5000000&fault_next=1"),
      200);
  int64_t n = read_to_end(f, 8 * MiB, 0); /* the first block stalls */
  if (n != 0) fail_msg("read: %lld (%s)", (long long)n, gsr_errmsg());
  gsr_close(f);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_true(cs.retries >= 1 && cs.resumes >= 1);
  gsr_client_free(c);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  ts_log_quiet(&fx.srv, 3500); /* the stalled response ends on the server */
  struct ts_media_req q[16];
  int k = ts_media_log(&fx.srv, base, q, 16);
  int resumed = 0;
  for (int i = 0; i < k; i++) resumed += q[i].first == 5000000;
  assert_int_equal(resumed, 1);
}

/* A block whose body breaks again and again, making progress each time,
 * is resumed every time: the retry budget (8 attempts) counts breaks
 * without progress, not a long block's whole life. A block of about
 * 32 MiB cut every 3000000 bytes is 12 requests. */
static void test_resumes_past_the_retry_budget(void **state) {
  (void)state;
  gsr_client *c = new_client(0, 5);
  gsr_file f = open_obj(c, 1, 128 * MiB); /* blocks of about 32 MiB */
  long base = log_quiet();
  assert_int_equal(
      ts_control(&fx.srv, "config?fault_kind=cut&cut_at=3000000&fault_ratio=1"),
      200);
  int64_t n = read_to_end(f, MiB, 0);
  gsr_close(f);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  if (n != 0) fail_msg("read: %lld (%s)", (long long)n, gsr_errmsg());
  gsr_client_free(c);
  log_quiet();
  struct ts_media_req q[64];
  int k = ts_media_log(&fx.srv, base, q, 64);
  assert_true(k < 64);
  qsort(q, (size_t)k, sizeof(q[0]), by_first);
  int of_first_block = 0;
  uint64_t next = 0, first_end = q[0].last; /* the first block's */
  for (int i = 0; i < k; i++) {
    uint64_t len = q[i].last - q[i].first + 1;
    assert_int_equal(q[i].first, next); /* each resumes where one broke */
    assert_int_equal(q[i].sent, len < 3000000 ? len : 3000000);
    next = q[i].first + q[i].sent;
    of_first_block += q[i].last == first_end;
  }
  assert_int_equal(next, OBJ_SIZE);
  assert_true(first_end + 1 > 16 * MiB); /* a block far past the budget */
  assert_int_equal(of_first_block, (int)((first_end + 1 + 2999999) / 3000000));
}

/* The whole-object CRC32C over blocks, read in pieces that cut them
 * anywhere: intact passes, a byte corrupted late fails. */
static void test_whole_object_crc32c(void **state) {
  (void)state;
  for (int corrupt = 0; corrupt < 2; corrupt++) {
    if (corrupt)
      assert_int_equal(
          ts_corrupt_in_place(&fx.srv, BUCKET, "obj", (long)OBJ_SIZE - 99999),
          0);
    for (int slices = 0; slices < 2; slices++) {
      gsr_file f = open_obj(fx.client, 4, 0);
      unsigned char *buf = malloc(MiB);
      int64_t n = 1;
      while (n > 0) {
        if (slices) {
          gsr_slice s[16];
          size_t ns = 0;
          n = gsr_read_slices(f, 777777, s, 16, &ns);
          for (size_t i = 0; i < ns; i++) gsr_slice_release(&s[i]);
        } else {
          n = gsr_read(f, buf, 777777);
        }
      }
      if (corrupt ? n != GSR_EINTEGRITY : n != 0)
        fail_msg("%s, %s object: %lld (%s)", slices ? "slices" : "copy",
                 corrupt ? "corrupt" : "intact", (long long)n, gsr_errmsg());
      free(buf);
      gsr_close(f);
    }
  }
  assert_int_equal(ts_put(&fx.srv, BUCKET, "obj", data, OBJ_SIZE), 0);
}

/* A reader that breaks its promise (random seeks and sizes, positional
 * and at the file's position, copied and as slices, zero-length and past
 * the end) still gets exact bytes, at every width: 1, 4, 16 and automatic
 * (a fresh client, so that it starts from nothing remembered). The same
 * mix with prefetch "adaptive" (parts of 1 MiB) at 1, 4 and 16. */
static void random_mix(const char *prefetch, int concurrency, uint64_t seed) {
  gsr_client *c = new_client(0, 0);
  gsr_file_options o;
  gsr_file f;
  gsr_file_options_init(&o);
  o.concurrency = concurrency;
  o.prefetch = prefetch;
  if (strcmp(prefetch, "sequential") == 0)
    o.max_prefetch = 8 * MiB;
  else
    o.min_part_size = 1 * MiB;
  if (gsr_open(c, "gs://" BUCKET "/obj", &o, &f) != GSR_OK)
    fail_msg("open: %s", gsr_errmsg());
  unsigned char *buf = malloc(4 * MiB);
  uint64_t rng = seed, off = 0;
  for (int i = 0; i < 300; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    unsigned r = (unsigned)(rng >> 33);
    size_t len = 1 + r % (3 * MiB);
    if (r % 13 == 12) { /* a pread of nothing, or past the end */
      check_pread(f, r % 2 ? off : OBJ_SIZE + r % 5000, r % 2 ? 0 : len, buf);
      continue;
    }
    if (r % 11 == 0)
      off = r % (OBJ_SIZE + 1000); /* jump */
    else if (r % 11 == 1)
      off += r % (2 * MiB); /* skip ahead */
    else if (r % 11 == 2 && off > 100000)
      off -= r % 100000;                /* step back */
    if (off > OBJ_SIZE) off = OBJ_SIZE; /* a seek there is fine, past not */
    if (r % 3 == 0) {
      check_pread(f, off, len, buf);
    } else {
      assert_int_equal(gsr_seek(f, (int64_t)off, GSR_SEEK_SET), (int64_t)off);
      size_t want = len < OBJ_SIZE - off ? len : OBJ_SIZE - off;
      if (r % 3 == 1) {
        int64_t n = gsr_read(f, buf, len);
        if (n != (int64_t)want || memcmp(buf, data + off, want) != 0)
          fail_msg("read %llu+%zu: %lld (%s)", (unsigned long long)off, len,
                   (long long)n, gsr_errmsg());
      } else {
        gsr_slice s[8];
        size_t ns = 0;
        int64_t n = gsr_read_slices(f, len, s, 8, &ns), at = (int64_t)off;
        if (n < 0 || (n == 0 && want != 0) || (uint64_t)n > want)
          fail_msg("slices %llu+%zu: %lld (%s)", (unsigned long long)off, len,
                   (long long)n, gsr_errmsg());
        for (size_t k = 0; k < ns; k++) {
          if (memcmp(s[k].data, data + at, s[k].len) != 0)
            fail_msg("wrong slice bytes at %lld", (long long)at);
          at += (int64_t)s[k].len;
          gsr_slice_release(&s[k]);
        }
        assert_int_equal(at, (int64_t)off + n);
        len = (size_t)n; /* fewer if the slice array filled */
      }
    }
    off += len;
    if (off > OBJ_SIZE) off = r % OBJ_SIZE;
  }
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  gsr_client_free(c);
  if (strcmp(prefetch, "sequential") == 0 && concurrency > 0 &&
      st.connections != 0 && st.connections != concurrency)
    fail_msg("width %d, asked %d", st.connections, concurrency);
  free(buf);
}

/* The mixes: prefetch, width and seed, each a test of its own. */
struct mix {
  const char *prefetch;
  int concurrency;
  uint64_t seed;
};
static const struct mix mixes[] = {
    {"sequential", 1, 11}, {"sequential", 4, 12}, {"sequential", 16, 13},
    {"sequential", 0, 14}, {"adaptive", 1, 1},    {"adaptive", 4, 2},
    {"adaptive", 16, 3},
};
static void test_random_mix(void **state) {
  const struct mix *m = *state;
  random_mix(m->prefetch, m->concurrency, m->seed);
}
#define MIX_TEST(name, i) \
  { name, test_random_mix, NULL, NULL, (void *)&mixes[i] }

static void *seq_reader(void *arg) {
  int concurrency = (int)(intptr_t)arg;
  gsr_file f = open_obj(fx.client, concurrency, 4 * MiB);
  int64_t n = read_to_end(f, 1000000, concurrency % 2);
  gsr_close(f);
  return (void *)(intptr_t)(n == 0);
}

/* Eight files read by eight threads at once over one I/O thread, at
 * widths 1 to 4 and automatic. */
static void test_threads(void **state) {
  (void)state;
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, seq_reader, (void *)(intptr_t)(i % 5));
  for (int i = 0; i < 8; i++) {
    void *ok;
    pthread_join(t[i], &ok);
    assert_true(ok != NULL);
  }
}

/* Connections capped per connection (GCS caps them too): the client is
 * not the bound at 8 connections. No first-byte wait: nginx's pacing
 * counts the wait as time to catch up on, and a small block would then
 * come at once, whatever the cap. ThreadSanitizer slows the client to
 * where it would be the bound, so lower there. */
#if defined(__SANITIZE_THREAD__)
#define CAPPED "config?rate=5m"
#else
#define CAPPED "config?rate=16m"
#endif

/* Reads the wide object to its end; returns its stats. */
static gsr_file_stats read_wide(gsr_client *c, int concurrency) {
  gsr_file f = open_seq(c, "wide", concurrency, WIDE_WINDOW);
  assert_int_equal(read_all(f, wide, WIDE_SIZE, MiB, 1), 0);
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  return st;
}

/* Reads the first 8 MiB of obj at the automatic width; returns its
 * stats. */
static gsr_file_stats read_head(gsr_client *c) {
  gsr_file f = open_obj(c, 0, 8 * MiB);
  unsigned char *buf = malloc(MiB);
  for (uint64_t off = 0; off < 8 * MiB; off += MiB)
    check_pread(f, off, MiB, buf);
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  free(buf);
  return st;
}

/* The width in a trace line "width N (why)" for why, or -1. */
static int traced_width(const char *text, const char *why) {
  char pat[64];
  snprintf(pat, sizeof(pat), " (%s)", why);
  for (const char *at = strstr(text, pat); at != NULL;
       at = strstr(at + 1, pat)) {
    const char *w = at;
    while (w > text && w[-1] != ' ') w--; /* back to the number */
    if (w - text >= 6 && strncmp(w - 6, "width ", 6) == 0) return atoi(w);
  }
  return -1;
}

static void read_text(const char *path, char *out, size_t n) {
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  size_t k = fread(out, 1, n - 1, fp);
  out[k] = '\0';
  fclose(fp);
}

/* The automatic width on a link capped per connection: from 4, it steps
 * up (each pair of connections pays) and settles above 4; the client's
 * next file of the server starts at the width chosen, and so does a fresh
 * client that reads the plans file the first one wrote ("gsread-plans 2",
 * then "ORIGIN WIDTH SECONDS"). */
static void test_auto_width_steps_up_and_is_remembered(void **state) {
  (void)state;
  char path[600], text[1024], want[300];
  snprintf(path, sizeof(path), "%s/plans-auto/gsread/plans", fx.srv.root);
  struct widths t = {PTHREAD_MUTEX_INITIALIZER, ""};
  gsr_client *c = client_of(0, 0, &t, path);
  assert_int_equal(ts_control(&fx.srv, CAPPED), 200);
  gsr_file_stats st = read_wide(c, 0);
  int chosen = traced_width(t.text, "chosen");
  if (st.connections <= 4 || chosen <= 4 ||
      traced_width(t.text, "a start: chosen by measurement") != 4)
    fail_msg("connections %d, chosen %d; trace:\n%s", st.connections, chosen,
             t.text);
  assert_int_equal(st.connections, chosen);
  /* The client's next file of this server: no measuring, the width. */
  t.text[0] = '\0';
  st = read_head(c);
  assert_int_equal(st.connections, chosen);
  assert_int_equal(traced_width(t.text, "chosen before for this server"),
                   chosen);
  if (strstr(t.text, "(trying)") != NULL)
    fail_msg("measured again:\n%s", t.text);
  gsr_client_free(c); /* writes the file, making its directories */
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  read_text(path, text, sizeof(text));
  snprintf(want, sizeof(want), "gsread-plans 2\n%s %d ", fx.srv.endpoint,
           chosen);
  if (strncmp(text, want, strlen(want)) != 0) fail_msg("plans file:\n%s", text);
  long long when = strtoll(text + strlen(want), NULL, 10);
  assert_true(when <= (long long)time(NULL) &&
              when > (long long)time(NULL) - 60);
  /* A fresh client (the next gsread process) starts with it. */
  t.text[0] = '\0';
  c = client_of(0, 0, &t, path);
  st = read_head(c);
  gsr_client_free(c);
  assert_int_equal(st.connections, chosen);
  assert_int_equal(traced_width(t.text, "chosen before for this server"),
                   chosen);
}

/* An adaptive reader (no promise: the mount's, Python's) with no width
 * asked for measures one too, once its run filled the window: on the
 * capped link it steps above 4, and its first reads, while it ramps, are
 * not at a width it measures. A random reader never starts measuring. */
static void test_adaptive_reader_measures_its_width(void **state) {
  (void)state;
  struct widths t = {PTHREAD_MUTEX_INITIALIZER, ""};
  gsr_client *c = client_of(0, 0, &t, NULL);
  assert_int_equal(ts_control(&fx.srv, CAPPED), 200);
  /* 5 MiB in 1 MiB reads at the default cap (96 MiB): reads 3 to 5 read
   * ahead, the window still ramping (16 x the run). */
  gsr_file f = open_mode(c, "obj", "adaptive", 0, 0, 0);
  unsigned char *buf = malloc(MiB);
  assert_non_null(buf);
  for (uint64_t off = 0; off < 5 * MiB; off += MiB)
    check_pread(f, off, MiB, buf);
  assert_true(stats_of(f).bytes_fetched > 5 * MiB); /* it read ahead */
  gsr_close(f);
  if (t.text[0] != '\0') fail_msg("measuring while it ramps:\n%s", t.text);
  f = open_mode(c, "wide", "adaptive", 0, WIDE_WINDOW, 0);
  assert_int_equal(read_all(f, wide, WIDE_SIZE, MiB, 1), 0);
  gsr_file_stats st = stats_of(f);
  gsr_close(f);
  gsr_client_free(c);
  int chosen = traced_width(t.text, "chosen");
  if (st.connections <= 4 || chosen <= 4 ||
      traced_width(t.text, "a start: chosen by measurement") != 4)
    fail_msg("connections %d, chosen %d; trace:\n%s", st.connections, chosen,
             t.text);
  /* Random 1 MiB reads: exact, no width measured (a fresh client). */
  t.text[0] = '\0';
  c = client_of(0, 0, &t, NULL);
  f = open_mode(c, "obj", "adaptive", 0, 0, 0);
  uint64_t x = 12345;
  for (int i = 0; i < 12; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    check_pread(f, (x >> 20) % (OBJ_SIZE / MiB - 1) * MiB, MiB, buf);
  }
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  if (t.text[0] != '\0') fail_msg("a random reader measured:\n%s", t.text);
}

/* A plans file is taken when fresh and of this version: a width from it
 * is used as is; one too old or from the future, a file of the old
 * version ("gsread-plans 1", a plan name per line) or not a plans file is
 * ignored: the width is measured from 4 again, nothing fails. */
static void test_plans_file(void **state) {
  (void)state;
  char path[600], line[600];
  snprintf(path, sizeof(path), "%s/plans-file", fx.srv.root);
  const long long now = (long long)time(NULL);
  struct {
    const char *fmt;
    long long when;
    int width; /* the width the reader starts at */
  } cases[] = {
      {"gsread-plans 2\n%s 6 %lld\n", now, 6},
      {"gsread-plans 2\n%s 10 %lld\n", now - 60, 10},
      {"gsread-plans 2\n%s 6 %lld\n", now - 700, 4},  /* past 10 minutes */
      {"gsread-plans 2\n%s 6 %lld\n", now + 3600, 4}, /* the future */
      {"gsread-plans 1\n%s blocks %lld\n", now, 4},   /* the old format */
      {"not a plans file\n%s 6 %lld\n", now, 4},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(line, sizeof(line), cases[i].fmt, fx.srv.endpoint, cases[i].when);
    fx_write_file(path, line);
    struct widths t = {PTHREAD_MUTEX_INITIALIZER, ""};
    gsr_client *c = client_of(0, 0, &t, path);
    gsr_file_stats st = read_head(c);
    gsr_client_free(c);
    int remembered = traced_width(t.text, "chosen before for this server");
    if (cases[i].width == 4
            ? remembered != -1 ||
                  traced_width(t.text, "a start: chosen by measurement") != 4
            : remembered != cases[i].width)
      fail_msg("case %zu (%s): trace:\n%s", i, line, t.text);
    if (cases[i].width != 4) assert_int_equal(st.connections, cases[i].width);
  }
}

/* The largest number of the requests q[0..n) that were open at once
 * (from their start and end on the server, ms). A request whose last
 * byte the client has is done for the engine a little before the server
 * logs its end: 5 ms of it are not counted. */
static int most_open(const struct ts_media_req *q, int n) {
  int most = 0;
  for (int i = 0; i < n; i++) {
    int open = 0;
    for (int j = 0; j < n; j++)
      open += q[j].start <= q[i].start && q[i].start < q[j].end - 0.005;
    most = open > most ? open : most;
  }
  return most;
}

/* An explicit width is obeyed on the same capped link, where more would
 * pay: nothing measured, the width it asked for, at most 2 x width
 * requests open at once on the server and at least width. So is one
 * from $GSREAD_CONCURRENCY, read by the client. */
static void test_explicit_width_is_obeyed(void **state) {
  (void)state;
  for (int env = 0; env < 2; env++) {
    struct widths t = {PTHREAD_MUTEX_INITIALIZER, ""};
    if (env) setenv("GSREAD_CONCURRENCY", "3", 1);
    gsr_client *c = client_of(0, 0, &t, NULL);
    unsetenv("GSREAD_CONCURRENCY");
    int width = env ? 3 : 6;
    long base = log_quiet();
    assert_int_equal(ts_control(&fx.srv, CAPPED), 200);
    gsr_file_stats st = read_wide(c, env ? 0 : width);
    gsr_client_free(c);
    assert_int_equal(ts_control(&fx.srv, "reset"), 200);
    assert_int_equal(st.connections, width);
    if (strstr(t.text, "(trying)") != NULL ||
        strstr(t.text, "(chosen") != NULL || strstr(t.text, "(a start") != NULL)
      fail_msg("width %d measured:\n%s", width, t.text);
    log_quiet();
    struct ts_media_req q[256];
    int n = ts_media_log(&fx.srv, base, q, 256);
    assert_true(n > 2 * width && n < 256);
    int most = most_open(q, n);
    if (most < width || most > 2 * width)
      fail_msg("width %d: %d requests open at once", width, most);
  }
}

/* A block scheduled ahead, for no read, whose request fails (a 503 and no
 * retries) is not the reads' failure: the read that comes to its bytes
 * fetches them again, and every read returns its bytes. The fault hits
 * the first request past offset 0: the first read's fill schedules the
 * block for the read at 0 and, at width 4, three blocks ahead at once. */
static void test_failed_block_ahead_is_fetched_again(void **state) {
  (void)state;
  gsr_client_options o;
  fx_client_options(&o);
  o.retry_max_attempts = 1;
  gsr_client *c = fx_client(&o);
  gsr_file f = open_obj(c, 4, 4 * MiB);
  assert_int_equal(ts_control(&fx.srv,
                              "config?fault_kind=status&fault_status=503&"
                              "fault_from=1&fault_next=1"),
                   200);
  unsigned char *buf = malloc(256 * 1024);
  for (uint64_t off = 0; off < 12 * MiB; off += 256 * 1024) {
    int64_t n = gsr_read(f, buf, 256 * 1024);
    if (n != 256 * 1024)
      fail_msg("read at %llu: %s", (unsigned long long)off, gsr_errmsg());
    assert_memory_equal(buf, data + off, 256 * 1024);
  }
  char stats[4096];
  assert_int_equal(ts_control_body(&fx.srv, "stats", stats, sizeof(stats)),
                   200);
  assert_int_equal(ts_stats_get(stats, "faults_total"), 1); /* it failed */
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  free(buf);
  gsr_close(f);
  gsr_client_free(c);
}

/* A small read, then one far larger than the budget, on a promised
 * reader (a Python f.read() of the rest): the large one goes straight
 * into the caller's buffer, after what the blocks already hold of it, and
 * the bytes held stay within the budget (the engine held about the read's
 * size again: a window of twice it, blocks a read waits for past the
 * budget). */
/* The trace's word on reads too large for the engine: how many, and the
 * most bytes one took from blocks first. */
static atomic_int past_engine;
static atomic_ullong past_from_blocks;

static void on_past_engine(void *arg, const char *line) {
  (void)arg;
  const char *at = strstr(line, "too large for the engine: ");
  if (at == NULL) return;
  unsigned long long n = strtoull(at + strlen("too large for the engine: "),
                                  NULL, 10);
  atomic_fetch_add(&past_engine, 1);
  if (n > atomic_load(&past_from_blocks)) atomic_store(&past_from_blocks, n);
}

static void huge_read_within_budget(uint64_t max_prefetch) {
  gsr_client_options o;
  gsr_client *c;
  gsr_client_stats cs;
  fx_client_options(&o);
  o.memory_budget = 8 * MiB;
  o.trace = on_past_engine;
  atomic_store(&past_engine, 0);
  atomic_store(&past_from_blocks, 0);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  gsr_file f = open_obj(c, 4, max_prefetch);
  size_t big = 32 * MiB;
  unsigned char *buf = malloc(big);
  assert_int_equal(gsr_read(f, buf, 64 * 1024), 64 * 1024);
  assert_memory_equal(buf, data, 64 * 1024);
  if (gsr_read(f, buf, big) != (int64_t)big) fail_msg("%s", gsr_errmsg());
  assert_memory_equal(buf, data + 64 * 1024, big);
  uint64_t rest = OBJ_SIZE - 64 * 1024 - big;
  assert_int_equal(gsr_read(f, buf, big), rest);
  assert_memory_equal(buf, data + 64 * 1024 + big, rest);
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  if (cs.peak_buffered > o.memory_budget)
    fail_msg("max_prefetch %llu: peak %llu bytes held, budget %llu",
             (unsigned long long)max_prefetch,
             (unsigned long long)cs.peak_buffered,
             (unsigned long long)o.memory_budget);
  assert_true(atomic_load(&past_engine) >= 1);
  /* With blocks of the small window, some were ahead of the large read. */
  if (max_prefetch != 0) assert_true(atomic_load(&past_from_blocks) > 0);
  free(buf);
  gsr_close(f);
  gsr_client_free(c);
}

static void test_huge_read_stays_within_budget(void **state) {
  (void)state;
  huge_read_within_budget(0);       /* blocks larger than the budget */
  huge_read_within_budget(4 * MiB); /* blocks ahead when the read comes */
}

static gsr_client *budget_client;
#define BUDGET (24 * MiB)
#define BUDGET_READ (256 * 1024)

static void *budget_reader(void *arg) {
  int i = (int)(intptr_t)arg, errors = 0;
  gsr_file f = open_obj(budget_client, i % 2 ? 4 : 0, 16 * MiB);
  unsigned char *buf = malloc(BUDGET_READ);
  uint64_t start = (uint64_t)i * MiB;
  for (uint64_t off = start; off < start + 20 * MiB; off += BUDGET_READ) {
    int64_t n = gsr_pread(f, buf, BUDGET_READ, (int64_t)off);
    if (n != BUDGET_READ || memcmp(buf, data + off, BUDGET_READ) != 0) errors++;
  }
  gsr_file_stats st = stats_of(f);
  if (st.peak_buffered > 16 * MiB + BUDGET_READ) errors++;
  gsr_close(f);
  free(buf);
  return (void *)(intptr_t)errors;
}

/* Sixteen promised readers at once (widths 4 and automatic, each window
 * 16 MiB) on a client with a 24 MiB budget: the blocks read ahead stay
 * within it; only the bytes the reads wait for may exceed it. */
static void test_memory_budget_16_files(void **state) {
  (void)state;
  gsr_client_options o;
  fx_client_options(&o);
  o.memory_budget = BUDGET;
  assert_int_equal(gsr_client_new(&o, &budget_client), GSR_OK);
  pthread_t t[16];
  for (int i = 0; i < 16; i++)
    pthread_create(&t[i], NULL, budget_reader, (void *)(intptr_t)i);
  for (int i = 0; i < 16; i++) {
    void *errors;
    pthread_join(t[i], &errors);
    assert_int_equal((intptr_t)errors, 0);
  }
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(budget_client, &cs), GSR_OK);
  assert_int_equal(cs.budget, BUDGET);
  if (cs.peak_buffered > BUDGET + 16 * BUDGET_READ)
    fail_msg("peak %llu over the budget %llu",
             (unsigned long long)cs.peak_buffered, (unsigned long long)BUDGET);
  assert_true(cs.peak_buffered > BUDGET / 2); /* the budget was the bound */
  assert_int_equal(cs.buffered, 0);
  gsr_client_free(budget_client);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_reads),
      cmocka_unit_test(test_slow_reader_holds_the_window),
      cmocka_unit_test(test_seeks),
      cmocka_unit_test(test_soft_seeks_over_small_blocks),
      cmocka_unit_test(test_reads_out_of_order),
      cmocka_unit_test(test_reads_behind_across_blocks),
      cmocka_unit_test(test_whole_rest_after_a_start),
      cmocka_unit_test(test_cut_body_resumes),
      cmocka_unit_test(test_stalled_body_resumes),
      cmocka_unit_test(test_resumes_past_the_retry_budget),
      cmocka_unit_test(test_whole_object_crc32c),
      MIX_TEST("test_random_mix_c1", 0),
      MIX_TEST("test_random_mix_c4", 1),
      MIX_TEST("test_random_mix_c16", 2),
      MIX_TEST("test_random_mix_auto", 3),
      MIX_TEST("test_random_mix_adaptive_c1", 4),
      MIX_TEST("test_random_mix_adaptive_c4", 5),
      MIX_TEST("test_random_mix_adaptive_c16", 6),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_auto_width_steps_up_and_is_remembered),
      cmocka_unit_test(test_adaptive_reader_measures_its_width),
      cmocka_unit_test(test_plans_file),
      cmocka_unit_test(test_explicit_width_is_obeyed),
      cmocka_unit_test(test_failed_block_ahead_is_fetched_again),
      cmocka_unit_test(test_huge_read_stays_within_budget),
      cmocka_unit_test(test_memory_budget_16_files),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
