/* gsread mount: the FUSE operations (libfuse3's high-level, path-based
 * API, run by its multi-threaded loop).
 *
 * - A path "/a/b" is the object PREFIX + "a/b"; directories are the
 *   prefixes of the listing ("a/"), with zero-length "a/" placeholder
 *   objects folded in (mount_map.c).
 * - getattr answers from the parent directory's cached listing when there
 *   is one, else from one listing request with the name as prefix; both
 *   are cached for the TTL, and the kernel caches entries and attributes
 *   for as long.
 * - open pins a gsr_file to the generation it sees; reads are gsr_pread
 *   on it from any number of threads. The kernel keeps the file's pages
 *   across opens (FOPEN_KEEP_CACHE) only while the generation is the one
 *   the previous open saw.
 *
 * SPDX-License-Identifier: MIT
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>

#include "cli.h"
#include "mount.h"

/* Most cached lookups and listings: beyond, stale ones are dropped first
 * (each costs a name and a few numbers; a listing, ~100 bytes a child). */
#define CACHE_CAP_LOOKUPS 100000
#define CACHE_CAP_DIRS 4096
#define CACHE_CAP_GENS 100000

/* One open file. */
struct mount_file {
  struct mount_file *prev, *next;
  gsr_file f;
  char *name; /* the object name, for the log */
  /* When a read last failed after the library's retries (network,
   * timeout), as monotonic seconds: see fs_read. */
  _Atomic double failed_at;
};

/* After a failed readahead the kernel asks at once for the page it
 * needed: within this many seconds of a read that failed after all its
 * retries, reads of the same open file fail at once instead of retrying
 * the same dead server all over again. */
#define MOUNT_FAIL_FAST_S 2.0

struct mount_fs {
  struct mount_conf conf;
  gsr_client *client;
  time_t started;             /* directories' times */
  pthread_mutex_t mu;         /* guards everything below */
  struct mount_table lookups; /* object name -> exists? attributes */
  struct mount_table dirs;    /* directory prefix -> listing */
  struct mount_table gens;    /* object name -> generation last opened */
  struct mount_file files;    /* open files (list head) */
  int closing;                /* shutting down: no new opens */
};

/* ---- Log
 * -------------------------------------------------------------------*/

static int log_syslog;

void mount_log_to_syslog(void) {
  openlog("gsread", LOG_PID, LOG_DAEMON);
  log_syslog = 1;
}

void mount_log(const char *fmt, ...) {
  char line[2048];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (log_syslog) {
    syslog(LOG_ERR, "%s", line);
    return;
  }
  /* One line, control bytes escaped, as every gsread message. */
  fputs("gsread: ", stderr);
  cli_put_escaped(stderr, line);
  fputc('\n', stderr);
}

/* Logs a failed call (the library's message names the server's answer)
 * and returns its negative errno for FUSE. */
static int fail(int status, const char *what, const char *name) {
  if (mount_status_logged(status)) {
    const char *msg = gsr_errmsg();

    mount_log("%s %s: %s", what, name,
              msg && *msg ? msg : gsr_strerror(status));
  }
  return -mount_errno(status);
}

/* ---- Helpers
 * ---------------------------------------------------------------*/

static double now_mono(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct mount_fs *fs_of_context(void) {
  return fuse_get_context()->private_data;
}

/* a + b + c in one new string; NULL if out of memory. */
static char *join3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *s = malloc(la + lb + lc + 1);

  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  memcpy(s + la + lb, c, lc + 1);
  return s;
}

static int fresh(const struct mount_fs *fs, const struct mount_entry *e,
                 double now) {
  return e && now - e->at < fs->conf.ttl;
}

static void fill_dir(const struct mount_fs *fs, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_mode = S_IFDIR | fs->conf.dir_mode;
  st->st_nlink = 2;
  st->st_uid = fs->conf.uid;
  st->st_gid = fs->conf.gid;
  st->st_mtime = st->st_ctime = st->st_atime = fs->started;
}

static void fill_node(const struct mount_fs *fs, const struct mount_node *n,
                      struct stat *st) {
  if (n->is_dir) {
    fill_dir(fs, st);
    return;
  }
  memset(st, 0, sizeof *st);
  st->st_mode = S_IFREG | fs->conf.file_mode;
  st->st_nlink = 1;
  st->st_uid = fs->conf.uid;
  st->st_gid = fs->conf.gid;
  st->st_size = (off_t)n->size;
  st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
  st->st_blksize = 1 << 20; /* what `cp` and stdio read at a time */
  st->st_mtime = st->st_ctime = st->st_atime = (time_t)n->mtime;
}

/* ---- Listings
 * --------------------------------------------------------------*/

