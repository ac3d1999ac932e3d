/* The file API: open, stat, read, pread, seek, close. A read is clamped to
 * the object, then served by the backend: pread for local files, one
 * ranged request for network objects, written straight into the caller's
 * buffer by the I/O thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "core/file.h"

void gsr_file_options_init(gsr_file_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o));
  o->cache_type = "none";
  o->block_size = 5u * 1024 * 1024;
}

static const char *const planned_caches[] = {
    "readahead", "readahead_chunked", "readahead_v2", "blockcache",
    "background", "first", "all", "bytes"};

static int check_file_options(const gsr_file_options *o) {
  if (o->block_size == 0) return gsr__err(GSR_EINVAL, "block_size must be > 0");
  if (o->cache_type == NULL || strcmp(o->cache_type, "none") == 0)
    return GSR_OK;
  for (size_t i = 0; i < sizeof(planned_caches) / sizeof(*planned_caches); i++)
    if (strcmp(o->cache_type, planned_caches[i]) == 0)
      return gsr__err(GSR_EUNSUPPORTED, "cache type '%s' is not available in "
                      "this version (only 'none')", o->cache_type);
  return gsr__err(GSR_EINVAL, "unknown cache type '%s'", o->cache_type);
}

int gsr_open(gsr_client *c, const char *url, const gsr_file_options *opts,
             gsr_file *out) {
  gsr_file_options defaults;
  struct gsr__object *obj;
  int status;
  if (out == NULL) return gsr__err(GSR_EINVAL, "gsr_open: out is NULL");
  *out = GSR_FILE_INVALID;
  if (c == NULL) return gsr__err(GSR_EINVAL, "gsr_open: client is NULL");
  if (url == NULL) return gsr__err(GSR_EINVAL, "gsr_open: url is NULL");
  if (opts == NULL) {
    gsr_file_options_init(&defaults);
    opts = &defaults;
  }
  if ((status = check_file_options(opts)) != GSR_OK) return status;
  if ((status = gsr__object_open(c, url, &obj)) != GSR_OK) return status;
  struct gsr__file *f = gsr__calloc(1, sizeof(*f));
  if (f == NULL) {
    gsr__object_close(obj);
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  atomic_init(&f->refs, 1);
  f->client = c;
  f->obj = obj;
  f->opts = *opts;
  f->opts.cache_type = NULL; /* the caller's string is not ours to keep */
  pthread_mutex_init(&f->pos_mu, NULL);
  pthread_mutex_init(&f->mu, NULL);
  if ((status = gsr__handle_add(f)) != GSR_OK) {
    gsr__file_unref(f);
    return status;
  }
  *out = f->id;
  return GSR_OK;
}

void gsr__file_unref(struct gsr__file *f) {
  if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1) return;
  gsr__object_close(f->obj);
  pthread_mutex_destroy(&f->pos_mu);
  pthread_mutex_destroy(&f->mu);
  gsr__free(f);
}

void gsr__file_shutdown(struct gsr__file *f) {
  pthread_mutex_lock(&f->mu);
  f->closed = 1;
  for (struct gsr__inflight *i = f->inflight; i != NULL; i = i->next)
    gsr__transport_cancel(f->client->transport, i->req);
  pthread_mutex_unlock(&f->mu);
}

int gsr_close(gsr_file id) {
  struct gsr__file *f;
  int status = gsr__handle_remove(id, &f);
  if (status != GSR_OK) return status;
  gsr__file_shutdown(f);
  gsr__file_unref(f);
  return GSR_OK;
}

int gsr_fstat(gsr_file id, gsr_stat *st) {
  struct gsr__file *f;
  if (st == NULL) return gsr__err(GSR_EINVAL, "gsr_fstat: st is NULL");
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  *st = f->obj->st;
  gsr__file_unref(f);
  return GSR_OK;
}

/* I/O thread: the response must still describe the pinned object. */
static int check_headers(struct gsr__request *req, void *arg) {
  struct gsr__object *obj = arg;
  const struct gsr__response *r = &req->resp;
  if (r->has_content_range && r->cr_total != UINT64_MAX &&
      r->cr_total != obj->st.size) {
    gsr__error_set(&req->err, GSR_ECHANGED,
                   "%s: object size is now %llu, file was opened at %llu",
                   obj->display, (unsigned long long)r->cr_total,
                   (unsigned long long)obj->st.size);
    return GSR_ECHANGED;
  }
  return obj->ops->check_headers ? obj->ops->check_headers(obj, req) : GSR_OK;
}

static int track(struct gsr__file *f, struct gsr__inflight *i) {
  pthread_mutex_lock(&f->mu);
  int closed = f->closed;
  if (!closed) {
    i->prev = NULL;
    i->next = f->inflight;
    if (f->inflight) f->inflight->prev = i;
    f->inflight = i;
  }
  pthread_mutex_unlock(&f->mu);
  return closed ? gsr__err(GSR_ECLOSED, "file was closed during the read")
                : GSR_OK;
}

