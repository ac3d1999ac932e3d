/* Range fetches: split, submit, wait, cancel. See rfetch.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "fetch/rfetch.h"

/* I/O thread: a data response must still describe the pinned object. */
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

static int track(struct gsr__rtarget *t, struct gsr__rfetch *rf) {
  pthread_mutex_lock(&t->mu);
  int closed = t->closed;
  if (!closed) {
    rf->prev = NULL;
    rf->next = t->inflight;
    if (t->inflight) t->inflight->prev = rf;
    t->inflight = rf;
  }
  pthread_mutex_unlock(&t->mu);
  return closed ? gsr__err(GSR_ECLOSED, "%s: file is closed", t->obj->display)
                : GSR_OK;
}

static void untrack(struct gsr__rtarget *t, struct gsr__rfetch *rf) {
  pthread_mutex_lock(&t->mu);
  if (rf->prev)
    rf->prev->next = rf->next;
  else if (t->inflight == rf)
    t->inflight = rf->next;
  if (rf->next) rf->next->prev = rf->prev;
  rf->next = rf->prev = NULL;
  pthread_mutex_unlock(&t->mu);
}

static void release_parts(struct gsr__rfetch *rf) {
  for (int i = 0; i < rf->n_parts; i++) gsr__request_cleanup(&rf->reqs[i]);
  rf->reqs = NULL; /* in rf's own allocation */
}

/* Part i's destination: its pieces of the cut, their CRCs zeroed, the
 * cursor at its start. */
static void part_dst(struct gsr__rfetch *rf, int i, struct gsr__dst *d) {
  int first = rf->part_first[i];
  gsr__dst_set(d, rf->cut.seg + first, rf->part_first[i + 1] - first,
               rf->cut.crc != NULL ? rf->cut.crc + first : NULL);
  d->marks = rf->cut.marks; /* only with one part of one piece */
}

/* Builds part i's request for bytes [first, first+len) of the file's
 * object. */
static int prepare_part(struct gsr__rfetch *rf, int i, uint64_t first,
                        uint64_t len) {
  struct gsr__object *obj = rf->target->obj;
  struct gsr__request *req = &rf->reqs[i];
  struct gsr__dst d;
  int status = obj->ops->prepare(obj, req, first, len, NULL);
  if (status != GSR_OK) return status;
  part_dst(rf, i, &d);
  assert(d.len == len); /* the cut matches the split */
  gsr__request_set_range_dst(req, first, &d);
  req->on_headers = check_headers;
  req->on_headers_arg = obj;
  req->completion = &rf->completion;
  /* Counted as they arrive, whoever takes them (bytes_fetched). */
  req->rx_count[0] = rf->target->bytes_fetched[0];
  req->rx_count[1] = rf->target->bytes_fetched[1];
  /* Each attempt counted as it goes on the wire, retries too (requests). */
  req->tx_count[0] = rf->target->requests[0];
  req->tx_count[1] = rf->target->requests[1];
  return GSR_OK;
}

/* Hands req to the transport; if it is stopping, counts the part failed
 * (the fetch then completes without it). */
static void submit_part(struct gsr__rfetch *rf, struct gsr__request *req) {
  struct gsr__object *obj = rf->target->obj;
  if ((obj->ops->submit
           ? obj->ops->submit(obj, req)
           : gsr__transport_submit(rf->target->transport, req)) == GSR_OK)
    return;
  struct gsr__error e;
  gsr__error_set(&e, GSR_ECLOSED, "%s: the client is shutting down",
                 rf->target->obj->display);
  gsr__completion_done(&rf->completion, &e);
}

/* Re-arms a completed fetch in place for its parts to be submitted again
 * (its mutex and condvar stay). */
static void rearm(struct gsr__rfetch *rf) {
  pthread_mutex_lock(&rf->completion.mu);
  assert(rf->completion.pending == 0); /* every part counted itself done */
  rf->completion.pending = rf->n_parts;
  memset(&rf->completion.err, 0, sizeof(rf->completion.err));
  pthread_mutex_unlock(&rf->completion.mu);
}

