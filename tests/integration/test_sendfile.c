/* gsr_sendfile against the local GCS server: whole objects and ranges to
 * files and pipes, byte-exact, read through the file's engine as slices
 * (the server's log tiles what was asked, nothing past the range); a body
 * cut short resumed; a slow consumer not taken for a stall; a corrupt
 * object caught by its CRC32C; a refused write; bad arguments; local
 * files.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#define BUCKET "sendfile"
#define MiB ((uint64_t)1024 * 1024)
#define OBJ_SIZE (40 * MiB + 4321)

static unsigned char *data;
static char tmpl[] = "/tmp/gsread-sendfile-XXXXXX";

static struct ts_object objects[] = {{"obj", OBJ_SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 91, .data = &data};

static gsr_client *new_client(long stall_timeout_ms) {
  gsr_client_options o;
  fx_client_options(&o);
  if (stall_timeout_ms) o.stall_timeout_ms = stall_timeout_ms;
  return fx_client(&o);
}

static gsr_file open_obj(gsr_client *c, const char *url, int concurrency,
                         uint64_t max_prefetch) {
  gsr_file_options o;
  gsr_file f;
  gsr_file_options_init(&o);
  o.prefetch = "sequential";
  if (concurrency) o.concurrency = concurrency;
  if (max_prefetch) o.max_prefetch = max_prefetch;
  if (gsr_open(c, url, &o, &f) != GSR_OK) fail_msg("open: %s", gsr_errmsg());
  return f;
}

static long log_quiet(void) { return ts_log_quiet(&fx.srv, 100); }

static int by_first(const void *a, const void *b) {
  const struct ts_media_req *x = a, *y = b;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* The server's media requests since line base, sorted by offset; how
 * many (fewer than 64). */
static int media_log(long base, struct ts_media_req q[64]) {
  log_quiet();
  int n = ts_media_log(&fx.srv, base, q, 64);
  assert_true(n < 64);
  qsort(q, (size_t)n, sizeof(q[0]), by_first);
  return n;
}

/* The server's media requests since line base tile [from, to): each
 * byte asked once, nothing past the range, each sent whole. Returns how
 * many. */
static int expect_tiled(long base, uint64_t from, uint64_t to) {
  struct ts_media_req q[64];
  int n = media_log(base, q);
  fx_check_tiling(q, n, from, to);
  return n;
}

/* A temporary file, already unlinked. */
static int temp_fd(void) {
  char path[sizeof(tmpl)];
  memcpy(path, tmpl, sizeof(tmpl));
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  return fd;
}

/* Checks that fd holds exactly data[off, off+len). */
static void check_file(int fd, uint64_t off, uint64_t len) {
  unsigned char *buf = malloc(len + 1);
  ssize_t n = pread(fd, buf, len + 1, 0);
  if (n < 0 || (uint64_t)n != len)
    fail_msg("file holds %lld bytes, want %llu", (long long)n,
             (unsigned long long)len);
  if (len && memcmp(buf, data + off, len) != 0) fail_msg("file bytes differ");
  free(buf);
}

/* The whole object to a file, through the engine at its width: every
 * byte fetched once, none left unused. */
static void test_whole_object_to_a_file(void **state) {
  (void)state;
  gsr_client *c = new_client(0);
  long base = log_quiet();
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 4, 0);
  int fd = temp_fd();
  uint64_t written = 0;
  int rc = gsr_sendfile(f, fd, 0, UINT64_MAX, &written);
  if (rc != GSR_OK) fail_msg("sendfile: %d %s", rc, gsr_errmsg());
  assert_int_equal(written, OBJ_SIZE);
  check_file(fd, 0, OBJ_SIZE);
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  assert_int_equal(st.bytes_delivered, OBJ_SIZE);
  assert_int_equal(st.bytes_fetched, OBJ_SIZE);
  assert_int_equal(st.prefetched_unused, 0);
  assert_string_equal(st.plan, "full");
  assert_int_equal(st.connections, 4);
  assert_int_equal(gsr_tell(f), 0); /* the position is untouched */
  close(fd);
  gsr_close(f);
  gsr_client_free(c);
  int n = expect_tiled(base, 0, OBJ_SIZE);
  assert_int_equal(st.requests, (uint64_t)n);
}

struct drain {
  int fd;
  unsigned char *got;
  size_t cap, len;
  long pause_at, pause_ms; /* sleep once after pause_at bytes */
};

