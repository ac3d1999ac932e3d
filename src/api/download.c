/* gsr_download and gsr_download_fd: a whole object to a local file (via a
 * temporary file renamed once verified) or to a file descriptor.
 *
 * The object is read as every sequential reader is, by the engine
 * (src/read/prefetch/): a file opened with prefetch "sequential", its window
 * of blocks at full width from the first byte, the blocks written out in
 * order from where they landed (gsr__file_send). The CRC32C of each block
 * is computed by the I/O thread as its bytes arrive, and the blocks' are
 * combined: no second pass over the bytes.
 *
 * SPDX-License-Identifier: MIT
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch/rfetch.h"
#include "read/file.h"

void gsr_download_options_init(gsr_download_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o)); /* part_size 0: chosen per object */
}

struct dl {
  gsr_client *c;
  struct gsr__file *f;
  const gsr_download_options *o;
  int fd;
  uint64_t size;
  struct gsr__send send;
};

/* Writes the whole object to d->fd. */
static int run(struct dl *d, const char *what) {
  d->send = (struct gsr__send){.fd = d->fd,
                               .what = what,
                               .progress = d->o->progress,
                               .progress_arg = d->o->progress_arg};
  return gsr__file_send(d->f, 0, d->size, &d->send);
}

static int check_options(const gsr_download_options *o) {
  if (o->concurrency < 0 || o->concurrency > 256)
    return gsr__err(GSR_EINVAL, "download: concurrency must be 0 to 256");
  if (o->part_size > ((uint64_t)1 << 40) || o->part_size > SIZE_MAX / 2)
    return gsr__err(GSR_EINVAL, "download: part_size is too large");
  if (o->part_size != 0 && o->part_size < GSR_DOWNLOAD_MIN_PART_SIZE)
    return gsr__err(GSR_EINVAL,
                    "download: part_size %llu is below the "
                    "minimum of %llu bytes (one request per part)",
                    (unsigned long long)o->part_size,
                    (unsigned long long)GSR_DOWNLOAD_MIN_PART_SIZE);
  return GSR_OK;
}

/* Opens the object for the engine. part_size, if given, is the engine's
 * block: its window then holds 2 x width + 2 of them (policy.c). */
static int dl_open(struct dl *d, gsr_client *c, const char *url,
                   const gsr_download_options *o, gsr_file *id) {
  gsr_file_options fo;
  int status;
  gsr_file_options_init(&fo);
  fo.prefetch = "sequential";
  fo.concurrency = o->concurrency;
  if ((status = gsr_open(c, url, &fo, id)) != GSR_OK) return status;
  if ((status = gsr__handle_get(*id, &d->f)) != GSR_OK) return status;
  gsr__file_set_block(d->f, o->part_size);
  d->c = c;
  d->o = o;
  d->size = gsr__file_size(d->f);
  return GSR_OK;
}

static void dl_close(struct dl *d, gsr_file id) {
  if (d->f) gsr__file_unref(d->f);
  if (id != GSR_FILE_INVALID) gsr_close(id);
}

/* The whole object's CRC32C from the parts', then the verdict. */
static int verify(struct dl *d, const char *what, gsr_download_stats *st) {
  st->crc32c = d->send.crc;
  st->bytes = d->send.written;
  const gsr_stat *os = &d->f->obj->st;
  if (d->send.written != d->size)
    return gsr__err(GSR_EINTEGRITY, "%s: got %llu bytes of %llu",
                    d->f->obj->display, (unsigned long long)d->send.written,
                    (unsigned long long)d->size);
  int status = gsr__file_check_crc(d->f, d->send.crc, what);
  if (status == GSR_OK) st->crc32c_verified = os->has_crc32c;
  return status;
}

typedef int (*dl_body)(struct dl *d, void *arg, gsr_download_stats *st);

/* Opens, runs body, fills the stats: what both entry points share. */
static int download(gsr_client *c, const char *url,
                    const gsr_download_options *o, gsr_download_stats *st,
                    dl_body body, void *arg) {
  gsr_download_options defaults;
  gsr_download_stats scratch;
  gsr_client_stats cs0, cs1;
  struct dl d;
  gsr_file id = GSR_FILE_INVALID;
  int status;
  if (c == NULL || url == NULL)
    return gsr__err(GSR_EINVAL, "gsr_download: client or url is NULL");
  if (o == NULL) {
    gsr_download_options_init(&defaults);
    o = &defaults;
  }
  if (st == NULL) st = &scratch;
  memset(st, 0, sizeof(*st));
  if ((status = check_options(o)) != GSR_OK) return status;
  memset(&d, 0, sizeof(d));
  d.fd = -1;
  uint64_t t0 = gsr__now_ns();
  gsr_client_stats_get(c, &cs0);
  status = dl_open(&d, c, url, o, &id);
  if (status == GSR_OK) status = body(&d, arg, st);
  if (d.f != NULL) {
    gsr_file_stats fs;
    gsr__file_stats(d.f, &fs);
    st->requests = fs.requests;
  }
  gsr_client_stats_get(c, &cs1);
  st->retries = cs1.retries - cs0.retries;
  st->seconds = (double)(gsr__now_ns() - t0) / 1e9;
  if (status == GSR_OK && o->progress)
    o->progress(o->progress_arg, d.size, d.size);
  dl_close(&d, id);
  return status;
}

