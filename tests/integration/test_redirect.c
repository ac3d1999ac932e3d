/* Redirects against the local server's redirector (/redirect/CODE/N/PATH,
 * the "redirect" fault; docs/server.md): http(s) follows up to
 * max_redirects hops, resolved once at open and pinned to the final URL's
 * ETag; loops and long chains fail naming the hops; max_redirects 0 fails
 * naming the Location; a hop to another origin carries no credentials;
 * gs:// never follows.
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
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "rbkt"
#define MiB (1024u * 1024u)

static char other[160]; /* the same server as another origin: localhost */

static struct ts_object objects[] = {
    {"obj", 12 * MiB + 77, NULL}, /* over 2 x 5 MiB: a read is split */
    {"small", 1000, NULL},
};

static gsr_client *new_client(int max_redirects, const char *token) {
  gsr_client_options o;
  fx_client_options(&o);
  o.access_token = token;
  o.retry_max_attempts = 2;
  o.retry_initial_ms = 10;
  if (max_redirects >= 0) o.max_redirects = max_redirects;
  return fx_client(&o);
}

const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 7};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  const char *port = strrchr(fx.srv.endpoint, ':');
  snprintf(other, sizeof(other), "localhost%s", port);
  fx.client = new_client(-1, NULL);
  return 0;
}

static int reset(void **state) {
  (void)state;
  return ts_control(&fx.srv, "reset") == 200 ? 0 : -1;
}

static void control(const char *q) {
  char path[512];
  int n = snprintf(path, sizeof(path), "config?%s", q);
  if (n < 0 || (size_t)n >= sizeof(path)) fail_msg("control query too long");
  if (ts_control(&fx.srv, path) != 200) fail_msg("control %s failed", q);
}

/* http://127.0.0.1:P/redirect/CODE/HOPS/http/rbkt/NAME */
static void chain_url(const char *code, const char *hops, const char *name,
                      char *out, size_t n) {
  snprintf(out, n, "%s/redirect/%s/%s/http/%s/%s", fx.srv.endpoint, code, hops,
           BUCKET, name);
}

static gsr_file open_ok(gsr_client *c, const char *url) {
  gsr_file f;
  int s = gsr_open(c, url, NULL, &f);
  if (s != GSR_OK)
    fail_msg("open %s: %s: %s", url, gsr_strerror(s), gsr_errmsg());
  return f;
}

/* Log lines from `from` on that contain every one of the needles. */
static int log_count(long from, const char *a, const char *b) {
  char line[8192];
  int n = 0;
  ts_log_quiet(&fx.srv, 50); /* nginx logs just after it answers */
  for (long k = from; ts_log_line(&fx.srv, k, line, sizeof(line)) == 0; k++)
    if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)) n++;
  return n;
}

static void expect_open_fails(gsr_client *c, const char *url, int status,
                              const char *const *needles) {
  gsr_file f;
  int s = gsr_open(c, url, NULL, &f);
  if (s == GSR_OK) fail_msg("open %s succeeded", url);
  const char *msg = gsr_errmsg();
  print_message("  %s\n", msg);
  assert_int_equal(s, status);
  for (; *needles != NULL; needles++)
    if (strstr(msg, *needles) == NULL)
      fail_msg("'%s' is not in the message: %s", *needles, msg);
}

/* Three redirects (codes vary): whole, ranged and split reads are
 * byte-exact; the file is pinned to the final URL's ETag (the redirects
 * carry a decoy one); data requests go straight to the final URL. */
static void test_chain_of_three(void **state) {
  (void)state;
  const struct ts_object *o = &objects[0];
  const char *codes[] = {"301", "302", "303", "307", "308"};
  char url[512], final[512];
  snprintf(final, sizeof(final), "%s/http/%s/obj", fx.srv.endpoint, BUCKET);
  gsr_file ff = open_ok(fx.client, final);
  gsr_stat want;
  assert_int_equal(gsr_fstat(ff, &want), GSR_OK);
  gsr_close(ff);
  assert_true(want.etag[0] != '\0');
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    chain_url(codes[i], "3", "obj", url, sizeof(url));
    long base = ts_log_quiet(&fx.srv, 50); /* earlier lines all in */
    gsr_file f = open_ok(fx.client, url);
    gsr_stat st;
    assert_int_equal(gsr_fstat(f, &st), GSR_OK);
    assert_string_equal(st.etag, want.etag); /* not "redirect-decoy" */
    assert_int_equal(st.size, o->size);
    unsigned char *buf = malloc(o->size);
    assert_int_equal(gsr_pread(f, buf, o->size, 0), (int64_t)o->size);
    assert_memory_equal(buf, o->data, o->size);
    assert_int_equal(gsr_pread(f, buf, 4096, 5 * MiB + 3), 4096);
    assert_memory_equal(buf, o->data + 5 * MiB + 3, 4096);
    assert_int_equal(gsr_pread(f, buf, 100, o->size - 10), 10);
    assert_memory_equal(buf, o->data + o->size - 10, 10);
    gsr_close(f);
    free(buf);
    /* Open: 3 redirects, then the HEAD at the final URL. Data: only GETs
     * of the final URL, each with its If-Match. */
    assert_int_equal(log_count(base, "\"kind\":\"redirect\"", NULL), 3);
    assert_int_equal(log_count(base, "\"method\":\"GET\"", "/redirect/"), 0);
    int gets = log_count(base, "\"method\":\"GET\"", "/http/rbkt/obj");
    assert_true(gets >= 3);
    char pin[200];
    snprintf(pin, sizeof(pin), "\"if_match\":\"\\\"%.*s\\\"\"",
             (int)strlen(want.etag) - 2, want.etag + 1);
    assert_int_equal(log_count(base, "\"method\":\"GET\"", pin), gets);
  }
  /* Five redirects is the default limit: still followed. */
  chain_url("302", "5", "small", url, sizeof(url));
  gsr_close(open_ok(fx.client, url));
}