static void *drain_pipe(void *arg) {
  struct drain *d = arg;
  for (;;) {
    size_t room = d->cap - d->len;
    ssize_t n = read(d->fd, d->got + d->len, room > 65536 ? 65536 : room + 1);
    if (n <= 0) break;
    if (d->len + (size_t)n > d->cap) {
      d->len = d->cap + 1; /* more than asked for */
      break;
    }
    long before = (long)d->len;
    d->len += (size_t)n;
    if (d->pause_ms && before < d->pause_at && (long)d->len >= d->pause_at)
      usleep((useconds_t)d->pause_ms * 1000);
  }
  return NULL;
}

/* Sends [off, off+count) through a pipe to a reader thread; returns
 * sendfile's status, checks the bytes when it succeeded. */
static int send_to_pipe(gsr_file f, uint64_t off, uint64_t count, uint64_t want,
                        long pause_at, long pause_ms) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  struct drain d = {p[0], malloc(want + 1), want, 0, pause_at, pause_ms};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, drain_pipe, &d), 0);
  uint64_t written = 0;
  int rc = gsr_sendfile(f, p[1], (int64_t)off, count, &written);
  close(p[1]);
  pthread_join(th, NULL);
  close(p[0]);
  if (rc == GSR_OK) {
    assert_int_equal(written, want);
    if (d.len != want)
      fail_msg("pipe got %zu bytes, want %llu", d.len,
               (unsigned long long)want);
    if (want && memcmp(d.got, data + off, want) != 0)
      fail_msg("pipe bytes differ");
  }
  free(d.got);
  return rc;
}

/* Ranges to a pipe: inside (the range is a promise: nothing past it is
 * fetched), straddling the end (short), at and past the end (nothing),
 * empty. */
static void test_ranges_to_a_pipe(void **state) {
  (void)state;
  gsr_client *c = new_client(0);
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 4, 0);
  long base = log_quiet();
  assert_int_equal(send_to_pipe(f, 1000, 5 * MiB + 3, 5 * MiB + 3, 0, 0),
                   GSR_OK);
  expect_tiled(base, 1000, 1000 + 5 * MiB + 3);
  assert_int_equal(send_to_pipe(f, OBJ_SIZE - 777, 5000, 777, 0, 0), GSR_OK);
  assert_int_equal(send_to_pipe(f, OBJ_SIZE - 10, UINT64_MAX, 10, 0, 0),
                   GSR_OK);
  assert_int_equal(send_to_pipe(f, OBJ_SIZE, 10, 0, 0, 0), GSR_OK);
  assert_int_equal(send_to_pipe(f, OBJ_SIZE + 5, 10, 0, 0, 0), GSR_OK);
  assert_int_equal(send_to_pipe(f, 5, 0, 0, 0, 0), GSR_OK);
  gsr_close(f);
  gsr_client_free(c);
}

/* A consumer that stops reading for longer than the stall timeout holds
 * the reader up (the pipe fills, the write blocks): not a stall of the
 * server's, so no retry, every request sent whole. */
static void test_slow_consumer_is_not_a_stall(void **state) {
  (void)state;
  gsr_client *c = new_client(300);
  long base = log_quiet();
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 1, 0);
  assert_int_equal(send_to_pipe(f, 0, 8 * MiB, 8 * MiB, (long)(2 * MiB), 900),
                   GSR_OK);
  gsr_close(f);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_int_equal(cs.retries, 0);
  gsr_client_free(c);
  expect_tiled(base, 0, 8 * MiB);
}

/* A body cut short (the first block's: the first piece's 16 MiB) is
 * resumed from the byte where it broke to the block's end; the rest is
 * asked once. */
static void test_cut_body_resumes(void **state) {
  (void)state;
  gsr_client *c = new_client(0);
  assert_int_equal(
      ts_control(&fx.srv, "config?fault_kind=cut&cut_at=3000001&fault_next=1"),
      200);
  long base = log_quiet();
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 1, 0);
  int fd = temp_fd();
  int rc = gsr_sendfile(f, fd, 0, UINT64_MAX, NULL);
  gsr_close(f);
  gsr_client_free(c);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  if (rc != GSR_OK) fail_msg("sendfile: %d %s", rc, gsr_errmsg());
  check_file(fd, 0, OBJ_SIZE);
  close(fd);
  log_quiet();
  struct ts_media_req q[64];
  int n = media_log(base, q);
  assert_true(n >= 2);
  assert_int_equal(q[0].first, 0);
  assert_int_equal(q[0].sent, 3000001);
  assert_int_equal(q[1].first, 3000001);
  assert_int_equal(q[1].last, q[0].last); /* the rest of the same block */
  fx_check_tiling(q + 2, n - 2, q[0].last + 1, OBJ_SIZE);
}

