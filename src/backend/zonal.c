/* gs://BUCKET/OBJECT in a zonal bucket: object data over gRPC
 * BidiReadObject streams, 1 to 4 per open file (docs/zonal.md). Open sends
 * the first stream's spec and takes the metadata (size, generation,
 * CRC32C; unless the JSON API gave them, generation pinned) and the read
 * handle from the first response. A worker thread owns each stream: the
 * range fetches' requests handed to the least loaded one (ops submit)
 * become ReadRanges (one read_id per destination segment, at most 100 per
 * message), sent as they come, also while earlier ones stream in; each
 * piece is checked (offset, length, CRC32C) and lands in its request's
 * destination, whose progress a waiting reader sees at once, and a request
 * completes when its ranges did. A stream that breaks is replaced by one
 * opened with the pinned generation, the latest read handle and a
 * redirect's routing token, and each unfinished range is asked again from
 * its first missing byte, same read_id.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/zonal.h"
#include "transport/grpc.h"

#define MAX_RANGES_PER_MESSAGE 100
#define MAX_REDIRECTS 8
#define PATH "/google.storage.v2.Storage/BidiReadObject"

/* A request handed to the worker, until its completion counted it. */
struct zreq {
  struct gsr__request *req;
  size_t left; /* its ranges not done */
  int single;  /* one segment, one range: progress published as it lands */
  struct zreq *next;
};

/* One ReadRange: a destination segment of a request; read_id base + index.
 * A range whose owner is NULL is finished or abandoned. */
struct zrange {
  uint64_t off, len, got;
  int done;
  struct zreq *owner;
  int seg; /* the owner's dst segment */
};

struct zshared;

/* One stream and the worker thread that owns it. */
struct zonal {
  struct zshared *sh;
  struct gsr__object *obj;
  atomic_int load; /* requests submitted and not completed */
  /* mu guards the submit queue, stop and the cancel flag's wake-up; the
   * rest is the worker's alone (open's before the worker starts). */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct zreq *queue, **queue_tail;
  int stop;
  atomic_int cancels; /* a cancel since the worker last looked */
  int wake[2];        /* a byte here interrupts the worker's wait for data */
  pthread_t thread;
  int started;
  /* the batch in flight: ranges base.., all of its requests in reqs */
  struct zrange *rs;
  size_t n, cap, left;
  int64_t base;
  struct zreq *reqs;
  struct gsr__grpc *g;
  int64_t next_id;
  int redirected; /* the last stream ended with a redirect */
};

/* What a file's streams share. */
struct zshared {
  char *bucket;       /* "projects/_/buckets/NAME" */
  int64_t generation; /* pinned by the first response (at open); 0 before */
  pthread_mutex_t mu; /* guards handle, token and the workers' starts */
  uint8_t *handle;    /* the latest read handle any stream got */
  size_t handle_len;
  char *token; /* routing token of the last redirect, or NULL */
  int n;       /* streams (gsr__zonal_streams) */
  struct zonal *streams[GSR__ZONAL_MAX_STREAMS];
};

static struct zshared *SH(struct gsr__object *obj) { return obj->priv; }

static void set_handle(struct zonal *z, const uint8_t *h, size_t n) {
  struct zshared *sh = z->sh;
  uint8_t *c = n ? gsr__malloc(n) : NULL;
  if (n && c == NULL) return; /* keep the old one: only a slower reopen */
  if (n) memcpy(c, h, n);
  pthread_mutex_lock(&sh->mu);
  gsr__free(sh->handle);
  sh->handle = c;
  sh->handle_len = n;
  pthread_mutex_unlock(&sh->mu);
}

static void drop_stream(struct zonal *z) {
  gsr__grpc_close(z->g);
  z->g = NULL;
}

