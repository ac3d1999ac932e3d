/* The I/O threads: a client's transport is a group of loops, each a
 * thread running its own libcurl multi handle, wakeup and share of the
 * connection pool. A request goes to the least-loaded loop (pick()).
 * Callers queue requests; a loop adds them to its multi handle (the bytes
 * its callbacks land: io_rx.c), aborts stalled transfers, acts on each
 * finished one's verdict (io_outcome.c): again after a delay, at once
 * for a redirect hop, or completes the request's completion exactly
 * once.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/io.h"

/* The minimum rate: a transfer that receives fewer bytes than this in a
 * window of stall_timeout_ms (after its first byte) is too slow, as one
 * that receives none is stalled: a server trickling a byte a second must
 * not hold a request for ever. */
#define MIN_WINDOW_BYTES 1024

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

/* Takes req's transfer off the multi handle; its easy handle is kept for
 * reuse only if the transfer ran its course (ok): after a failed name
 * lookup, curl 7.88 keeps state in the handle that curl_easy_reset
 * leaves, and the next attempt's CURLOPT_BUFFERSIZE is refused
 * (CURLE_BAD_FUNCTION_ARGUMENT). A failed or canceled transfer's handle
 * is not worth the doubt. */
static void easy_release(struct gsr__loop *t, struct gsr__request *req,
                         int ok) {
  curl_multi_remove_handle(t->multi, req->easy);
  if (ok)
    easy_give(t, req->easy);
  else
    curl_easy_cleanup(req->easy);
  req->easy = NULL;
  active_unlink(t, req);
}

/* Puts req on the delayed list, to start again at req->due_ns. */
static void delay(struct gsr__loop *t, struct gsr__request *req) {
  assert(req->easy == NULL); /* off the multi handle: not active */
  req->next = t->delayed;
  t->delayed = req;
}

/* Counts req done on its completion: the last the I/O thread does with
 * it. */
static void complete(struct gsr__loop *t, struct gsr__request *req) {
  if (req->err.status == GSR_OK && gsr__io_has_dst(req))
    gsr__io_publish(req, 1); /* the body ended where asked */
  req->done_ns = gsr__now_ns();
  assert(atomic_load(&t->load) > 0); /* counted at submit, once */
  atomic_fetch_sub(&t->load, 1);
  gsr__completion_done(req->completion, &req->err);
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
  int canceled = atomic_load(&req->cancel);
  enum gsr__io_verdict v = gsr__io_outcome(&t->cfg, &t->rng, req, rc, ebuf,
                                           canceled);
  if (req->easy != NULL) easy_release(t, req, rc == CURLE_OK && !canceled);
  if (v == GSR__IO_HOP) {
    req->hop_pending = 1;
    req->due_ns = gsr__now_ns();
  }
  if (v == GSR__IO_COMPLETE)
    complete(t, req);
  else
    delay(t, req);
}

static void finish_status(struct gsr__loop *t, struct gsr__request *req,
                          int status, const char *what) {
  if (req->err.status == GSR_OK)
    gsr__error_set(&req->err, status, "%s %s: %s", gsr__io_method(req),
                   req->url, what);
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
   * established" would reach gsr__io_header_cb as if it were the response. */
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_HEADERFUNCTION, gsr__io_header_cb);
  SET(CURLOPT_HEADERDATA, req);
  SET(CURLOPT_WRITEFUNCTION, gsr__io_write_cb);
  SET(CURLOPT_WRITEDATA, req);
  SET(CURLOPT_PREREQFUNCTION, gsr__io_sent_cb);
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

/* Counts the attempt req starts now: the first, a retry (the failed
 * attempt forgotten, the bytes stored kept), or a redirect's next URL (the
 * same attempt). */
static void count_attempt(struct gsr__loop *t, struct gsr__request *req) {
  if (req->hop_pending) {
    req->hop_pending = 0;
    gsr__io_rx_forget(req);
  } else if (req->attempts++ == 0) {
    req->first_start_ns = gsr__now_ns();
  } else {
    atomic_fetch_add(&t->retries, 1);
    if (req->received > 0) atomic_fetch_add(&t->resumes, 1);
    memset(&req->err, 0, sizeof(req->err));
    gsr__io_rx_forget(req);
    req->excess = 0;
  }
}

