/* The I/O threads: a client's transport is a group of loops, each a
 * thread running its own libcurl multi handle, wakeup and share of the
 * connection pool. A request goes to the least-loaded loop (pick()).
 * Callers queue requests; a loop adds them to its multi handle, moves
 * bytes straight from curl's receive buffer into each request's
 * destination, checks every response (status, Content-Range, length) and
 * completes the request's completion exactly once.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/transport.h"

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
/* The minimum rate: a transfer that receives fewer bytes than this in a
 * window of stall_timeout_ms (after its first byte) is too slow, as one
 * that receives none is stalled: a server trickling a byte a second must
 * not hold a request for ever. */
#define MIN_WINDOW_BYTES 1024
/* Bytes past the range counted before giving up on the body's end. */
#define EXCESS_MAX (64 * 1024)

struct gsr__loop {
  struct gsr__transport_config cfg;
  char *user_agent, *ca_bundle;
  CURLM *multi;
  pthread_t thread;
  pthread_mutex_t mu;             /* guards the synced fields */
  struct gsr__request *submitted; /* synced: queued, not yet started */
  int stopping;                   /* synced */
  atomic_int cancel_pending;      /* a cancel flag was raised */
  struct gsr__request *active;    /* io: requests added to the multi */
  CURL **idle_easy;               /* io: easy handles kept for reuse */
  int n_idle, cap_idle;
  uint64_t tick_ns;             /* io: cfg.tick last called */
  struct gsr__request *delayed; /* io: retries waiting for their time */
  uint64_t rng;                 /* io: jitter */
  atomic_uint_fast64_t retries, resumes;
  atomic_int load;                  /* requests submitted, not yet completed */
  atomic_uint_fast64_t submitted_n; /* requests handed to it, ever */
  int std_holding;                  /* a name lookup started: gsr__std_hold */
};

static const char *method_name(const struct gsr__request *req) {
  return req->method == GSR__HEAD ? "HEAD" : "GET";
}

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

/* Adds n bytes, just copied to the current segment at dst_off, to its
 * CRC32C while they are still in the CPU cache; with checkpoints, records
 * the CRC at every stride boundary they cross. */
static void land_crc(struct gsr__request *req, const char *p, size_t n) {
  uint32_t *crc = &req->seg_crc[req->dst_i];
  if (req->marks == NULL) {
    *crc = gsr__crc32c(*crc, p, n);
    return;
  }
  /* marks exist for dst[0] only: dst_i is 0 */
  gsr__crc32c_strided(crc, req->marks, req->dst_off, p, n);
}

/* 1 if a request stores its body in destination segments. */
static int has_dst(const struct gsr__request *req) {
  return req->n_dst > 0 || req->xdst != NULL;
}

/* Copies body bytes to the destination segments, in order. The caller
 * checked that they fit. */
static void scatter(struct gsr__request *req, const char *p, size_t len) {
  req->received += len;
  while (len > 0) {
    const struct gsr__iov *v = req->xdst != NULL ? &req->xdst[req->dst_i]
                                                 : &req->dst[req->dst_i];
    size_t n = v->len - req->dst_off;
    if (n > len) n = len;
    if (req->xdst == NULL) {
      memcpy(v->base + req->dst_off, p, n);
      land_crc(req, p, n);
    } else if (v->base != NULL) { /* NULL: a hole, dropped */
      memcpy(v->base + req->dst_off, p, n);
    }
    p += n;
    len -= n;
    req->dst_off += n;
    if (req->dst_off == v->len) {
      req->dst_i++;
      req->dst_off = 0;
    }
  }
}

/* Makes the stored bytes visible to a reader waiting on them. The last
 * byte of the range is shown only once the body ended there (final, from
 * finish): a reader that took it before the server's next bytes arrived
 * would succeed where a body longer than asked must fail, whatever the
 * timing. */
static void publish_progress(struct gsr__request *req, int final) {
  uint64_t shown = req->received;
  if (!final && req->has_range && shown == req->range_len && shown > 0) shown--;
  atomic_store(&req->progress, shown);
  uint64_t want = atomic_load(&req->want);
  if (want != 0 && shown >= want) {
    pthread_mutex_lock(&req->completion->mu);
    pthread_cond_broadcast(&req->completion->cv);
    pthread_mutex_unlock(&req->completion->mu);
  }
}

/* Body bytes this attempt asked for. */
static uint64_t attempt_asked(const struct gsr__request *req) {
  return req->range_len - req->attempt_received;
}

/* Sets the error for a body `extra` bytes longer than this attempt asked
 * (the one message, from the headers or from the bytes). */
static void set_too_long(struct gsr__request *req, uint64_t extra,
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
      set_too_long(req, (uint64_t)r->content_length - (last - first + 1), "");
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
  req->sink = has_dst(req) ? SINK_DST : SINK_BODY;
}

