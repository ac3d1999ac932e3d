/* gsread cp: an object to a local file (gsr_download: parts fetched
 * concurrently, written in place into a temporary file, renamed once the
 * CRC32C matched), to standard output ('-', gsr_download_fd), or every
 * object under a prefix into a directory (--recursive: gsr_list, then
 * gsr_download each).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_help.h"

/* Progress and totals of one run. */
struct cp_run {
  const struct cli_args *a;
  gsr_client *client;
  gsr_download_options dopts;
  int tty;   /* progress lines on stderr */
  int drew;  /* a progress line is showing: clear it first */
  double t0; /* start of the current object */
  uint64_t bytes, requests, objects;
};

/* A progress line is on the terminal: the handler clears it, so the
 * shell's prompt does not land behind it. */
static volatile sig_atomic_t cp_line_shown;

static void human(double v, char *buf, size_t n) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;

  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* The library calls this at most ~4 times a second from our thread. */
static void on_progress(void *arg, uint64_t done, uint64_t total) {
  struct cp_run *r = arg;
  double secs = cli_now() - r->t0;
  double rate = secs > 0 ? (double)done / secs : 0;
  char d[32], t[32], eta[32] = "--";

  if (!r->tty) return;
  human((double)done, d, sizeof d);
  human((double)total, t, sizeof t);
  if (rate > 0 && done < total)
    snprintf(eta, sizeof eta, "%.0fs", (double)(total - done) / rate);
  else if (done >= total)
    snprintf(eta, sizeof eta, "0s");
  fprintf(stderr, "\r\033[K%s / %s  %.1f MB/s  ETA %s", d, t, rate / 1e6, eta);
  fflush(stderr);
  r->drew = 1;
  cp_line_shown = 1;
}

static void clear_progress(struct cp_run *r) {
  if (r->drew) {
    fputs("\r\033[K", stderr);
    r->drew = 0;
    cp_line_shown = 0;
  }
}

/* ---- Signals. SIGINT, SIGTERM and SIGHUP remove the temporary files of
 * the copies in flight, then end the process by the same signal (the shell
 * sees 128+N), as if we had not caught it.
 *
 * The library announces each temporary file (temp_file) from this thread,
 * the main one, before it creates it, and withdraws it once it is renamed
 * or removed. The handler does its work on the main thread only: there it
 * cannot run between an announcement and the open() after it, so no file
 * exists that the list misses. On any other thread (the library's I/O
 * thread) it passes the signal on to the main thread. The list changes
 * only while the main thread blocks the signals, so the handler never sees
 * it half-changed. cp copies one object at a time: one entry is used. */
#define CP_MAX_TEMPS 4
static const char *volatile cp_temps[CP_MAX_TEMPS];
static pthread_t cp_main;
static sigset_t cp_sigs;

/* Only async-signal-safe calls (pthread_equal is a comparison). */
static void cp_on_signal(int sig) {
  sigset_t one;

  if (!pthread_equal(pthread_self(), cp_main)) {
    int e = errno;
    pthread_kill(cp_main, sig);
    errno = e;
    return;
  }
  for (int i = 0; i < CP_MAX_TEMPS; i++)
    if (cp_temps[i]) unlink(cp_temps[i]);
  if (cp_line_shown && write(STDERR_FILENO, "\r\033[K", 4) < 0) {
    /* nothing to do: we are ending anyway */
  }
  /* Die by the signal itself: raised now, delivered (default action) as
   * soon as it is unblocked, which the handler's own mask delays. */
  signal(sig, SIG_DFL);
  raise(sig);
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, NULL);
  _exit(128 + sig); /* not reached */
}

