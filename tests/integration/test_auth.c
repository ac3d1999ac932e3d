/* Credentials against the local server (all on 127.0.0.1): the server
 * requires a bearer token it issued; its /token location checks the
 * service-account JWT (RS256 signature against the key this test generates,
 * and the claims) or the refresh-token grant, and its /computeMetadata/
 * location stands in for the GCE metadata server. Covers every source of
 * the chain, refresh before expiry, one refresh + retry after a 401 (shared
 * by many readers), requester pays, bad key files, and that no secret ever
 * shows in gsr_errmsg() or a trace line.
 *
 * SPDX-License-Identifier: MIT
 */
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "auth-bucket"
#define SMALL_SIZE 100000
#define BIG_SIZE (12u * 1024 * 1024)
#define EMAIL "reader@test-project.iam.gserviceaccount.com"

static unsigned char *small_data, *big_data;
static char key_pem[400], other_pem[400];
static char sa_json[400], user_json[400], adc_dir[400];

/* ---- Trace capture: every line is kept and checked for secrets. */
static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
static char *trace_buf;
static size_t trace_len;

static void trace_cb(void *arg, const char *line) {
  (void)arg;
  size_t n = strlen(line);
  pthread_mutex_lock(&trace_mu);
  char *p = realloc(trace_buf, trace_len + n + 2);
  if (p != NULL) {
    trace_buf = p;
    memcpy(trace_buf + trace_len, line, n);
    trace_len += n;
    trace_buf[trace_len++] = '\n';
    trace_buf[trace_len] = '\0';
  }
  pthread_mutex_unlock(&trace_mu);
}

/* Nothing secret in text: issued tokens all start "ya29.", and the
 * authorized_user secrets and the key have fixed markers. */
static void assert_no_secret(const char *what, const char *text) {
  static const char *secrets[] = {"ya29.",
                                  "Bearer",
                                  "PRIVATE KEY",
                                  "test-refresh-token",
                                  "test-client-secret",
                                  "fixed-secret-token",
                                  "assertion="};
  if (text == NULL) return;
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
    if (strstr(text, secrets[i]) != NULL)
      fail_msg("%s contains a secret (%s): %s", what, secrets[i], text);
}

static void check_traces(void) {
  pthread_mutex_lock(&trace_mu);
  assert_no_secret("trace", trace_buf);
  pthread_mutex_unlock(&trace_mu);
}

/* ---- Helpers */

static size_t keep(char *p, size_t size, size_t n, void *arg) {
  char *out = arg;
  size_t have = strlen(out), len = size * n;
  if (have + len < 4096) {
    memcpy(out + have, p, len);
    out[have + len] = '\0';
  }
  return len;
}

/* GET /_control/path; the body in out (4096 bytes). */
static int control(const char *path, char *out) {
  char url[1024], dummy[4096];
  long code = -1;
  if (out == NULL) out = dummy;
  out[0] = '\0';
  snprintf(url, sizeof(url), "%s/_control/%s", fx.srv.endpoint, path);
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(e);
  return (int)code;
}

static long long stat_of(const char *key) {
  char body[4096], pat[128];
  assert_int_equal(control("stats", body), 200);
  snprintf(pat, sizeof(pat), "\"%s\":", key);
  const char *p = strstr(body, pat);
  if (p == NULL) fail_msg("no %s in stats: %s", key, body);
  return strtoll(p + strlen(pat), NULL, 10);
}

static void knob(const char *q) {
  char path[512];
  snprintf(path, sizeof(path), "config?%s", q);
  if (control(path, NULL) != 200) fail_msg("knob %s refused", q);
}

