/* gs://BUCKET/OBJECT in a zonal bucket: object data over one gRPC
 * BidiReadObject stream per open file (docs/zonal.md). Open sends the spec
 * and takes the metadata (size, generation, CRC32C) and the read handle
 * from the first response; each fill sends its ranges (one read_id each,
 * at most 100 per message), lands every piece at its range's place after
 * checking its CRC32C, and returns when all are complete. A stream that
 * breaks is replaced by one opened with the pinned generation, the latest
 * read handle and the routing token of a redirect, and each unfinished
 * range is asked again from its first missing byte, same read_id.
 *
 * Fills run in the caller's thread (like file://'s pread), one at a time
 * per file: the stream is the file's.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/zonal.h"
#include "transport/grpc.h"

#define MAX_RANGES_PER_MESSAGE 100
#define MAX_REDIRECTS 8
#define PATH "/google.storage.v2.Storage/BidiReadObject"

struct zrange {
  uint64_t off, len, got;
  unsigned char *dst;
  int done;
};

struct zonal {
  pthread_mutex_t mu; /* one fill at a time: the stream is shared */
  struct gsr__grpc *g;
  char *bucket;       /* "projects/_/buckets/NAME" */
  int64_t generation; /* pinned by the first response; 0 before */
  uint8_t *handle;
  size_t handle_len;
  char *token; /* routing token of the last redirect, or NULL */
  int64_t next_id;
  int redirected; /* the last stream ended with a redirect */
};

static struct zonal *Z(struct gsr__object *obj) { return obj->priv; }

