/* Remembered widths: the width (connections) the engine chose by
 * measurement for promised readers of a server (producer.c), kept by the
 * client for its later files of the same origin (scheme://host:port), so
 * that a job that reads many large objects measures once, not once per
 * object (each step of the measurement costs a file 2 x width blocks at
 * a width that may not pay). A decision older than WIDTH_TTL_NS is
 * measured again: links change. With a plans file
 * (gsr_client_options.plans_file) they outlive the client, so that a run of
 * separate processes (gsread cat in a shell loop) measures once too.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "read/prefetch/prefetch.h"

#define WIDTH_SLOTS 8
#define WIDTH_TTL_NS (600ull * 1000000000ull)

struct gsr__widths {
  pthread_mutex_t mu;
  struct {
    char origin[160];
    int width;   /* connections */
    uint64_t at; /* when it was decided */
  } slot[WIDTH_SLOTS];
  int dirty; /* a width was decided since the file was read */
};

struct gsr__widths *gsr__widths_new(void) {
  struct gsr__widths *ps = gsr__calloc(1, sizeof(*ps));
  if (ps != NULL && pthread_mutex_init(&ps->mu, NULL) != 0) {
    gsr__free(ps);
    return NULL;
  }
  return ps;
}

void gsr__widths_free(struct gsr__widths *ps) {
  if (ps == NULL) return;
  pthread_mutex_destroy(&ps->mu);
  gsr__free(ps);
}

/* Length of url's "scheme://authority" part; 0 if it has none or it does
 * not fit a slot. */
static size_t origin_len(const char *url) {
  const char *p = strstr(url, "://");
  if (p == NULL) return 0;
  size_t n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
  return n < sizeof(((struct gsr__widths *)0)->slot[0].origin) ? n : 0;
}

static int find(struct gsr__widths *ps, const char *url, size_t n) {
  for (int i = 0; i < WIDTH_SLOTS; i++)
    if (strncmp(ps->slot[i].origin, url, n) == 0 &&
        ps->slot[i].origin[n] == '\0')
      return i;
  return -1;
}

/* The slot a new origin takes: a free one, else the oldest decision's. */
static int take_slot(struct gsr__widths *ps) {
  int oldest = 0;
  for (int i = 0; i < WIDTH_SLOTS; i++) {
    if (ps->slot[i].origin[0] == '\0') return i;
    if (ps->slot[i].at < ps->slot[oldest].at) oldest = i;
  }
  return oldest;
}

int gsr__widths_get(struct gsr__widths *ps, const char *url) {
  size_t n = origin_len(url);
  int width = -1;
  if (ps == NULL || n == 0) return -1;
  pthread_mutex_lock(&ps->mu);
  int i = find(ps, url, n);
  if (i >= 0 && gsr__now_ns() - ps->slot[i].at < WIDTH_TTL_NS)
    width = ps->slot[i].width;
  pthread_mutex_unlock(&ps->mu);
  return width;
}

void gsr__widths_put(struct gsr__widths *ps, const char *url, int width) {
  size_t n = origin_len(url);
  if (ps == NULL || n == 0) return;
  pthread_mutex_lock(&ps->mu);
  int i = find(ps, url, n);
  if (i < 0) {
    i = take_slot(ps);
    memcpy(ps->slot[i].origin, url, n);
    ps->slot[i].origin[n] = '\0';
  }
  ps->slot[i].width = width;
  ps->slot[i].at = gsr__now_ns();
  ps->dirty = 1;
  pthread_mutex_unlock(&ps->mu);
}

/* The file: a header line, then "ORIGIN WIDTH UNIX_SECONDS" per width. Times on
 * disk are the wall clock's; in memory, the monotonic clock's (the TTL must not
 * jump with the wall clock). */
#define PLANS_HEADER "gsread-plans 2"
#define MAX_WIDTH 512 /* the client's max_connections / 2 */

static int64_t wall_now(void) { return (int64_t)time(NULL); }