/* The request's spec, packed into a new buffer (*out, *len). */
static int pack_spec(struct gsr__object *obj, struct zonal *z, uint8_t **out,
                     size_t *len) {
  Google__Storage__V2__BidiReadObjectRequest rq =
      GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_REQUEST__INIT;
  Google__Storage__V2__BidiReadObjectSpec spec =
      GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_SPEC__INIT;
  Google__Storage__V2__BidiReadHandle h =
      GOOGLE__STORAGE__V2__BIDI_READ_HANDLE__INIT;
  struct zshared *sh = z->sh;
  spec.bucket = sh->bucket;
  spec.object = obj->url.object;
  if (sh->generation > 0) {
    spec.has_generation = 1;
    spec.generation = sh->generation;
  }
  pthread_mutex_lock(&sh->mu);
  if (sh->handle != NULL) {
    h.has_handle = 1;
    h.handle.data = sh->handle;
    h.handle.len = sh->handle_len;
    spec.read_handle = &h;
  }
  spec.routing_token = sh->token;
  rq.read_object_spec = &spec;
  *len = google__storage__v2__bidi_read_object_request__get_packed_size(&rq);
  *out = gsr__malloc(*len ? *len : 1);
  if (*out != NULL)
    google__storage__v2__bidi_read_object_request__pack(&rq, *out);
  pthread_mutex_unlock(&sh->mu);
  return *out != NULL ? GSR_OK : gsr__err(GSR_ENOMEM, "out of memory");
}

static int fail_listed(struct gsr__object *obj, struct zonal *z,
                       const struct gsr__zonal_details *d, const char *why);

/* Judges how the stream ended (it is dropped): GSR_OK when a new one may
 * resume, after taking a redirect's token and handle, or after failing the
 * requests of the ranges a BidiReadObjectError names (the others resume);
 * else the status, with a message naming the object and the gRPC code. */
static int judge_end(struct gsr__object *obj, struct zonal *z) {
  const struct gsr__grpc_status *st = gsr__grpc_end(z->g);
  struct gsr__zonal_details d;
  gsr__zonal_parse_details(st->details, st->details_len, &d);
  int code = st->code;
  if (d.range_code > 0 && code == GSR__GRPC_OK) code = d.range_code;
  int status = gsr__zonal_judge(code, d.redirect, z->sh->generation > 0);
  if (status != GSR_OK && fail_listed(obj, z, &d, st->message) > 0)
    status = GSR_OK;
  GSR__TRACE(obj->client, "zonal %s: stream ended %s (%s)%s", obj->display,
             gsr__grpc_code_name(code), st->message,
             d.redirect ? ", redirected" : "");
  z->redirected = status == GSR_OK && d.redirect;
  if (z->redirected) {
    if (d.routing_token != NULL) {
      pthread_mutex_lock(&z->sh->mu);
      gsr__free(z->sh->token);
      z->sh->token = d.routing_token;
      pthread_mutex_unlock(&z->sh->mu);
      d.routing_token = NULL;
    }
    if (d.handle != NULL) set_handle(z, d.handle, d.handle_len);
  }
  if (status == GSR_OK)
    gsr__err(GSR_ENETWORK, "%s: gRPC stream ended: %s: %s", obj->display,
             gsr__grpc_code_name(code), st->message);
  else if (status == GSR_ECHANGED && code == GSR__GRPC_NOT_FOUND)
    gsr__err(status, "%s: generation %lld was replaced or deleted",
             obj->display, (long long)z->sh->generation);
  else
    gsr__err(status, "%s: %s (gRPC %s: %s)", obj->display, gsr_strerror(status),
             gsr__grpc_code_name(code), st->message);
  gsr__zonal_details_cleanup(&d);
  drop_stream(z);
  return status;
}

/* A response msg[0..mlen) of the stream, unpacked (free it with
 * ..._free_unpacked), its read handle kept for the next stream; NULL if it
 * does not parse: the stream dropped, the message set naming `which`
 * response. */
static Google__Storage__V2__BidiReadObjectResponse *
unpack(struct gsr__object *obj, struct zonal *z, const uint8_t *msg,
       size_t mlen, const char *which) {
  Google__Storage__V2__BidiReadObjectResponse *r =
      google__storage__v2__bidi_read_object_response__unpack(NULL, mlen, msg);
  if (r == NULL) {
    drop_stream(z);
    gsr__err(GSR_EPROTO, "%s: %s gRPC response does not parse", obj->display,
             which);
    return NULL;
  }
  if (r->read_handle != NULL && r->read_handle->has_handle)
    set_handle(z, r->read_handle->handle.data, r->read_handle->handle.len);
  return r;
}

