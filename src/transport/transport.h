/* The transport: a group of I/O threads per client (gsr__io_threads),
 * each running its own libcurl multi handle with its share of a bounded
 * pool of keep-alive connections, and the request and completion nouns that
 * carry work to them and results back.
 *
 * Threads: only a request's I/O thread touches its curl handle. Other
 * threads reach it through gsr__transport_submit/_cancel, which
 * queue work and wake that thread with curl_multi_wakeup (wakeups
 * coalesce, so many submits cost one poll round). Each submit places the
 * request on the least-loaded thread; the parts of a range fetch spread over
 * them.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_TRANSPORT_H
#define GSR_TRANSPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/dst.h"
#include "base/internal.h"

struct curl_slist;
struct gsr__request;
struct gsr__loop; /* one I/O thread (io_thread.c; its parts: io.h) */

/* A completion is what a caller waits on: one or more requests that together
 * fill a range. Each request completes it exactly once: done, failed, or
 * GSR_ECANCELED. The first failure is kept. */
struct gsr__completion {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending;
  struct gsr__error err;
};
int gsr__completion_init(struct gsr__completion *f, int parts);
void gsr__completion_destroy(struct gsr__completion *f);
/* Counts one request done (the transport calls it once per request). */
void gsr__completion_done(struct gsr__completion *f,
                          const struct gsr__error *e);
/* Blocks until every request completed; returns the first failure or GSR_OK
 * (the message stays in f->err). */
int gsr__completion_wait(struct gsr__completion *f);

/* Parsed response headers. */
/* The longest ETag kept (with its quotes and NUL): longer ones are taken
 * as none. Servers send tens of bytes; GCS, about 20. */
#define GSR__ETAG_MAX 512

struct gsr__response {
  long status; /* HTTP status of the final response */
  int has_content_range;
  uint64_t cr_first, cr_last; /* Content-Range: bytes first-last/total */
  uint64_t cr_total;          /* UINT64_MAX when '*' */
  int64_t content_length;     /* -1 if absent */
  int64_t goog_generation;    /* x-goog-generation, -1 if absent */
  long retry_after_s;         /* Retry-After in seconds, -1 if absent */
  /* Header values, each whole or "" (absent, or too long to keep whole). */
  char etag[GSR__ETAG_MAX];
  char goog_hash[160];
  char content_type[128];
  char last_modified[64];
};

enum gsr__method { GSR__GET = 0, GSR__HEAD = 1 };

/* Called on the I/O thread once the final response's headers are in, before
 * any body byte is stored; returns GSR_OK or a status (set in req->err) to
 * abort the transfer. Used to check the pinned version. */
typedef int (*gsr__headers_cb)(struct gsr__request *req, void *arg);

/* One HTTP exchange. The submitter fills the inputs, then the request
 * belongs to the transport until its completion counts it done. */
struct gsr__request {
  /* Inputs. */
  enum gsr__method method;
  char *url;                  /* owned; freed by gsr__request_cleanup */
  struct curl_slist *headers; /* owned */
  int has_range;
  uint64_t range_first; /* Range: bytes=first-(first+range_len-1) */
  uint64_t range_len;
  /* Where the body lands, range_len bytes, with no intermediate buffer:
   * its segments (holes dropped), their CRC32Cs and checkpoints written
   * as bytes land, before the progress that covers them is published.
   * Its arrays are the submitter's until the completion is done. No
   * segments (n 0): the body is kept in `body` (<= body_max). */
  struct gsr__dst dst;
  size_t body_max;
  gsr__headers_cb on_headers;
  void *on_headers_arg;
  struct gsr__completion *completion;
  /* Redirects (301, 302, 303, 307, 308) this request may follow, one hop
   * at a time (gsr__redirect_decide); 0: none, a redirect is an error
   * naming its Location. http(s) only: gs:// requests never follow. */
  int max_redirects; /* at most GSR__MAX_REDIRECTS */
  /* A body cut short is not resumed (nothing pins the version the rest
   * would come from): the request fails once bytes arrived. */
  int no_resume;
  /* If set, every body byte received for the range (stored, sunk, or
   * past it) is added to these as it arrives: bytes_fetched. */
  atomic_uint_fast64_t *rx_count[2];
  /* If set, each HTTP request this one puts on the wire adds 1 to these:
   * requests. Counted when libcurl has a connection for it and is about to
   * send it, so the first attempt, every retry and every redirect hop
   * count once each, and an attempt canceled or refused a connection
   * before it was sent does not. */
  atomic_uint_fast64_t *tx_count[2];