static void test_loop_names_the_hops(void **state) {
  (void)state;
  char url[512];
  chain_url("302", "loop", "small", url, sizeof(url));
  const char *needles[] = {"redirect loop", "/302/loop/http/rbkt/small -> ",
                           "/302/loop-b/http/rbkt/small -> ", NULL};
  long base = ts_log_quiet(&fx.srv, 50); /* earlier lines all in */
  expect_open_fails(fx.client, url, GSR_EHTTP, needles);
  /* Stopped when the first URL came round again: two requests. */
  assert_int_equal(log_count(base, "\"kind\":\"redirect\"", NULL), 2);
}

static void test_six_hops_are_too_many(void **state) {
  (void)state;
  char url[512];
  chain_url("307", "6", "small", url, sizeof(url));
  const char *needles[] = {
      "too many redirects (more than 5)", "/307/6/http/rbkt/small -> ",
      "/307/1/http/rbkt/small -> ", "/http/rbkt/small: too many", NULL};
  expect_open_fails(fx.client, url, GSR_EHTTP, needles);
  /* A client allowing 6 reads it. */
  gsr_client *c = new_client(6, NULL);
  gsr_close(open_ok(c, url));
  gsr_client_free(c);
}

/* max_redirects 0 (the CLI's --no-follow): the status and the Location. */
static void test_not_followed_shows_the_location(void **state) {
  (void)state;
  char url[512], loc[600];
  gsr_client *c = new_client(0, NULL);
  chain_url("301", "2", "small", url, sizeof(url));
  chain_url("301", "1", "small", loc, sizeof(loc));
  const char *needles[] = {"HTTP 301", loc, "(not followed)", NULL};
  expect_open_fails(c, url, GSR_EHTTP, needles);
  /* No Location at all: said so. */
  control("fault_kind=status&fault_status=302&fault_next=1");
  ts_http_url(&fx.srv, BUCKET, "small", url, sizeof(url));
  const char *none[] = {"HTTP 302 without a usable Location", NULL};
  expect_open_fails(fx.client, url, GSR_EHTTP, none);
  gsr_client_free(c);
}

/* A redirect on a data request after the open is followed the same way
 * (with its If-Match), or with max_redirects 0 fails naming it. */
static void test_redirect_during_reads(void **state) {
  (void)state;
  const struct ts_object *o = &objects[0];
  char url[512];
  unsigned char buf[5000];
  ts_http_url(&fx.srv, BUCKET, "obj", url, sizeof(url));
  gsr_file f = open_ok(fx.client, url);
  long base = ts_log_quiet(&fx.srv, 50); /* earlier lines all in */
  control("fault_kind=redirect&fault_next=1");
  assert_int_equal(gsr_pread(f, buf, sizeof(buf), 1234), (int64_t)sizeof(buf));
  assert_memory_equal(buf, o->data + 1234, sizeof(buf));
  gsr_close(f);
  assert_int_equal(log_count(base, "\"fault\":\"redirect\"", NULL), 1);
  char host[200];
  snprintf(host, sizeof(host), "\"host\":\"%s\"", other);
  assert_int_equal(log_count(base, host, "\"range\":\"bytes=1234-6233\""), 1);
  assert_int_equal(log_count(base, host, "\"if_match\":\"\\\""), 1);

  /* The stream of a sequential reader, and gsr_sendfile's own. */
  gsr_file_options fo;
  gsr_file_options_init(&fo);
  fo.prefetch = "sequential";
  assert_int_equal(gsr_open(fx.client, url, &fo, &f), GSR_OK);
  control("fault_kind=redirect&fault_next=1");
  unsigned char *all = malloc(o->size);
  int64_t got = 0, n;
  while ((n = gsr_read(f, all + got, 1 << 20)) > 0) got += n;
  if (n < 0) fail_msg("sequential read: %s", gsr_errmsg());
  assert_int_equal(got, (int64_t)o->size);
  assert_memory_equal(all, o->data, o->size);
  gsr_close(f);
  f = open_ok(fx.client, url);
  control("fault_kind=redirect&fault_next=1");
  FILE *tmp = tmpfile();
  uint64_t written = 0;
  assert_int_equal(gsr_sendfile(f, fileno(tmp), 0, UINT64_MAX, &written),
                   GSR_OK);
  assert_int_equal(written, o->size);
  assert_int_equal(pread(fileno(tmp), all, o->size, 0), (ssize_t)o->size);
  assert_memory_equal(all, o->data, o->size);
  fclose(tmp);
  free(all);
  gsr_close(f);
  assert_int_equal(log_count(base, "\"fault\":\"redirect\"", NULL), 3);

  gsr_client *c = new_client(0, NULL);
  f = open_ok(c, url);
  control("fault_kind=redirect&fault_next=1");
  assert_int_equal(gsr_pread(f, buf, sizeof(buf), 0), GSR_EHTTP);
  const char *msg = gsr_errmsg();
  print_message("  %s\n", msg);
  assert_non_null(strstr(msg, "HTTP 307: redirect to http://localhost"));
  gsr_close(f);
  gsr_client_free(c);
}