/* A response's metadata against the pinned generation, which it sets
 * (with obj->st) when none is yet. GSR_OK, or a status, message set. */
static int take_metadata(struct gsr__object *obj, struct zonal *z,
                         const Google__Storage__V2__Object *m) {
  gsr_stat st;
  if (gsr__zonal_object_stat(m, &st) != GSR_OK)
    return gsr__err(GSR_EPROTO, "%s: metadata lacks size or generation",
                    obj->display);
  if (z->sh->generation == 0) {
    obj->st = st;
    z->sh->generation = st.generation;
  } else if (st.generation != z->sh->generation) {
    return gsr__err(
        GSR_ECHANGED, "%s: generation %lld became %lld since it was opened",
        obj->display, (long long)z->sh->generation, (long long)st.generation);
  }
  return GSR_OK;
}

/* Opens a stream: sends its spec and, with wait, takes its first response
 * (the metadata). Without, the ranges follow the spec at once (the
 * generation is pinned: nothing in that response is needed first) and
 * exchange takes it, a round trip sooner. *retry: the failure may go away
 * on a new stream. */
static int open_stream(struct gsr__object *obj, struct zonal *z, int wait,
                       int *retry) {
  gsr_client *c = obj->client;
  char params[600], ua[64], *auth = NULL;
  const char *hdrs[9];
  int k = 0, status;
  *retry = 0;
  pthread_mutex_lock(&z->sh->mu);
  snprintf(params, sizeof(params), "bucket=%s%s%s", z->sh->bucket,
           z->sh->token ? "&routing_token=" : "",
           z->sh->token ? z->sh->token : "");
  pthread_mutex_unlock(&z->sh->mu);
  snprintf(ua, sizeof(ua), "gsread/%s", gsr_version());
  hdrs[k++] = "x-goog-request-params";
  hdrs[k++] = params;
  hdrs[k++] = "user-agent";
  hdrs[k++] = ua;
  if ((status = gsr__auth_header(c->auth, &auth, NULL)) != GSR_OK)
    return status;
  if (auth != NULL && strchr(auth, ':') != NULL) {
    char *v = strchr(auth, ':');
    *v++ = '\0';
    while (*v == ' ') v++;
    for (char *p = auth; *p; p++) /* HTTP/2 header names are lower case */
      if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    hdrs[k++] = auth;
    hdrs[k++] = v;
  }
  hdrs[k] = NULL;
  struct gsr__grpc_call_opts o = {
      .host = c->grpc_host,
      .port = c->grpc_port,
      .tls = c->grpc_tls,
      .ca_bundle = c->ca_bundle,
      .path = PATH,
      .headers = hdrs,
      .connect_timeout_ms = c->opts.connect_timeout_ms,
      .stall_timeout_ms = c->opts.stall_timeout_ms,
  };
  status = gsr__grpc_open(&o, &z->g);
  if (auth != NULL) {
    memset(auth, 0, strlen(auth));
    gsr__free(auth);
  }
  if (status != GSR_OK) {
    *retry = status == GSR_ENETWORK || status == GSR_ETIMEDOUT;
    return status;
  }
  uint8_t *spec;
  size_t len;
  if ((status = pack_spec(obj, z, &spec, &len)) != GSR_OK) return status;
  status = gsr__grpc_send(z->g, spec, len);
  gsr__free(spec);
  if (status == GSR_OK && !wait) return GSR_OK;
  const uint8_t *msg;
  size_t mlen;
  if (status == GSR_OK && gsr__grpc_recv(z->g, &msg, &mlen) == 0) {
    status = judge_end(obj, z);
    *retry = status == GSR_OK;
    return *retry ? GSR_ENETWORK : status;
  }
  if (status != GSR_OK) {
    drop_stream(z);
    *retry = 1;
    return status;
  }
  Google__Storage__V2__BidiReadObjectResponse *r = unpack(obj, z, msg, mlen,
                                                          "first");
  if (r == NULL) return GSR_EPROTO;
  status = GSR_OK;
  if (r->metadata != NULL) {
    status = take_metadata(obj, z, r->metadata);
  } else if (z->sh->generation == 0) {
    status = gsr__err(GSR_EPROTO, "%s: first gRPC response has no metadata",
                      obj->display);
  }
  google__storage__v2__bidi_read_object_response__free_unpacked(r, NULL);
  if (status != GSR_OK) drop_stream(z);
  return status;
}

