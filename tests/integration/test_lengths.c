/* What is fetched against what was asked, as the server counts it: a
 * reader's promised end (gsr_set_read_end) bounds the stream and the
 * prefetched blocks, so the server sends exactly the bytes read, and
 * bytes_fetched (file and client) equals what the server sent, on every
 * path (the stream, blocks, demand reads, gsr_sendfile). And a body longer
 * than the range asked is an error every time, with how many bytes more,
 * whether the length is announced (Content-Length) or not (chunked).
 *
 * SPDX-License-Identifier: MIT
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "lengths"
#define MiB ((uint64_t)1024 * 1024)
/* An odd size: the object's end falls inside a block. */
#define OBJ_SIZE (20 * MiB + 777)
#define LONG_RUNS 50
#define SMALL_SIZE (3 * MiB + 5)

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL}};
static unsigned char *data; /* its bytes */
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 77,          .client = 1,
                                .anonymous = 1,      .data = &data};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  /* "small" is obj's first SMALL_SIZE bytes. */
  return ts_put(&fx.srv, BUCKET, "small", data, SMALL_SIZE);
}

static gsr_file open_name(const char *name, const char *prefetch) {
  gsr_file_options fo;
  gsr_file f;
  char url[128];
  gsr_file_options_init(&fo);
  fo.prefetch = prefetch;
  snprintf(url, sizeof(url), "gs://" BUCKET "/%s", name);
  int rc = gsr_open(fx.client, url, &fo, &f);
  if (rc != GSR_OK) fail_msg("open: %s", gsr_errmsg());
  return f;
}

static gsr_file open_obj(const char *prefetch) {
  return open_name("obj", prefetch);
}

/* Body bytes of the media requests logged from line `from` on. */
static uint64_t server_sent(long from) {
  static struct ts_media_req r[512];
  ts_log_quiet(&fx.srv, 150);
  int n = ts_media_log(&fx.srv, from, r, 512);
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) sum += r[i].sent;
  return sum;
}

static uint64_t client_fetched(void) {
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  return cs.bytes_fetched;
}

/* Reads [off, off+len) front to back in io-sized pieces, as cat --copy
 * does (with its promise), and checks the bytes and the counters: the
 * file's bytes_fetched is exactly len, as is what the server sent, before
 * and after close, and the client's counter moved by as much. */
static void read_exact(const char *prefetch, uint64_t off, uint64_t len,
                       size_t io) {
  long from = ts_log_lines(&fx.srv);
  uint64_t client0 = client_fetched();
  gsr_file f = open_obj(prefetch);
  unsigned char *buf = malloc(io);
  assert_non_null(buf);
  assert_int_equal(gsr_seek(f, (int64_t)off, GSR_SEEK_SET), (int64_t)off);
  assert_int_equal(gsr_set_read_end(f, off + len), GSR_OK);
  for (uint64_t at = off; at < off + len;) {
    size_t want = (size_t)(off + len - at < io ? off + len - at : io);
    int64_t got = gsr_read(f, buf, want);
    if (got <= 0)
      fail_msg("read at %llu: %s", (unsigned long long)at, gsr_errmsg());
    assert_memory_equal(buf, data + at, (size_t)got);
    at += (uint64_t)got;
  }
  free(buf);
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  uint64_t sent_open = server_sent(from);
  assert_int_equal(gsr_close(f), GSR_OK);
  uint64_t sent = server_sent(from);
  printf("  %s %llu+%llu io %zu: fetched %llu, delivered %llu, server sent "
         "%llu (%llu before close), plan %s\n",
         prefetch, (unsigned long long)off, (unsigned long long)len, io,
         (unsigned long long)st.bytes_fetched,
         (unsigned long long)st.bytes_delivered, (unsigned long long)sent,
         (unsigned long long)sent_open, st.plan);
  assert_int_equal(st.bytes_delivered, len);
  assert_int_equal(st.bytes_fetched, len);
  assert_int_equal(sent_open, len);
  assert_int_equal(sent, len);
  assert_int_equal(client_fetched() - client0, len);
}

static void test_read_counts_exact(void **state) {
  (void)state;
  read_exact("sequential", 0, 10000000, 16 * MiB); /* cat --copy --length */
  read_exact("sequential", 123457, 7 * MiB + 3, 1 * MiB);
  read_exact("sequential", 0, OBJ_SIZE, 16 * MiB); /* the whole object */
  read_exact("sequential", 5 * MiB, OBJ_SIZE - 5 * MiB, 64 * 1024);
  read_exact("adaptive", 0, 10000000, 1 * MiB); /* blocks */
  read_exact("adaptive", 4097, 12 * MiB, 256 * 1024);
  read_exact("off", 1000, 12 * MiB, 12 * MiB); /* split over 4 parts */
  read_exact("off", 0, OBJ_SIZE, 3 * MiB);
}

