/* Integration tests of the read path against the local GCS server (nginx +
 * lua, started here): byte-exact reads through gs://, http:// and file://,
 * random preads, EOF rules, errors, special names, threads, version
 * pinning, bad bodies, and what each operation costs in requests.
 *
 * SPDX-License-Identifier: MIT
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "test-bucket"
#define MiB (1024u * 1024u)

static struct ts_object objects[] = {
    {"empty", 0, NULL},       {"one", 1, NULL},
    {"small", 4095, NULL},    {"five", 5 * MiB + 1, NULL},
    {"big", 64 * MiB, NULL},  {"dir/sub/obj", 1000, NULL},
    {"with space", 10, NULL}, {"hash#frag", 11, NULL},
    {"q?x=1&y", 12, NULL},    {"pct%41%", 13, NULL},
    {"plus+sign", 14, NULL},  {"utf8-\xc3\xa9t\xc3\xa9-\xe6\x97\xa5", 15, NULL},
};
#define N_OBJECTS (sizeof(objects) / sizeof(objects[0]))

static void gs_url(const char *name, char *out, size_t n) {
  snprintf(out, n, "gs://%s/%s", BUCKET, name);
}

/* Waits until the log has at least want lines (nginx logs just after it
 * sends), then returns the count. */
static long log_settle(long want) {
  long n = 0;
  for (int i = 0; i < 200; i++) {
    n = ts_log_lines(&fx.srv);
    if (n >= want) break;
    usleep(5000);
  }
  usleep(20000); /* let any unexpected extra line land too */
  return ts_log_lines(&fx.srv);
}

const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 1, .client = 1};

static gsr_file open_ok(const char *url) {
  gsr_file f;
  int s = gsr_open(fx.client, url, NULL, &f);
  if (s != GSR_OK)
    fail_msg("open %s: %s: %s", url, gsr_strerror(s), gsr_errmsg());
  return f;
}

/* Reads the whole file with reads of io bytes and compares. */
static void read_all_and_compare(const char *url, const struct ts_object *o,
                                 size_t io) {
  gsr_file f = open_ok(url);
  unsigned char *buf = malloc(o->size + io + 1);
  size_t got = 0;
  int64_t n;
  assert_int_equal(gsr_size(f), (int64_t)o->size);
  while ((n = gsr_read(f, buf + got, io)) > 0) got += (size_t)n;
  if (n < 0) fail_msg("read %s: %s", url, gsr_errmsg());
  assert_int_equal(got, o->size);
  assert_true(got == 0 || memcmp(buf, o->data, o->size) == 0);
  assert_int_equal(gsr_read(f, buf, io), 0); /* at EOF: 0 */
  assert_int_equal(gsr_close(f), GSR_OK);
  free(buf);
}

static void test_gs_whole_objects(void **state) {
  (void)state;
  const char *names[] = {"empty", "one", "small", "five", "big"};
  for (size_t i = 0; i < 5; i++) {
    char url[512];
    gs_url(names[i], url, sizeof(url));
    read_all_and_compare(url, fx_object(names[i]), 16 * MiB);
    read_all_and_compare(url, fx_object(names[i]), 1000003);
  }
}

static void test_http_and_file_whole_objects(void **state) {
  (void)state;
  const char *names[] = {"empty", "one", "small", "five"};
  for (size_t i = 0; i < 4; i++) {
    char url[1024];
    ts_http_url(&fx.srv, BUCKET, names[i], url, sizeof(url));
    read_all_and_compare(url, fx_object(names[i]), 1 * MiB);
    snprintf(url, sizeof(url), "%s/%s/%s", fx.srv.data, BUCKET, names[i]);
    read_all_and_compare(url, fx_object(names[i]), 4096);
    snprintf(url, sizeof(url), "file://%s/%s/%s", fx.srv.data, BUCKET,
             names[i]);
    read_all_and_compare(url, fx_object(names[i]), 7);
  }
}

static void test_special_names(void **state) {
  (void)state;
  for (size_t i = 5; i < N_OBJECTS; i++) {
    char url[512];
    gs_url(objects[i].name, url, sizeof(url));
    read_all_and_compare(url, &objects[i], 4);
  }
}

static void test_random_preads(void **state) {
  (void)state;
  const char *schemes[] = {"gs", "http"};
  struct ts_object *o = fx_object("five");
  unsigned char *buf = malloc(o->size);
  uint64_t x = 42;
  for (int k = 0; k < 2; k++) {
    char url[1024];
    if (k == 0)
      gs_url(o->name, url, sizeof(url));
    else
      ts_http_url(&fx.srv, BUCKET, o->name, url, sizeof(url));
    gsr_file f = open_ok(url);
    for (int i = 0; i < 1500; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t off = (x >> 11) % (o->size + 100);
      size_t len = (size_t)((x >> 40) % 70000);
      if (i % 50 == 0) off = o->size - len / 2; /* straddle EOF */
      int64_t n = gsr_pread(f, buf, len, (int64_t)off);
      size_t want = off >= o->size
                        ? 0
                        : (len < o->size - off ? len : (size_t)(o->size - off));
      if (n < 0)
        fail_msg("%s pread %llu+%zu: %s", schemes[k], (unsigned long long)off,
                 len, gsr_errmsg());
      assert_int_equal(n, (int64_t)want);
      assert_true(want == 0 || memcmp(buf, o->data + off, want) == 0);
    }
    gsr_close(f);
  }
  free(buf);
}

