/* gs://BUCKET/OBJECT through the GCS JSON API: one metadata GET at open
 * (size, generation, hashes), then media GETs pinned to that generation.
 *
 * SPDX-License-Identifier: MIT
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backend/backend.h"

/* "{endpoint}/{prefix}/b/{bucket}/o/{object}" with both names encoded. */
static char *object_url(struct gsr__object *obj, const char *prefix,
                        const char *query) {
  char *b = gsr__percent_encode(obj->url.bucket, strlen(obj->url.bucket));
  char *o = gsr__percent_encode(obj->url.object, strlen(obj->url.object));
  char *url = NULL;
  if (b != NULL && o != NULL) {
    size_t n = strlen(obj->client->endpoint) + strlen(prefix) + strlen(b) +
               strlen(o) + strlen(query) + 16;
    url = gsr__malloc(n);
    if (url != NULL)
      snprintf(url, n, "%s/%s/b/%s/o/%s%s", obj->client->endpoint, prefix, b, o,
               query);
  }
  gsr__free(b);
  gsr__free(o);
  return url;
}

static const char *json_str(struct json_object *root, const char *key) {
  struct json_object *v;
  if (!json_object_object_get_ex(root, key, &v)) return NULL;
  if (!json_object_is_type(v, json_type_string)) return NULL;
  return json_object_get_string(v);
}

int gsr__gcs_u64(struct json_object *root, const char *key, uint64_t *out) {
  struct json_object *v;
  if (!json_object_object_get_ex(root, key, &v)) return -1;
  if (json_object_is_type(v, json_type_int)) {
    int64_t x = json_object_get_int64(v);
    if (x < 0) return -1;
    *out = (uint64_t)x;
    return 0;
  }
  if (!json_object_is_type(v, json_type_string)) return -1;
  const char *s = json_object_get_string(v);
  return gsr__parse_u64(s, strlen(s), out);
}

