/* gsread mount: the FUSE operations (libfuse3's high-level, path-based
 * API, run by its multi-threaded loop).
 *
 * - A path "/a/b" is the object PREFIX + "a/b"; directories are the
 *   prefixes of the listing ("a/"), with zero-length "a/" placeholder
 *   objects folded in (map.c).
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
 * - Reads are answered from the engine's blocks (gsr_pread_slices): the
 *   slices go into a pipe of the FUSE thread (vmsplice: references to
 *   the pages, no copy), and the reply names the pipe, which libfuse
 *   splices into /dev/fuse (FUSE_CAP_SPLICE_WRITE). See fs_read_buf.
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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
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
 * stream's last read ended continues it, and one at most this many bytes
 * behind it is served by it (the kernel's readahead requests are at most
 * 1 MiB; those of 32 readers of one file arrive up to 3 MiB out of
 * order). */
#define MOUNT_STREAMS 8
#define MOUNT_STREAM_SLACK (4u << 20)

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

/* The most slices one read reply takes from the engine. */
#define MOUNT_SLICES 16

/* A FUSE thread's reply pipe, and the slices whose pages the last reply
 * through it named: held until the thread's next read (or its end), as
 * only then is that reply surely in the kernel's pages (fs_read_buf). */
struct mount_pipe {
  struct mount_pipe *next; /* fs->pipes_free */
  struct mount_fs *fs;
  int fd[2]; /* -1: none */
  gsr_slice held[MOUNT_SLICES];
  size_t n_held;
};

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
  /* Replies through pipes (fs_read_buf): */
  size_t pipe_size;       /* the pipes' size; 0: replies are copied */
  atomic_int splice;      /* libfuse splices (FUSE_CAP_SPLICE_WRITE): set
                           * by init, on one of libfuse's threads */
  pthread_key_t pipe_key; /* the thread's struct mount_pipe */
  int have_key;           /* pipe_key was created */
  pthread_mutex_t pipes_mu;
  pthread_cond_t pipes_cv;
  struct mount_pipe *pipes_free; /* of threads that ended (pipes_mu) */
  int pipes_owned;               /* held by live threads (pipes_mu) */
  _Atomic uint64_t replies_piped, replies_copied;
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

/* One name, by a listing with the name as prefix (see map.c):
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
  /* Replies from the engine's blocks through a pipe (fs_read_buf) need
   * libfuse to splice them into /dev/fuse. No SPLICE_MOVE: the pages
   * are the engine's, lent (the kernel copies them into its own). */
  if (fs->pipe_size && (conn->capable & FUSE_CAP_SPLICE_WRITE)) {
    conn->want |= FUSE_CAP_SPLICE_WRITE;
    atomic_store(&fs->splice, 1);
  }
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

/* A read that failed: logged, and its errno for FUSE. */
static int read_failed(struct mount_fs *fs, struct mount_file *mf, int64_t n) {
  if (gsr_status_is_retryable((int)n)) atomic_store(&mf->failed_at, now_mono());
  if (n == GSR_ECHANGED)
    /* Replaced since the listing: the next open lists again and gets
     * the new generation. */
    forget_name(fs, mf->name);
  return fail((int)n, "cannot read", mf->url);
}

static void release_held(struct mount_pipe *mp) {
  for (size_t i = 0; i < mp->n_held; i++) gsr_slice_release(&mp->held[i]);
  mp->n_held = 0;
}

static void close_pipe(struct mount_pipe *mp) {
  if (mp->fd[0] >= 0) close(mp->fd[0]);
  if (mp->fd[1] >= 0) close(mp->fd[1]);
  mp->fd[0] = mp->fd[1] = -1;
}

