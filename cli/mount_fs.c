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
 * - open asks nothing: it takes the generation from the listing getattr
 *   used (gsr_open_listed, pinned on the data requests). Opens of one
 *   generation share a mount_file and its engine files (streams, one per
 *   sequential reader); reads are gsr_pread from any number of threads.
 * - The kernel's pages of a name hold one generation's bytes
 *   (mount_open_cache): an open of another generation while a reader of
 *   that one is open bypasses them (direct_io).
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
#include <unistd.h>

#include "cli.h"
#include "mount.h"

/* Most cached lookups and listings: beyond, stale ones are dropped first
 * (each costs a name and a few numbers; a listing, ~100 bytes a child). */
#define CACHE_CAP_LOOKUPS 100000
#define CACHE_CAP_DIRS 4096
#define CACHE_CAP_GENS 100000

/* Engine files per open generation, one per sequential reader at a
 * time (mount_pick_stream); a read within this many bytes of where one
 * stream's last read ended continues it (the kernel's readahead requests
 * are at most 1 MiB and come in order). */
#define MOUNT_STREAMS 8
#define MOUNT_STREAM_SLACK (2u << 20)

/* One object generation opened: every open of the same name and
 * generation shares it, its engine file and its blocks. */
struct mount_file {
  struct mount_file *prev, *next;
  pthread_mutex_t mu;        /* guards the streams */
  gsr_file f[MOUNT_STREAMS]; /* the engine files (see streams) */
  struct mount_stream pos[MOUNT_STREAMS];
  uint64_t clock;         /* stream use counter */
  int closed;             /* shut down: no new streams */
  char *name;             /* the object name (no bucket) */
  char *url;              /* gs://BUCKET/NAME, for the log */
  struct mount_node node; /* what the listing said (size, mtime, ...) */
  int refs;               /* opens (fs->mu) */
  int cached_opens;       /* ... of which read through the page cache */
  /* When a read last failed after the library's retries (network,
   * timeout), as monotonic seconds: see fs_read. */
  _Atomic double failed_at;
};

/* One open (fi->fh). */
struct mount_handle {
  struct mount_handle *prev, *next; /* fs->handles, for mount_fs_free */
  struct mount_file *mf;
  int cached; /* reads through the page cache (not direct_io) */
};

/* After a failed readahead the kernel asks at once for the page it
 * needed: within this many seconds of a read that failed after all its
 * retries, reads of the same open file fail at once instead of retrying
 * the same dead server all over again. */
#define MOUNT_FAIL_FAST_S 2.0

struct mount_fs {
  struct mount_conf conf;
  gsr_client *client;
  time_t started;              /* directories' times */
  pthread_mutex_t mu;          /* guards everything below */
  struct mount_table lookups;  /* object name -> exists? attributes */
  struct mount_table dirs;     /* directory prefix -> listing */
  struct mount_table gens;     /* object name -> the generation whose
                                * bytes the kernel's page cache holds */
  struct mount_file files;     /* open generations (list head) */
  struct mount_handle handles; /* opens (list head) */
  int closing;                 /* shutting down: no new opens */
  int streams;                 /* engine files per open generation: 1 with
                                * a cache (one cache for all readers) */
};

/* ---- Log
 * -------------------------------------------------------------------*/

static int log_syslog;
static FILE *log_file; /* --log-file */

void mount_log_to_syslog(void) {
  openlog("gsread", LOG_PID, LOG_DAEMON);
  log_syslog = 1;
}

