/* fork() while other threads use the library: the child must be able to
 * make its own client and open files. The process-wide mutexes (the
 * handle table's, the standard descriptors' hold) are taken around
 * fork by the library's pthread_atfork handlers; without them a child
 * forked while another thread held one waits for it forever. Nor may an
 * open wait on the C library's time zone lock (gmtime_r, timegm), which
 * another thread may hold at the fork: the library does its own UTC
 * arithmetic.
 *
 * Threads open, look up and close a local file and make and free clients
 * in a loop while the main thread forks children that each do the same
 * once and exit; every child must exit within CHILD_LIMIT_S.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define OPENERS 6
#define CHILDREN 150
#define CHILD_LIMIT_S 10.0

/* No server: the file is local; fx.client is the threads' shared client. */
const struct fx_spec fx_spec = {.server = FX_LOCAL, .client = 1};
static char url[512];

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  fx_url("fork", "file", url, sizeof(url));
  return ts_put(&fx.srv, "fork", "file", "gsread", 6);
}

static atomic_int stop;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens, looks up (each lookup takes the handle table's mutex) and closes
 * the file, in a loop. */
static void *opener(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    gsr_file f;
    gsr_stat st;
    if (gsr_open(fx.client, url, NULL, &f) != GSR_OK) continue;
    for (int i = 0; i < 50; i++) (void)gsr_fstat(f, &st);
    gsr_close(f);
  }
  return NULL;
}

/* Makes and frees clients (which hold the standard descriptors while
 * they start), in a loop. */
static void *client_maker(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    gsr_client *c;
    if (gsr_client_new(NULL, &c) == GSR_OK) gsr_client_free(c);
  }
  return NULL;
}

/* The child: its own client, the file opened and read, then exit. */
static void child(void) {
  gsr_client *c;
  gsr_file f;
  char b = 0;
  if (gsr_client_new(NULL, &c) != GSR_OK) _exit(2);
  if (gsr_open(c, url, NULL, &f) != GSR_OK) _exit(3);
  if (gsr_pread(f, &b, 1, 0) != 1 || b != 'g') _exit(4);
  gsr_close(f);
  gsr_client_free(c);
  _exit(0);
}

/* Waits for pid up to CHILD_LIMIT_S; kills it then. Its exit status, or
 * -1 if it had to be killed. */
static int wait_child(pid_t pid) {
  double t0 = now_s();
  int st;
  while (now_s() - t0 < CHILD_LIMIT_S) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

static void test_children_of_a_busy_process_open_files(void **state) {
  (void)state;
  pthread_t th[OPENERS + 1];
  for (int i = 0; i < OPENERS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, opener, NULL), 0);
  assert_int_equal(pthread_create(&th[OPENERS], NULL, client_maker, NULL), 0);
  int hung = 0, failed = 0, k;
  for (k = 0; k < CHILDREN && hung == 0; k++) {
    usleep(2000); /* let the threads run between forks */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) child();
    int rc = wait_child(pid);
    hung += rc == -1;
    failed += rc > 0;
  }
  atomic_store(&stop, 1);
  for (int i = 0; i <= OPENERS; i++) pthread_join(th[i], NULL);
  if (hung)
    fail_msg("child %d of %d did not exit within %.0f s (a mutex held at "
             "fork)",
             k, CHILDREN, CHILD_LIMIT_S);
  assert_int_equal(failed, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_children_of_a_busy_process_open_files),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
