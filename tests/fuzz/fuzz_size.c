/* libFuzzer target: gsr_parse_size, checked against an independent
 * reference parser written from the header's contract (digits, then an
 * optional case-insensitive suffix; overflow is an error). On success the
 * value must also re-format consistently: its decimal form, and its form
 * in every unit that divides it exactly, parse back to the same number.
 * On failure the output is left alone.
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gsread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

/* The units, as the header states them: bytes (no suffix, or B), then
 * for the i-th of K, M, G, T the powers of 1024 (X, XiB) and of 1000
 * (XB). Unit u's suffix goes to s; returns its multiplier. */
#define N_UNITS (2 + 4 * 3)
static uint64_t unit(size_t u, char s[4]) {
  static const char *const forms[3] = {"", "iB", "B"};
  if (u < 2) {
    strcpy(s, u ? "B" : "");
    return 1;
  }
  size_t i = (u - 2) / 3, form = (u - 2) % 3;
  s[0] = "KMGT"[i];
  strcpy(s + 1, forms[form]);
  uint64_t mult = 1;
  for (size_t k = 0; k <= i; k++) mult *= form == 2 ? 1000 : 1024;
  return mult;
}

/* The reference: returns 1 and *out, or 0 for invalid. */
static int reference(const char *s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++)
    if (__builtin_mul_overflow(v, 10, &v) ||
        __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
      return 0;
  if (i == 0) return 0;
  for (size_t u = 0; u < N_UNITS; u++) {
    char suffix[4];
    uint64_t mult = unit(u, suffix);
    if (strcasecmp(s + i, suffix) == 0)
      return !__builtin_mul_overflow(v, mult, out);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  uint64_t got = 0x5A5A5A5A5A5A5A5Aull, want = 0;
  int ok = gsr_parse_size(text, &got) == GSR_OK;
  int ref = reference(text, &want);
  CHECK(ok == ref);
  if (!ok) {
    CHECK(got == 0x5A5A5A5A5A5A5A5Aull);
    free(text);
    return 0;
  }
  CHECK(got == want);
  for (size_t u = 0; u < N_UNITS; u++) {
    char suffix[4];
    uint64_t mult = unit(u, suffix);
    if (got % mult != 0) continue;
    char again[64];
    uint64_t back = 0;
    snprintf(again, sizeof(again), "%" PRIu64 "%s", got / mult, suffix);
    CHECK(gsr_parse_size(again, &back) == GSR_OK && back == got);
  }
  free(text);
  return 0;
}