/* ---- To a file descriptor. */

static int body_fd(struct dl *d, void *arg, gsr_download_stats *st) {
  d->fd = *(int *)arg;
  int status = run(d, "the output");
  return status == GSR_OK ? verify(d, "written", st) : status;
}

int gsr_download_fd(gsr_client *c, const char *url, int fd,
                    const gsr_download_options *o, gsr_download_stats *st) {
  if (fd < 0) return gsr__err(GSR_EINVAL, "gsr_download_fd: bad fd %d", fd);
  return download(c, url, o, st, body_fd, &fd);
}

/* ---- To a file, through a temporary file beside it. */

struct dest {
  const char *path;
  char *final; /* the destination, resolved */
  char *tmp;   /* the temporary file, once created */
};

/* The last '/'-component of the object's name or URL path (before its
 * query or fragment), of any length: where it starts, its length in
 * *len (0 if none). */
static const char *object_basename(const struct gsr__object *obj, size_t *len) {
  const char *name = obj->url.object ? obj->url.object
                     : obj->url.path ? obj->url.path
                                     : obj->url.href;
  size_t end = strcspn(name, obj->url.href == name ? "?#" : "");
  size_t start = end;
  while (start > 0 && name[start - 1] != '/') start--;
  *len = end - start;
  return name + start;
}

