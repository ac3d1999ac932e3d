/* --trace files: a recorded access pattern to replay, one read per line.
 *
 * Format: "OFFSET LENGTH", two decimal byte counts separated by spaces or
 * tabs. Blank lines and lines whose first non-blank character is '#' are
 * ignored; a trailing '\r' (a file written on Windows) is too. Anything
 * else is an error that names the line, before any byte is read: a replay
 * that stops halfway, after writing part of its output, would be worse.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* A decimal number at *p (digits only: no sign, no suffix) that is at
 * most max. Advances *p past it. Returns 0 if there is none or it is too
 * large. */
static int take_number(const char **p, const char *end, uint64_t max,
                       uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;

  if (s == end || *s < '0' || *s > '9') return 0;
  for (; s < end && *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');

    if (v > (max - d) / 10) return 0;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return 1;
}

static const char *skip_blanks(const char *p, const char *end) {
  while (p < end && is_blank(*p)) p++;
  return p;
}

/* Parses line[0..len). Returns 1 with *r set, 0 for a line to skip, -1
 * if it is malformed. len counts every byte, so a NUL inside the line is
 * junk rather than a silent end. */
static int parse_line(const char *line, size_t len, struct cli_range *r) {
  const char *end = line + len;
  const char *p;

  while (end > line && (end[-1] == '\n' || end[-1] == '\r')) end--;
  p = skip_blanks(line, end);
  if (p == end || *p == '#') return 0;
  /* gsr_seek takes an int64_t offset. */
  if (!take_number(&p, end, INT64_MAX, &r->offset)) return -1;
  if (p == end || !is_blank(*p)) return -1;
  p = skip_blanks(p, end);
  if (!take_number(&p, end, UINT64_MAX, &r->length)) return -1;
  return skip_blanks(p, end) == end ? 1 : -1;
}

/* Appends r to t, growing the array by doubling. Returns 0 or ENOMEM. */
static int push_range(struct cli_trace *t, size_t *cap,
                      const struct cli_range *r) {
  if (t->n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 256;
    struct cli_range *grown = realloc(t->ranges, ncap * sizeof *grown);

    if (!grown) return ENOMEM;
    t->ranges = grown;
    *cap = ncap;
  }
  t->ranges[t->n++] = *r;
  return 0;
}

/* A trace that was named right but cannot be read (memory, disk) is a
 * failure of the run, exit 1, unlike a malformed one. */
static int io_failure(int err, const char *what, const char *path) {
  cli_fail_errno(err, "%s %s", what, path);
  return CLI_EXIT_FAIL;
}

/* The longest line read: an "OFFSET LENGTH" line is under 45 bytes; a
 * file without newlines (/dev/zero) must not grow a line without end. */
#define LINE_MAX_BYTES 4096

/* Reads one line (its newline kept) into buf (LINE_MAX_BYTES): its length,
 * 0 at the end of f, or -1 if it is longer than buf. */
static long read_line(FILE *f, char *buf) {
  long len = 0;
  int ch;

  while ((ch = getc_unlocked(f)) != EOF) {
    if (len == LINE_MAX_BYTES) return -1;
    buf[len++] = (char)ch;
    if (ch == '\n') break;
  }
  return len;
}

/* Reads every line of f into *t. Returns CLI_CONTINUE or an exit status
 * (the problem already reported). */
static int read_lines(const char *cmd, const char *path, FILE *f,
                      struct cli_trace *t) {
  char line[LINE_MAX_BYTES];
  size_t cap = 0;
  unsigned long lineno = 0;
  long len;
  int rc = CLI_CONTINUE;

  while (rc == CLI_CONTINUE && (len = read_line(f, line)) != 0) {
    struct cli_range r;
    int kind = len < 0 ? -2 : parse_line(line, (size_t)len, &r);

    lineno++;
    if (kind == -2)
      rc = cli_usage_error(cmd, "%s:%lu: line longer than %d bytes", path,
                           lineno, LINE_MAX_BYTES);
    else if (kind < 0)
      rc = cli_usage_error(cmd,
                           "%s:%lu: malformed trace line (want 'OFFSET "
                           "LENGTH' in decimal bytes)",
                           path, lineno);
    else if (kind > 0 && push_range(t, &cap, &r) != 0)
      rc = io_failure(ENOMEM, "cannot load trace", path);
  }
  if (rc == CLI_CONTINUE && ferror(f))
    rc = io_failure(errno, "cannot read trace", path);
  return rc;
}

/* Loads the trace at path. Returns CLI_CONTINUE with *out filled (free it
 * with cli_trace_free), or an exit status: a trace that cannot be opened
 * or has a malformed line is a bad command-line value, so exit 2. */
int cli_trace_load(const char *cmd, const char *path, struct cli_trace *out) {
  FILE *f = fopen(path, "r");
  int rc;

  memset(out, 0, sizeof *out);
  if (!f)
    return cli_usage_error(cmd, "cannot open trace %s: %s", path,
                           strerror(errno));
  rc = read_lines(cmd, path, f, out);
  fclose(f);
  if (rc != CLI_CONTINUE) cli_trace_free(out);
  return rc;
}

void cli_trace_free(struct cli_trace *t) {
  free(t->ranges);
  t->ranges = NULL;
  t->n = 0;
}

/* How many bytes of r lie inside an object of the given size: a range
 * that runs past the end stops there, one that starts past it is empty
 * (as with cat --offset/--length). */
uint64_t cli_range_clamp(const struct cli_range *r, uint64_t size) {
  if (r->offset >= size) return 0;
  return r->length < size - r->offset ? r->length : size - r->offset;
}
