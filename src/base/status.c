/* Status codes: names, descriptions, classification, and the per-thread
 * message that says what failed.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/client.h"
#include "base/internal.h"

static _Thread_local char thread_msg[1024];

/* Every status with its name and description: the one list in gsread.h,
 * which both lookups below read. */
struct status_text {
  int status;
  const char *name;
  const char *text;
};
#define XX(name, code, text) {GSR_##name, "GSR_" #name, text},
static const struct status_text statuses[] = {{GSR_OK, "GSR_OK", "success"},
                                              GSR_STATUS_MAP(XX)};
#undef XX

/* The entry of status, or NULL for a number that is no status. */
static const struct status_text *status_find(int status) {
  for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
    if (statuses[i].status == status) return &statuses[i];
  return NULL;
}

const char *gsr_strerror(int status) {
  const struct status_text *s = status_find(status);
  return s != NULL ? s->text : "unknown status";
}

const char *gsr_status_name(int status) {
  const struct status_text *s = status_find(status);
  return s != NULL ? s->name : "GSR_UNKNOWN";
}

int gsr_status_is_retryable(int status) {
  return status == GSR_ENETWORK || status == GSR_ETIMEDOUT;
}

const char *gsr_errmsg(void) { return thread_msg; }

const char *gsr_version(void) { return GSR_VERSION_STRING; }

const char *gsr__errno_text(int e) {
  static _Thread_local char buf[128];
  return strerror_r(e, buf, sizeof(buf)); /* the GNU one (_GNU_SOURCE) */
}

size_t gsr_shorten_middle(char *out, size_t n, const char *s) {
  static const char mark[] = "\xe2\x80\xa6"; /* U+2026 "…" in UTF-8 */
  const size_t mlen = sizeof(mark) - 1;
  size_t len = strlen(s);
  if (n == 0) return 0;
  if (len < n) {
    memcpy(out, s, len + 1);
    return len;
  }
  /* The end gets 3/4 of the room: a message's reason is at its end. */
  size_t room = n - 1 > mlen ? n - 1 - mlen : 0;
  size_t head = room / 4, from = len - (room - head);
  if (room == 0) { /* no room for the mark: cut at the end */
    head = n - 1;
    from = len;
  }
  /* Whole UTF-8 sequences only: no cut before a continuation byte. */
  while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80) head--;
  while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80) from++;
  memcpy(out, s, head);
  size_t k = head;
  if (room > 0) {
    memcpy(out + k, mark, mlen);
    k += mlen;
  }
  memcpy(out + k, s + from, len - from);
  k += len - from;
  out[k] = '\0';
  return k;
}

size_t gsr__escape(char *out, size_t n, const char *s, size_t len) {
  size_t k = 0;
  if (n == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    /* A C1 control in UTF-8 (U+0080-U+009F: c2 80-9f, CSI is c2 9b) acts
     * as an escape on some terminals: both bytes escaped. */
    int c1 = c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9f;
    if (c1) {
      if (k + 8 >= n) break;
      k += (size_t)snprintf(out + k, 9, "\\xc2\\x%02x", (unsigned char)s[++i]);
    } else if (c < 0x20 || c == 0x7f) {
      if (k + 4 >= n) break;
      k += (size_t)snprintf(out + k, 5, "\\x%02x", c);
    } else {
      if (k + 1 >= n) break;
      out[k++] = (char)c;
    }
  }
  out[k] = '\0';
  return k;
}

/* vsnprintf into out, except that a message too long for it loses its
 * middle (an echoed URL or path), not its end (the reason). */
static void format_msg(char *out, size_t n, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int len = vsnprintf(out, n, fmt, ap);
  if (len > 0 && (size_t)len >= n) {
    char *full = gsr__malloc((size_t)len + 1);
    if (full != NULL) { /* else it stays cut at the end */
      vsnprintf(full, (size_t)len + 1, fmt, again);
      gsr_shorten_middle(out, n, full);
      gsr__free(full);
    }
  }
  va_end(again);
}

int gsr__verr(int status, const char *fmt, va_list ap) {
  format_msg(thread_msg, sizeof(thread_msg), fmt, ap);
  return status;
}

int gsr__err(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gsr__verr(status, fmt, ap);
  va_end(ap);
  return status;
}

void gsr__error_set(struct gsr__error *e, int status, const char *fmt, ...) {
  va_list ap;
  e->status = status;
  va_start(ap, fmt);
  format_msg(e->msg, sizeof(e->msg), fmt, ap);
  va_end(ap);
}

int gsr__error_raise(const struct gsr__error *e) {
  if (e->status != GSR_OK)
    snprintf(thread_msg, sizeof(thread_msg), "%s", e->msg);
  return e->status;
}

uint64_t gsr__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Every layer traces through the client's callback (GSR__TRACE). */
void gsr__trace(struct gsr_client *c, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  c->opts.trace(c->opts.trace_arg, line);
}
