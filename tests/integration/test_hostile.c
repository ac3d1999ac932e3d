/* The library against a hostile server (tests/server/evil-server, started
 * here on 127.0.0.1): every misbehaviour ends in bounded time with a clear
 * status, and the server's text reaches gsr_errmsg escaped.
 *  - trickles: 1 byte a second; 1 byte every 2 s under a 1 s stall
 *    timeout; 1 byte per connection then a close; request_timeout_ms;
 *  - an endless error body (503, retried; 403), read only up to the text
 *    kept;
 *  - terminal escape sequences in an error text (http and gs://).
 * Retries are short here (4 attempts, 1 ms backoff) so that each case
 * takes seconds; alarm() fails the program if one does not end.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <signal.h>
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

#define ATTEMPTS 4
#define OBJECT_SIZE (64 * 1024)

const struct fx_spec fx_spec = {.server = FX_EVIL};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lines of the server's log that contain s. */
static long log_count(const char *s) {
  char line[4096], logpath[400];
  long n = 0;
  snprintf(logpath, sizeof(logpath), "%s/requests.log", fx.srv.state);
  FILE *f = fopen(logpath, "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof(line), f) != NULL) n += strstr(line, s) != NULL;
  fclose(f);
  return n;
}

static gsr_client *client(long stall_ms, long request_ms) {
  gsr_client_options o;
  fx_client_options(&o);
  o.anonymous = 1;
  o.retry_initial_ms = 1;
  o.retry_max_delay_ms = 1;
  o.retry_max_attempts = ATTEMPTS;
  o.stall_timeout_ms = stall_ms;
  o.request_timeout_ms = request_ms;
  return fx_client(&o);
}

static char msg[1024]; /* the last read_all's gsr_errmsg */

/* Opens URL (path on the server) and reads the whole object with one
 * pread; returns its status (its message in msg). *secs: how long the
 * read took. */
static int read_all(gsr_client *c, const char *path, double *secs) {
  char url[300];
  gsr_file f = 0;
  gsr_file_options fo;
  static char buf[OBJECT_SIZE];
  snprintf(url, sizeof(url), "%s%s", fx.srv.endpoint, path);
  gsr_file_options_init(&fo);
  fo.cache_type = "none";
  assert_int_equal(gsr_open(c, url, &fo, &f), GSR_OK);
  double t0 = now_s();
  int64_t n = gsr_pread(f, buf, sizeof(buf), 0);
  *secs = now_s() - t0;
  int status = n < 0 ? (int)n : GSR_OK;
  snprintf(msg, sizeof(msg), "%s", status ? gsr_errmsg() : "ok");
  gsr_close(f);
  printf("# %s: %.1f s: %s\n", path, *secs, msg);
  return status;
}

/* The evil server's /http/<behaviour>/obj, read whole (under a 60 s
 * alarm) by a client with this stall timeout, fails after ATTEMPTS
 * requests for it; returns the status. */
static int fails_in_attempts(long stall_ms, const char *behaviour,
                             double *secs) {
  gsr_client *c = client(stall_ms, 0);
  char get[100], path[100];
  snprintf(get, sizeof(get), "GET /http/%s/", behaviour);
  snprintf(path, sizeof(path), "/http/%s/obj", behaviour);
  long before = log_count(get);
  alarm(60);
  int st = read_all(c, path, secs);
  alarm(0);
  assert_int_not_equal(st, GSR_OK);
  assert_int_equal(log_count(get) - before, ATTEMPTS);
  gsr_client_free(c);
  return st;
}

static void check_no_control(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) fail_msg("control byte 0x%02x in '%s'", *p, s);
}

/* 1 byte a second: each attempt is cut as too slow after a stall timeout
 * (it receives under 1 KiB in it), and since a byte is no progress that
 * renews the retry budget, the read fails after ATTEMPTS attempts. */
static void test_trickle(void **state) {
  (void)state;
  double secs;
  int st = fails_in_attempts(1000, "trickle", &secs);
  assert_true(gsr_status_is_retryable(st));
  assert_true(secs < 20);
}

/* 1 byte every 2 s under a 1 s stall timeout: each attempt stalls after
 * its byte; the byte does not renew the budget. */
static void test_gap(void **state) {
  (void)state;
  double secs;
  fails_in_attempts(1000, "gap", &secs);
  assert_true(secs < 20);
}

/* 1 byte per connection, then a close (no stall at all): ATTEMPTS
 * requests, not one per byte of the object. */
static void test_oneshot(void **state) {
  (void)state;
  double secs;
  fails_in_attempts(30000, "oneshot", &secs);
}

/* request_timeout_ms bounds each attempt even with a stall timeout that
 * would not fire (the trickle's byte a second is ~1 KiB per 17 min). */
static void test_request_timeout(void **state) {
  (void)state;
  gsr_client *c = client(1000000, 1500);
  double secs;
  alarm(60);
  int st = read_all(c, "/http/trickle/obj", &secs);
  alarm(0);
  assert_int_equal(st, GSR_ETIMEDOUT);
  assert_true(secs >= 1.4 * ATTEMPTS && secs < 20);
  gsr_client_free(c);
}

/* An endless error body is read up to the text kept (16 KiB) and no
 * further: a 503 is retried ATTEMPTS times, then fails saying HTTP 503; a
 * 403 fails at once. */
static void test_endless_error_body(void **state) {
  (void)state;
  gsr_client *c = client(30000, 0);
  double secs;
  alarm(60);
  int st = read_all(c, "/http/endless503/obj", &secs);
  assert_int_equal(st, GSR_ENETWORK);
  assert_non_null(strstr(msg, "HTTP 503"));
  assert_int_equal(log_count("GET /http/endless503/"), ATTEMPTS);
  st = read_all(c, "/http/endless403/obj", &secs);
  alarm(0);
  assert_int_equal(st, GSR_EACCES);
  assert_non_null(strstr(msg, "HTTP 403"));
  assert_true(secs < 10);
  gsr_client_free(c);
}

/* Escape sequences in a server's error text reach gsr_errmsg (and so
 * Python's exceptions) escaped: http's body text and GCS's JSON message. */
static void test_escaped_error_text(void **state) {
  (void)state;
  gsr_client *c = client(30000, 0);
  gsr_file f = 0;
  char url[300];
  double secs;
  int st = read_all(c, "/http/escerr/obj", &secs);
  assert_int_equal(st, GSR_EACCES);
  check_no_control(msg);
  assert_non_null(strstr(msg, "evil \\x1b]0;pwned\\x07\\x1b[31mred"));
  snprintf(url, sizeof(url), "gs://escerr/obj");
  assert_int_equal(gsr_open(c, url, NULL, &f), GSR_EACCES);
  check_no_control(gsr_errmsg());
  assert_non_null(strstr(gsr_errmsg(), "\\x1b[2J text"));
  gsr_client_free(c);
}

/* argv[1], if given, runs only the tests whose names match it. */
int main(int argc, char **argv) {
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trickle),
      cmocka_unit_test(test_gap),
      cmocka_unit_test(test_oneshot),
      cmocka_unit_test(test_request_timeout),
      cmocka_unit_test(test_endless_error_body),
      cmocka_unit_test(test_escaped_error_text),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
