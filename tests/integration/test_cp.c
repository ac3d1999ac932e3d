/* Integration tests of gsr_download, gsr_download_fd and gsr_list against
 * the local GCS server: byte-exact copies of several sizes and part
 * layouts, progress calls, DEST a directory, a stream, CRC mismatches and
 * failures that leave neither DEST nor a temporary file, the temporary
 * file announced and withdrawn, stale ones removed, faults survived,
 * http/file sources (length check only), listing pages, prefixes and
 * special names.
 *
 * SPDX-License-Identifier: MIT
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "cp-bucket"
#define MiB (1024u * 1024u)

static char dir[320]; /* local destination directory, emptied per test */

static struct ts_object objects[] = {
    {"empty", 0, NULL},
    {"one", 1, NULL},
    {"five", 5 * MiB + 1, NULL},
    {"big", 64 * MiB, NULL},
    {"tree/sub/nested", 1000, NULL},
    {"with space", 10, NULL},
    {"hash#frag", 11, NULL},
    {"q?x=1&y", 12, NULL},
    {"pct%41%", 13, NULL},
    {"plus+sign", 14, NULL},
    {"utf8-\xc3\xa9t\xc3\xa9-\xe6\x97\xa5", 15, NULL},
    {"page/a", 1, NULL},
    {"page/b", 2, NULL},
    {"page/c/d", 3, NULL},
    {"page/e", 4, NULL},
    {"page/f", 5, NULL},
};
#define N_OBJECTS (sizeof(objects) / sizeof(objects[0]))

const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 100, .client = 1};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  snprintf(dir, sizeof(dir), "%s/dest", fx.srv.root);
  return mkdir(dir, 0777);
}

/* Every file in dir is removed; returns how many there were. */
static int empty_dir(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    unlink(p);
    n++;
  }
  closedir(d);
  return n;
}

/* Number of entries in dir (temporary files included). */
static int dir_entries(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static void assert_file_is(const char *path, const struct ts_object *o) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal((size_t)sb.st_size, o->size);
  unsigned char *buf = malloc(o->size ? o->size : 1);
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  size_t got = 0;
  ssize_t n;
  while (got < o->size && (n = read(fd, buf + got, o->size - got)) > 0)
    got += (size_t)n;
  close(fd);
  assert_int_equal(got, o->size);
  if (o->size) assert_memory_equal(buf, o->data, o->size);
  free(buf);
}

static void gs_url(const char *name, char *out, size_t n) {
  snprintf(out, n, "gs://%s/%s", BUCKET, name);
}

struct progress {
  int calls;
  uint64_t last, total;
  int backwards;
};

static void on_progress(void *arg, uint64_t done, uint64_t total) {
  struct progress *p = arg;
  if (done < p->last) p->backwards = 1;
  p->calls++;
  p->last = done;
  p->total = total;
}

static void copy_ok(const char *name, uint64_t part, int conc) {
  char url[512], path[700];
  struct ts_object *o = fx_object(name);
  struct progress pr = {0};
  gsr_download_options opts;
  gsr_download_stats st;
  gsr_download_options_init(&opts);
  if (part) opts.part_size = part;
  opts.concurrency = conc;
  opts.progress = on_progress;
  opts.progress_arg = &pr;
  gs_url(name, url, sizeof(url));
  snprintf(path, sizeof(path), "%s/copy", dir);
  int s = gsr_download(fx.client, url, path, &opts, &st);
  if (s != GSR_OK) fail_msg("download %s: %s", name, gsr_errmsg());
  assert_file_is(path, o);
  assert_int_equal(st.bytes, o->size);
  assert_int_equal(st.crc32c_verified, 1);
  /* One request per block and one per retry: each went on the wire. A
   * given part size is the block; 0 leaves it to the engine, whose blocks
   * are at least 256 KiB. */
  if (part) {
    assert_int_equal(st.requests, (o->size + part - 1) / part + st.retries);
  } else {
    assert_true(st.requests >= (o->size > 0));
    assert_true(st.requests <=
                (o->size + 256 * 1024 - 1) / (256 * 1024) + st.retries + 1);
  }
  /* First call at 0, last at total, never backwards, not a flood. */
  assert_true(pr.calls >= 2);
  assert_int_equal(pr.last, o->size);
  assert_int_equal(pr.total, o->size);
  assert_false(pr.backwards);
  assert_true(pr.calls <= 3 + (int)(st.seconds * 4) + 2);
  assert_int_equal(empty_dir(), 1); /* the copy, no temporary file */
}

