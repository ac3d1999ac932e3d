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

/* What a size's suffix multiplies by, matched in any case: none or "B",
 * bytes; a unit K, M, G or T alone or with "iB", binary (K = KiB = 2^10);
 * the unit with "B", decimal (KB = 10^3). 0 for any other suffix. */
static uint64_t suffix_mult(const char *suf) {
  static const char units[] = "kmgt";
  if (suf[0] == '\0' || strcasecmp(suf, "b") == 0) return 1;
  const char *u = strchr(units, tolower((unsigned char)suf[0]));
  if (u == NULL) return 0;
  unsigned power = (unsigned)(u - units) + 1;
  if (suf[1] == '\0' || strcasecmp(suf + 1, "ib") == 0)
    return (uint64_t)1 << (10 * power);
  if (strcasecmp(suf + 1, "b") != 0) return 0;
  uint64_t mult = 1;
  while (power-- > 0) mult *= 1000;
  return mult;
}

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
  uint64_t mult = suffix_mult(text + ndigits);
  if (mult == 0)
    return gsr__err(GSR_EINVAL,
                    "bad size suffix in '%s' (use K, KiB, KB, M, "
                    "MiB, MB, G, GiB, GB, T, TiB, TB or none)",
                    text);
  if (v > UINT64_MAX / mult)
    return gsr__err(GSR_EINVAL, "size '%s' is too large", text);
  *out = v * mult;
  return GSR_OK;
}
