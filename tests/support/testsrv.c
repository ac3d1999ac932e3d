/* Test support for the local GCS server; see testsrv.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testsrv.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GSR_SOURCE_DIR
#error "GSR_SOURCE_DIR must be defined"
#endif
#define SCRIPT GSR_SOURCE_DIR "/tests/server/gcs-server"
#define EVIL_SCRIPT GSR_SOURCE_DIR "/tests/server/evil-server"

/* Servers started and not yet stopped. A test program whose setup fails
 * halfway never reaches its teardown; this stops what it left running
 * when the program exits, whatever the path. */
#define MAX_LIVE 8
static struct ts_server *live[MAX_LIVE];

static void stop_live_servers(void) {
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] != NULL) ts_server_stop(live[i]);
}

static void track_live(struct ts_server *s) {
  static int hooked;
  if (!hooked) hooked = atexit(stop_live_servers) == 0;
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] == NULL || live[i] == s) {
      live[i] = s;
      return;
    }
}

static void untrack_live(struct ts_server *s) {
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] == s) live[i] = NULL;
}

/* Makes the temp dir root (prefix-XXXXXX) with data/ and state/. */
static int make_root(struct ts_server *s, const char *prefix) {
  memset(s, 0, sizeof(*s));
  snprintf(s->root, sizeof(s->root), "/tmp/%s-XXXXXX", prefix);
  if (mkdtemp(s->root) == NULL) {
    perror("mkdtemp");
    s->root[0] = '\0';
    return -1;
  }
  track_live(s); /* from here on there is something to stop */
  snprintf(s->data, sizeof(s->data), "%s/data", s->root);
  snprintf(s->state, sizeof(s->state), "%s/state", s->root);
  mkdir(s->data, 0755);
  mkdir(s->state, 0755);
  return 0;
}

int ts_dir_start(struct ts_server *s, const char *prefix) {
  if (make_root(s, prefix) != 0) return -1;
  s->not_nginx = 1;
  return 0;
}

int ts_server_start(struct ts_server *s, const char *profile, int tls) {
  char cmd[1024];
  if (make_root(s, "gsread-test") != 0) return -1;
  snprintf(cmd, sizeof(cmd), "%s start --data %s --state %s --profile %s%s",
           SCRIPT, s->data, s->state, profile, tls ? " --tls" : "");
  FILE *p = popen(cmd, "r");
  if (p == NULL || fgets(s->endpoint, sizeof(s->endpoint), p) == NULL) {
    fprintf(stderr, "testsrv: '%s' failed to start the server\n", cmd);
    if (p) pclose(p);
    ts_server_stop(s);
    return -1;
  }
  s->endpoint[strcspn(s->endpoint, "\r\n")] = '\0';
  if (pclose(p) != 0 || strncmp(s->endpoint, "http", 4) != 0) {
    fprintf(stderr, "testsrv: server start failed (%s)\n", s->endpoint);
    ts_server_stop(s);
    return -1;
  }
  snprintf(s->ca_pem, sizeof(s->ca_pem), "%s/ca.pem", s->state);
  return 0;
}

int ts_evil_start(struct ts_server *s) {
  char port_file[400], log[400];
  if (make_root(s, "gsread-hostile") != 0) return -1;
  snprintf(port_file, sizeof(port_file), "%s/port", s->state);
  snprintf(log, sizeof(log), "%s/requests.log", s->state);
  s->not_nginx = 1;
  pid_t pid = fork();
  if (pid < 0) {
    ts_server_stop(s);
    return -1;
  }
  if (pid == 0) {
    /* It goes with this program, even one killed by its alarm, and keeps
     * no pipe of ctest's open. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execl("/usr/bin/python3", "python3", EVIL_SCRIPT, "--port-file", port_file,
          "--log", log, "--max-seconds", "280", (char *)NULL);
    _exit(127);
  }
  s->pid = (int)pid;
  for (int i = 0; i < 200; i++) { /* up to 10 s */
    FILE *f = fopen(port_file, "r");
    if (f != NULL) {
      int ok = fgets(s->endpoint, sizeof(s->endpoint), f) != NULL;
      fclose(f);
      s->endpoint[strcspn(s->endpoint, "\n")] = '\0';
      if (ok) return 0;
    }
    usleep(50 * 1000);
  }
  fprintf(stderr, "testsrv: evil-server did not start\n");
  ts_server_stop(s);
  return -1;
}

void ts_server_stop_command(struct ts_server *s, char *out, size_t n) {
  snprintf(out, n, "%s stop --state %s >/dev/null 2>&1; rm -rf %s", SCRIPT,
           s->state, s->root);
}

void ts_server_stop(struct ts_server *s) {
  char cmd[1024];
  if (s->root[0] == '\0') return;
  if (s->pid > 0) { /* the evil-server */
    kill((pid_t)s->pid, SIGKILL);
    waitpid((pid_t)s->pid, NULL, 0);
  }
  if (s->not_nginx)
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->root);
  else
    ts_server_stop_command(s, cmd, sizeof(cmd));
  if (system(cmd) != 0) fprintf(stderr, "testsrv: stop failed\n");
  s->root[0] = '\0';
  s->pid = 0;
  untrack_live(s);
}

/* mkdir -p for the directories of path. */
static void make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(path, 0755);
    *p = '/';
  }
}

int ts_put(struct ts_server *s, const char *bucket, const char *name,
           const void *data, size_t len) {
  char path[2048], tmp[2100];
  snprintf(path, sizeof(path), "%s/%s/%s", s->data, bucket, name);
  snprintf(tmp, sizeof(tmp), "%s/%s/.tmp-%d", s->data, bucket, (int)getpid());
  make_parents(path);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) return -1;
  if (len > 0 && fwrite(data, 1, len, f) != len) {
    fclose(f);
    return -1;
  }
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

