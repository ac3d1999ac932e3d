/* CRC32C through ISA-L (vectorised; Debian's libisal), and the base64
 * decoding GCS uses for its crc32c and md5Hash fields.
 *
 * SPDX-License-Identifier: MIT
 */
#include <isa-l/crc.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

/* Standard CRC32C: start with crc = 0, feed pieces in order. ISA-L's
 * crc32_iscsi takes and returns the raw register, so invert on the way in
 * and out; its length is an int, so feed at most 1 GiB at a time. */
uint32_t gsr__crc32c(uint32_t crc, const void *buf, size_t len) {
  const unsigned char *p = buf;
  uint32_t reg = ~crc;
  while (len > 0) {
    size_t n = len > (1u << 30) ? (1u << 30) : len;
    reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
    p += n;
    len -= n;
  }
  return ~reg;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int gsr__base64_decode(const char *s, unsigned char *out, size_t n_out) {
  size_t len = strlen(s), o = 0;
  uint32_t acc = 0;
  int bits = 0;
  while (len > 0 && s[len - 1] == '=') len--;
  for (size_t i = 0; i < len; i++) {
    int v = b64_value(s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= n_out) return -1;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return o == n_out ? 0 : -1;
}