/* "2024-01-02T03:04:05.678Z" -> seconds since the epoch (0 if unparsable). */
static int64_t rfc3339_seconds(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL) return 0;
  return gsr__utc_seconds((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parses the object resource into st. GSR_OK or GSR_EPROTO. */
GSR__HIDDEN int gsr__gcs_parse_metadata(const char *json, size_t len,
                                        gsr_stat *st, char *why, size_t n);
int gsr__gcs_parse_metadata(const char *json, size_t len, gsr_stat *st,
                            char *why, size_t n) {
  struct json_tokener *tok = json_tokener_new();
  struct json_object *root = NULL;
  uint64_t u;
  int status = GSR_EPROTO;
  memset(st, 0, sizeof(*st));
  if (tok == NULL) {
    snprintf(why, n, "out of memory");
    return GSR_ENOMEM;
  }
  root = json_tokener_parse_ex(tok, json, (int)len);
  if (root == NULL || !json_object_is_type(root, json_type_object)) {
    snprintf(why, n, "metadata is not a JSON object");
    goto done;
  }
  if (gsr__gcs_u64(root, "size", &st->size) != 0) {
    snprintf(why, n, "metadata has no valid \"size\"");
    goto done;
  }
  if (gsr__gcs_u64(root, "generation", &u) != 0 || u > INT64_MAX || u == 0) {
    snprintf(why, n, "metadata has no valid \"generation\"");
    goto done;
  }
  st->generation = (int64_t)u;
  if (gsr__gcs_u64(root, "metageneration", &u) == 0 && u <= INT64_MAX)
    st->metageneration = (int64_t)u;
  const char *crc = json_str(root, "crc32c"), *md5 = json_str(root, "md5Hash");
  unsigned char c4[4];
  if (crc != NULL && gsr__base64_decode(crc, c4, 4) == 0) {
    st->has_crc32c = 1;
    st->crc32c = (uint32_t)c4[0] << 24 | (uint32_t)c4[1] << 16 |
                 (uint32_t)c4[2] << 8 | c4[3];
  }
  if (md5 != NULL && gsr__base64_decode(md5, st->md5, 16) == 0) st->has_md5 = 1;
  gsr__copy_whole(st->etag, sizeof(st->etag), json_str(root, "etag"));
  gsr__copy_whole(st->content_type, sizeof(st->content_type),
                  json_str(root, "contentType"));
  gsr__copy_whole(st->content_encoding, sizeof(st->content_encoding),
                  json_str(root, "contentEncoding"));
  gsr__copy_whole(st->updated, sizeof(st->updated), json_str(root, "updated"));
  gsr__copy_whole(st->storage_class, sizeof(st->storage_class),
                  json_str(root, "storageClass"));
  gsr__copy_whole(st->time_created, sizeof(st->time_created),
                  json_str(root, "timeCreated"));
  st->mtime = rfc3339_seconds(json_str(root, "updated"));
  status = GSR_OK;
done:
  json_object_put(root);
  json_tokener_free(tok);
  return status;
}

/* 1 if the object resource says the object is in a zonal bucket (Rapid
 * Storage: storage class RAPID), whose data the JSON API does not serve. */
GSR__HIDDEN int gsr__gcs_class_zonal(const char *storage_class);
int gsr__gcs_class_zonal(const char *storage_class) {
  return strcmp(storage_class, "RAPID") == 0;
}

GSR__HIDDEN int gsr__gcs_metadata_zonal(const char *json, size_t len);
int gsr__gcs_metadata_zonal(const char *json, size_t len) {
  struct json_tokener *tok = json_tokener_new();
  if (tok == NULL) return 0;
  struct json_object *root = json_tokener_parse_ex(tok, json, (int)len);
  const char *cls = root != NULL && json_object_is_type(root, json_type_object)
                        ? json_str(root, "storageClass")
                        : NULL;
  int zonal = cls != NULL && gsr__gcs_class_zonal(cls);
  json_object_put(root);
  json_tokener_free(tok);
  return zonal;
}

int gsr__gcs_authorize(gsr_client *c, struct gsr__request *req, uint64_t *gen) {
  char *hdr = NULL;
  int status = gsr__auth_header(c->auth, &hdr, gen);
  if (status == GSR_OK && hdr != NULL)
    status = gsr__request_add_header(req, hdr);
  if (hdr != NULL) { /* the request keeps its own copy */
    memset(hdr, 0, strlen(hdr));
    gsr__free(hdr);
  }
  return status;
}

/* The one place that decides a refused GCS request may go again: HTTP
 * 401 and a token that can be replaced (dropped here). */
static int refused(struct gsr__object *obj, const struct gsr__request *req,
                   uint64_t gen) {
  return req->resp.status == 401 &&
         gsr__auth_invalidate(obj->client->auth, gen);
}

/* One metadata GET; *gen gets the generation of the token it sent. */
static int get_metadata(struct gsr__object *obj, const char *url,
                        struct gsr__request *req, uint64_t *gen) {
  int status = gsr__request_init(req, GSR__GET, url);
  if (status != GSR_OK) return status;
  req->body_max = 1024 * 1024;
  status = gsr__gcs_authorize(obj->client, req, gen);
  if (status == GSR_OK)
    status = gsr__transport_run(obj->client->transport, req);
  return status;
}

/* Sets the URL every data request of obj goes to, pinned to its
 * generation. */
/* An object of a zonal bucket (storage class RAPID) serves its data over
 * gRPC only; --no-grpc (grpc -1) keeps it on JSON, as the user asked. */
static void mark_zonal(struct gsr__object *obj) {
  if (obj->client->opts.grpc == 0 &&
      gsr__gcs_class_zonal(obj->st.storage_class))
    obj->zonal = 1;
}

static int pin_media_url(struct gsr__object *obj) {
  struct gsr_client *c = obj->client;
  char query[512];
  snprintf(query, sizeof(query), "?alt=media&generation=%lld%s%s",
           (long long)obj->st.generation,
           c->user_project ? "&userProject=" : "",
           c->user_project ? c->user_project : "");
  obj->media_url = object_url(obj, "download/storage/v1", query);
  return obj->media_url ? GSR_OK : gsr__err(GSR_ENOMEM, "out of memory");
}

static int gcs_open(struct gsr__object *obj) {
  struct gsr__request req;
  char query[512];
  uint64_t gen = 0;
  int status;
  struct gsr_client *c = obj->client;
  /* Requester pays: the billed project on every request (a bucket that
   * requires it answers 400 without). */
  snprintf(query, sizeof(query), "%s%s", c->user_project ? "?userProject=" : "",
           c->user_project ? c->user_project : "");
  char *url = object_url(obj, "storage/v1", query);
  if (url == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  status = get_metadata(obj, url, &req, &gen);
  /* A token refused (revoked, or expired in flight): one refresh, one
   * retry; a second 401 is the answer. */
  if (status == GSR_EAUTH && refused(obj, &req, gen)) {
    gsr__request_cleanup(&req);
    status = get_metadata(obj, url, &req, &gen);
  }
  gsr__free(url);
  if (status == GSR_OK) {
    char why[128];
    status = gsr__gcs_parse_metadata(req.body ? req.body : "", req.body_len,
                                     &obj->st, why, sizeof(why));
    if (status != GSR_OK) gsr__err(status, "GET %s: %s", req.url, why);
  }
  /* Zonal: data over gRPC only; object.c hands the object to the zonal
   * backend (forced --no-grpc: the media GETs fail, as the user asked). */
  if (status == GSR_OK) mark_zonal(obj);
  if (status == GSR_OK && !obj->zonal) status = pin_media_url(obj);
  gsr__request_cleanup(&req);
  return status;
}

/* Pins the version a listing saw (obj->st, set by the caller): no request;
 * the data requests carry its generation, so a replaced or deleted object
 * answers 404, which the fetch reports as GSR_ECHANGED. */
static int gcs_adopt(struct gsr__object *obj) {
  if (obj->st.generation <= 0)
    return gsr__err(GSR_EINVAL, "%s: a listed object needs its generation",
                    obj->display);
  obj->st.mtime = rfc3339_seconds(obj->st.updated);
  mark_zonal(obj);
  return obj->zonal ? GSR_OK : pin_media_url(obj);
}

static int gcs_prepare(struct gsr__object *obj, struct gsr__request *req,
                       uint64_t off, uint64_t len, void *dst) {
  int status = gsr__request_init(req, GSR__GET, obj->media_url);
  if (status != GSR_OK) return status;
  gsr__request_set_range(req, off, len, dst);
  /* An object stored gzip-compressed is otherwise served decompressed and
   * whole, its Range ignored (GCS's "decompressive transcoding"): neither
   * the bytes nor the length its size and CRC32C describe. Asking for gzip
   * gets the stored bytes, ranges honoured. libcurl is not asked to
   * decode (CURLOPT_ACCEPT_ENCODING stays unset). */
  if (strcasecmp(obj->st.content_encoding, "gzip") == 0 &&
      (status = gsr__request_add_header(req, "Accept-Encoding: gzip")) !=
          GSR_OK)
    return status;
  return gsr__gcs_authorize(obj->client, req, NULL);
}

static int gcs_check_headers(struct gsr__object *obj,
                             struct gsr__request *req) {
  int64_t g = req->resp.goog_generation;
  if (g >= 0 && g != obj->st.generation) {
    gsr__error_set(&req->err, GSR_ECHANGED,
                   "%s: server sent generation %lld, file is pinned to %lld",
                   obj->display, (long long)g, (long long)obj->st.generation);
    return GSR_ECHANGED;
  }
  return GSR_OK;
}

static uint64_t gcs_auth_generation(struct gsr__object *obj) {
  return gsr__auth_generation(obj->client->auth);
}

/* A data request refused: the token is refreshed now, on the caller's
 * thread (it may wait on the token endpoint), so that the resubmitted
 * request finds it cached. */
static int gcs_reauthorize(struct gsr__object *obj,
                           const struct gsr__request *req, uint64_t *gen) {
  if (!refused(obj, req, *gen)) return 0;
  char *hdr = NULL;
  if (gsr__auth_header(obj->client->auth, &hdr, gen) != GSR_OK)
    return 0; /* keep the 401: the refresh's own failure says less */
  if (hdr != NULL) {
    memset(hdr, 0, strlen(hdr));
    gsr__free(hdr);
  }
  return 1;
}

const struct gsr__backend_ops gsr__gcs_ops = {
    .name = "gcs",
    .open = gcs_open,
    .prepare = gcs_prepare,
    .adopt = gcs_adopt,
    .check_headers = gcs_check_headers,
    .auth_generation = gcs_auth_generation,
    .reauthorize = gcs_reauthorize,
};
