/* CRC32C through ISA-L (vectorised; Debian's libisal), and the base64
 * decoding GCS uses for its crc32c and md5Hash fields.
 *
 * SPDX-License-Identifier: MIT
 */
#include <isa-l/crc.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "base/internal.h"

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

void gsr__crc32c_strided(uint32_t *crc, uint32_t *marks, size_t at,
                         const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) {
    size_t k = GSR__MIN(n, GSR__CRC_STRIDE - at % GSR__CRC_STRIDE);
    *crc = gsr__crc32c(*crc, b, k);
    at += k;
    b += k;
    n -= k;
    if (at % GSR__CRC_STRIDE == 0) marks[at / GSR__CRC_STRIDE - 1] = *crc;
  }
}

int gsr__base64_value(char c) {
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
    int v = gsr__base64_value(s[i]);
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

/* ---- Combining CRCs of adjacent pieces (the method of zlib 1.2.12+).
 * A CRC is linear over GF(2): appending n zero bytes to a message
 * multiplies its CRC register by x^(8n) modulo the polynomial. That power
 * is a product of the precomputed powers x^(2^k), one per set bit of 8n,
 * so the cost is O(log n) 32-bit polynomial products, independent of the
 * data: about 1 us, where squaring 32x32 bit matrices took tens (it ran
 * for every piece of every read that checks a whole object's CRC32C).
 * download.c uses it to check parts that finish out of order without a
 * second pass over the file; buf.c to take ranges from checkpoints. */

#define CRC32C_POLY_REFLECTED 0x82f63b78u

/* a(x) b(x) modulo the polynomial, both reflected (x^0 is the top bit). */
static uint32_t multmodp(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = b & 1 ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
  }
  return p;
}

/* x2n[k] = x^(2^k) modulo the polynomial, for every k a 64-bit byte count
 * (times 8) can need; filled once. */
#define X2N_LEN 67
static uint32_t x2n[X2N_LEN];
static pthread_once_t x2n_once = PTHREAD_ONCE_INIT;

static void x2n_fill(void) {
  uint32_t p = 1u << 30; /* x^1 */
  for (int k = 0; k < X2N_LEN; k++) {
    x2n[k] = p;
    p = multmodp(p, p);
  }
}

/* x^(n 2^k) modulo the polynomial. */
static uint32_t x2nmodp(uint64_t n, unsigned k) {
  uint32_t p = 1u << 31; /* x^0 */
  for (; n != 0; n >>= 1, k++)
    if (n & 1) p = multmodp(x2n[k], p);
  return p;
}

uint32_t gsr__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2) {
  if (len2 == 0) return crc1;
  pthread_once(&x2n_once, x2n_fill);
  /* The pre- and post-inversion of the standard CRC cancel out here. */
  return multmodp(x2nmodp(len2, 3), crc1) ^ crc2;
}
