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

/* ---- Combining CRCs of adjacent pieces (zlib's crc32_combine method).
 * A CRC is linear over GF(2): appending len2 zero bytes to a message
 * multiplies its CRC register by a fixed 32x32 bit matrix, the operator
 * for one zero bit raised to the power 8 x len2. The power is built by
 * repeated squaring, so the cost is O(log len2) small matrix products and
 * independent of the data. download.c uses it to check parts that finish
 * out of order without a second pass over the file. */

#define CRC32C_POLY_REFLECTED 0x82f63b78u

/* mat x vec, mat given as 32 columns (one per input bit, LSB first). */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
  uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, mat++)
    if (vec & 1) sum ^= *mat;
  return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
  for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

uint32_t gsr__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2) {
  uint32_t even[32], odd[32], row = 1;
  if (len2 == 0) return crc1;
  /* odd = the operator for one zero bit, in the reflected form. */
  odd[0] = CRC32C_POLY_REFLECTED;
  for (int n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_square(even, odd); /* two zero bits */
  gf2_square(odd, even); /* four zero bits */
  /* Apply len2 zero bytes to crc1: the first squaring below gives the
   * operator for one zero byte, each further one doubles it. The pre- and
   * post-inversion of the standard CRC cancel out in the final XOR. */
  do {
    gf2_square(even, odd);
    if (len2 & 1) crc1 = gf2_times(even, crc1);
    len2 >>= 1;
    if (len2 == 0) break;
    gf2_square(odd, even);
    if (len2 & 1) crc1 = gf2_times(odd, crc1);
    len2 >>= 1;
  } while (len2 != 0);
  return crc1 ^ crc2;
}