/* len bytes (header or body) arrived: the watchdog's clock and count. */
static void note_rx(struct gsr__request *req, size_t len) {
  req->last_rx_ns = gsr__now_ns();
  if (req->win_start_ns == 0) req->win_start_ns = req->last_rx_ns;
  req->attempt_rx += len;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg) {
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
static int sent_cb(void *arg, char *primary_ip, char *local_ip,
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

/* Bytes past the range: counted until the body ends (judge says how many)
 * unless there are too many to wait for. 0 stops the transfer. */
static int note_excess(struct gsr__request *req, size_t len) {
  req->excess += len;
  req->sink = SINK_EXCESS;
  if (req->excess <= EXCESS_MAX) return 1;
  set_too_long(req, req->excess, "at least ");
  return 0;
}

/* Stores len body bytes, all within the range. */
static void land(struct gsr__request *req, char *p, size_t len) {
  if (req->first_byte_ns == 0) req->first_byte_ns = req->last_rx_ns;
  scatter(req, p, len);
  publish_progress(req, 0);
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg) {
  struct gsr__request *req = arg;
  size_t len = size * n;
  if (atomic_load_explicit(&req->cancel, memory_order_relaxed)) return 0;
  note_rx(req, len);
  switch (req->sink) {
  case SINK_DST: {
    /* The range's bytes land; any past it are only counted, in this
     * chunk or a later one alike (the verdict is judge's). */
    assert(req->received <= req->range_len); /* bytes past it are excess */
    uint64_t left = req->range_len - req->received;
    size_t take = len > left ? (size_t)left : len;
    if (take > 0) land(req, p, take);
    count_rx(req, len);
    if (take < len && !note_excess(req, len - take)) return 0;
    return len;
  }
  case SINK_EXCESS:
    count_rx(req, len);
    return note_excess(req, len) ? len : 0;
  case SINK_BODY:
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
  case SINK_ERRBODY: { /* keep the beginning of the text, then stop */
    size_t take = GSR__MIN(len, ERRBODY_MAX - req->body_len);
    body_append(req, p, take, ERRBODY_MAX);
    if (take == len) return len;
    req->errbody_cut = 1; /* judge reads the status, not a write error */
    return 0;
  }
  default:
    return 0;
  }
}

/* Maps an HTTP error status to a gsr status. */
static int status_for_http(long s) {
  switch (s) {
  case 401:
    return GSR_EAUTH;
  case 403:
    return GSR_EACCES;
  case 404:
  case 410:
    return GSR_ENOENT;
  case 412:
    return GSR_ECHANGED;
  case 416:
    return GSR_ERANGE;
  case 408:
  case 429:
  case 500:
  case 502:
  case 503:
  case 504:
    return GSR_ENETWORK;
  default:
    return GSR_EHTTP;
  }
}

/* Sets req->err from the transfer's outcome, unless a callback already did.
 * canceled: the cancel flag as its caller read it, once (see finish). */
static void judge(struct gsr__request *req, CURLcode rc, const char *ebuf,
                  int canceled) {
  req->retryable = 0;
  if (req->err.status != GSR_OK) return; /* set by a callback: final */
  /* Bytes past the range are an error however the transfer ended (at the
   * body's end, cut, or canceled by a reader that had enough). */
  if (req->excess > 0) {
    set_too_long(req, req->excess, rc == CURLE_OK ? "" : "at least ");
    return;
  }
  if (canceled) {
    gsr__error_set(&req->err, GSR_ECANCELED, "%s %s: canceled",
                   method_name(req), req->url);
    return;
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && req->errbody_cut)) {
    req->retryable = gsr__retry_curl_transient(rc);
    gsr__error_set(&req->err, gsr__status_for_curl(rc), "%s %s: %s%s%s",
                   method_name(req), req->url, curl_easy_strerror(rc),
                   ebuf[0] ? ": " : "", ebuf);
    return;
  }
  long s = req->resp.status;
  if (s < 200 || s >= 300) {
    char text[256];
    req->retryable = gsr__retry_http_transient(s);
    gsr__request_server_message(req, text, sizeof(text));
    gsr__error_set(&req->err, status_for_http(s), "%s %s: HTTP %ld%s%s",
                   method_name(req), req->url, s, text[0] ? ": " : "", text);
    return;
  }
  req->retryable = 1; /* a body cut short: resume it */
  if (has_dst(req) && req->received != req->range_len)
    gsr__error_set(&req->err, GSR_EPROTO,
                   "GET %s: short body: got %llu of %llu bytes", req->url,
                   (unsigned long long)req->received,
                   (unsigned long long)req->range_len);
}

static CURL *easy_take(struct gsr__loop *t) {
  if (t->n_idle > 0) {
    CURL *e = t->idle_easy[--t->n_idle];
    curl_easy_reset(e);
    return e;
  }
  return curl_easy_init();
}

static void easy_give(struct gsr__loop *t, CURL *e) {
  if (t->n_idle == t->cap_idle) {
    int cap = t->cap_idle ? t->cap_idle * 2 : 16;
    CURL **v = gsr__realloc(t->idle_easy, (size_t)cap * sizeof(*v));
    if (v == NULL) {
      curl_easy_cleanup(e);
      return;
    }
    t->idle_easy = v;
    t->cap_idle = cap;
  }
  t->idle_easy[t->n_idle++] = e;
}

static void active_link(struct gsr__loop *t, struct gsr__request *req) {
  req->prev = NULL;
  req->next = t->active;
  if (t->active) t->active->prev = req;
  t->active = req;
}

static void active_unlink(struct gsr__loop *t, struct gsr__request *req) {
  if (req->prev)
    req->prev->next = req->next;
  else
    t->active = req->next;
  if (req->next) req->next->prev = req->prev;
  req->next = req->prev = NULL;
}

/* 1 if req's failure should be retried, and when (sets due_ns). */
static int decide_retry(struct gsr__loop *t, struct gsr__request *req) {
  const struct gsr__retry_policy *p = &t->cfg.retry;
  if (!req->retryable || req->attempts >= p->max_attempts ||
      (req->no_resume && req->received > 0))
    return 0;
  long delay = gsr__retry_delay_ms(p, req->attempts + 1,
                                   req->resp.retry_after_s, &t->rng);
  if (!gsr__retry_due(p, req->first_start_ns, gsr__now_ns(), delay,
                      &req->due_ns))
    return 0;
  if (t->cfg.trace != NULL) {
    char line[700];
    snprintf(line, sizeof(line),
             "retry in %ld ms (attempt %d, %llu bytes kept): %s", delay,
             req->attempts + 1, (unsigned long long)req->received,
             req->err.msg);
    t->cfg.trace(t->cfg.trace_arg, line);
  }
  return 1;
}

/* A transient failure that is final because retrying ran out: says so in
 * the message, so "HTTP 503" alone is not mistaken for a first attempt. */
static void note_gave_up(struct gsr__loop *t, struct gsr__request *req) {
  const struct gsr__retry_policy *p = &t->cfg.retry;
  char was[sizeof(req->err.msg)]; /* set anew: a full message keeps its end */
  double secs = (double)(gsr__now_ns() - req->first_start_ns) / 1e9;
  memcpy(was, req->err.msg, sizeof(was));
  if (req->attempts >= p->max_attempts)
    gsr__error_set(&req->err, req->err.status,
                   "%s (gave up after %d attempts in %.1f s: "
                   "retry_max_attempts)",
                   was, req->attempts, secs);
  else
    gsr__error_set(&req->err, req->err.status,
                   "%s (gave up after %d attempts in %.1f s: "
                   "retry_deadline_ms %ld reached)",
                   was, req->attempts, secs, p->deadline_ms);
}

/* A hop to another origin carries no credentials: only the headers
 * gsr__redirect_keeps_header allows. GSR_OK or GSR_ENOMEM. */
static int drop_credentials(struct gsr__request *req) {
  struct curl_slist *kept = NULL, *l;
  for (l = req->headers; l != NULL; l = l->next) {
    if (!gsr__redirect_keeps_header(l->data)) continue;
    struct curl_slist *k = curl_slist_append(kept, l->data);
    if (k == NULL) {
      curl_slist_free_all(kept);
      return GSR_ENOMEM;
    }
    kept = k;
  }
  curl_slist_free_all(req->headers);
  req->headers = kept;
  return GSR_OK;
}

/* req's response is a redirect: takes the hop (1: req->url is the next
 * URL, start it again) or sets req->err saying why not (0: final). Reads
 * the Location libcurl resolved from req->easy, which never follows one
 * itself. */
static int take_hop(struct gsr__loop *t, struct gsr__request *req) {
  const char *list[GSR__MAX_REDIRECTS + 2], *to = NULL, *what;
  char chain[460], loc[200];
  long s = req->resp.status;
  int n = req->hops != NULL ? req->n_hops : 1, cross = 1;
  req->retryable = 0;
  if (curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, (char **)&to) !=
      CURLE_OK)
    to = NULL;
  for (int i = 0; i < n; i++) list[i] = req->hops ? req->hops[i] : req->url;
  enum gsr__hop v = gsr__redirect_decide(list, n, to, req->max_redirects,
                                         &cross);
  if (v == GSR__HOP_LOOP || v == GSR__HOP_TOO_MANY) {
    list[n] = to; /* name the hop refused too */
    gsr__hops_text(chain, sizeof(chain), list, n + 1);
    if (v == GSR__HOP_LOOP)
      gsr__error_set(&req->err, GSR_EHTTP, "%s %s: redirect loop",
                     method_name(req), chain);
    else
      gsr__error_set(&req->err, GSR_EHTTP,
                     "%s %s: too many redirects (more than %d)",
                     method_name(req), chain, req->max_redirects);
    return 0;
  }
  /* Room for the Location and the reason after the URL. */
  gsr__hops_text(chain, sizeof(chain) - sizeof(loc), list, n);
  if (v != GSR__HOP_FOLLOW) {
    if (v == GSR__HOP_NO_LOCATION) {
      gsr__error_set(&req->err, GSR_EHTTP,
                     "%s %s: HTTP %ld without a usable Location",
                     method_name(req), chain, s);
      return 0;
    }
    what = v == GSR__HOP_OFF ? "not followed"
                             : "not followed: not http or https";
    gsr__hops_text(loc, sizeof(loc), &to, 1);
    gsr__error_set(&req->err, GSR_EHTTP, "%s %s: HTTP %ld: redirect to %s (%s)",
                   method_name(req), chain, s, loc, what);
    return 0;
  }
  /* Follow: the list of hops, then the next URL (without a user name and
   * password when it is another origin's). */
  char *next = cross ? gsr__url_strip_userinfo(to) : gsr__strdup(to);
  char *url = next != NULL ? gsr__strdup(next) : NULL;
  if (url != NULL && req->hops == NULL) {
    req->hops = gsr__calloc((size_t)req->max_redirects + 1, sizeof(char *));
    if (req->hops != NULL && (req->hops[0] = gsr__strdup(req->url)) != NULL)
      req->n_hops = 1;
  }
  if (url == NULL || req->n_hops == 0 ||
      (cross && drop_credentials(req) != GSR_OK)) {
    gsr__free(next);
    gsr__free(url);
    gsr__error_set(&req->err, GSR_ENOMEM,
                   "%s %s: out of memory following "
                   "a redirect",
                   method_name(req), chain);
    return 0;
  }
  req->hops[req->n_hops++] = next;
  gsr__free(req->url);
  req->url = url;
  if (t->cfg.trace != NULL) {
    char line[600];
    gsr__hops_text(loc, sizeof(loc), (const char *const *)&req->url, 1);
    snprintf(line, sizeof(line), "redirect %d of at most %d: HTTP %ld to %s%s",
             req->n_hops - 1, req->max_redirects, s, loc,
             cross ? " (another origin: no credentials sent)" : "");
    t->cfg.trace(t->cfg.trace_arg, line);
  }
  return 1;
}