static void test_eof_and_zero_length(void **state) {
  (void)state;
  char url[512], buf[64];
  struct ts_object *o = fx_object("small");
  gs_url(o->name, url, sizeof(url));
  gsr_file f = open_ok(url);
  long before = log_settle(0);
  assert_int_equal(gsr_read(f, buf, 0), 0);
  assert_int_equal(gsr_pread(f, buf, 0, 10), 0);
  assert_int_equal(gsr_pread(f, NULL, 0, 10), 0);
  assert_int_equal(gsr_pread(f, buf, 10, 4095), 0);    /* at EOF */
  assert_int_equal(gsr_pread(f, buf, 10, 1 << 30), 0); /* past EOF */
  assert_int_equal(log_settle(before), before);        /* no I/O */
  assert_int_equal(gsr_pread(f, buf, 10, 4090), 5);    /* straddles */
  assert_memory_equal(buf, o->data + 4090, 5);
  assert_int_equal(gsr_pread(f, buf, 10, -1), GSR_EINVAL);
  assert_int_equal(gsr_pread(f, NULL, 10, 0), GSR_EINVAL);
  assert_int_equal(gsr_pread(f, buf, SIZE_MAX, 0),
                   GSR_EINVAL); /* > INT64_MAX */
  assert_int_equal(gsr_pread(f, buf, 10, INT64_MIN), GSR_EINVAL);
  assert_int_equal(gsr_seek(f, 5000, GSR_SEEK_SET), 5000);
  assert_int_equal(gsr_read(f, buf, 10), 0);
  assert_int_equal(gsr_seek(f, -1, GSR_SEEK_END), 4094);
  assert_int_equal(gsr_read(f, buf, 10), 1);
  assert_int_equal(gsr_tell(f), 4095);
  assert_int_equal(gsr_seek(f, -5000, GSR_SEEK_CUR), GSR_EINVAL);
  assert_int_equal(gsr_seek(f, 0, 7), GSR_EINVAL);
  assert_int_equal(gsr_seek(f, INT64_MAX, GSR_SEEK_END), GSR_EINVAL);
  assert_int_equal(gsr_tell(f), 4095); /* failed seeks move nothing */
  gsr_close(f);
}

static void test_request_costs(void **state) {
  (void)state;
  char url[512], buf[100];
  gs_url("small", url, sizeof(url));
  long base = log_settle(0);
  gsr_file f = open_ok(url);
  assert_int_equal(log_settle(base + 1), base + 1); /* open: one request */
  assert_int_equal(gsr_read(f, buf, sizeof(buf)), 100);
  assert_int_equal(log_settle(base + 2), base + 2); /* first read: one more */
  char line[8192];
  assert_int_equal(ts_log_line(&fx.srv, base, line, sizeof(line)), 0);
  assert_non_null(strstr(line, "/storage/v1/b/test-bucket/o/small"));
  assert_int_equal(ts_log_line(&fx.srv, base + 1, line, sizeof(line)), 0);
  assert_non_null(strstr(line, "alt=media"));
  assert_non_null(strstr(line, "generation="));
  assert_non_null(strstr(line, "bytes=0-99"));
  gsr_close(f);
}

static void test_not_found_and_bad_handles(void **state) {
  (void)state;
  gsr_file f = 12345;
  char url[512];
  gs_url("no/such object", url, sizeof(url));
  assert_int_equal(gsr_open(fx.client, url, NULL, &f), GSR_ENOENT);
  assert_int_equal(f, GSR_FILE_INVALID);
  assert_non_null(strstr(gsr_errmsg(), "404"));
  assert_non_null(strstr(gsr_errmsg(), "no%2Fsuch%20object"));
  ts_http_url(&fx.srv, BUCKET, "missing", url, sizeof(url));
  assert_int_equal(gsr_open(fx.client, url, NULL, &f), GSR_ENOENT);
  assert_int_equal(gsr_open(fx.client, "gs://Bad_Bucket/x", NULL, &f),
                   GSR_EINVAL);
  assert_int_equal(gsr_open(fx.client, "/no/such/file", NULL, &f), GSR_ENOENT);
  assert_int_equal(gsr_open(NULL, "x", NULL, &f), GSR_EINVAL);
  assert_int_equal(gsr_open(fx.client, NULL, NULL, &f), GSR_EINVAL);
  assert_int_equal(gsr_open(fx.client, "x", NULL, NULL), GSR_EINVAL);
  gsr_file_options fo;
  gsr_file_options_init(&fo);
  fo.cache_type = "bogus";
  gs_url("small", url, sizeof(url));
  assert_int_equal(gsr_open(fx.client, url, &fo, &f), GSR_EINVAL);

  /* Use after close and double close: errors, never crashes. */
  char buf[8];
  gsr_stat st;
  f = open_ok(url);
  assert_int_equal(gsr_close(f), GSR_OK);
  assert_int_equal(gsr_close(f), GSR_ECLOSED);
  assert_int_equal(gsr_read(f, buf, 8), GSR_ECLOSED);
  assert_int_equal(gsr_pread(f, buf, 8, 0), GSR_ECLOSED);
  assert_int_equal(gsr_seek(f, 0, GSR_SEEK_SET), GSR_ECLOSED);
  assert_int_equal(gsr_fstat(f, &st), GSR_ECLOSED);
  assert_int_equal(gsr_size(f), GSR_ECLOSED);
  assert_int_equal(gsr_read(GSR_FILE_INVALID, buf, 8), GSR_EBADF);
  assert_int_equal(gsr_read((gsr_file)0xdeadbeefdeadull, buf, 8), GSR_EBADF);
}

