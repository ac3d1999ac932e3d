/* The transport's retry and cancel interplay, against the local server.
 *
 * A request fails with a retryable 503 and is canceled at an exact moment:
 * from the transport's trace callback, which runs on the I/O thread as the
 * retry is planned (before the request joins the delayed list), so no
 * timing decides the order of events. The 503 carries a Retry-After, so
 * the retry is not due before the I/O loop has looked for cancels.
 * Whatever the moment, a canceled request must complete with
 * GSR_ECANCELED, never with the transient failure it was waiting to retry:
 * a reader whose file is closed under it would otherwise see a network
 * error it was never meant to (this is how test_faults' "close in a fault
 * storm" failed, once in about ten runs under ThreadSanitizer).
 *
 * And a failure of curl's own (a name that does not resolve) is retried
 * like any transient one.
 *
 * Links gsread_static: the transport is internal.
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
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include "transport/transport.h"

#define BUCKET "transport-bucket"
#define OBJECT "obj"
#define SIZE (256 * 1024)

static unsigned char *data;
static char media_url[400];

static struct ts_object objects[] = {{OBJECT, SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 20261122, .data = &data};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  snprintf(media_url, sizeof(media_url),
           "%s/download/storage/v1/b/%s/o/%s?alt=media", fx.srv.endpoint,
           BUCKET, OBJECT);
  return 0;
}

/* What the trace callback does when the retry is planned. */
enum on_retry { KEEP, CANCEL, FLAG_ONLY };

/* One request for SIZE bytes of url, on a transport of its own. */
struct rig {
  struct gsr__transport *t;
  struct gsr__completion completion;
  struct gsr__request req;
  unsigned char *buf;
  enum on_retry on_retry;
  atomic_int planned; /* retries planned */
};

/* On the I/O thread: plan_retry traces each retry it plans. */
static void on_trace(void *arg, const char *line) {
  struct rig *r = arg;
  if (strncmp(line, "retry in ", 9) != 0) return;
  atomic_fetch_add(&r->planned, 1);
  if (r->on_retry == CANCEL) {
    gsr__transport_cancel(r->t, &r->req);
  } else if (r->on_retry == FLAG_ONLY) {
    /* The flag as another thread's store lands, before the note that
     * makes the I/O loop look for cancels. */
    atomic_store(&r->req.cancel, 1);
  }
}

static void rig_start(struct rig *r, const char *url,
                      struct gsr__retry_policy retry, enum on_retry on) {
  memset(r, 0, sizeof(*r));
  r->on_retry = on;
  struct gsr__transport_config cfg = {
      .user_agent = "gsread-test",
      .connect_timeout_ms = 5000, /* a resolver that does not answer too */
      .stall_timeout_ms = 5000,
      .max_connections = 4,
      .retry = retry,
      .trace = on_trace,
      .trace_arg = r,
  };
  assert_int_equal(gsr__transport_new(&cfg, &r->t), GSR_OK);
  assert_int_equal(gsr__completion_init(&r->completion, 1), GSR_OK);
  assert_int_equal(gsr__request_init(&r->req, GSR__GET, url), GSR_OK);
  r->buf = malloc(SIZE);
  assert_non_null(r->buf);
  gsr__request_set_range(&r->req, 0, SIZE, r->buf);
  r->req.completion = &r->completion;
  assert_int_equal(gsr__transport_submit(r->t, &r->req), GSR_OK);
}

/* A backoff cap that doubles each attempt, from initial_ms to max_delay_ms;
 * attempts in all, none starting after deadline_ms. */
static struct gsr__retry_policy doubling(long initial_ms, long max_delay_ms,
                                         int attempts, long deadline_ms) {
  return (struct gsr__retry_policy){.initial_ms = initial_ms,
                                    .multiplier = 2.0,
                                    .max_delay_ms = max_delay_ms,
                                    .max_attempts = attempts,
                                    .deadline_ms = deadline_ms};
}

/* The object, whose first media request answers 503 (transient) with
 * Retry-After: retry_after_s (0: none). */