struct list_run {
  struct mount_fs *fs;
  struct mount_dir *d;
  const char *dir;
  int err;
};

/* 1 once the mount is shutting down: a listing stops at its next entry
 * (a long or hostile listing must not keep SIGTERM or unmount waiting). */
static int fs_closing(struct mount_fs *fs) {
  pthread_mutex_lock(&fs->mu);
  int closing = fs->closing;
  pthread_mutex_unlock(&fs->mu);
  return closing;
}

static int on_list_entry(void *arg, const gsr_list_entry *e) {
  struct list_run *r = arg;

  r->err = fs_closing(r->fs) ? -EINTR : mount_dir_add(r->d, r->dir, e);
  return r->err != 0;
}

/* Lists the directory whose prefix is dir into *d (finished). */
static int list_dir(struct mount_fs *fs, const char *dir, struct mount_dir *d) {
  struct list_run r = {.fs = fs, .d = d, .dir = dir};
  char *url = join3(fs->conf.bucket, "/", dir);
  int rc;

  memset(d, 0, sizeof *d);
  if (!url) return -ENOMEM;
  rc = gsr_list(fs->client, url, 0, on_list_entry, &r);
  if (r.err) {
    rc = 0;
    mount_dir_free(d);
    free(url);
    return r.err;
  }
  if (rc != GSR_OK) {
    rc = fail(rc, "cannot list", url);
    mount_dir_free(d);
    free(url);
    return rc;
  }
  free(url);
  mount_dir_finish(d);
  return 0;
}

static int on_lookup_entry(void *arg, const gsr_list_entry *e) {
  return mount_lookup_entry(arg, e);
}

/* One name, by a listing with the name as prefix (see mount_map.c):
 * 0 and *out filled, -ENOENT, or another negative errno. */
static int lookup_name(struct mount_fs *fs, const char *name,
                       struct mount_node *out) {
  struct mount_lookup l = {.name = name};
  char *url = join3(fs->conf.bucket, "/", name);
  int rc;

  if (!url) return -ENOMEM;
  rc = gsr_list(fs->client, url, 0, on_lookup_entry, &l);
  if (rc != GSR_OK && rc != GSR_ECANCELED) {
    rc = fail(rc, "cannot look up", url);
    free(url);
    return rc;
  }
  free(url);
  memset(out, 0, sizeof *out);
  if (l.found_dir) {
    out->is_dir = 1;
    return 0;
  }
  if (l.found_file) {
    *out = l.file;
    return 0;
  }
  return -ENOENT;
}

/* ---- Operations
 * ------------------------------------------------------------*/

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  struct mount_fs *fs = fs_of_context();

  /* The kernel caches what we answer for as long as we do. */
  cfg->entry_timeout = fs->conf.ttl;
  cfg->attr_timeout = fs->conf.ttl;
  cfg->negative_timeout = fs->conf.ttl;
  cfg->kernel_cache = 0; /* per open: keep_cache below */
  cfg->auto_cache = 0;
  cfg->use_ino = 0;
  cfg->nullpath_ok = 0; /* readdir needs its path (no opendir) */
  conn->max_readahead = fs->conf.max_readahead;
  /* No async reads: the kernel then sends a file's readahead in order,
   * one request after the other, and the engine sees the sequential run
   * the reader makes. Async, the requests arrive out of order on several
   * threads and look like seeks (measured: half the speed, 1.2-1.3x the
   * bytes; docs/mount.md). Reads by different threads still run in
   * parallel (gsr_pread takes any number). */
  conn->want &= ~FUSE_CAP_ASYNC_READ;
  return fs;
}

