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

static const struct {
  const char *suffix;
  uint64_t mult;
} units[] = {
    {"", 1},
    {"B", 1},
    {"K", 1ull << 10},
    {"KiB", 1ull << 10},
    {"KB", 1000ull},
    {"M", 1ull << 20},
    {"MiB", 1ull << 20},
    {"MB", 1000000ull},
    {"G", 1ull << 30},
    {"GiB", 1ull << 30},
    {"GB", 1000000000ull},
    {"T", 1ull << 40},
    {"TiB", 1ull << 40},
    {"TB", 1000000000000ull},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

/* The reference: returns 1 and *out, or 0 for invalid. */
static int reference(const char *s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++)
    if (__builtin_mul_overflow(v, 10, &v) ||
        __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
      return 0;
  if (i == 0) return 0;
  for (size_t u = 0; u < N_UNITS; u++)
    if (strcasecmp(s + i, units[u].suffix) == 0)
      return !__builtin_mul_overflow(v, units[u].mult, out);
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
    if (got % units[u].mult != 0) continue;
    char again[64];
    uint64_t back = 0;
    snprintf(again, sizeof(again), "%" PRIu64 "%s", got / units[u].mult,
             units[u].suffix);
    CHECK(gsr_parse_size(again, &back) == GSR_OK && back == got);
  }
  free(text);
  return 0;
}