static void cp_temp_file(void *arg, const char *path, int created) {
  sigset_t old;

  (void)arg;
  pthread_sigmask(SIG_BLOCK, &cp_sigs, &old);
  for (int i = 0; i < CP_MAX_TEMPS; i++) {
    if (created ? cp_temps[i] == NULL
                : cp_temps[i] && strcmp(cp_temps[i], path) == 0) {
      cp_temps[i] = created ? path : NULL;
      break;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void cp_catch_signals(gsr_download_options *o) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction sa = {.sa_handler = cp_on_signal, .sa_flags = SA_RESTART};

  cp_main = pthread_self();
  sigemptyset(&cp_sigs);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(&cp_sigs, sigs[i]);
  sa.sa_mask = cp_sigs;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction old;
    /* One ignored on entry stays ignored (nohup; a background job of a
     * shell without job control ignores SIGINT). */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
      sigaction(sigs[i], &sa, NULL);
  }
  o->temp_file = cp_temp_file;
}

/* One object to dest ("-": standard output). */
static int copy_one(struct cp_run *r, const char *url, const char *dest) {
  gsr_download_stats st;
  int rc;

  r->t0 = cli_now();
  if (strcmp(dest, "-") == 0)
    rc = gsr_download_fd(r->client, url, STDOUT_FILENO, &r->dopts, &st);
  else
    rc = gsr_download(r->client, url, dest, &r->dopts, &st);
  clear_progress(r);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot copy %s to %s", url,
                 strcmp(dest, "-") ? dest : "standard output");
    return rc == GSR_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
  }
  r->bytes += st.bytes;
  r->requests += st.requests;
  r->objects++;
  return CLI_EXIT_OK;
}

/* ---- --recursive */

struct names {
  char **v;
  size_t n, cap;
};

static int collect(void *arg, const gsr_list_entry *e) {
  struct names *l = arg;

  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return 1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(e->name))) return 1;
  l->n++;
  return 0;
}

/* A relative path we may create under DEST: no absolute path, no empty,
 * "." or ".." component (an object named "../x" must not escape DEST). */
static int safe_relative(const char *rel) {
  const char *p = rel;

  if (*rel == '\0' || *rel == '/') return 0;
  while (*p) {
    size_t len = strcspn(p, "/");
    if (len == 0 || (len == 1 && p[0] == '.') ||
        (len == 2 && p[0] == '.' && p[1] == '.'))
      return 0;
    p += len;
    if (*p == '/') p++;
  }
  return p[-1] != '/';
}

/* mkdir -p of the directories above path (not path itself). */
static int make_parents(char *path) {
  for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    int rc = mkdir(path, 0777);
    int err = errno;
    *s = '/';
    if (rc != 0 && err != EEXIST) {
      errno = err;
      return -1;
    }
  }
  return 0;
}

/* One object of a listing to its place under DEST. Returns the exit
 * status (its failure reported); a name that is skipped is no failure. */
static int copy_entry(struct cp_run *r, const char *name, size_t strip,
                      size_t blen) {
  const char *url = r->a->url, *dest = r->a->dest;
  size_t nlen = strlen(name);
  const char *rel = name + (strip < nlen ? strip : nlen);
  char *src, *dst;
  int status = CLI_EXIT_OK;

  if (strip >= nlen || !safe_relative(rel)) {
    /* "dir/" placeholder objects, or names that would climb out or fold
     * onto another ("/a" and "a", "a//b" and "a/b"). */
    if (nlen == 0 || name[nlen - 1] != '/')
      cli_fail_text("not a safe relative path", "skipping %s", name);
    return CLI_EXIT_OK;
  }
  src = malloc(blen + nlen + 2);
  dst = malloc(strlen(dest) + strlen(rel) + 2);
  if (!src || !dst) {
    cli_fail_errno(ENOMEM, "cannot copy %s", name);
    status = CLI_EXIT_FAIL;
  } else {
    snprintf(src, blen + nlen + 2, "%.*s/%s", (int)blen, url, name);
    snprintf(dst, strlen(dest) + strlen(rel) + 2, "%s/%s", dest, rel);
    if (make_parents(dst) != 0) {
      cli_fail_errno(errno, "cannot create the directories of %s", dst);
      status = CLI_EXIT_FAIL;
    } else {
      status = copy_one(r, src, dst);
    }
  }
  free(src);
  free(dst);
  return status;
}

/* Every object under the prefix, each on its own: one that fails does not
 * stop the others; the failures are named again at the end. */
