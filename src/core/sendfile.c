/* gsr_sendfile: a byte range of a file to a file descriptor.
 *
 * A reader that only passes the bytes on (gsread cat) needs no buffer of
 * its own. One stream whose body is written to the fd where libcurl holds
 * it (a sink, transport.h) saves the copy into prefetch blocks, a quarter
 * of the client's CPU on a fast link, and their memory. The transfer runs
 * on a driven transport: on the caller's thread and a connection of its
 * own, so a slow fd holds up no other file's reads.
 *
 * One stream is the right plan when the connection is not the bound (the
 * prefetcher's probe, producer.c, by the same rule): past the stream's
 * first window, if the caller's thread was busy GSR__PROBE_BUSY of the
 * time (taking bytes in, hashing, writing them out), more connections
 * cannot go faster and the stream runs to the end. Otherwise (a link
 * capped per connection, as GCS's are, or a server that is the bound) it
 * stops there and the rest is read through the file's prefetcher, whose
 * probe then tries N blocks against the rate measured here; if it keeps
 * one stream instead, the prefetcher is let go and the stream resumes
 * here, straight from the wire again. concurrency 1 and ranges no longer
 * than the measurement are one stream to the end; local files are read
 * and written.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>

#include "core/file.h"
#include "fetch/rfetch.h"
#include "prefetch/prefetch.h"

#define PIECE ((size_t)16 << 20) /* bytes per read on the prefetcher's path */
#define MAX_SLICES 64

struct sendfile {
  struct gsr__file *f;
  struct gsr__transport *t; /* the stream's (driven) */
  int fd;
  uint64_t written;         /* bytes written to fd */
  int write_errno;          /* why fd refused a write */
  uint32_t crc;             /* CRC32C of the bytes written */
  /* The stream's measurement: from when `from` bytes were written (its
   * first-byte wait and TCP's slow start behind it) to `to`; the times
   * and the thread's idle time then. */
  uint64_t from, to;
  uint64_t t0, idle0, t1, idle1, bytes0, bytes1;
};

/* Writes all of p to fd; GSR_OK or GSR_EIO (message set in e). */
static int write_out(struct sendfile *s, const void *p, size_t len,
                     struct gsr__error *e) {
  if (gsr__write_all(s->fd, p, len) == 0) return GSR_OK;
  s->write_errno = errno;
  gsr__error_set(e, GSR_EIO, "%s: cannot write to file descriptor %d: %s",
                 s->f->obj->display, s->fd, gsr__errno_text(s->write_errno));
  return GSR_EIO;
}

/* The stream's sink, on the caller's thread (it drives the transport). */
static int sink(struct gsr__request *req, void *arg, const char *p,
                size_t len) {
  struct sendfile *s = arg;
  s->crc = gsr__crc32c(s->crc, p, len);
  if (write_out(s, p, len, &req->err) != GSR_OK) return -1;
  s->written += len;
  /* Straight from the wire (the reads' path counts its own). */
  atomic_fetch_add(&s->f->stats.bytes_delivered, len);
  atomic_fetch_add(&s->f->stats.bytes_direct, len);
  if (s->t0 == 0 && s->written >= s->from) {
    s->t0 = gsr__now_ns();
    s->idle0 = gsr__transport_idle_ns(s->t);
    s->bytes0 = s->written;
  } else if (s->t0 != 0 && s->t1 == 0 && s->written >= s->to) {
    s->t1 = gsr__now_ns();
    s->idle1 = gsr__transport_idle_ns(s->t);
    s->bytes1 = s->written;
  }
  return 0;
}

static const struct gsr__stream_ops sink_ops = {.sink = sink};

/* Streams [off, end) to fd; with measure, stops where the measurement
 * finds the thread idle (blocks are worth a try) and sets *stopped_at. */
static int stream(struct sendfile *s, uint64_t off, uint64_t end,
                  int measure, uint64_t *stopped_at) {
  struct gsr__file *f = s->f;
  struct gsr__rfetch *rf;
  *stopped_at = end;
  int status = gsr__client_driven_transport(f->client, &s->t);
  if (status != GSR_OK) return status;
  uint64_t base = s->written;
  status = gsr__rfetch_start_stream(f, off, end - off, &sink_ops, s, s->t, &rf);
  if (status != GSR_OK) {
    gsr__transport_free(s->t);
    return status;
  }
  atomic_store(&f->stats.plan, measure ? GSR__FETCH_PROBE : GSR__FETCH_STREAM);
  GSR__TRACE(f->client, "sendfile %s: stream %llu+%llu to fd %d on the "
             "calling thread", f->obj->display, (unsigned long long)off,
             (unsigned long long)(end - off), s->fd);
  int stop = 0;
  for (;;) {
    while (!gsr__rfetch_done(rf)) {
      gsr__transport_drive(s->t);
      if (!measure || stop || s->t1 == 0) continue;
      double span = (double)(s->t1 - s->t0);
      double busy = 1.0 - (double)(s->idle1 - s->idle0) / span;
      double rate = (double)(s->bytes1 - s->bytes0) * 1e9 / span;
      measure = 0;
      GSR__TRACE(f->client, "sendfile %s: one stream sustains %.0f MB/s, "
                 "the thread busy %.1f%%: %s", f->obj->display, rate / 1e6,
                 busy * 100, busy >= GSR__PROBE_BUSY
                                 ? "plan: one stream to the end"
                                 : "trying blocks");
      if (busy >= GSR__PROBE_BUSY) {
        atomic_store(&f->stats.plan, GSR__FETCH_STREAM);
      } else {
        atomic_store(&f->stream_rate, rate);
        gsr__rfetch_cancel(rf);
        stop = 1;
      }
    }
    if (!gsr__rfetch_stream_reauth(rf)) break; /* a 401: resubmitted */
  }
  status = gsr__rfetch_wait(rf); /* done: does not block */
  if (stop && status == GSR_ECANCELED) {
    status = GSR_OK;
    *stopped_at = off + (s->written - base);
  }
  gsr__rfetch_free(rf);
  gsr__transport_free(s->t);
  s->t = NULL;
  return status;
}