static void rig_start_503(struct rig *r, int retry_after_s, enum on_retry on) {
  char knobs[200];
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  snprintf(knobs, sizeof(knobs),
           "config?fault_kind=status&fault_status=503&fault_next=1"
           "&fault_retry_after=%d",
           retry_after_s);
  assert_int_equal(ts_control(&fx.srv, knobs), 200);
  rig_start(r, media_url, doubling(50, 1000, 5, 20000), on);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for the request to complete; its status. */
static int rig_finish(struct rig *r) {
  gsr__completion_wait(&r->completion);
  return r->completion.err.status;
}

static void rig_free(struct rig *r) {
  gsr__transport_free(r->t);
  gsr__request_cleanup(&r->req);
  gsr__completion_destroy(&r->completion);
  free(r->buf);
}

/* Without a cancel the retry runs and the bytes arrive. */
static void test_retry_after_503(void **state) {
  (void)state;
  struct rig r;
  rig_start_503(&r, 0, KEEP);
  int s = rig_finish(&r);
  if (s != GSR_OK) fail_msg("retry failed: %s", r.completion.err.msg);
  assert_memory_equal(r.buf, data, SIZE);
  assert_int_equal(atomic_load(&r.planned), 1);
  assert_int_equal(r.req.attempts, 2);
  rig_free(&r);
}

/* Canceled while it waits for its retry: reap_cancelled takes it off the
 * delayed list at once, long before the retry is due. */
static void test_cancel_during_backoff(void **state) {
  (void)state;
  struct rig r;
  double t0 = now_s();
  rig_start_503(&r, 10, CANCEL);
  int s = rig_finish(&r);
  double took = now_s() - t0;
  if (s != GSR_ECANCELED)
    fail_msg("ended with %s: %s", gsr_status_name(s), r.completion.err.msg);
  assert_int_equal(atomic_load(&r.planned), 1);
  assert_int_equal(r.req.attempts, 1);
  if (took > 5.0)
    fail_msg("canceled after %.1f s: when the retry was due", took);
  rig_free(&r);
}

/* Canceled after the I/O thread looked for cancels and before the retry
 * starts: the flag is set as another thread's store lands, without the
 * pending-cancel note the I/O loop checks first (its wakeup not yet seen).
 * The retry, due, finds the flag at its start. Before the fix it completed
 * with the 503 it was waiting to retry. */
static void test_cancel_seen_when_the_retry_starts(void **state) {
  (void)state;
  struct rig r;
  rig_start_503(&r, 1, FLAG_ONLY);
  int s = rig_finish(&r);
  if (s != GSR_ECANCELED)
    fail_msg("ended with %s: %s", gsr_status_name(s), r.completion.err.msg);
  assert_int_equal(r.req.attempts, 1); /* the retry never went out */
  rig_free(&r);
}

/* A host name that does not resolve (.invalid never does, RFC 2606) is
 * a transient failure, as curl's own --retry takes it: every attempt must
 * set up and go out. curl 7.88 refused CURLOPT_BUFFERSIZE on a handle
 * reused after a failed lookup, so the first retry failed with "cannot
 * set up the transfer" (GSR_ENOMEM) and the others never ran. */
static void test_unresolvable_host_is_retried(void **state) {
  (void)state;
  struct rig r;
  rig_start(&r, "http://gsread-test.invalid/obj", doubling(10, 50, 3, 60000),
            KEEP);
  int s = rig_finish(&r);
  print_message("%s: %s\n", gsr_status_name(s), r.completion.err.msg);
  /* No lookup answer at all (no resolver here) is a timeout instead. */
  if (s != GSR_ENETWORK && s != GSR_ETIMEDOUT)
    fail_msg("ended with %s: %s", gsr_status_name(s), r.completion.err.msg);
  assert_int_equal(r.req.attempts, 3);
  if (strstr(r.completion.err.msg, "gave up after 3 attempts") == NULL)
    fail_msg("message: %s", r.completion.err.msg);
  rig_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_after_503),
      cmocka_unit_test(test_cancel_during_backoff),
      cmocka_unit_test(test_cancel_seen_when_the_retry_starts),
      cmocka_unit_test(test_unresolvable_host_is_retried),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