static int fs_getattr(const char *path, struct stat *st,
                      struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  const char *slash, *base;
  char *name = NULL, *dir = NULL;
  struct mount_entry *e;
  struct mount_node node;
  double now = now_mono();
  int rc;

  if (fi && fi->fh) {
    /* fstat of an open file: the version it is pinned to. */
    struct mount_file *mf = (struct mount_file *)(uintptr_t)fi->fh;
    gsr_stat gs;

    if (gsr_fstat(mf->f, &gs) == GSR_OK) {
      struct mount_node n = {.size = gs.size, .mtime = gs.mtime};

      fill_node(fs, &n, st);
      return 0;
    }
  }
  if (strcmp(path, "/") == 0) {
    fill_dir(fs, st);
    return 0;
  }
  slash = strrchr(path, '/');
  base = slash + 1;
  name = join3(fs->conf.prefix, path + 1, "");
  dir = strndup(path + 1, (size_t)(base - (path + 1)));
  if (!name || !dir) {
    rc = -ENOMEM;
    goto out;
  }
  {
    char *d = join3(fs->conf.prefix, dir, "");

    free(dir);
    dir = d;
    if (!dir) {
      rc = -ENOMEM;
      goto out;
    }
  }
  pthread_mutex_lock(&fs->mu);
  e = mount_table_get(&fs->dirs, dir);
  if (fresh(fs, e, now)) {
    const struct mount_node *n = mount_dir_find(&e->dir, base);

    if (n) fill_node(fs, n, st);
    rc = n ? 0 : -ENOENT;
    pthread_mutex_unlock(&fs->mu);
    goto out;
  }
  e = mount_table_get(&fs->lookups, name);
  if (fresh(fs, e, now)) {
    if (e->exists) fill_node(fs, &e->node, st);
    rc = e->exists ? 0 : -ENOENT;
    pthread_mutex_unlock(&fs->mu);
    goto out;
  }
  pthread_mutex_unlock(&fs->mu);

  rc = lookup_name(fs, name, &node);
  if (rc == 0 || rc == -ENOENT) {
    pthread_mutex_lock(&fs->mu);
    e = mount_table_put(&fs->lookups, name, CACHE_CAP_LOOKUPS,
                        now - fs->conf.ttl);
    if (e) {
      e->at = now;
      e->exists = rc == 0;
      e->node = node;
    }
    pthread_mutex_unlock(&fs->mu);
    if (rc == 0) fill_node(fs, &node, st);
  }
out:
  free(name);
  free(dir);
  return rc;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
                      off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  struct mount_fs *fs = fs_of_context();
  const char *rel = path + 1;
  char *dir;
  struct mount_entry *e;
  struct mount_dir d;
  double now = now_mono();
  int rc = 0;
  enum fuse_fill_dir_flags fill = (flags & FUSE_READDIR_PLUS)
                                      ? FUSE_FILL_DIR_PLUS
                                      : 0;

  (void)off;
  (void)fi;
  dir = *rel ? join3(fs->conf.prefix, rel, "/") : strdup(fs->conf.prefix);
  if (!dir) return -ENOMEM;
  pthread_mutex_lock(&fs->mu);
  e = mount_table_get(&fs->dirs, dir);
  if (!fresh(fs, e, now)) {
    pthread_mutex_unlock(&fs->mu);
    /* Pages are fetched one after the other and folded into one listing:
     * libfuse's high-level API answers a directory whole anyway. */
    rc = list_dir(fs, dir, &d);
    if (rc != 0) {
      free(dir);
      return rc;
    }
    pthread_mutex_lock(&fs->mu);
    e = mount_table_put(&fs->dirs, dir, CACHE_CAP_DIRS, now - fs->conf.ttl);
    if (!e) {
      pthread_mutex_unlock(&fs->mu);
      mount_dir_free(&d);
      free(dir);
      return -ENOMEM;
    }
    e->at = now;
    e->dir = d;
  }
  /* Filled under the lock: filler only copies into libfuse's buffer. */
  filler(buf, ".", NULL, 0, 0);
  filler(buf, "..", NULL, 0, 0);
  for (size_t i = 0; i < e->dir.n; i++) {
    struct stat st;

    fill_node(fs, &e->dir.v[i], &st);
    if (filler(buf, e->dir.v[i].name, &st, 0, fill) != 0) break;
  }
  pthread_mutex_unlock(&fs->mu);
  free(dir);
  return 0;
}

/* After an open found a new generation: forget what was cached about the
 * name, so that stat shows the new size. Returns 1 if the kernel's view
 * (attributes, pages) must be dropped too. */
