/* file:// URLs and plain paths: pread on a local file, in the caller's
 * thread (no I/O thread hop for bytes already on this machine).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"

static int errno_status(int e) {
  switch (e) {
  case ENOENT:
  case ENOTDIR:
    return GSR_ENOENT;
  case EACCES:
  case EPERM:
    return GSR_EACCES;
  case ENOMEM:
    return GSR_ENOMEM;
  default:
    return GSR_EIO;
  }
}

static int local_open(struct gsr__object *obj) {
  struct stat sb;
  obj->fd = gsr__open(obj->url.path, O_RDONLY, 0);
  if (obj->fd < 0)
    return gsr__err(errno_status(errno), "open %s: %s", obj->url.path,
                    gsr__errno_text(errno));
  if (fstat(obj->fd, &sb) != 0)
    return gsr__err(GSR_EIO, "stat %s: %s", obj->url.path,
                    gsr__errno_text(errno));
  if (S_ISDIR(sb.st_mode))
    return gsr__err(GSR_EINVAL, "%s is a directory", obj->url.path);
  obj->st.size = (uint64_t)sb.st_size;
  obj->st.mtime = (int64_t)sb.st_mtime;
  struct tm tm;
  gmtime_r(&sb.st_mtime, &tm);
  strftime(obj->st.updated, sizeof(obj->st.updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return GSR_OK;
}

static int local_pread(struct gsr__object *obj, void *dst, uint64_t off,
                       uint64_t len) {
  unsigned char *p = dst;
  while (len > 0) {
    size_t want = len > (1u << 30) ? (1u << 30) : (size_t)len;
    ssize_t n = pread(obj->fd, p, want, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return gsr__err(errno_status(errno), "read %s: %s", obj->url.path,
                      gsr__errno_text(errno));
    if (n == 0)
      return gsr__err(GSR_ECHANGED,
                      "read %s: file shrank below %llu bytes "
                      "since it was opened",
                      obj->url.path, (unsigned long long)obj->st.size);
    p += n;
    off += (uint64_t)n;
    len -= (uint64_t)n;
  }
  return GSR_OK;
}

static void local_close(struct gsr__object *obj) {
  if (obj->fd >= 0) close(obj->fd);
  obj->fd = -1;
}

const struct gsr__backend_ops gsr__local_ops = {
    .name = "file",
    .open = local_open,
    .pread = local_pread,
    .close = local_close,
};
