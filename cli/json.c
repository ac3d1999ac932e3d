/* JSON string output for `gsread stat --json`.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>

#include "cli.h"

/* Length of the well-formed UTF-8 sequence starting at s, or 0 if the
 * bytes there are not UTF-8 (stray continuation byte, overlong form,
 * surrogate, beyond U+10FFFF, cut short by the terminating NUL). */
static size_t utf8_len(const unsigned char *s) {
  size_t n;
  uint32_t cp, min;

  if (s[0] < 0x80) return 1;
  if ((s[0] & 0xe0) == 0xc0) {
    n = 2, cp = s[0] & 0x1f, min = 0x80;
  } else if ((s[0] & 0xf0) == 0xe0) {
    n = 3, cp = s[0] & 0x0f, min = 0x800;
  } else if ((s[0] & 0xf8) == 0xf0) {
    n = 4, cp = s[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/* Writes s as a JSON string literal. Quotes, backslashes and control
 * characters are escaped; UTF-8 passes through. Object names and paths may
 * hold bytes that are not UTF-8, which JSON cannot carry: each such byte
 * becomes U+FFFD, so the output always parses. */
void cli_json_string(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  fputc('"', out);
  while (*p) {
    size_t n = utf8_len(p);

    if (n == 0) {
      fputs("\\ufffd", out);
      p++;
      continue;
    }
    switch (*p) {
    case '"':
      fputs("\\\"", out);
      break;
    case '\\':
      fputs("\\\\", out);
      break;
    case '\b':
      fputs("\\b", out);
      break;
    case '\f':
      fputs("\\f", out);
      break;
    case '\n':
      fputs("\\n", out);
      break;
    case '\r':
      fputs("\\r", out);
      break;
    case '\t':
      fputs("\\t", out);
      break;
    default:
      if (*p < 0x20)
        fprintf(out, "\\u%04x", *p);
      else
        fwrite(p, 1, n, out);
    }
    p += n;
  }
  fputc('"', out);
}