  /* Outputs, valid once the completion counted this request done. */
  struct gsr__response resp;
  char *body; /* NUL-terminated; error bodies too */
  size_t body_len, body_cap;
  uint64_t received; /* body bytes stored in dst (io thread) */
  uint64_t excess;   /* body bytes past the range (io thread) */
  /* The URLs visited, hops[0] the first, once a redirect was followed
   * (url is then the last); NULL before. */
  char **hops;
  int n_hops;
  /* Published copy of received, so a reader may use the bytes that have
   * arrived while the rest still streams in (see gsr__request_wait_bytes_for);
   * the range's last byte only once the body ended there. */
  atomic_uint_fast64_t progress;
  atomic_uint_fast64_t want; /* a waiter wants this many bytes; 0: none */
  struct gsr__error err;
  uint64_t first_byte_ns; /* when the first body byte landed */
  uint64_t done_ns;       /* when it completed (set before the completion
                           * counts it) */

  /* Transport-private. */
  _Atomic(struct gsr__loop *) loop; /* the thread it was last handed to */
  atomic_int cancel;
  int sink;
  /* gsr__request_set_range's one segment and its CRC32C (dst's arrays:
   * a request is not moved once set). */
  struct gsr__iov one;
  uint32_t one_crc;
  int attempts;              /* attempts started */
  uint64_t attempt_received; /* received when this attempt started */
  int retryable;             /* the last failure may be retried */
  int hop_pending;           /* the next start follows a redirect */
  uint64_t first_start_ns;   /* when the first attempt started */
  uint64_t due_ns;           /* when a delayed retry may start */
  /* When this attempt last received a byte (header or body); 0 until the
   * first one. The I/O thread's stall watchdog reads it. */
  uint64_t last_rx_ns;
  /* The minimum rate (abort_stalled): bytes (headers and body) this
   * attempt received, and when and at what count the current window of
   * stall_timeout_ms began. */
  uint64_t attempt_rx, win_start_ns, win_rx;
  int errbody_cut;    /* the error text was full: the transfer was stopped */
  char curl_err[256]; /* CURL_ERROR_SIZE */
  void *easy;
  struct gsr__request *next, *prev;
};

/* Initializes req (zeroes it; url is copied). Returns GSR_OK or
 * GSR_ENOMEM. */
int gsr__request_init(struct gsr__request *req, enum gsr__method method,
                      const char *url);
/* Appends "Name: value" to the request headers. GSR_OK or GSR_ENOMEM. */
int gsr__request_add_header(struct gsr__request *req, const char *line);
/* Asks bytes [first, first+len) into dst (NULL: none yet), its CRC32C
 * kept. */
void gsr__request_set_range(struct gsr__request *req, uint64_t first,
                            uint64_t len, void *dst);
/* Asks bytes [first, first+dst->len) into dst (its arrays the caller's
 * until the completion counted the request done). */
void gsr__request_set_range_dst(struct gsr__request *req, uint64_t first,
                                const struct gsr__dst *dst);
void gsr__request_cleanup(struct gsr__request *req);
/* The server's error text from an error body: GCS's JSON error.message,
 * else the body's first line; "" if none. Writes at most n bytes. */