static void run(const char *cmd) {
  if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

/* Writes a service-account key file for the PEM key at pem. */
static void write_sa_json(const char *path, const char *pem,
                          const char *token_uri) {
  FILE *in = fopen(pem, "r"), *out = fopen(path, "w");
  assert_non_null(in);
  assert_non_null(out);
  fprintf(out, "{\"type\":\"service_account\",\"project_id\":\"test-project\","
               "\"private_key_id\":\"k1\",\"private_key\":\"");
  int c;
  while ((c = fgetc(in)) != EOF) {
    if (c == '\n')
      fputs("\\n", out);
    else
      fputc(c, out);
  }
  fprintf(out,
          "\",\"client_email\":\"" EMAIL "\",\"client_id\":\"1\","
          "\"token_uri\":\"%s\"}\n",
          token_uri);
  fclose(in);
  fclose(out);
}

/* A clean environment: no credentials anywhere unless a test sets one. */
static void clear_env(void) {
  unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  unsetenv("GSREAD_ACCESS_TOKEN");
  unsetenv("GSREAD_TOKEN_URI");
  unsetenv("GCE_METADATA_HOST");
  unsetenv("STORAGE_EMULATOR_HOST");
  unsetenv("CLOUDSDK_CONFIG");
  setenv("HOME", fx.srv.root, 1); /* no ~/.config/gcloud here */
}

static int reset(void **state) {
  (void)state;
  clear_env();
  if (control("reset", NULL) != 200 || control("revoke", NULL) != 200)
    return -1;
  knob("require_token=1");
  pthread_mutex_lock(&trace_mu);
  trace_len = 0;
  if (trace_buf) trace_buf[0] = '\0';
  pthread_mutex_unlock(&trace_mu);
  return 0;
}

/* A client of the test server; stall_ms 0 keeps the default watchdog. */
static gsr_client *client_with(const char *token, int anonymous,
                               const char *user_project, long stall_ms) {
  gsr_client_options o;
  fx_client_options(&o);
  o.access_token = token;
  o.anonymous = anonymous;
  o.user_project = user_project;
  o.trace = trace_cb;
  o.retry_max_attempts = 2;
  o.retry_initial_ms = 10;
  if (stall_ms > 0) o.stall_timeout_ms = stall_ms;
  return fx_client(&o);
}

static gsr_client *new_client(const char *token, int anonymous,
                              const char *user_project) {
  return client_with(token, anonymous, user_project, 0);
}

/* Opens and reads the small object whole; returns the status. */
static int read_small(gsr_client *c) {
  gsr_file f;
  unsigned char *buf = malloc(SMALL_SIZE);
  int s = gsr_open(c, "gs://" BUCKET "/small", NULL, &f);
  if (s == GSR_OK) {
    int64_t n = gsr_pread(f, buf, SMALL_SIZE, 0);
    s = n < 0 ? (int)n : GSR_OK;
    if (n >= 0) {
      assert_int_equal(n, SMALL_SIZE);
      assert_memory_equal(buf, small_data, SMALL_SIZE);
    }
    gsr_close(f);
  }
  assert_no_secret("gsr_errmsg", gsr_errmsg());
  free(buf);
  return s;
}

static void expect_ok(gsr_client *c) {
  int s = read_small(c);
  if (s != GSR_OK) fail_msg("read: %s: %s", gsr_strerror(s), gsr_errmsg());
}

static void info_of(gsr_client *c, gsr_auth_info *ai) {
  int s = gsr_client_auth_info(c, ai);
  if (s != GSR_OK) fail_msg("auth_info: %s: %s", gsr_strerror(s), gsr_errmsg());
}

/* c's credentials (into *ai) are of this kind, from this source. */
static void expect_auth(gsr_client *c, gsr_auth_info *ai, const char *kind,
                        const char *source) {
  info_of(c, ai);
  assert_string_equal(ai->kind, kind);
  assert_string_equal(ai->source, source);
}

/* ---- Tests */

static void test_anonymous_is_refused(void **state) {
  (void)state;
  gsr_client *c = new_client(NULL, 1, NULL);
  assert_int_equal(read_small(c), GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), "401"));
  gsr_auth_info ai;
  expect_auth(c, &ai, "anonymous", "option");
  gsr_client_free(c);
  /* Nothing configured at all: anonymous too, by default. */
  c = new_client(NULL, 0, NULL);
  expect_auth(c, &ai, "anonymous", "default");
  assert_int_equal(read_small(c), GSR_EAUTH);
  gsr_client_free(c);
  check_traces();
}