static void test_stat(void **state) {
  (void)state;
  char url[512];
  gsr_stat st;
  gs_url("small", url, sizeof(url));
  gsr_file f = open_ok(url);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_true(st.size == 4095);
  assert_true(st.generation > 0);
  assert_true(st.has_crc32c && st.has_md5);
  /* CRC32C of the data we wrote, computed here bit by bit. */
  uint32_t crc = 0xFFFFFFFFu;
  const unsigned char *d = fx_object("small")->data;
  for (size_t i = 0; i < 4095; i++) {
    crc ^= d[i];
    for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
  }
  assert_true(st.crc32c == ~crc);
  assert_true(st.mtime > 1600000000);
  assert_int_equal(gsr_fstat(f, NULL), GSR_EINVAL);
  gsr_close(f);
  ts_http_url(&fx.srv, BUCKET, "small", url, sizeof(url));
  f = open_ok(url);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_true(st.size == 4095 && st.etag[0] == '"' && st.mtime > 1600000000);
  gsr_close(f);
}

/* A reader thread's file and its object, its seed, its count of reads
 * that went wrong. */
struct thread_arg {
  gsr_file f;
  const struct ts_object *o;
  int seed, errors;
};

static void *pread_thread(void *p) {
  struct thread_arg *a = p;
  unsigned char *buf = malloc(300000);
  uint64_t x = (uint64_t)a->seed;
  for (int i = 0; i < 60; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (x >> 11) % a->o->size;
    size_t len = (size_t)((x >> 45) % 300000);
    int64_t n = gsr_pread(a->f, buf, len, (int64_t)off);
    size_t want = (len < a->o->size - off ? len : (size_t)(a->o->size - off));
    if (n != (int64_t)want || memcmp(buf, a->o->data + off, want) != 0)
      a->errors++;
  }
  free(buf);
  return NULL;
}

/* Runs n threads of reader at once on f (the object "big"), seeded 1 to
 * n; returns how many of their reads went wrong, all together. */
static int run_readers(gsr_file f, int n, void *(*reader)(void *)) {
  struct thread_arg a[FX_MAX_THREADS];
  assert_true(n <= FX_MAX_THREADS);
  for (int i = 0; i < n; i++)
    a[i] = (struct thread_arg){f, fx_object("big"), i + 1, 0};
  fx_run_threads(n, reader, a, sizeof(a[0]));
  int errors = 0;
  for (int i = 0; i < n; i++) errors += a[i].errors;
  return errors;
}

static void test_threads_pread_one_file(void **state) {
  (void)state;
  char url[512];
  gs_url("big", url, sizeof(url));
  gsr_file f = open_ok(url);
  assert_int_equal(run_readers(f, 8, pread_thread), 0);
  gsr_close(f);
}

/* Three 1 MiB preads at random places, each checked. */
static void *pread_1m_thread(void *p) {
  struct thread_arg *a = p;
  unsigned char *buf = malloc(MiB);
  uint64_t x = (uint64_t)a->seed * 2654435761u;
  for (int i = 0; i < 3; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = ((x >> 11) % (a->o->size / MiB - 1)) * MiB +
                   (x >> 40) % 4096;
    int64_t n = gsr_pread(a->f, buf, MiB, (int64_t)off);
    if (n != (int64_t)MiB || memcmp(buf, a->o->data + off, MiB) != 0)
      a->errors++;
  }
  free(buf);
  return NULL;
}

/* Random preads from 16 threads on one handle under cache (NULL: none),
 * the prefetcher on (each read is a seek: fetched exactly): they run at
 * once, not one first-byte wait after another, and get the right bytes.
 * Before the engine let go of its lock during exact reads the server
 * never saw two at a time; nor under a cache before a cache's lock was
 * held only to decide and to install, not across its fetches. */
static void one_handle_in_parallel(const char *cache) {
  enum { T = 16 };
  char url[512];
  gs_url("big", url, sizeof(url));
  gsr_file_options o;
  gsr_file_options_init(&o);
  o.prefetch = "adaptive";
  o.cache_type = cache;
  o.block_size = 256 * 1024; /* a 1 MiB read spans 5 pages */
  /* One connection per fetch: what overlaps is the threads' reads, not the
   * parts of one read or the engine's window (which, with a thread's
   * pages in a row, reads ahead even when reads run one at a time). */
  o.concurrency = 1;
  gsr_file f;
  assert_int_equal(gsr_open(fx.client, url, &o, &f), GSR_OK);
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=150"), 200);
  long base = ts_log_lines(&fx.srv);
  int errors = run_readers(f, T, pread_1m_thread);
  ts_log_quiet(&fx.srv, 300);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_int_equal(errors, 0);
  struct ts_media_req q[8 * T * 3];
  int n = ts_media_log(&fx.srv, base, q, 8 * T * 3);
  /* A read may land in a window or page another one fetched. */
  assert_true(n >= T);
  int most = ts_media_max_overlap(q, n);
  print_message("cache %s: %d requests, at most %d at once\n",
                cache ? cache : "none", n, most);
  if (most < T / 2)
    fail_msg("16 threads on one handle, cache %s: at most %d requests at "
             "once",
             cache ? cache : "none", most);
  gsr_close(f);
}

static void test_threads_pread_one_handle_in_parallel(void **state) {
  (void)state;
  one_handle_in_parallel(NULL);
}

