/* Pure parsers for HTTP response headers: the status line, Content-Range,
 * and the few headers gsread acts on. No I/O, so they are unit-tested and
 * fuzzed on their own.
 *
 * SPDX-License-Identifier: MIT
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "transport/transport.h"

void gsr__response_reset(struct gsr__response *resp) {
  memset(resp, 0, sizeof(*resp));
  resp->content_length = -1;
  resp->goog_generation = -1;
  resp->retry_after_s = -1;
}

/* How many digits s[0..len) starts with. */
static size_t digits_len(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  return i;
}

int gsr__parse_content_range(const char *v, uint64_t *first, uint64_t *last,
                             uint64_t *total) {
  size_t n, len = strlen(v);
  const char *p = v, *end = v + len;
  if (len < 6 || strncasecmp(p, "bytes ", 6) != 0) return -1;
  p += 6;
  while (p < end && *p == ' ') p++;
  n = digits_len(p, (size_t)(end - p));
  if (gsr__parse_u64(p, n, first) != 0) return -1;
  p += n;
  if (p >= end || *p++ != '-') return -1;
  n = digits_len(p, (size_t)(end - p));
  if (gsr__parse_u64(p, n, last) != 0) return -1;
  p += n;
  if (p >= end || *p++ != '/') return -1;
  if (p < end && *p == '*') {
    *total = UINT64_MAX;
    p++;
  } else {
    n = digits_len(p, (size_t)(end - p));
    if (gsr__parse_u64(p, n, total) != 0) return -1;
    p += n;
    if (*last >= *total) return -1;
  }
  if (p != end || *first > *last) return -1;
  return 0;
}

/* Copies the trimmed value into dst whole, or leaves dst "" when it does
 * not fit: a cut ETag or date would be another one. */
static void copy_value(char *dst, size_t n, const char *v, size_t len) {
  size_t k = len < n ? len : 0;
  memcpy(dst, v, k);
  dst[k] = '\0';
}

static void parse_status_line(struct gsr__response *resp, const char *line,
                              size_t len) {
  const char *sp = memchr(line, ' ', len);
  uint64_t code;
  gsr__response_reset(resp);
  if (sp == NULL) return;
  sp++;
  size_t n = digits_len(sp, len - (size_t)(sp - line));
  /* RFC 9110: three digits, 100 to 599 ("026" is not a status). Anything
   * else leaves 0, which the transport treats as a bad response. */
  if (n == 3 && gsr__parse_u64(sp, 3, &code) == 0 && code >= 100 && code <= 599)
    resp->status = (long)code;
}

/* Parses a decimal value into *out if it is only digits; else leaves it. */
static void parse_number(const char *v, size_t len, int64_t *out) {
  uint64_t x;
  if (gsr__parse_u64(v, len, &x) == 0 && x <= INT64_MAX) *out = (int64_t)x;
}

static void parse_field(struct gsr__response *resp, const char *name,
                        size_t nlen, const char *v, size_t vlen) {
  char tmp[160];
#define IS(s) (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)
  if (IS("content-range")) {
    copy_value(tmp, sizeof(tmp), v, vlen);
    resp->has_content_range = gsr__parse_content_range(tmp, &resp->cr_first,
                                                       &resp->cr_last,
                                                       &resp->cr_total) == 0;
  } else if (IS("content-length")) {
    parse_number(v, vlen, &resp->content_length);
  } else if (IS("x-goog-generation")) {
    parse_number(v, vlen, &resp->goog_generation);
  } else if (IS("retry-after")) {
    int64_t s = -1;
    parse_number(v, vlen, &s);
    resp->retry_after_s = (long)s;
  } else if (IS("etag")) {
    copy_value(resp->etag, sizeof(resp->etag), v, vlen);
  } else if (IS("x-goog-hash")) {
    /* GCS may send several x-goog-hash lines; keep them comma-joined. */
    size_t used = strlen(resp->goog_hash);
    if (used > 0 && used + 1 + vlen < sizeof(resp->goog_hash))
      resp->goog_hash[used++] = ',';
    if (used == 0 || resp->goog_hash[used - 1] == ',')
      copy_value(resp->goog_hash + used, sizeof(resp->goog_hash) - used, v,
                 vlen);
  } else if (IS("content-type")) {
    copy_value(resp->content_type, sizeof(resp->content_type), v, vlen);
  } else if (IS("last-modified")) {
    copy_value(resp->last_modified, sizeof(resp->last_modified), v, vlen);
  }
#undef IS
}

int gsr__parse_header_line(struct gsr__response *resp, const char *line,
                           size_t len) {
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  if (len == 0) return 1;
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    parse_status_line(resp, line, len);
    return 0;
  }
  const char *colon = memchr(line, ':', len);
  if (colon == NULL) return 0;
  size_t nlen = (size_t)(colon - line);
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  parse_field(resp, line, nlen, v, (size_t)(end - v));
  return 0;
}
