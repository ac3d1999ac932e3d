/* Unit tests of the pure parsers: sizes, URLs, percent-encoding, bucket
 * names, Content-Range and header lines, GCS metadata, CRC32C, base64.
 *
 * SPDX-License-Identifier: MIT
 */
#include <limits.h>
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

#include "../support/cases.h"
#include "backend/backend.h"
#include "read/file.h"
#include "read/prefetch/prefetch.h"
#include "transport/transport.h"

int gsr__gcs_parse_metadata(const char *json, size_t len, gsr_stat *st,
                            char *why, size_t n);

static void size_ok(const char *s, uint64_t want) {
  uint64_t v = 0;
  assert_int_equal(gsr_parse_size(s, &v), GSR_OK);
  assert_true(v == want);
}

static void size_bad(const char *s) {
  uint64_t v = 77;
  assert_int_equal(gsr_parse_size(s, &v), GSR_EINVAL);
  assert_true(v == 77);
  assert_true(strlen(gsr_errmsg()) > 0);
}

static void test_sizes(void **state) {
  (void)state;
  size_ok("0", 0);
  size_ok("123", 123);
  size_ok("64K", 65536);
  size_ok("64k", 65536);
  size_ok("64KiB", 65536);
  size_ok("1M", 1048576);
  size_ok("1MiB", 1048576);
  size_ok("5MB", 5000000);
  size_ok("5mb", 5000000);
  size_ok("2G", 2147483648ull);
  size_ok("1T", 1099511627776ull);
  size_ok("7B", 7);
  size_ok("18446744073709551615", UINT64_MAX);
  size_bad("");
  size_bad("-1");
  size_bad("+1");
  size_bad("1.5M");
  size_bad("12Q");
  size_bad("K");
  size_bad(" 1");
  size_bad("1 M");
  size_bad("18446744073709551616");
  size_bad("17179869184G"); /* 2^34 GiB overflows */
  assert_int_equal(gsr_parse_size(NULL, NULL), GSR_EINVAL);
}