static void test_threads_pread_one_handle_blockcache(void **state) {
  (void)state;
  one_handle_in_parallel("blockcache");
}

static void test_threads_pread_one_handle_background(void **state) {
  (void)state;
  one_handle_in_parallel("background");
}

static void test_threads_pread_one_handle_readahead(void **state) {
  (void)state;
  one_handle_in_parallel("readahead");
}

static void test_threads_pread_one_handle_readahead_chunked(void **state) {
  (void)state;
  one_handle_in_parallel("readahead_chunked");
}

/* Reads past the first page pass through, with no lock. */
static void test_threads_pread_one_handle_first(void **state) {
  (void)state;
  one_handle_in_parallel("first");
}

/* Where pread_same_thread reads. */
static uint64_t same_off;

/* The same 1 MiB from 16 threads at once. */
static void *pread_same_thread(void *p) {
  struct thread_arg *a = p;
  unsigned char *buf = malloc(MiB);
  uint64_t off = same_off;
  int64_t n = gsr_pread(a->f, buf, MiB, (int64_t)off);
  if (n != (int64_t)MiB || memcmp(buf, a->o->data + off, MiB) != 0) a->errors++;
  free(buf);
  return NULL;
}

/* 16 threads reading the same bytes at once under a cache that keeps
 * them: one fetches, the others wait for that fetch (the server sees one
 * request) and are hits. */
static void same_bytes_fetched_once(const char *cache, uint64_t off) {
  enum { T = 16 };
  char url[512];
  gs_url("big", url, sizeof(url));
  gsr_file_options o;
  gsr_file_options_init(&o);
  o.cache_type = cache;
  o.block_size = MiB;
  o.concurrency = 1; /* a fetch is one request, the whole object's too */
  gsr_file f;
  assert_int_equal(gsr_open(fx.client, url, &o, &f), GSR_OK);
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=150"), 200);
  long base = ts_log_lines(&fx.srv);
  same_off = off;
  int errors = run_readers(f, T, pread_same_thread);
  ts_log_quiet(&fx.srv, 300);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_int_equal(errors, 0);
  struct ts_media_req q[T];
  int n = ts_media_log(&fx.srv, base, q, T);
  if (n != 1) fail_msg("cache %s: %d requests for one page", cache, n);
  gsr_file_stats st;
  gsr_file_stats_get(f, &st);
  assert_true(st.misses == 1 && st.hits == T - 1);
  gsr_close(f);
}

static void test_threads_same_bytes_fetched_once(void **state) {
  (void)state;
  same_bytes_fetched_once("blockcache", 7 * MiB);
  same_bytes_fetched_once("readahead", 7 * MiB);
  same_bytes_fetched_once("readahead_chunked", 7 * MiB);
  same_bytes_fetched_once("first", 0);
  same_bytes_fetched_once("all", 7 * MiB);
}

/* Small reads in the first 3 MiB, half of them as slices (at most 3, so
 * some come back short), each checked: many reads meet in the same pages
 * and windows, wait on each other's fetches, and evict what others read. */
static void *hammer_thread(void *p) {
  struct thread_arg *a = p;
  unsigned char *buf = malloc(300000);
  uint64_t x = (uint64_t)a->seed * 2654435761u;
  for (int i = 0; i < 40; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (x >> 11) % (3 * MiB);
    size_t len = 1 + (size_t)((x >> 40) % 300000);
    if (i % 2 == 0) {
      int64_t n = gsr_pread(a->f, buf, len, (int64_t)off);
      if (n != (int64_t)len || memcmp(buf, a->o->data + off, len) != 0)
        a->errors++;
      continue;
    }
    gsr_slice sl[3];
    size_t count = 0, at = 0;
    int64_t n = gsr_pread_slices(a->f, len, (int64_t)off, sl, 3, &count);
    if (n <= 0 || (size_t)n > len) a->errors++;
    for (size_t k = 0; k < count; k++) {
      if (at + sl[k].len > (size_t)(n > 0 ? n : 0) ||
          memcmp(sl[k].data, a->o->data + off + at, sl[k].len) != 0)
        a->errors++;
      at += sl[k].len;
      gsr_slice_release(&sl[k]);
    }
    if (n > 0 && at != (size_t)n) a->errors++;
  }
  free(buf);
  return NULL;
}

/* 16 threads of hammer_thread on one handle under each cache, small pages
 * and few of them: every byte right (and, under TSan, no race). */
static void test_threads_cached_reads_meet(void **state) {
  (void)state;
  const char *caches[] = {
      "blockcache", "background", "readahead", "readahead_chunked",
      "first",      "all",        "bytes"};
  char url[512];
  gs_url("big", url, sizeof(url));
  for (size_t c = 0; c < sizeof(caches) / sizeof(caches[0]); c++) {
    gsr_file_options o;
    gsr_file_options_init(&o);
    o.cache_type = caches[c];
    o.prefetch = c % 2 ? "adaptive" : "off";
    o.block_size = 128 * 1024;
    o.max_blocks = 4;
    gsr_file f;
    assert_int_equal(gsr_open(fx.client, url, &o, &f), GSR_OK);
    int errors = run_readers(f, 16, hammer_thread);
    if (errors != 0) fail_msg("cache %s: %d reads wrong", caches[c], errors);
    gsr_close(f);
  }
}

