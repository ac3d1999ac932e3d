/* Range fetches: split, submit, wait, cancel. See rfetch.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <limits.h>
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

/* The segments of iov covering [from, from+len) of the whole. */
static int sub_iov(const struct gsr__iov *iov, int n, uint64_t from,
                   uint64_t len, struct gsr__iov *out) {
  int k = 0;
  for (int i = 0; i < n && len > 0; i++) {
    if (from >= iov[i].len) {
      from -= iov[i].len;
      continue;
    }
    size_t take = iov[i].len - (size_t)from;
    if (take > len) take = (size_t)len;
    assert(k < GSR__REQ_IOV); /* n <= GSR__REQ_IOV: one out per iov */
    out[k].base = iov[i].base + from;
    out[k].len = take;
    k++;
    len -= take;
    from = 0;
  }
  return k;
}

/* The buffer whose checkpoints a fetch into iov can write: hold, when the
 * fetch fills it from its first byte in one segment and one part. */
static struct gsr__buf *markable(struct gsr__buf *hold,
                                 const struct gsr__iov *iov, int n_iov,
                                 int n_parts) {
  if (hold == NULL || hold->marks == NULL || n_iov != 1 || n_parts != 1 ||
      iov[0].base != hold->data)
    return NULL;
  return hold;
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
  gsr__free(rf->reqs);
  rf->reqs = NULL;
}

/* Appends to rf->sg the segments of the next len bytes of the caller's
 * scatter list (from segment *i, *used bytes into it), cutting the one
 * that straddles the end. */
static void sg_take(struct gsr__rfetch *rf, const struct gsr__iov *segs,
                    size_t *i, size_t *used, uint64_t len) {
  while (len > 0) {
    const struct gsr__iov *v = &segs[*i];
    size_t take = v->len - *used;
    if (take > len) take = (size_t)len;
    rf->sg[rf->n_sg].base = v->base != NULL ? v->base + *used : NULL;
    rf->sg[rf->n_sg++].len = take;
    len -= take;
    if ((*used += take) == v->len) {
      (*i)++;
      *used = 0;
    }
  }
}

/* Builds req for bytes [first, first+len) of the file's object into
 * iov[0..n) (n 0: the caller sets xdst). */