static void test_fixed_token(void **state) {
  (void)state;
  knob("fixed_token=fixed-secret-token");
  gsr_client *c = new_client("fixed-secret-token", 0, NULL);
  expect_ok(c);
  gsr_auth_info ai;
  expect_auth(c, &ai, "access_token", "option");
  assert_int_equal(ai.has_expiry, 0);
  gsr_client_free(c);

  setenv("GSREAD_ACCESS_TOKEN", "fixed-secret-token", 1);
  c = new_client(NULL, 0, NULL);
  expect_ok(c);
  info_of(c, &ai);
  assert_string_equal(ai.source, "GSREAD_ACCESS_TOKEN");
  /* A fixed token cannot be refreshed: a 401 is final, one request. */
  control("revoke", NULL);
  usleep(100000); /* earlier requests' log lines land first */
  long before = ts_log_lines(&fx.srv);
  assert_int_equal(read_small(c), GSR_EAUTH);
  usleep(50000);
  assert_int_equal(ts_log_lines(&fx.srv) - before, 1);
  gsr_client_free(c);
  check_traces();
}

static void test_service_account_key(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  knob("token_iss=" EMAIL);
  gsr_client *c = new_client(NULL, 0, NULL);
  expect_ok(c);
  expect_ok(c);
  gsr_auth_info ai;
  expect_auth(c, &ai, "service_account", "GOOGLE_APPLICATION_CREDENTIALS");
  assert_string_equal(ai.detail, sa_json);
  assert_string_equal(ai.account, EMAIL);
  assert_int_equal(ai.has_expiry, 1);
  assert_true(ai.remaining > 3500 && ai.remaining <= 3600);
  assert_int_equal(stat_of("tokens_issued"), 1); /* cached: one exchange */
  /* A large split read (parallel parts) with the same token. */
  gsr_file f;
  gsr_file_options fo;
  gsr_file_options_init(&fo);
  fo.concurrency = 4;
  fo.min_part_size = 1024 * 1024;
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/big", &fo, &f), GSR_OK);
  unsigned char *buf = malloc(BIG_SIZE);
  assert_int_equal(gsr_pread(f, buf, BIG_SIZE, 0), BIG_SIZE);
  assert_memory_equal(buf, big_data, BIG_SIZE);
  free(buf);
  gsr_close(f);
  assert_int_equal(stat_of("tokens_issued"), 1);
  gsr_client_free(c);
  check_traces();
}

static void test_refresh_before_expiry(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  knob("token_ttl=3");
  gsr_client *c = new_client(NULL, 0, NULL);
  gsr_file f;
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/small", NULL, &f), GSR_OK);
  unsigned char buf[4096];
  /* ~7 s of reads across two expiries: each token is replaced before it
   * runs out, so the server never refuses one. */
  for (int i = 0; i < 35; i++) {
    int64_t n = gsr_pread(f, buf, sizeof(buf), (int64_t)i * 100);
    if (n < 0) fail_msg("read %d: %s", i, gsr_errmsg());
    assert_memory_equal(buf, small_data + i * 100, sizeof(buf));
    usleep(200000);
  }
  gsr_close(f);
  assert_true(stat_of("tokens_issued") >= 3);
  assert_int_equal(stat_of("auth_failures"), 0);
  gsr_auth_info ai;
  info_of(c, &ai);
  assert_true(ai.remaining <= 3);
  gsr_client_free(c);
  check_traces();
}

struct reader_arg {
  gsr_file f;
  int status;
};

static void *reader(void *p) {
  struct reader_arg *a = p;
  unsigned char *buf = malloc(SMALL_SIZE);
  int64_t n = gsr_pread(a->f, buf, SMALL_SIZE, 0);
  a->status = n == SMALL_SIZE && memcmp(buf, small_data, SMALL_SIZE) == 0
                  ? GSR_OK
                  : (n < 0 ? (int)n : GSR_EIO);
  assert_no_secret("gsr_errmsg", gsr_errmsg());
  free(buf);
  return NULL;
}

