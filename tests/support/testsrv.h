/* Test support: start and stop the local GCS server (tests/server), put
 * objects in its data directory, turn its knobs, read its request log.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_TESTSRV_H
#define GSR_TESTSRV_H

#include <stddef.h>
#include <stdint.h>

struct ts_server {
  char root[256]; /* temp dir holding data/ and state/ */
  char data[300];
  char state[300];
  char endpoint[128]; /* http://127.0.0.1:PORT */
  char ca_pem[320];   /* with tls: the CA bundle */
  int pid;            /* ts_evil_start's server process, else 0 */
  int not_nginx;      /* ts_dir_start or ts_evil_start: no nginx to stop */
};

/* Starts a server ("gcs" or "unshaped" profile). Returns 0 or -1 (and
 * prints why: tests fail loudly, never skip). */
int ts_server_start(struct ts_server *s, const char *profile, int tls);
/* Starts tests/server/evil-server (a hostile HTTP server) with its log at
 * {state}/requests.log; it dies with this program. Returns 0 or -1. */
int ts_evil_start(struct ts_server *s);
/* No server: only the temp dir (root, data/, state/) named prefix-XXXXXX,
 * for objects read as local files. Returns 0 or -1. */
int ts_dir_start(struct ts_server *s, const char *prefix);
/* Stops any of the above and removes its files. */
void ts_server_stop(struct ts_server *s);
/* The shell command ts_server_stop runs (stop nginx, remove the files),
 * for a signal handler that can only exec it. */
void ts_server_stop_command(struct ts_server *s, char *out, size_t n);

/* Writes bucket/name (creating directories) atomically (temp + rename). */
int ts_put(struct ts_server *s, const char *bucket, const char *name,
           const void *data, size_t len);
/* Flips the byte at offset `at` of bucket/name in place and puts the
 * file's times back: the server keeps the same generation and the CRC32C
 * it cached for the good bytes, as a corrupted object (or a lying cache)
 * would. Returns 0 or -1. */
int ts_corrupt_in_place(struct ts_server *s, const char *bucket,
                        const char *name, long at);
/* Deterministic pseudo-random bytes. Caller frees. */
unsigned char *ts_random_bytes(size_t len, uint64_t seed);

/* A test's object: its name and size, and its bytes once put. */
struct ts_object {
  const char *name;
  size_t size;
  unsigned char *data;
};
/* Gives each of o[0..n) pseudo-random bytes (seeded seed + its index) and
 * puts it in bucket. Returns 0 or -1. */
int ts_put_objects(struct ts_server *s, const char *bucket, struct ts_object *o,
                   size_t n, uint64_t seed);
void ts_free_objects(struct ts_object *o, size_t n);
/* The object called name in o[0..n), or NULL. */
struct ts_object *ts_find_object(struct ts_object *o, size_t n,
                                 const char *name);

/* GET {endpoint}/_control/{path}; returns the HTTP status (or -1). */
int ts_control(struct ts_server *s, const char *path);
/* The same, keeping the answer's body (NUL-terminated, cut to n-1 bytes)
 * in out: for /_control/stats and /_control/config. */
int ts_control_body(struct ts_server *s, const char *path, char *out, size_t n);
/* A counter from a /_control/stats body: the number after "key": (the
 * first occurrence), or -1 if absent. */
long long ts_stats_get(const char *stats_json, const char *key);
/* Number of lines in the request log so far. */
long ts_log_lines(struct ts_server *s);
/* Copies log line k (0-based) into out; returns 0 or -1. */
int ts_log_line(struct ts_server *s, long k, char *out, size_t n);

/* A media request from the log: the Range asked, the body bytes the
 * server sent, when it started and ended (seconds), its status, the
 * server's serial number of its connection and its place on it (1 for
 * the connection's first request, counting every kind). */
struct ts_media_req {
  uint64_t first, last;
  uint64_t sent;
  double start, end;
  int status;
  long connection;
  long on_connection;
};
/* The ranged media requests logged from line `from` on (in the order they
 * ended), at most max; returns how many. */
int ts_media_log(struct ts_server *s, long from, struct ts_media_req *out,
                 int max);
/* The most of the n requests the server was serving at one moment. The
 * log has millisecond times: one that ended in the millisecond another
 * began is not counted as overlapping it. */
int ts_media_max_overlap(const struct ts_media_req *q, int n);
/* Waits until the log stopped growing for quiet_ms; returns its length. */
long ts_log_quiet(struct ts_server *s, int quiet_ms);
/* "gs://bucket/name" etc. into out. */
void ts_http_url(struct ts_server *s, const char *bucket, const char *name,
                 char *out, size_t n);

#endif
