/* gsr_download and gsr_download_fd: a whole object to a local file (via a
 * temporary file renamed once verified) or to a stream, as parts fetched
 * concurrently.
 *
 * Shape: one pinned file (gsr_open, cache "none", prefetch off), N slots,
 * each a part_size buffer and at most one range fetch of one request.
 * The caller's thread starts a part in every slot, then loops: write out
 * (and CRC) the bytes that arrived in each slot, at least 1 MiB at a time,
 * while the rest streams in; when a slot's fetch completes, finish its
 * tail and start the next part in it. For a file every slot drains
 * (pwrite at its offset); for a stream only the slot holding the next
 * part in order (the others keep their bytes until their turn), so memory
 * stays at N buffers either way.
 *
 * Checksum: per part, in the caller's thread, on the bytes as they are
 * written (hot in the cache), then the parts' CRCs are combined with
 * gsr__crc32c_combine. That costs no second
 * pass over the file (reading 1 GiB back would add a second or more,
 * and page-cache pressure) and works the same for streams, whose bytes
 * cannot be read back at all.
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

#include "core/file.h"
#include "fetch/rfetch.h"

#define MIN_AUTO_PART ((uint64_t)8 << 20)
#define MAX_AUTO_PART ((uint64_t)64 << 20)
#define PROGRESS_NS (250u * 1000 * 1000) /* at most 4 calls a second */

void gsr_download_options_init(gsr_download_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o)); /* part_size 0: chosen per object */
}

/* part_size 0: one part per connection when that is 8..64 MiB. Every part
 * costs a first-byte wait (~40 ms on GCS) on its connection, so fewer,
 * larger parts go faster: at 220 MiB/s per connection an 8 MiB part spends
 * as long waiting as receiving, a 64 MiB one 1/8 of that. The cap keeps
 * n buffers within the budget, so asking for more connections never
 * silently gets fewer. */
static uint64_t auto_part(uint64_t size, uint64_t n, uint64_t budget) {
  uint64_t mib = (uint64_t)1 << 20;
  uint64_t part = n ? (size + n - 1) / n : size;
  part = (part + mib - 1) / mib * mib;
  uint64_t cap = GSR__MIN(MAX_AUTO_PART, n ? budget / n / mib * mib : budget);
  part = GSR__MIN(part, cap);
  return GSR__MAX(part, MIN_AUTO_PART);
}

struct slot {
  struct gsr__buf *buf;
  struct gsr__rfetch *rf; /* NULL: free */
  uint64_t index;         /* part number */
  uint64_t written;       /* bytes of the part already written out */
  uint32_t crc;           /* CRC32C of those bytes */
};

struct dl {
  gsr_client *c;
  struct gsr__file *f;
  const gsr_download_options *o;
  int fd;
  int ordered;            /* stream: write parts in order */
  uint64_t size, part, n_parts;
  uint64_t next_start;    /* next part to fetch */
  uint64_t next_write;    /* ordered: next part to write */
  uint64_t parts_done, bytes_done;
  uint32_t *crcs;         /* per part */
  struct slot *slots;
  int n_slots;
  uint64_t last_progress_ns;
};

static uint64_t part_len(const struct dl *d, uint64_t i) {
  uint64_t off = i * d->part;
  return GSR__MIN(d->part, d->size - off);
}

static int start_part(struct dl *d, struct slot *s) {
  uint64_t i = d->next_start++;
  struct gsr__iov iov = {s->buf->data, (size_t)part_len(d, i)};
  s->index = i;
  s->written = 0;
  s->crc = 0;
  /* concurrency 1: a slot is one request; the parallelism is the slots. */
  return gsr__rfetch_start(d->f, i * d->part, iov.len, &iov, 1, 1, d->part,
                           NULL, &s->rf);
}

static void progress(struct dl *d, int force) {
  if (d->o->progress == NULL) return;
  uint64_t now = gsr__now_ns();
  if (!force && now - d->last_progress_ns < PROGRESS_NS) return;
  d->last_progress_ns = now;
  uint64_t done = d->bytes_done;
  for (int i = 0; i < d->n_slots; i++) {
    struct gsr__rfetch *rf = d->slots[i].rf;
    if (rf != NULL && rf->reqs != NULL) {
      uint64_t got = atomic_load(&rf->reqs[0].progress);
      if (got > d->slots[i].written) done += got - d->slots[i].written;
    }
  }
  d->o->progress(d->o->progress_arg, GSR__MIN(done, d->size), d->size);
}

