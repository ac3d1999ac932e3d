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

static int local_fill(struct gsr__object *obj, uint64_t off,
                      const struct gsr__iov *iov, int n, uint32_t *crc,
                      uint32_t *seg_crc, struct gsr__buf *mark) {
  for (int i = 0; i < n; i++) {
    int status = local_pread(obj, iov[i].base, off, iov[i].len);
    if (status != GSR_OK) return status;
    if (mark != NULL) {
      gsr__buf_mark(mark, iov[i].len);
      seg_crc[i] = gsr__buf_crc(mark, 0, iov[i].len);
    } else {
      seg_crc[i] = gsr__crc32c(0, iov[i].base, iov[i].len);
    }
    *crc = gsr__crc32c_combine(*crc, seg_crc[i], iov[i].len);
    off += iov[i].len;
  }
  return GSR_OK;
}

static int local_fill_sg(struct gsr__object *obj, uint64_t off,
                         const struct gsr__iov *segs, size_t n,
                         uint64_t *preads, uint64_t *bytes) {
  int status = GSR_OK;
  *preads = *bytes = 0;
  for (size_t i = 0; i < n && status == GSR_OK; off += segs[i++].len) {
    if (segs[i].base == NULL) continue;
    status = local_pread(obj, segs[i].base, off, segs[i].len);
    (*preads)++;
    *bytes += segs[i].len;
  }
  return status;
}

static void local_close(struct gsr__object *obj) {
  if (obj->fd >= 0) close(obj->fd);
  obj->fd = -1;
}

const struct gsr__backend_ops gsr__local_ops = {
    .name = "file",
    .open = local_open,
    .fill = local_fill,
    .fill_sg = local_fill_sg,
    .close = local_close,
};