int ts_corrupt_in_place(struct ts_server *s, const char *bucket,
                        const char *name, long at) {
  char path[2048];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/%s/%s", s->data, bucket, name);
  if (stat(path, &sb) != 0) return -1;
  FILE *f = fopen(path, "r+b");
  if (f == NULL) return -1;
  int c = fseek(f, at, SEEK_SET) == 0 ? fgetc(f) : EOF;
  int ok = c != EOF && fseek(f, at, SEEK_SET) == 0 && fputc(c ^ 0x5a, f) != EOF;
  if (fclose(f) != 0 || !ok) return -1;
  struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
  return utimensat(AT_FDCWD, path, ts, 0);
}

unsigned char *ts_random_bytes(size_t len, uint64_t seed) {
  unsigned char *b = malloc(len ? len : 1);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = (unsigned char)(x >> 24);
  }
  return b;
}

static size_t discard(char *p, size_t a, size_t b, void *u) {
  (void)p;
  (void)u;
  return a * b;
}

int ts_control(struct ts_server *s, const char *path) {
  char url[1024];
  long code = -1;
  snprintf(url, sizeof(url), "%s/_control/%s", s->endpoint, path);
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_pem);
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(e);
  return (int)code;
}

struct body_sink {
  char *out;
  size_t n, used;
};

static size_t keep(char *p, size_t a, size_t b, void *u) {
  struct body_sink *k = u;
  size_t len = a * b, room = k->n - 1 - k->used;
  size_t take = len < room ? len : room;
  memcpy(k->out + k->used, p, take);
  k->used += take;
  k->out[k->used] = '\0';
  return len;
}

int ts_control_body(struct ts_server *s, const char *path, char *out,
                    size_t n) {
  char url[1024];
  long code = -1;
  struct body_sink k = {out, n, 0};
  if (n == 0) return -1;
  out[0] = '\0';
  snprintf(url, sizeof(url), "%s/_control/%s", s->endpoint, path);
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
  curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_pem);
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(e);
  return (int)code;
}

long long ts_stats_get(const char *json, const char *key) {
  char pat[128];
  snprintf(pat, sizeof(pat), "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (p == NULL) return -1;
  return strtoll(p + strlen(pat), NULL, 10);
}

static FILE *open_log(struct ts_server *s) {
  char path[400];
  snprintf(path, sizeof(path), "%s/requests.log", s->state);
  return fopen(path, "r");
}

long ts_log_lines(struct ts_server *s) {
  FILE *f = open_log(s);
  long n = 0;
  int c;
  if (f == NULL) return 0;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n') n++;
  fclose(f);
  return n;
}

int ts_log_line(struct ts_server *s, long k, char *out, size_t n) {
  FILE *f = open_log(s);
  char line[8192];
  int rc = -1;
  if (f == NULL) return -1;
  for (long i = 0; fgets(line, sizeof(line), f) != NULL; i++)
    if (i == k) {
      snprintf(out, n, "%s", line);
      rc = 0;
      break;
    }
  fclose(f);
  return rc;
}

static double num_after(const char *line, const char *key) {
  const char *p = strstr(line, key);
  return p ? atof(p + strlen(key)) : -1;
}

int ts_media_log(struct ts_server *s, long from, struct ts_media_req *out,
                 int max) {
  char line[8192];
  int n = 0;
  for (long k = from; n < max && ts_log_line(s, k, line, sizeof line) == 0;
       k++) {
    if (strstr(line, "\"kind\":\"media\"") == NULL) continue;
    const char *r = strstr(line, "\"range\":\"bytes=");
    unsigned long long a = 0, b = 0;
    if (r == NULL || sscanf(r + 15, "%llu-%llu", &a, &b) != 2) continue;
    struct ts_media_req *q = &out[n++];
    q->first = a;
    q->last = b;
    q->sent = (uint64_t)num_after(line, "\"body_bytes_sent\":");
    q->status = (int)num_after(line, "\"status\":");
    q->connection = (long)num_after(line, "\"connection\":");
    q->on_connection = (long)num_after(line, "\"connection_requests\":");
    q->end = num_after(line, "\"msec\":");
    q->start = q->end - num_after(line, "\"request_time\":");
  }
  return n;
}

long ts_log_quiet(struct ts_server *s, int quiet_ms) {
  long n = ts_log_lines(s), m;
  for (;;) {
    usleep((useconds_t)quiet_ms * 1000);
    if ((m = ts_log_lines(s)) == n) return n;
    n = m;
  }
}

void ts_http_url(struct ts_server *s, const char *bucket, const char *name,
                 char *out, size_t n) {
  snprintf(out, n, "%s/http/%s/%s", s->endpoint, bucket, name);
}

int ts_put_objects(struct ts_server *s, const char *bucket, struct ts_object *o,
                   size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    o[i].data = ts_random_bytes(o[i].size, seed + i);
    if (o[i].data == NULL ||
        ts_put(s, bucket, o[i].name, o[i].data, o[i].size) != 0)
      return -1;
  }
  return 0;
}

void ts_free_objects(struct ts_object *o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(o[i].data);
    o[i].data = NULL;
  }
}

struct ts_object *ts_find_object(struct ts_object *o, size_t n,
                                 const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(o[i].name, name) == 0) return &o[i];
  return NULL;
}

int ts_media_max_overlap(const struct ts_media_req *q, int n) {
  int best = 0;
  for (int i = 0; i < n; i++) {
    int at = 0; /* requests running when q[i] started */
    for (int j = 0; j < n; j++)
      if (q[j].start <= q[i].start + 0.0005 && q[j].end > q[i].start + 0.0015)
        at++;
    if (at > best) best = at;
  }
  return best;
}