/* gsr_sendfile: its stream and the counters, ranges and the whole. */
static void send_exact(uint64_t off, uint64_t count, uint64_t want) {
  long from = ts_log_lines(&fx.srv);
  uint64_t client0 = client_fetched(), written = 0;
  gsr_file f = open_obj(NULL);
  int fd = open("/dev/null", O_WRONLY);
  assert_true(fd >= 0);
  int rc = gsr_sendfile(f, fd, (int64_t)off, count, &written);
  close(fd);
  if (rc != GSR_OK) fail_msg("sendfile: %s", gsr_errmsg());
  assert_int_equal(written, want);
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  assert_int_equal(gsr_close(f), GSR_OK);
  uint64_t sent = server_sent(from);
  printf("  sendfile %llu+%llu: fetched %llu, server sent %llu\n",
         (unsigned long long)off, (unsigned long long)count,
         (unsigned long long)st.bytes_fetched, (unsigned long long)sent);
  assert_int_equal(st.bytes_fetched, want);
  assert_int_equal(sent, want);
  assert_int_equal(client_fetched() - client0, want);
}

static void test_sendfile_counts_exact(void **state) {
  (void)state;
  send_exact(0, 10000000, 10000000);
  send_exact(3333, 5 * MiB, 5 * MiB);
  send_exact(0, UINT64_MAX, OBJ_SIZE);
  send_exact(OBJ_SIZE - 100, 1000, 100);
}

/* A read past the promise breaks it: the bytes are still right. */
static void test_promise_broken(void **state) {
  (void)state;
  gsr_file f = open_obj("sequential");
  size_t n = 3 * MiB;
  unsigned char *buf = malloc(n);
  assert_non_null(buf);
  assert_int_equal(gsr_set_read_end(f, 1 * MiB), GSR_OK);
  assert_int_equal(gsr_read(f, buf, 512 * 1024), 512 * 1024);
  assert_memory_equal(buf, data, 512 * 1024);
  assert_int_equal(gsr_read(f, buf, n), (int64_t)n); /* past 1 MiB */
  assert_memory_equal(buf, data + 512 * 1024, n);
  assert_int_equal(gsr_read(f, buf, n), (int64_t)n);
  assert_memory_equal(buf, data + 512 * 1024 + n, n);
  free(buf);
  assert_int_equal(gsr_close(f), GSR_OK);
  assert_int_equal(gsr_set_read_end(f, 1), GSR_ECLOSED);
}

/* ---- Bodies longer than asked: the server appends 11 bytes. */

static void expect_too_long(int rc, const char *what, int run) {
  const char *msg = gsr_errmsg();
  if (rc != GSR_EPROTO ||
      strstr(msg, "server sent 11 bytes more than the") == NULL)
    fail_msg("%s, run %d: status %d (%s), want GSR_EPROTO naming 11 bytes",
             what, run, rc, rc == GSR_OK ? "success" : msg);
}

/* Each of LONG_RUNS runs of: gsr_sendfile of a whole object (cat), a
 * sequential read of it in pieces (cat --copy), one gsr_pread. */
static void long_runs(const char *length) {
  char cfg[160];
  snprintf(cfg, sizeof(cfg),
           "config?fault_kind=long&fault_ratio=1&"
           "long_extra=11&long_length=%s",
           length);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_int_equal(ts_control(&fx.srv, cfg), 200);
  size_t io = 1 * MiB;
  unsigned char *buf = malloc(io);
  assert_non_null(buf);
  int fd = open("/dev/null", O_WRONLY);
  assert_true(fd >= 0);
  for (int run = 0; run < LONG_RUNS; run++) {
    gsr_file f = open_name("small", NULL);
    expect_too_long(gsr_sendfile(f, fd, 0, UINT64_MAX, NULL), "sendfile", run);
    gsr_close(f);

    f = open_name("small", "sequential");
    int64_t got = 0, total = 0;
    while ((got = gsr_read(f, buf, io)) > 0) total += got;
    if (got == 0)
      fail_msg("sequential read, run %d: success after %lld bytes", run,
               (long long)total);
    expect_too_long((int)got, "sequential read", run);
    gsr_close(f);

    f = open_name("small", "off");
    got = gsr_pread(f, buf, io, (int64_t)(run * 4096));
    expect_too_long(got < 0 ? (int)got : GSR_OK, "pread", run);
    assert_non_null(strstr(gsr_errmsg(), "more than the 1048576 asked"));
    gsr_close(f);
  }
  close(fd);
  free(buf);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
}

/* Content-Length says the true length: known before any byte. */
static void test_long_announced(void **state) {
  (void)state;
  long_runs("true");
}