static void test_object_replaced_while_open(void **state) {
  (void)state;
  char gs[512], http[1024], buf[100];
  unsigned char *v1 = ts_random_bytes(5000, 7), *v2 = ts_random_bytes(5000, 8);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "replaced", v1, 5000), 0);
  gs_url("replaced", gs, sizeof(gs));
  ts_http_url(&fx.srv, BUCKET, "replaced", http, sizeof(http));
  gsr_file f1 = open_ok(gs), f2 = open_ok(http);
  assert_int_equal(gsr_pread(f1, buf, 100, 0), 100);
  assert_int_equal(gsr_pread(f2, buf, 100, 0), 100);
  /* nginx's ETag holds the mtime in whole seconds: cross a second so the
   * same-size new version gets a new ETag (the generation uses microseconds).
   */
  usleep(1100000);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "replaced", v2, 5000), 0);
  assert_int_equal(gsr_pread(f1, buf, 100, 100), GSR_ECHANGED);
  assert_non_null(strstr(gsr_errmsg(), "replaced"));
  assert_int_equal(gsr_pread(f2, buf, 100, 100), GSR_ECHANGED);
  gsr_close(f1);
  gsr_close(f2);
  /* A fresh open sees the new version. */
  f1 = open_ok(gs);
  assert_int_equal(gsr_pread(f1, buf, 100, 0), 100);
  assert_memory_equal(buf, v2, 100);
  gsr_close(f1);
  free(v1);
  free(v2);
}

static gsr_client *client_with_retries(int attempts, long deadline_ms) {
  gsr_client_options o;
  fx_client_options(&o);
  o.retry_initial_ms = 20;
  o.retry_max_attempts = attempts;
  o.retry_deadline_ms = deadline_ms;
  return fx_client(&o);
}

static void test_bad_bodies_are_errors_without_retries(void **state) {
  (void)state;
  assert_int_equal(ts_control(&fx.srv, "reset"), 200); /* no knob left over */
  char url[512];
  unsigned char *buf = malloc(5 * MiB + 1);
  gsr_client *c = client_with_retries(1, 1000);
  gsr_file f;
  gs_url("five", url, sizeof(url));
  assert_int_equal(gsr_open(c, url, NULL, &f), GSR_OK);
  /* Body cut off midway: an error, not a hang, not a short read. */
  assert_int_equal(ts_control(&fx.srv, "config?fault_kind=cut&fault_next=1"),
                   200);
  int64_t n = gsr_pread(f, buf, 4 * MiB, 0);
  assert_true(n == GSR_ENETWORK || n == GSR_EPROTO);
  /* A body longer than the range asked. */
  assert_int_equal(ts_control(&fx.srv, "config?fault_kind=long&fault_next=1"),
                   200);
  n = gsr_pread(f, buf, 1000, 10);
  assert_true(n == GSR_EPROTO || n == GSR_ENETWORK);
  /* A 503: the status and the server's text are in the message. */
  assert_int_equal(
      ts_control(&fx.srv,
                 "config?fault_kind=status&fault_status=503&fault_next=1"),
      200);
  n = gsr_pread(f, buf, 1000, 10);
  assert_int_equal(n, GSR_ENETWORK);
  assert_non_null(strstr(gsr_errmsg(), "503"));
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  /* And the file still works afterwards. */
  assert_int_equal(gsr_pread(f, buf, 1000, 10), 1000);
  assert_memory_equal(buf, fx_object("five")->data + 10, 1000);
  gsr_client_stats cs;
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries == 0);
  gsr_client_free(c);
  free(buf);
}

static void test_transient_faults_are_retried_and_resumed(void **state) {
  (void)state;
  assert_int_equal(ts_control(&fx.srv, "reset"), 200); /* no knob left over */
  char url[512];
  struct ts_object *o = fx_object("five");
  unsigned char *buf = malloc(o->size);
  gsr_client *c = client_with_retries(8, 30000);
  gsr_client_stats cs;
  gsr_file f;
  gs_url("five", url, sizeof(url));
  assert_int_equal(gsr_open(c, url, NULL, &f), GSR_OK);
  const char *faults[] = {
      "config?fault_kind=cut&fault_next=2",
      "config?fault_kind=status&fault_status=503&fault_next=2",
      "config?fault_kind=status&fault_status=429&fault_retry_after=1&fault_next=1",
      "config?fault_kind=reset&fault_next=1",
  };
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(ts_control(&fx.srv, faults[i]), 200);
    memset(buf, 0, o->size);
    int64_t n = gsr_pread(f, buf, o->size, 0);
    if (n != (int64_t)o->size) fail_msg("%s: %s", faults[i], gsr_errmsg());
    assert_memory_equal(buf, o->data, o->size);
  }
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries >=
              5); /* curl itself may redo a reset reused connection */
  assert_true(cs.resumes >= 2); /* the cut bodies continued, not restarted */
  /* Metadata requests are retried too. */
  assert_int_equal(
      ts_control(
          &fx.srv,
          "config?fault_kind=status&fault_status=500&fault_on=meta&fault_next=2"),
      200);
  gsr_file g;
  assert_int_equal(gsr_open(c, url, NULL, &g), GSR_OK);
  gsr_close(g);
  /* Non-transient: fails at once, no retry. */
  uint64_t before = (gsr_client_stats_get(c, &cs), cs.retries);
  assert_int_equal(
      ts_control(
          &fx.srv,
          "config?fault_on=media&fault_kind=status&fault_status=403&fault_next=1"),
      200);
  assert_int_equal(gsr_pread(f, buf, 100, 0), GSR_EACCES);
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries == before);
  /* A body longer than asked is never taken for a transient fault. */
  assert_int_equal(ts_control(&fx.srv, "config?fault_kind=long&fault_next=1"),
                   200);
  assert_int_equal(gsr_pread(f, buf, 1000, 10), GSR_EPROTO);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
}

