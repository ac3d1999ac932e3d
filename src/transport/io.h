/* The I/O threads' own declarations, shared by their three parts and
 * by nothing outside transport/:
 *   io_rx.c       bytes in: libcurl's callbacks land a response's
 *                 headers and body, and publish progress;
 *   io_outcome.c  what a finished transfer means: done, failed, retried
 *                 (a body cut short resumes) or a redirect hop to take;
 *   io_thread.c   the loop: a thread with its multi handle, submit and
 *                 cancel, the stall watchdog, the tick; and the group of
 *                 loops that is a transport.
 * Everything here runs on the request's I/O thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_TRANSPORT_IO_H
#define GSR_TRANSPORT_IO_H

#include <curl/curl.h>

#include "transport/transport.h"

static inline const char *gsr__io_method(const struct gsr__request *req) {
  return req->method == GSR__HEAD ? "HEAD" : "GET";
}

/* ---- io_rx.c: bytes in. */
/* libcurl's CURLOPT_HEADERFUNCTION, CURLOPT_WRITEFUNCTION and
 * CURLOPT_PREREQFUNCTION; their data is the request. */
size_t gsr__io_header_cb(char *p, size_t size, size_t n, void *arg);
size_t gsr__io_write_cb(char *p, size_t size, size_t n, void *arg);
int gsr__io_sent_cb(void *arg, char *primary_ip, char *local_ip,
                    int primary_port, int local_port);
/* Forgets the last response (headers, where its body went, the text
 * kept) before the next one; the bytes stored stay. */
void gsr__io_rx_forget(struct gsr__request *req);
/* 1 if a request stores its body in destination segments. */
int gsr__io_has_dst(const struct gsr__request *req);
/* Makes the stored bytes visible to a reader waiting on them; final: the
 * body ended where asked (see there). */
void gsr__io_publish(struct gsr__request *req, int final);
/* Sets the error for a body `extra` bytes longer than this attempt asked;
 * least: "" or "at least ". */
void gsr__io_set_too_long(struct gsr__request *req, uint64_t extra,
                          const char *least);

/* ---- io_outcome.c: what a finished transfer means. */
enum gsr__io_verdict {
  GSR__IO_COMPLETE, /* done, or failed for good: req->err says which */
  GSR__IO_RETRY,    /* another attempt at req->due_ns */
  GSR__IO_HOP       /* req->url is a redirect's next URL: start it now */
};
/* Judges req's transfer, which ended with rc (ebuf: curl's text) while
 * still on its easy handle (the hop reads its Location), canceled as its
 * caller read the flag once. Sets req->err, retryable, due_ns, the hops;
 * cfg and rng: the loop's settings and jitter. */
enum gsr__io_verdict gsr__io_outcome(const struct gsr__transport_config *cfg,
                                     uint64_t *rng, struct gsr__request *req,
                                     CURLcode rc, const char *ebuf,
                                     int canceled);

#endif /* GSR_TRANSPORT_IO_H */
