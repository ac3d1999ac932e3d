/* http(s):// URLs: any server that supports Range. Open is one HEAD (size,
 * ETag); data requests carry If-Match so a replaced object fails with 412
 * instead of mixing versions. Redirects are followed (max_redirects) by the
 * transport; the open's HEAD resolves them once, and data requests go
 * straight to the URL it ended at, pinned to that URL's ETag.
 *
 * SPDX-License-Identifier: MIT
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"

static void fill_stat(struct gsr__object *obj, const struct gsr__response *r) {
  gsr_stat *st = &obj->st;
  snprintf(st->etag, sizeof(st->etag), "%s", r->etag);
  snprintf(st->content_type, sizeof(st->content_type), "%s", r->content_type);
  if (r->last_modified[0]) {
    time_t t = curl_getdate(r->last_modified, NULL);
    if (t > 0) {
      struct tm tm;
      st->mtime = (int64_t)t;
      gmtime_r(&t, &tm);
      strftime(st->updated, sizeof(st->updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
  }
}

/* Every request of this backend: it may follow redirects. */
static int http_request(struct gsr__object *obj, struct gsr__request *req,
                        enum gsr__method m, const char *url) {
  int status = gsr__request_init(req, m, url);
  req->max_redirects = obj->client->opts.max_redirects;
  return status;
}

/* Where the open's requests ended, after their redirects: data requests
 * go there. */
static int set_media_url(struct gsr__object *obj, const char *url) {
  gsr__free(obj->media_url);
  obj->media_url = gsr__strdup(url);
  return obj->media_url ? GSR_OK : gsr__err(GSR_ENOMEM, "out of memory");
}

/* Falls back to GET bytes=0-0 when HEAD gives no length (size from
 * Content-Range). */
static int probe_with_range(struct gsr__object *obj) {
  struct gsr__request req;
  unsigned char byte;
  int status = http_request(obj, &req, GSR__GET, obj->media_url);
  if (status != GSR_OK) return status;
  gsr__request_set_range(&req, 0, 1, &byte);
  status = gsr__transport_run(obj->client->transport, &req);
  if (status == GSR_OK &&
      (!req.resp.has_content_range || req.resp.cr_total == UINT64_MAX))
    status = gsr__err(GSR_EPROTO, "GET %s: no object size in the response",
                      obj->url.href);
  if (status == GSR_OK) {
    obj->st.size = req.resp.cr_total;
    fill_stat(obj, &req.resp);
    status = set_media_url(obj, req.url);
  }
  gsr__request_cleanup(&req);
  return status;
}

static int http_open(struct gsr__object *obj) {
  struct gsr__request req;
  int status = http_request(obj, &req, GSR__HEAD, obj->url.href);
  if (status != GSR_OK) return status;
  status = gsr__transport_run(obj->client->transport, &req);
  long code = req.resp.status;
  int have_len = req.resp.content_length >= 0;
  if (status == GSR_OK && have_len) {
    obj->st.size = (uint64_t)req.resp.content_length;
    fill_stat(obj, &req.resp); /* the final response's: its ETag pins */
  }
  int fallback = (status == GSR_OK && !have_len) || code == 405 || code == 501;
  if (status == GSR_OK || fallback) {
    int s2 = set_media_url(obj, req.url);
    if (s2 != GSR_OK) status = s2, fallback = 0;
  }
  gsr__request_cleanup(&req);
  if (fallback) status = probe_with_range(obj);
  if (status != GSR_OK) return status;
  if (obj->st.etag[0]) {
    size_t n = strlen(obj->st.etag) + 16;
    obj->pin = gsr__malloc(n);
    if (obj->pin == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    snprintf(obj->pin, n, "If-Match: %s", obj->st.etag);
  }
  return GSR_OK;
}

static int http_prepare(struct gsr__object *obj, struct gsr__request *req,
                        uint64_t off, uint64_t len, void *dst) {
  int status = http_request(obj, req, GSR__GET, obj->media_url);
  if (status != GSR_OK) return status;
  gsr__request_set_range(req, off, len, dst);
  if (obj->pin != NULL) status = gsr__request_add_header(req, obj->pin);
  return status;
}

static int http_check_headers(struct gsr__object *obj,
                              struct gsr__request *req) {
  /* A server that ignores If-Match still shows the new ETag. */
  if (obj->st.etag[0] && req->resp.etag[0] &&
      strcmp(obj->st.etag, req->resp.etag) != 0) {
    gsr__error_set(&req->err, GSR_ECHANGED,
                   "%s: ETag is now %s, file is pinned to %s", obj->display,
                   req->resp.etag, obj->st.etag);
    return GSR_ECHANGED;
  }
  return GSR_OK;
}

const struct gsr__backend_ops gsr__http_ops = {
    .name = "http",
    .open = http_open,
    .prepare = http_prepare,
    .check_headers = http_check_headers,
};
