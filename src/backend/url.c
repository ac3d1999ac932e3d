/* URL parsing for the three backends, GCS bucket-name rules and RFC 3986
 * percent-encoding of object names.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>
#include <strings.h>

#include "backend/backend.h"

static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

char *gsr__percent_encode(const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = gsr__malloc(len * 3 + 1), *o = out;
  if (out == NULL) return NULL;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
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

int gsr__percent_decode(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p != '%') {
      *o++ = *p;
      continue;
    }
    int hi = gsr__hex_value(p[1]), lo = hi < 0 ? -1 : gsr__hex_value(p[2]);
    if (hi < 0 || lo < 0) return -1;
    *o++ = (char)(hi * 16 + lo);
    p += 2;
  }
  *o = '\0';
  return 0;
}

static int is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int gsr__bucket_name_valid(const char *b) {
  size_t len = strlen(b), comp = 0;
  if (len < 3 || len > 222) return 0;
  if (!is_alnum_lower(b[0]) || !is_alnum_lower(b[len - 1])) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = b[i];
    if (c == '.') {
      if (comp == 0) return 0; /* empty component: ".." */
      comp = 0;
      continue;
    }
    if (!is_alnum_lower(c) && c != '-' && c != '_') return 0;
    if (++comp > 63) return 0;
  }
  return 1;
}

/* 1 if s[0..len) is well-formed UTF-8 without NUL, CR or LF. */
static int object_name_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned char c = *p;
    int extra = c < 0x80         ? 0
                : (c >> 5) == 6  ? 1
                : (c >> 4) == 14 ? 2
                : (c >> 3) == 30 ? 3
                                 : -1;
    if (c == 0 || c == '\r' || c == '\n' || extra < 0) return 0;
    if (end - p <= extra) return 0;
    for (int i = 1; i <= extra; i++)
      if ((p[i] & 0xC0) != 0x80) return 0;
    p += extra + 1;
  }
  return 1;
}

static int parse_gs(const char *rest, struct gsr__url *u, const char *text) {
  const char *slash = strchr(rest, '/');
  if (slash == NULL || slash[1] == '\0')
    return gsr__err(GSR_EINVAL, "bad URL '%s': expected gs://BUCKET/OBJECT",
                    text);
  u->bucket = gsr__strndup(rest, (size_t)(slash - rest));
  if (u->bucket == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  if (!gsr__bucket_name_valid(u->bucket))
    return gsr__err(GSR_EINVAL, "bad URL '%s': invalid bucket name '%s'", text,
                    u->bucket);
  size_t olen = strlen(slash + 1);
  if (olen > 1024 || !object_name_valid(slash + 1, olen))
    return gsr__err(GSR_EINVAL,
                    "bad URL '%s': object names are 1 to 1024 "
                    "bytes of UTF-8 without CR or LF",
                    text);
  u->object = gsr__strdup(slash + 1);
  if (u->object == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  u->scheme = GSR__SCHEME_GS;
  return GSR_OK;
}

static int parse_file(const char *rest, struct gsr__url *u, const char *text) {
  if (strncasecmp(rest, "localhost/", 10) == 0) rest += 9;
  if (rest[0] != '/')
    return gsr__err(GSR_EINVAL, "bad URL '%s': expected file:///PATH", text);
  u->path = gsr__strdup(rest);
  if (u->path == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  if (gsr__percent_decode(u->path) != 0 || u->path[0] == '\0')
    return gsr__err(GSR_EINVAL, "bad URL '%s': invalid %%-escape", text);
  u->scheme = GSR__SCHEME_FILE;
  return GSR_OK;
}

static int parse_any(const char *text, struct gsr__url *u) {
  const char *sep = strstr(text, "://");
  if (text[0] == '\0') return gsr__err(GSR_EINVAL, "empty URL");
  if (sep == NULL) { /* a plain local path */
    u->path = gsr__strdup(text);
    if (u->path == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    u->scheme = GSR__SCHEME_FILE;
    return GSR_OK;
  }
  size_t slen = (size_t)(sep - text);
  const char *rest = sep + 3;
  if (slen == 2 && strncasecmp(text, "gs", 2) == 0)
    return parse_gs(rest, u, text);
  if (slen == 4 && strncasecmp(text, "file", 4) == 0)
    return parse_file(rest, u, text);
  if ((slen == 4 && strncasecmp(text, "http", 4) == 0) ||
      (slen == 5 && strncasecmp(text, "https", 5) == 0)) {
    if (rest[0] == '\0' || rest[0] == '/')
      return gsr__err(GSR_EINVAL, "bad URL '%s': no host", text);
    if (strpbrk(text, " \r\n\t") != NULL)
      return gsr__err(GSR_EINVAL, "bad URL '%s': unescaped white space", text);
    u->href = gsr__strdup(text);
    if (u->href == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    u->scheme = GSR__SCHEME_HTTP;
    return GSR_OK;
  }
  return gsr__err(GSR_EINVAL,
                  "unsupported URL scheme in '%s' (use gs://, "
                  "http://, https://, file:// or a path)",
                  text);
}

int gsr__url_parse(const char *text, struct gsr__url *u) {
  memset(u, 0, sizeof(*u));
  if (text == NULL) return gsr__err(GSR_EINVAL, "URL is NULL");
  int status = parse_any(text, u);
  if (status != GSR_OK) gsr__url_cleanup(u);
  return status;
}

void gsr__url_cleanup(struct gsr__url *u) {
  gsr__free(u->bucket);
  gsr__free(u->object);
  gsr__free(u->href);
  gsr__free(u->path);
  memset(u, 0, sizeof(*u));
}