int gsr__widths_load(struct gsr__widths *ps, const char *path) {
  FILE *fp = gsr__fopen_read(path);
  if (fp == NULL) return errno == ENOENT ? 0 : -1;
  char line[256], origin[160];
  long long when;
  int width;
  int n = 0;
  uint64_t mono = gsr__now_ns();
  int64_t wall = wall_now();
  if (fgets(line, sizeof(line), fp) == NULL ||
      strncmp(line, PLANS_HEADER, strlen(PLANS_HEADER)) != 0) {
    fclose(fp);
    return -1; /* not ours, or another version: ignored (and replaced) */
  }
  pthread_mutex_lock(&ps->mu);
  while (fgets(line, sizeof(line), fp) != NULL && n < WIDTH_SLOTS) {
    if (sscanf(line, "%159s %d %lld", origin, &width, &when) != 3) continue;
    /* Out of range, from the future, too old (compared so that no figure in
     * the file can overflow), older than this boot, or not an origin. */
    int64_t ttl_s = (int64_t)(WIDTH_TTL_NS / 1000000000ull);
    if (width < 1 || width > MAX_WIDTH || when > wall || when <= wall - ttl_s)
      continue;
    int64_t age = wall - (int64_t)when; /* [0, the TTL) */
    if ((uint64_t)age * 1000000000ull > mono || strstr(origin, "://") == NULL)
      continue;
    size_t len = strlen(origin);
    uint64_t at = mono - (uint64_t)age * 1000000000ull;
    int i = find(ps, origin, len);
    /* An origin known here keeps its width unless the file's is newer by
     * more than the file's one-second grain (another process decided
     * since); within it, this process's own decision stands. */
    if (i >= 0 && at <= ps->slot[i].at + 1000000000ull) continue;
    if (i < 0) {
      i = take_slot(ps);
      memcpy(ps->slot[i].origin, origin, len + 1);
    }
    ps->slot[i].width = width;
    ps->slot[i].at = at;
    n++;
  }
  pthread_mutex_unlock(&ps->mu);
  fclose(fp);
  return n;
}

/* mkdir -p of the directory that holds path (made 0700: a cache of this
 * user's). 0 if it exists now. */
static int make_parent(const char *path) {
  char dir[4096];
  size_t n = strlen(path);
  if (n >= sizeof(dir)) return -1;
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* A new file of this user's only (O_EXCL, no symlink followed: the path
 * may be in a shared directory), for writing; NULL on failure. */
static FILE *create_private(const char *tmp) {
  int fd = gsr__open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd < 0) return NULL;
  FILE *fp = fdopen(fd, "w");
  if (fp == NULL) {
    close(fd);
    (void)unlink(tmp);
  }
  return fp;
}

int gsr__widths_save(struct gsr__widths *ps, const char *path) {
  static atomic_uint seq; /* two clients of one process saving at once */
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
               atomic_fetch_add(&seq, 1)) >= (int)sizeof(tmp))
    return -1;
  pthread_mutex_lock(&ps->mu);
  int dirty = ps->dirty;
  pthread_mutex_unlock(&ps->mu);
  if (!dirty) return 0;
  /* A FIFO or a device named as the plans file is the user's: never
   * replaced by ours. */
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    errno = EINVAL;
    return -1;
  }
  /* What other processes wrote since this one read the file (their
   * origins, their newer decisions) is kept, not overwritten. Only a save
   * that lands between this read and the rename below is lost. */
  (void)gsr__widths_load(ps, path);
  pthread_mutex_lock(&ps->mu);
  FILE *fp = create_private(tmp);
  if (fp == NULL && errno == ENOENT && make_parent(path) == 0)
    fp = create_private(tmp);
  int ok = fp != NULL && fprintf(fp, PLANS_HEADER "\n") > 0;
  uint64_t mono = gsr__now_ns();
  int64_t wall = wall_now();
  for (int i = 0; ok && i < WIDTH_SLOTS; i++) {
    /* Not an origin with credentials in it ("user:pass@host"): they would
     * be on disk. */
    if (ps->slot[i].origin[0] == '\0' || strchr(ps->slot[i].origin, '@') ||
        mono - ps->slot[i].at >= WIDTH_TTL_NS)
      continue;
    long long when = (long long)(wall - (int64_t)((mono - ps->slot[i].at) /
                                                  1000000000ull));
    ok = fprintf(fp, "%s %d %lld\n", ps->slot[i].origin, ps->slot[i].width,
                 when) > 0;
  }
  if (fp != NULL && fclose(fp) != 0) ok = 0;
  /* Written whole, then renamed over: a reader never sees half a file. */
  if (ok && rename(tmp, path) != 0) ok = 0;
  if (!ok && fp != NULL) (void)unlink(tmp);
  if (ok) ps->dirty = 0;
  pthread_mutex_unlock(&ps->mu);
  return ok ? 1 : -1;
}