/* Completes req, or puts it on the delayed list for another attempt.
 * Once completed, the I/O thread never touches it again.
 *
 * The cancel flag is read once: another thread may set it at any moment,
 * and a request judged retryable (a cut body, a 503) that is then found
 * canceled would complete with that transient failure, which the caller
 * was never meant to see. Set after this read, the flag is handled by
 * reap_cancelled, which takes the request off the delayed list. */
static void finish(struct gsr__loop *t, struct gsr__request *req, CURLcode rc,
                   const char *ebuf) {
  int canceled = atomic_load(&req->cancel), hop = 0;
  if (req->easy != NULL) {
    if (!canceled && rc == CURLE_OK && req->err.status == GSR_OK &&
        gsr__redirect_status(req->resp.status))
      hop = take_hop(t, req);
    curl_multi_remove_handle(t->multi, req->easy);
    /* Only a handle whose transfer ran its course is kept for reuse: after
     * a failed name lookup, curl 7.88 keeps state in the handle that
     * curl_easy_reset leaves, and the next attempt's CURLOPT_BUFFERSIZE
     * is refused (CURLE_BAD_FUNCTION_ARGUMENT). A failed or canceled
     * transfer's handle is not worth the doubt. */
    if (rc == CURLE_OK && !canceled)
      easy_give(t, req->easy);
    else
      curl_easy_cleanup(req->easy);
    req->easy = NULL;
    active_unlink(t, req);
  }
  if (hop) { /* the next URL, at once; a hop is not a retry */
    req->hop_pending = 1;
    req->due_ns = gsr__now_ns();
    req->next = t->delayed;
    t->delayed = req;
    return;
  }
  judge(req, rc, ebuf, canceled);
  /* A body that broke after it made progress gets a fresh retry budget
   * (count and deadline), as the next block's request would: a large
   * block on a flaky link goes on while bytes come. Without progress, or
   * with a trickle (a byte per connection), it runs out as usual. */
  if (req->err.status != GSR_OK &&
      gsr__retry_progress_renews(req->received - req->attempt_received,
                                 req->range_len - req->attempt_received)) {
    req->attempts = 1;
    req->first_start_ns = gsr__now_ns();
  }
  if (req->err.status != GSR_OK && !canceled && decide_retry(t, req)) {
    req->next = t->delayed;
    t->delayed = req;
    return;
  }
  if (req->err.status != GSR_OK && req->retryable && req->attempts > 1)
    note_gave_up(t, req);
  if (req->err.status == GSR_OK && has_dst(req))
    publish_progress(req, 1); /* the body ended where asked */
  req->done_ns = gsr__now_ns();
  atomic_fetch_sub(&t->load, 1);
  gsr__completion_done(req->completion, &req->err);
}