/* Writes out the bytes of slot s that arrived and were not written yet:
 * all of them when the part is complete, else only once at least
 * DRAIN_MIN are waiting (fewer, larger writes). Writing while the rest of
 * the part still streams in overlaps the disk with the network, instead of
 * a burst of part_size bytes per finished part. The bytes below the
 * request's published progress are final: the transport stores each byte
 * once (a resumed retry continues after the last one) and the object is
 * pinned. Returns 1 if something was written, 0 if not, or a status < 0. */
#define DRAIN_MIN (1u << 20)
static int drain(struct dl *d, struct slot *s, int complete, const char *what) {
  uint64_t len = part_len(d, s->index);
  uint64_t avail = complete || s->rf->reqs == NULL
                       ? len
                       : atomic_load(&s->rf->reqs[0].progress);
  if (avail <= s->written) return 0;
  uint64_t n = avail - s->written;
  if (!complete && n < DRAIN_MIN && avail < len) return 0;
  const unsigned char *p = s->buf->data + s->written;
  s->crc = gsr__crc32c(s->crc, p, (size_t)n);
  int rc = d->ordered ? gsr__write_all(d->fd, p, (size_t)n)
                      : gsr__pwrite_all(d->fd, p, (size_t)n,
                                   s->index * d->part + s->written);
  if (rc != 0)
    return gsr__err(GSR_EIO, "cannot write to %s: %s", what,
                    gsr__errno_text(errno));
  s->written = avail;
  d->bytes_done += n;
  return 1;
}

/* The progress at which a waiter on a part with `written` of its `len`
 * bytes written out has work again: its next DRAIN_MIN bytes, its last
 * bytes, or, once every byte is in and written, only the fetch's end.
 * Waiting for bytes that are already in would return at once, and the
 * caller would spin between the last byte landing and the transfer's
 * completion (under valgrind, which runs one thread at a time, that
 * starved the I/O thread for minutes). */
uint64_t gsr__download_wake_at(uint64_t written, uint64_t len) {
  if (written >= len) return UINT64_MAX; /* more than can ever arrive */
  return GSR__MIN(written + DRAIN_MIN, len);
}

/* Slot s's fetch completed: its verdict, its last bytes, its CRC. */
static int finish_part(struct dl *d, struct slot *s, const char *what) {
  int status = gsr__rfetch_wait(s->rf);
  if (status == GSR_OK) {
    int rc = drain(d, s, 1, what);
    if (rc < 0) status = rc;
  }
  gsr__rfetch_free(s->rf);
  s->rf = NULL;
  if (status != GSR_OK) return status;
  d->crcs[s->index] = s->crc;
  d->parts_done++;
  if (d->ordered) d->next_write++;
  return GSR_OK;
}

/* The slot to wait on when nothing can be done: for a stream the next part
 * in order, else the oldest part in flight. NULL if none is busy. */
static struct slot *wait_target(struct dl *d) {
  struct slot *best = NULL;
  for (int i = 0; i < d->n_slots; i++) {
    struct slot *s = &d->slots[i];
    if (s->rf == NULL) continue;
    if (d->ordered && s->index == d->next_write) return s;
    if (!d->ordered && (best == NULL || s->index < best->index)) best = s;
  }
  return best;
}

/* Fetches the whole object into d->fd. Every fetch is freed on return. */
static int run_parts(struct dl *d, const char *what) {
  int status = GSR_OK;
  progress(d, 1);
  for (int i = 0; i < d->n_slots && d->next_start < d->n_parts; i++)
    if ((status = start_part(d, &d->slots[i])) != GSR_OK) goto out;
  while (d->parts_done < d->n_parts) {
    int moved = 0;
    for (int i = 0; i < d->n_slots; i++) {
      struct slot *s = &d->slots[i];
      /* A stream takes bytes only from the part whose turn it is. */
      if (s->rf == NULL || (d->ordered && s->index != d->next_write))
        continue;
      if (gsr__rfetch_done(s->rf)) {
        if ((status = finish_part(d, s, what)) != GSR_OK) goto out;
        if (d->next_start < d->n_parts &&
            (status = start_part(d, s)) != GSR_OK)
          goto out;
        moved = 1;
      } else {
        int rc = drain(d, s, 0, what);
        if (rc < 0) {
          status = rc;
          goto out;
        }
        moved |= rc;
      }
    }
    if (!moved) {
      struct slot *s = wait_target(d);
      if (s == NULL) { /* cannot happen while parts remain; be safe */
        status = gsr__err(GSR_EPROTO, "download: no part in flight");
        goto out;
      }
      /* Wake when its next chunk is in, or it ended, or for progress. */
      struct gsr__request *r = &s->rf->reqs[0];
      gsr__request_wait_bytes_for(
          r, gsr__download_wake_at(s->written, r->range_len), 50);
    }
    progress(d, 0);
  }
out:
  /* On failure: cancel and wait for what is still running. */
  for (int i = 0; i < d->n_slots; i++) {
    gsr__rfetch_free(d->slots[i].rf);
    d->slots[i].rf = NULL;
  }
  return status;
}

