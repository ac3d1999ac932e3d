/* Outcomes: what a finished transfer means (io.h, gsr__io_outcome): done,
 * a failure with its message, a retry (a body cut short resumes where it
 * broke), or a redirect hop to take. Runs on the request's I/O thread;
 * the loop (io_thread.c) acts on the verdict.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "transport/io.h"

/* A redirect's message: the URLs visited as text, and its Location. */
#define CHAIN_MAX 460
#define LOC_MAX 200

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
 * canceled: the cancel flag as the loop read it, once (see io.h). */
static void judge(struct gsr__request *req, CURLcode rc, const char *ebuf,
                  int canceled) {
  req->retryable = 0;
  if (req->err.status != GSR_OK) return; /* set by a callback: final */
  /* Bytes past the range are an error however the transfer ended (at the
   * body's end, cut, or canceled by a reader that had enough). */
  if (req->excess > 0) {
    gsr__io_set_too_long(req, req->excess, rc == CURLE_OK ? "" : "at least ");
    return;
  }
  if (canceled) {
    gsr__error_set(&req->err, GSR_ECANCELED, "%s %s: canceled",
                   gsr__io_method(req), req->url);
    return;
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && req->errbody_cut)) {
    req->retryable = gsr__retry_curl_transient(rc);
    gsr__error_set(&req->err, gsr__status_for_curl(rc), "%s %s: %s%s%s",
                   gsr__io_method(req), req->url, curl_easy_strerror(rc),
                   ebuf[0] ? ": " : "", ebuf);
    return;
  }
  long s = req->resp.status;
  if (s < 200 || s >= 300) {
    char text[256];
    req->retryable = gsr__retry_http_transient(s);
    gsr__request_server_message(req, text, sizeof(text));
    gsr__error_set(&req->err, status_for_http(s), "%s %s: HTTP %ld%s%s",
                   gsr__io_method(req), req->url, s, text[0] ? ": " : "", text);
    return;
  }
  req->retryable = 1; /* a body cut short: resume it */
  if (gsr__io_has_dst(req) && req->received != req->range_len)
    gsr__error_set(&req->err, GSR_EPROTO,
                   "GET %s: short body: got %llu of %llu bytes", req->url,
                   (unsigned long long)req->received,
                   (unsigned long long)req->range_len);
}

/* 1 if req's failure should be retried, and when (sets due_ns). */
static int decide_retry(const struct gsr__transport_config *cfg, uint64_t *rng,
                        struct gsr__request *req) {
  const struct gsr__retry_policy *p = &cfg->retry;
  if (!req->retryable || req->attempts >= p->max_attempts ||
      (req->no_resume && req->received > 0))
    return 0;
  long delay = gsr__retry_delay_ms(p, req->attempts + 1,
                                   req->resp.retry_after_s, rng);
  if (!gsr__retry_due(p, req->first_start_ns, gsr__now_ns(), delay,
                      &req->due_ns))
    return 0;
  if (cfg->trace != NULL) {
    char line[700];
    snprintf(line, sizeof(line),
             "retry in %ld ms (attempt %d, %llu bytes kept): %s", delay,
             req->attempts + 1, (unsigned long long)req->received,
             req->err.msg);
    cfg->trace(cfg->trace_arg, line);
  }
  return 1;
}

/* A transient failure that is final because retrying ran out: says so in
 * the message, so "HTTP 503" alone is not mistaken for a first attempt. */
static void note_gave_up(const struct gsr__retry_policy *p,
                         struct gsr__request *req) {
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

/* Sets req->err for a hop not taken (v, not GSR__HOP_FOLLOW), naming the
 * URLs visited, list[0..n), and its Location, to. */
static void refuse_hop(struct gsr__request *req, enum gsr__hop v,
                       const char **list, int n, const char *to) {
  char chain[CHAIN_MAX], loc[LOC_MAX];
  const char *m = gsr__io_method(req), *what;
  assert(v != GSR__HOP_FOLLOW);
  if (v == GSR__HOP_LOOP || v == GSR__HOP_TOO_MANY) {
    list[n] = to; /* name the hop refused too (list has room for it) */
    gsr__hops_text(chain, sizeof(chain), list, n + 1);
    if (v == GSR__HOP_LOOP)
      gsr__error_set(&req->err, GSR_EHTTP, "%s %s: redirect loop", m, chain);
    else
      gsr__error_set(&req->err, GSR_EHTTP,
                     "%s %s: too many redirects (more than %d)", m, chain,
                     req->max_redirects);
    return;
  }
  /* Room for the Location and the reason after the URL. */
  gsr__hops_text(chain, sizeof(chain) - sizeof(loc), list, n);
  if (v == GSR__HOP_NO_LOCATION) {
    gsr__error_set(&req->err, GSR_EHTTP,
                   "%s %s: HTTP %ld without a usable Location", m, chain,
                   req->resp.status);
    return;
  }
  what = v == GSR__HOP_OFF ? "not followed" : "not followed: not http or https";
  gsr__hops_text(loc, sizeof(loc), &to, 1);
  gsr__error_set(&req->err, GSR_EHTTP, "%s %s: HTTP %ld: redirect to %s (%s)",
                 m, chain, req->resp.status, loc, what);
}

/* Follows the hop to `to`: the list of hops, then the next URL (without a
 * user name and password when it is another origin's: cross). 1, or 0
 * with req->err set (out of memory; chain: the URLs visited, as text). */
static int follow_hop(struct gsr__request *req, const char *to, int cross,
                      const char *chain) {
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
                   gsr__io_method(req), chain);
    return 0;
  }
  /* gsr__redirect_decide refuses a hop past max_redirects: hops (max + 1
   * entries, the first URL's included) has room for this one. */
  assert(req->n_hops >= 1 && req->n_hops <= req->max_redirects);
  req->hops[req->n_hops++] = next;
  gsr__free(req->url);
  req->url = url;
  return 1;
}