/* Builds every part's request; on failure nothing is left allocated. */
static int prepare_parts(struct gsr__rfetch *rf, uint64_t part_len) {
  for (int i = 0; i < rf->n_parts; i++) {
    uint64_t po = (uint64_t)i * part_len;
    int status = prepare_part(rf, i, rf->off + po,
                              i == rf->n_parts - 1 ? rf->len - po : part_len);
    if (status != GSR_OK) {
      rf->n_parts = i + 1; /* clean up what was built, this one included */
      release_parts(rf);
      return status;
    }
  }
  return GSR_OK;
}

/* Bytes from p rounded up for any object to follow. */
static size_t align_up(size_t p) {
  const size_t a = _Alignof(max_align_t);
  return (p + a - 1) / a * a;
}

/* A fetch of len bytes in n_parts parts into dst's [at, at+len), with
 * room for its requests and the cut (each part boundary cuts at most one
 * more piece): one allocation. The cut is made here. */
static struct gsr__rfetch *fetch_new(const struct gsr__dst *dst, uint64_t at,
                                     uint64_t len, int n_parts,
                                     uint64_t part_len, int network) {
  size_t n_cut = (size_t)dst->n + (size_t)n_parts;
  size_t o_reqs = align_up(sizeof(struct gsr__rfetch));
  size_t o_seg = align_up(
      o_reqs + (network ? (size_t)n_parts * sizeof(struct gsr__request) : 0));
  size_t o_crc = align_up(o_seg + n_cut * sizeof(struct gsr__iov));
  size_t o_first = align_up(o_crc + n_cut * sizeof(uint32_t));
  unsigned char *m = gsr__calloc(1,
                                 o_first + ((size_t)n_parts + 1) * sizeof(int));
  if (m == NULL) return NULL;
  struct gsr__rfetch *rf = (struct gsr__rfetch *)m;
  struct gsr__iov *seg = (struct gsr__iov *)(m + o_seg);
  rf->reqs = network ? (struct gsr__request *)(m + o_reqs) : NULL;
  rf->part_first = (int *)(m + o_first);
  rf->len = len;
  rf->n_parts = n_parts;
  int k = 0;
  for (int i = 0; i < n_parts; i++) {
    uint64_t po = (uint64_t)i * part_len;
    rf->part_first[i] = k;
    k += gsr__dst_cut(dst, at + po, i == n_parts - 1 ? len - po : part_len,
                      seg + k);
    assert((size_t)k <= n_cut);
  }
  rf->part_first[n_parts] = k;
  gsr__dst_set(&rf->cut, seg, k,
               dst->crc != NULL ? (uint32_t *)(m + o_crc) : NULL);
  assert(rf->cut.len == len); /* the parts cover the range */
  return rf;
}

/* The checkpoints a fetch can write: hold's, when the fetch fills it from
 * its first byte to its last in one segment and one part, CRCs kept. */
static void mark(struct gsr__rfetch *rf, struct gsr__buf *hold) {
  if (hold == NULL || hold->marks == NULL || rf->n_parts != 1 ||
      rf->cut.n != 1 || rf->cut.crc == NULL ||
      rf->cut.seg[0].base != hold->data)
    return;
  rf->cut.marks = hold->marks;
  hold->marked = 1; /* before the bytes (and marks) land */
}

/* A local file: read now, in the caller's thread. A destination without
 * holes counts as one request, as its one range is over the network; a
 * vectored read's span (holes) counts each pread, as its plan does. */
static int fill_local(struct gsr__rtarget *t, struct gsr__rfetch *rf) {
  uint64_t preads, bytes;
  int status = t->obj->ops->fill(t->obj, rf->off, &rf->cut, &preads, &bytes);
  if (preads > 0 && !gsr__dst_has_holes(&rf->cut)) preads = 1;
  atomic_fetch_add(t->requests[0], preads);
  atomic_fetch_add(t->bytes_fetched[0], bytes);
  if (status == GSR_OK) rf->crc = gsr__dst_crc(&rf->cut, rf->len);
  return status;
}

