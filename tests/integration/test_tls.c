/* TLS against the local server started with --tls (a throwaway CA): reads
 * work with the CA bundle configured, fail with GSR_ETLS without it
 * (verification is always on), and go over HTTP/2 when the server offers
 * it, the parts of a split fetch each on its own connection (a GCS
 * connection is rate-limited on its own: streams multiplexed onto one
 * would share its limit); gsr_sendfile delivers every byte over HTTP/2.
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

static unsigned char *data;
#define SIZE (3 * 1024 * 1024 + 17)

static struct ts_object objects[] = {{"obj", SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .tls = 1,
                                .bucket = "tls-bucket", .seed = 5,
                                .data = &data};

static gsr_client *client(const char *ca) {
  gsr_client_options o;
  fx_client_options(&o);
  o.ca_bundle = ca;
  o.retry_max_attempts = 1;
  return fx_client(&o);
}

static void read_all(gsr_client *c, const char *url) {
  gsr_file f;
  unsigned char *buf = malloc(SIZE);
  if (gsr_open(c, url, NULL, &f) != GSR_OK)
    fail_msg("%s: %s", url, gsr_errmsg());
  assert_int_equal(gsr_pread(f, buf, SIZE, 0), SIZE);
  assert_memory_equal(buf, data, SIZE);
  gsr_close(f);
  free(buf);
}

static void test_tls_with_ca_bundle(void **state) {
  (void)state;
  assert_true(strncmp(fx.srv.endpoint, "https://", 8) == 0);
  gsr_client *c = client(fx.srv.ca_pem);
  long before = ts_log_lines(&fx.srv);
  read_all(c, "gs://tls-bucket/obj");
  char url[512], line[8192];
  ts_http_url(&fx.srv, "tls-bucket", "obj", url, sizeof(url));
  read_all(c, url);
  gsr_client_free(c);
  usleep(50000);
  assert_true(ts_log_lines(&fx.srv) >= before + 4);
  assert_int_equal(ts_log_line(&fx.srv, before + 1, line, sizeof(line)), 0);
  assert_non_null(strstr(line, "\"protocol\":\"HTTP/2.0\""));
}

/* The server logged exactly one media request after line `before`, over
 * HTTP/2. */
static void expect_one_media_request_over_http2(long before) {
  usleep(50000);
  char line[8192];
  int media = 0;
  for (long k = before; ts_log_line(&fx.srv, k, line, sizeof(line)) == 0; k++) {
    if (strstr(line, "\"kind\":\"media\"") == NULL) continue;
    media++;
    assert_non_null(strstr(line, "\"protocol\":\"HTTP/2.0\""));
  }
  assert_int_equal(media, 1);
}

static void test_parts_use_separate_http2_connections(void **state) {
  (void)state;
  gsr_client *c = client(fx.srv.ca_pem);
  gsr_file_options fo;
  gsr_file f;
  gsr_file_options_init(&fo);
  fo.concurrency = 3;
  fo.min_part_size = 1024 * 1024; /* 3 MiB + 17 bytes: three parts */
  /* The open's metadata request leaves an HTTP/2 connection behind, onto
   * which curl would multiplex the parts if we let it. */
  assert_int_equal(gsr_open(c, "gs://tls-bucket/obj", &fo, &f), GSR_OK);
  /* A slow first byte keeps all three in flight at once however slowly
   * they are submitted (sanitizers): sequential reuse of a connection by
   * a part that starts after another ended would be fine. */
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=200"), 200);
  long before = ts_log_lines(&fx.srv);
  unsigned char *buf = malloc(SIZE);
  assert_int_equal(gsr_pread(f, buf, SIZE, 0), SIZE);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_memory_equal(buf, data, SIZE);
  free(buf);
  gsr_close(f);
  gsr_client_free(c);
  usleep(50000);
  long conns[8];
  int n = 0;
  char line[8192];
  for (long k = before;
       n < 8 && ts_log_line(&fx.srv, k, line, sizeof(line)) == 0; k++) {
    const char *p = strstr(line, "\"connection\":");
    if (strstr(line, "\"kind\":\"media\"") == NULL || p == NULL) continue;
    assert_non_null(strstr(line, "\"protocol\":\"HTTP/2.0\""));
    conns[n++] = atol(p + strlen("\"connection\":"));
  }
  assert_int_equal(n, 3);
  assert_true(conns[0] != conns[1] && conns[0] != conns[2] &&
              conns[1] != conns[2]);
}

/* gsr_sendfile through the engine: the client's TLS settings (the CA
 * bundle) and HTTP/2, every byte to the fd. */
static void test_sendfile_over_http2(void **state) {
  (void)state;
  gsr_client *c = client(fx.srv.ca_pem);
  gsr_file f;
  long before = ts_log_lines(&fx.srv);
  assert_int_equal(gsr_open(c, "gs://tls-bucket/obj", NULL, &f), GSR_OK);
  fx_check_sendfile(f, &objects[0]);
  gsr_close(f);
  gsr_client_free(c);
  expect_one_media_request_over_http2(before);
}

static void test_tls_verification_is_always_on(void **state) {
  (void)state;
  gsr_client *c = client(NULL); /* the system bundle does not know our CA */
  gsr_file f;
  assert_int_equal(gsr_open(c, "gs://tls-bucket/obj", NULL, &f), GSR_ETLS);
  assert_non_null(strstr(gsr_errmsg(), "https://127.0.0.1"));
  gsr_client_free(c);
  c = client("/no/such/ca.pem");
  assert_true(gsr_open(c, "gs://tls-bucket/obj", NULL, &f) < 0);
  gsr_client_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_with_ca_bundle),
      cmocka_unit_test(test_parts_use_separate_http2_connections),
      cmocka_unit_test(test_sendfile_over_http2),
      cmocka_unit_test(test_tls_verification_is_always_on),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