/* A pipe of fs->pipe_size bytes into mp->fd: 0, or -1 (none). */
static int open_pipe(struct mount_fs *fs, struct mount_pipe *mp) {
  if (pipe2(mp->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
    mp->fd[0] = mp->fd[1] = -1;
    return -1;
  }
  if (fcntl(mp->fd[0], F_SETPIPE_SZ, (int)fs->pipe_size) < (int)fs->pipe_size) {
    close_pipe(mp);
    return -1;
  }
  return 0;
}

/* A FUSE thread's end (a key destructor): its last reply is long in the
 * kernel, so its slices go; the pipe waits for another thread. */
static void pipe_thread_end(void *arg) {
  struct mount_pipe *mp = arg;
  struct mount_fs *fs = mp->fs;

  release_held(mp);
  pthread_mutex_lock(&fs->pipes_mu);
  mp->next = fs->pipes_free;
  fs->pipes_free = mp;
  fs->pipes_owned--;
  pthread_cond_broadcast(&fs->pipes_cv);
  pthread_mutex_unlock(&fs->pipes_mu);
}

/* This thread's pipe, with no slices held and nothing in it; NULL if
 * there is none (replies are then copied). */
static struct mount_pipe *thread_pipe(struct mount_fs *fs) {
  struct mount_pipe *mp = pthread_getspecific(fs->pipe_key);
  int queued = 0;

  if (!mp) {
    pthread_mutex_lock(&fs->pipes_mu);
    mp = fs->pipes_free;
    if (mp) fs->pipes_free = mp->next;
    pthread_mutex_unlock(&fs->pipes_mu);
    if (!mp && (mp = calloc(1, sizeof *mp))) {
      mp->fs = fs;
      mp->fd[0] = mp->fd[1] = -1;
    }
    if (!mp) return NULL;
    pthread_mutex_lock(&fs->pipes_mu);
    fs->pipes_owned++;
    pthread_mutex_unlock(&fs->pipes_mu);
    if (pthread_setspecific(fs->pipe_key, mp) != 0) {
      pipe_thread_end(mp);
      return NULL;
    }
  }
  /* This thread's last reply was sent before it took this request
   * (libfuse's fuse_lib_read returns from fuse_reply_data after its
   * splice into /dev/fuse, which copies into the kernel's pages): the
   * pages it named are free to go back to the engine. */
  release_held(mp);
  /* A reply libfuse gave up on half way may have left bytes behind. */
  if (mp->fd[0] >= 0 && (ioctl(mp->fd[0], FIONREAD, &queued) != 0 || queued))
    close_pipe(mp);
  if (mp->fd[0] < 0 && open_pipe(fs, mp) != 0) return NULL;
  return mp;
}

/* Puts the slices into the pipe (references to their pages, no copy):
 * 1 if all went in, else 0 with the pipe closed (its bytes dropped). */
static int fill_pipe(struct mount_pipe *mp) {
  struct iovec iov[MOUNT_SLICES];
  size_t n = mp->n_held, first = 0;

  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = (void *)mp->held[i].data;
    iov[i].iov_len = mp->held[i].len;
  }
  while (first < n) {
    /* No SPLICE_F_GIFT: the pages stay the engine's, and unchanged
     * while held. Non-blocking: a full pipe must not stall the thread. */
    ssize_t put = vmsplice(mp->fd[1], iov + first, n - first,
                           SPLICE_F_NONBLOCK);

    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      close_pipe(mp);
      return 0;
    }
    while (first < n && (size_t)put >= iov[first].iov_len)
      put -= (ssize_t)iov[first++].iov_len;
    if (first < n) {
      iov[first].iov_base = (char *)iov[first].iov_base + put;
      iov[first].iov_len -= (size_t)put;
    }
  }
  return 1;
}

/* A reply bufvec of one buffer, which libfuse frees (and, if it is
 * memory, frees that too: fuse_free_buf). NULL if out of memory. */
static struct fuse_bufvec *new_bufvec(size_t size) {
  struct fuse_bufvec *bv = malloc(sizeof *bv);

  if (bv) *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
  return bv;
}

/* Answers from the held slices through the pipe if
 * mount_reply_by_pipe says so: 1 and *bufp set, 0 if not (slices kept),
 * or a negative errno. */