static int start(struct gsr__rtarget *t, uint64_t off,
                 const struct gsr__dst *dst, uint64_t at, uint64_t len,
                 int max_parts, uint64_t min_part, struct gsr__buf *hold,
                 struct gsr__rfetch **out) {
  uint64_t part_len = len;
  int status, n_parts = 1;
  *out = NULL;
  gsr__dst_check(dst);
  assert(at + len <= dst->len); /* within the destination */
  /* A part's cursor over its pieces is an int (the transport's). */
  if (dst->n > INT_MAX - 1024)
    return gsr__err(GSR_EINVAL, "%s: %d segments in one fetch", t->obj->display,
                    dst->n);
  if (!t->obj->local)
    n_parts = gsr__split_range(len, max_parts, min_part, &part_len);
  struct gsr__rfetch *rf = fetch_new(dst, at, len, n_parts, part_len,
                                     !t->obj->local);
  if (rf == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  rf->target = t;
  rf->off = off;
  mark(rf, hold);
  if (t->obj->local) { /* done before we return */
    if ((status = fill_local(t, rf)) != GSR_OK) {
      gsr__free(rf);
      return status;
    }
    rf->waited = 1;
    rf->hold = hold ? gsr__buf_ref(hold) : NULL;
    *out = rf;
    return GSR_OK;
  }
  if ((status = gsr__completion_init(&rf->completion, rf->n_parts)) != GSR_OK) {
    gsr__free(rf);
    return status;
  }
  if ((status = prepare_parts(rf, part_len)) != GSR_OK ||
      (status = track(t, rf)) != GSR_OK) {
    if (rf->reqs) release_parts(rf);
    gsr__completion_destroy(&rf->completion);
    gsr__free(rf);
    return status;
  }
  /* The credentials the parts carry: read after they took them (a refresh
   * in between only makes a later 401 drop a newer token: one extra
   * refresh, never a retry with the refused one). */
  if (t->obj->ops->auth_generation != NULL)
    rf->auth_gen = t->obj->ops->auth_generation(t->obj);
  rf->hold = hold ? gsr__buf_ref(hold) : NULL;
  for (int i = 0; i < rf->n_parts; i++) submit_part(rf, &rf->reqs[i]);
  *out = rf;
  return GSR_OK;
}

int gsr__rfetch_start(struct gsr__rtarget *t, uint64_t off,
                      const struct gsr__dst *dst, int max_parts,
                      uint64_t min_part, struct gsr__buf *hold,
                      struct gsr__rfetch **out) {
  return start(t, off, dst, 0, dst->len, max_parts, min_part, hold, out);
}

int gsr__rfetch_start_buf(struct gsr__rtarget *t, uint64_t off,
                          struct gsr__buf *buf, uint64_t len, int max_parts,
                          uint64_t min_part, struct gsr__rfetch **out) {
  struct gsr__iov one = {buf->data, (size_t)len};
  uint32_t crc; /* asks for CRCs: the fetch keeps its own */
  struct gsr__dst d;
  gsr__dst_set(&d, &one, 1, &crc);
  return gsr__rfetch_start(t, off, &d, max_parts, min_part, buf, out);
}

int gsr__rtarget_streamed(const struct gsr__rtarget *t) {
  return t->obj->ops->submit != NULL;
}

int gsr__rfetch_done(struct gsr__rfetch *rf) {
  if (rf->waited) return 1;
  pthread_mutex_lock(&rf->completion.mu);
  int done = rf->completion.pending == 0;
  pthread_mutex_unlock(&rf->completion.mu);
  return done;
}

/* 1 if the backend renewed the credentials a refused part carried (GCS:
 * a 401 and a token refreshed), once per fetch: the parts may go again. */
static int reauthorized(struct gsr__rfetch *rf) {
  struct gsr__object *obj = rf->target->obj;
  if (rf->auth_retried || obj->ops->reauthorize == NULL) return 0;
  for (int i = 0; i < rf->n_parts; i++)
    if (obj->ops->reauthorize(obj, &rf->reqs[i], &rf->auth_gen))
      return rf->auth_retried = 1;
  return 0;
}

/* After a fetch failed with GSR_EAUTH: if the backend renewed the
 * credentials, re-submits every part once (above the transport, which
 * knows nothing of tokens).
 * The parts rewrite the same destination bytes. Returns 1 if re-submitted. */
static int auth_retry(struct gsr__rfetch *rf) {
  struct gsr__rtarget *t = rf->target;
  if (!reauthorized(rf)) return 0;
  /* Under f->mu, like close's cancel walk: the parts are rebuilt while
   * nobody else can reach them. */
  pthread_mutex_lock(&t->mu);
  if (t->closed) {
    pthread_mutex_unlock(&t->mu);
    return 0;
  }
  for (int i = 0; i < rf->n_parts; i++) gsr__request_cleanup(&rf->reqs[i]);
  rearm(rf);
  for (int i = 0; i < rf->n_parts; i++) {
    struct gsr__request *req = &rf->reqs[i];
    /* the same range and pieces (kept by the cleanup), their CRCs and
     * cursor from the start again */
    int status = prepare_part(rf, i, req->range_first, req->range_len);
    if (status != GSR_OK) {
      struct gsr__error e;
      gsr__error_set(&e, status, "%s", gsr_errmsg());
      gsr__completion_done(&rf->completion, &e);
      continue;
    }
    submit_part(rf, req);
  }
  pthread_mutex_unlock(&t->mu);
  return 1;
}

int gsr__rfetch_wait(struct gsr__rfetch *rf) {
  if (!rf->waited) {
    rf->status = gsr__completion_wait(&rf->completion);
    if (rf->status == GSR_EAUTH && rf->reqs != NULL && auth_retry(rf))
      rf->status = gsr__completion_wait(&rf->completion);
    rf->waited = 1;
    if (rf->status == GSR_OK) rf->crc = gsr__dst_crc(&rf->cut, rf->len);
    struct gsr__error *e = &rf->completion.err;
    if (e->status == GSR_ENOENT) {
      /* The generation (or ETag) existed at open: it was replaced. */
      char msg[sizeof(e->msg)];
      memcpy(msg, e->msg, sizeof(msg));
      gsr__error_set(e, GSR_ECHANGED,
                     "%s changed or was deleted since it was opened (%s)",
                     rf->target->obj->display, msg);
      rf->status = GSR_ECHANGED;
    }
  }
  if (rf->status != GSR_OK) gsr__error_raise(&rf->completion.err);
  return rf->status;
}

void gsr__rfetch_cancel(struct gsr__rfetch *rf) {
  struct gsr__object *obj = rf->target->obj;
  for (int i = 0; i < rf->n_parts && rf->reqs != NULL; i++)
    if (obj->ops->cancel)
      obj->ops->cancel(obj, &rf->reqs[i]);
    else
      gsr__transport_cancel(rf->target->transport, &rf->reqs[i]);
}

void gsr__rfetch_free(struct gsr__rfetch *rf) {
  if (rf == NULL) return;
  if (rf->reqs != NULL) { /* network fetch */
    if (!rf->waited) {
      gsr__rfetch_cancel(rf);
      gsr__completion_wait(&rf->completion);
    }
    untrack(rf->target, rf);
    release_parts(rf);
    gsr__completion_destroy(&rf->completion);
  }
  gsr__buf_unref(rf->hold);
  gsr__free(rf);
}

int gsr__rfetch_run(struct gsr__rtarget *t, uint64_t off, struct gsr__dst *dst,
                    uint64_t at, uint64_t len, int max_parts, uint64_t min_part,
                    uint32_t *crc) {
  struct gsr__rfetch *rf;
  int status = start(t, off, dst, at, len, max_parts, min_part, NULL, &rf);
  if (status != GSR_OK) return status;
  status = gsr__rfetch_wait(rf);
  if (crc != NULL) *crc = rf->crc;
  if (status == GSR_OK && dst->crc != NULL && at == 0 && len == dst->len)
    gsr__dst_regroup(dst, &rf->cut);
  gsr__rfetch_free(rf);
  return status;
}