static void test_copies_byte_exact(void **state) {
  (void)state;
  copy_ok("empty", 0, 0);
  copy_ok("one", 0, 0);
  copy_ok("five", 0, 0);
  copy_ok("five", MiB, 3); /* 6 blocks, last of 1 byte */
  copy_ok("big", 8 * MiB, 4);
  copy_ok("big", 3 * MiB, 16); /* blocks that do not divide the object */
  copy_ok("big", 0, 0);        /* the engine's blocks, width measured */
  copy_ok("big", 0, 2);        /* the engine's blocks at width 2 */
  copy_ok("tree/sub/nested", 0, 0);
}

static void test_special_names(void **state) {
  (void)state;
  const char *names[] = {"with space", "hash#frag",
                         "q?x=1&y",    "pct%41%",
                         "plus+sign",  "utf8-\xc3\xa9t\xc3\xa9-\xe6\x97\xa5"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    copy_ok(names[i], 0, 0);
}

static void test_dest_directory(void **state) {
  (void)state;
  char url[512], path[700];
  gs_url("tree/sub/nested", url, sizeof(url));
  assert_int_equal(gsr_download(fx.client, url, dir, NULL, NULL), GSR_OK);
  snprintf(path, sizeof(path), "%s/nested", dir);
  assert_file_is(path, fx_object("tree/sub/nested"));
  /* A trailing slash works the same. */
  char slashed[400];
  snprintf(slashed, sizeof(slashed), "%s/", dir);
  gs_url("one", url, sizeof(url));
  assert_int_equal(gsr_download(fx.client, url, slashed, NULL, NULL), GSR_OK);
  snprintf(path, sizeof(path), "%s/one", dir);
  assert_file_is(path, fx_object("one"));
  assert_int_equal(empty_dir(), 2);
}

static void test_overwrites_existing_dest(void **state) {
  (void)state;
  char url[512], path[700];
  snprintf(path, sizeof(path), "%s/existing", dir);
  FILE *f = fopen(path, "w");
  fputs("old contents, longer than one byte", f);
  fclose(f);
  gs_url("one", url, sizeof(url));
  assert_int_equal(gsr_download(fx.client, url, path, NULL, NULL), GSR_OK);
  assert_file_is(path, fx_object("one"));
  assert_int_equal(empty_dir(), 1);
}

static void test_to_fd_in_order(void **state) {
  (void)state;
  char url[512], path[700];
  gsr_download_options opts;
  gsr_download_stats st;
  gsr_download_options_init(&opts);
  opts.part_size = MiB;
  opts.concurrency = 8;
  snprintf(path, sizeof(path), "%s/stream", dir);
  /* A pipe-like sink: O_APPEND ignores any offset, so only writes issued
   * in order give the right bytes. */
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  assert_true(fd >= 0);
  gs_url("big", url, sizeof(url));
  assert_int_equal(gsr_download_fd(fx.client, url, fd, &opts, &st), GSR_OK);
  close(fd);
  assert_int_equal(st.crc32c_verified, 1);
  assert_file_is(path, fx_object("big"));
  assert_int_equal(empty_dir(), 1);
  assert_int_equal(gsr_download_fd(fx.client, url, -1, NULL, NULL), GSR_EINVAL);
  /* A part below the minimum (a request per byte for 1) is refused, with
   * a message, before anything is fetched or created. */
  opts.part_size = GSR_DOWNLOAD_MIN_PART_SIZE - 1;
  snprintf(path, sizeof(path), "%s/tiny", dir);
  assert_int_equal(gsr_download(fx.client, url, path, &opts, NULL), GSR_EINVAL);
  assert_non_null(strstr(gsr_errmsg(), "part_size"));
  opts.part_size = 1;
  assert_int_equal(gsr_download_fd(fx.client, url, 1, &opts, NULL), GSR_EINVAL);
  assert_int_equal(empty_dir(), 0); /* no DEST, no temporary file */
}

static void test_crc_mismatch_leaves_nothing(void **state) {
  (void)state;
  char url[512], path[700];
  gs_url("five", url, sizeof(url));
  snprintf(path, sizeof(path), "%s/five", dir);
  /* The server computes and caches the CRC of the good bytes. */
  assert_int_equal(gsr_download(fx.client, url, path, NULL, NULL), GSR_OK);
  unlink(path);
  assert_int_equal(ts_corrupt_in_place(&fx.srv, BUCKET, "five", 1234), 0);
  gsr_download_options opts;
  gsr_download_options_init(&opts);
  opts.part_size = MiB;
  assert_int_equal(gsr_download(fx.client, url, path, &opts, NULL),
                   GSR_EINTEGRITY);
  assert_non_null(strstr(gsr_errmsg(), "CRC32C"));
  assert_int_equal(dir_entries(), 0); /* no DEST, no temporary file */
  /* An existing DEST is left as it was. */
  FILE *f = fopen(path, "w");
  fputs("keep me", f);
  fclose(f);
  assert_int_equal(gsr_download(fx.client, url, path, &opts, NULL),
                   GSR_EINTEGRITY);
  char buf[16] = {0};
  f = fopen(path, "r");
  assert_non_null(fgets(buf, sizeof(buf), f));
  fclose(f);
  assert_string_equal(buf, "keep me");
  assert_int_equal(dir_entries(), 1);
  /* A stream gets the bytes, then the verdict. */
  int fd = open("/dev/null", O_WRONLY);
  assert_int_equal(gsr_download_fd(fx.client, url, fd, &opts, NULL),
                   GSR_EINTEGRITY);
  close(fd);
  assert_int_equal(ts_put(&fx.srv, BUCKET, "five", fx_object("five")->data,
                          fx_object("five")->size),
                   0);
  empty_dir();
}

/* gsr_download_options.temp_file: each temporary file is announced before
 * it exists and withdrawn once it is gone, on success and on failure. */
struct temp_events {
  int n, created[4], existed[4];
  char path[4][800];
};

static void on_temp(void *arg, const char *path, int created) {
  struct temp_events *ev = arg;
  if (ev->n == 4) return;
  ev->created[ev->n] = created;
  ev->existed[ev->n] = access(path, F_OK) == 0;
  snprintf(ev->path[ev->n], sizeof(ev->path[0]), "%s", path);
  ev->n++;
}

static void test_temp_file_announced(void **state) {
  (void)state;
  char url[512], path[700], want[800], stale[800], live[800];
  gsr_download_options opts;
  gs_url("five", url, sizeof(url));
  snprintf(path, sizeof(path), "%s/five", dir);
  snprintf(want, sizeof(want), "%s/.five.gsread-%ld-", dir, (long)getpid());
  /* A stale file of a process that is gone goes; one of ours stays. */
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  assert_true(dead > 0);
  waitpid(dead, NULL, 0);
  snprintf(stale, sizeof(stale), "%s/.five.gsread-%ld-AAAAAA", dir, (long)dead);
  snprintf(live, sizeof(live), "%s/.five.gsread-%ld-BBBBBB", dir,
           (long)getpid());
  fclose(fopen(stale, "w"));
  fclose(fopen(live, "w"));
  for (int fail = 0; fail < 2; fail++) {
    struct temp_events ev = {0};
    gsr_download_options_init(&opts);
    opts.part_size = MiB;
    opts.temp_file = on_temp;
    opts.temp_file_arg = &ev;
    if (fail)
      assert_int_equal(ts_corrupt_in_place(&fx.srv, BUCKET, "five", 99), 0);
    assert_int_equal(gsr_download(fx.client, url, path, &opts, NULL),
                     fail ? GSR_EINTEGRITY : GSR_OK);
    assert_int_equal(ev.n, 2);
    assert_int_equal(ev.created[0], 1);
    assert_int_equal(ev.existed[0], 0); /* announced before it exists */
    assert_int_equal(ev.created[1], 0);
    assert_int_equal(ev.existed[1], 0); /* withdrawn once gone */
    assert_string_equal(ev.path[0], ev.path[1]);
    assert_memory_equal(ev.path[0], want, strlen(want));
    assert_int_equal(access(ev.path[0], F_OK), -1);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
  }
  assert_int_equal(ts_put(&fx.srv, BUCKET, "five", fx_object("five")->data,
                          fx_object("five")->size),
                   0);
  empty_dir();
}

static void test_faults_survived(void **state) {
  (void)state;
  static const char *const faults[] = {
      "config?fault_kind=status&fault_status=503&fault_next=3",
      "config?fault_kind=cut&fault_next=3",
      "config?fault_kind=status&fault_status=429&fault_ratio=0.2&seed=3",
  };
  for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
    assert_int_equal(ts_control(&fx.srv, "reset"), 200);
    assert_int_equal(ts_control(&fx.srv, faults[i]), 200);
    copy_ok("big", 8 * MiB, 4);
    char stats[2048];
    assert_int_equal(ts_control_body(&fx.srv, "stats", stats, sizeof(stats)),
                     200);
    assert_true(ts_stats_get(stats, "faults_total") >= 3);
  }
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
}

