/* gsr_sendfile: a byte range of a file to a file descriptor.
 *
 * The range is read through the file's readers, as any sequential reader
 * is (the engine, src/prefetch/, when the file prefetches), in pieces of
 * slices, and each slice is written out from the block it landed in: no
 * buffer of our own and no copy. The range is promised while it runs, so
 * nothing past it is fetched.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>

#include "core/file.h"

#define PIECE ((size_t)16 << 20) /* bytes per read */
#define MAX_SLICES 64

struct sendfile {
  struct gsr__file *f;
  int fd;
  uint64_t written;         /* bytes written to fd */
  int write_errno;          /* why fd refused a write */
  uint32_t crc;             /* CRC32C of the bytes written */
};

/* Writes the n slices out, releasing each; GSR_OK or GSR_EIO (message
 * set). */
static int write_slices(struct sendfile *s, gsr_slice *sl, size_t n) {
  int status = GSR_OK;
  for (size_t i = 0; i < n; i++) {
    if (status == GSR_OK && gsr__write_all(s->fd, sl[i].data, sl[i].len) != 0) {
      s->write_errno = errno;
      status = gsr__err(GSR_EIO, "%s: cannot write to file descriptor %d: %s",
                        s->f->obj->display, s->fd,
                        gsr__errno_text(s->write_errno));
    }
    gsr_slice_release(&sl[i]);
  }
  return status;
}

static int send_range(struct sendfile *s, uint64_t off, uint64_t end) {
  gsr_slice sl[MAX_SLICES];
  while (off < end) {
    size_t n = 0;
    uint32_t crc = 0;
    int64_t r = gsr__file_slice_read(s->f, (size_t)GSR__MIN(PIECE, end - off),
                                     (int64_t)off, sl, MAX_SLICES, &n, 1, &crc);
    if (r < 0) return (int)r;
    if (r == 0)
      return gsr__err(GSR_EINTEGRITY, "%s: the object ended at %llu, not at "
                      "%llu", s->f->obj->display, (unsigned long long)off,
                      (unsigned long long)end);
    int status = write_slices(s, sl, n);
    if (status != GSR_OK) return status;
    s->crc = gsr__crc32c_combine(s->crc, crc, (uint64_t)r);
    s->written += (uint64_t)r;
    off += (uint64_t)r;
  }
  return GSR_OK;
}

int gsr_sendfile(gsr_file id, int fd, int64_t offset, uint64_t count,
                 uint64_t *written) {
  struct gsr__file *f;
  if (written != NULL) *written = 0;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  if (offset < 0 || fd < 0) {
    gsr__file_unref(f);
    return gsr__err(GSR_EINVAL, "gsr_sendfile: %s is negative",
                    offset < 0 ? "offset" : "fd");
  }
  uint64_t size = f->obj->st.size, off = (uint64_t)offset;
  if (off >= size || count == 0) {
    gsr__file_unref(f);
    return GSR_OK;
  }
  uint64_t end = count < size - off ? off + count : size;
  struct sendfile s = {.f = f, .fd = fd};
  /* The range is a promise: the prefetcher stops at its end. The
   * caller's own promise is back afterwards (unless this range broke it). */
  uint64_t promised = atomic_exchange(&f->read_end, end);
  status = send_range(&s, off, end);
  atomic_store(&f->read_end, promised >= end ? promised : UINT64_MAX);
  const gsr_stat *st = &f->obj->st;
  if (status == GSR_OK && off == 0 && end == size && st->has_crc32c &&
      s.crc != st->crc32c)
    status = gsr__err(GSR_EINTEGRITY, "%s: CRC32C of the bytes written is "
                      "%08x, the server's is %08x: the data is corrupt",
                      f->obj->display, s.crc, st->crc32c);
  if (written != NULL) *written = s.written;
  gsr__file_unref(f);
  errno = s.write_errno; /* 0 unless fd refused a write (gsread.h) */
  return status;
}