/* Chunked: the extra bytes come in the last chunk's callback or after it;
 * the range's last byte is handed out only once the body ended. */
static void test_long_chunked(void **state) {
  (void)state;
  long_runs("none");
}

/* ---- requests: what went on the wire, as the server counts it. */

/* Media GETs the server logged from line `from` on, once it went quiet. */
static long server_gets(long from) {
  char line[8192];
  long n = 0, end = ts_log_quiet(&fx.srv, 150);
  for (long k = from;
       k < end && ts_log_line(&fx.srv, k, line, sizeof line) == 0; k++)
    if (strstr(line, "\"kind\":\"media\"") != NULL &&
        strstr(line, "\"method\":\"GET\"") != NULL)
      n++;
  return n;
}

static uint64_t client_requests(gsr_client *c) {
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  return cs.requests;
}

/* What a case did: the file's and the client's requests, after close. */
static void expect_requests(const char *what, gsr_client *c, gsr_file f,
                            long from, uint64_t client0, long at_least) {
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  assert_int_equal(gsr_close(f), GSR_OK);
  long gets = server_gets(from);
  printf("  %s: requests %llu, client %llu, server GETs %ld\n", what,
         (unsigned long long)st.requests,
         (unsigned long long)(client_requests(c) - client0), gets);
  assert_true(gets >= at_least);
  assert_int_equal(st.requests, gets);
  assert_int_equal(client_requests(c) - client0, gets);
}

static gsr_file open_on(gsr_client *c, const char *prefetch) {
  gsr_file_options fo;
  gsr_file f;
  gsr_file_options_init(&fo);
  fo.prefetch = prefetch;
  if (gsr_open(c, "gs://" BUCKET "/obj", &fo, &f) != GSR_OK)
    fail_msg("open: %s", gsr_errmsg());
  return f;
}

/* gsr_file_stats.requests and the client's equal the server's count of
 * media GETs: a plain (split) read, reads whose attempts fail and are
 * retried (503s, cut bodies resumed), and a vectored read with a retry. */
static void test_requests_as_server_counts(void **state) {
  (void)state;
  gsr_client_options o;
  fx_client_options(&o);
  o.anonymous = 1;
  o.retry_initial_ms = 10;
  gsr_client *c = fx_client(&o);
  size_t len = 12 * MiB;
  unsigned char *buf = malloc(len);
  assert_non_null(buf);
  static const char *const faults[] = {NULL,
                                       "config?fault_kind=status&fault_next=3",
                                       "config?fault_kind=cut&fault_next=2"};
  for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
    for (int parts = 1; parts <= 2; parts++) { /* 3 MiB: 1; 12 MiB: 2 */
      size_t n = parts == 1 ? 3 * MiB : len;
      gsr_file f = open_on(c, "off");
      long from = ts_log_lines(&fx.srv);
      uint64_t c0 = client_requests(c);
      if (faults[i]) assert_int_equal(ts_control(&fx.srv, faults[i]), 200);
      assert_int_equal(gsr_pread(f, buf, n, 1000), (int64_t)n);
      assert_memory_equal(buf, data + 1000, n);
      char what[96];
      snprintf(what, sizeof(what), "pread %zu, %s", n,
               faults[i] ? faults[i] + 7 : "no fault");
      expect_requests(what, c, f, from, c0, parts + (faults[i] ? 2 : 0));
      assert_int_equal(ts_control(&fx.srv, "reset"), 200);
    }
  }
  /* Vectored: 3 spans far apart, the first attempt of one fails. */
  for (int fault = 0; fault <= 1; fault++) {
    gsr_range r[3];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++) {
      r[i].offset = (int64_t)(i * 6 * MiB + 17);
      r[i].length = 100000;
      r[i].buf = buf + (size_t)i * 100000;
    }
    gsr_file f = open_on(c, "off");
    long from = ts_log_lines(&fx.srv);
    uint64_t c0 = client_requests(c);
    if (fault)
      assert_int_equal(
          ts_control(&fx.srv, "config?fault_kind=status&fault_next=1"), 200);
    assert_int_equal(gsr_read_ranges(f, r, 3, NULL), GSR_OK);
    for (int i = 0; i < 3; i++)
      assert_memory_equal(r[i].buf, data + r[i].offset, 100000);
    expect_requests(fault ? "vectored, one 503" : "vectored", c, f, from, c0,
                    3 + fault);
    assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  }
  free(buf);
  gsr_client_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests_as_server_counts),
      cmocka_unit_test(test_read_counts_exact),
      cmocka_unit_test(test_sendfile_counts_exact),
      cmocka_unit_test(test_promise_broken),
      cmocka_unit_test(test_long_announced),
      cmocka_unit_test(test_long_chunked),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
