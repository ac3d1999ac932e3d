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

/* Writes s with control bytes as \xNN and a backslash as \\: a newline
 * or an escape sequence in an object name must not break the one-line
 * format or drive the terminal, and a name that holds "\x0a" itself must
 * not pass for one that holds a newline. Bytes >= 0x80 pass through, so
 * UTF-8 names stay readable. The one escaping of names the tool has
 * (stat, ls, messages). */
void cli_put_escaped(FILE *out, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\x%02x", *p);
    else if (*p == '\\')
      fputs("\\\\", out);
    else
      fputc(*p, out);
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
