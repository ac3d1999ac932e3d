/* Parsing byte sizes ("64K", "1MiB", "5MB"), plain unsigned numbers and
 * hex digits.
 *
 * SPDX-License-Identifier: MIT
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/internal.h"

/* Parses exactly len decimal digits into *out. Returns 0, or -1 if empty,
 * not all digits, or above UINT64_MAX. */
int gsr__parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0) return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int gsr__hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct size_suffix {
  const char *name;
  uint64_t mult;
};

static const struct size_suffix suffixes[] = {
    {"", 1},
    {"b", 1},
    {"k", 1ull << 10},
    {"kib", 1ull << 10},
    {"kb", 1000ull},
    {"m", 1ull << 20},
    {"mib", 1ull << 20},
    {"mb", 1000000ull},
    {"g", 1ull << 30},
    {"gib", 1ull << 30},
    {"gb", 1000000000ull},
    {"t", 1ull << 40},
    {"tib", 1ull << 40},
    {"tb", 1000000000000ull},
};

int gsr_parse_size(const char *text, uint64_t *out) {
  uint64_t v;
  size_t ndigits = 0;
  if (text == NULL || out == NULL)
    return gsr__err(GSR_EINVAL, "size: NULL argument");
  while (isdigit((unsigned char)text[ndigits])) ndigits++;
  if (gsr__parse_u64(text, ndigits, &v) != 0)
    return gsr__err(GSR_EINVAL,
                    "bad size '%s': expected digits with an "
                    "optional suffix such as 64K, 1MiB or 5MB",
                    text);
  const char *suf = text + ndigits;
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    if (strcasecmp(suf, suffixes[i].name) != 0) continue;
    if (v > UINT64_MAX / suffixes[i].mult)
      return gsr__err(GSR_EINVAL, "size '%s' is too large", text);
    *out = v * suffixes[i].mult;
    return GSR_OK;
  }
  return gsr__err(GSR_EINVAL,
                  "bad size suffix in '%s' (use K, KiB, KB, M, "
                  "MiB, MB, G, GiB, GB, T, TiB, TB or none)",
                  text);
}
