/* Error messages of the gsread tool.
 *
 * Every failure is reported as ONE line on stderr, "gsread: WHAT: WHY", so
 * scripts can show it or grep it. URLs, object names and server texts may
 * hold any byte, including newlines, so they are escaped on the way out.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Writes s with control characters as \xNN and a backslash as \\: a
 * newline or an escape sequence in an object name must not break the
 * one-line format or drive the terminal, and a name that holds "\x0a"
 * itself must not pass for one that holds a newline. The control
 * characters are C0 (bytes below 0x20), DEL, and C1 (U+0080-U+009F, UTF-8
 * c2 80 to c2 9f: c2 9b is a CSI to a UTF-8 terminal); a byte that is not
 * part of well-formed UTF-8 is escaped too (a lone 0x9b is CSI to an
 * 8-bit one). Other UTF-8 passes through, so names stay readable. The one
 * escaping of names the tool has (stat, ls, the mount's log, messages). */
void cli_put_escaped(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  while (*p) {
    size_t n = cli_utf8_len(p);
    int c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;

    if (n == 0 || c1 || *p < 0x20 || *p == 0x7f) {
      n = n ? n : 1;
      for (size_t i = 0; i < n; i++) fprintf(out, "\\x%02x", p[i]);
    } else if (*p == '\\') {
      fputs("\\\\", out);
    } else {
      fwrite(p, 1, n, out);
    }
    p += n;
  }
}

/* Prints "gsread: <fmt...>: <detail>" as one line. */
static void vreport(const char *detail, const char *fmt, va_list ap) {
  char what[1024];
  va_list again;
  int len;

  /* A URL or path too long for the line loses its middle, as in the
   * library's messages (gsr_shorten_middle): what follows it stays. */
  va_copy(again, ap);
  len = vsnprintf(what, sizeof what, fmt, ap);
  if (len > 0 && (size_t)len >= sizeof what) {
    char *full = malloc((size_t)len + 1);

    if (full) { /* else it stays cut at the end */
      vsnprintf(full, (size_t)len + 1, fmt, again);
      gsr_shorten_middle(what, sizeof what, full);
      free(full);
    }
  }
  va_end(again);
  fputs("gsread: ", stderr);
  cli_put_escaped(stderr, what);
  if (detail && *detail) {
    fputs(": ", stderr);
    cli_put_escaped(stderr, detail);
  }
  fputc('\n', stderr);
}

/* The second line of every usage error; returns the usage exit status. */
int cli_usage_hint(const char *cmd) {
  if (cmd)
    fprintf(stderr, "Try 'gsread %s --help'.\n", cmd);
  else
    fputs("Try 'gsread --help'.\n", stderr);
  return CLI_EXIT_USAGE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vreport(NULL, fmt, ap);
  va_end(ap);
  return cli_usage_hint(cmd);
}

/* The library's message names what failed in detail (URL, HTTP status,
 * server text); it must be read before the next gsread call replaces it. */
void cli_fail_gsr(int64_t status, const char *fmt, ...) {
  const char *detail = gsr_errmsg();
  va_list ap;

  if (!detail || !*detail) detail = gsr_strerror((int)status);
  va_start(ap, fmt);
  vreport(detail, fmt, ap);
  va_end(ap);
}

void cli_fail_errno(int err, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vreport(strerror(err), fmt, ap);
  va_end(ap);
}

void cli_fail_text(const char *detail, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vreport(detail, fmt, ap);
  va_end(ap);
}
