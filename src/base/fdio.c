/* Writing whole buffers to file descriptors: write(2) and pwrite(2) may
 * take fewer bytes than asked, be interrupted by a signal, or, on a
 * descriptor the caller made non-blocking, take nothing for now. Opening
 * the library's own descriptors out of the caller's way (fds 0-2), and
 * files that must be regular without ever blocking in open(2).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"

/* Both loops in one: positioned (pwrite at off, advancing) or not. */
static int write_loop(int fd, const void *buf, size_t n, int positioned,
                      uint64_t off) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t w = positioned ? pwrite(fd, p, n, (off_t)off) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* A non-blocking descriptor (a parent set O_NONBLOCK on a pipe):
       * full for now, not failed. Wait until it takes bytes again. */
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -1;
      continue;
    }
    if (w <= 0) {
      if (w == 0) errno = EIO; /* took nothing: would loop for ever */
      return -1;
    }
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

int gsr__write_all(int fd, const void *buf, size_t n) {
  return write_loop(fd, buf, n, 0, 0);
}

int gsr__pwrite_all(int fd, const void *buf, size_t n, uint64_t off) {
  return write_loop(fd, buf, n, 1, off);
}

/* ---- The library's own descriptors. A caller may have closed fds 0-2;
 * a descriptor of ours numbered there would stand in for its standard
 * input, output or error, and its next write(1) would go into our socket.
 * So every descriptor gsread makes is close-on-exec and numbered 3 or
 * more. */

int gsr__fd_own(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int e = errno;
  close(fd);
  errno = e;
  return moved;
}

int gsr__open(const char *path, int flags, mode_t mode) {
  return gsr__fd_own(open(path, flags | O_CLOEXEC, mode));
}

int gsr__open_regular(const char *path) {
  struct stat sb;
  /* O_NONBLOCK: opening a FIFO for reading waits for a writer; a
   * regular file's reads ignore the flag. */
  int fd = gsr__open(path, O_RDONLY | O_NONBLOCK, 0);
  if (fd < 0) return -1;
  int e = fstat(fd, &sb) != 0    ? errno
          : S_ISDIR(sb.st_mode)  ? EISDIR
          : !S_ISREG(sb.st_mode) ? EINVAL
                                 : 0;
  if (e == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
    e = errno;
  if (e != 0) {
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

FILE *gsr__fopen_read(const char *path) {
  int fd = gsr__open_regular(path);
  if (fd < 0) return NULL;
  FILE *fp = fdopen(fd, "r");
  if (fp == NULL) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return fp;
}

/* One hold for the whole process, counted: two threads holding at once
 * must not see each other's /dev/null as the caller's descriptor, and the
 * first to release must not free a number the other still needs held. */
static pthread_mutex_t std_mu = PTHREAD_MUTEX_INITIALIZER;
static int std_users;
static int std_held[3];

/* fork: std_mu held by another thread would stay locked in the child,
 * which has only the forking thread. Held across fork instead
 * (registered once, at the first hold). */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_prepare(void) { pthread_mutex_lock(&std_mu); }
static void fork_done(void) { pthread_mutex_unlock(&std_mu); }
static void fork_hooks(void) {
  (void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

void gsr__std_hold(void) {
  pthread_once(&fork_once, fork_hooks);
  pthread_mutex_lock(&std_mu);
  if (std_users++ == 0) {
    for (;;) { /* open() takes the lowest free number: each closed one */
      int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (fd < 0) break;
      if (fd > 2) {
        close(fd);
        break;
      }
      std_held[fd] = 1;
    }
  }
  pthread_mutex_unlock(&std_mu);
}

void gsr__std_release(void) {
  pthread_mutex_lock(&std_mu);
  if (--std_users == 0) {
    for (int fd = 0; fd < 3; fd++) {
      if (std_held[fd]) close(fd);
      std_held[fd] = 0;
    }
  }
  pthread_mutex_unlock(&std_mu);
}