static void finish_status(struct gsr__loop *t, struct gsr__request *req,
                          int status, const char *what) {
  if (req->err.status == GSR_OK)
    gsr__error_set(&req->err, status, "%s %s: %s", method_name(req), req->url,
                   what);
  finish(t, req, CURLE_OK, "");
}

/* Every connection socket libcurl opens: close-on-exec and numbered 3 or
 * more (gsr__fd_own); libcurl's own socket() call sets neither. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
                                 struct curl_sockaddr *a) {
  (void)arg;
  (void)purpose;
  int fd = gsr__fd_own(
      socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* A name lookup is about to start (inside curl_multi_perform, on the
 * thread that drives t): libcurl's threaded resolver makes a socketpair
 * for it, which we cannot number, so fds 0-2 are held until that
 * curl_multi_perform returns (io_turn). */
static int on_resolve(void *resolver, void *reserved, void *arg) {
  struct gsr__loop *t = arg;
  (void)resolver;
  (void)reserved;
  if (!t->std_holding) {
    gsr__std_hold();
    t->std_holding = 1;
  }
  return 0;
}

int gsr__curl_own_sockets(void *easy) {
  return curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket) ==
                 CURLE_OK
             ? 0
             : -1;
}

/* Sets e up for req's attempt. Returns CURLE_OK, or the first option's
 * failure (its name in *what). */
