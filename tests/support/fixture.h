/* The integration tests' shared fixture: a server started for the test
 * program (the nginx GCS stand-in, the hostile evil-server, or none: a
 * temp dir for file:// objects), its objects put, a client at it with the
 * usual options, and all of it torn down. Each program has one fixture,
 * `fx`, made after its `fx_spec` by its cmocka group setup (fx_group_setup,
 * or its own that calls fx_setup) and torn down by its group teardown
 * (fx_teardown); tests reach the server as fx.srv and the shared client as
 * fx.client. testsrv.h is the layer below.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_FIXTURE_H
#define GSR_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "gsread.h"
#include "testsrv.h"

enum fx_server_kind {
  FX_GCS,   /* tests/server's nginx stand-in (ts_server_start) */
  FX_EVIL,  /* tests/server/evil-server (ts_evil_start) */
  FX_LOCAL, /* no server: objects are files under fx.srv.data */
};

/* The objects of a spec: an array a[] (of static storage) and its length. */
#define FX_OBJECTS(a) .objects = (a), .n_objects = sizeof(a) / sizeof((a)[0])

/* What a program's tests need. Zeroed fields take the usual values. */
struct fx_spec {
  enum fx_server_kind server;
  const char *profile; /* FX_GCS: "unshaped" if NULL, or "gcs" */
  int tls;             /* FX_GCS: serve https (fx.srv.ca_pem) */
  /* Objects to put in bucket: each gets pseudo-random bytes seeded
   * seed + its index (ts_put_objects); the fixture frees them. */
  const char *bucket;
  struct ts_object *objects;
  size_t n_objects;
  uint64_t seed;
  unsigned char **data; /* if set, gets the first object's bytes */
  int anonymous;        /* the usual options are anonymous */
  int client;           /* make fx.client (else the tests make their own) */
  int io_threads;       /* the usual options' io_threads, if not 0 */
  int connections;      /* the usual options' max_connections, if not 0 */
};

struct fx {
  const struct fx_spec *spec;
  struct ts_server srv;
  gsr_client *client; /* NULL unless spec.client; fx_teardown frees any */
};

extern struct fx fx;
/* The program's spec: each integration test defines it. */
extern const struct fx_spec fx_spec;

/* Starts the server, puts the objects, makes fx.client. Returns 0, or -1
 * (having printed why; the program fails, it never skips). spec must
 * outlive the fixture. */
int fx_setup(const struct fx_spec *spec);
/* fx_setup(&fx_spec), as a cmocka group setup. */
int fx_group_setup(void **state);
/* Frees fx.client, stops the server, removes its files, frees the
 * objects' bytes. Usable as a cmocka group teardown; returns 0. */
int fx_teardown(void **state);
/* The usual client options: defaults, the server's endpoint (none for
 * FX_LOCAL), its CA bundle with tls, anonymous, io_threads and
 * connections as the spec says. */
void fx_client_options(gsr_client_options *o);
/* gsr_client_new(o), failing the running test (with gsr_errmsg) if it
 * fails. o NULL: the usual options. The caller frees the client. */
gsr_client *fx_client(const gsr_client_options *o);
/* A client with the usual options and this debug trace. */
gsr_client *fx_client_traced(void (*trace)(void *arg, const char *line),
                             void *arg);
/* Writes text to path (replacing it); fails the running test if it
 * cannot. */
void fx_write_file(const char *path, const char *text);
/* The spec's object called name (its bytes put); fails the running test
 * if there is none. */
struct ts_object *fx_object(const char *name);
/* Checks gsr_pread(f, buf, len, off) against o's bytes: the bytes of
 * [off, off + len) that o has (none at or past its end), and nothing
 * more; fails the running test if not. buf holds len bytes. */
void fx_check_pread(gsr_file f, const struct ts_object *o, uint64_t off,
                    size_t len, unsigned char *buf);
/* gsr_sendfile of all of f into a temp file (removed), checked against
 * o's bytes; fails the running test if not. */
void fx_check_sendfile(gsr_file f, const struct ts_object *o);
/* Checks that q[0..n), the media GETs of a read, each came whole and
 * together tile [from, end) in order; fails the running test if not. */
void fx_check_tiling(const struct ts_media_req *q, int n, uint64_t from,
                     uint64_t end);
/* "gs://bucket/name" (FX_LOCAL: "file://" its path) into out. */
void fx_url(const char *bucket, const char *name, char *out, size_t n);
/* Runs fn on n threads at once, the i-th given (char *)args + i * size
 * (args: an array of n arguments), and waits for them all; fails the
 * running test if one cannot start. n is at most FX_MAX_THREADS. */
#define FX_MAX_THREADS 64
void fx_run_threads(int n, void *(*fn)(void *), void *args, size_t size);
/* fx_run_threads on each element of the array args[n]. */
#define FX_RUN_THREADS(n, fn, args) \
  fx_run_threads(n, fn, args, sizeof((args)[0]))

#endif