static void test_faults_fail_cleanly(void **state) {
  (void)state;
  gsr_client *c;
  gsr_client_options o;
  char url[512], path[700];
  fx_client_options(&o);
  o.retry_initial_ms = 10;
  o.retry_max_attempts = 3;
  o.retry_deadline_ms = 1000;
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  gs_url("big", url, sizeof(url));
  snprintf(path, sizeof(path), "%s/big", dir);
  assert_int_equal(ts_control(&fx.srv, "config?fault_kind=status&"
                                       "fault_status=503&fault_ratio=1"),
                   200);
  gsr_download_options opts;
  gsr_download_options_init(&opts);
  opts.part_size = 4 * MiB;
  opts.concurrency = 4;
  int s = gsr_download(c, url, path, &opts, NULL);
  /* The status is the transport's verdict (retries exhausted); the
   * message must say what happened. */
  if (s >= 0 || strstr(gsr_errmsg(), "503") == NULL) {
    ts_control(&fx.srv, "reset");
    fail_msg("want a failure naming 503, got %s: %s", gsr_status_name(s),
             gsr_errmsg());
  }
  assert_int_equal(dir_entries(), 0);
  /* Cut bodies, every time: resumed until the attempts run out. */
  assert_int_equal(ts_control(&fx.srv, "config?fault_kind=cut"), 200);
  s = gsr_download(c, url, path, &opts, NULL);
  assert_true(s < 0);
  assert_int_equal(dir_entries(), 0);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  /* The open itself failing leaves nothing either. */
  gs_url("no-such-object", url, sizeof(url));
  assert_int_equal(gsr_download(c, url, path, NULL, NULL), GSR_ENOENT);
  assert_int_equal(dir_entries(), 0);
  /* A destination in a missing directory: GSR_EIO naming it. */
  gs_url("one", url, sizeof(url));
  assert_int_equal(gsr_download(c, url, "/nonexistent-dir/x", NULL, NULL),
                   GSR_EIO);
  assert_non_null(strstr(gsr_errmsg(), "/nonexistent-dir/x"));
  gsr_client_free(c);
}

