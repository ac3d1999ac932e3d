/* JSON string output for `gsread stat --json`, and the UTF-8 decoding it
 * shares with the escaping of names (report.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>

#include "cli.h"

size_t cli_utf8_len(const unsigned char *s) {
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

/* The characters JSON escapes by a letter (or themselves). */
static const char *const short_escape[] = {
    ['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
    ['\n'] = "\\n", ['\r'] = "\\r",  ['\t'] = "\\t",
};

/* Writes s as a JSON string literal. Quotes, backslashes and control
 * characters (C1 too, which a terminal would obey) are escaped; UTF-8 passes
 * through. Object names and paths may hold bytes that are not UTF-8, which JSON
 * cannot carry: each such byte becomes U+FFFD, so the output always parses. */
void cli_json_string(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  fputc('"', out);
  while (*p) {
    size_t n = cli_utf8_len(p);

    if (n == 0) {
      fputs("\\ufffd", out);
      p++;
      continue;
    }
    if (*p < sizeof short_escape / sizeof short_escape[0] && short_escape[*p])
      fputs(short_escape[*p], out);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) /* C1: U+0080-9F */
      fprintf(out, "\\u%04x", p[1]);
    else
      fwrite(p, 1, n, out);
    p += n;
  }
  fputc('"', out);
}