static CURLcode easy_setup(struct gsr__loop *t, struct gsr__request *req,
                           CURL *e, const char **what) {
  char range[64];
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                       \
  do {                                                                      \
    if (rc == CURLE_OK && (rc = curl_easy_setopt(e, opt, val)) != CURLE_OK) \
      *what = #opt;                                                         \
  } while (0)
  SET(CURLOPT_URL, req->url);
  SET(CURLOPT_PRIVATE, req);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SET(CURLOPT_RESOLVER_START_FUNCTION, on_resolve);
  SET(CURLOPT_RESOLVER_START_DATA, t);
  SET(CURLOPT_HTTPHEADER, req->headers);
  SET(CURLOPT_USERAGENT, t->user_agent);
  /* Behind an HTTPS proxy, the CONNECT's own "200 Connection
   * established" would reach header_cb as if it were the response. */
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_HEADERFUNCTION, header_cb);
  SET(CURLOPT_HEADERDATA, req);
  SET(CURLOPT_WRITEFUNCTION, write_cb);
  SET(CURLOPT_WRITEDATA, req);
  SET(CURLOPT_PREREQFUNCTION, sent_cb);
  SET(CURLOPT_PREREQDATA, req);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (t->ca_bundle) SET(CURLOPT_CAINFO, t->ca_bundle);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as stored: no decoding */
  SET(CURLOPT_BUFFERSIZE, 512L * 1024);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_CONNECTTIMEOUT_MS, t->cfg.connect_timeout_ms);
  if (t->cfg.request_timeout_ms > 0)
    SET(CURLOPT_TIMEOUT_MS, t->cfg.request_timeout_ms);
  if (t->cfg.stall_timeout_ms > 0) {
    /* Before its first byte a transfer is judged by curl: under 1 byte/s
     * for this long is a stall. After it, abort_stalled() is (see there). */
    long secs = (t->cfg.stall_timeout_ms + 999) / 1000;
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, secs);
  }
  SET(CURLOPT_ERRORBUFFER, req->curl_err);
  if (req->method == GSR__HEAD) SET(CURLOPT_NOBODY, 1L);
  if (req->has_range) {
    snprintf(range, sizeof(range), "%llu-%llu", /* resume after received */
             (unsigned long long)(req->range_first + req->received),
             (unsigned long long)(req->range_first + req->range_len - 1));
    SET(CURLOPT_RANGE, range); /* curl copies the string */
  }
#undef SET
  return rc;
}

static void start(struct gsr__loop *t, struct gsr__request *req) {
  if (atomic_load(&req->cancel)) {
    /* A retry canceled after reap_cancelled looked: it ends canceled, not
     * with the failure it was waiting to retry. */
    memset(&req->err, 0, sizeof(req->err));
    finish_status(t, req, GSR_ECANCELED, "canceled");
    return;
  }
  if (req->hop_pending) { /* a redirect's next URL: the same attempt */
    req->hop_pending = 0;
    gsr__response_reset(&req->resp);
    req->sink = SINK_NONE;
    req->body_len = 0;
  } else if (req->attempts++ == 0) {
    req->first_start_ns = gsr__now_ns();
  } else { /* a retry: forget the failed attempt, keep the bytes stored */
    atomic_fetch_add(&t->retries, 1);
    if (req->received > 0) atomic_fetch_add(&t->resumes, 1);
    memset(&req->err, 0, sizeof(req->err));
    gsr__response_reset(&req->resp);
    req->sink = SINK_NONE;
    req->body_len = 0;
    req->excess = 0;
  }
  CURL *e = easy_take(t);
  if (e == NULL) {
    finish_status(t, req, GSR_ENOMEM, "out of memory (curl handle)");
    return;
  }
  req->curl_err[0] = '\0';
  req->attempt_received = req->received;
  req->last_rx_ns = 0; /* the watchdog arms at this attempt's first byte */
  req->attempt_rx = req->win_start_ns = req->win_rx = 0;
  req->errbody_cut = 0;
  const char *what = "";
  CURLcode rc = easy_setup(t, req, e, &what);
  CURLMcode mc = rc == CURLE_OK ? curl_multi_add_handle(t->multi, e) : CURLM_OK;
  if (rc != CURLE_OK || mc != CURLM_OK) {
    char msg[200];
    int oom = rc == CURLE_OUT_OF_MEMORY || mc == CURLM_OUT_OF_MEMORY;
    if (rc != CURLE_OK)
      snprintf(msg, sizeof(msg), "cannot set up the transfer: %s: %s", what,
               curl_easy_strerror(rc));
    else
      snprintf(msg, sizeof(msg), "cannot start the transfer: %s",
               curl_multi_strerror(mc));
    curl_easy_cleanup(e);
    finish_status(t, req, oom ? GSR_ENOMEM : GSR_EIO, msg);
    return;
  }
  req->easy = e;
  active_link(t, req);
}