static int copy_tree(struct cp_run *r) {
  const char *url = r->a->url, *dest = r->a->dest;
  const char *bucket_end, *slash;
  struct names l = {0}, failed = {0};
  int rc, status = CLI_EXIT_OK;
  size_t strip, blen;

  if (strncmp(url, "gs://", 5) != 0)
    return cli_usage_error(r->a->cmd, "--recursive needs a gs://BUCKET"
                                      "[/PREFIX] URL");
  bucket_end = strchr(url + 5, '/');
  /* gs://b/dir/ copies what is inside dir/; gs://b/dir copies dir itself
   * (and dir2...): names keep what follows the prefix's last '/'. */
  slash = bucket_end ? strrchr(bucket_end, '/') : NULL;
  strip = slash ? (size_t)(slash - bucket_end) : 0;
  rc = gsr_list(r->client, url, 1, collect, &l);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot list %s", url);
    status = CLI_EXIT_FAIL;
  }
  if (status == CLI_EXIT_OK && mkdir(dest, 0777) != 0 && errno != EEXIST) {
    cli_fail_errno(errno, "cannot create directory %s", dest);
    status = CLI_EXIT_FAIL;
  }
  blen = bucket_end ? (size_t)(bucket_end - url) : strlen(url);
  for (size_t i = 0; i < l.n && status == CLI_EXIT_OK; i++) {
    if (copy_entry(r, l.v[i], strip, blen) == CLI_EXIT_OK) continue;
    gsr_list_entry e = {.name = l.v[i]};
    if (collect(&failed, &e) != 0) status = CLI_EXIT_FAIL; /* out of memory */
  }
  if (failed.n > 0) {
    char what[64];
    snprintf(what, sizeof what, "%zu of %zu objects were not copied", failed.n,
             l.n);
    for (size_t i = 0; i < failed.n; i++)
      cli_fail_text(what, "not copied: %.*s/%s", (int)blen, url, failed.v[i]);
    status = CLI_EXIT_FAIL;
  }
  for (size_t i = 0; i < l.n; i++) free(l.v[i]);
  free(l.v);
  for (size_t i = 0; i < failed.n; i++) free(failed.v[i]);
  free(failed.v);
  return status;
}

static int cp_run(const struct cli_args *a) {
  struct cp_run r = {.a = a};
  int status;

  r.dopts = a->download;
  r.dopts.concurrency = a->file.concurrency;
  cp_catch_signals(&r.dopts);
  r.tty = !a->quiet && isatty(STDERR_FILENO);
  if (r.tty) {
    r.dopts.progress = on_progress;
    r.dopts.progress_arg = &r;
  }
  if ((status = cli_client_new(a, &r.client)) != CLI_EXIT_OK) return status;
  double t0 = cli_now();
  status = a->recursive ? copy_tree(&r) : copy_one(&r, a->url, a->dest);
  double secs = cli_now() - t0;
  if (status == CLI_EXIT_OK && !a->quiet) {
    fprintf(stderr,
            "gsread: copied %" PRIu64 " bytes in %.2f s "
            "(%.1f MB/s, %" PRIu64 " requests)",
            r.bytes, secs, secs > 0 ? (double)r.bytes / secs / 1e6 : 0.0,
            r.requests);
    if (a->recursive) fprintf(stderr, ", %" PRIu64 " objects", r.objects);
    fputc('\n', stderr);
  }
  gsr_client_free(r.client);
  return status;
}

static int cp_finish(struct cli_args *a) {
  if (!a->dest)
    return cli_usage_error(a->cmd, "missing DEST (a file, a directory, or "
                                   "- for standard output)");
  if (a->recursive && strcmp(a->dest, "-") == 0)
    return cli_usage_error(a->cmd, "--recursive needs a directory as DEST, "
                                   "not -");
  return CLI_CONTINUE;
}

static const enum cli_opt_id cp_opts[] = {
    CLI_OPT_CONCURRENCY,   CLI_OPT_PART_SIZE, CLI_OPT_RECURSIVE, CLI_OPT_QUIET,
    CLI_OPT_MEMORY_BUDGET, CLI_OPTS_SERVER,   CLI_OPT_HELP,
};

const struct cli_command cli_cmd_cp = {
    .name = "cp",
    CLI_HELP_cp,
    CLI_OPTS(cp_opts),
    .takes_dest = 1,
    .finish = cp_finish,
    .run = cp_run,
};
