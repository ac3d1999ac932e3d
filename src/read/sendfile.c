/* A byte range of a file to a file descriptor: the work of gsr_sendfile
 * (api/file.c) and the loop behind gsr_download.
 *
 * The range is read through the file's readers, as any sequential reader
 * is (the engine, src/read/prefetch/, when the file prefetches), in pieces of
 * slices, and each slice is written out from the block it landed in: no
 * buffer of our own and no copy. The range is promised while it runs, so
 * nothing past it is fetched.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "read/file.h"

#define PIECE ((uint64_t)16 << 20) /* bytes per read, at most */
#define MIN_PIECE ((uint64_t)1 << 20)
#define MAX_SLICES 64

#define PROGRESS_NS (250u * 1000 * 1000) /* at most 4 calls a second */

/* Writes the n slices out, releasing each; GSR_OK or GSR_EIO (message
 * set). */
static int write_slices(struct gsr__file *f, struct gsr__send *s, gsr_slice *sl,
                        size_t n) {
  int status = GSR_OK;
  for (size_t i = 0; i < n; i++) {
    if (status == GSR_OK && gsr__write_all(s->fd, sl[i].data, sl[i].len) != 0) {
      s->write_errno = errno;
      if (s->what != NULL)
        status = gsr__err(GSR_EIO, "cannot write to %s: %s", s->what,
                          gsr__errno_text(s->write_errno));
      else
        status = gsr__err(GSR_EIO,
                          "%s: cannot write to file descriptor %d: "
                          "%s",
                          f->obj->display, s->fd,
                          gsr__errno_text(s->write_errno));
    }
    gsr__slice_release(&sl[i]);
  }
  return status;
}

static void progress(struct gsr__send *s, uint64_t total, uint64_t *last) {
  uint64_t now = gsr__now_ns();
  if (s->progress == NULL || now - *last < PROGRESS_NS) return;
  *last = now;
  s->progress(s->progress_arg, s->written, total);
}

static int send_range(struct gsr__file *f, uint64_t off, uint64_t end,
                      struct gsr__send *s) {
  gsr_slice sl[MAX_SLICES];
  uint64_t last = 0, total = end - off;
  /* Reads no larger than a quarter of the window: the window is sized for
   * its reader's reads (policy.c), and this reader needs no buffer. */
  uint64_t piece = GSR__MIN(PIECE, GSR__MAX(f->max_prefetch / 4, MIN_PIECE));
  progress(s, total, &last);
  while (off < end) {
    size_t n = 0;
    uint32_t crc = 0;
    int64_t r = gsr__file_slice_read(f, (size_t)GSR__MIN(piece, end - off),
                                     (int64_t)off, sl, MAX_SLICES, &n, 1, &crc);
    if (r < 0) return (int)r;
    if (r == 0)
      return gsr__err(GSR_EINTEGRITY,
                      "%s: the object ended at %llu, not at "
                      "%llu",
                      f->obj->display, (unsigned long long)off,
                      (unsigned long long)end);
    assert((uint64_t)r <= end - off); /* no more than asked */
    int status = write_slices(f, s, sl, n);
    if (status != GSR_OK) return status;
    s->crc = gsr__crc32c_combine(s->crc, crc, (uint64_t)r);
    s->written += (uint64_t)r;
    off += (uint64_t)r;
    progress(s, total, &last);
  }
  return GSR_OK;
}

int gsr__file_send(struct gsr__file *f, uint64_t off, uint64_t end,
                   struct gsr__send *s) {
  /* The range is a promise: the prefetcher stops at its end. The
   * caller's own promise is back afterwards (unless this range broke it). */
  uint64_t promised = atomic_exchange(&f->read_end, end);
  int status = send_range(f, off, end, s);
  atomic_store(&f->read_end, promised >= end ? promised : UINT64_MAX);
  return status;
}

int gsr__file_sendfile(struct gsr__file *f, int fd, uint64_t off,
                       uint64_t count, uint64_t *written, int *write_errno) {
  uint64_t size = f->obj->st.size;
  if (off >= size || count == 0) return GSR_OK;
  uint64_t end = count < size - off ? off + count : size;
  struct gsr__send s = {.fd = fd};
  int status = gsr__file_send(f, off, end, &s);
  if (status == GSR_OK && off == 0 && end == size)
    status = gsr__file_check_crc(f, s.crc, "written");
  *written = s.written;
  *write_errno = s.write_errno;
  return status;
}
