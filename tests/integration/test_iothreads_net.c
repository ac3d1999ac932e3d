/* Several I/O threads per client: 16 files read at once on 4 threads each
 * see their own bytes, while closes race their reads' completions, and
 * every request completes exactly once (each thread's in-flight count
 * returns to 0: a second completion would take it below). Also requests
 * canceled as they complete, on the transport itself.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
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

#include "base/client.h"
#include "fixture.h"
#include "gsread.h"
#include "transport/transport.h"

#define BUCKET "test-bucket"
#define MiB (1024u * 1024u)
#define N_FILES 16
#define THREADS 4

static char names[N_FILES][32];
static struct ts_object objects[N_FILES];

const struct fx_spec fx_spec = {
    FX_OBJECTS(objects), .bucket = BUCKET,      .seed = 77,
    .client = 1,         .io_threads = THREADS, .connections = 16};

static int setup(void **state) {
  (void)state;
  for (int i = 0; i < N_FILES; i++) {
    snprintf(names[i], sizeof(names[i]), "f%02d", i);
    objects[i].name = names[i];
    objects[i].size = 3 * MiB + (size_t)i * 4099; /* each its own length */
  }
  return fx_setup(&fx_spec);
}

/* Waits (up to 10 s) until no thread has a request in flight; fails if
 * one went below 0 (a request completed twice) or stays above. */
static void assert_all_completed_once(struct gsr__transport *t) {
  int n = gsr__transport_threads(t), busy = 1;
  for (int tries = 0; tries < 1000 && busy; tries++) {
    busy = 0;
    for (int i = 0; i < n; i++) {
      uint64_t sub;
      int flight;
      gsr__transport_thread_load(t, i, &sub, &flight);
      if (flight < 0)
        fail_msg("thread %d: %d in flight: a request completed "
                 "twice",
                 i, flight);
      busy |= flight > 0;
    }
    if (busy) usleep(10000);
  }
  assert_false(busy);
}

struct reader {
  int i;
  gsr_file f;
  int victim; /* closed by the racer mid-read */
  int closed_seen;
  uint64_t got;
  char why[640];
};

static void *read_one(void *arg) {
  struct reader *r = arg;
  const struct ts_object *o = &objects[r->i];
  size_t cap = 700 * 1024 + 13;
  unsigned char *buf = malloc(cap);
  for (;;) {
    int64_t n = gsr_read(r->f, buf, cap);
    if (n == 0) break;
    if (n < 0) {
      /* A read under way when the close came is canceled; later ones
       * find the file closed. */
      if ((n == GSR_ECLOSED || n == GSR_ECANCELED) && r->victim) {
        r->closed_seen = 1;
        break;
      }
      snprintf(r->why, sizeof(r->why), "file %d: read failed: %s", r->i,
               gsr_errmsg());
      break;
    }
    if (r->got + (uint64_t)n > o->size ||
        memcmp(buf, o->data + r->got, (size_t)n) != 0) {
      snprintf(r->why, sizeof(r->why), "file %d: wrong bytes at %llu", r->i,
               (unsigned long long)r->got);
      break;
    }
    r->got += (uint64_t)n;
  }
  free(buf);
  return NULL;
}

struct racer {
  struct reader *readers;
  unsigned seed;
};

/* Closes every victim at a random moment of its read. */
static void *close_victims(void *arg) {
  struct racer *z = arg;
  for (int i = 0; i < N_FILES; i++) {
    if (!z->readers[i].victim) continue;
    usleep((useconds_t)(rand_r(&z->seed) % 20000));
    int rc = gsr_close(z->readers[i].f);
    if (rc != GSR_OK) fail_msg("close of file %d: %d", i, rc);
  }
  return NULL;
}

