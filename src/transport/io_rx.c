/* Bytes in: libcurl's callbacks on an I/O thread. A response's headers
 * are parsed and checked against the range asked (gsr__io_header_cb),
 * then its body lands straight from curl's receive buffer in the
 * request's destination with its CRC32C (gsr__io_write_cb), or is kept
 * (a small body, an error's text), or counted past the range; progress is
 * published for the readers waiting on it. What the response means once
 * it ends is io_outcome.c's.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "transport/io.h"

/* SINK_EXCESS: the body ran past the range asked; what follows is only
 * counted, and judged when the body ends. */
enum sink {
  SINK_NONE = 0,
  SINK_DST,
  SINK_BODY,
  SINK_ERRBODY,
  SINK_ABORT,
  SINK_EXCESS
};

/* Error text kept from a failed response; the transfer stops there (an
 * endless error body is not read on). */
#define ERRBODY_MAX (16 * 1024)
/* Bytes past the range counted before giving up on the body's end. */
#define EXCESS_MAX (64 * 1024)

/* Appends to req->body, up to body_max; returns 0, -1 if too large, or -2
 * out of memory. */
static int body_append(struct gsr__request *req, const char *p, size_t n,
                       size_t max) {
  if (req->body_len + n > max) return -1;
  if (req->body_len + n + 1 > req->body_cap) {
    size_t cap = GSR__MAX(req->body_cap * 2, req->body_len + n + 1);
    cap = GSR__MAX(cap, (size_t)1024);
    char *b = gsr__realloc(req->body, cap);
    if (b == NULL) return -2;
    req->body = b;
    req->body_cap = cap;
  }
  memcpy(req->body + req->body_len, p, n);
  req->body_len += n;
  req->body[req->body_len] = '\0';
  return 0;
}

int gsr__io_has_dst(const struct gsr__request *req) { return req->dst.n > 0; }

/* The last byte of the range is shown only once the body ended there
 * (final: the transfer was judged done): a reader that took it before
 * the server's next bytes arrived would succeed where a body longer than
 * asked must fail, whatever the timing. */
void gsr__io_publish(struct gsr__request *req, int final) {
  uint64_t shown = req->received;
  if (!final && req->has_range && shown == req->range_len && shown > 0) shown--;
  gsr__request_show(req, shown);
}

/* Body bytes this attempt asked for. */
static uint64_t attempt_asked(const struct gsr__request *req) {
  return req->range_len - req->attempt_received;
}

/* The one message for a body too long, from the headers or from the
 * bytes. */
void gsr__io_set_too_long(struct gsr__request *req, uint64_t extra,
                          const char *least) {
  gsr__error_set(&req->err, GSR_EPROTO,
                 "GET %s: server sent %s%llu bytes more than the %llu asked",
                 req->url, least, (unsigned long long)extra,
                 (unsigned long long)attempt_asked(req));
}

/* Checks a 2xx response against the range asked, before any byte lands. */
static int check_range(struct gsr__request *req) {
  const struct gsr__response *r = &req->resp;
  if (!req->has_range) return GSR_OK;
  uint64_t first = req->range_first + req->received; /* this attempt's */
  uint64_t last = req->range_first + req->range_len - 1;
  if (r->status == 206) {
    if (!r->has_content_range) {
      gsr__error_set(&req->err, GSR_EPROTO,
                     "GET %s: 206 without a valid Content-Range", req->url);
      return GSR_EPROTO;
    }
    if (r->cr_first != first || r->cr_last != last) {
      gsr__error_set(&req->err, GSR_EPROTO,
                     "GET %s: asked bytes %llu-%llu, server sent %llu-%llu",
                     req->url, (unsigned long long)first,
                     (unsigned long long)last, (unsigned long long)r->cr_first,
                     (unsigned long long)r->cr_last);
      return GSR_EPROTO;
    }
    /* A Content-Length past the range says the body is longer: known
     * before any byte, so no reader can take the range and succeed. */
    if (r->content_length >= 0 &&
        (uint64_t)r->content_length > last - first + 1) {
      gsr__io_set_too_long(
          req, (uint64_t)r->content_length - (last - first + 1), "");
      return GSR_EPROTO;
    }
    return GSR_OK;
  }
  /* A 200 is the whole object: acceptable only if that is what we asked. */
  if (first == 0 && r->content_length >= 0 &&
      (uint64_t)r->content_length == req->range_len)
    return GSR_OK;
  gsr__error_set(&req->err, GSR_EPROTO,
                 "GET %s: server ignored the Range header (status %ld)",
                 req->url, r->status);
  return GSR_EPROTO;
}