static int note_generation(struct mount_fs *fs, const char *name, int64_t gen,
                           double now) {
  struct mount_entry *e;
  int known = 0, same = 0;

  pthread_mutex_lock(&fs->mu);
  e = mount_table_get(&fs->gens, name);
  if (e) {
    known = 1;
    same = e->generation == gen;
  }
  if (!same) {
    e = mount_table_put(&fs->gens, name, CACHE_CAP_GENS, 1e300);
    if (e) {
      e->at = now;
      e->generation = gen;
    }
  }
  if (known && !same) {
    const char *slash = strrchr(name, '/');
    char *dir = strndup(name, slash ? (size_t)(slash - name + 1) : 0);

    mount_table_del(&fs->lookups, name);
    if (dir) mount_table_del(&fs->dirs, dir);
    free(dir);
  }
  pthread_mutex_unlock(&fs->mu);
  return known && same ? 0 : known ? -1 : 1;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_file *mf;
  char *url;
  gsr_stat gs;
  int rc, seen;

  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  mf = calloc(1, sizeof *mf);
  url = join3(fs->conf.bucket, "/", fs->conf.prefix);
  if (!mf || !url || !(mf->name = join3(url, path + 1, ""))) {
    free(url);
    if (mf) free(mf->name);
    free(mf);
    return -ENOMEM;
  }
  free(url);
  atomic_init(&mf->failed_at, -1e300);
  rc = gsr_open(fs->client, mf->name, &fs->conf.file, &mf->f);
  if (rc != GSR_OK) {
    rc = fail(rc, "cannot open", mf->name);
    free(mf->name);
    free(mf);
    return rc;
  }
  gsr_fstat(mf->f, &gs);
  pthread_mutex_lock(&fs->mu);
  if (fs->closing) {
    pthread_mutex_unlock(&fs->mu);
    gsr_close(mf->f);
    free(mf->name);
    free(mf);
    return -EIO;
  }
  mf->next = fs->files.next;
  mf->prev = &fs->files;
  fs->files.next->prev = mf;
  fs->files.next = mf;
  pthread_mutex_unlock(&fs->mu);

  seen = note_generation(fs, mf->name + strlen(fs->conf.bucket) + 1,
                         gs.generation, now_mono());
  /* Same generation as the last open: the kernel's pages are still this
   * object's bytes; keep them. Otherwise it drops them. */
  fi->keep_cache = seen == 0;
  if (seen < 0)
    /* Replaced since: the kernel's cached size is the old one; make it
     * ask again (getattr on the open file answers the pinned size). */
    fuse_invalidate_path(fuse_get_context()->fuse, path);
  fi->fh = (uint64_t)(uintptr_t)mf;
  /* --direct-io: no page cache, the reader's own read sizes reach the
   * engine (faster sequential reads, no mmap; docs/mount.md). */
  fi->direct_io = fs->conf.direct_io;
  return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
  struct mount_file *mf = (struct mount_file *)(uintptr_t)fi->fh;
  int64_t n;

  (void)path;
  if (now_mono() - atomic_load(&mf->failed_at) < MOUNT_FAIL_FAST_S) return -EIO;
  n = gsr_pread(mf->f, buf, size, off);
  if (n < 0) {
    if (gsr_status_is_retryable((int)n))
      atomic_store(&mf->failed_at, now_mono());
    return fail((int)n, "cannot read", mf->name);
  }
  return (int)n;
}

static int fs_release(const char *path, struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_file *mf = (struct mount_file *)(uintptr_t)fi->fh;

  (void)path;
  pthread_mutex_lock(&fs->mu);
  mf->prev->next = mf->next;
  mf->next->prev = mf->prev;
  pthread_mutex_unlock(&fs->mu);
  gsr_close(mf->f); /* GSR_ECLOSED after a shutdown: fine */
  free(mf->name);
  free(mf);
  return 0;
}

static int fs_statfs(const char *path, struct statvfs *sv) {
  (void)path;
  memset(sv, 0, sizeof *sv);
  sv->f_bsize = 1 << 20;
  sv->f_frsize = 1 << 20;
  sv->f_namemax = 255;
  sv->f_flag = ST_RDONLY;
  return 0;
}

static const struct fuse_operations ops = {
    .init = fs_init,
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .release = fs_release,
    .statfs = fs_statfs,
};

const struct fuse_operations *mount_fs_ops(void) { return &ops; }

struct mount_fs *mount_fs_new(const struct mount_conf *conf,
                              gsr_client *client) {
  struct mount_fs *fs = calloc(1, sizeof *fs);

  if (!fs) return NULL;
  fs->conf = *conf;
  fs->client = client;
  fs->started = time(NULL);
  fs->files.next = fs->files.prev = &fs->files;
  pthread_mutex_init(&fs->mu, NULL);
  return fs;
}

void mount_fs_shutdown(struct mount_fs *fs) {
  pthread_mutex_lock(&fs->mu);
  fs->closing = 1;
  /* gsr_close cancels the file's transfers; a gsr_pread running on it
   * returns at once. release() still frees the entry later. */
  for (struct mount_file *mf = fs->files.next; mf != &fs->files; mf = mf->next)
    gsr_close(mf->f);
  pthread_mutex_unlock(&fs->mu);
}

void mount_fs_free(struct mount_fs *fs) {
  if (!fs) return;
  while (fs->files.next != &fs->files) {
    struct mount_file *mf = fs->files.next;

    fs->files.next = mf->next;
    gsr_close(mf->f);
    free(mf->name);
    free(mf);
  }
  mount_table_free(&fs->lookups);
  mount_table_free(&fs->dirs);
  mount_table_free(&fs->gens);
  pthread_mutex_destroy(&fs->mu);
  free(fs);
}