static void reap_cancelled(struct gsr__loop *t, int all) {
  struct gsr__request *req = t->active, *next, **link = &t->delayed;
  for (; req != NULL; req = next) {
    next = req->next;
    if (all) atomic_store(&req->cancel, 1);
    if (atomic_load(&req->cancel)) finish(t, req, CURLE_OK, "");
  }
  while ((req = *link) != NULL) { /* retries not started yet */
    if (all || atomic_load(&req->cancel)) {
      *link = req->next;
      req->next = NULL;
      atomic_store(&req->cancel, 1);
      memset(&req->err, 0, sizeof(req->err));
      finish(t, req, CURLE_OK, "");
    } else {
      link = &req->next;
    }
  }
}

/* Starts the delayed retries that are due; returns the milliseconds until
 * the next one (at most 1000). */
static int start_due(struct gsr__loop *t) {
  uint64_t now = gsr__now_ns(), next = now + 1000000000u;
  struct gsr__request *req, **link = &t->delayed;
  while ((req = *link) != NULL) {
    if (req->due_ns <= now) {
      *link = req->next;
      req->next = NULL;
      start(t, req);
    } else {
      if (req->due_ns < next) next = req->due_ns;
      link = &req->next;
    }
  }
  return (int)((next - now + 999999) / 1000000);
}

/* The stall watchdog. curl's low-speed check cannot enforce
 * stall_timeout_ms once bytes have flowed: it compares a speed averaged
 * over the last ~5 s, so a body that arrived fast and then stopped keeps
 * that average above the limit for seconds (measured with curl 7.88: a 1 s
 * timeout fired after 7 s). So this thread aborts, as a retryable timeout,
 * every transfer that received bytes and then none for stall_timeout_ms.
 * Until its first byte curl's check is exact (nothing was averaged in) and
 * stays in charge; it also skips transfers still queued for a connection,
 * which are waiting, not stalled. Returns the milliseconds until the next
 * transfer could stall (at most 1000). */
static int abort_stalled(struct gsr__loop *t) {
  uint64_t now = gsr__now_ns(), limit, next = now + 1000000000u;
  struct gsr__request *req, *nx;
  if (t->cfg.stall_timeout_ms <= 0) return 1000;
  limit = (uint64_t)t->cfg.stall_timeout_ms * 1000000u;
  for (req = t->active; req != NULL; req = nx) {
    nx = req->next; /* finish() relinks req */
    if (req->last_rx_ns == 0) continue;
    uint64_t due = req->last_rx_ns + limit, win_end = req->win_start_ns + limit;
    if (win_end <= now && req->attempt_rx - req->win_rx < MIN_WINDOW_BYTES) {
      snprintf(req->curl_err, sizeof(req->curl_err),
               "too slow: %llu bytes in %ld ms (the least is %d per "
               "stall timeout)",
               (unsigned long long)(req->attempt_rx - req->win_rx),
               t->cfg.stall_timeout_ms, MIN_WINDOW_BYTES);
      finish(t, req, CURLE_OPERATION_TIMEDOUT, req->curl_err);
      continue;
    }
    if (win_end <= now) { /* enough came: the next window */
      req->win_start_ns = now;
      req->win_rx = req->attempt_rx;
      win_end = now + limit;
    }
    if (due > now) {
      due = GSR__MIN(due, win_end);
      if (due < next) next = due;
      continue;
    }
    snprintf(req->curl_err, sizeof(req->curl_err),
             "stalled: no data for %ld ms", t->cfg.stall_timeout_ms);
    finish(t, req, CURLE_OPERATION_TIMEDOUT, req->curl_err);
  }
  return (int)((next - now + 999999) / 1000000);
}

static void reap_done(struct gsr__loop *t) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(t->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    struct gsr__request *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    finish(t, req, msg->data.result, req->curl_err);
  }
}

/* One turn of the I/O loop: start what was submitted, move the transfers
 * on, finish what is done, then wait (at most until the next retry or
 * stall check is due) for a socket or a wakeup. Returns 0 once stopping
 * (everything was canceled and finished). */
