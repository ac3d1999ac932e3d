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
  char byte;
  obj->fd = gsr__open_regular(obj->url.path);
  if (obj->fd < 0 && errno == EISDIR)
    return gsr__err(GSR_EINVAL, "%s is a directory", obj->url.path);
  /* A FIFO, a device or a socket has no size and no offsets to read at;
   * a FIFO would also block (open waits for a writer, reads for data). */
  if (obj->fd < 0 && errno == EINVAL)
    return gsr__err(GSR_EINVAL,
                    "%s is not a regular file (a FIFO, a device or a "
                    "socket): gsread reads regular files only",
                    obj->url.path);
  if (obj->fd < 0)
    return gsr__err(errno_status(errno), "open %s: %s", obj->url.path,
                    gsr__errno_text(errno));
  if (fstat(obj->fd, &sb) != 0)
    return gsr__err(GSR_EIO, "stat %s: %s", obj->url.path,
                    gsr__errno_text(errno));
  /* /proc's files say 0 bytes and have some: their size is not their
   * length, so reads by offset and size would return nothing. */
  if (sb.st_size == 0 && pread(obj->fd, &byte, 1, 0) == 1)
    return gsr__err(GSR_EINVAL,
                    "%s says it holds 0 bytes but has data (a /proc or "
                    "/sys file?): gsread reads files whose size is their "
                    "length",
                    obj->url.path);
  obj->st.size = (uint64_t)sb.st_size;
  obj->st.mtime = (int64_t)sb.st_mtime;
  gsr__utc_format(obj->st.mtime, obj->st.updated, sizeof(obj->st.updated));
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
                      struct gsr__dst *dst, uint64_t *preads, uint64_t *bytes) {
  int status = GSR_OK;
  *preads = *bytes = 0;
  for (int i = 0; i < dst->n && status == GSR_OK; off += dst->seg[i++].len) {
    const struct gsr__iov *v = &dst->seg[i];
    if (v->base == NULL) continue; /* a hole */
    status = local_pread(obj, v->base, off, v->len);
    (*preads)++;
    *bytes += v->len;
    if (status == GSR_OK) gsr__dst_account(dst, i, 0, v->len, NULL);
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
    .close = local_close,
};