/* The failure to start a transfer on e: rc from its setup (what: the
 * option refused), else mc from the multi handle. */
static void start_failed(struct gsr__loop *t, struct gsr__request *req, CURL *e,
                         CURLcode rc, const char *what, CURLMcode mc) {
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
}

static void start(struct gsr__loop *t, struct gsr__request *req) {
  assert(req->easy == NULL && req->next == NULL); /* on no list */
  if (atomic_load(&req->cancel)) {
    /* A retry canceled after reap_cancelled looked: it ends canceled, not
     * with the failure it was waiting to retry. */
    memset(&req->err, 0, sizeof(req->err));
    finish_status(t, req, GSR_ECANCELED, "canceled");
    return;
  }
  count_attempt(t, req);
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
    start_failed(t, req, e, rc, what, mc);
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

/* Watches one transfer that has received bytes (see abort_stalled), its
 * window of `limit` ns: finishes it, too slow or stalled (returns 0), or
 * returns when it could next be. */
static uint64_t watch(struct gsr__loop *t, struct gsr__request *req,
                      uint64_t now, uint64_t limit) {
  /* note_rx opened the window with the first byte; win_rx is a count the
   * attempt had then. */
  assert(req->win_start_ns != 0 && req->attempt_rx >= req->win_rx);
  uint64_t due = req->last_rx_ns + limit, win_end = req->win_start_ns + limit;
  uint64_t got = req->attempt_rx - req->win_rx;
  if (win_end <= now && got < MIN_WINDOW_BYTES) {
    snprintf(req->curl_err, sizeof(req->curl_err),
             "too slow: %llu bytes in %ld ms (the least is %d per "
             "stall timeout)",
             (unsigned long long)got, t->cfg.stall_timeout_ms,
             MIN_WINDOW_BYTES);
    finish(t, req, CURLE_OPERATION_TIMEDOUT, req->curl_err);
    return 0;
  }
  if (win_end <= now) { /* enough came: the next window */
    req->win_start_ns = now;
    req->win_rx = req->attempt_rx;
    win_end = now + limit;
  }
  if (due > now) return GSR__MIN(due, win_end);
  snprintf(req->curl_err, sizeof(req->curl_err), "stalled: no data for %ld ms",
           t->cfg.stall_timeout_ms);
  finish(t, req, CURLE_OPERATION_TIMEDOUT, req->curl_err);
  return 0;
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
    uint64_t due = watch(t, req, now, limit);
    if (due != 0 && due < next) next = due;
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

/* Starts the requests submitted since the last turn, in submission order
 * (canceled if the loop is stopping). Returns the stopping flag read with
 * them. */
static int start_submitted(struct gsr__loop *t) {
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
  return stopping;
}

/* The client's tick, once a second at most. The wait is at most a second
 * (abort_stalled), so ticks are too. */
static void tick(struct gsr__loop *t) {
  uint64_t now = gsr__now_ns();
  if (t->cfg.tick != NULL && now - t->tick_ns >= 1000000000u) {
    t->tick_ns = now;
    t->cfg.tick(t->cfg.tick_arg);
  }
}

/* One turn of the I/O loop: start what was submitted, move the transfers
 * on, finish what is done, then wait (at most until the next retry or
 * stall check is due) for a socket or a wakeup. Returns 0 once stopping
 * (everything was canceled and finished). */
static int io_turn(struct gsr__loop *t) {
  int stopping = start_submitted(t);
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
  tick(t);
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

/* A loop's multi handle, with `conns` connections; NULL if out of
 * memory. */
static CURLM *multi_new(int conns) {
  /* curl_multi_init makes its wakeup socketpair with socket numbers we
   * cannot choose: none may land on a closed fd 0-2 of the caller's. */
  gsr__std_hold();
  CURLM *m = curl_multi_init();
  gsr__std_release();
  if (m == NULL) return NULL;
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
  /* HTTP/2 is used when offered, but one stream per connection: a GCS
   * connection is rate-limited on its own, so parts multiplexed onto one
   * would share its limit (see docs/prefetch.md). */
  curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  return m;
}

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
  if ((t->multi = multi_new(conns)) == NULL) goto fail_alloc;
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