/* End of a header block: decide where the body goes. */
static void headers_done(struct gsr__request *req) {
  long s = req->resp.status;
  if (s >= 100 && s < 200) return; /* interim response; more headers come */
  if (s < 200 || s >= 300) {
    req->sink = SINK_ERRBODY; /* keep the error text */
    return;
  }
  if (check_range(req) != GSR_OK) {
    req->sink = SINK_ABORT;
    return;
  }
  if (req->on_headers != NULL && req->on_headers(req, req->on_headers_arg)) {
    req->sink = SINK_ABORT;
    return;
  }
  req->sink = gsr__io_has_dst(req) ? SINK_DST : SINK_BODY;
}

/* len bytes (header or body) arrived: the watchdog's clock and count. */
static void note_rx(struct gsr__request *req, size_t len) {
  req->last_rx_ns = gsr__now_ns();
  if (req->win_start_ns == 0) req->win_start_ns = req->last_rx_ns;
  req->attempt_rx += len;
}

size_t gsr__io_header_cb(char *p, size_t size, size_t n, void *arg) {
  struct gsr__request *req = arg;
  size_t len = size * n;
  note_rx(req, len);
  if (gsr__parse_header_line(&req->resp, p, len)) headers_done(req);
  return len;
}

/* Counts body bytes received from the network (bytes_fetched). */
static void count_rx(struct gsr__request *req, size_t len) {
  for (int i = 0; i < 2; i++)
    if (req->rx_count[i] != NULL) atomic_fetch_add(req->rx_count[i], len);
}

/* libcurl has a connection for req's request and sends it now: the one
 * place a request on the wire is counted (requests). */
int gsr__io_sent_cb(void *arg, char *primary_ip, char *local_ip,
                    int primary_port, int local_port) {
  struct gsr__request *req = arg;
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  for (int i = 0; i < 2; i++)
    if (req->tx_count[i] != NULL) atomic_fetch_add(req->tx_count[i], 1);
  return CURL_PREREQFUNC_OK;
}

/* Bytes past the range: counted until the body ends (the outcome says how many)
 * unless there are too many to wait for. 0 stops the transfer. */
static int note_excess(struct gsr__request *req, size_t len) {
  req->excess += len;
  req->sink = SINK_EXCESS;
  if (req->excess <= EXCESS_MAX) return 1;
  gsr__io_set_too_long(req, req->excess, "at least ");
  return 0;
}

/* Stores len body bytes, all within the range. */
static void land(struct gsr__request *req, char *p, size_t len) {
  if (req->first_byte_ns == 0) req->first_byte_ns = req->last_rx_ns;
  req->received += len;
  gsr__dst_scatter(&req->dst, p, len);
  gsr__io_publish(req, 0);
}

/* The sinks: each takes len bytes at p and returns what write_cb
 * returns (len, or 0 to stop the transfer). */

/* The range's bytes land; any past it are only counted, in this chunk or
 * a later one alike (the verdict is the outcome's). */
static size_t sink_dst(struct gsr__request *req, char *p, size_t len) {
  assert(req->received <= req->range_len); /* bytes past it are excess */
  uint64_t left = req->range_len - req->received;
  size_t take = len > left ? (size_t)left : len;
  if (take > 0) land(req, p, take);
  count_rx(req, len);
  if (take < len && !note_excess(req, len - take)) return 0;
  return len;
}

static size_t sink_body(struct gsr__request *req, char *p, size_t len) {
  switch (body_append(req, p, len, req->body_max)) {
  case 0:
    return len;
  case -1:
    gsr__error_set(&req->err, GSR_EPROTO,
                   "GET %s: response larger than %zu bytes", req->url,
                   req->body_max);
    return 0;
  default:
    gsr__error_set(&req->err, GSR_ENOMEM,
                   "GET %s: out of memory for the response", req->url);
    return 0;
  }
}

/* Keeps the beginning of an error's text, then stops. */
static size_t sink_errbody(struct gsr__request *req, char *p, size_t len) {
  size_t take = GSR__MIN(len, ERRBODY_MAX - req->body_len);
  body_append(req, p, take, ERRBODY_MAX);
  if (take == len) return len;
  req->errbody_cut = 1; /* judge reads the status, not a write error */
  return 0;
}

size_t gsr__io_write_cb(char *p, size_t size, size_t n, void *arg) {
  struct gsr__request *req = arg;
  size_t len = size * n;
  if (atomic_load_explicit(&req->cancel, memory_order_relaxed)) return 0;
  note_rx(req, len);
  switch (req->sink) {
  case SINK_DST:
    return sink_dst(req, p, len);
  case SINK_EXCESS:
    count_rx(req, len);
    return note_excess(req, len) ? len : 0;
  case SINK_BODY:
    return sink_body(req, p, len);
  case SINK_ERRBODY:
    return sink_errbody(req, p, len);
  default:
    return 0;
  }
}

void gsr__io_rx_forget(struct gsr__request *req) {
  gsr__response_reset(&req->resp);
  req->sink = SINK_NONE;
  req->body_len = 0;
}