static void test_401_refreshes_once_and_retries(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  gsr_client *c = new_client(NULL, 0, NULL);
  gsr_file f;
  assert_int_equal(gsr_open(c, "gs://" BUCKET "/small", NULL, &f), GSR_OK);
  assert_int_equal(stat_of("tokens_issued"), 1);
  /* Revoked behind the client's back: the next read gets a 401, refreshes
   * and succeeds on the retry. */
  control("revoke", NULL);
  struct reader_arg one = {f, -1};
  reader(&one);
  assert_int_equal(one.status, GSR_OK);
  assert_int_equal(stat_of("tokens_issued"), 2);
  assert_int_equal(stat_of("auth_failures"), 1);
  /* Eight readers hit the 401 together: they share one refresh. */
  control("revoke", NULL);
  struct reader_arg args[8];
  for (int i = 0; i < 8; i++) {
    args[i].f = f;
    args[i].status = -1;
  }
  FX_RUN_THREADS(8, reader, args);
  for (int i = 0; i < 8; i++) assert_int_equal(args[i].status, GSR_OK);
  assert_int_equal(stat_of("tokens_issued"), 3);
  gsr_close(f);
  /* The metadata GET of an open retries the same way. */
  control("revoke", NULL);
  expect_ok(c);
  assert_int_equal(stat_of("tokens_issued"), 4);
  gsr_client_free(c);
  check_traces();
}

/* A prefetched block (prefetch "sequential" on one connection) refused
 * before its first byte refreshes the token and is submitted again,
 * without the reader seeing the 401. */
/* Opens gs://BUCKET/name for the engine (prefetch "sequential" on one
 * connection). */
static gsr_file open_sequential(gsr_client *c, const char *name) {
  char url[200];
  gsr_file_options o;
  gsr_file f;
  gsr_file_options_init(&o);
  o.prefetch = "sequential";
  o.concurrency = 1;
  snprintf(url, sizeof(url), "gs://" BUCKET "/%s", name);
  assert_int_equal(gsr_open(c, url, &o, &f), GSR_OK);
  return f;
}

/* Reads f from `got` to its end (size bytes) into buf in 1 MiB calls and
 * checks the bytes against want. */
static void read_rest(gsr_file f, unsigned char *buf, int64_t got, int64_t size,
                      const unsigned char *want) {
  int64_t n = 1;
  while (n > 0 && got < size) {
    n = gsr_read(f, buf + got, 1 << 20);
    if (n < 0) fail_msg("read: %s", gsr_errmsg());
    got += n;
  }
  assert_int_equal(got, size);
  if (memcmp(buf, want, (size_t)size) != 0) fail_msg("wrong bytes");
}

static void test_401_on_a_block_refreshes_and_resubmits(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  gsr_client *c = new_client(NULL, 0, NULL);
  gsr_file f = open_sequential(c, "small");
  control("revoke", NULL);
  unsigned char *buf = malloc(SMALL_SIZE);
  read_rest(f, buf, 0, SMALL_SIZE, small_data);
  assert_int_equal(stat_of("tokens_issued"), 2);
  assert_int_equal(stat_of("auth_failures"), 1);
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  assert_int_equal(st.requests, 2); /* the refused block and its resubmission */
  gsr_close(f);
  free(buf);
  gsr_client_free(c);
  check_traces();
}

/* A block that stalls after 1 MiB (the server sleeps), with the token
 * revoked meanwhile: the stall watchdog's resumed attempt gets a 401; the
 * block refreshes the token and is fetched again into the same buffer,
 * the reader getting every byte once. */
static gsr_client *stall_client(void) {
  return client_with(NULL, 0, NULL, 1000);
}

/* The log since `base`: a resumed attempt refused, and a range that
 * holds it served with the new token. */
static void expect_resumed_after_401(long base) {
  struct ts_media_req q[8];
  ts_log_quiet(&fx.srv, 200);
  int n = ts_media_log(&fx.srv, base, q, 8);
  int refused = -1, served = -1;
  for (int i = 0; i < n; i++) {
    if (q[i].status == 401 && q[i].first > 0)
      refused = i;
    else if (q[i].status == 206 && refused >= 0 &&
             q[i].first <= q[refused].first && q[i].last >= q[refused].last)
      served = i;
  }
  if (served < 0)
    fail_msg("no refused resume followed by its range served (%d "
             "requests)",
             n);
}