static void test_http_and_file_sources(void **state) {
  (void)state;
  char url[1024], path[700];
  gsr_download_stats st;
  gsr_download_options opts;
  gsr_download_options_init(&opts);
  opts.part_size = MiB;
  snprintf(path, sizeof(path), "%s/copy", dir);
  ts_http_url(&fx.srv, BUCKET, "five", url, sizeof(url));
  assert_int_equal(gsr_download(fx.client, url, path, &opts, &st), GSR_OK);
  assert_int_equal(st.crc32c_verified, 0); /* no checksum: length only */
  assert_file_is(path, fx_object("five"));
  snprintf(url, sizeof(url), "file://%s/%s/five", fx.srv.data, BUCKET);
  assert_int_equal(gsr_download(fx.client, url, path, &opts, &st), GSR_OK);
  assert_file_is(path, fx_object("five"));
  assert_int_equal(empty_dir(), 1);
}

struct listing {
  char names[64][64];
  int prefix[64];
  int n;
  int stop_after;
};

static int on_entry(void *arg, const gsr_list_entry *e) {
  struct listing *l = arg;
  assert_true(l->n < 64);
  snprintf(l->names[l->n], sizeof(l->names[0]), "%s", e->name);
  l->prefix[l->n] = e->is_prefix;
  if (!e->is_prefix) {
    struct ts_object *o = fx_object(e->name);
    assert_int_equal(e->size, o->size);
    assert_true(e->generation > 0);
    assert_true(e->has_crc32c);
    assert_true(strlen(e->updated) > 10);
  }
  l->n++;
  return l->stop_after && l->n == l->stop_after;
}

