/* http(s):// URLs: any server that supports Range. Open is one HEAD (size,
 * validators); data requests carry a precondition so that a replaced
 * object fails with 412 instead of mixing versions: If-Match with a strong
 * ETag, else If-Unmodified-Since with the Last-Modified date; each
 * response's own validator is compared too, for servers that ignore the
 * precondition. Without either (a weak ETag pins no bytes: RFC 9110 8.8.1)
 * nothing tells two versions apart, so only one request may read: a read
 * of the whole object, never resumed. Redirects are followed
 * (max_redirects) by the transport; the open's HEAD resolves them once,
 * and data requests go straight to the URL it ended at, pinned to that
 * URL's validator.
 *
 * SPDX-License-Identifier: MIT
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"

static void fill_stat(struct gsr__object *obj, const struct gsr__response *r) {
  gsr_stat *st = &obj->st;
  /* Whole or "": the pin keeps the whole ETag (pin_version). */
  gsr__copy_whole(st->etag, sizeof(st->etag), r->etag);
  gsr__copy_whole(st->content_type, sizeof(st->content_type), r->content_type);
  if (r->last_modified[0]) {
    time_t t = curl_getdate(r->last_modified, NULL);
    if (t > 0) {
      st->mtime = (int64_t)t;
      gsr__utc_format(st->mtime, st->updated, sizeof(st->updated));
    }
  }
}

/* The header that pins the version r describes (an open's response):
 * "If-Match: ETAG" for a strong ETag, else "If-Unmodified-Since: DATE"
 * for a Last-Modified date, else none; *at gets where the validator's
 * value starts in it. NULL with *at 0 for none, or when out of memory
 * (*oom set). */
static char *pin_header(const struct gsr__response *r, size_t *at, int *oom) {
  const char *name = NULL, *value = NULL;
  *at = 0;
  *oom = 0;
  if (r->etag[0] == '"') /* "W/..." is weak, anything else malformed */
    name = "If-Match: ", value = r->etag;
  else if (r->last_modified[0])
    name = "If-Unmodified-Since: ", value = r->last_modified;
  if (name == NULL) return NULL;
  size_t n = strlen(name) + strlen(value) + 1;
  char *h = gsr__malloc(n);
  if (h == NULL) {
    *oom = 1;
    return NULL;
  }
  snprintf(h, n, "%s%s", name, value);
  *at = strlen(name);
  return h;
}

static int pin_version(struct gsr__object *obj, const struct gsr__response *r) {
  int oom;
  obj->pin = pin_header(r, &obj->pin_at, &oom);
  return oom ? gsr__err(GSR_ENOMEM, "out of memory") : GSR_OK;
}

/* 1 if the pin is an ETag (If-Match), 0 if a date. */
static int pinned_by_etag(const struct gsr__object *obj) {
  return strncmp(obj->pin, "If-Match:", 9) == 0;
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
  if (status == GSR_OK) status = pin_version(obj, &req.resp);
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
  if (status == GSR_OK && !fallback) status = pin_version(obj, &req.resp);
  gsr__request_cleanup(&req);
  if (fallback) status = probe_with_range(obj);
  return status;
}

static int http_prepare(struct gsr__object *obj, struct gsr__request *req,
                        uint64_t off, uint64_t len, void *dst) {
  if (obj->pin == NULL && (off != 0 || len != obj->st.size))
    return gsr__err(GSR_EPROTO,
                    "%s: the server sends neither a strong ETag nor "
                    "Last-Modified, so nothing tells two versions apart: "
                    "only a read of the whole object in one request is "
                    "safe, not bytes %llu-%llu of %llu",
                    obj->display, (unsigned long long)off,
                    (unsigned long long)(off + len - 1),
                    (unsigned long long)obj->st.size);
  int status = http_request(obj, req, GSR__GET, obj->media_url);
  if (status != GSR_OK) return status;
  gsr__request_set_range(req, off, len, dst);
  /* Unpinned: a resumed body would be another request, maybe another
   * version. */
  req->no_resume = obj->pin == NULL;
  if (obj->pin != NULL) status = gsr__request_add_header(req, obj->pin);
  return status;
}

static int http_check_headers(struct gsr__object *obj,
                              struct gsr__request *req) {
  /* A server that ignores the precondition still shows the new
   * validator. */
  if (obj->pin == NULL) return GSR_OK;
  const char *now = pinned_by_etag(obj) ? req->resp.etag
                                        : req->resp.last_modified;
  const char *pinned = obj->pin + obj->pin_at;
  if (now[0] && strcmp(now, pinned) != 0) {
    char a[80], b[80];
    gsr_shorten_middle(a, sizeof(a), now);
    gsr_shorten_middle(b, sizeof(b), pinned);
    gsr__error_set(&req->err, GSR_ECHANGED,
                   "%s: %s is now %s, file is pinned to %s", obj->display,
                   pinned_by_etag(obj) ? "ETag" : "Last-Modified", a, b);
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