/* [off, end) through the file's readers (its prefetcher, its cache).
 * With watch (handed on by the stream), in pieces of `watch` bytes until
 * the prefetcher's probe has spoken: if it kept one stream (N blocks were
 * no faster: the server, not the connection, was the bound), the
 * prefetcher is let go and *resume_at says where the stream takes over
 * again (else it is end). */
static int through_reads(struct sendfile *s, uint64_t off, uint64_t end,
                         uint64_t watch, uint64_t *resume_at) {
  struct gsr__file *f = s->f;
  gsr_slice sl[MAX_SLICES];
  uint64_t piece = watch ? watch : PIECE;
  if (resume_at != NULL) *resume_at = end;
  while (off < end) {
    int plan = watch ? gsr__plans_get(f->client->plans, f->obj->media_url) : -1;
    if (plan == GSR__PLAN_BLOCKS) {
      watch = 0;
      piece = PIECE;
    } else if (plan == GSR__PLAN_STREAM) {
      uint64_t fetched = gsr__prefetch_scheduled_end(f);
      if (fetched <= off) {
        GSR__TRACE(f->client, "sendfile %s: the probe kept one stream: "
                   "straight from the wire again from %llu", f->obj->display,
                   (unsigned long long)off);
        *resume_at = off;
        return gsr__file_reset_source(f);
      }
      piece = fetched - off; /* first the probe's blocks, all of them */
    }
    size_t n = 0;
    uint32_t crc = 0;
    int64_t r = gsr__file_slice_read(f, (size_t)GSR__MIN(piece, end - off),
                                     (int64_t)off, sl, MAX_SLICES, &n, 1, &crc);
    if (r < 0) return (int)r;
    if (r == 0)
      return gsr__err(GSR_EINTEGRITY, "%s: the object ended at %llu, not at "
                      "%llu", s->f->obj->display, (unsigned long long)off,
                      (unsigned long long)end);
    int status = GSR_OK;
    struct gsr__error e = {0};
    for (size_t i = 0; i < n; i++) {
      if (status == GSR_OK)
        status = write_out(s, sl[i].data, sl[i].len, &e);
      gsr_slice_release(&sl[i]);
    }
    if (status != GSR_OK) {
      gsr__error_raise(&e);
      return status;
    }
    s->crc = gsr__crc32c_combine(s->crc, crc, (uint64_t)r);
    s->written += (uint64_t)r;
    off += (uint64_t)r;
  }
  return GSR_OK;
}

static int send_range(struct sendfile *s, uint64_t off, uint64_t end) {
  struct gsr__file *f = s->f;
  if (f->obj->ops->pread != NULL) return through_reads(s, off, end, 0, NULL);
  uint64_t window, block;
  gsr__stream_policy(f->max_prefetch, &window, &block);
  s->from = block;
  s->to = window + GSR__PROBE_STREAM_BLOCKS * block; /* as the probe's */
  int remembered = f->obj->media_url != NULL
                       ? gsr__plans_get(f->client->plans, f->obj->media_url)
                       : -1;
  if (f->concurrency > 1 && remembered == GSR__PLAN_BLOCKS)
    return through_reads(s, off, end, 0, NULL);
  int measure = f->concurrency > 1 && remembered != GSR__PLAN_STREAM &&
                end - off > s->to;
  uint64_t stopped_at, resume_at;
  int status = stream(s, off, end, measure, &stopped_at);
  if (status != GSR_OK || stopped_at == end) return status;
  status = through_reads(s, stopped_at, end, block, &resume_at);
  if (status != GSR_OK || resume_at == end) return status;
  return stream(s, resume_at, end, 0, &stopped_at);
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
  /* The range is a promise: what goes through the prefetcher stops at
   * its end too. The caller's own promise is back afterwards (unless
   * this range broke it). */
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