static int reply_by_pipe(struct mount_fs *fs, struct mount_pipe *mp, size_t len,
                         struct fuse_bufvec **bufp) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = 0;
  struct fuse_bufvec *bv;

  for (size_t i = 0; i < mp->n_held; i++)
    pages += mount_slice_pages((uintptr_t)mp->held[i].data, mp->held[i].len,
                               page);
  if (!mount_reply_by_pipe(len, pages, fs->pipe_size, page)) return 0;
  if (!(bv = new_bufvec(len))) return -ENOMEM;
  if (!fill_pipe(mp)) {
    free(bv);
    return 0;
  }
  bv->buf[0].flags = FUSE_BUF_IS_FD;
  bv->buf[0].fd = mp->fd[0];
  *bufp = bv;
  atomic_fetch_add(&fs->replies_piped, 1);
  return 1;
}

/* The reply copied into a buffer libfuse frees: from the held slices
 * (released here), then the rest of the size bytes by gsr_pread. */
static int reply_copied(struct mount_fs *fs, struct mount_file *mf, gsr_file f,
                        gsr_slice *held, size_t *n_held, size_t size, off_t off,
                        struct fuse_bufvec **bufp) {
  struct fuse_bufvec *bv = new_bufvec(0);
  char *buf = size ? malloc(size) : NULL;
  size_t have = 0;
  int64_t n = 0;

  if (!bv || (size && !buf)) {
    free(bv);
    free(buf);
    return -ENOMEM;
  }
  for (size_t i = 0; i < *n_held; i++) {
    memcpy(buf + have, held[i].data, held[i].len);
    have += held[i].len;
    gsr_slice_release(&held[i]);
  }
  *n_held = 0;
  if (have < size) n = gsr_pread(f, buf + have, size - have, off + (off_t)have);
  if (n < 0) {
    free(bv);
    free(buf);
    return read_failed(fs, mf, n);
  }
  bv->buf[0].mem = buf;
  bv->buf[0].size = have + (size_t)n;
  *bufp = bv;
  atomic_fetch_add(&fs->replies_copied, 1);
  return 0;
}

/* libfuse's read_buf: the reply names this thread's pipe, into which
 * the engine's slices went (vmsplice: page references, no copy). libfuse
 * (fuse_lib_read -> fuse_reply_data -> fuse_send_data_iov) splices the
 * pipe into its own and that into /dev/fuse before it returns, then
 * fuse_free_buf frees the bufvec (an FD buffer's fd is left alone). A
 * memory buffer would be freed with free(), so slices cannot be handed
 * over as memory: without a pipe (or when libfuse would not splice the
 * reply: mount_reply_by_pipe) the bytes are copied. */
static int fs_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size,
                       off_t off, struct fuse_file_info *fi) {
  struct mount_fs *fs = fs_of_context();
  struct mount_file *mf = ((struct mount_handle *)(uintptr_t)fi->fh)->mf;
  struct mount_pipe *mp;
  size_t none = 0;
  gsr_file f;
  int64_t n;
  int rc;

  (void)path;
  if (now_mono() - atomic_load(&mf->failed_at) < MOUNT_FAIL_FAST_S) return -EIO;
  f = pick_stream(fs, mf, (uint64_t)off, size);
  mp = atomic_load(&fs->splice) ? thread_pipe(fs) : NULL;
  if (!mp) return reply_copied(fs, mf, f, NULL, &none, size, off, bufp);
  n = gsr_pread_slices(f, size, off, mp->held, MOUNT_SLICES, &mp->n_held);
  if (n < 0) return read_failed(fs, mf, n);
  /* Fewer than size bytes in every slice there was room for: they ran
   * out before the end of the object (the copy reads the rest). */
  if ((size_t)n == size || mp->n_held < MOUNT_SLICES) {
    rc = reply_by_pipe(fs, mp, (size_t)n, bufp);
    if (rc != 0) return rc < 0 ? rc : 0;
  }
  return reply_copied(fs, mf, f, mp->held, &mp->n_held, size, off, bufp);
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
    .read_buf = fs_read_buf,
    .release = fs_release,
    .statfs = fs_statfs,
};

const struct fuse_operations *mount_fs_ops(void) { return &ops; }

/* The largest pipe this process gets, up to 2 MiB (a 1 MiB reply and
 * libfuse's spare pages): beyond /proc/sys/fs/pipe-max-size (1 MiB by
 * default) only with CAP_SYS_RESOURCE. 0 if pipes cannot grow to 64 KiB
 * (replies are then copied). */
