/* Requests (one HTTP exchange) and completions (what a caller waits on).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "transport/transport.h"

int gsr__completion_init(struct gsr__completion *f, int parts) {
  memset(f, 0, sizeof(*f));
  if (pthread_mutex_init(&f->mu, NULL) != 0)
    return gsr__err(GSR_ENOMEM, "cannot create a mutex");
  if (pthread_cond_init(&f->cv, NULL) != 0) {
    pthread_mutex_destroy(&f->mu);
    return gsr__err(GSR_ENOMEM, "cannot create a condition variable");
  }
  f->pending = parts;
  return GSR_OK;
}

void gsr__completion_destroy(struct gsr__completion *f) {
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
}

void gsr__completion_done(struct gsr__completion *f,
                          const struct gsr__error *e) {
  pthread_mutex_lock(&f->mu);
  assert(f->pending > 0); /* each request counts itself exactly once */
  if (e->status != GSR_OK && f->err.status == GSR_OK) f->err = *e;
  if (--f->pending == 0) pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

int gsr__completion_wait(struct gsr__completion *f) {
  pthread_mutex_lock(&f->mu);
  while (f->pending > 0) pthread_cond_wait(&f->cv, &f->mu);
  int status = f->err.status;
  pthread_mutex_unlock(&f->mu);
  return status;
}

int gsr__request_init(struct gsr__request *req, enum gsr__method method,
                      const char *url) {
  memset(req, 0, sizeof(*req));
  req->method = method;
  req->body_max = 64 * 1024;
  gsr__response_reset(&req->resp);
  req->url = gsr__strdup(url);
  if (req->url == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  return GSR_OK;
}

int gsr__request_add_header(struct gsr__request *req, const char *line) {
  /* curl_slist_append allocates outside gsr__malloc; count it as one
   * allocation point for the torture test all the same. */
  void *probe = gsr__malloc(1);
  if (probe == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  gsr__free(probe);
  struct curl_slist *l = curl_slist_append(req->headers, line);
  if (l == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  req->headers = l;
  return GSR_OK;
}

void gsr__request_set_range(struct gsr__request *req, uint64_t first,
                            uint64_t len, void *dst) {
  struct gsr__dst d;
  req->one = (struct gsr__iov){dst, (size_t)len};
  gsr__dst_set(&d, &req->one, dst != NULL, &req->one_crc);
  gsr__request_set_range_dst(req, first, &d);
  req->range_len = len; /* with no destination yet too */
}

void gsr__request_set_range_dst(struct gsr__request *req, uint64_t first,
                                const struct gsr__dst *dst) {
  gsr__dst_check(dst);
  req->has_range = 1;
  req->range_first = first;
  req->range_len = dst->len;
  req->dst = *dst;
}

void gsr__request_cleanup(struct gsr__request *req) {
  gsr__free(req->url);
  req->url = NULL;
  curl_slist_free_all(req->headers);
  req->headers = NULL;
  gsr__free(req->body);
  req->body = NULL;
  req->body_len = req->body_cap = 0;
  for (int i = 0; i < req->n_hops; i++) gsr__free(req->hops[i]);
  gsr__free(req->hops);
  req->hops = NULL;
  req->n_hops = 0;
}

/* Copies s (up to the first newline) into out, trimmed and escaped: a
 * server's text reaches gsr_errmsg, Python tracebacks and logs, where a raw
 * escape sequence would drive a terminal. */
static void first_line(const char *s, char *out, size_t n) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  gsr__escape(out, n, s, strcspn(s, "\r\n"));
}

void gsr__request_server_message(const struct gsr__request *req, char *out,
                                 size_t n) {
  out[0] = '\0';
  if (req->body == NULL || req->body_len == 0 || n == 0) return;
  struct json_object *root = json_tokener_parse(req->body), *e, *m;
  if (root != NULL && json_object_object_get_ex(root, "error", &e) &&
      json_object_object_get_ex(e, "message", &m) &&
      json_object_is_type(m, json_type_string)) {
    first_line(json_object_get_string(m), out, n);
  } else {
    first_line(req->body, out, n);
  }
  json_object_put(root);
}

uint32_t gsr__request_crc(const struct gsr__request *req) {
  return gsr__dst_crc(&req->dst, req->received);
}

void gsr__request_show(struct gsr__request *req, uint64_t n) {
  atomic_store(&req->progress, n);
  uint64_t want = atomic_load(&req->want);
  if (want != 0 && n >= want) {
    pthread_mutex_lock(&req->completion->mu);
    pthread_cond_broadcast(&req->completion->cv);
    pthread_mutex_unlock(&req->completion->mu);
  }
}

uint64_t gsr__request_wait_bytes_for(struct gsr__request *req, uint64_t n,
                                     long timeout_ms) {
  uint64_t got = atomic_load(&req->progress);
  if (got >= n) return got;
  struct gsr__completion *f = req->completion;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  if (timeout_ms >= 0) {
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
  }
  pthread_mutex_lock(&f->mu);
  /* The completion holds this one request (transport.h): the wakeup on
   * its condition variable is this request's. */
  assert(f->pending <= 1);
  atomic_store(&req->want, n);
  while ((got = atomic_load(&req->progress)) < n && f->pending > 0) {
    if (timeout_ms < 0)
      pthread_cond_wait(&f->cv, &f->mu);
    else if (pthread_cond_timedwait(&f->cv, &f->mu, &until) != 0)
      break;
  }
  atomic_store(&req->want, 0);
  pthread_mutex_unlock(&f->mu);
  return atomic_load(&req->progress);
}