static void test_401_on_a_resumed_block(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  gsr_client *c = stall_client();
  gsr_file f = open_sequential(c, "big");
  knob("fault_kind=stall&fault_on=media&cut_at=1048576&stall_ms=5000&"
       "fault_next=1");
  long base = ts_log_quiet(&fx.srv, 0);
  unsigned char *buf = malloc(BIG_SIZE);
  /* The first bytes come before the stall; the revoke lands during it
   * (the watchdog waits a second). */
  assert_int_equal(gsr_read(f, buf, 65536), 65536);
  control("revoke", NULL);
  read_rest(f, buf, 65536, BIG_SIZE, big_data);
  assert_int_equal(stat_of("tokens_issued"), 2);
  assert_int_equal(stat_of("auth_failures"), 1);
  gsr_close(f);
  expect_resumed_after_401(base);
  free(buf);
  gsr_client_free(c);
  check_traces();
}

static void test_authorized_user_via_gcloud_adc(void **state) {
  (void)state;
  char url[300];
  snprintf(url, sizeof(url), "%s/token", fx.srv.endpoint);
  setenv("GSREAD_TOKEN_URI", url, 1);
  setenv("CLOUDSDK_CONFIG", adc_dir, 1);
  gsr_client *c = new_client(NULL, 0, NULL);
  expect_ok(c);
  gsr_auth_info ai;
  expect_auth(c, &ai, "authorized_user", "gcloud_adc");
  assert_non_null(strstr(ai.detail, "application_default_credentials.json"));
  assert_int_equal(ai.has_expiry, 1);
  gsr_client_free(c);
  /* The refresh token was revoked: a clear error, naming the file, not
   * the token. */
  knob("refresh_token=another");
  c = new_client(NULL, 0, NULL);
  int s = read_small(c);
  assert_int_equal(s, GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), "invalid_grant"));
  assert_non_null(strstr(gsr_errmsg(), "application_default_credentials.json"));
  assert_int_equal(gsr_client_auth_info(c, &ai), GSR_EAUTH);
  assert_no_secret("gsr_errmsg", gsr_errmsg());
  gsr_client_free(c);
  /* $GOOGLE_APPLICATION_CREDENTIALS naming an authorized_user file. */
  knob("refresh_token=test-refresh-token");
  unsetenv("CLOUDSDK_CONFIG");
  setenv("GOOGLE_APPLICATION_CREDENTIALS", user_json, 1);
  c = new_client(NULL, 0, NULL);
  expect_ok(c);
  expect_auth(c, &ai, "authorized_user", "GOOGLE_APPLICATION_CREDENTIALS");
  gsr_client_free(c);
  /* The credentials_file option names the file for one client, before
   * the environment's (here a file that does not exist). */
  setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
  gsr_client_options o;
  fx_client_options(&o);
  o.credentials_file = user_json;
  c = NULL;
  s = gsr_client_new(&o, &c);
  if (s != GSR_OK) fail_msg("client: %s", gsr_errmsg());
  expect_ok(c);
  expect_auth(c, &ai, "authorized_user", "option");
  assert_string_equal(ai.detail, user_json);
  gsr_client_free(c);
  check_traces();
}