void mount_log_to_fd(int fd) {
  log_file = fdopen(fd, "a");
  if (log_file)
    setvbuf(log_file, NULL, _IOLBF, 0);
  else
    mount_log_to_syslog();
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
  if (log_file) {
    char when[32];
    time_t t = time(NULL);
    struct tm tm;

    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    fprintf(log_file, "%s gsread[%ld]: ", when, (long)getpid());
    cli_put_escaped(log_file, line);
    fputc('\n', log_file);
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

/* What path (not "/") is, from the parent's cached listing, a cached
 * lookup, or one listing request (then cached): 0 and *out, -ENOENT, or
 * another negative errno. */
static int stat_path(struct mount_fs *fs, const char *path,
                     struct mount_node *out) {
  const char *base = strrchr(path, '/') + 1;
  char *name = join3(fs->conf.prefix, path + 1, "");
  char *dir = NULL;
  struct mount_entry *e;
  struct mount_node node;
  double now = now_mono();
  int rc;

  if (name) dir = strndup(name, strlen(name) - strlen(base));
  if (!name || !dir) {
    free(name);
    free(dir);
    return -ENOMEM;
  }
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&fs->mu);
  e = mount_table_get(&fs->dirs, dir);
  if (fresh(fs, e, now)) {
    const struct mount_node *n = mount_dir_find(&e->dir, base);

    if (n) {
      *out = *n;
      out->name = NULL;
    }
    rc = n ? 0 : -ENOENT;
    pthread_mutex_unlock(&fs->mu);
    goto out;
  }
  e = mount_table_get(&fs->lookups, name);
  if (fresh(fs, e, now)) {
    if (e->exists) *out = e->node;
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
    if (rc == 0) *out = node;
  }
out:
  free(name);
  free(dir);
  return rc;
}

static int fs_getattr(const char *path, struct stat *st,
                      struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_node node;
  int rc;

  if (fi && fi->fh) {
    /* fstat of an open file: the version it is pinned to. */
    struct mount_handle *h = (struct mount_handle *)(uintptr_t)fi->fh;

    fill_node(fs, &h->mf->node, st);
    return 0;
  }
  if (strcmp(path, "/") == 0) {
    fill_dir(fs, st);
    return 0;
  }
  rc = stat_path(fs, path, &node);
  if (rc == 0) fill_node(fs, &node, st);
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

/* Forgets what is cached about object `name` and its directory, so that
 * the next stat and open ask the server. */
static void forget_name(struct mount_fs *fs, const char *name) {
  const char *slash = strrchr(name, '/');
  char *dir = strndup(name, slash ? (size_t)(slash - name + 1) : 0);

  pthread_mutex_lock(&fs->mu);
  mount_table_del(&fs->lookups, name);
  if (dir) mount_table_del(&fs->dirs, dir);
  pthread_mutex_unlock(&fs->mu);
  free(dir);
}

/* The open generation (name, gen) with one more reference, or NULL
 * (fs->mu held). */
static struct mount_file *find_file(struct mount_fs *fs, const char *name,
                                    int64_t gen) {
  for (struct mount_file *mf = fs->files.next; mf != &fs->files;
       mf = mf->next) {
    if (mf->node.generation == gen && strcmp(mf->name, name) == 0) {
      mf->refs++;
      return mf;
    }
  }
  return NULL;
}

static void free_file(struct mount_file *mf) {
  for (int i = 0; i < MOUNT_STREAMS; i++)
    if (mf->pos[i].open) gsr_close(mf->f[i]); /* ECLOSED after a shutdown */
  pthread_mutex_destroy(&mf->mu);
  free(mf->name);
  free(mf->url);
  free(mf);
}

/* The shared open of generation node->generation of object `name`: found,
 * or opened from what the listing said (no request). 0 and *out, or a
 * negative errno. */
static int get_file(struct mount_fs *fs, const char *name,
                    const struct mount_node *node, struct mount_file **out) {
  struct mount_file *mf, *other;
  gsr_list_entry e;
  int rc;

  pthread_mutex_lock(&fs->mu);
  *out = fs->closing ? NULL : find_file(fs, name, node->generation);
  rc = fs->closing ? -EIO : 0;
  pthread_mutex_unlock(&fs->mu);
  if (*out || rc) return rc;

  mf = calloc(1, sizeof *mf);
  if (!mf || !(mf->name = strdup(name)) ||
      !(mf->url = join3(fs->conf.bucket, "/", name))) {
    if (mf) free(mf->name);
    free(mf);
    return -ENOMEM;
  }
  mf->node = *node;
  mf->node.name = NULL;
  mf->refs = 1;
  pthread_mutex_init(&mf->mu, NULL);
  atomic_init(&mf->failed_at, -1e300);
  mount_node_entry(node, &e);
  rc = gsr_open_listed(fs->client, mf->url, &fs->conf.file, &e, &mf->f[0]);
  if (rc != GSR_OK) {
    rc = fail(rc, "cannot open", mf->url);
    free_file(mf);
    return rc;
  }
  mf->pos[0].open = 1;
  pthread_mutex_lock(&fs->mu);
  /* Another open of the same generation may have won the race. */
  other = fs->closing ? NULL : find_file(fs, name, node->generation);
  if (!other && !fs->closing) {
    mf->next = fs->files.next;
    mf->prev = &fs->files;
    fs->files.next->prev = mf;
    fs->files.next = mf;
  }
  rc = fs->closing ? -EIO : 0;
  pthread_mutex_unlock(&fs->mu);
  if (other || rc) {
    free_file(mf);
    mf = other;
  }
  *out = mf;
  return rc;
}

/* Decides how open h of generation gen shares the page cache (see
 * mount_open_cache); 1 if the name was known at another generation (the
 * kernel's attributes are then stale). fs->mu held. */
static int share_cache(struct mount_fs *fs, struct mount_handle *h, int *keep,
                       int *direct) {
  const struct mount_file *mf = h->mf;
  struct mount_entry *e = mount_table_get(&fs->gens, mf->name);
  int64_t cache_gen = e ? e->generation : 0, was = cache_gen;
  int other_cached = 0;

  for (const struct mount_file *o = fs->files.next; o != &fs->files;
       o = o->next)
    if (o != mf && o->cached_opens > 0 && strcmp(o->name, mf->name) == 0)
      other_cached = 1;
  mount_open_cache(&cache_gen, mf->node.generation, other_cached, keep, direct);
  if (fs->conf.direct_io) *direct = 1;
  h->cached = !*direct;
  if (h->cached) h->mf->cached_opens++;
  if (cache_gen != was) {
    e = mount_table_put(&fs->gens, mf->name, CACHE_CAP_GENS, 1e300);
    if (e) e->generation = cache_gen;
  }
  return was != 0 && was != mf->node.generation;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_handle *h;
  struct mount_node node;
  char *name;
  int rc, keep = 0, direct = 0, replaced;

  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  if (strcmp(path, "/") == 0) return -EISDIR;
  /* The listing the lookup already made names the generation: no
   * metadata request (gsr_open_listed); the data request is pinned. */
  if ((rc = stat_path(fs, path, &node)) != 0) return rc;
  if (node.is_dir) return -EISDIR;
  h = calloc(1, sizeof *h);
  name = join3(fs->conf.prefix, path + 1, "");
  if (!h || !name) {
    free(h);
    free(name);
    return -ENOMEM;
  }
  rc = get_file(fs, name, &node, &h->mf);
  free(name);
  if (rc != 0) {
    free(h);
    return rc;
  }
  pthread_mutex_lock(&fs->mu);
  replaced = share_cache(fs, h, &keep, &direct);
  h->next = fs->handles.next;
  h->prev = &fs->handles;
  fs->handles.next->prev = h;
  fs->handles.next = h;
  pthread_mutex_unlock(&fs->mu);
  if (replaced)
    /* The kernel's cached size is another generation's: make it ask
     * again (getattr on an open file answers its pinned size). */
    fuse_invalidate_path(fuse_get_context()->fuse, path);
  fi->keep_cache = keep;
  /* --direct-io: no page cache, the reader's own read sizes reach the
   * engine (faster sequential reads, no mmap; docs/mount.md). */
  fi->direct_io = direct;
  fi->fh = (uint64_t)(uintptr_t)h;
  return 0;
}

/* The engine file a read of size bytes at off goes to (see
 * mount_pick_stream), opened from the listing on first use (no request). */
static gsr_file pick_stream(struct mount_fs *fs, struct mount_file *mf,
                            uint64_t off, size_t size) {
  gsr_list_entry e;
  gsr_file f;
  int i;

  pthread_mutex_lock(&mf->mu);
  i = mount_pick_stream(mf->pos, fs->streams, off, size, MOUNT_STREAM_SLACK,
                        ++mf->clock);
  if (!mf->pos[i].open) {
    mount_node_entry(&mf->node, &e);
    if (!mf->closed && gsr_open_listed(fs->client, mf->url, &fs->conf.file, &e,
                                       &mf->f[i]) == GSR_OK)
      mf->pos[i].open = 1;
    else
      i = 0; /* the first one is always open */
  }
  f = mf->f[i];
  pthread_mutex_unlock(&mf->mu);
  return f;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_file *mf = ((struct mount_handle *)(uintptr_t)fi->fh)->mf;
  int64_t n;

  (void)path;
  if (now_mono() - atomic_load(&mf->failed_at) < MOUNT_FAIL_FAST_S) return -EIO;
  n = gsr_pread(pick_stream(fs, mf, (uint64_t)off, size), buf, size, off);
  if (n < 0) {
    if (gsr_status_is_retryable((int)n))
      atomic_store(&mf->failed_at, now_mono());
    if (n == GSR_ECHANGED)
      /* Replaced since the listing: the next open lists again and gets
       * the new generation. */
      forget_name(fs, mf->name);
    return fail((int)n, "cannot read", mf->url);
  }
  return (int)n;
}

static int fs_release(const char *path, struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_handle *h = (struct mount_handle *)(uintptr_t)fi->fh;
  struct mount_file *mf = h->mf;
  int last;

  (void)path;
  pthread_mutex_lock(&fs->mu);
  h->prev->next = h->next;
  h->next->prev = h->prev;
  if (h->cached) mf->cached_opens--;
  last = --mf->refs == 0;
  if (last) {
    mf->prev->next = mf->next;
    mf->next->prev = mf->prev;
  }
  pthread_mutex_unlock(&fs->mu);
  if (last) free_file(mf);
  free(h);
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
  fs->streams = conf->file.cache_type && strcmp(conf->file.cache_type, "none")
                    ? 1
                    : MOUNT_STREAMS;
  fs->files.next = fs->files.prev = &fs->files;
  fs->handles.next = fs->handles.prev = &fs->handles;
  pthread_mutex_init(&fs->mu, NULL);
  return fs;
}

void mount_fs_shutdown(struct mount_fs *fs) {
  pthread_mutex_lock(&fs->mu);
  fs->closing = 1;
  /* gsr_close cancels the file's transfers; a gsr_pread running on it
   * returns at once. release() still frees the entry later. */
  for (struct mount_file *mf = fs->files.next; mf != &fs->files;
       mf = mf->next) {
    pthread_mutex_lock(&mf->mu);
    mf->closed = 1;
    for (int i = 0; i < MOUNT_STREAMS; i++)
      if (mf->pos[i].open) gsr_close(mf->f[i]);
    pthread_mutex_unlock(&mf->mu);
  }
  pthread_mutex_unlock(&fs->mu);
}

void mount_fs_free(struct mount_fs *fs) {
  if (!fs) return;
  /* Opens never released (unmounted with files open). */
  while (fs->handles.next != &fs->handles) {
    struct mount_handle *h = fs->handles.next;

    fs->handles.next = h->next;
    free(h);
  }
  while (fs->files.next != &fs->files) {
    struct mount_file *mf = fs->files.next;

    fs->files.next = mf->next;
    free_file(mf);
  }
  mount_table_free(&fs->lookups);
  mount_table_free(&fs->dirs);
  mount_table_free(&fs->gens);
  pthread_mutex_destroy(&fs->mu);
  free(fs);
}