static void trace_hop(const struct gsr__transport_config *cfg,
                      const struct gsr__request *req, int cross) {
  char line[600], loc[LOC_MAX];
  gsr__hops_text(loc, sizeof(loc), (const char *const *)&req->url, 1);
  snprintf(line, sizeof(line), "redirect %d of at most %d: HTTP %ld to %s%s",
           req->n_hops - 1, req->max_redirects, req->resp.status, loc,
           cross ? " (another origin: no credentials sent)" : "");
  cfg->trace(cfg->trace_arg, line);
}

/* req's response is a redirect: takes the hop (1: req->url is the next
 * URL, start it again) or sets req->err saying why not (0: final). Reads
 * the Location libcurl resolved from req->easy, which never follows one
 * itself. */
static int take_hop(const struct gsr__transport_config *cfg,
                    struct gsr__request *req) {
  const char *list[GSR__MAX_REDIRECTS + 2], *to = NULL;
  char chain[CHAIN_MAX - LOC_MAX]; /* as refuse_hop's beside a Location */
  int n = req->hops != NULL ? req->n_hops : 1, cross = 1;
  /* Each hop taken was at most the max_redirects-th (at most
   * GSR__MAX_REDIRECTS, the client's check): list has room for n URLs and
   * the one refused. */
  assert(req->max_redirects <= GSR__MAX_REDIRECTS &&
         n <= req->max_redirects + 1);
  req->retryable = 0;
  if (curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, (char **)&to) !=
      CURLE_OK)
    to = NULL;
  for (int i = 0; i < n; i++) list[i] = req->hops ? req->hops[i] : req->url;
  enum gsr__hop v = gsr__redirect_decide(list, n, to, req->max_redirects,
                                         &cross);
  if (v != GSR__HOP_FOLLOW) {
    refuse_hop(req, v, list, n, to);
    return 0;
  }
  gsr__hops_text(chain, sizeof(chain), list, n);
  if (!follow_hop(req, to, cross, chain)) return 0;
  if (cfg->trace != NULL) trace_hop(cfg, req, cross);
  return 1;
}

/* A body that broke after it made progress gets a fresh retry budget
 * (count and deadline), as the next block's request would: a large block
 * on a flaky link goes on while bytes come. Without progress, or with a
 * trickle (a byte per connection), it runs out as usual. */
static void renew_budget(struct gsr__request *req) {
  assert(req->received >= req->attempt_received); /* bytes stored stay */
  if (gsr__retry_progress_renews(req->received - req->attempt_received,
                                 req->range_len - req->attempt_received)) {
    req->attempts = 1;
    req->first_start_ns = gsr__now_ns();
  }
}

enum gsr__io_verdict gsr__io_outcome(const struct gsr__transport_config *cfg,
                                     uint64_t *rng, struct gsr__request *req,
                                     CURLcode rc, const char *ebuf,
                                     int canceled) {
  if (req->easy != NULL && !canceled && rc == CURLE_OK &&
      req->err.status == GSR_OK && gsr__redirect_status(req->resp.status) &&
      take_hop(cfg, req))
    return GSR__IO_HOP; /* the next URL, at once; a hop is not a retry */
  judge(req, rc, ebuf, canceled);
  if (req->err.status == GSR_OK) return GSR__IO_COMPLETE;
  renew_budget(req);
  if (!canceled && decide_retry(cfg, rng, req)) return GSR__IO_RETRY;
  if (req->retryable && req->attempts > 1) note_gave_up(&cfg->retry, req);
  return GSR__IO_COMPLETE;
}