static void test_list_pages(void **state) {
  (void)state;
  struct listing l = {0};
  char stats[2048];
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_int_equal(ts_control(&fx.srv, "config?list_max=2"), 200);
  assert_int_equal(
      gsr_list(fx.client, "gs://" BUCKET "/page/", 1, on_entry, &l), GSR_OK);
  assert_int_equal(l.n, 5);
  const char *want[] = {"page/a", "page/b", "page/c/d", "page/e", "page/f"};
  for (int i = 0; i < 5; i++) assert_string_equal(l.names[i], want[i]);
  assert_int_equal(ts_control_body(&fx.srv, "stats", stats, sizeof(stats)),
                   200);
  assert_int_equal(ts_stats_get(stats, "list_requests"), 3);
  /* With the delimiter: page/c/ is one directory, in name order. */
  memset(&l, 0, sizeof(l));
  assert_int_equal(
      gsr_list(fx.client, "gs://" BUCKET "/page/", 0, on_entry, &l), GSR_OK);
  assert_int_equal(l.n, 5);
  assert_string_equal(l.names[2], "page/c/");
  assert_int_equal(l.prefix[2], 1);
  /* The callback can stop it. */
  memset(&l, 0, sizeof(l));
  l.stop_after = 3;
  assert_int_equal(
      gsr_list(fx.client, "gs://" BUCKET "/page/", 1, on_entry, &l),
      GSR_ECANCELED);
  assert_int_equal(l.n, 3);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
}

static void test_list_bucket_and_special_names(void **state) {
  (void)state;
  struct listing l = {0};
  assert_int_equal(gsr_list(fx.client, "gs://" BUCKET, 1, on_entry, &l),
                   GSR_OK);
  assert_int_equal(l.n, (int)N_OBJECTS);
  for (int i = 1; i < l.n; i++)
    assert_true(strcmp(l.names[i - 1], l.names[i]) < 0);
  for (size_t i = 0; i < N_OBJECTS; i++) {
    int seen = 0;
    for (int k = 0; k < l.n; k++) seen += !strcmp(l.names[k], objects[i].name);
    assert_int_equal(seen, 1);
  }
  /* Top level: objects plus "page/" and "tree/". */
  memset(&l, 0, sizeof(l));
  assert_int_equal(gsr_list(fx.client, "gs://" BUCKET "/", 0, on_entry, &l),
                   GSR_OK);
  int dirs = 0;
  for (int k = 0; k < l.n; k++) dirs += l.prefix[k];
  assert_int_equal(dirs, 2);
  assert_int_equal(l.n, (int)N_OBJECTS - 6 + 2);
  /* A prefix with special characters is sent encoded. */
  memset(&l, 0, sizeof(l));
  assert_int_equal(
      gsr_list(fx.client, "gs://" BUCKET "/q?x=1", 1, on_entry, &l), GSR_OK);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.names[0], "q?x=1&y");
  /* Errors. */
  assert_int_equal(gsr_list(fx.client, "gs://no-such-bucket", 1, on_entry, &l),
                   GSR_ENOENT);
  assert_int_equal(gsr_list(fx.client, "http://x/y", 1, on_entry, &l),
                   GSR_EINVAL);
  assert_int_equal(gsr_list(fx.client, "gs://Bad_Bucket!", 1, on_entry, &l),
                   GSR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copies_byte_exact),
      cmocka_unit_test(test_special_names),
      cmocka_unit_test(test_dest_directory),
      cmocka_unit_test(test_overwrites_existing_dest),
      cmocka_unit_test(test_to_fd_in_order),
      cmocka_unit_test(test_crc_mismatch_leaves_nothing),
      cmocka_unit_test(test_temp_file_announced),
      cmocka_unit_test(test_faults_survived),
      cmocka_unit_test(test_faults_fail_cleanly),
      cmocka_unit_test(test_http_and_file_sources),
      cmocka_unit_test(test_list_pages),
      cmocka_unit_test(test_list_bucket_and_special_names),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
