/* gRPC's wire details that need no socket: message framing, grpc-status,
 * grpc-message, -bin trailers, the HTTP and RST_STREAM status maps.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/grpc.h"

long gsr__grpc_deframe(const uint8_t *p, size_t n, size_t max,
                       size_t *msg_len) {
  if (n < 5) return 0;
  if (p[0] != 0) return -1; /* compressed, or a flag we do not know */
  uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 8 | p[4];
  if (len > max) return -1;
  if (n - 5 < len) return 0;
  *msg_len = len;
  return 5 + (long)len;
}

void gsr__grpc_frame_prefix(uint8_t out[5], uint32_t len) {
  out[0] = 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

int gsr__grpc_parse_code(const char *v, size_t n) {
  int code = 0;
  if (n == 0 || n > 3) return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    code = code * 10 + (v[i] - '0');
  }
  return code;
}

int gsr__grpc_code_from_http(long s) {
  switch (s) {
  case 400:
    return GSR__GRPC_INTERNAL;
  case 401:
    return GSR__GRPC_UNAUTHENTICATED;
  case 403:
    return GSR__GRPC_PERMISSION_DENIED;
  case 404:
    return GSR__GRPC_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504:
    return GSR__GRPC_UNAVAILABLE;
  default:
    return GSR__GRPC_UNKNOWN;
  }
}

int gsr__grpc_code_from_rst(uint32_t e) {
  switch (e) {
  case 0x7: /* REFUSED_STREAM: never processed, safe to retry */
    return GSR__GRPC_UNAVAILABLE;
  case 0x8: /* CANCEL */
    return GSR__GRPC_CANCELLED;
  case 0xb: /* ENHANCE_YOUR_CALM */
    return GSR__GRPC_RESOURCE_EXHAUSTED;
  default:
    return GSR__GRPC_INTERNAL;
  }
}

void gsr__grpc_decode_message(const char *v, size_t n, char *out,
                              size_t out_n) {
  size_t o = 0;
  if (out_n == 0) return;
  for (size_t i = 0; i < n && o + 1 < out_n; i++) {
    unsigned char c = (unsigned char)v[i];
    int hi = c == '%' && i + 2 < n ? gsr__hex_value(v[i + 1]) : -1;
    int lo = hi >= 0 ? gsr__hex_value(v[i + 2]) : -1;
    if (lo >= 0) {
      c = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    /* a message never carries raw server bytes: printable ASCII only */
    out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  out[o] = '\0';
}

int gsr__grpc_decode_bin(const char *v, size_t n, uint8_t **out,
                         size_t *out_len) {
  const char *comma = memchr(v, ',', n);
  if (comma != NULL) n = (size_t)(comma - v);
  while (n > 0 && v[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  uint8_t *b = gsr__malloc(n / 4 * 3 + 3);
  if (b == NULL) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int d = gsr__base64_value(v[i]);
    if (d < 0) {
      gsr__free(b);
      return -1;
    }
    acc = acc << 6 | (uint32_t)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      b[o++] = (uint8_t)(acc >> bits);
    }
  }
  *out = b;
  *out_len = o;
  return 0;
}

const char *gsr__grpc_code_name(int code) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "UNKNOWN";
  return names[code];
}

int gsr__grpc_parse_endpoint(const char *url, char **host, int *port,
                             int *tls) {
  const char *p = url;
  *host = NULL;
  *tls = strncasecmp(p, "https://", 8) == 0;
  if (*tls)
    p += 8;
  else if (strncasecmp(p, "http://", 7) == 0)
    p += 7;
  size_t len = strcspn(p, "/");
  if (p[len] == '/' && p[len + 1] != '\0') len = 0; /* a path: refused */
  /* the port: after the last ':', unless inside [v6] brackets */
  const char *colon = NULL;
  for (const char *q = p; q < p + len; q++)
    if (*q == ':') colon = q;
  if (colon != NULL && memchr(colon, ']', (size_t)(p + len - colon)) != NULL)
    colon = NULL;
  size_t hl = colon ? (size_t)(colon - p) : len;
  char *end = NULL;
  long v = colon ? strtol(colon + 1, &end, 10) : (*tls ? 443 : 0);
  if (hl == 0 || hl > 255 || v < 1 || v > 65535 ||
      (colon && (end == colon + 1 || end != p + len)))
    return gsr__err(GSR_EINVAL,
                    "gRPC endpoint '%s' is not http://HOST:PORT or "
                    "https://HOST[:PORT]",
                    url);
  if ((*host = gsr__malloc(hl + 1)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  memcpy(*host, p, hl);
  (*host)[hl] = '\0';
  if (hl > 2 && (*host)[0] == '[' && (*host)[hl - 1] == ']') { /* [v6] */
    memmove(*host, *host + 1, hl - 2);
    (*host)[hl - 2] = '\0';
  }
  *port = (int)v;
  return GSR_OK;
}

void gsr__grpc_authority(const char *host, int port, char *out, size_t n) {
  snprintf(out, n, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
}