/* Another origin (localhost for 127.0.0.1), with a token set and a user
 * name and password in the URL: the bytes arrive; the other origin gets no
 * Authorization of any kind. http(s) never gets the bearer token at all. */
static void test_cross_origin_gets_no_credentials(void **state) {
  (void)state;
  const struct ts_object *o = &objects[1];
  gsr_client *c = new_client(-1, "secret-token");
  char q[256], url[512], host[200];
  snprintf(q, sizeof(q), "redirect_host=%s", other);
  control(q);
  snprintf(url, sizeof(url), "http://user:pw@%s/redirect/307/2/http/%s/small",
           fx.srv.endpoint + strlen("http://"), BUCKET);
  long base = ts_log_quiet(&fx.srv, 50); /* earlier lines all in */
  gsr_file f = open_ok(c, url);
  unsigned char buf[1000];
  assert_int_equal(gsr_pread(f, buf, sizeof(buf), 0), (int64_t)o->size);
  assert_memory_equal(buf, o->data, o->size);
  gsr_close(f);
  snprintf(host, sizeof(host), "\"host\":\"%s\"", other);
  int there = log_count(base, host, NULL);
  assert_true(there >= 3); /* the second redirect, the HEAD, the GET */
  assert_int_equal(log_count(base, host, "\"authorization\":\"\""), there);
  /* The origin got the URL's user:pw (Basic), never the bearer token. */
  assert_int_equal(log_count(base, "Basic dXNlcjpwdw==", NULL), 1);
  assert_int_equal(log_count(base, "secret-token", NULL), 0);
  gsr_client_free(c);
}

/* gs:// never follows: a redirected media request fails naming the
 * Location, and the other origin gets nothing (the token stays home). */
static void test_gs_does_not_follow(void **state) {
  (void)state;
  gsr_client *c = new_client(-1, "secret-token");
  gsr_file f = open_ok(c, "gs://" BUCKET "/small");
  long base = ts_log_quiet(&fx.srv, 50); /* earlier lines all in */
  control("fault_kind=redirect&fault_next=1");
  unsigned char buf[100];
  assert_int_equal(gsr_pread(f, buf, sizeof(buf), 0), GSR_EHTTP);
  const char *msg = gsr_errmsg();
  print_message("  %s\n", msg);
  assert_non_null(strstr(msg, "HTTP 307: redirect to http://localhost"));
  assert_non_null(strstr(msg, "(not followed)"));
  gsr_close(f);
  char host[200];
  snprintf(host, sizeof(host), "\"host\":\"%s\"", other);
  assert_int_equal(log_count(base, host, NULL), 0);
  assert_int_equal(log_count(base, "Bearer secret-token", NULL), 1);
  gsr_client_free(c);
}

static void test_option_bounds(void **state) {
  (void)state;
  gsr_client_options o;
  gsr_client *c = NULL;
  gsr_client_options_init(&o);
  assert_int_equal(o.max_redirects, 5);
  o.max_redirects = -1;
  assert_int_equal(gsr_client_new(&o, &c), GSR_EINVAL);
  o.max_redirects = 51;
  assert_int_equal(gsr_client_new(&o, &c), GSR_EINVAL);
  assert_null(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_chain_of_three, reset),
      cmocka_unit_test_setup(test_loop_names_the_hops, reset),
      cmocka_unit_test_setup(test_six_hops_are_too_many, reset),
      cmocka_unit_test_setup(test_not_followed_shows_the_location, reset),
      cmocka_unit_test_setup(test_redirect_during_reads, reset),
      cmocka_unit_test_setup(test_cross_origin_gets_no_credentials, reset),
      cmocka_unit_test_setup(test_gs_does_not_follow, reset),
      cmocka_unit_test(test_option_bounds),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