static void test_percent_encode(void **state) {
  (void)state;
  struct {
    const char *in, *out;
  } cases[] = {
      {"plain", "plain"},
      {"a/b", "a%2Fb"},
      {"with space", "with%20space"},
      {"#?%+&=", "%23%3F%25%2B%26%3D"},
      {"A-z_0.9~", "A-z_0.9~"},
      {"\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *e = gsr__percent_encode(cases[i].in, strlen(cases[i].in));
    assert_string_equal(e, cases[i].out);
    char *d = gsr__percent_decode(e) == 0 ? e : NULL;
    assert_non_null(d);
    assert_string_equal(d, cases[i].in);
    gsr__free(e);
  }
  char bad[] = "a%2";
  assert_int_equal(gsr__percent_decode(bad), -1);
  char bad2[] = "a%zz";
  assert_int_equal(gsr__percent_decode(bad2), -1);
}

static void test_bucket_names(void **state) {
  (void)state;
  EXPECT_EACH(gsr__bucket_name_valid, 1, "abc", "my-bucket_1", "a.b.c");
  EXPECT_EACH(gsr__bucket_name_valid, 0, "ab", "Abc", "-abc", "abc-", "a..b",
              "a b");
  char longc[70];
  memset(longc, 'a', 64);
  longc[64] = '\0';
  assert_false(gsr__bucket_name_valid(longc));
}

static void test_urls(void **state) {
  (void)state;
  struct gsr__url u;
  assert_int_equal(gsr__url_parse("gs://bkt/dir/obj name#1", &u), GSR_OK);
  assert_int_equal(u.scheme, GSR__SCHEME_GS);
  assert_string_equal(u.bucket, "bkt");
  assert_string_equal(u.object, "dir/obj name#1");
  gsr__url_cleanup(&u);
  assert_int_equal(gsr__url_parse("GS://bkt/o", &u), GSR_OK);
  gsr__url_cleanup(&u);
  assert_int_equal(gsr__url_parse("https://h:1/p?q=1", &u), GSR_OK);
  assert_int_equal(u.scheme, GSR__SCHEME_HTTP);
  assert_string_equal(u.href, "https://h:1/p?q=1");
  gsr__url_cleanup(&u);
  assert_int_equal(gsr__url_parse("file:///tmp/a%20b", &u), GSR_OK);
  assert_int_equal(u.scheme, GSR__SCHEME_FILE);
  assert_string_equal(u.path, "/tmp/a b");
  gsr__url_cleanup(&u);
  assert_int_equal(gsr__url_parse("file://localhost/x", &u), GSR_OK);
  assert_string_equal(u.path, "/x");
  gsr__url_cleanup(&u);
  assert_int_equal(gsr__url_parse("relative/path", &u), GSR_OK);
  assert_string_equal(u.path, "relative/path");
  gsr__url_cleanup(&u);

  const char *bad[] = {"",
                       "gs://",
                       "gs://bkt",
                       "gs://bkt/",
                       "gs://B/o",
                       "gs://ab/o",
                       "s3://b/o",
                       "http://",
                       "http:///x",
                       "file://host/x",
                       "file:///a%zz",
                       "gs://bkt/a\nb",
                       "gs://bkt/\xff",
                       "http://h/a b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(gsr__url_parse(bad[i], &u), GSR_EINVAL);
    assert_null(u.bucket);
    assert_null(u.path);
  }
  assert_int_equal(gsr__url_parse(NULL, &u), GSR_EINVAL);
  char big[1100] = "gs://bkt/";
  memset(big + 9, 'x', 1025);
  big[9 + 1025] = '\0';
  assert_int_equal(gsr__url_parse(big, &u), GSR_EINVAL);
}

static void test_content_range(void **state) {
  (void)state;
  uint64_t a, b, t;
  assert_int_equal(gsr__parse_content_range("bytes 0-9/100", &a, &b, &t), 0);
  assert_true(a == 0 && b == 9 && t == 100);
  assert_int_equal(gsr__parse_content_range("bytes 5-5/*", &a, &b, &t), 0);
  assert_true(t == UINT64_MAX);
  assert_int_equal(gsr__parse_content_range("BYTES 1-2/3", &a, &b, &t), 0);
  const char *bad[] = {"",
                       "bytes",
                       "bytes 1-/2",
                       "bytes -1/2",
                       "bytes 5-4/9",
                       "bytes 0-9/9",
                       "bytes 0-9/",
                       "bytes 0-9/10x",
                       "items 0-1/2",
                       "bytes */100",
                       "bytes 0-99999999999999999999/1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(gsr__parse_content_range(bad[i], &a, &b, &t), -1);
}

static int feed(struct gsr__response *r, const char *line) {
  return gsr__parse_header_line(r, line, strlen(line));
}

static void test_header_lines(void **state) {
  (void)state;
  struct gsr__response r;
  gsr__response_reset(&r);
  assert_int_equal(feed(&r, "HTTP/1.1 100 Continue\r\n"), 0);
  assert_int_equal(r.status, 100);
  assert_int_equal(feed(&r, "\r\n"), 1);
  assert_int_equal(feed(&r, "HTTP/2 206\r\n"), 0);
  assert_int_equal(r.status, 206);
  feed(&r, "content-range: bytes 10-19/20\r\n");
  feed(&r, "Content-Length:  10 \r\n");
  feed(&r, "x-goog-generation: 1700000000000001\r\n");
  feed(&r, "x-goog-hash: crc32c=AAAAAA==\r\n");
  feed(&r, "x-goog-hash: md5=1B2M2Y8AsgTpgAmY7PhCfg==\r\n");
  feed(&r, "ETag: \"abc\"\r\n");
  feed(&r, "Retry-After: 3\r\n");
  feed(&r, "no colon here\r\n");
  assert_true(r.has_content_range && r.cr_first == 10 && r.cr_total == 20);
  assert_int_equal(r.content_length, 10);
  assert_true(r.goog_generation == 1700000000000001ll);
  assert_string_equal(r.goog_hash,
                      "crc32c=AAAAAA==,md5=1B2M2Y8AsgTpgAmY7PhCfg==");
  assert_string_equal(r.etag, "\"abc\"");
  assert_int_equal(r.retry_after_s, 3);
  assert_int_equal(feed(&r, "\n"), 1);
  /* A status must be 100..599 (found by fuzz_http): none is kept. */
  feed(&r, "HTTP/1.1 026 Partial Content\r\n");
  assert_int_equal(r.status, 0);
  feed(&r, "HTTP/1.1 600 Nope\r\n");
  assert_int_equal(r.status, 0);
  /* A new status line forgets the previous response's headers. */
  feed(&r, "HTTP/1.1 200 OK\r\n");
  assert_false(r.has_content_range);
  assert_int_equal(r.content_length, -1);
}

/* A value too long for its field is left out whole, never cut: a cut ETag
 * would pin nothing (412 on every read), a cut text could end inside a
 * UTF-8 sequence. An ETag of up to GSR__ETAG_MAX - 1 bytes is kept. */
static void test_header_whole_or_none(void **state) {
  (void)state;
  struct gsr__response r;
  char line[2 * GSR__ETAG_MAX];
  gsr__response_reset(&r);
  feed(&r, "HTTP/1.1 200 OK\r\n");
  memset(line, 0, sizeof line);
  memcpy(line, "ETag: \"", 7);
  memset(line + 7, 'e', GSR__ETAG_MAX - 3);
  strcat(line, "\"\r\n");
  feed(&r, line); /* GSR__ETAG_MAX - 1 bytes with its quotes: kept */
  assert_int_equal(strlen(r.etag), GSR__ETAG_MAX - 1);
  memset(line + 7, 'e', GSR__ETAG_MAX - 2);
  strcpy(line + 7 + GSR__ETAG_MAX - 2, "\"\r\n");
  feed(&r, line); /* one more: none */
  assert_string_equal(r.etag, "");
  memset(line, 0, sizeof line);
  memcpy(line, "Content-Type: ", 14);
  memset(line + 14, 'a', 126);
  strcat(line, "\xc3\xa9\r\n"); /* 128 bytes, "é" last */
  feed(&r, line);
  assert_string_equal(r.content_type, "");
  feed(&r, "Content-Type: text/\xc3\xa9\r\n");
  assert_string_equal(r.content_type, "text/\xc3\xa9");
}

/* Which failed attempt renews the retry budget: 64 KiB of progress, or
 * all that was left; never none (a trickle runs its retries out). */
static void test_retry_progress_renews(void **state) {
  (void)state;
  assert_false(gsr__retry_progress_renews(0, 1 << 20));
  assert_false(gsr__retry_progress_renews(0, 0));
  assert_false(gsr__retry_progress_renews(1, 1 << 20));
  assert_false(gsr__retry_progress_renews(65535, 1 << 20));
  assert_true(gsr__retry_progress_renews(65536, 1 << 20));
  assert_true(gsr__retry_progress_renews(10, 10)); /* all that was left */
  assert_false(gsr__retry_progress_renews(9, 10));
}

static void test_retry_delay(void **state) {
  (void)state;
  struct gsr__retry_policy p = {.initial_ms = 100,
                                .multiplier = 2.0,
                                .max_delay_ms = 1000,
                                .max_attempts = 8,
                                .deadline_ms = 60000};
  uint64_t rng = 1;
  for (int i = 0; i < 1000; i++) {
    /* Full jitter: within [0, cap], the cap doubling up to max_delay. */
    assert_true(gsr__retry_delay_ms(&p, 2, -1, &rng) <= 100);
    assert_true(gsr__retry_delay_ms(&p, 4, -1, &rng) <= 400);
    assert_true(gsr__retry_delay_ms(&p, 30, -1, &rng) <= 1000);
    /* Retry-After is a floor, whatever the backoff drew. */
    assert_true(gsr__retry_delay_ms(&p, 2, 3, &rng) >= 3000);
  }
  /* A hostile Retry-After neither overflows nor wraps to "now". */
  assert_int_equal(gsr__retry_delay_ms(&p, 2, 9223372036854775807L, &rng),
                   86400000L);
  assert_int_equal(gsr__retry_delay_ms(&p, 2, 86401, &rng), 86400000L);
}

/* The deadline: a retry due past it is not made; a deadline or a delay
 * near LONG_MAX saturates (it used to wrap, and no retry was ever made). */
static void test_retry_deadline(void **state) {
  (void)state;
  struct gsr__retry_policy p = {.deadline_ms = 1000};
  uint64_t t0 = 5000000000ull, due = 0;
  assert_int_equal(gsr__retry_due(&p, t0, t0 + 400000000ull, 600, &due), 1);
  assert_true(due == t0 + 1000000000ull);
  assert_int_equal(gsr__retry_due(&p, t0, t0 + 400000000ull, 601, &due), 0);
  p.deadline_ms = 0;
  assert_int_equal(gsr__retry_due(&p, t0, t0, 0, &due), 1);
  assert_int_equal(gsr__retry_due(&p, t0, t0, 1, &due), 0);
  p.deadline_ms = LONG_MAX;
  assert_int_equal(gsr__retry_due(&p, t0, t0 + 1, 250, &due), 1);
  assert_true(due == t0 + 1 + 250000000ull);
  assert_int_equal(gsr__retry_due(&p, t0, t0, LONG_MAX, &due), 1);
  assert_int_equal(gsr__retry_due(&p, UINT64_MAX - 1, UINT64_MAX, 9, &due), 1);
  p.deadline_ms = 10000000000000000L; /* past 2^64 ns */
  assert_int_equal(gsr__retry_due(&p, t0, t0 + 1, 86400000L, &due), 1);
}

static void test_metadata(void **state) {
  (void)state;
  gsr_stat st;
  char why[128];
  const char *ok =
      "{\"kind\":\"storage#object\",\"name\":\"o\",\"size\":\"4095\","
      "\"generation\":\"1700000000123456\",\"metageneration\":\"2\","
      "\"contentType\":\"text/plain\",\"updated\":\"2024-01-02T03:04:05.678Z\","
      "\"md5Hash\":\"1B2M2Y8AsgTpgAmY7PhCfg==\",\"crc32c\":\"4waSgw==\"}";
  assert_int_equal(gsr__gcs_parse_metadata(ok, strlen(ok), &st, why, 128), 0);
  assert_true(st.size == 4095);
  assert_true(st.generation == 1700000000123456ll);
  assert_true(st.metageneration == 2);
  assert_true(st.has_crc32c && st.crc32c == 0xE3069283u);
  assert_true(st.has_md5 && st.md5[0] == 0xd4 && st.md5[15] == 0x7e);
  assert_string_equal(st.content_type, "text/plain");
  assert_true(st.mtime == 1704164645);
  const char *bad[] = {"",
                       "[]",
                       "{",
                       "{\"size\":\"x\",\"generation\":\"1\"}",
                       "{\"size\":\"1\"}",
                       "{\"size\":\"-1\",\"generation\":\"1\"}",
                       "{\"size\":\"1\",\"generation\":\"0\"}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(
        gsr__gcs_parse_metadata(bad[i], strlen(bad[i]), &st, why, 128),
        GSR_EPROTO);
  /* Unparsable hashes are simply unknown, not an error. */
  const char *nohash =
      "{\"size\":\"1\",\"generation\":\"5\",\"crc32c\":\"!!\"}";
  assert_int_equal(
      gsr__gcs_parse_metadata(nohash, strlen(nohash), &st, why, 128), GSR_OK);
  assert_false(st.has_crc32c);
}

static void test_crc32c(void **state) {
  (void)state;
  assert_true(gsr__crc32c(0, "123456789", 9) == 0xE3069283u);
  uint32_t c = gsr__crc32c(0, "1234", 4);
  assert_true(gsr__crc32c(c, "56789", 5) == 0xE3069283u);
  assert_true(gsr__crc32c(0, "", 0) == 0);
  unsigned char out[4];
  assert_int_equal(gsr__base64_decode("4waSgw==", out, 4), 0);
  assert_true(out[0] == 0xE3 && out[3] == 0x83);
  assert_int_equal(gsr__base64_decode("4waSgw==", out, 3), -1);
  assert_int_equal(gsr__base64_decode("4w*Sgw==", out, 4), -1);
}

static void test_status_names(void **state) {
  (void)state;
  assert_string_equal(gsr_status_name(GSR_ECHANGED), "GSR_ECHANGED");
  assert_string_equal(gsr_strerror(GSR_OK), "success");
  assert_string_equal(gsr_strerror(12345), "unknown status");
  assert_true(gsr_status_is_retryable(GSR_ENETWORK));
  assert_false(gsr_status_is_retryable(GSR_ENOENT));
  for (int s = -1; s > GSR__STATUS_LAST; s--)
    assert_string_not_equal(gsr_status_name(s), "GSR_UNKNOWN");
}

/* Puts width for n origins: "<before>i<after>" for i from 0 to n - 1. */
static void put_origins(struct gsr__widths *ps, int n, const char *before,
                        const char *after, int width) {
  char url[64];
  for (int i = 0; i < n; i++) {
    snprintf(url, sizeof(url), "%s%d%s", before, i, after);
    gsr__widths_put(ps, url, width);
  }
}

/* The widths remembered are per origin (scheme://host:port):
 * other paths of the same server share one, another port or scheme does
 * not; a later decision replaces an earlier one. */
static void test_plans(void **state) {
  (void)state;
  struct gsr__widths *ps = gsr__widths_new();
  assert_non_null(ps);
  assert_int_equal(
      gsr__widths_get(ps, "https://storage.googleapis.com/download/x"), -1);
  gsr__widths_put(ps, "https://storage.googleapis.com/download/a?alt=media", 6);
  assert_int_equal(
      gsr__widths_get(ps, "https://storage.googleapis.com/download/b"), 6);
  assert_int_equal(gsr__widths_get(ps, "https://storage.googleapis.com"), 6);
  assert_int_equal(gsr__widths_get(ps, "https://storage.googleapis.com:8443/x"),
                   -1);
  assert_int_equal(gsr__widths_get(ps, "http://storage.googleapis.com/x"), -1);
  assert_int_equal(gsr__widths_get(ps, "https://storage.googleapis.co/x"), -1);
  gsr__widths_put(ps, "http://127.0.0.1:9000/x", 4);
  assert_int_equal(gsr__widths_get(ps, "http://127.0.0.1:9000?q"), 4);
  gsr__widths_put(ps, "https://storage.googleapis.com/y", 4);
  assert_int_equal(gsr__widths_get(ps, "https://storage.googleapis.com/z"), 4);
  /* More origins than slots: the oldest go, the newest stay. */
  put_origins(ps, 20, "http://host", "/obj", 6);
  assert_int_equal(gsr__widths_get(ps, "http://host19/o"), 6);
  assert_int_equal(gsr__widths_get(ps, "http://host0/o"), -1);
  assert_int_equal(gsr__widths_get(ps, "no scheme"), -1);
  gsr__widths_free(ps);
}

/* Plans saved to a file and read back by a fresh set: the directories
 * are made, an origin with credentials in it is not written, nothing new
 * writes nothing. */
static void test_plans_save_load(void **state) {
  (void)state;
  char dir[] = "/tmp/gsread-plans-XXXXXX", path[300], line[300];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/a/b/plans", dir);
  struct gsr__widths *ps = gsr__widths_new();
  assert_int_equal(gsr__widths_save(ps, path), 0); /* nothing decided */
  assert_int_equal(access(path, F_OK), -1);
  gsr__widths_put(ps, "http://h:2/download/x?alt=media", 4);
  gsr__widths_put(ps, "https://u:secret@h:3/o", 6);
  gsr__widths_put(ps, "https://storage.googleapis.com/o", 6);
  assert_int_equal(gsr__widths_save(ps, path), 1);
  assert_int_equal(gsr__widths_save(ps, path), 0); /* saved already */
  gsr__widths_free(ps);
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  int lines = 0;
  while (fgets(line, sizeof(line), fp) != NULL) {
    lines++;
    if (strstr(line, "secret") != NULL)
      fail_msg("credentials on disk: %s", line);
  }
  fclose(fp);
  assert_int_equal(lines, 3); /* the header and two plans */
  ps = gsr__widths_new();
  assert_int_equal(gsr__widths_load(ps, path), 2);
  assert_int_equal(gsr__widths_get(ps, "http://h:2/other"), 4);
  assert_int_equal(gsr__widths_get(ps, "https://storage.googleapis.com/b"), 6);
  assert_int_equal(gsr__widths_get(ps, "https://u:secret@h:3/o"), -1);
  assert_int_equal(gsr__widths_get(ps, "http://h:9/o"), -1);
  gsr__widths_free(ps);
  /* Figures no clock gives: skipped, whatever their size. */
  fp = fopen(path, "w");
  assert_non_null(fp);
  fprintf(fp,
          "gsread-plans 2\n"
          "http://a:1 6 -9223372036854775807\n"
          "http://b:1 6 9223372036854775807\n"
          "http://c:1 6 99999999999999999999\n"
          "http://d:1 sideways %lld\n"
          "http://f:1 0 %lld\n"
          "http://g:1 100000 %lld\n"
          "http://e:1 6\n",
          (long long)time(NULL), (long long)time(NULL), (long long)time(NULL));
  fclose(fp);
  ps = gsr__widths_new();
  assert_int_equal(gsr__widths_load(ps, path), 0);
  gsr__widths_free(ps);
  ps = gsr__widths_new();
  snprintf(line, sizeof(line), "%s/none", dir);
  assert_int_equal(gsr__widths_load(ps, line), 0); /* no file: no plans */
  gsr__widths_free(ps);
  snprintf(line, sizeof(line), "rm -rf '%s'", dir);
  assert_int_equal(system(line), 0);
}

/* Two processes (two tables here) that each decided a plan and save in
 * turn: the second save keeps the first's origins, and a plan the file
 * got since is kept over an older one of this process's own. */
static void test_plans_saves_merge(void **state) {
  (void)state;
  char dir[] = "/tmp/gsread-plans-XXXXXX", path[300], cmd[340];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/plans", dir);
  struct gsr__widths *a = gsr__widths_new(), *b = gsr__widths_new();
  gsr__widths_put(b, "http://y:1/o", 6);
  gsr__widths_put(b, "http://x:1/o", 6); /* older than a's */
  sleep(2);                              /* past the file's one-second grain */
  gsr__widths_put(a, "http://x:1/o", 4);
  gsr__widths_put(a, "http://z:1/o", 4);
  assert_int_equal(gsr__widths_save(a, path), 1);
  assert_int_equal(gsr__widths_save(b, path), 1);
  struct gsr__widths *c = gsr__widths_new();
  assert_int_equal(gsr__widths_load(c, path), 3);
  assert_int_equal(gsr__widths_get(c, "http://z:1/"), 4);
  assert_int_equal(gsr__widths_get(c, "http://y:1/"), 6);
  assert_int_equal(gsr__widths_get(c, "http://x:1/"), 4);
  /* This process's newer decision wins over the file's. */
  gsr__widths_put(a, "http://y:1/o", 4);
  assert_int_equal(gsr__widths_save(a, path), 1);
  gsr__widths_free(c);
  c = gsr__widths_new();
  assert_int_equal(gsr__widths_load(c, path), 3);
  assert_int_equal(gsr__widths_get(c, "http://y:1/"), 4);
  /* Full: a new origin takes the oldest decision's slot. */
  put_origins(c, 8, "http://n", ":1/o", 6);
  assert_int_equal(gsr__widths_get(c, "http://n0:1/"), 6);
  assert_int_equal(gsr__widths_get(c, "http://n7:1/"), 6);
  assert_int_equal(gsr__widths_get(c, "http://z:1/"), -1);
  gsr__widths_free(a);
  gsr__widths_free(b);
  gsr__widths_free(c);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_percent_encode),
      cmocka_unit_test(test_bucket_names),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_content_range),
      cmocka_unit_test(test_header_lines),
      cmocka_unit_test(test_header_whole_or_none),
      cmocka_unit_test(test_retry_delay),
      cmocka_unit_test(test_retry_deadline),
      cmocka_unit_test(test_retry_progress_renews),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_plans),
      cmocka_unit_test(test_plans_save_load),
      cmocka_unit_test(test_plans_saves_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