static int resolve_dest(struct dl *d, struct dest *t) {
  struct stat sb;
  if (stat(t->path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    size_t blen;
    const char *base = object_basename(d->f->obj, &blen);
    if (blen == 0 || (blen == 1 && base[0] == '.') ||
        (blen == 2 && base[0] == '.' && base[1] == '.'))
      return gsr__err(GSR_EINVAL,
                      "%s is a directory and %s has no file name "
                      "to give the copy: name the file",
                      t->path, d->f->obj->display);
    size_t n = strlen(t->path) + blen + 2;
    if ((t->final = gsr__malloc(n)) == NULL)
      return gsr__err(GSR_ENOMEM, "out of memory");
    int slash = t->path[strlen(t->path) - 1] == '/';
    snprintf(t->final, n, "%s%s%.*s", t->path, slash ? "" : "/", (int)blen,
             base);
  } else if ((t->final = gsr__strdup(t->path)) == NULL) {
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  return GSR_OK;
}

/* Tells the caller (gsr_download_options.temp_file) that t->tmp is about
 * to exist (1) or is gone (0). t->tmp is not changed in between, so a
 * signal handler may unlink() it at any moment. */
static void announce(const struct dl *d, const struct dest *t, int created) {
  if (d->o->temp_file != NULL)
    d->o->temp_file(d->o->temp_file_arg, t->tmp, created);
}

/* Creates DIR/.BASE.gsread-PID-XXXXXX with O_EXCL. Not mkstemp: its mode
 * is 0600, and 0666 minus the umask (what cp gives a new file) can only be
 * had race-free from open's mode argument. Announced before open(), so
 * that no moment exists where the file is there and the caller does not
 * know its name. */
static int create_tmp(const struct dl *d, struct dest *t, int *fd) {
  static atomic_uint_fast64_t counter;
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = strlen(t->final) + 48; /* ".", ".gsread-", a long, "-", sfx */
  if ((t->tmp = gsr__malloc(n)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  for (int attempt = 0; attempt < 100; attempt++) {
    uint64_t x = gsr__now_ns() ^ ((uint64_t)getpid() << 32) ^
                 (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull);
    char sfx[GSR__TEMP_SFX_LEN + 1];
    for (int i = 0; i < GSR__TEMP_SFX_LEN; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      sfx[i] = alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
    }
    sfx[GSR__TEMP_SFX_LEN] = '\0';
    gsr__temp_name(t->tmp, n, t->final, (long)getpid(), sfx);
    announce(d, t, 1);
    *fd = gsr__open(t->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (*fd >= 0) return GSR_OK;
    int e = errno;
    announce(d, t, 0);
    errno = e;
    if (errno != EEXIST) break;
  }
  int e = errno;
  gsr__free(t->tmp);
  t->tmp = NULL;
  return gsr__err(GSR_EIO, "cannot create a temporary file beside %s: %s",
                  t->final, gsr__errno_text(e));
}

/* Removes the temporary files that copies to the same destination left
 * behind in processes that are gone (SIGKILL, a crash): the owner's pid is
 * in the name, and a file is removed only when kill(pid, 0) says there is
 * no such process (ESRCH). A live owner (this process included), or one
 * we may not signal (EPERM), keeps its file. Best effort: a directory we
 * cannot read does not fail the copy (creating the temporary file will
 * say why, if it is that). */
static void remove_stale(const struct dl *d, const struct dest *t) {
  const char *slash = strrchr(t->final, '/');
  const char *base = slash ? slash + 1 : t->final;
  char *dir = slash ? gsr__strndup(t->final, slash == t->final
                                                 ? 1
                                                 : (size_t)(slash - t->final))
                    : gsr__strdup(".");
  DIR *dh = dir ? opendir(dir) : NULL;
  struct dirent *e;
  if (dh != NULL) {
    while ((e = readdir(dh)) != NULL) {
      struct stat sb;
      long pid;
      if (!gsr__temp_owner(e->d_name, base, &pid) || kill((pid_t)pid, 0) == 0 ||
          errno != ESRCH)
        continue;
      if (fstatat(dirfd(dh), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISREG(sb.st_mode) && unlinkat(dirfd(dh), e->d_name, 0) == 0)
        GSR__TRACE(d->c, "download: removed %s/%s (its process %ld is gone)",
                   dir, e->d_name, pid);
    }
    closedir(dh);
  }
  gsr__free(dir);
}

/* A destination that is there and not a regular file (a device, a FIFO,
 * or a symlink to one): written into, as cp(1) does, never replaced by a
 * renamed file. Opening a FIFO waits for its reader, as cp's does. */
static int body_special(struct dl *d, struct dest *t, gsr_download_stats *st) {
  d->fd = gsr__open(t->final, O_WRONLY, 0);
  if (d->fd < 0)
    return gsr__err(GSR_EIO, "cannot open %s: %s", t->final,
                    gsr__errno_text(errno));
  int status = run(d, t->final);
  if (status == GSR_OK) status = verify(d, "written", st);
  if (close(d->fd) != 0 && status == GSR_OK)
    status = gsr__err(GSR_EIO, "cannot write %s: %s", t->final,
                      gsr__errno_text(errno));
  d->fd = -1;
  return status;
}

static int body_file(struct dl *d, void *arg, gsr_download_stats *st) {
  struct dest *t = arg;
  struct stat sb;
  int status = resolve_dest(d, t);
  if (status == GSR_OK && stat(t->final, &sb) == 0 && !S_ISREG(sb.st_mode))
    return body_special(d, t, st);
  if (status == GSR_OK) {
    remove_stale(d, t);
    status = create_tmp(d, t, &d->fd);
  }
  if (status != GSR_OK) return status;
  /* Set the length first: a full disk shows up here, before any byte is
   * fetched. */
  if (ftruncate(d->fd, (off_t)d->size) != 0)
    status = gsr__err(GSR_EIO, "cannot size %s to %llu bytes: %s", t->tmp,
                      (unsigned long long)d->size, gsr__errno_text(errno));
  if (status == GSR_OK) status = run(d, t->tmp);
  if (status == GSR_OK) status = verify(d, "downloaded", st);
  if (status == GSR_OK &&
      (fstat(d->fd, &sb) != 0 || (uint64_t)sb.st_size != d->size))
    status = gsr__err(GSR_EINTEGRITY, "%s: the file is not %llu bytes long",
                      t->tmp, (unsigned long long)d->size);
  /* close() reports delayed write errors (NFS, quota): check it. */
  if (close(d->fd) != 0 && status == GSR_OK)
    status = gsr__err(GSR_EIO, "cannot write %s: %s", t->tmp,
                      gsr__errno_text(errno));
  d->fd = -1;
  if (status == GSR_OK && rename(t->tmp, t->final) != 0)
    status = gsr__err(GSR_EIO, "cannot rename %s to %s: %s", t->tmp, t->final,
                      gsr__errno_text(errno));
  if (status != GSR_OK) unlink(t->tmp);
  announce(d, t, 0);
  return status;
}

int gsr_download(gsr_client *c, const char *url, const char *dest_path,
                 const gsr_download_options *o, gsr_download_stats *st) {
  if (dest_path == NULL || *dest_path == '\0')
    return gsr__err(GSR_EINVAL, "gsr_download: dest_path is empty");
  struct dest t = {dest_path, NULL, NULL};
  int status = download(c, url, o, st, body_file, &t);
  gsr__free(t.final);
  gsr__free(t.tmp);
  return status;
}
