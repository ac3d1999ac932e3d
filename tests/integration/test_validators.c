/* What pins an http(s) object's version, against the stand-in server made
 * to send other servers' validators (docs/server.md, Quirks): a strong
 * ETag (If-Match), a long one (kept whole), a weak one or none (then
 * Last-Modified, If-Unmodified-Since), neither (then only one request, for
 * the whole object). In each case a read after the object was replaced
 * fails with GSR_ECHANGED instead of returning the new version's bytes.
 * And metadata text that does not fit gsr_stat (a contentType of 128
 * bytes ending inside a UTF-8 sequence) is left out, never cut.
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
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "validators"
#define SIZE 300000
#define PIECE 1000

static unsigned char *v1, *v2;

const struct fx_spec fx_spec = {.anonymous = 1, .client = 1};

static int setup(void **state) {
  (void)state;
  v1 = ts_random_bytes(SIZE, 1);
  v2 = ts_random_bytes(SIZE, 2);
  return fx_setup(&fx_spec);
}

static int teardown(void **state) {
  free(v1);
  free(v2);
  return fx_teardown(state);
}

/* Puts bytes as bucket/name with an mtime `age` seconds in the past: two
 * versions of one size within one second would share nginx's ETag and
 * date, which no validator could tell apart. */
static void put_aged(const char *name, const unsigned char *bytes, int age) {
  char path[600];
  struct timeval tv[2];
  assert_int_equal(ts_put(&fx.srv, BUCKET, name, bytes, SIZE), 0);
  snprintf(path, sizeof path, "%s/" BUCKET "/%s", fx.srv.data, name);
  gettimeofday(&tv[0], NULL);
  tv[0].tv_sec -= age;
  tv[1] = tv[0];
  assert_int_equal(utimes(path, tv), 0);
}

static void knobs(const char *q) {
  char path[400];
  snprintf(path, sizeof path, "config?%s", q);
  assert_int_equal(ts_control(&fx.srv, path), 200);
}

static gsr_file open_http(const char *name) {
  char url[256];
  gsr_file f;
  snprintf(url, sizeof url, "%s/http/" BUCKET "/%s", fx.srv.endpoint, name);
  if (gsr_open(fx.client, url, NULL, &f) != GSR_OK)
    fail_msg("open %s: %s", url, gsr_errmsg());
  return f;
}

/* Reads PIECE bytes at off and checks them against want. */
static void read_ok(gsr_file f, int64_t off, const unsigned char *want) {
  unsigned char buf[PIECE];
  int64_t r = gsr_pread(f, buf, PIECE, off);
  if (r != PIECE)
    fail_msg("pread at %lld: %lld: %s", (long long)off, (long long)r,
             gsr_errmsg());
  assert_memory_equal(buf, want + off, PIECE);
}

/* Opens name (version 1), reads a piece, replaces it with version 2, and
 * expects the next read to fail with GSR_ECHANGED, not return v2's bytes. */
static void replaced_is_changed(const char *name) {
  unsigned char buf[PIECE];
  put_aged(name, v1, 100);
  gsr_file f = open_http(name);
  read_ok(f, 0, v1);
  put_aged(name, v2, 50);
  int64_t r = gsr_pread(f, buf, PIECE, 200000);
  if (r != GSR_ECHANGED)
    fail_msg("%s: a read after the replacement returned %lld (%s), not "
             "GSR_ECHANGED",
             name, (long long)r,
             r < 0 ? gsr_errmsg() : "the new version's bytes");
  gsr_close(f);
}

static void test_strong_etag(void **state) {
  (void)state;
  knobs("http_etag=nginx&http_last_modified=1");
  replaced_is_changed("strong");
}

/* No ETag: Last-Modified pins (If-Unmodified-Since), even for a server that
 * ignores the precondition (the response's own date is compared). */
static void test_last_modified_only(void **state) {
  (void)state;
  knobs("http_etag=none&http_last_modified=1");
  replaced_is_changed("dated");
  knobs("http_etag=nginx");
}

/* A weak ETag pins no bytes: a strict server (nginx) answers 412 to it in
 * If-Match. It is not sent; Last-Modified pins instead. */
static void test_weak_etag(void **state) {
  (void)state;
  knobs("http_etag=weak&http_last_modified=1");
  put_aged("weak", v1, 100);
  gsr_file f = open_http("weak");
  gsr_stat st;
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_int_equal(strncmp(st.etag, "W/\"", 3), 0); /* shown as sent */
  read_ok(f, 0, v1);
  read_ok(f, 100000, v1);
  gsr_close(f);
  replaced_is_changed("weak2");
  knobs("http_etag=nginx");
}

/* An ETag longer than gsr_stat.etag holds: pinned whole (a cut one would
 * match nothing: 412 on every read), shown as "" rather than cut. */
static void test_long_etag(void **state) {
  (void)state;
  knobs("http_etag=long&http_last_modified=0");
  put_aged("long", v1, 100);
  gsr_file f = open_http("long");
  gsr_stat st;
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_string_equal(st.etag, "");
  read_ok(f, 0, v1);
  read_ok(f, 150000, v1);
  gsr_close(f);
  replaced_is_changed("long2");
  knobs("http_etag=nginx&http_last_modified=1");
}

/* Neither validator: a read of the whole object in one request is safe;
 * anything else would be several requests, maybe of several versions. */
static void test_no_validator(void **state) {
  (void)state;
  static unsigned char buf[SIZE];
  knobs("http_etag=none&http_last_modified=0");
  put_aged("bare", v1, 100);
  gsr_file f = open_http("bare");
  int64_t r = gsr_pread(f, buf, PIECE, 1000);
  assert_int_equal(r, GSR_EPROTO);
  assert_non_null(strstr(gsr_errmsg(), "neither a strong ETag nor"));
  gsr_close(f);
  f = open_http("bare");
  r = gsr_pread(f, buf, SIZE, 0);
  if (r != SIZE) fail_msg("whole read: %lld: %s", (long long)r, gsr_errmsg());
  assert_memory_equal(buf, v1, SIZE);
  gsr_close(f);
  knobs("http_etag=nginx&http_last_modified=1");
}

/* A contentType that does not fit gsr_stat.content_type (127 bytes) is
 * left out whole: cut at 127 it would end inside the 2-byte "é". */
static void test_long_content_type(void **state) {
  (void)state;
  char ct[200], q[300], url[128];
  gsr_file f;
  gsr_stat st;
  memset(ct, 'a', 126);
  strcpy(ct + 126, "%C3%A9"); /* 128 bytes once decoded */
  snprintf(q, sizeof q, "content_type=%s", ct);
  knobs(q);
  put_aged("typed", v1, 100);
  snprintf(url, sizeof url, "gs://" BUCKET "/typed");
  assert_int_equal(gsr_open(fx.client, url, NULL, &f), GSR_OK);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_string_equal(st.content_type, "");
  gsr_close(f);
  /* One that fits is there whole. */
  knobs("content_type=text%2Fplain%3B%20charset%3D%C3%A9");
  assert_int_equal(gsr_open(fx.client, url, NULL, &f), GSR_OK);
  assert_int_equal(gsr_fstat(f, &st), GSR_OK);
  assert_string_equal(st.content_type, "text/plain; charset=\xc3\xa9");
  gsr_close(f);
  knobs("content_type=application%2Foctet-stream");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strong_etag),
      cmocka_unit_test(test_last_modified_only),
      cmocka_unit_test(test_weak_etag),
      cmocka_unit_test(test_long_etag),
      cmocka_unit_test(test_no_validator),
      cmocka_unit_test(test_long_content_type),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