static int check_options(const gsr_download_options *o) {
  if (o->concurrency < 0 || o->concurrency > 256)
    return gsr__err(GSR_EINVAL, "download: concurrency must be 0 to 256");
  if (o->part_size > ((uint64_t)1 << 40) || o->part_size > SIZE_MAX / 2)
    return gsr__err(GSR_EINVAL, "download: part_size is too large");
  if (o->part_size != 0 && o->part_size < GSR_DOWNLOAD_MIN_PART_SIZE)
    return gsr__err(GSR_EINVAL, "download: part_size %llu is below the "
                    "minimum of %llu bytes (one request per part)",
                    (unsigned long long)o->part_size,
                    (unsigned long long)GSR_DOWNLOAD_MIN_PART_SIZE);
  return GSR_OK;
}

/* Opens the object and sizes the slots. */
static int dl_open(struct dl *d, gsr_client *c, const char *url,
                   const gsr_download_options *o, gsr_file *id) {
  gsr_file_options fo;
  int status;
  gsr_file_options_init(&fo);
  fo.prefetch = "off"; /* we are the prefetcher */
  if ((status = gsr_open(c, url, &fo, id)) != GSR_OK) return status;
  if ((status = gsr__handle_get(*id, &d->f)) != GSR_OK) return status;
  d->c = c;
  d->o = o;
  d->size = d->f->obj->st.size;
  uint64_t n = o->concurrency ? (uint64_t)o->concurrency
                              : (uint64_t)c->default_concurrency;
  d->part = o->part_size ? o->part_size
                         : auto_part(d->size, n, c->budget->limit);
  d->n_parts = (d->size + d->part - 1) / d->part;
  if (d->n_parts > SIZE_MAX / sizeof(uint32_t))
    return gsr__err(GSR_EINVAL, "download: too many parts");
  uint64_t cap = GSR__MIN(d->part, d->size);
  n = GSR__MIN(n, d->n_parts);
  /* The buffers are charged to the client's budget: keep them within it
   * (but always allow one, or nothing could be copied at all). */
  while (n > 1 && n * cap > c->budget->limit) n--;
  d->crcs = gsr__calloc(d->n_parts ? (size_t)d->n_parts : 1, sizeof(uint32_t));
  d->slots = gsr__calloc(n ? (size_t)n : 1, sizeof(*d->slots));
  if (d->crcs == NULL || d->slots == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < n; i++) {
    gsr__budget_charge(c->budget, cap);
    if ((d->slots[i].buf = gsr__buf_new((size_t)cap, c->budget)) == NULL)
      return gsr__err(GSR_ENOMEM, "out of memory (%d x %llu-byte parts)",
                      (int)n, (unsigned long long)cap);
    d->n_slots++;
  }
  return GSR_OK;
}

static void dl_close(struct dl *d, gsr_file id) {
  for (int i = 0; i < d->n_slots; i++) gsr__buf_unref(d->slots[i].buf);
  gsr__free(d->slots);
  gsr__free(d->crcs);
  if (d->f) gsr__file_unref(d->f);
  if (id != GSR_FILE_INVALID) gsr_close(id);
}