void gsr__request_server_message(const struct gsr__request *req, char *out,
                                 size_t n);

/* Retries of transient failures (connection errors, timeouts, 408, 429,
 * 500, 502, 503, 504, bodies cut short). */
struct gsr__retry_policy {
  long initial_ms;   /* first backoff cap */
  double multiplier; /* cap growth per attempt */
  long max_delay_ms; /* backoff cap limit */
  int max_attempts;  /* attempts in all, the first included */
  long deadline_ms;  /* no retry starts later than this after the first */
};

/* 1 if an attempt that failed after receiving got bytes, with left still
 * to come when it started, made the progress that renews the retry budget:
 * 64 KiB, or all that was left. A trickle (a byte per connection, then a
 * close) does not, so its retries run out. */
int gsr__retry_progress_renews(uint64_t got, uint64_t left);
int gsr__retry_http_transient(long status);
int gsr__retry_curl_transient(int curl_code);
/* Has the easy handle (a CURL *) open its sockets as the library's own
 * descriptors: close-on-exec, never fds 0-2 (gsr__fd_own). 0 or -1. */
int gsr__curl_own_sockets(void *easy);
/* The gsr status for a failed libcurl transfer (CURLcode). */
int gsr__status_for_curl(int curl_code);
/* Delay before attempt number `attempt` (2 = the first retry): uniform in
 * [0, min(max, initial * multiplier^(attempt-2))], and at least
 * Retry-After. */
long gsr__retry_delay_ms(const struct gsr__retry_policy *p, int attempt,
                         long retry_after_s, uint64_t *rng);
uint64_t gsr__retry_rand(uint64_t *state);
/* When a retry delay_ms from now_ns would start: 1 and *due_ns if that is
 * within the policy's deadline after the first attempt (first_ns), else 0.
 * Saturates instead of wrapping, so a huge deadline means no deadline. */
int gsr__retry_due(const struct gsr__retry_policy *p, uint64_t first_ns,
                   uint64_t now_ns, long delay_ms, uint64_t *due_ns);

struct gsr__transport;

struct gsr__transport_config {
  const char *user_agent;
  const char *ca_bundle;
  long connect_timeout_ms;
  long stall_timeout_ms;
  long request_timeout_ms;
  int max_connections; /* in all, shared out among the threads */
  int io_threads;      /* threads (gsr__io_threads); 0: one */
  struct gsr__retry_policy retry;
  void (*trace)(void *arg, const char *line); /* may be NULL */
  void *trace_arg;
  /* Called on each I/O thread about once a second, busy or not (may be
   * NULL): the client's housekeeping, the buffer pool's idle release. */
  void (*tick)(void *arg);
  void *tick_arg;
};

/* Counters over the transport's life. */
struct gsr__transport_stats {
  uint64_t retries; /* attempts after the first */
  uint64_t resumes; /* ... that continued a body from where it broke */
};
void gsr__transport_stats_get(struct gsr__transport *t,
                              struct gsr__transport_stats *out);

/* About this many busy connections per I/O thread by default. */
#define GSR__CONNS_PER_THREAD 4
/* How many I/O threads a client runs (pure): `option` if > 0, else one
 * per GSR__CONNS_PER_THREAD of `connections`, at most `cpus` (the CPUs
 * this process may use; < 1: no bound); never more than `connections`,
 * at least 1. */
int gsr__io_threads(int option, int cpus, int connections);
/* Thread i's share of `connections` among n (they sum to connections). */
int gsr__loop_connections(int connections, int n, int i);
/* The number of I/O threads t runs. */
int gsr__transport_threads(const struct gsr__transport *t);
/* Thread i's requests: handed to it over its life, and in flight now
 * (submitted, not completed: each completes once, so it returns to 0). */
void gsr__transport_thread_load(struct gsr__transport *t, int i,
                                uint64_t *submitted, int *in_flight);

int gsr__transport_new(const struct gsr__transport_config *cfg,
                       struct gsr__transport **out);