static int io_turn(struct gsr__loop *t) {
  pthread_mutex_lock(&t->mu);
  struct gsr__request *batch = t->submitted;
  t->submitted = NULL;
  int stopping = t->stopping;
  pthread_mutex_unlock(&t->mu);
  /* The queue is LIFO; start in submission order. */
  struct gsr__request *rev = NULL;
  while (batch) {
    struct gsr__request *n = batch->next;
    batch->next = rev;
    rev = batch;
    batch = n;
  }
  while (rev) {
    struct gsr__request *n = rev->next;
    rev->next = NULL;
    if (stopping) atomic_store(&rev->cancel, 1);
    start(t, rev);
    rev = n;
  }
  if (stopping) {
    reap_cancelled(t, 1);
    return 0;
  }
  if (atomic_exchange(&t->cancel_pending, 0)) reap_cancelled(t, 0);
  int wait_ms = start_due(t);
  int running = 0;
  curl_multi_perform(t->multi, &running);
  if (t->std_holding) {
    gsr__std_release();
    t->std_holding = 0;
  }
  reap_done(t);
  wait_ms = GSR__MIN(wait_ms, abort_stalled(t));
  if (t->delayed != NULL) wait_ms = GSR__MIN(wait_ms, start_due(t));
  /* The wait is at most a second (abort_stalled), so ticks are too. */
  uint64_t now = gsr__now_ns();
  if (t->cfg.tick != NULL && now - t->tick_ns >= 1000000000u) {
    t->tick_ns = now;
    t->cfg.tick(t->cfg.tick_arg);
  }
  curl_multi_poll(t->multi, NULL, 0, wait_ms, NULL);
  return 1;
}

static void *io_main(void *arg) {
  while (io_turn(arg)) {
  }
  return NULL;
}

