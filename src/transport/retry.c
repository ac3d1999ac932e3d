/* What a failed transfer means: its gsr status, whether it is worth
 * another attempt, and how long to wait before it (exponential backoff
 * with full jitter, at least what the server's Retry-After asks). Pure
 * functions, unit-tested.
 *
 * SPDX-License-Identifier: MIT
 */
#include <curl/curl.h>

#include "transport/transport.h"

int gsr__retry_progress_renews(uint64_t got, uint64_t left) {
  return got > 0 && got >= GSR__MIN(left, (uint64_t)64 * 1024);
}

int gsr__retry_http_transient(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 ||
         status == 503 || status == 504;
}

int gsr__retry_curl_transient(int rc) {
  switch ((CURLcode)rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
    return 1;
  default:
    return 0;
  }
}

int gsr__status_for_curl(int code) {
  switch ((CURLcode)code) {
  case CURLE_OPERATION_TIMEDOUT:
    return GSR_ETIMEDOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return GSR_ETLS;
  case CURLE_OUT_OF_MEMORY:
    return GSR_ENOMEM;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return GSR_EINVAL;
  default:
    return GSR_ENETWORK;
  }
}

uint64_t gsr__retry_rand(uint64_t *state) {
  uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

long gsr__retry_delay_ms(const struct gsr__retry_policy *p, int attempt,
                         long retry_after_s, uint64_t *rng) {
  double cap = (double)p->initial_ms;
  for (int i = 2; i < attempt && cap < (double)p->max_delay_ms; i++)
    cap *= p->multiplier;
  if (cap > (double)p->max_delay_ms) cap = (double)p->max_delay_ms;
  long delay = (long)((double)(gsr__retry_rand(rng) % 1000001) / 1e6 * cap);
  if (retry_after_s > 0) {
    /* The value is the server's: cap it before scaling so a huge one
     * cannot overflow. A day is past any sane deadline, so the request
     * still gives up at once (plan_retry) instead of waiting forever. */
    long ms = retry_after_s > 86400 ? 86400L * 1000 : retry_after_s * 1000;
    if (ms > delay) delay = ms;
  }
  return delay;
}

/* ms as ns, saturating: a delay or deadline near LONG_MAX must not wrap
 * to a moment in the past. */
static uint64_t ms_to_ns(long ms) {
  if (ms <= 0) return 0;
  if ((uint64_t)ms > UINT64_MAX / 1000000u) return UINT64_MAX;
  return (uint64_t)ms * 1000000u;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int gsr__retry_due(const struct gsr__retry_policy *p, uint64_t first_ns,
                   uint64_t now_ns, long delay_ms, uint64_t *due_ns) {
  uint64_t due = add_sat(now_ns, ms_to_ns(delay_ms));
  if (due > add_sat(first_ns, ms_to_ns(p->deadline_ms))) return 0;
  *due_ns = due;
  return 1;
}