static void test_permanent_failure_ends_at_the_deadline(void **state) {
  (void)state;
  assert_int_equal(ts_control(&fx.srv, "reset"), 200); /* no knob left over */
  char url[512], buf[100];
  gsr_client *c = client_with_retries(100, 600);
  gsr_file f;
  gs_url("small", url, sizeof(url));
  assert_int_equal(gsr_open(c, url, NULL, &f), GSR_OK);
  assert_int_equal(
      ts_control(
          &fx.srv,
          "config?fault_kind=status&fault_status=503&fault_retry_after=0&fault_ratio=1"),
      200);
  assert_int_equal(gsr_pread(f, buf, 100, 0), GSR_ENETWORK);
  assert_non_null(strstr(gsr_errmsg(), "503"));
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  gsr_client_stats cs;
  gsr_client_stats_get(c, &cs);
  assert_true(cs.retries >= 2 && cs.retries < 99); /* stopped by the deadline */
  gsr_close(f);
  gsr_client_free(c);
}

static void test_whole_object_crc32c_is_verified(void **state) {
  (void)state;
  char url[512];
  struct ts_object *o = fx_object("five");
  unsigned char *buf = malloc(o->size);
  gs_url("five", url, sizeof(url));
  /* Intact: a whole read in pieces succeeds (and is checked). */
  read_all_and_compare(url, o, 1000000);
  gsr_file f = open_ok(url); /* the server now has the CRC cached */
  assert_int_equal(ts_corrupt_in_place(&fx.srv, BUCKET, "five", 1234), 0);
  int64_t n, got = 0;
  while ((n = gsr_read(f, buf + got, 1 << 20)) > 0) got += n;
  assert_int_equal(n, GSR_EINTEGRITY);
  assert_non_null(strstr(gsr_errmsg(), "CRC32C"));
  /* A range read is not a whole read: no verdict. */
  assert_int_equal(gsr_pread(f, buf, 5000, 0), 5000);
  gsr_close(f);
  /* Put the good bytes back for the other tests. */
  assert_int_equal(ts_put(&fx.srv, BUCKET, "five", o->data, o->size), 0);
  free(buf);
}

/* Reads f to its end in pieces, copied into buf or as slices (released at
 * once); returns the last result: 0 at the end, or the failure. */
static int64_t read_to_end(gsr_file f, unsigned char *buf, size_t piece,
                           int slices) {
  int64_t n = 1, got = 0;
  while (n > 0) {
    if (slices) {
      gsr_slice s[8];
      size_t ns = 0;
      n = gsr_read_slices(f, piece, s, 8, &ns);
      for (size_t i = 0; i < ns; i++) gsr_slice_release(&s[i]);
    } else {
      n = gsr_read(f, buf + got, piece);
    }
    if (n > 0) got += n;
  }
  return n;
}

/* Opens "five" (url) once, the server caching its CRC32C then; if
 * corrupt, then changes its byte at offset at in place, the CRC kept. */
static void open_five(const char *url, int corrupt, long at) {
  gsr_close(open_ok(url));
  if (corrupt)
    assert_int_equal(ts_corrupt_in_place(&fx.srv, BUCKET, "five", at), 0);
}

/* Whole reads through every cache, copied and as slices: the CRC32C check
 * passes on intact bytes (whichever way each byte's CRC was obtained: by
 * the I/O thread, per chunk, or over the delivered bytes) and catches a
 * corrupted object. */
static void test_whole_object_crc32c_through_caches(void **state) {
  (void)state;
  const char *caches[] = {"none",       "readahead",  "readahead_chunked",
                          "blockcache", "background", "first",
                          "all",        "bytes"};
  struct ts_object *o = fx_object("five");
  unsigned char *buf = malloc(o->size);
  char url[512];
  gs_url("five", url, sizeof(url));
  for (int corrupt = 0; corrupt < 2; corrupt++) {
    open_five(url, corrupt, 1234);
    for (size_t c = 0; c < sizeof(caches) / sizeof(*caches); c++)
      for (int slices = 0; slices < 2; slices++) {
        gsr_file_options fo;
        gsr_file f;
        gsr_file_options_init(&fo);
        fo.cache_type = caches[c];
        fo.block_size = 1 << 20;
        assert_int_equal(gsr_open(fx.client, url, &fo, &f), GSR_OK);
        int64_t n = read_to_end(f, buf, 1 << 20, slices);
        if (corrupt ? n != GSR_EINTEGRITY : n != 0)
          fail_msg("cache %s, %s, %s object: %lld (%s)", caches[c],
                   slices ? "slices" : "copy", corrupt ? "corrupt" : "intact",
                   (long long)n, gsr_errmsg());
        gsr_close(f);
      }
  }
  assert_int_equal(ts_put(&fx.srv, BUCKET, "five", o->data, o->size), 0);
  free(buf);
}

/* Whole reads through the prefetcher in pieces that cut its blocks
 * anywhere (1 MiB, and an odd size that is no multiple of anything): the
 * CRC32C of each piece comes from the I/O thread's checkpoints (buf.h)
 * plus the unaligned ends; it passes on intact bytes and catches a byte
 * corrupted late in the object, in a block fetched ahead. */
