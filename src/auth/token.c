/* Token requests: one blocking exchange per call, on the calling thread,
 * with a curl easy handle of its own. The I/O thread's requests are GET/HEAD
 * only, and a token refresh is rare (hourly): keeping it out of the I/O
 * thread leaves that loop untouched. TLS verification stays on, with the
 * client's CA bundle.
 *
 * Messages name the URL and the endpoint's "error"/"error_description"
 * (OAuth's), escaped, and left out when they repeat a secret of the request;
 * never the form body, the assertion or the token.
 *
 * SPDX-License-Identifier: MIT
 */
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "transport/transport.h"

#define MAX_BODY (64 * 1024)

void gsr__token_clear(struct gsr__token *t) {
  if (t->access_token != NULL) {
    memset(t->access_token, 0, strlen(t->access_token));
    gsr__free(t->access_token);
  }
  t->access_token = NULL;
  t->expires_in = 0;
}

char *gsr__form_encode(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = gsr__malloc(strlen(s) * 3 + 1), *o = out;
  if (out == NULL) return NULL;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      *o++ = (char)c;
    } else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o = '\0';
  return out;
}

struct body {
  char *p;
  size_t len;
  int oom;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  struct body *b = arg;
  size_t len = size * n;
  if (b->oom || b->len + len > MAX_BODY) return 0; /* aborts the transfer */
  char *q = gsr__realloc(b->p, b->len + len + 1);
  if (q == NULL) {
    b->oom = 1;
    return 0;
  }
  memcpy(q + b->len, p, len);
  b->p = q;
  b->len += len;
  b->p[b->len] = '\0';
  return len;
}

static const char *jstr(struct json_object *o, const char *key) {
  struct json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

/* Copies s for a message, escaped (gsr__escape) and cut. */
static void clean(char *dst, size_t n, const char *s) {
  gsr__escape(dst, n, s ? s : "", s ? strlen(s) : 0);
}

/* 1 if text holds a piece of v[0..n): 12 bytes in a row of it (all of it if
 * shorter), so that an echo cut short or wrapped in words is caught. */
static int holds_piece(const char *text, const char *v, size_t n) {
  size_t w = n < 12 ? n : 12, tlen = strlen(text);
  for (size_t i = 0; w > 0 && i + w <= n; i++)
    if (memmem(text, tlen, v + i, w) != NULL) return 1;
  return 0;
}

/* 1 if text repeats a secret the form sent (client_secret, refresh_token,
 * assertion), as sent (form-encoded) or decoded: a token endpoint that
 * echoes its request must not put a credential in a message. */
static int echoes_secret(const char *text, const char *form) {
  static const char *const secret[] = {
      "client_secret=", "refresh_token=", "assertion="};
  int found = 0;
  for (const char *f = form; f != NULL && *f && !found;) {
    size_t flen = strcspn(f, "&");
    for (size_t k = 0; k < sizeof(secret) / sizeof(*secret) && !found; k++) {
      size_t klen = strlen(secret[k]);
      if (flen < klen || strncmp(f, secret[k], klen) != 0) continue;
      const char *v = f + klen;
      size_t vlen = flen - klen, d = 0;
      char *dec = gsr__malloc(vlen + 1);
      if (dec == NULL) return 1;          /* cannot tell: leave the text out */
      for (size_t i = 0; i < vlen; i++) { /* gsr__form_encode's %XX */
        unsigned x;
        if (v[i] == '%' && i + 2 < vlen && sscanf(v + i + 1, "%2x", &x) == 1) {
          dec[d++] = (char)x;
          i += 2;
        } else {
          dec[d++] = v[i];
        }
      }
      found = holds_piece(text, v, vlen) || holds_piece(text, dec, d);
      memset(dec, 0, d);
      gsr__free(dec);
    }
    f += flen + (f[flen] == '&');
  }
  return found;
}

int gsr__token_request(const struct gsr__http_opts *o, const char *url,
                       const char *form, const char *header, const char *what,
                       struct gsr__token *out) {
  struct body b = {0};
  struct curl_slist *hdrs = NULL;
  struct json_object *root = NULL;
  char err[CURL_ERROR_SIZE] = "";
  int status = GSR_OK;
  long http = 0;
  memset(out, 0, sizeof(*out));
  CURL *e = curl_easy_init();
  if (e == NULL) return gsr__err(GSR_ENOMEM, "%s: curl_easy_init failed", what);
  if (header != NULL && (hdrs = curl_slist_append(NULL, header)) == NULL) {
    curl_easy_cleanup(e);
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  gsr__curl_own_sockets(e);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  /* A token endpoint or metadata server has no business redirecting; a
   * redirect would carry the assertion somewhere else. */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  if (o->ca_bundle) curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_bundle);
  if (o->user_agent) curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
  if (hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  if (form != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
  }
  /* curl_easy_perform makes a multi handle and a name lookup of its own,
   * with descriptors we cannot number: see gsr__std_hold. */
  gsr__std_hold();
  CURLcode rc = curl_easy_perform(e);
  gsr__std_release();
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
  if (b.oom) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto done;
  }
  if (rc != CURLE_OK) {
    status = gsr__err(gsr__status_for_curl(rc), "%s: %s %s: %s", what,
                      form ? "POST" : "GET", url,
                      err[0] ? err : curl_easy_strerror(rc));
    goto done;
  }
  root = b.p ? json_tokener_parse(b.p) : NULL;
  if (http != 200) {
    char e1[96], e2[256];
    clean(e1, sizeof(e1), jstr(root, "error"));
    clean(e2, sizeof(e2), jstr(root, "error_description"));
    const char *raw1 = jstr(root, "error"),
               *raw2 = jstr(root, "error_description");
    if ((raw1 && echoes_secret(raw1, form)) ||
        (raw2 && echoes_secret(raw2, form))) {
      e1[0] = '\0';
      snprintf(e2, sizeof(e2),
               "(its error text is left out: it repeats "
               "the request's credentials)");
    }
    status = gsr__err(GSR_EAUTH, "%s: %s %s: HTTP %ld%s%s%s%s", what,
                      form ? "POST" : "GET", url, http, e1[0] ? " " : "", e1,
                      e2[0] ? ": " : "", e2);
    goto done;
  }
  const char *tok = jstr(root, "access_token");
  if (tok == NULL || tok[0] == '\0' || strpbrk(tok, "\r\n") != NULL) {
    status = gsr__err(GSR_EPROTO,
                      "%s: %s %s: the answer has no valid "
                      "\"access_token\"",
                      what, form ? "POST" : "GET", url);
    goto done;
  }
  struct json_object *v;
  if (json_object_object_get_ex(root, "expires_in", &v))
    out->expires_in = (long)json_object_get_int64(v); /* number or string */
  if ((out->access_token = gsr__strdup(tok)) == NULL)
    status = gsr__err(GSR_ENOMEM, "out of memory");
done:
  json_object_put(root);
  if (b.p) {
    memset(b.p, 0, b.len); /* held the token */
    gsr__free(b.p);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(e);
  return status;
}
