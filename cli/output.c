/* Writing to file descriptors, and the clock the tool measures with.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <poll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* write() and writev() may write less than asked (pipes, signals), fail
 * with EINTR when a signal arrives, or with EAGAIN if we inherited a
 * non-blocking stdout; none of those is an error. Returns 1 to retry, or
 * 0 when errno is a real error. */
static int retryable(int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLOUT};

  if (errno == EINTR) return 1;
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    poll(&pfd, 1, -1);
    return 1;
  }
  return 0;
}

/* Writes all n bytes to fd. Returns 0 or an errno value. */
int cli_write_all(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;

  while (n > 0) {
    ssize_t w = write(fd, p, n);

    if (w < 0) {
      if (retryable(fd)) continue;
      return errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Skips the first done bytes of iov[0..*iovcnt): drops the vectors that
 * were written whole and trims the one written in part. */
static struct iovec *iov_advance(struct iovec *iov, int *iovcnt, size_t done) {
  while (*iovcnt > 0 && done >= iov->iov_len) {
    done -= iov->iov_len;
    iov++;
    (*iovcnt)--;
  }
  if (*iovcnt > 0) {
    iov->iov_base = (unsigned char *)iov->iov_base + done;
    iov->iov_len -= done;
  }
  return iov;
}

/* Writes every byte of iov[0..iovcnt) to fd, in order. The vectors are
 * consumed (changed). Returns 0 or an errno value. */
int cli_writev_all(int fd, struct iovec *iov, int iovcnt) {
  iov = iov_advance(iov, &iovcnt, 0); /* skips empty vectors */
  while (iovcnt > 0) {
    ssize_t w = writev(fd, iov, iovcnt);

    if (w < 0) {
      if (retryable(fd)) continue;
      return errno;
    }
    iov = iov_advance(iov, &iovcnt, (size_t)w);
  }
  return 0;
}

/* Seconds on a clock that never jumps (NTP, date changes). */
double cli_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