static void untrack(struct gsr__file *f, struct gsr__inflight *i) {
  pthread_mutex_lock(&f->mu);
  if (i->prev) i->prev->next = i->next;
  else f->inflight = i->next;
  if (i->next) i->next->prev = i->prev;
  pthread_mutex_unlock(&f->mu);
}

/* A 404 for a generation (or ETag) that existed at open means the object
 * was replaced or deleted: say so with the distinct code. */
static int remap_error(struct gsr__object *obj, struct gsr__fetch *fetch) {
  if (fetch->err.status == GSR_ENOENT) {
    char msg[sizeof(fetch->err.msg)];
    memcpy(msg, fetch->err.msg, sizeof(msg));
    gsr__error_set(&fetch->err, GSR_ECHANGED,
                   "%s changed or was deleted since it was opened (%s)",
                   obj->display, msg);
  }
  return gsr__error_raise(&fetch->err);
}

/* Reads exactly [off, off+len) of the object into dst. */
static int read_range(struct gsr__file *f, void *dst, uint64_t off,
                      uint64_t len) {
  struct gsr__object *obj = f->obj;
  struct gsr__request req;
  struct gsr__fetch fetch;
  struct gsr__inflight in = {.req = &req};
  int status;
  if (obj->ops->pread) return obj->ops->pread(obj, dst, off, len);
  if ((status = obj->ops->prepare(obj, &req, off, len, dst)) != GSR_OK) {
    gsr__request_cleanup(&req);
    return status;
  }
  req.on_headers = check_headers;
  req.on_headers_arg = obj;
  if ((status = gsr__fetch_init(&fetch, 1)) != GSR_OK) {
    gsr__request_cleanup(&req);
    return status;
  }
  req.fetch = &fetch;
  if ((status = track(f, &in)) == GSR_OK) {
    status = gsr__transport_submit(f->client->transport, &req);
    if (status == GSR_OK && gsr__fetch_wait(&fetch) != GSR_OK)
      status = remap_error(obj, &fetch);
    untrack(f, &in);
  }
  gsr__fetch_destroy(&fetch);
  gsr__request_cleanup(&req);
  return status;
}

static int64_t pread_locked(struct gsr__file *f, void *buf, size_t n,
                            int64_t offset) {
  uint64_t size = f->obj->st.size;
  if (buf == NULL && n > 0) return gsr__err(GSR_EINVAL, "buffer is NULL");
  if (offset < 0)
    return gsr__err(GSR_EINVAL, "negative offset %lld", (long long)offset);
  if ((uint64_t)n > (uint64_t)INT64_MAX)
    return gsr__err(GSR_EINVAL, "length %zu exceeds INT64_MAX", n);
  if (n == 0 || (uint64_t)offset >= size) return 0;
  uint64_t len = GSR__MIN((uint64_t)n, size - (uint64_t)offset);
  int status = read_range(f, buf, (uint64_t)offset, len);
  return status == GSR_OK ? (int64_t)len : status;
}

int64_t gsr_pread(gsr_file id, void *buf, size_t n, int64_t offset) {
  struct gsr__file *f;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  int64_t r = pread_locked(f, buf, n, offset);
  gsr__file_unref(f);
  return r;
}

int64_t gsr_read(gsr_file id, void *buf, size_t n) {
  struct gsr__file *f;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  pthread_mutex_lock(&f->pos_mu);
  int64_t r = pread_locked(f, buf, n, f->pos);
  if (r > 0) f->pos += r;
  pthread_mutex_unlock(&f->pos_mu);
  gsr__file_unref(f);
  return r;
}

int64_t gsr_seek(gsr_file id, int64_t offset, int whence) {
  struct gsr__file *f;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  pthread_mutex_lock(&f->pos_mu);
  int64_t base = whence == GSR_SEEK_SET   ? 0
                 : whence == GSR_SEEK_CUR ? f->pos
                 : whence == GSR_SEEK_END ? (int64_t)f->obj->st.size
                                          : -1;
  int64_t r;
  if (base < 0)
    r = gsr__err(GSR_EINVAL, "bad whence %d", whence);
  else if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
    r = gsr__err(GSR_EINVAL, "seek to %lld%+lld is out of range",
                 (long long)base, (long long)offset);
  else
    r = f->pos = base + offset;
  pthread_mutex_unlock(&f->pos_mu);
  gsr__file_unref(f);
  return r;
}

int64_t gsr_tell(gsr_file id) { return gsr_seek(id, 0, GSR_SEEK_CUR); }

int64_t gsr_size(gsr_file id) {
  struct gsr__file *f;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  int64_t size = (int64_t)f->obj->st.size;
  gsr__file_unref(f);
  return size;
}