static size_t probe_pipe_size(void) {
  static const int want[] = {2 << 20, 1 << 20, 512 << 10, 256 << 10, 64 << 10};
  size_t got = 0;
  int fd[2];

  if (pipe2(fd, O_CLOEXEC) != 0) return 0;
  for (size_t i = 0; i < sizeof want / sizeof want[0] && !got; i++) {
    int r = fcntl(fd[0], F_SETPIPE_SZ, want[i]);

    if (r >= want[i]) got = (size_t)r;
  }
  close(fd[0]);
  close(fd[1]);
  return got;
}

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
  /* The kernel's readahead of several readers reaches us out of order:
   * a read a little behind a stream is served from what its engine file
   * just passed (mount_pick_stream), not fetched by another. */
  if (fs->conf.file.reorder_bytes == 0)
    fs->conf.file.reorder_bytes = MOUNT_STREAM_SLACK;
  fs->files.next = fs->files.prev = &fs->files;
  fs->handles.next = fs->handles.prev = &fs->handles;
  pthread_mutex_init(&fs->mu, NULL);
  pthread_mutex_init(&fs->pipes_mu, NULL);
  pthread_cond_init(&fs->pipes_cv, NULL);
  atomic_init(&fs->splice, 0);
  atomic_init(&fs->replies_piped, 0);
  atomic_init(&fs->replies_copied, 0);
  if (pthread_key_create(&fs->pipe_key, pipe_thread_end) == 0) {
    fs->have_key = 1;
    fs->pipe_size = probe_pipe_size();
  }
  if (conf->debug) {
    /* The kernel's largest read (its readahead) gets a reply from the
     * engine's blocks only if libfuse's pipe can hold it: not with
     * Linux's default fs.pipe-max-size (1 MiB) and no CAP_SYS_RESOURCE. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = conf->max_readahead;
    size_t want = 64 << 10; /* pipes are sized in powers of two */
    while (want < len + 4 * page) want *= 2;
    if (len >= 2 * page &&
        !mount_reply_by_pipe(len, len / page + 1, fs->pipe_size, page))
      mount_log("debug: replies of %zu KiB are copied: pipes grow to %zu KiB "
                "here; for replies from the engine's blocks, set "
                "fs.pipe-max-size to %zu (docs/mount.md)",
                len >> 10, fs->pipe_size >> 10, want);
  }
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

/* Ends the pipes (no FUSE thread runs any more): waits briefly for the
 * threads that still end (libfuse detaches idle ones) to give theirs
 * back, so that no slice outlives the client. Returns how many are
 * still out (then fs must stay). */
static int free_pipes(struct mount_fs *fs) {
  struct mount_pipe *mp;
  struct timespec until;
  int left;

  if (!fs->have_key) return 0;
  mp = pthread_getspecific(fs->pipe_key);
  if (mp) {
    pthread_setspecific(fs->pipe_key, NULL);
    pipe_thread_end(mp);
  }
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 5;
  pthread_mutex_lock(&fs->pipes_mu);
  while (fs->pipes_owned > 0 &&
         pthread_cond_timedwait(&fs->pipes_cv, &fs->pipes_mu, &until) == 0) {
  }
  while ((mp = fs->pipes_free)) {
    fs->pipes_free = mp->next;
    release_held(mp); /* none: released when given back */
    close_pipe(mp);
    free(mp);
  }
  left = fs->pipes_owned;
  pthread_mutex_unlock(&fs->pipes_mu);
  if (left == 0) {
    pthread_key_delete(fs->pipe_key);
    pthread_cond_destroy(&fs->pipes_cv);
    pthread_mutex_destroy(&fs->pipes_mu);
  }
  return left;
}

void mount_fs_free(struct mount_fs *fs) {
  int pipes_left;

  if (!fs) return;
  if (fs->conf.debug)
    mount_log("debug: read replies: %llu through a pipe from the engine's "
              "blocks, %llu copied",
              (unsigned long long)atomic_load(&fs->replies_piped),
              (unsigned long long)atomic_load(&fs->replies_copied));
  pipes_left = free_pipes(fs);
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
  /* A thread that never gave its pipe back would touch fs: left. */
  if (pipes_left == 0) free(fs);
}
