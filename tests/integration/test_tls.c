/* TLS against the local server started with --tls (a throwaway CA): reads
 * work with the CA bundle configured, fail with GSR_ETLS without it
 * (verification is always on), and go over HTTP/2 when the server offers
 * it.
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

#include "gsread.h"
#include "testsrv.h"

static struct ts_server srv;
static unsigned char *data;
#define SIZE (3 * 1024 * 1024 + 17)

static int setup(void **state) {
  (void)state;
  if (ts_server_start(&srv, "unshaped", 1) != 0) return -1;
  data = ts_random_bytes(SIZE, 5);
  return ts_put(&srv, "tls-bucket", "obj", data, SIZE);
}

static int teardown(void **state) {
  (void)state;
  ts_server_stop(&srv);
  free(data);
  return 0;
}

static gsr_client *client(const char *ca) {
  gsr_client_options o;
  gsr_client *c;
  gsr_client_options_init(&o);
  o.endpoint = srv.endpoint;
  o.ca_bundle = ca;
  o.retry_max_attempts = 1;
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  return c;
}

static void read_all(gsr_client *c, const char *url) {
  gsr_file f;
  unsigned char *buf = malloc(SIZE);
  if (gsr_open(c, url, NULL, &f) != GSR_OK) fail_msg("%s: %s", url, gsr_errmsg());
  assert_int_equal(gsr_pread(f, buf, SIZE, 0), SIZE);
  assert_memory_equal(buf, data, SIZE);
  gsr_close(f);
  free(buf);
}

static void test_tls_with_ca_bundle(void **state) {
  (void)state;
  assert_true(strncmp(srv.endpoint, "https://", 8) == 0);
  gsr_client *c = client(srv.ca_pem);
  long before = ts_log_lines(&srv);
  read_all(c, "gs://tls-bucket/obj");
  char url[512], line[8192];
  ts_http_url(&srv, "tls-bucket", "obj", url, sizeof(url));
  read_all(c, url);
  gsr_client_free(c);
  usleep(50000);
  assert_true(ts_log_lines(&srv) >= before + 4);
  assert_int_equal(ts_log_line(&srv, before + 1, line, sizeof(line)), 0);
  assert_non_null(strstr(line, "\"protocol\":\"HTTP/2.0\""));
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
      cmocka_unit_test(test_tls_verification_is_always_on),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
