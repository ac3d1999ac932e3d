/* Redirects (http(s) only; see docs/RELIABILITY.md, "Redirects"): which
 * statuses are redirects, whether one hop may be taken, what a hop to
 * another origin may carry, and how a chain of hops reads in a message.
 * libcurl resolves the Location (CURLINFO_REDIRECT_URL) but never follows
 * it: each hop is decided here, so nothing gsread did not choose reaches
 * another host. Pure functions (curl_url only parses), unit-tested.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport/transport.h"

int gsr__redirect_status(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

static int is_http_url(const char *u) {
  return strncasecmp(u, "http://", 7) == 0 ||
         strncasecmp(u, "https://", 8) == 0;
}

/* Scheme, host and port of u into *h (a fresh CURLU); 0 or -1. */
static int origin_of(const char *u, CURLU **h, char **scheme, char **host,
                     char **port) {
  *h = curl_url();
  *scheme = *host = *port = NULL;
  if (*h == NULL || curl_url_set(*h, CURLUPART_URL, u, 0) != CURLUE_OK ||
      curl_url_get(*h, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
      curl_url_get(*h, CURLUPART_HOST, host, 0) != CURLUE_OK ||
      curl_url_get(*h, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    return -1;
  return 0;
}

int gsr__same_origin(const char *a, const char *b) {
  /* All NULL first: when a fails to parse, b's are never set, yet freed. */
  CURLU *ha = NULL, *hb = NULL;
  char *sa = NULL, *na = NULL, *pa = NULL, *sb = NULL, *nb = NULL, *pb = NULL;
  int ok = origin_of(a, &ha, &sa, &na, &pa) == 0 &&
           origin_of(b, &hb, &sb, &nb, &pb) == 0;
  int same = ok && strcasecmp(sa, sb) == 0 && strcasecmp(na, nb) == 0 &&
             strcmp(pa, pb) == 0;
  curl_free(sa), curl_free(na), curl_free(pa);
  curl_free(sb), curl_free(nb), curl_free(pb);
  curl_url_cleanup(ha);
  curl_url_cleanup(hb);
  return same; /* unparsable (or out of memory): treated as another one */
}

enum gsr__hop gsr__redirect_decide(const char *const *hops, int n,
                                   const char *to, int max, int *cross) {
  assert(n >= 1); /* the URL that answered the redirect, at least */
  *cross = 1;
  if (to == NULL || to[0] == '\0') return GSR__HOP_NO_LOCATION;
  if (max <= 0) return GSR__HOP_OFF;
  if (!is_http_url(to)) return GSR__HOP_SCHEME;
  for (int i = 0; i < n; i++)
    if (strcmp(hops[i], to) == 0) return GSR__HOP_LOOP;
  if (n - 1 >= max) return GSR__HOP_TOO_MANY; /* n URLs = n - 1 hops taken */
  *cross = !gsr__same_origin(hops[n - 1], to);
  return GSR__HOP_FOLLOW;
}

int gsr__redirect_keeps_header(const char *line) {
  /* An allowlist: what describes the request, never who asks. A token, a
   * cookie or an API key in any custom header stays with its origin. */
  static const char *const keep[] = {
      "If-Match:", "If-None-Match:", "If-Unmodified-Since:", "Accept:"};
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
    if (strncasecmp(line, keep[i], strlen(keep[i])) == 0) return 1;
  return 0;
}

char *gsr__url_strip_userinfo(const char *url) {
  CURLU *h = curl_url();
  char *u = NULL, *out = NULL;
  if (h != NULL && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_set(h, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
      curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_URL, &u, 0) == CURLUE_OK)
    out = gsr__strdup(u);
  curl_free(u);
  curl_url_cleanup(h);
  return out;
}

/* Appends the formatted text to out (at *used, capacity n), cut to fit. */
static void append(char *out, size_t n, size_t *used, const char *fmt, ...)
    GSR__PRINTF(4, 5);
static void append(char *out, size_t n, size_t *used, const char *fmt, ...) {
  va_list ap;
  if (*used + 1 >= n) return;
  va_start(ap, fmt);
  int k = vsnprintf(out + *used, n - *used, fmt, ap);
  va_end(ap);
  if (k > 0) *used = GSR__MIN(*used + (size_t)k, n - 1);
}

/* Appends s to out (at *used, capacity n), at most max bytes of it:
 * control bytes as \xNN, so a hostile Location cannot reach a terminal
 * raw, then shortened in the middle as every message is
 * (gsr_shorten_middle). */
static void put_short(char *out, size_t n, size_t *used, const char *s,
                      size_t max) {
  size_t len = strlen(s);
  char *esc = gsr__malloc(len * 4 + 1);
  if (esc == NULL) return; /* the message goes without this URL */
  gsr__escape(esc, len * 4 + 1, s, len);
  *used += gsr_shorten_middle(out + *used, GSR__MIN(max + 1, n - *used), esc);
  gsr__free(esc);
}

void gsr__hops_text(char *out, size_t n, const char *const *hops, int count) {
  size_t used = 0;
  if (n == 0) return;
  out[0] = '\0';
  /* Each URL gets an equal share of the room; past 7 only the first two
   * and the last two are named (a long chain is the same story). */
  int shown = count > 7 ? 5 : count;
  size_t share = n / (size_t)(shown > 0 ? shown : 1);
  share = share > 8 ? share - 8 : share;
  if (share < 24) share = 24;
  for (int i = 0; i < count && used + 8 < n; i++) {
    if (count > 7 && i == 2) {
      append(out, n, &used, " -> \xE2\x80\xA6 (%d more)", count - 4);
      i = count - 3;
      continue;
    }
    if (i > 0) append(out, n, &used, " -> ");
    if (used + 5 < n) put_short(out, n, &used, hops[i], share);
  }
}