/* Cancels whatever is in flight, stops and joins the I/O threads. */
void gsr__transport_free(struct gsr__transport *t);
/* Hands req to the least-loaded I/O thread. Thread-safe. On failure
 * (GSR_ECLOSED when the transport is stopping) the request's completion is NOT
 * counted. */
int gsr__transport_submit(struct gsr__transport *t, struct gsr__request *req);
/* Asks the I/O thread to abort req; its completion then counts it with
 * GSR_ECANCELED unless it already completed. Thread-safe; idempotent. */
void gsr__transport_cancel(struct gsr__transport *t, struct gsr__request *req);
/* Blocks until req has stored at least n body bytes, or completed, or
 * timeout_ms passed (< 0: no limit); its completion's mutex and condition
 * variable are used, so the completion must hold this one request. Returns the
 * bytes stored so far. */
uint64_t gsr__request_wait_bytes_for(struct gsr__request *req, uint64_t n,
                                     long timeout_ms);

/* Publishes n as the body bytes stored (progress) and wakes a waiter that
 * wants no more than that: for whoever lands the bytes (the I/O thread,
 * a backend's own stream). */
void gsr__request_show(struct gsr__request *req, uint64_t n);

/* CRC32C of the body bytes stored so far (the segments' CRCs combined;
 * 0 if dst keeps none). */
uint32_t gsr__request_crc(const struct gsr__request *req);

/* Submits one request and waits for it. Returns its status (message set
 * for this thread on failure). */
int gsr__transport_run(struct gsr__transport *t, struct gsr__request *req);

/* ---- redirect.c: redirects, one decision per hop (pure). */
#define GSR__MAX_REDIRECTS 50 /* the most gsr_client_options allows */
/* 1 for the statuses followed: 301, 302, 303, 307, 308. */
int gsr__redirect_status(long status);
/* 1 if a and b have the same scheme, host and port (default ports
 * filled in); 0 otherwise, or if either does not parse. */
int gsr__same_origin(const char *a, const char *b);
enum gsr__hop {
  GSR__HOP_FOLLOW,      /* take it (*cross: to another origin) */
  GSR__HOP_NO_LOCATION, /* no usable Location */
  GSR__HOP_OFF,         /* redirects are not followed (max 0) */
  GSR__HOP_SCHEME,      /* Location is not http(s) */
  GSR__HOP_LOOP,        /* Location was visited already */
  GSR__HOP_TOO_MANY     /* max hops taken already */
};
/* One redirect: hops[0..n) are the URLs visited (n >= 1, the last one
 * answered the redirect), to its Location resolved (NULL: none), max the
 * redirects allowed. */
enum gsr__hop gsr__redirect_decide(const char *const *hops, int n,
                                   const char *to, int max, int *cross);
/* 1 if a request header ("Name: value") may go along a hop to another
 * origin. */
int gsr__redirect_keeps_header(const char *line);
/* url without user name and password (gsr__malloc'd), or NULL (bad URL,
 * out of memory). */
char *gsr__url_strip_userinfo(const char *url);
/* "A -> B -> C" into out (n bytes), each URL shortened in the middle and
 * control bytes escaped, so that the text fits. */
void gsr__hops_text(char *out, size_t n, const char *const *hops, int count);

/* ---- http_parse.c: pure parsers, unit-tested without a network. */
/* Parses "bytes first-last/total" (total may be '*'). Returns 0 or -1. */
int gsr__parse_content_range(const char *v, uint64_t *first, uint64_t *last,
                             uint64_t *total);
/* Parses one header line into resp (status line resets resp). Returns 1 if
 * it was the blank line ending a header block, else 0. */
int gsr__parse_header_line(struct gsr__response *resp, const char *line,
                           size_t len);
void gsr__response_reset(struct gsr__response *resp);

#endif /* GSR_TRANSPORT_H */