/* The whole object's CRC32C from the parts', then the verdict. */
static int verify(struct dl *d, const char *what, gsr_download_stats *st) {
  uint32_t crc = 0;
  for (uint64_t i = 0; i < d->n_parts; i++)
    crc = gsr__crc32c_combine(crc, d->crcs[i], part_len(d, i));
  st->crc32c = crc;
  st->bytes = d->bytes_done;
  const gsr_stat *os = &d->f->obj->st;
  if (d->bytes_done != d->size)
    return gsr__err(GSR_EINTEGRITY, "%s: got %llu bytes of %llu",
                    d->f->obj->display, (unsigned long long)d->bytes_done,
                    (unsigned long long)d->size);
  if (os->has_crc32c) {
    if (crc != os->crc32c)
      return gsr__err(GSR_EINTEGRITY, "%s: CRC32C mismatch: the server "
                      "published %08x, the %s bytes hash to %08x",
                      d->f->obj->display, os->crc32c, what, crc);
    st->crc32c_verified = 1;
  }
  return GSR_OK;
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
  if (d.f != NULL)
    st->requests = atomic_load(&d.f->stats.requests);
  gsr_client_stats_get(c, &cs1);
  st->retries = cs1.retries - cs0.retries;
  st->seconds = (double)(gsr__now_ns() - t0) / 1e9;
  if (status == GSR_OK && o->progress) o->progress(o->progress_arg, d.size, d.size);
  dl_close(&d, id);
  return status;
}

/* ---- To a stream. */

static int body_fd(struct dl *d, void *arg, gsr_download_stats *st) {
  d->fd = *(int *)arg;
  d->ordered = 1;
  int status = run_parts(d, "the output");
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

/* The last '/'-component of the object's name or URL path ("" if none). */
static const char *object_basename(const struct gsr__object *obj, char *buf,
                                   size_t n) {
  const char *name = obj->url.object ? obj->url.object
                     : obj->url.path ? obj->url.path
                                     : obj->url.href;
  size_t len = strcspn(name, obj->url.href == name ? "?#" : "");
  snprintf(buf, n, "%.*s", (int)len, name);
  char *slash = strrchr(buf, '/');
  return slash ? slash + 1 : buf;
}

static int resolve_dest(struct dl *d, struct dest *t) {
  struct stat sb;
  char namebuf[1100];
  if (stat(t->path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    const char *base = object_basename(d->f->obj, namebuf, sizeof(namebuf));
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
      return gsr__err(GSR_EINVAL, "%s is a directory and %s has no file name "
                      "to give the copy: name the file", t->path,
                      d->f->obj->display);
    size_t n = strlen(t->path) + strlen(base) + 2;
    if ((t->final = gsr__malloc(n)) == NULL)
      return gsr__err(GSR_ENOMEM, "out of memory");
    int slash = t->path[strlen(t->path) - 1] == '/';
    snprintf(t->final, n, "%s%s%s", t->path, slash ? "" : "/", base);
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
      if (!gsr__temp_owner(e->d_name, base, &pid) ||
          kill((pid_t)pid, 0) == 0 || errno != ESRCH)
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

static int body_file(struct dl *d, void *arg, gsr_download_stats *st) {
  struct dest *t = arg;
  struct stat sb;
  int status = resolve_dest(d, t);
  if (status == GSR_OK) {
    remove_stale(d, t);
    status = create_tmp(d, t, &d->fd);
  }
  if (status != GSR_OK) return status;
  /* Set the length first: the file has its final size at once (no growth
   * at every out-of-order pwrite) and a full disk shows up here. */
  if (ftruncate(d->fd, (off_t)d->size) != 0)
    status = gsr__err(GSR_EIO, "cannot size %s to %llu bytes: %s", t->tmp,
                      (unsigned long long)d->size, gsr__errno_text(errno));
  if (status == GSR_OK) status = run_parts(d, t->tmp);
  if (status == GSR_OK) status = verify(d, "downloaded", st);
  if (status == GSR_OK && (fstat(d->fd, &sb) != 0 ||
                           (uint64_t)sb.st_size != d->size))
    status = gsr__err(GSR_EINTEGRITY, "%s: the file is not %llu bytes long",
                      t->tmp, (unsigned long long)d->size);
  /* close() reports delayed write errors (NFS, quota): check it. */
  if (close(d->fd) != 0 && status == GSR_OK)
    status = gsr__err(GSR_EIO, "cannot write %s: %s", t->tmp,
                      gsr__errno_text(errno));
  d->fd = -1;
  if (status == GSR_OK && rename(t->tmp, t->final) != 0)
    status = gsr__err(GSR_EIO, "cannot rename %s to %s: %s", t->tmp,
                      t->final, gsr__errno_text(errno));
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
