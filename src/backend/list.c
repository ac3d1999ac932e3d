/* The work of gsr_list (api/list.c): objects.list of the GCS JSON API,
 * page after page.
 *
 * GET {endpoint}/storage/v1/b/{bucket}/o?prefix=P[&delimiter=/]
 *     &maxResults=1000[&pageToken=T]
 * Each page has "items" (objects) and "prefixes" (the "directories" the
 * delimiter folded), each sorted by name; we merge the two so the caller
 * sees one sorted list, as `ls` shows it. The page token is opaque: sent
 * back exactly as received.
 *
 * SPDX-License-Identifier: MIT
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"

#define PAGE_SIZE 1000 /* GCS's default and maximum */
/* A page of 1000 items is about 1 MiB; json-c holds ~30x a page while it
 * parses, so a larger one (a hostile server's) is refused, not parsed. */
#define PAGE_BODY_MAX (4u << 20)

/* "gs://BUCKET[/PREFIX]" -> bucket and prefix (owned). */
static int parse_list_url(const char *url, char **bucket, char **prefix) {
  if (strncmp(url, "gs://", 5) != 0)
    return gsr__err(GSR_EINVAL,
                    "cannot list '%s': only gs://BUCKET[/PREFIX] "
                    "URLs can be listed",
                    url);
  const char *b = url + 5, *slash = strchr(b, '/');
  size_t blen = slash ? (size_t)(slash - b) : strlen(b);
  *bucket = gsr__strndup(b, blen);
  *prefix = gsr__strdup(slash ? slash + 1 : "");
  if (*bucket == NULL || *prefix == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  if (!gsr__bucket_name_valid(*bucket))
    return gsr__err(GSR_EINVAL, "bad URL '%s': invalid bucket name '%s'", url,
                    *bucket);
  return GSR_OK;
}

static char *page_url(gsr_client *c, const char *bucket, const char *prefix,
                      int recursive, const char *token) {
  char *b = gsr__percent_encode(bucket, strlen(bucket));
  char *p = gsr__percent_encode(prefix, strlen(prefix));
  char *t = token ? gsr__percent_encode(token, strlen(token)) : NULL;
  char *url = NULL;
  if (b != NULL && p != NULL && (token == NULL || t != NULL)) {
    const char *up = c->user_project; /* requester pays, already encoded */
    size_t n = strlen(c->endpoint) + strlen(b) + strlen(p) +
               (t ? strlen(t) : 0) + (up ? strlen(up) : 0) + 160;
    if ((url = gsr__malloc(n)) != NULL)
      snprintf(url, n, "%s/storage/v1/b/%s/o?prefix=%s%s&maxResults=%d%s%s%s%s",
               c->endpoint, b, p, recursive ? "" : "&delimiter=%2F", PAGE_SIZE,
               t ? "&pageToken=" : "", t ? t : "", up ? "&userProject=" : "",
               up ? up : "");
  }
  gsr__free(b);
  gsr__free(p);
  gsr__free(t);
  return url;
}

static const char *str_field(struct json_object *o, const char *key) {
  struct json_object *v;
  if (!json_object_object_get_ex(o, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static const char *str_or_empty(struct json_object *o, const char *key) {
  const char *v = str_field(o, key);
  return v != NULL ? v : "";
}

static int item_entry(struct json_object *it, gsr_list_entry *e) {
  uint64_t u;
  unsigned char c4[4];
  memset(e, 0, sizeof(*e));
  e->name = str_field(it, "name");
  if (e->name == NULL || gsr__gcs_u64(it, "size", &e->size) != 0) return -1;
  if (gsr__gcs_u64(it, "generation", &u) == 0 && u <= INT64_MAX)
    e->generation = (int64_t)u;
  e->updated = str_field(it, "updated");
  if (e->updated == NULL) e->updated = "";
  const char *crc = str_field(it, "crc32c");
  if (crc != NULL && gsr__base64_decode(crc, c4, 4) == 0) {
    e->has_crc32c = 1;
    e->crc32c = (uint32_t)c4[0] << 24 | (uint32_t)c4[1] << 16 |
                (uint32_t)c4[2] << 8 | c4[3];
  }
  if (gsr__gcs_u64(it, "metageneration", &u) == 0 && u <= INT64_MAX)
    e->metageneration = (int64_t)u;
  e->etag = str_or_empty(it, "etag");
  e->md5_hash = str_or_empty(it, "md5Hash");
  e->content_type = str_or_empty(it, "contentType");
  e->content_encoding = str_or_empty(it, "contentEncoding");
  e->storage_class = str_or_empty(it, "storageClass");
  e->time_created = str_or_empty(it, "timeCreated");
  return 0;
}

/* Calls back for one page's entries in name order. */
static int emit_page(struct json_object *root, const char *where,
                     gsr_list_cb cb, void *arg) {
  struct json_object *items = NULL, *prefixes = NULL;
  json_object_object_get_ex(root, "items", &items);
  json_object_object_get_ex(root, "prefixes", &prefixes);
  if ((items && !json_object_is_type(items, json_type_array)) ||
      (prefixes && !json_object_is_type(prefixes, json_type_array)))
    return gsr__err(GSR_EPROTO,
                    "%s: \"items\" or \"prefixes\" is not an "
                    "array",
                    where);
  size_t ni = items ? json_object_array_length(items) : 0;
  size_t np = prefixes ? json_object_array_length(prefixes) : 0;
  size_t i = 0, p = 0;
  while (i < ni || p < np) {
    gsr_list_entry e;
    const char *pname = NULL;
    if (p < np) {
      struct json_object *v = json_object_array_get_idx(prefixes, p);
      if (!json_object_is_type(v, json_type_string))
        return gsr__err(GSR_EPROTO, "%s: a prefix is not a string", where);
      pname = json_object_get_string(v);
    }
    struct json_object *it = i < ni ? json_object_array_get_idx(items, i)
                                    : NULL;
    const char *iname = it ? str_field(it, "name") : NULL;
    if (it != NULL && iname == NULL)
      return gsr__err(GSR_EPROTO, "%s: an item has no name", where);
    if (pname != NULL && (iname == NULL || strcmp(pname, iname) < 0)) {
      memset(&e, 0, sizeof(e));
      e.name = pname;
      e.is_prefix = 1;
      e.updated = e.etag = e.md5_hash = e.content_type = "";
      e.content_encoding = e.storage_class = e.time_created = "";
      p++;
    } else {
      if (item_entry(it, &e) != 0) {
        char name[200]; /* the server's text: escaped */
        gsr__escape(name, sizeof(name), iname, strlen(iname));
        return gsr__err(GSR_EPROTO, "%s: item '%s' has no valid size", where,
                        name);
      }
      i++;
    }
    if (cb(arg, &e) != 0)
      return gsr__err(GSR_ECANCELED, "listing stopped by the callback");
  }
  return GSR_OK;
}

/* One page: fetch, parse, call back; *token becomes the next page's token
 * (NULL at the end). */
static int list_page(gsr_client *c, const char *bucket, const char *prefix,
                     int recursive, char **token, gsr_list_cb cb, void *arg) {
  struct gsr__request req;
  char *url = page_url(c, bucket, prefix, recursive, *token);
  int status;
  if (url == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  status = gsr__request_init(&req, GSR__GET, url);
  gsr__free(url);
  if (status != GSR_OK) return status;
  req.body_max = PAGE_BODY_MAX;
  req.tx_count[0] = &c->requests; /* each attempt sent, retries too */
  if ((status = gsr__gcs_authorize(c, &req, NULL)) == GSR_OK)
    status = gsr__transport_run(c->transport, &req);
  if (status == GSR_ENOENT)
    status = gsr__err(GSR_ENOENT, "gs://%s: no such bucket", bucket);
  if (status != GSR_OK) {
    gsr__request_cleanup(&req);
    return status;
  }
  struct json_tokener *tok = json_tokener_new();
  struct json_object *root = tok ? json_tokener_parse_ex(
                                       tok, req.body ? req.body : "",
                                       (int)req.body_len)
                                 : NULL;
  gsr__free(*token);
  *token = NULL;
  if (tok == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
  } else if (root == NULL || !json_object_is_type(root, json_type_object)) {
    status = gsr__err(GSR_EPROTO, "GET %s: the listing is not a JSON object",
                      req.url);
  } else {
    const char *next = str_field(root, "nextPageToken");
    if (next != NULL && *next != '\0' && (*token = gsr__strdup(next)) == NULL)
      status = gsr__err(GSR_ENOMEM, "out of memory");
    if (status == GSR_OK) status = emit_page(root, req.url, cb, arg);
  }
  json_object_put(root);
  if (tok) json_tokener_free(tok);
  gsr__request_cleanup(&req);
  return status;
}

/* The page tokens a listing was sent, as hashes: a server that sends one
 * again (the same token forever, or a cycle) would list without end. */
struct seen_tokens {
  uint64_t *h;
  size_t n, cap;
};

static uint64_t token_hash(const char *s) { /* FNV-1a */
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Records t; 1 if it was seen before, -1 out of memory, else 0. */
static int token_repeats(struct seen_tokens *st, const char *t) {
  uint64_t h = token_hash(t);
  for (size_t i = 0; i < st->n; i++)
    if (st->h[i] == h) return 1;
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    uint64_t *v = gsr__realloc(st->h, cap * sizeof(*v));
    if (v == NULL) return -1;
    st->h = v;
    st->cap = cap;
  }
  st->h[st->n++] = h;
  return 0;
}

int gsr__list(gsr_client *c, const char *url, int recursive, gsr_list_cb cb,
              void *arg) {
  char *bucket = NULL, *prefix = NULL, *token = NULL;
  struct seen_tokens seen = {0};
  int status = parse_list_url(url, &bucket, &prefix);
  while (status == GSR_OK) {
    status = list_page(c, bucket, prefix, recursive, &token, cb, arg);
    if (status != GSR_OK || token == NULL) break;
    int r = token_repeats(&seen, token);
    if (r < 0) status = gsr__err(GSR_ENOMEM, "out of memory");
    if (r > 0)
      status = gsr__err(GSR_EPROTO,
                        "%s: the server sent a page token again "
                        "after %zu pages (the listing would never end)",
                        url, seen.n + 1);
  }
  gsr__free(seen.h);
  gsr__free(token);
  gsr__free(bucket);
  gsr__free(prefix);
  return status;
}
