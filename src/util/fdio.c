/* Writing whole buffers to file descriptors: write(2) and pwrite(2) may
 * take fewer bytes than asked, or be interrupted by a signal.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

/* Both loops in one: positioned (pwrite at off, advancing) or not. */
static int write_loop(int fd, const void *buf, size_t n, int positioned,
                      uint64_t off) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t w = positioned ? pwrite(fd, p, n, (off_t)off) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
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
