/* The pure parts of zonal reads: a stream end's details, the retry
 * decision, a first response's Object as a gsr_stat.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/zonal.h"
#include "transport/grpc.h"

#define TYPE_PREFIX "type.googleapis.com/"

static int type_is(const char *url, const char *name) {
  size_t n = strlen(TYPE_PREFIX);
  return url != NULL && strncmp(url, TYPE_PREFIX, n) == 0 &&
         strcmp(url + n, name) == 0;
}

static void take_redirect(const ProtobufCBinaryData *v,
                          struct gsr__zonal_details *d) {
  Google__Storage__V2__BidiReadObjectRedirectedError *r =
      google__storage__v2__bidi_read_object_redirected_error__unpack(
          NULL, v->len, v->data);
  if (r == NULL) return;
  d->redirect = 1;
  if (r->routing_token != NULL && d->routing_token == NULL)
    d->routing_token = gsr__strdup(r->routing_token);
  if (r->read_handle != NULL && r->read_handle->has_handle &&
      r->read_handle->handle.len > 0 && d->handle == NULL) {
    d->handle = gsr__malloc(r->read_handle->handle.len);
    if (d->handle != NULL) {
      memcpy(d->handle, r->read_handle->handle.data,
             r->read_handle->handle.len);
      d->handle_len = r->read_handle->handle.len;
    }
  }
  google__storage__v2__bidi_read_object_redirected_error__free_unpacked(r,
                                                                        NULL);
}

static void take_range_error(const ProtobufCBinaryData *v,
                             struct gsr__zonal_details *d) {
  Google__Storage__V2__BidiReadObjectError *e =
      google__storage__v2__bidi_read_object_error__unpack(NULL, v->len,
                                                          v->data);
  if (e == NULL) return;
  size_t n = e->n_read_range_errors;
  if (n > 0 && d->err_ids == NULL) { /* the first such detail only */
    d->err_ids = gsr__calloc(n, sizeof(*d->err_ids));
    d->err_codes = gsr__calloc(n, sizeof(*d->err_codes));
    for (size_t i = 0; i < n && d->err_ids && d->err_codes; i++) {
      const Google__Storage__V2__ReadRangeError *re = e->read_range_errors[i];
      int code = re->status != NULL && re->status->has_code ? re->status->code
                                                            : GSR__GRPC_UNKNOWN;
      if (d->range_code < 0) d->range_code = code;
      if (!re->has_read_id) continue;
      d->err_ids[d->n_err] = re->read_id;
      d->err_codes[d->n_err++] = code;
    }
  }
  google__storage__v2__bidi_read_object_error__free_unpacked(e, NULL);
}

int gsr__zonal_parse_details(const uint8_t *bytes, size_t len,
                             struct gsr__zonal_details *d) {
  memset(d, 0, sizeof(*d));
  d->range_code = -1;
  if (bytes == NULL) return 0;
  Google__Storage__V2__Status *s = google__storage__v2__status__unpack(
      NULL, len, bytes);
  if (s == NULL) return -1;
  for (size_t i = 0; i < s->n_details; i++) {
    const Google__Storage__V2__Any *a = s->details[i];
    if (!a->has_value) continue;
    if (type_is(a->type_url, "google.storage.v2.BidiReadObjectRedirectedError"))
      take_redirect(&a->value, d);
    else if (type_is(a->type_url, "google.storage.v2.BidiReadObjectError"))
      take_range_error(&a->value, d);
  }
  google__storage__v2__status__free_unpacked(s, NULL);
  return 0;
}

void gsr__zonal_details_cleanup(struct gsr__zonal_details *d) {
  gsr__free(d->routing_token);
  gsr__free(d->handle);
  gsr__free(d->err_ids);
  gsr__free(d->err_codes);
  memset(d, 0, sizeof(*d));
  d->range_code = -1;
}

int gsr__zonal_judge(int code, int redirect, int pinned) {
  switch (code) {
  case GSR__GRPC_OK: /* ended with ranges pending: resume them */
  case GSR__GRPC_CANCELLED:
  case GSR__GRPC_UNKNOWN:
  case GSR__GRPC_DEADLINE_EXCEEDED:
  case GSR__GRPC_RESOURCE_EXHAUSTED:
  case GSR__GRPC_INTERNAL:
  case GSR__GRPC_UNAVAILABLE:
    return GSR_OK;
  case GSR__GRPC_ABORTED: /* a precondition's ABORTED has no redirect */
    return redirect ? GSR_OK : GSR_ECHANGED;
  case GSR__GRPC_NOT_FOUND:
    return pinned ? GSR_ECHANGED : GSR_ENOENT;
  case GSR__GRPC_FAILED_PRECONDITION:
  case GSR__GRPC_OUT_OF_RANGE:
    return GSR_ECHANGED;
  case GSR__GRPC_PERMISSION_DENIED:
    return GSR_EACCES;
  case GSR__GRPC_UNAUTHENTICATED:
    return GSR_EAUTH;
  case GSR__GRPC_UNIMPLEMENTED:
    return GSR_EUNSUPPORTED;
  case GSR__GRPC_DATA_LOSS:
    return GSR_EINTEGRITY;
  default:
    return GSR_EPROTO;
  }
}

static void copy_str(char *dst, size_t n, const char *src) {
  if (src != NULL) snprintf(dst, n, "%s", src);
}

int gsr__zonal_object_stat(const Google__Storage__V2__Object *o, gsr_stat *st) {
  memset(st, 0, sizeof(*st));
  if (!o->has_size || o->size < 0 || !o->has_generation || o->generation <= 0)
    return GSR_EPROTO;
  st->size = (uint64_t)o->size;
  st->generation = o->generation;
  if (o->has_metageneration) st->metageneration = o->metageneration;
  if (o->checksums != NULL && o->checksums->has_crc32c) {
    st->has_crc32c = 1;
    st->crc32c = o->checksums->crc32c;
  }
  if (o->checksums != NULL && o->checksums->has_md5_hash &&
      o->checksums->md5_hash.len == sizeof(st->md5)) {
    st->has_md5 = 1;
    memcpy(st->md5, o->checksums->md5_hash.data, sizeof(st->md5));
  }
  copy_str(st->etag, sizeof(st->etag), o->etag);
  copy_str(st->content_type, sizeof(st->content_type), o->content_type);
  copy_str(st->content_encoding, sizeof(st->content_encoding),
           o->content_encoding);
  if (o->update_time != NULL && o->update_time->has_seconds) {
    time_t t = (time_t)o->update_time->seconds;
    struct tm tm;
    st->mtime = o->update_time->seconds;
    if (gmtime_r(&t, &tm) != NULL)
      strftime(st->updated, sizeof(st->updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  return GSR_OK;
}

int gsr__zonal_streams(uint64_t size, int concurrency) {
  int n = size < (100u << 20) ? 1 : size < (500u << 20) ? 2 : 4;
  if (n > concurrency) n = concurrency;
  if (n > GSR__ZONAL_MAX_STREAMS) n = GSR__ZONAL_MAX_STREAMS;
  return n < 1 ? 1 : n;
}