static void set_handle(struct zonal *z, const uint8_t *h, size_t n) {
  uint8_t *c = n ? gsr__malloc(n) : NULL;
  if (n && c == NULL) return; /* keep the old one: only a slower reopen */
  if (n) memcpy(c, h, n);
  gsr__free(z->handle);
  z->handle = c;
  z->handle_len = n;
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
  spec.bucket = z->bucket;
  spec.object = obj->url.object;
  if (z->generation > 0) {
    spec.has_generation = 1;
    spec.generation = z->generation;
  }
  if (z->handle != NULL) {
    h.has_handle = 1;
    h.handle.data = z->handle;
    h.handle.len = z->handle_len;
    spec.read_handle = &h;
  }
  spec.routing_token = z->token;
  rq.read_object_spec = &spec;
  *len = google__storage__v2__bidi_read_object_request__get_packed_size(&rq);
  *out = gsr__malloc(*len ? *len : 1);
  if (*out == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  google__storage__v2__bidi_read_object_request__pack(&rq, *out);
  return GSR_OK;
}

/* Judges how the stream ended (it is dropped): GSR_OK when a new one may
 * resume, after taking a redirect's token and handle; else the status, with
 * a message naming the object and the gRPC code. */
static int judge_end(struct gsr__object *obj, struct zonal *z) {
  const struct gsr__grpc_status *st = gsr__grpc_end(z->g);
  struct gsr__zonal_details d;
  gsr__zonal_parse_details(st->details, st->details_len, &d);
  int code = st->code;
  if (d.range_code > 0 && code == GSR__GRPC_OK) code = d.range_code;
  int status = gsr__zonal_judge(code, d.redirect, z->generation > 0);
  GSR__TRACE(obj->client, "zonal %s: stream ended %s (%s)%s", obj->display,
             gsr__grpc_code_name(code), st->message,
             d.redirect ? ", redirected" : "");
  z->redirected = status == GSR_OK && d.redirect;
  if (z->redirected) {
    if (d.routing_token != NULL) {
      gsr__free(z->token);
      z->token = d.routing_token;
      d.routing_token = NULL;
    }
    if (d.handle != NULL) set_handle(z, d.handle, d.handle_len);
  }
  if (status == GSR_OK)
    gsr__err(GSR_ENETWORK, "%s: gRPC stream ended: %s: %s", obj->display,
             gsr__grpc_code_name(code), st->message);
  else if (status == GSR_ECHANGED && code == GSR__GRPC_NOT_FOUND)
    gsr__err(status, "%s: generation %lld was replaced or deleted",
             obj->display, (long long)z->generation);
  else
    gsr__err(status, "%s: %s (gRPC %s: %s)", obj->display, gsr_strerror(status),
             gsr__grpc_code_name(code), st->message);
  gsr__zonal_details_cleanup(&d);
  drop_stream(z);
  return status;
}

/* Opens a stream and takes its first response. *retry: the failure may go
 * away on a new stream. */
static int open_stream(struct gsr__object *obj, struct zonal *z, int *retry) {
  gsr_client *c = obj->client;
  char params[600], ua[64], *auth = NULL;
  const char *hdrs[9];
  int k = 0, status;
  *retry = 0;
  snprintf(params, sizeof(params), "bucket=%s%s%s", z->bucket,
           z->token ? "&routing_token=" : "", z->token ? z->token : "");
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
  Google__Storage__V2__BidiReadObjectResponse *r =
      google__storage__v2__bidi_read_object_response__unpack(NULL, mlen, msg);
  if (r == NULL) {
    drop_stream(z);
    return gsr__err(GSR_EPROTO, "%s: first gRPC response does not parse",
                    obj->display);
  }
  if (r->read_handle != NULL && r->read_handle->has_handle)
    set_handle(z, r->read_handle->handle.data, r->read_handle->handle.len);
  status = GSR_OK;
  if (r->metadata != NULL) {
    gsr_stat st;
    if (gsr__zonal_object_stat(r->metadata, &st) != GSR_OK)
      status = gsr__err(GSR_EPROTO, "%s: metadata lacks size or generation",
                        obj->display);
    else if (z->generation == 0) {
      obj->st = st;
      z->generation = st.generation;
    } else if (st.generation != z->generation)
      status = gsr__err(
          GSR_ECHANGED, "%s: generation %lld became %lld since it was opened",
          obj->display, (long long)z->generation, (long long)st.generation);
  } else if (z->generation == 0) {
    status = gsr__err(GSR_EPROTO, "%s: first gRPC response has no metadata",
                      obj->display);
  }
  google__storage__v2__bidi_read_object_response__free_unpacked(r, NULL);
  if (status != GSR_OK) drop_stream(z);
  return status;
}

/* Sends the unfinished ranges' remainders, ids base + index. */
static int send_ranges(struct gsr__object *obj, struct zonal *z,
                       struct zrange *rs, size_t n, int64_t base) {
  Google__Storage__V2__ReadRange rr[MAX_RANGES_PER_MESSAGE];
  Google__Storage__V2__ReadRange *pr[MAX_RANGES_PER_MESSAGE];
  size_t i = 0;
  while (i < n) {
    size_t k = 0;
    for (; i < n && k < MAX_RANGES_PER_MESSAGE; i++) {
      if (rs[i].done) continue;
      google__storage__v2__read_range__init(&rr[k]);
      rr[k].has_read_offset = rr[k].has_read_length = rr[k].has_read_id = 1;
      rr[k].read_offset = (int64_t)(rs[i].off + rs[i].got);
      rr[k].read_length = (int64_t)(rs[i].len - rs[i].got);
      rr[k].read_id = base + (int64_t)i;
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

/* One piece: checked, landed. GSR_OK, GSR_EINTEGRITY (CRC: resumable) or
 * GSR_EPROTO / GSR_ECHANGED (never resumed). */
static int land(struct gsr__object *obj, struct zrange *rs, size_t n,
                int64_t base, const Google__Storage__V2__ObjectRangeData *d,
                size_t *left) {
  if (d->read_range == NULL || !d->read_range->has_read_id) return GSR_OK;
  int64_t id = d->read_range->read_id;
  if (id < base || (uint64_t)(id - base) >= n) return GSR_OK; /* stale id */
  struct zrange *r = &rs[id - base];
  if (r->done) return GSR_OK;
  const ProtobufCBinaryData *c = d->checksummed_data &&
                                         d->checksummed_data->has_content
                                     ? &d->checksummed_data->content
                                     : NULL;
  size_t clen = c ? c->len : 0;
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
    if (d->checksummed_data->has_crc32c &&
        gsr__crc32c(0, c->data, clen) != d->checksummed_data->crc32c)
      return gsr__err(GSR_EINTEGRITY,
                      "%s: CRC32C mismatch in a gRPC piece at offset %llu",
                      obj->display, (unsigned long long)at);
    if (r->dst != NULL) memcpy(r->dst + r->got, c->data, clen);
    r->got += clen;
  }
  if (r->got == r->len || (d->has_range_end && d->range_end)) {
    if (r->got < r->len)
      return gsr__err(GSR_ECHANGED,
                      "%s: object ended at %llu, before the %llu bytes "
                      "it had at open",
                      obj->display, (unsigned long long)(r->off + r->got),
                      (unsigned long long)obj->st.size);
    r->done = 1;
    (*left)--;
  }
  return GSR_OK;
}

/* Asks for the unfinished ranges on the current stream and lands what
 * comes until all are done. *retry: a new stream may finish them. */
static int exchange(struct gsr__object *obj, struct zonal *z, struct zrange *rs,
                    size_t n, int64_t base, int *retry) {
  size_t left = 0;
  for (size_t i = 0; i < n; i++) left += !rs[i].done;
  *retry = 1;
  int status = send_ranges(obj, z, rs, n, base);
  if (status != GSR_OK) {
    drop_stream(z);
    return status;
  }
  while (left > 0) {
    const uint8_t *msg;
    size_t mlen;
    if (gsr__grpc_recv(z->g, &msg, &mlen) == 0) {
      status = judge_end(obj, z);
      *retry = status == GSR_OK;
      return *retry ? GSR_ENETWORK : status;
    }
    Google__Storage__V2__BidiReadObjectResponse *r =
        google__storage__v2__bidi_read_object_response__unpack(NULL, mlen, msg);
    if (r == NULL) {
      drop_stream(z);
      return gsr__err(GSR_EPROTO, "%s: a gRPC response does not parse",
                      obj->display);
    }
    if (r->read_handle != NULL && r->read_handle->has_handle)
      set_handle(z, r->read_handle->handle.data, r->read_handle->handle.len);
    for (size_t i = 0; i < r->n_object_data_ranges && status == GSR_OK; i++)
      status = land(obj, rs, n, base, r->object_data_ranges[i], &left);
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

/* Reads ranges rs[0..n) to completion, reopening the stream as needed.
 * Called with z->mu held. */
static int read_ranges(struct gsr__object *obj, struct zonal *z,
                       struct zrange *rs, size_t n) {
  gsr_client *c = obj->client;
  int64_t base = z->next_id;
  z->next_id += (int64_t)n;
  int attempts = 0, redirects = 0, corrupt = 0;
  for (;;) {
    int retry = 0, status = GSR_OK;
    if (z->g == NULL) status = open_stream(obj, z, &retry);
    if (status == GSR_OK) status = exchange(obj, z, rs, n, base, &retry);
    if (status == GSR_OK) return GSR_OK;
    if (!retry) return status;
    /* a corrupt piece gets one more try: a second is not bad luck */
    if (status == GSR_EINTEGRITY && corrupt++ > 0) return status;
    /* a redirect is not a failure, but a loop of them is */
    if (z->redirected && redirects++ < MAX_REDIRECTS) continue;
    if (++attempts >= c->opts.retry_max_attempts) return status;
    GSR__TRACE(c, "zonal %s: resuming on a new stream (attempt %d)",
               obj->display, attempts + 1);
    backoff(c, attempts);
  }
}

static int zonal_open(struct gsr__object *obj) {
  gsr_client *c = obj->client;
  if (c->grpc_host == NULL)
    return gsr__err(GSR_EUNSUPPORTED,
                    "%s: gRPC reads need a cleartext endpoint "
                    "(STORAGE_GRPC_ENDPOINT=http://HOST:PORT); TLS to "
                    "storage.googleapis.com is not implemented",
                    obj->display);
  struct zonal *z = gsr__calloc(1, sizeof(*z));
  if (z == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  pthread_mutex_init(&z->mu, NULL);
  z->next_id = 1;
  obj->priv = z;
  size_t n = strlen(obj->url.bucket) + 32;
  if ((z->bucket = gsr__malloc(n)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  snprintf(z->bucket, n, "projects/_/buckets/%s", obj->url.bucket);
  int attempts = 0, redirects = 0;
  for (;;) {
    int retry, status = open_stream(obj, z, &retry);
    if (status == GSR_OK || !retry) return status;
    if (z->redirected && redirects++ < MAX_REDIRECTS) continue;
    if (++attempts >= c->opts.retry_max_attempts) return status;
    backoff(c, attempts);
  }
}

static int zonal_fill(struct gsr__object *obj, uint64_t off,
                      const struct gsr__iov *iov, int n, uint32_t *crc,
                      uint32_t *seg_crc, struct gsr__buf *mark) {
  struct zonal *z = Z(obj);
  struct zrange rs[GSR__REQ_IOV];
  assert(n <= GSR__REQ_IOV);
  for (int i = 0; i < n; i++) {
    rs[i] = (struct zrange){.off = off, .len = iov[i].len, .dst = iov[i].base};
    rs[i].done = iov[i].len == 0;
    off += iov[i].len;
  }
  pthread_mutex_lock(&z->mu);
  int status = read_ranges(obj, z, rs, (size_t)n);
  pthread_mutex_unlock(&z->mu);
  if (status != GSR_OK) return status;
  gsr__fill_crcs(iov, n, crc, seg_crc, mark);
  return GSR_OK;
}

static int zonal_fill_sg(struct gsr__object *obj, uint64_t off,
                         const struct gsr__iov *segs, size_t n,
                         uint64_t *preads, uint64_t *bytes) {
  struct zonal *z = Z(obj);
  size_t k = 0;
  *preads = *bytes = 0;
  for (size_t i = 0; i < n; i++) k += segs[i].base != NULL && segs[i].len;
  struct zrange *rs = gsr__calloc(k ? k : 1, sizeof(*rs));
  if (rs == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  k = 0;
  for (size_t i = 0; i < n; off += segs[i++].len) {
    if (segs[i].base == NULL || segs[i].len == 0) continue;
    rs[k++] = (struct zrange){
        .off = off, .len = segs[i].len, .dst = segs[i].base};
    *bytes += segs[i].len;
  }
  *preads = k; /* one ReadRange each, on the one stream */
  pthread_mutex_lock(&z->mu);
  int status = read_ranges(obj, z, rs, k);
  pthread_mutex_unlock(&z->mu);
  gsr__free(rs);
  return status;
}

static void zonal_close(struct gsr__object *obj) {
  struct zonal *z = Z(obj);
  if (z == NULL) return;
  drop_stream(z);
  pthread_mutex_destroy(&z->mu);
  gsr__free(z->bucket);
  gsr__free(z->handle);
  gsr__free(z->token);
  gsr__free(z);
  obj->priv = NULL;
}

const struct gsr__backend_ops gsr__zonal_ops = {
    .name = "gs-grpc",
    .open = zonal_open,
    .fill = zonal_fill,
    .fill_sg = zonal_fill_sg,
    .close = zonal_close,
};