/* A byte corrupted on the server (its CRC32C kept): the whole object's
 * check fails; a range is not checked. */
static void test_corrupt_object_is_caught(void **state) {
  (void)state;
  assert_int_equal(
      ts_corrupt_in_place(&fx.srv, BUCKET, "obj", (long)OBJ_SIZE - 99999), 0);
  gsr_client *c = new_client(0);
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 4, 0);
  int fd = temp_fd();
  uint64_t written = 0;
  int rc = gsr_sendfile(f, fd, 0, UINT64_MAX, &written);
  if (rc != GSR_EINTEGRITY) fail_msg("sendfile: %d %s", rc, gsr_errmsg());
  assert_non_null(strstr(gsr_errmsg(), "CRC32C"));
  assert_int_equal(written, OBJ_SIZE);
  close(fd);
  fd = temp_fd();
  assert_int_equal(gsr_sendfile(f, fd, 0, OBJ_SIZE - 1, &written), GSR_OK);
  close(fd);
  gsr_close(f);
  gsr_client_free(c);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "obj", data, OBJ_SIZE), 0);
}

/* An fd that refuses writes: GSR_EIO naming it, errno set, no retry
 * (no byte asked twice). */
static void test_refused_write(void **state) {
  (void)state;
  gsr_client *c = new_client(0);
  long base = log_quiet();
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 1, 0);
  int fd = open("/dev/null", O_RDONLY);
  assert_true(fd >= 0);
  uint64_t written = 7;
  int rc = gsr_sendfile(f, fd, 0, UINT64_MAX, &written);
  int err = errno;
  assert_int_equal(rc, GSR_EIO);
  assert_int_equal(err, EBADF);
  assert_int_equal(written, 0);
  assert_non_null(strstr(gsr_errmsg(), "file descriptor"));
  char why[128];
  snprintf(why, sizeof(why), ": %s", strerror(EBADF)); /* the errno's text */
  if (strstr(gsr_errmsg(), why) == NULL) fail_msg("message: %s", gsr_errmsg());
  close(fd);
  gsr_close(f);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
  assert_int_equal(cs.retries, 0);
  gsr_client_free(c);
  struct ts_media_req q[64];
  int n = media_log(base, q);
  assert_true(n >= 1);
  for (int i = 1; i < n; i++) assert_true(q[i].first > q[i - 1].last);
}

/* Bad arguments and a closed file are errors, never a crash. */
static void test_bad_arguments(void **state) {
  (void)state;
  gsr_client *c = new_client(0);
  gsr_file f = open_obj(c, "gs://" BUCKET "/obj", 1, 0);
  uint64_t written = 7;
  assert_int_equal(gsr_sendfile(f, 1, -1, 10, &written), GSR_EINVAL);
  assert_int_equal(written, 0);
  assert_int_equal(gsr_sendfile(f, -1, 0, 10, NULL), GSR_EINVAL);
  gsr_close(f);
  assert_int_equal(gsr_sendfile(f, 1, 0, 10, NULL), GSR_ECLOSED);
  assert_int_equal(gsr_sendfile(GSR_FILE_INVALID, 1, 0, 10, NULL), GSR_EBADF);
  gsr_client_free(c);
}

/* A local file goes through the readers (pread), byte-exact. */
static void test_local_file(void **state) {
  (void)state;
  char path[600];
  snprintf(path, sizeof(path), "%s/" BUCKET "/obj", fx.srv.data);
  gsr_client *c = new_client(0);
  gsr_file f = open_obj(c, path, 4, 0);
  assert_int_equal(send_to_pipe(f, 12345, 9 * MiB, 9 * MiB, 0, 0), GSR_OK);
  int fd = temp_fd();
  assert_int_equal(gsr_sendfile(f, fd, 0, UINT64_MAX, NULL), GSR_OK);
  check_file(fd, 0, OBJ_SIZE);
  close(fd);
  gsr_close(f);
  gsr_client_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_object_to_a_file),
      cmocka_unit_test(test_ranges_to_a_pipe),
      cmocka_unit_test(test_slow_consumer_is_not_a_stall),
      cmocka_unit_test(test_cut_body_resumes),
      cmocka_unit_test(test_corrupt_object_is_caught),
      cmocka_unit_test(test_refused_write),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_local_file),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_teardown);
}