static void test_metadata_server(void **state) {
  (void)state;
  setenv("GCE_METADATA_HOST", fx.srv.endpoint + strlen("http://"), 1);
  gsr_client *c = new_client(NULL, 0, NULL);
  expect_ok(c);
  expect_ok(c);
  gsr_auth_info ai;
  expect_auth(c, &ai, "metadata", "metadata_server");
  assert_int_equal(ai.has_expiry, 1);
  assert_int_equal(stat_of("metadata_tokens"), 1);
  /* Revoked: refreshed from the metadata server. */
  control("revoke", NULL);
  expect_ok(c);
  assert_int_equal(stat_of("metadata_tokens"), 2);
  gsr_client_free(c);
  /* No metadata server there: probed once, quickly, then anonymous. */
  setenv("GCE_METADATA_HOST", "127.0.0.1:1", 1);
  c = new_client(NULL, 0, NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  info_of(c, &ai);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_string_equal(ai.kind, "anonymous");
  assert_string_equal(ai.source, "default");
  assert_true(t1.tv_sec - t0.tv_sec < 2);
  assert_int_equal(read_small(c), GSR_EAUTH);
  gsr_client_free(c);
  check_traces();
}

static void test_bad_key_files(void **state) {
  (void)state;
  char path[400];
  gsr_client_options o;
  gsr_client *c = NULL;
  fx_client_options(&o);
  /* Missing file: the client is refused, naming the file. */
  snprintf(path, sizeof(path), "%s/no-such-key.json", fx.srv.root);
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
  assert_int_equal(gsr_client_new(&o, &c), GSR_EAUTH);
  assert_null(c);
  assert_non_null(strstr(gsr_errmsg(), path));
  /* Not JSON. */
  snprintf(path, sizeof(path), "%s/garbage.json", fx.srv.root);
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
  fx_write_file(path, "this is not json {");
  assert_int_equal(gsr_client_new(&o, &c), GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), path));
  assert_non_null(strstr(gsr_errmsg(), "JSON"));
  /* A field missing. */
  fx_write_file(path,
                "{\"type\":\"service_account\",\"client_email\":\"x@y\"}");
  assert_int_equal(gsr_client_new(&o, &c), GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), "private_key"));
  /* A private key that is not one: found when signing, naming the file. */
  fx_write_file(path, "{\"type\":\"service_account\",\"client_email\":\"x@y\","
                      "\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n"
                      "-----END PRIVATE KEY-----\\n\"}");
  c = new_client(NULL, 0, NULL);
  assert_int_equal(read_small(c), GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), path));
  gsr_client_free(c);
  /* Signed by a key the endpoint does not know: refused, with the
   * endpoint's reason and never the assertion. */
  char uri[300];
  snprintf(uri, sizeof(uri), "%s/token", fx.srv.endpoint);
  write_sa_json(path, other_pem, uri);
  c = new_client(NULL, 0, NULL);
  assert_int_equal(read_small(c), GSR_EAUTH);
  assert_non_null(strstr(gsr_errmsg(), "invalid_grant"));
  assert_non_null(strstr(gsr_errmsg(), path));
  assert_int_equal(stat_of("token_rejects"), 1);
  gsr_client_free(c);
  check_traces();
}

static int count_entry(void *arg, const gsr_list_entry *e) {
  (void)e;
  ++*(int *)arg;
  return 0;
}

static void test_requester_pays(void **state) {
  (void)state;
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  knob("require_user_project=billed-project");
  gsr_client *c = new_client(NULL, 0, NULL);
  assert_int_not_equal(read_small(c), GSR_OK); /* 400 without userProject */
  assert_non_null(strstr(gsr_errmsg(), "requester pays"));
  gsr_client_free(c);
  c = new_client(NULL, 0, "billed-project");
  usleep(100000); /* let the refused request's log line land first */
  long before = ts_log_lines(&fx.srv);
  expect_ok(c);
  usleep(50000);
  long after = ts_log_lines(&fx.srv);
  int meta = 0, media = 0;
  for (long k = before; k < after; k++) {
    char line[4096];
    assert_int_equal(ts_log_line(&fx.srv, k, line, sizeof(line)), 0);
    int is_meta = strstr(line, "\"kind\":\"meta\"") != NULL;
    int is_media = strstr(line, "\"kind\":\"media\"") != NULL;
    if (is_meta || is_media) /* not the token exchange */
      assert_non_null(strstr(line, "userProject=billed-project"));
    meta += is_meta;
    media += is_media;
  }
  assert_int_equal(meta, 1);
  assert_true(media >= 1);
  /* Listing is a request like the others: it carries userProject too. */
  int entries = 0;
  assert_int_equal(gsr_list(c, "gs://" BUCKET "/", 0, count_entry, &entries),
                   GSR_OK);
  assert_true(entries > 0);
  gsr_client_free(c);
  check_traces();
}