/* Sends ranges rs[from..n) not done (remainders), ids base + index. */
static int send_ranges(struct gsr__object *obj, struct zonal *z, size_t from) {
  Google__Storage__V2__ReadRange rr[MAX_RANGES_PER_MESSAGE];
  Google__Storage__V2__ReadRange *pr[MAX_RANGES_PER_MESSAGE];
  size_t i = from;
  while (i < z->n) {
    size_t k = 0;
    for (; i < z->n && k < MAX_RANGES_PER_MESSAGE; i++) {
      struct zrange *r = &z->rs[i];
      if (r->done) continue;
      google__storage__v2__read_range__init(&rr[k]);
      rr[k].has_read_offset = rr[k].has_read_length = rr[k].has_read_id = 1;
      rr[k].read_offset = (int64_t)(r->off + r->got);
      rr[k].read_length = (int64_t)(r->len - r->got);
      rr[k].read_id = z->base + (int64_t)i;
      pr[k] = &rr[k];
      k++;
    }
    if (k == 0) break;
    Google__Storage__V2__BidiReadObjectRequest rq =
        GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_REQUEST__INIT;
    rq.n_read_ranges = k;
    rq.read_ranges = pr;
    size_t len = google__storage__v2__bidi_read_object_request__get_packed_size(
        &rq);
    uint8_t *buf = gsr__malloc(len);
    if (buf == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    google__storage__v2__bidi_read_object_request__pack(&rq, buf);
    int status = gsr__grpc_send(z->g, buf, len);
    gsr__free(buf);
    if (status != GSR_OK) {
      gsr__err(status, "%s: %s", obj->display, gsr_errmsg());
      return status;
    }
  }
  return GSR_OK;
}

/* Counts req done (its err set or not) and forgets it. */
static void complete(struct zonal *z, struct zreq *q) {
  struct gsr__request *req = q->req;
  for (struct zreq **p = &z->reqs; *p != NULL; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
  if (req->err.status == GSR_OK) atomic_store(&req->progress, req->received);
  req->done_ns = gsr__now_ns();
  gsr__free(q);
  atomic_fetch_sub(&z->load, 1);
  gsr__completion_done(req->completion, &req->err);
}

/* Fails request q with status and this thread's message: its ranges are
 * abandoned (pieces still coming for them are ignored). */
static void fail_req(struct zonal *z, struct zreq *q, int status) {
  for (size_t i = 0; i < z->n; i++)
    if (z->rs[i].owner == q) {
      z->rs[i].owner = NULL;
      if (!z->rs[i].done) {
        assert(z->left > 0); /* counts the ranges not done */
        z->rs[i].done = 1;
        z->left--;
      }
    }
  if (q->req->err.status == GSR_OK)
    gsr__error_set(&q->req->err, status, "%s", gsr_errmsg());
  complete(z, q);
}

/* Fails the requests of the batch's unfinished ranges that d's
 * BidiReadObjectError names with their own codes (a code worth a new
 * stream leaves its range to resume). Returns how many it failed. */
static int fail_listed(struct gsr__object *obj, struct zonal *z,
                       const struct gsr__zonal_details *d, const char *why) {
  int failed = 0;
  for (size_t i = 0; i < d->n_err; i++) {
    int64_t id = d->err_ids[i];
    if (id < z->base || (uint64_t)(id - z->base) >= z->n) continue;
    struct zrange *r = &z->rs[id - z->base];
    int status = gsr__zonal_judge(d->err_codes[i], 0, z->sh->generation > 0);
    if (r->done || r->owner == NULL || status == GSR_OK) continue;
    gsr__err(status, "%s: bytes %llu-%llu: %s (gRPC %s: %s)", obj->display,
             (unsigned long long)r->off,
             (unsigned long long)(r->off + r->len - 1), gsr_strerror(status),
             gsr__grpc_code_name(d->err_codes[i]), why);
    fail_req(z, r->owner, status);
    failed++;
  }
  return failed;
}

/* Shows a single-range request's landed bytes to a reader waiting on
 * them. */
static void publish(struct zreq *q, const struct zrange *r) {
  struct gsr__request *req = q->req;
  /* a piece past the range fails before it lands: no byte held back */
  gsr__request_show(req, r->got);
}

/* One piece: checked, landed. GSR_OK, GSR_EINTEGRITY (CRC: resumable) or
 * GSR_EPROTO / GSR_ECHANGED (never resumed). */
static int land(struct gsr__object *obj, struct zonal *z,
                const Google__Storage__V2__ObjectRangeData *d) {
  if (d->read_range == NULL || !d->read_range->has_read_id) return GSR_OK;
  int64_t id = d->read_range->read_id;
  if (id < z->base || (uint64_t)(id - z->base) >= z->n) return GSR_OK;
  struct zrange *r = &z->rs[id - z->base];
  if (r->done) return GSR_OK; /* finished, abandoned, or a stale id */
  const ProtobufCBinaryData *c = d->checksummed_data &&
                                         d->checksummed_data->has_content
                                     ? &d->checksummed_data->content
                                     : NULL;
  size_t clen = c ? c->len : 0;
  struct zreq *q = r->owner;
  assert(q != NULL); /* not done: neither finished nor abandoned */
  if (clen > 0) {
    uint64_t at = r->off + r->got;
    if (!d->read_range->has_read_offset ||
        d->read_range->read_offset != (int64_t)at)
      return gsr__err(GSR_EPROTO,
                      "%s: gRPC piece for read %lld at offset %lld, "
                      "expected %llu",
                      obj->display, (long long)id,
                      (long long)d->read_range->read_offset,
                      (unsigned long long)at);
    if (clen > r->len - r->got)
      return gsr__err(GSR_EPROTO, "%s: gRPC read %lld got more than asked",
                      obj->display, (long long)id);
    uint32_t piece = gsr__crc32c(0, c->data, clen); /* hashed once */
    if (d->checksummed_data->has_crc32c && piece != d->checksummed_data->crc32c)
      return gsr__err(GSR_EINTEGRITY,
                      "%s: CRC32C mismatch in a gRPC piece at offset %llu",
                      obj->display, (unsigned long long)at);
    struct gsr__request *req = q->req;
    gsr__dst_put(&req->dst, r->seg, (size_t)r->got, c->data, clen, &piece);
    req->received += clen; /* before the progress that shows it */
    if (req->first_byte_ns == 0) req->first_byte_ns = gsr__now_ns();
    for (int k = 0; k < 2; k++)
      if (req->rx_count[k]) atomic_fetch_add(req->rx_count[k], clen);
    r->got += clen;
  }
  if (r->got == r->len || (d->has_range_end && d->range_end)) {
    if (r->got < r->len)
      return gsr__err(GSR_ECHANGED,
                      "%s: object ended at %llu, before the %llu bytes "
                      "it had at open",
                      obj->display, (unsigned long long)(r->off + r->got),
                      (unsigned long long)obj->st.size);
    assert(z->left > 0 && q->left > 0); /* r was not done: counted in both */
    r->done = 1;
    z->left--;
    r->owner = NULL;
    if (q->single) publish(q, r);
    if (--q->left == 0) complete(z, q);
  } else if (q->single && clen > 0) {
    publish(q, r);
  }
  return GSR_OK;
}

/* Fails the canceled requests of the batch (a cancel flag seen). */
static void reap_canceled(struct zonal *z) {
  struct zreq *q = z->reqs, *next;
  for (; q != NULL; q = next) {
    next = q->next;
    if (atomic_load(&q->req->cancel)) {
      gsr__err(GSR_ECANCELED, "%s: canceled", q->req->url);
      fail_req(z, q, GSR_ECANCELED);
    }
  }
}

/* Appends request q's ranges to the batch (they are sent by the caller).
 * A request with nothing to read completes at once. */
static int add_req(struct zonal *z, struct zreq *q) {
  struct gsr__request *req = q->req;
  int nseg = req->dst.n;
  if (z->n + (size_t)nseg > z->cap) {
    size_t cap = z->cap ? z->cap : 64;
    while (cap < z->n + (size_t)nseg) cap *= 2;
    struct zrange *rs = gsr__realloc(z->rs, cap * sizeof(*rs));
    if (rs == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    z->rs = rs;
    z->cap = cap;
  }
  q->next = z->reqs;
  z->reqs = q;
  uint64_t off = req->range_first;
  for (int i = 0; i < nseg; i++) {
    const struct gsr__iov *v = &req->dst.seg[i];
    if (v->len > 0 && v->base != NULL) { /* a hole is not asked */
      z->rs[z->n++] = (struct zrange){
          .off = off, .len = v->len, .owner = q, .seg = i};
      q->left++;
      z->left++;
    }
    off += v->len;
  }
  q->single = q->left == 1 && nseg == 1;
  req->attempts = 1;
  req->first_start_ns = gsr__now_ns();
  for (int k = 0; k < 2; k++)
    if (req->tx_count[k]) atomic_fetch_add(req->tx_count[k], 1);
  if (q->left == 0) complete(z, q);
  return GSR_OK;
}

/* Takes the submit queue into the batch; returns the first new range's
 * index (send from there). */
static size_t take_queue(struct zonal *z) {
  size_t from = z->n;
  pthread_mutex_lock(&z->mu);
  struct zreq *q = z->queue;
  z->queue = NULL;
  z->queue_tail = &z->queue;
  pthread_mutex_unlock(&z->mu);
  char buf[64];
  while (read(z->wake[0], buf, sizeof(buf)) > 0) {
  }
  while (q != NULL) {
    struct zreq *next = q->next;
    if (add_req(z, q) != GSR_OK) {
      q->next = z->reqs;
      z->reqs = q;
      fail_req(z, q, GSR_ENOMEM);
    }
    q = next;
  }
  return from;
}

/* Sends the batch's unfinished ranges on the current stream and lands what
 * comes until all are done, taking requests submitted meanwhile. *retry: a
 * new stream may finish them. */
static int exchange(struct gsr__object *obj, struct zonal *z, int *retry) {
  *retry = 1;
  int status = send_ranges(obj, z, 0);
  if (status != GSR_OK) {
    drop_stream(z);
    return status;
  }
  gsr__grpc_set_wake(z->g, z->wake[0]);
  while (z->left > 0) {
    const uint8_t *msg;
    size_t mlen;
    int got = gsr__grpc_recv(z->g, &msg, &mlen);
    if (atomic_exchange(&z->cancels, 0)) reap_canceled(z);
    if (got == 2) { /* new requests, or a cancel */
      size_t from = take_queue(z);
      if (from < z->n && (status = send_ranges(obj, z, from)) != GSR_OK) {
        drop_stream(z);
        return status;
      }
      continue;
    }
    if (got == 0) {
      status = judge_end(obj, z);
      *retry = status == GSR_OK;
      return *retry ? GSR_ENETWORK : status;
    }
    Google__Storage__V2__BidiReadObjectResponse *r = unpack(obj, z, msg, mlen,
                                                            "a");
    if (r == NULL) {
      *retry = 0;
      return GSR_EPROTO;
    }
    /* a stream opened without waiting: its first response here */
    if (r->metadata != NULL) status = take_metadata(obj, z, r->metadata);
    for (size_t i = 0; i < r->n_object_data_ranges && status == GSR_OK; i++)
      status = land(obj, z, r->object_data_ranges[i]);
    google__storage__v2__bidi_read_object_response__free_unpacked(r, NULL);
    if (status != GSR_OK) {
      /* a corrupt piece landed nothing: a new stream resends from there */
      *retry = status == GSR_EINTEGRITY;
      drop_stream(z);
      return status;
    }
  }
  return GSR_OK;
}

static void backoff(gsr_client *c, int attempt) {
  long ms = c->opts.retry_initial_ms;
  for (int i = 1; i < attempt && ms < c->opts.retry_max_delay_ms; i++)
    ms = (long)((double)ms * c->opts.retry_multiplier);
  if (ms > c->opts.retry_max_delay_ms) ms = c->opts.retry_max_delay_ms;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Opens a stream as needed and runs the batch until it is done, reopening
 * after failures that allow it. */
static int run_batch(struct gsr__object *obj, struct zonal *z) {
  gsr_client *c = obj->client;
  int attempts = 0, redirects = 0, corrupt = 0;
  for (;;) {
    int retry = 0, status = GSR_OK;
    if (z->g == NULL)
      status = open_stream(obj, z, z->sh->generation == 0, &retry);
    if (status == GSR_OK) status = exchange(obj, z, &retry);
    if (status == GSR_OK) return GSR_OK;
    if (!retry) return status;
    /* a corrupt piece gets one more try: a second is not bad luck */
    if (status == GSR_EINTEGRITY && corrupt++ > 0) return status;
    if (z->left == 0) return GSR_OK; /* what was left failed on its own */
    if (z->redirected && redirects++ < MAX_REDIRECTS) continue;
    if (++attempts >= c->opts.retry_max_attempts) return status;
    GSR__TRACE(c, "zonal %s: resuming on a new stream (attempt %d)",
               obj->display, attempts + 1);
    backoff(c, attempts);
    if (atomic_exchange(&z->cancels, 0)) reap_canceled(z);
    if (z->left == 0) return GSR_OK; /* all canceled meanwhile */
  }
}

static void *worker(void *arg) {
  struct zonal *z = arg;
  struct gsr__object *obj = z->obj;
  for (;;) {
    pthread_mutex_lock(&z->mu);
    while (z->queue == NULL && !z->stop) pthread_cond_wait(&z->cv, &z->mu);
    int stop = z->stop && z->queue == NULL;
    pthread_mutex_unlock(&z->mu);
    if (stop) break;
    z->base = z->next_id;
    z->n = z->left = 0;
    take_queue(z);
    int status = z->left > 0 ? run_batch(obj, z) : GSR_OK;
    while (z->reqs != NULL) /* failed: what is left fails with it */
      fail_req(z, z->reqs, status != GSR_OK ? status : GSR_EPROTO);
    z->next_id = z->base + (int64_t)z->n;
  }
  return NULL;
}

static int zonal_prepare(struct gsr__object *obj, struct gsr__request *req,
                         uint64_t off, uint64_t len, void *dst) {
  /* the "URL" names the object in messages; the range is set by the
   * fetch */
  return gsr__request_init(req, GSR__GET, obj->display);
}

static struct zonal *stream_new(struct gsr__object *obj, struct zshared *sh) {
  struct zonal *z = gsr__calloc(1, sizeof(*z));
  if (z == NULL) return NULL;
  z->sh = sh;
  z->obj = obj;
  pthread_mutex_init(&z->mu, NULL);
  pthread_cond_init(&z->cv, NULL);
  z->queue_tail = &z->queue;
  z->next_id = 1;
  if (pipe2(z->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    pthread_cond_destroy(&z->cv);
    pthread_mutex_destroy(&z->mu);
    gsr__free(z);
    return NULL;
  }
  return z;
}

/* Stops the stream's worker (every request it had completed: the fetches
 * were freed before the object closes) and frees it. */
static void stream_free(struct zonal *z) {
  if (z == NULL) return;
  if (z->started) {
    pthread_mutex_lock(&z->mu);
    z->stop = 1;
    pthread_cond_signal(&z->cv);
    pthread_mutex_unlock(&z->mu);
    pthread_join(z->thread, NULL);
  }
  assert(z->queue == NULL && z->reqs == NULL);
  drop_stream(z);
  close(z->wake[0]);
  close(z->wake[1]);
  pthread_cond_destroy(&z->cv);
  pthread_mutex_destroy(&z->mu);
  gsr__free(z->rs);
  gsr__free(z);
}

/* The stream for a new request: the least loaded, its worker started on
 * first use (a stream other than the first opens with the read handle). */
static struct zonal *pick(struct gsr__object *obj, struct zshared *sh) {
  struct zonal *best = sh->streams[0];
  for (int i = 1; i < sh->n; i++)
    if (atomic_load(&sh->streams[i]->load) < atomic_load(&best->load))
      best = sh->streams[i];
  pthread_mutex_lock(&sh->mu);
  if (!best->started && pthread_create(&best->thread, NULL, worker, best) == 0)
    best->started = 1;
  int ok = best->started;
  pthread_mutex_unlock(&sh->mu);
  return ok ? best : NULL;
}

static int zonal_submit(struct gsr__object *obj, struct gsr__request *req) {
  struct zshared *sh = SH(obj);
  struct zonal *z = pick(obj, sh);
  if (z == NULL)
    return gsr__err(GSR_EIO, "%s: cannot start a gRPC worker thread",
                    obj->display);
  struct zreq *q = gsr__calloc(1, sizeof(*q));
  if (q == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  q->req = req;
  atomic_fetch_add(&z->load, 1);
  pthread_mutex_lock(&z->mu);
  *z->queue_tail = q;
  z->queue_tail = &q->next;
  pthread_cond_signal(&z->cv);
  (void)!write(z->wake[1], "", 1);
  pthread_mutex_unlock(&z->mu);
  return GSR_OK;
}

static void zonal_cancel(struct gsr__object *obj, struct gsr__request *req) {
  struct zshared *sh = SH(obj);
  atomic_store(&req->cancel, 1);
  /* whichever stream has it fails it when it next looks (a queued one
   * once taken: its ranges are reaped at once) */
  for (int i = 0; i < sh->n; i++) {
    struct zonal *z = sh->streams[i];
    atomic_store(&z->cancels, 1);
    (void)!write(z->wake[1], "", 1);
  }
}

static int zonal_open(struct gsr__object *obj) {
  gsr_client *c = obj->client;
  assert(c->grpc_host != NULL); /* resolved with c->grpc (api/client.c) */
  struct zshared *sh = gsr__calloc(1, sizeof(*sh));
  if (sh == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  pthread_mutex_init(&sh->mu, NULL);
  obj->priv = sh;
  size_t n = strlen(obj->url.bucket) + 32;
  if ((sh->bucket = gsr__malloc(n)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  snprintf(sh->bucket, n, "projects/_/buckets/%s", obj->url.bucket);
  /* found zonal by the JSON API: its metadata and generation stand, and
   * no stream is needed before a read (a stat reads none) */
  if (obj->zonal) sh->generation = obj->st.generation;
  struct zonal *z = sh->streams[0] = stream_new(obj, sh);
  if (z == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  sh->n = 1;
  int attempts = 0, redirects = 0, status = GSR_OK;
  while (!obj->zonal) { /* the first stream, for the metadata */
    int retry;
    status = open_stream(obj, z, 1, &retry);
    if (status == GSR_OK || !retry) break;
    if (z->redirected && redirects++ < MAX_REDIRECTS) continue;
    if (++attempts >= c->opts.retry_max_attempts) break;
    backoff(c, attempts);
  }
  if (status != GSR_OK) return status;
  /* the others (all, after JSON metadata) open when first used */
  int want = gsr__zonal_streams(obj->st.size, c->default_concurrency);
  while (sh->n < want && (sh->streams[sh->n] = stream_new(obj, sh)) != NULL)
    sh->n++;
  return GSR_OK;
}

static void zonal_close(struct gsr__object *obj) {
  struct zshared *sh = SH(obj);
  if (sh == NULL) return;
  for (int i = 0; i < sh->n; i++) stream_free(sh->streams[i]);
  pthread_mutex_destroy(&sh->mu);
  gsr__free(sh->bucket);
  gsr__free(sh->handle);
  gsr__free(sh->token);
  gsr__free(sh);
  obj->priv = NULL;
}

const struct gsr__backend_ops gsr__zonal_ops = {
    .name = "gs-grpc",
    .open = zonal_open,
    .prepare = zonal_prepare,
    .submit = zonal_submit,
    .cancel = zonal_cancel,
    .close = zonal_close,
};