static void test_whole_object_crc32c_through_prefetch(void **state) {
  (void)state;
  const size_t pieces[] = {1 << 20, 777777};
  struct ts_object *o = fx_object("five");
  unsigned char *buf = malloc(o->size);
  char url[512];
  gs_url("five", url, sizeof(url));
  for (int corrupt = 0; corrupt < 2; corrupt++) {
    open_five(url, corrupt, (long)o->size - 100000);
    for (size_t p = 0; p < 2; p++)
      for (int slices = 0; slices < 2; slices++) {
        gsr_file_options fo;
        gsr_file f;
        gsr_file_options_init(&fo);
        fo.prefetch = "adaptive";
        fo.concurrency = 2;
        assert_int_equal(gsr_open(fx.client, url, &fo, &f), GSR_OK);
        int64_t n = read_to_end(f, buf, pieces[p], slices);
        if (corrupt ? n != GSR_EINTEGRITY : n != 0)
          fail_msg("prefetch, %zu-byte reads, %s, %s object: %lld (%s)",
                   pieces[p], slices ? "slices" : "copy",
                   corrupt ? "corrupt" : "intact", (long long)n, gsr_errmsg());
        gsr_file_stats st;
        assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
        assert_true(st.window > 0); /* the prefetcher served it */
        gsr_close(f);
      }
  }
  assert_int_equal(ts_put(&fx.srv, BUCKET, "five", o->data, o->size), 0);
  free(buf);
}

/* An object stored gzip-compressed (contentEncoding: gzip): read as
 * stored, whatever the read path. Without Accept-Encoding: gzip the server
 * (as GCS) would decompress it and ignore every Range. */
static void test_gzip_encoded_object(void **state) {
  (void)state;
  char url[512];
  gsr_stat st;
  const struct ts_object *o = fx_object("five");
  assert_int_equal(ts_control(&fx.srv, "config?gzip_names=five"), 200);
  gs_url("five", url, sizeof(url));
  gsr_file f = open_ok(url);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_string_equal(st.content_encoding, "gzip");
  assert_true(st.size == o->size);
  unsigned char *buf = malloc(o->size);
  uint64_t x = 7;
  for (int i = 0; i < 50; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (x >> 11) % o->size;
    size_t len = (size_t)((x >> 40) % 200000) + 1;
    int64_t n = gsr_pread(f, buf, len, (int64_t)off);
    size_t want = len < o->size - off ? len : (size_t)(o->size - off);
    if (n != (int64_t)want)
      fail_msg("pread %zu at %llu: %lld: %s", len, (unsigned long long)off,
               (long long)n, gsr_errmsg());
    assert_memory_equal(buf, o->data + off, want);
  }
  gsr_close(f);
  /* Sequentially through the prefetcher, to the end (the whole-object
   * CRC32C is checked there). */
  gsr_file_options fo;
  gsr_file_options_init(&fo);
  fo.prefetch = "sequential";
  fo.concurrency = 4;
  assert_int_equal(gsr_open(fx.client, url, &fo, &f), GSR_OK);
  size_t got = 0;
  int64_t n;
  while ((n = gsr_read(f, buf + got, MiB)) > 0) got += (size_t)n;
  if (n < 0) fail_msg("read at %zu: %s", got, gsr_errmsg());
  assert_true(got == o->size);
  assert_memory_equal(buf, o->data, o->size);
  gsr_close(f);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  /* An object without the encoding says so. */
  gs_url("small", url, sizeof(url));
  f = open_ok(url);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_string_equal(st.content_encoding, "");
  gsr_close(f);
  free(buf);
}

/* gsr_list callback: keeps a copy of the entry named arg->name. */
struct listed {
  const char *name;
  gsr_list_entry e;
  char updated[64], encoding[32], sclass[32];
  int found;
};

static int keep_listed(void *arg, const gsr_list_entry *e) {
  struct listed *l = arg;
  if (e->is_prefix || strcmp(e->name, l->name) != 0) return 0;
  l->e = *e;
  snprintf(l->updated, sizeof(l->updated), "%s", e->updated);
  snprintf(l->encoding, sizeof(l->encoding), "%s", e->content_encoding);
  snprintf(l->sclass, sizeof(l->sclass), "%s", e->storage_class);
  l->e.updated = l->updated;
  l->e.content_encoding = l->encoding;
  l->e.storage_class = l->sclass;
  /* The callback's strings die with it: what is not kept is "" (NULL
   * would do as well). */
  l->e.etag = l->e.md5_hash = l->e.content_type = l->e.time_created = "";
  l->e.name = NULL; /* not used by gsr_open_listed */
  l->found = 1;
  return 0;
}

static void list_one(const char *name, struct listed *l) {
  char url[512];
  memset(l, 0, sizeof(*l));
  l->name = name;
  snprintf(url, sizeof(url), "gs://%s/", BUCKET);
  assert_int_equal(gsr_list(fx.client, url, 1, keep_listed, l), GSR_OK);
  assert_true(l->found);
}

/* gsr_open_listed: no request at open, the first read is the only one,
 * pinned to the listed generation (a replaced object: GSR_ECHANGED, never
 * the new bytes); gzip-stored objects read as stored; only gs://. */
