/* Status codes: names, descriptions, classification, and the per-thread
 * message that says what failed.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static _Thread_local char thread_msg[1024];

const char *gsr_strerror(int status) {
  switch (status) {
    case GSR_OK:
      return "success";
#define XX(name, code, text) \
  case GSR_##name:           \
    return text;
      GSR_STATUS_MAP(XX)
#undef XX
    default:
      return "unknown status";
  }
}

const char *gsr_status_name(int status) {
  switch (status) {
    case GSR_OK:
      return "GSR_OK";
#define XX(name, code, text) \
  case GSR_##name:           \
    return "GSR_" #name;
      GSR_STATUS_MAP(XX)
#undef XX
    default:
      return "GSR_UNKNOWN";
  }
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

int gsr__verr(int status, const char *fmt, va_list ap) {
  vsnprintf(thread_msg, sizeof(thread_msg), fmt, ap);
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
  vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
  va_end(ap);
}

int gsr__error_raise(const struct gsr__error *e) {
  if (e->status != GSR_OK) snprintf(thread_msg, sizeof(thread_msg), "%s", e->msg);
  return e->status;
}

uint64_t gsr__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