static void test_emulator_host_is_anonymous(void **state) {
  (void)state;
  /* STORAGE_EMULATOR_HOST: anonymous, as Google's clients are there; the
   * environment's credentials are never sent to an emulator in clear. */
  setenv("STORAGE_EMULATOR_HOST", fx.srv.endpoint, 1);
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_json, 1);
  setenv("GSREAD_ACCESS_TOKEN", "env-secret-token", 1);
  gsr_client_options o;
  gsr_client *c = NULL;
  gsr_auth_info ai;
  gsr_client_options_init(&o);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  expect_auth(c, &ai, "anonymous", "STORAGE_EMULATOR_HOST");
  assert_int_equal(read_small(c), GSR_EAUTH); /* this server wants a token */
  assert_int_equal(stat_of("tokens_issued"), 0);
  gsr_client_free(c);
  /* Credentials given as an option still go. */
  o.credentials_file = sa_json;
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  expect_ok(c);
  assert_int_equal(stat_of("tokens_issued"), 1);
  gsr_client_free(c);
}

static struct ts_object objects[] = {{"small", SMALL_SIZE, NULL},
                                     {"big", BIG_SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 11};

static int setup(void **state) {
  (void)state;
  char cmd[2048], uri[300];
  if (fx_setup(&fx_spec) != 0) return -1;
  small_data = objects[0].data;
  big_data = objects[1].data;
  /* Keys made now, in the server's temp dir: none is ever committed. */
  snprintf(key_pem, sizeof(key_pem), "%s/key.pem", fx.srv.root);
  snprintf(other_pem, sizeof(other_pem), "%s/other.pem", fx.srv.root);
  snprintf(cmd, sizeof(cmd),
           "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
           "-out %s 2>/dev/null && openssl genpkey -algorithm RSA -pkeyopt "
           "rsa_keygen_bits:2048 -out %s 2>/dev/null && openssl pkey -in %s "
           "-pubout -out %s/token_pubkey.pem",
           key_pem, other_pem, key_pem, fx.srv.state);
  run(cmd);
  snprintf(uri, sizeof(uri), "%s/token", fx.srv.endpoint);
  snprintf(sa_json, sizeof(sa_json), "%s/sa.json", fx.srv.root);
  write_sa_json(sa_json, key_pem, uri);
  snprintf(user_json, sizeof(user_json), "%s/user.json", fx.srv.root);
  fx_write_file(
      user_json,
      "{\"type\":\"authorized_user\",\"client_id\":\"test-client-id\","
      "\"client_secret\":\"test-client-secret\","
      "\"refresh_token\":\"test-refresh-token\"}\n");
  snprintf(adc_dir, sizeof(adc_dir), "%s/gcloud", fx.srv.root);
  mkdir(adc_dir, 0700);
  snprintf(cmd, sizeof(cmd), "cp %s %s/application_default_credentials.json",
           user_json, adc_dir);
  run(cmd);
  return 0;
}

static int teardown(void **state) {
  free(trace_buf);
  return fx_teardown(state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_anonymous_is_refused, reset),
      cmocka_unit_test_setup(test_fixed_token, reset),
      cmocka_unit_test_setup(test_service_account_key, reset),
      cmocka_unit_test_setup(test_refresh_before_expiry, reset),
      cmocka_unit_test_setup(test_401_refreshes_once_and_retries, reset),
      cmocka_unit_test_setup(test_401_on_a_block_refreshes_and_resubmits,
                             reset),
      cmocka_unit_test_setup(test_401_on_a_resumed_block, reset),
      cmocka_unit_test_setup(test_authorized_user_via_gcloud_adc, reset),
      cmocka_unit_test_setup(test_metadata_server, reset),
      cmocka_unit_test_setup(test_bad_key_files, reset),
      cmocka_unit_test_setup(test_requester_pays, reset),
      cmocka_unit_test_setup(test_emulator_host_is_anonymous, reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