static void test_open_listed(void **state) {
  (void)state;
  char url[512], buf[100];
  struct listed l;
  gsr_stat st;
  gsr_file f;
  const struct ts_object *o = fx_object("small");
  list_one("small", &l);
  gs_url("small", url, sizeof(url));
  long base = log_settle(0);
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, &l.e, &f), GSR_OK);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_true(st.size == o->size);
  assert_true(st.generation == l.e.generation);
  assert_true(st.mtime > 0);
  assert_int_equal(log_settle(base), base); /* the open asked nothing */
  assert_int_equal(gsr_pread(f, buf, 100, 1000), 100);
  assert_memory_equal(buf, o->data + 1000, 100);
  assert_int_equal(log_settle(base + 1), base + 1); /* one data request */
  char line[8192];
  assert_int_equal(ts_log_line(&fx.srv, base, line, sizeof(line)), 0);
  assert_non_null(strstr(line, "generation="));
  gsr_close(f);

  /* Replaced since the listing: the pinned read fails, says why. */
  unsigned char *v1 = ts_random_bytes(5000, 17),
                *v2 = ts_random_bytes(5000, 18);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "listed-repl", v1, 5000), 0);
  list_one("listed-repl", &l);
  usleep(1100000);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "listed-repl", v2, 5000), 0);
  gs_url("listed-repl", url, sizeof(url));
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, &l.e, &f), GSR_OK);
  assert_int_equal(gsr_pread(f, buf, 100, 0), GSR_ECHANGED);
  gsr_close(f);
  free(v1);
  free(v2);

  /* Stored gzip-compressed: the stored bytes, ranges honoured. */
  o = fx_object("five");
  assert_int_equal(ts_control(&fx.srv, "config?gzip_names=five"), 200);
  list_one("five", &l);
  assert_string_equal(l.e.content_encoding, "gzip");
  gs_url("five", url, sizeof(url));
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, &l.e, &f), GSR_OK);
  assert_int_equal(gsr_pread(f, buf, 100, 3 * MiB), 100);
  assert_memory_equal(buf, o->data + 3 * MiB, 100);
  gsr_close(f);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);

  /* Bad arguments. */
  gsr_list_entry bad = l.e;
  bad.generation = 0;
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, &bad, &f), GSR_EINVAL);
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, NULL, &f), GSR_EINVAL);
  ts_http_url(&fx.srv, BUCKET, "five", url, sizeof(url));
  assert_int_equal(gsr_open_listed(fx.client, url, NULL, &l.e, &f), GSR_EINVAL);
  assert_true(f == GSR_FILE_INVALID);
}

static void test_emulator_host_variable(void **state) {
  (void)state;
  gsr_client *c;
  gsr_file f;
  char buf[10];
  const char *hostport = fx.srv.endpoint + strlen("http://");
  setenv("STORAGE_EMULATOR_HOST", hostport, 1); /* bare host:port form */
  assert_int_equal(gsr_client_new(NULL, &c), GSR_OK);
  unsetenv("STORAGE_EMULATOR_HOST");
  assert_int_equal(gsr_open(c, "gs://test-bucket/one", NULL, &f), GSR_OK);
  assert_int_equal(gsr_read(f, buf, 10), 1);
  gsr_client_free(c); /* closes f too */
  assert_int_equal(gsr_read(f, buf, 10), GSR_ECLOSED);
}

static void test_client_options(void **state) {
  (void)state;
  gsr_client_options o;
  gsr_client *c = (gsr_client *)1;
  gsr_client_options_init(&o);
  o.max_connections = 0;
  assert_int_equal(gsr_client_new(&o, &c), GSR_EINVAL);
  assert_null(c);
  gsr_client_options_init(&o);
  o.stall_timeout_ms = -1;
  assert_int_equal(gsr_client_new(&o, &c), GSR_EINVAL);
  gsr_client_options_init(&o);
  o.endpoint = "ftp://x";
  assert_int_equal(gsr_client_new(&o, &c), GSR_EINVAL);
  assert_int_equal(gsr_client_new(NULL, NULL), GSR_EINVAL);
  gsr_client_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gs_whole_objects),
      cmocka_unit_test(test_http_and_file_whole_objects),
      cmocka_unit_test(test_special_names),
      cmocka_unit_test(test_random_preads),
      cmocka_unit_test(test_eof_and_zero_length),
      cmocka_unit_test(test_request_costs),
      cmocka_unit_test(test_not_found_and_bad_handles),
      cmocka_unit_test(test_stat),
      cmocka_unit_test(test_threads_pread_one_file),
      cmocka_unit_test(test_threads_pread_one_handle_in_parallel),
      cmocka_unit_test(test_threads_pread_one_handle_blockcache),
      cmocka_unit_test(test_threads_pread_one_handle_background),
      cmocka_unit_test(test_threads_pread_one_handle_readahead),
      cmocka_unit_test(test_threads_pread_one_handle_readahead_chunked),
      cmocka_unit_test(test_threads_pread_one_handle_first),
      cmocka_unit_test(test_threads_same_bytes_fetched_once),
      cmocka_unit_test(test_threads_cached_reads_meet),
      cmocka_unit_test(test_object_replaced_while_open),
      cmocka_unit_test(test_bad_bodies_are_errors_without_retries),
      cmocka_unit_test(test_transient_faults_are_retried_and_resumed),
      cmocka_unit_test(test_permanent_failure_ends_at_the_deadline),
      cmocka_unit_test(test_whole_object_crc32c_is_verified),
      cmocka_unit_test(test_whole_object_crc32c_through_caches),
      cmocka_unit_test(test_whole_object_crc32c_through_prefetch),
      cmocka_unit_test(test_gzip_encoded_object),
      cmocka_unit_test(test_open_listed),
      cmocka_unit_test(test_emulator_host_variable),
      cmocka_unit_test(test_client_options),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