/* Queues req on loop t. GSR_OK, or GSR_ECLOSED when t is stopping. */
static int loop_submit(struct gsr__loop *t, struct gsr__request *req) {
  pthread_mutex_lock(&t->mu);
  if (t->stopping) {
    pthread_mutex_unlock(&t->mu);
    return gsr__err(GSR_ECLOSED, "the client is shutting down");
  }
  atomic_fetch_add(&t->load, 1); /* before finish() can take it off */
  atomic_fetch_add(&t->submitted_n, 1);
  atomic_store(&req->loop, t);
  req->next = t->submitted;
  t->submitted = req;
  pthread_mutex_unlock(&t->mu);
  curl_multi_wakeup(t->multi);
  return GSR_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static void loop_free(struct gsr__loop *t);

/* One loop with cfg's settings and `conns` connections, its thread
 * started. */
static int loop_new(const struct gsr__transport_config *cfg, int conns,
                    struct gsr__loop **out) {
  *out = NULL;
  struct gsr__loop *t = gsr__calloc(1, sizeof(*t));
  if (t == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  t->cfg = *cfg;
  t->cfg.max_connections = conns;
  t->rng = gsr__now_ns() ^ (uintptr_t)t;
  t->rng |= 1;
  t->user_agent = gsr__strdup(cfg->user_agent);
  if (t->user_agent == NULL) goto fail_alloc;
  if (cfg->ca_bundle != NULL &&
      (t->ca_bundle = gsr__strdup(cfg->ca_bundle)) == NULL)
    goto fail_alloc;
  /* curl_multi_init makes its wakeup socketpair with socket numbers we
   * cannot choose: none may land on a closed fd 0-2 of the caller's. */
  gsr__std_hold();
  t->multi = curl_multi_init();
  gsr__std_release();
  if (t->multi == NULL) goto fail_alloc;
  curl_multi_setopt(t->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
  curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
  curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)conns);
  /* HTTP/2 is used when offered, but one stream per connection: a GCS
   * connection is rate-limited on its own, so parts multiplexed onto one
   * would share its limit (see docs/prefetch.md). */
  curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  if (pthread_mutex_init(&t->mu, NULL) != 0) goto fail_multi;
  if (pthread_create(&t->thread, NULL, io_main, t) != 0) {
    gsr__err(GSR_EIO, "cannot start an I/O thread");
    goto fail_mutex;
  }
  *out = t;
  return GSR_OK;

fail_mutex:
  pthread_mutex_destroy(&t->mu);
fail_multi:
  curl_multi_cleanup(t->multi);
  gsr__free(t->user_agent);
  gsr__free(t->ca_bundle);
  gsr__free(t);
  return GSR_EIO;
fail_alloc:
  if (t->multi) curl_multi_cleanup(t->multi);
  gsr__free(t->user_agent);
  gsr__free(t->ca_bundle);
  gsr__free(t);
  return gsr__err(GSR_ENOMEM, "out of memory");
}

/* Stops t: cancels whatever is in flight, joins its thread. */
static void loop_stop(struct gsr__loop *t) {
  pthread_mutex_lock(&t->mu);
  t->stopping = 1;
  pthread_mutex_unlock(&t->mu);
  curl_multi_wakeup(t->multi);
  pthread_join(t->thread, NULL);
}

static void loop_free(struct gsr__loop *t) {
  for (int i = 0; i < t->n_idle; i++) curl_easy_cleanup(t->idle_easy[i]);
  gsr__free(t->idle_easy);
  curl_multi_cleanup(t->multi);
  pthread_mutex_destroy(&t->mu);
  gsr__free(t->user_agent);
  gsr__free(t->ca_bundle);
  gsr__free(t);
}

/* ---- The group: what the rest of the library calls a transport. */

struct gsr__transport {
  int n; /* loops, each with its own thread */
  struct gsr__loop **loops;
};

int gsr__io_threads(int option, int cpus, int connections) {
  int n;
  if (connections < 1) connections = 1;
  if (option > 0) {
    n = option;
  } else {
    /* One thread carries about 4 busy connections at line rate before its
     * core is the bound (BENCHMARKS.md); more threads than cores only
     * take turns on them. */
    n = (connections + GSR__CONNS_PER_THREAD - 1) / GSR__CONNS_PER_THREAD;
    if (cpus >= 1 && n > cpus) n = cpus;
  }
  /* Each thread owns a share of the pool: one with no connection would
   * only queue. */
  if (n > connections) n = connections;
  return n < 1 ? 1 : n;
}

int gsr__loop_connections(int connections, int n, int i) {
  return connections / n + (i < connections % n ? 1 : 0);
}

/* The loop for a new request: the one with the fewest requests in
 * flight; of equals, the first. Not round-robin: a lone sequential reader
 * then stays on loop 0 and reuses its keep-alive connection (a new one
 * costs a handshake and, on GCS, a slow start), while a burst of parts
 * still spreads one per loop. */
static struct gsr__loop *pick(struct gsr__transport *g) {
  struct gsr__loop *best = g->loops[0];
  int least = atomic_load(&best->load);
  for (int i = 1; i < g->n && least > 0; i++) {
    int l = atomic_load(&g->loops[i]->load);
    if (l < least) {
      least = l;
      best = g->loops[i];
    }
  }
  return best;
}

int gsr__transport_threads(const struct gsr__transport *g) { return g->n; }

void gsr__transport_thread_load(struct gsr__transport *g, int i,
                                uint64_t *submitted, int *in_flight) {
  *submitted = atomic_load(&g->loops[i]->submitted_n);
  *in_flight = atomic_load(&g->loops[i]->load);
}

void gsr__transport_stats_get(struct gsr__transport *g,
                              struct gsr__transport_stats *out) {
  out->retries = out->resumes = 0;
  for (int i = 0; i < g->n; i++) {
    out->retries += atomic_load(&g->loops[i]->retries);
    out->resumes += atomic_load(&g->loops[i]->resumes);
  }
}

int gsr__transport_submit(struct gsr__transport *g, struct gsr__request *req) {
  return loop_submit(pick(g), req);
}

/* The loop req was last handed to; NULL before its first submit (then
 * start() sees a raised flag: the loop is stored before the request is
 * queued). */
void gsr__transport_cancel(struct gsr__transport *g, struct gsr__request *req) {
  (void)g;
  atomic_store(&req->cancel, 1);
  struct gsr__loop *t = atomic_load(&req->loop);
  if (t == NULL) return;
  atomic_store(&t->cancel_pending, 1);
  curl_multi_wakeup(t->multi);
}

int gsr__transport_new(const struct gsr__transport_config *cfg,
                       struct gsr__transport **out) {
  *out = NULL;
  gsr__std_hold(); /* OpenSSL's first load opens its config file */
  pthread_once(&curl_once, curl_init_once);
  gsr__std_release();
  if (curl_init_rc != CURLE_OK)
    return gsr__err(GSR_EIO, "libcurl failed to initialize: %s",
                    curl_easy_strerror(curl_init_rc));
  /* cfg->io_threads is the client's choice (gsr__io_threads); 0 is one. */
  int n = cfg->io_threads < 1
              ? 1
              : gsr__io_threads(cfg->io_threads, 0, cfg->max_connections);
  struct gsr__transport *g = gsr__calloc(1, sizeof(*g));
  if (g == NULL ||
      (g->loops = gsr__calloc((size_t)n, sizeof(*g->loops))) == NULL) {
    gsr__free(g);
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    int status = loop_new(
        cfg, gsr__loop_connections(cfg->max_connections, n, i), &g->loops[i]);
    if (status != GSR_OK) {
      g->n = i;
      gsr__transport_free(g);
      return status;
    }
  }
  g->n = n;
  *out = g;
  return GSR_OK;
}

void gsr__transport_free(struct gsr__transport *g) {
  if (g == NULL) return;
  /* Every loop stops taking requests before any is joined: a request
   * resubmitted meanwhile (a 401's) is refused, not left on a loop that
   * is gone. */
  for (int i = 0; i < g->n; i++) {
    struct gsr__loop *t = g->loops[i];
    pthread_mutex_lock(&t->mu);
    t->stopping = 1;
    pthread_mutex_unlock(&t->mu);
  }
  for (int i = 0; i < g->n; i++) loop_stop(g->loops[i]);
  for (int i = 0; i < g->n; i++) loop_free(g->loops[i]);
  gsr__free(g->loops);
  gsr__free(g);
}

/* Here, beside submit, so that requests (request.c) do not depend on the
 * threads that carry them. */
int gsr__transport_run(struct gsr__transport *t, struct gsr__request *req) {
  struct gsr__completion f;
  int status = gsr__completion_init(&f, 1);
  if (status != GSR_OK) return status;
  req->completion = &f;
  status = gsr__transport_submit(t, req);
  if (status == GSR_OK) status = gsr__completion_wait(&f);
  if (status != GSR_OK && f.err.status != GSR_OK) gsr__error_raise(&f.err);
  req->completion = NULL;
  gsr__completion_destroy(&f);
  return status;
}