static void test_sixteen_files_on_four_threads(void **state) {
  (void)state;
  struct gsr__transport *t = fx.client->transport;
  assert_int_equal(gsr__transport_threads(t), THREADS);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  assert_int_equal(cs.io_threads, THREADS);
  uint64_t before[THREADS];
  for (int k = 0; k < THREADS; k++) {
    int flight;
    gsr__transport_thread_load(t, k, &before[k], &flight);
  }
  const char *prefetch[] = {"off", "sequential", "adaptive"};
  for (int round = 0; round < 6; round++) {
    struct reader rd[N_FILES];
    pthread_t th[N_FILES], closer;
    memset(rd, 0, sizeof(rd));
    for (int i = 0; i < N_FILES; i++) {
      char url[1024];
      gsr_file_options fo;
      gsr_file_options_init(&fo);
      fo.concurrency = 4;
      fo.min_part_size = 256 * 1024; /* reads split into parts */
      fo.prefetch = prefetch[(i + round) % 3];
      snprintf(url, sizeof(url), "gs://%s/%s", BUCKET, names[i]);
      rd[i].i = i;
      rd[i].victim = (i + round) % 3 == 0;
      assert_int_equal(gsr_open(fx.client, url, &fo, &rd[i].f), GSR_OK);
    }
    for (int i = 0; i < N_FILES; i++)
      assert_int_equal(pthread_create(&th[i], NULL, read_one, &rd[i]), 0);
    struct racer z = {rd, (unsigned)round * 7919u + 1};
    assert_int_equal(pthread_create(&closer, NULL, close_victims, &z), 0);
    pthread_join(closer, NULL);
    for (int i = 0; i < N_FILES; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_FILES; i++) {
      if (rd[i].why[0]) fail_msg("round %d: %s", round, rd[i].why);
      if (!rd[i].victim) {
        assert_int_equal(rd[i].got, objects[i].size); /* all, once */
        assert_int_equal(gsr_close(rd[i].f), GSR_OK);
      } else {
        assert_int_equal(gsr_close(rd[i].f), GSR_ECLOSED);
      }
    }
    assert_all_completed_once(t);
  }
  /* The files' requests went to every thread. */
  for (int k = 0; k < THREADS; k++) {
    uint64_t sub;
    int flight;
    gsr__transport_thread_load(t, k, &sub, &flight);
    if (sub <= before[k]) fail_msg("I/O thread %d got no request", k);
  }
}

/* Requests for small ranges canceled at random moments around their
 * completion: each fetch completes once, with the bytes or GSR_ECANCELED. */
static void test_cancels_race_completions(void **state) {
  (void)state;
  struct gsr__transport *t = fx.client->transport;
  enum { PARTS = 4, PART = 64 * 1024 };
  for (int round = 0; round < 40; round++) {
    struct gsr__request reqs[N_FILES][PARTS];
    struct gsr__completion done[N_FILES];
    static unsigned char dst[N_FILES][PARTS][PART];
    unsigned seed = (unsigned)round + 3;
    for (int i = 0; i < N_FILES; i++) {
      char url[1024];
      ts_http_url(&fx.srv, BUCKET, names[i], url, sizeof(url));
      assert_int_equal(gsr__completion_init(&done[i], PARTS), GSR_OK);
      for (int p = 0; p < PARTS; p++) {
        struct gsr__request *r = &reqs[i][p];
        assert_int_equal(gsr__request_init(r, GSR__GET, url), GSR_OK);
        gsr__request_set_range(r, (uint64_t)p * PART * 5, PART, dst[i][p]);
        r->completion = &done[i];
        assert_int_equal(gsr__transport_submit(t, r), GSR_OK);
      }
    }
    /* Cancel half of them, from 0 to ~2 ms in: some before their start,
     * some mid-body, some as they complete. */
    for (int i = 0; i < N_FILES; i++)
      for (int p = 0; p < PARTS; p++)
        if (rand_r(&seed) % 2) {
          if (rand_r(&seed) % 4 == 0) usleep(rand_r(&seed) % 500);
          gsr__transport_cancel(t, &reqs[i][p]);
        }
    for (int i = 0; i < N_FILES; i++) {
      int st = gsr__completion_wait(&done[i]);
      if (st != GSR_OK && st != GSR_ECANCELED)
        fail_msg("fetch %d: %d %s", i, st, done[i].err.msg);
      for (int p = 0; p < PARTS; p++) {
        struct gsr__request *r = &reqs[i][p];
        if (r->err.status == GSR_OK &&
            memcmp(dst[i][p], objects[i].data + (size_t)p * PART * 5, PART))
          fail_msg("fetch %d part %d: wrong bytes", i, p);
      }
    }
    assert_all_completed_once(t);
    for (int i = 0; i < N_FILES; i++) {
      for (int p = 0; p < PARTS; p++) gsr__request_cleanup(&reqs[i][p]);
      gsr__completion_destroy(&done[i]);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sixteen_files_on_four_threads),
      cmocka_unit_test(test_cancels_race_completions),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
