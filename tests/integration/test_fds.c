/* A library user that closed its standard descriptors: the library's own
 * descriptors (libcurl's wakeup socketpair, connection sockets, local
 * files, download temp files) must never take fd 0, 1 or 2, so a closed
 * fd 1 stays closed (EBADF) through client creation, reads, sendfile, a
 * download and the client's free; the bytes still come out right; and
 * every descriptor the library opened is close-on-exec.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "fds"
#define SIZE ((size_t)3 * 1024 * 1024 + 17)
#define MAXFD 1024

static unsigned char *data;
static char dir[] = "/tmp/gsread-fds-XXXXXX";

static struct ts_object objects[] = {{"obj", SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 20, .data = &data};

static int setup(void **state) {
  (void)state;
  if (mkdtemp(dir) == NULL) return -1;
  if (fx_setup(&fx_spec) != 0) return -1;
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  int rc = system(cmd) == 0 ? 0 : -1;
  fx_teardown(state);
  return rc;
}

/* While fd 1 is closed, cmocka cannot print: the first failure is kept
 * here and asserted once fd 1 is back. */
static char failure[512];
#define CHECK(cond, ...)                               \
  do {                                                 \
    if (!(cond) && failure[0] == '\0')                 \
      snprintf(failure, sizeof(failure), __VA_ARGS__); \
  } while (0)

static void check_fd1_closed(const char *when) {
  errno = 0;
  int rc = fcntl(1, F_GETFD);
  CHECK(rc == -1 && errno == EBADF, "fd 1 is open %s", when);
}

/* Every descriptor opened since `before` was marked must be close-on-exec.
 * Returns how many TCP sockets and regular files it checked, so that a
 * test can tell it looked at something. The AF_UNIX socketpairs are
 * libcurl's own (its wakeup pair), which it makes without close-on-exec
 * (docs/RELIABILITY.md); they are checked for their number only, above. */
static int check_new_fds(const unsigned char *before, const char *when) {
  int checked = 0;
  for (int fd = 3; fd < MAXFD; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (before[fd] || flags == -1) continue;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct stat sb;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_UNIX)
      continue;
    CHECK(flags & FD_CLOEXEC, "fd %d is not close-on-exec %s", fd, when);
    if (fstat(fd, &sb) == 0 && (S_ISSOCK(sb.st_mode) || S_ISREG(sb.st_mode)))
      checked++;
  }
  return checked;
}

static void read_all(gsr_file f, const char *what) {
  unsigned char *buf = malloc(SIZE);
  size_t got = 0;
  int64_t n = 1;
  while (buf != NULL && got < SIZE && n > 0) {
    n = gsr_read(f, buf + got, SIZE - got);
    if (n > 0) got += (size_t)n;
  }
  CHECK(buf != NULL && got == SIZE && memcmp(buf, data, SIZE) == 0,
        "%s: %zu of %zu bytes, or wrong ones (%s)", what, got, SIZE,
        gsr_errmsg());
  free(buf);
}

static void file_equals(int fd, const char *what) {
  unsigned char *buf = malloc(SIZE + 1);
  ssize_t n = buf ? pread(fd, buf, SIZE + 1, 0) : -1;
  CHECK(n == (ssize_t)SIZE && memcmp(buf, data, SIZE) == 0,
        "%s: the file holds %zd bytes, or wrong ones", what, n);
  free(buf);
}

/* Closes fd 1 (fds 0 and 2 too if all is set), then uses the library:
 * client, gs:// and local reads, sendfile, a download, free. */
static void run_closed(int all) {
  unsigned char before[MAXFD];
  char local[128], sent[128], dest[128], url[128];
  int saved[3] = {-1, -1, -1};

  snprintf(local, sizeof(local), "%s/local%d", dir, all);
  snprintf(sent, sizeof(sent), "%s/sent%d", dir, all);
  snprintf(dest, sizeof(dest), "%s/dest%d", dir, all);
  snprintf(url, sizeof(url), "gs://%s/obj", BUCKET);
  /* The test's own descriptors first, while 0-2 are still taken. */
  int lfd = open(local, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(lfd >= 3);
  assert_int_equal(write(lfd, data, SIZE), (ssize_t)SIZE);
  close(lfd);
  int out = open(sent, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(out >= 3);
  for (int fd = 0; fd < 3; fd++) {
    if (fd != 1 && !all) continue;
    saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    assert_true(saved[fd] >= 3);
  }
  for (int fd = 0; fd < MAXFD; fd++) before[fd] = fcntl(fd, F_GETFD) != -1;
  failure[0] = '\0';
  for (int fd = 0; fd < 3; fd++)
    if (saved[fd] >= 0) close(fd);

  gsr_client_options o;
  gsr_client *c = NULL;
  gsr_file f = GSR_FILE_INVALID, lf = GSR_FILE_INVALID;
  fx_client_options(&o);
  int rc = gsr_client_new(&o, &c);
  CHECK(rc == GSR_OK, "gsr_client_new: %s", gsr_errmsg());
  check_fd1_closed("after gsr_client_new");
  if (rc == GSR_OK) {
    rc = gsr_open(c, url, NULL, &f);
    CHECK(rc == GSR_OK, "gsr_open %s: %s", url, gsr_errmsg());
    if (rc == GSR_OK) read_all(f, url);
    check_fd1_closed("after reading gs://");
    rc = gsr_open(c, local, NULL, &lf);
    CHECK(rc == GSR_OK, "gsr_open %s: %s", local, gsr_errmsg());
    if (rc == GSR_OK) read_all(lf, local);
    check_fd1_closed("after reading a local file");
    /* A kept-alive connection and the local file are open now. */
    CHECK(check_new_fds(before, "with a gs:// and a local file open") >= 2,
          "no connection socket or local file among the new descriptors");
    uint64_t written = 0;
    if (f != GSR_FILE_INVALID) {
      rc = gsr_sendfile(f, out, 0, SIZE, &written);
      CHECK(rc == GSR_OK, "gsr_sendfile: %s", gsr_errmsg());
      file_equals(out, "gsr_sendfile");
    }
    check_fd1_closed("after gsr_sendfile");
    rc = gsr_download(c, url, dest, NULL, NULL);
    CHECK(rc == GSR_OK, "gsr_download: %s", gsr_errmsg());
    check_fd1_closed("after gsr_download");
    check_new_fds(before, "after gsr_download");
    if (f != GSR_FILE_INVALID) gsr_close(f);
    if (lf != GSR_FILE_INVALID) gsr_close(lf);
    gsr_client_free(c);
  }
  check_fd1_closed("after gsr_client_free");

  for (int fd = 0; fd < 3; fd++) {
    if (saved[fd] < 0) continue;
    dup2(saved[fd], fd);
    close(saved[fd]);
  }
  close(out);
  /* Opened only now: while fd 1 was closed, the test's open would take it. */
  int dfd = open(dest, O_RDONLY | O_CLOEXEC);
  if (dfd >= 0)
    file_equals(dfd, "gsr_download");
  else
    CHECK(0, "the download's file is missing");
  if (dfd >= 0) close(dfd);
  assert_string_equal(failure, "");
}

static void test_closed_stdout(void **state) {
  (void)state;
  run_closed(0);
}

static void test_closed_std_all(void **state) {
  (void)state;
  run_closed(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_closed_stdout),
      cmocka_unit_test(test_closed_std_all),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
