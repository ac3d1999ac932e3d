/* The integration tests' shared fixture; see fixture.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fixture.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct fx fx;

static int start_server(const struct fx_spec *sp) {
  switch (sp->server) {
  case FX_GCS:
    return ts_server_start(&fx.srv, sp->profile ? sp->profile : "unshaped",
                           sp->tls);
  case FX_EVIL:
    return ts_evil_start(&fx.srv);
  case FX_LOCAL:
    return ts_dir_start(&fx.srv, "gsread-test");
  }
  return -1;
}

int fx_setup(const struct fx_spec *spec) {
  memset(&fx, 0, sizeof(fx));
  fx.spec = spec;
  if (start_server(spec) != 0) return -1;
  if (spec->n_objects > 0 &&
      ts_put_objects(&fx.srv, spec->bucket, spec->objects, spec->n_objects,
                     spec->seed) != 0) {
    fprintf(stderr, "fixture: cannot put the objects in %s\n", fx.srv.data);
    return -1;
  }
  if (spec->data != NULL && spec->n_objects > 0)
    *spec->data = spec->objects[0].data;
  if (!spec->client) return 0;
  gsr_client_options o;
  fx_client_options(&o);
  if (gsr_client_new(&o, &fx.client) != GSR_OK) {
    fprintf(stderr, "fixture: gsr_client_new: %s\n", gsr_errmsg());
    return -1;
  }
  return 0;
}

int fx_group_setup(void **state) {
  (void)state;
  return fx_setup(&fx_spec);
}

int fx_teardown(void **state) {
  (void)state;
  gsr_client_free(fx.client);
  fx.client = NULL;
  ts_server_stop(&fx.srv);
  if (fx.spec != NULL && fx.spec->objects != NULL)
    ts_free_objects(fx.spec->objects, fx.spec->n_objects);
  return 0;
}

void fx_client_options(gsr_client_options *o) {
  const struct fx_spec *sp = fx.spec;
  gsr_client_options_init(o);
  if (sp->server != FX_LOCAL) o->endpoint = fx.srv.endpoint;
  if (sp->tls) o->ca_bundle = fx.srv.ca_pem;
  o->anonymous = sp->anonymous;
  if (sp->io_threads) o->io_threads = sp->io_threads;
  if (sp->connections) o->max_connections = sp->connections;
}

gsr_client *fx_client(const gsr_client_options *o) {
  gsr_client_options usual;
  gsr_client *c = NULL;
  if (o == NULL) {
    fx_client_options(&usual);
    o = &usual;
  }
  int s = gsr_client_new(o, &c);
  if (s != GSR_OK)
    fail_msg("gsr_client_new: %s: %s", gsr_strerror(s), gsr_errmsg());
  return c;
}

gsr_client *fx_client_traced(void (*trace)(void *arg, const char *line),
                             void *arg) {
  gsr_client_options o;
  fx_client_options(&o);
  o.trace = trace;
  o.trace_arg = arg;
  return fx_client(&o);
}

void fx_write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  if (fp == NULL) fail_msg("cannot write %s", path);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

struct ts_object *fx_object(const char *name) {
  struct ts_object *o = ts_find_object(fx.spec->objects, fx.spec->n_objects,
                                       name);
  if (o == NULL) fail_msg("no object %s", name);
  return o;
}

void fx_url(const char *bucket, const char *name, char *out, size_t n) {
  if (fx.spec->server == FX_LOCAL)
    snprintf(out, n, "file://%s/%s/%s", fx.srv.data, bucket, name);
  else
    snprintf(out, n, "gs://%s/%s", bucket, name);
}

void fx_run_threads(int n, void *(*fn)(void *), void *args, size_t size) {
  pthread_t t[FX_MAX_THREADS];
  assert_true(n >= 0 && n <= FX_MAX_THREADS);
  for (int i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * size) != 0)
      fail_msg("thread %d of %d did not start", i, n);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

void fx_check_pread(gsr_file f, const struct ts_object *o, uint64_t off,
                    size_t len, unsigned char *buf) {
  int64_t n = gsr_pread(f, buf, len, (int64_t)off);
  size_t want = off >= o->size ? 0
                               : (len < o->size - off ? len : o->size - off);
  if (n != (int64_t)want)
    fail_msg("pread %llu+%zu: %lld (%s)", (unsigned long long)off, len,
             (long long)n, gsr_errmsg());
  if (want && memcmp(buf, o->data + off, want) != 0)
    fail_msg("wrong bytes at %llu+%zu", (unsigned long long)off, len);
}

void fx_check_tiling(const struct ts_media_req *q, int n, uint64_t from,
                     uint64_t end) {
  uint64_t next = from;
  for (int i = 0; i < n; i++) {
    if (q[i].first != next || q[i].sent != q[i].last - q[i].first + 1)
      fail_msg("request %d: %llu-%llu (sent %llu), want one from %llu", i,
               (unsigned long long)q[i].first, (unsigned long long)q[i].last,
               (unsigned long long)q[i].sent, (unsigned long long)next);
    next = q[i].last + 1;
  }
  if (next != end)
    fail_msg("the requests end at %llu, want %llu", (unsigned long long)next,
             (unsigned long long)end);
}

void fx_check_sendfile(gsr_file f, const struct ts_object *o) {
  char path[] = "/tmp/gsread-sendfile-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  uint64_t written = 0;
  if (gsr_sendfile(f, fd, 0, UINT64_MAX, &written) != GSR_OK)
    fail_msg("sendfile: %s", gsr_errmsg());
  assert_int_equal(written, o->size);
  unsigned char *buf = malloc(o->size + 1);
  assert_non_null(buf);
  assert_int_equal(pread(fd, buf, o->size + 1, 0), o->size);
  assert_memory_equal(buf, o->data, o->size);
  free(buf);
  close(fd);
}