static int prepare_part(struct gsr__rfetch *rf, struct gsr__request *req,
                        uint64_t first, uint64_t len,
                        const struct gsr__iov *iov, int n) {
  struct gsr__object *obj = rf->target->obj;
  int status = obj->ops->prepare(obj, req, first, len, NULL);
  if (status != GSR_OK) return status;
  gsr__request_set_range_iov(req, first, len, iov, n);
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

/* Builds every part's request; on failure nothing is left allocated.
 * With segs (gsr__rfetch_start_sg), the parts land in rf->sg, cut from
 * segs[0..n_segs) here. */
static int prepare_parts(struct gsr__rfetch *rf, const struct gsr__iov *iov,
                         int n_iov, const struct gsr__iov *segs,
                         uint64_t part_len) {
  size_t sg_i = 0, sg_used = 0;
  rf->reqs = gsr__calloc((size_t)rf->n_parts, sizeof(*rf->reqs));
  if (rf->reqs == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  for (int i = 0; i < rf->n_parts; i++) {
    uint64_t po = (uint64_t)i * part_len;
    uint64_t pl = i == rf->n_parts - 1 ? rf->len - po : part_len;
    struct gsr__iov part[GSR__REQ_IOV];
    int k = segs != NULL ? 0 : sub_iov(iov, n_iov, po, pl, part);
    int status = prepare_part(rf, &rf->reqs[i], rf->off + po, pl, part, k);
    if (status == GSR_OK && segs != NULL) {
      size_t first = rf->n_sg;
      sg_take(rf, segs, &sg_i, &sg_used, pl);
      rf->reqs[i].xdst = rf->sg + first;
      rf->reqs[i].n_xdst = (int)(rf->n_sg - first);
    }
    if (status != GSR_OK) {
      rf->n_parts = i + 1; /* clean up what was built, this one included */
      release_parts(rf);
      return status;
    }
  }
  return GSR_OK;
}

/* Both starts: iov[0..n_iov) (at most GSR__REQ_IOV, CRCs kept), or
 * segs[0..n_segs) (any number, holes, no CRCs). */
static int start(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                 const struct gsr__iov *iov, int n_iov,
                 const struct gsr__iov *segs, size_t n_segs, int max_parts,
                 uint64_t min_part, struct gsr__buf *hold,
                 struct gsr__rfetch **out) {
  uint64_t part_len;
  int status;
  *out = NULL;
  struct gsr__rfetch *rf = gsr__calloc(1, sizeof(*rf));
  if (rf == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  rf->target = t;
  rf->off = off;
  rf->len = len;
  assert(n_iov >= 0 && n_iov <= GSR__REQ_IOV); /* rfetch.h: seg_len's */
  rf->n_seg = n_iov;
  for (int i = 0; i < n_iov; i++) rf->seg_len[i] = iov[i].len;
  if (t->obj->local) { /* done before we return */
    if (segs != NULL) {
      uint64_t preads, bytes;
      status = t->obj->ops->fill_sg(t->obj, off, segs, n_segs, &preads, &bytes);
      atomic_fetch_add(t->requests[0], preads);
      atomic_fetch_add(t->bytes_fetched[0], bytes);
    } else {
      status = t->obj->ops->fill(t->obj, off, iov, n_iov, &rf->crc, rf->seg_crc,
                                 markable(hold, iov, n_iov, 1));
      if (status == GSR_OK) {
        atomic_fetch_add(t->requests[0], 1);
        atomic_fetch_add(t->bytes_fetched[0], len);
      }
    }
    if (status != GSR_OK) {
      gsr__free(rf);
      return status;
    }
    rf->waited = 1;
    rf->hold = hold ? gsr__buf_ref(hold) : NULL;
    *out = rf;
    return GSR_OK;
  }
  rf->n_parts = gsr__split_range(len, max_parts, min_part, &part_len);
  if (segs != NULL) { /* each part boundary cuts at most one segment */
    rf->sg = gsr__malloc((n_segs + (size_t)rf->n_parts) * sizeof(*rf->sg));
    if (rf->sg == NULL) {
      gsr__free(rf);
      return gsr__err(GSR_ENOMEM, "out of memory");
    }
  }
  if ((status = gsr__completion_init(&rf->completion, rf->n_parts)) != GSR_OK) {
    gsr__free(rf->sg);
    gsr__free(rf);
    return status;
  }
  if ((status = prepare_parts(rf, iov, n_iov, segs, part_len)) != GSR_OK ||
      (status = track(t, rf)) != GSR_OK) {
    if (rf->reqs) release_parts(rf);
    gsr__completion_destroy(&rf->completion);
    gsr__free(rf->sg);
    gsr__free(rf);
    return status;
  }
  struct gsr__buf *mark = markable(hold, iov, n_iov, rf->n_parts);
  if (mark != NULL) { /* before the transport sees the request */
    rf->reqs[0].marks = mark->marks;
    mark->marked = 1;
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

int gsr__rfetch_start(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                      const struct gsr__iov *iov, int n_iov, int max_parts,
                      uint64_t min_part, struct gsr__buf *hold,
                      struct gsr__rfetch **out) {
  return start(t, off, len, iov, n_iov, NULL, 0, max_parts, min_part, hold,
               out);
}

int gsr__rfetch_start_sg(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                         const struct gsr__iov *segs, size_t n_segs,
                         int max_parts, uint64_t min_part,
                         struct gsr__buf *hold, struct gsr__rfetch **out) {
  *out = NULL;
  /* A part's cursor over its segments is an int (the transport's). */
  if (n_segs == 0 || n_segs > (size_t)INT_MAX - 1024)
    return gsr__err(GSR_EINVAL, "%s: %zu segments in one fetch",
                    t->obj->display, n_segs);
  return start(t, off, len, NULL, 0, segs, n_segs, max_parts, min_part, hold,
               out);
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
  struct saved_part {
    uint64_t first, len;
    struct gsr__iov iov[GSR__REQ_IOV];
    int n;
    uint32_t *marks;
    const struct gsr__iov *xdst;
    int n_xdst;
  } *saved = gsr__calloc((size_t)rf->n_parts, sizeof(*saved));
  if (saved == NULL) return 0;
  for (int i = 0; i < rf->n_parts; i++) {
    struct gsr__request *r = &rf->reqs[i];
    saved[i].first = r->range_first;
    saved[i].len = r->range_len;
    saved[i].n = r->n_dst;
    saved[i].marks = r->marks;
    saved[i].xdst = r->xdst;
    saved[i].n_xdst = r->n_xdst;
    memcpy(saved[i].iov, r->dst, sizeof(r->dst));
  }
  /* Under f->mu, like close's cancel walk: the parts are rebuilt while
   * nobody else can reach them. */
  pthread_mutex_lock(&t->mu);
  if (t->closed) {
    pthread_mutex_unlock(&t->mu);
    gsr__free(saved);
    return 0;
  }
  for (int i = 0; i < rf->n_parts; i++) gsr__request_cleanup(&rf->reqs[i]);
  rearm(rf);
  for (int i = 0; i < rf->n_parts; i++) {
    struct gsr__request *req = &rf->reqs[i];
    int status = prepare_part(rf, req, saved[i].first, saved[i].len,
                              saved[i].iov, saved[i].n);
    if (status != GSR_OK) {
      struct gsr__error e;
      gsr__error_set(&e, status, "%s", gsr_errmsg());
      gsr__completion_done(&rf->completion, &e);
      continue;
    }
    req->marks = saved[i].marks;
    req->xdst = saved[i].xdst;
    req->n_xdst = saved[i].n_xdst;
    submit_part(rf, req);
  }
  pthread_mutex_unlock(&t->mu);
  gsr__free(saved);
  return 1;
}

int gsr__rfetch_wait(struct gsr__rfetch *rf) {
  if (!rf->waited) {
    rf->status = gsr__completion_wait(&rf->completion);
    if (rf->status == GSR_EAUTH && rf->reqs != NULL && auth_retry(rf))
      rf->status = gsr__completion_wait(&rf->completion);
    rf->waited = 1;
    if (rf->status == GSR_OK)
      gsr__seg_crcs(rf->reqs, rf->n_parts, rf->seg_len, rf->n_seg, rf->seg_crc,
                    &rf->crc);
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
  gsr__free(rf->sg);
  gsr__free(rf);
}

int gsr__rfetch_run(struct gsr__rtarget *t, uint64_t off, uint64_t len,
                    const struct gsr__iov *iov, int n_iov, int max_parts,
                    uint64_t min_part, uint32_t *crc, uint32_t *seg_crc) {
  struct gsr__rfetch *rf;
  int status = gsr__rfetch_start(t, off, len, iov, n_iov, max_parts, min_part,
                                 NULL, &rf);
  if (status != GSR_OK) return status;
  status = gsr__rfetch_wait(rf);
  if (crc != NULL) *crc = rf->crc;
  if (seg_crc != NULL)
    memcpy(seg_crc, rf->seg_crc, sizeof(uint32_t) * (size_t)rf->n_seg);
  gsr__rfetch_free(rf);
  return status;
}
