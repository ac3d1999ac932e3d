/* gsread mount: the decisions that need no FUSE, in one place and
 * unit-tested (tests/unit/test_mount_map.c): statuses to errno, listing
 * entries to directory children, lookups by prefix, the cache table,
 * /proc/self/mounts lines.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount.h"

/* Longest file name the kernel takes (NAME_MAX). */
#define MOUNT_NAME_MAX 255
/* Buckets of a cache table: a fixed count keeps the table simple; chains
 * stay short for the entry caps the file system uses. */
#define MOUNT_TABLE_BUCKETS 16384

int mount_errno(int status) {
  switch (status) {
  case GSR_OK:
    return 0;
  case GSR_ENOENT:
    return ENOENT;
  case GSR_EACCES:
  case GSR_EAUTH:
    return EACCES;
  case GSR_ECHANGED:
    /* The object behind the open file was replaced: the handle is stale,
     * as on NFS. Reopening gives the new version. */
    return ESTALE;
  case GSR_ENOMEM:
    return ENOMEM;
  case GSR_EINVAL:
    return EINVAL;
  default:
    /* Network, timeouts, stalls, HTTP errors, checksums: the caller can
     * only retry; the log says what happened. */
    return EIO;
  }
}

int mount_status_logged(int status) {
  /* A missing name is what every shell and loader probes for. */
  return status != GSR_OK && status != GSR_ENOENT;
}

/* Parses exactly `digits` decimal digits at *p. */
static int take_digits(const char **p, int digits, int *out) {
  int v = 0;

  for (int i = 0; i < digits; i++) {
    if ((*p)[i] < '0' || (*p)[i] > '9') return 0;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += digits;
  *out = v;
  return 1;
}

static int take_char(const char **p, char c) {
  if (**p != c) return 0;
  (*p)++;
  return 1;
}

int64_t mount_parse_time(const char *text) {
  const char *p = text;
  struct tm tm;
  int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
  time_t t;

  if (!p || !take_digits(&p, 4, &y) || !take_char(&p, '-') ||
      !take_digits(&p, 2, &mo) || !take_char(&p, '-') ||
      !take_digits(&p, 2, &d) || !(take_char(&p, 'T') || take_char(&p, 't')) ||
      !take_digits(&p, 2, &h) || !take_char(&p, ':') ||
      !take_digits(&p, 2, &mi) || !take_char(&p, ':') ||
      !take_digits(&p, 2, &s))
    return 0;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ; /* whole seconds are what stat shows */
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p == '+' ? 1 : -1;
    p++;
    if (!take_digits(&p, 2, &oh) || !take_char(&p, ':') ||
        !take_digits(&p, 2, &om))
      return 0;
  } else {
    return 0;
  }
  if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      s > 60)
    return 0;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  t = timegm(&tm);
  if (t == (time_t)-1) return 0;
  return (int64_t)t - sign * (int64_t)(oh * 3600 + om * 60);
}

int mount_child_name(const char *dir, const char *name, int is_prefix,
                     char *out, size_t n) {
  size_t dlen = strlen(dir), len;
  const char *rest;

  if (strncmp(name, dir, dlen) != 0) return 0;
  rest = name + dlen;
  len = strlen(rest);
  if (is_prefix) {
    if (len == 0 || rest[len - 1] != '/') return 0;
    len--; /* "sub/" is the directory "sub" */
  }
  /* "" is the directory's own placeholder object "dir/" (or a prefix
   * "dir//"); a '/' left inside is no single component. */
  if (len == 0 || len > MOUNT_NAME_MAX || len + 1 > n ||
      memchr(rest, '/', len) != NULL)
    return 0;
  if ((len == 1 && rest[0] == '.') ||
      (len == 2 && rest[0] == '.' && rest[1] == '.'))
    return 0;
  memcpy(out, rest, len);
  out[len] = '\0';
  return 1;
}

/* The entry's storage class into n, whole or "" (a longer one names no
 * class the library acts on). */
static void keep_class(struct mount_node *n, const gsr_list_entry *e) {
  const char *c = e->storage_class ? e->storage_class : "";
  if (strlen(c) < sizeof n->storage_class)
    memcpy(n->storage_class, c, strlen(c) + 1);
  else
    n->storage_class[0] = '\0';
}

int mount_dir_add(struct mount_dir *d, const char *dir,
                  const gsr_list_entry *e) {
  char name[MOUNT_NAME_MAX + 1];
  struct mount_node *nd;

  if (!mount_child_name(dir, e->name, e->is_prefix, name, sizeof name))
    return 0;
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    struct mount_node *v = realloc(d->v, cap * sizeof *v);

    if (!v) return -ENOMEM;
    d->v = v;
    d->cap = cap;
  }
  nd = &d->v[d->n];
  memset(nd, 0, sizeof *nd);
  if (!(nd->name = strdup(name))) return -ENOMEM;
  nd->is_dir = e->is_prefix;
  if (!e->is_prefix) {
    nd->size = e->size;
    nd->generation = e->generation;
    nd->mtime = mount_parse_time(e->updated);
    nd->has_crc32c = e->has_crc32c;
    nd->crc32c = e->crc32c;
    nd->gzip = e->content_encoding && strcmp(e->content_encoding, "gzip") == 0;
    keep_class(nd, e);
  }
  d->n++;
  return 0;
}

static int node_cmp(const void *a, const void *b) {
  const struct mount_node *x = a, *y = b;
  int c = strcmp(x->name, y->name);

  /* Among equal names the directory comes first: it is the one kept. */
  return c ? c : y->is_dir - x->is_dir;
}

void mount_dir_finish(struct mount_dir *d) {
  size_t w = 0;

  if (d->n > 1) qsort(d->v, d->n, sizeof d->v[0], node_cmp);
  for (size_t r = 0; r < d->n; r++) {
    if (w > 0 && strcmp(d->v[w - 1].name, d->v[r].name) == 0) {
      free(d->v[r].name);
      continue;
    }
    d->v[w++] = d->v[r];
  }
  d->n = w;
}

const struct mount_node *mount_dir_find(const struct mount_dir *d,
                                        const char *name) {
  size_t lo = 0, hi = d->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, d->v[mid].name);

    if (c == 0) return &d->v[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

void mount_dir_free(struct mount_dir *d) {
  for (size_t i = 0; i < d->n; i++) free(d->v[i].name);
  free(d->v);
  memset(d, 0, sizeof *d);
}

int mount_lookup_entry(struct mount_lookup *l, const gsr_list_entry *e) {
  size_t nlen = strlen(l->name);
  unsigned char next;

  if (strncmp(e->name, l->name, nlen) != 0)
    return strcmp(e->name, l->name) > 0; /* past every match */
  next = (unsigned char)e->name[nlen];
  if (next == '\0' && !e->is_prefix) {
    l->found_file = 1;
    memset(&l->file, 0, sizeof l->file);
    l->file.size = e->size;
    l->file.generation = e->generation;
    l->file.mtime = mount_parse_time(e->updated);
    l->file.has_crc32c = e->has_crc32c;
    l->file.crc32c = e->crc32c;
    l->file.gzip = e->content_encoding &&
                   strcmp(e->content_encoding, "gzip") == 0;
    keep_class(&l->file, e);
    return 0;
  }
  if (next == '/') {
    /* The folded prefix "name/", or (without folding) an object below
     * it or the placeholder itself: a directory either way. */
    l->found_dir = 1;
    return 1;
  }
  /* Names sort bytewise: once past "name/" nothing else can match.
   * Before it ("name-x", "name.txt") the listing goes on. */
  return next > '/';
}

void mount_node_entry(const struct mount_node *n, gsr_list_entry *e) {
  memset(e, 0, sizeof *e);
  e->size = n->size;
  e->generation = n->generation;
  e->updated = ""; /* the open answers its mtime from n */
  e->has_crc32c = n->has_crc32c;
  e->crc32c = n->crc32c;
  e->content_encoding = n->gzip ? "gzip" : "";
  e->storage_class = n->storage_class;
}

int mount_pick_stream(struct mount_stream *s, int n, uint64_t off,
                      uint64_t size, uint64_t slack, uint64_t now) {
  int best = -1, behind = -1, idle = -1, lru = 0, pick;
  uint64_t best_d = UINT64_MAX, behind_d = UINT64_MAX;

  assert(n > 0);
  for (int i = 0; i < n; i++) {
    /* Forward: the stream's reader goes on. */
    uint64_t d = off >= s[i].next ? off - s[i].next : UINT64_MAX;

    if (!s[i].open) {
      if (idle < 0) idle = i;
      continue;
    }
    /* Wholly behind, within slack: a read the kernel sent out of order
     * (or a reader a little behind): its engine file serves it from the
     * blocks it just passed (reorder_bytes) without cancelling its
     * window. Another stream would fetch those bytes again. */
    if (s[i].next != UINT64_MAX && off + size <= s[i].next &&
        s[i].next - off <= slack && s[i].next - off < behind_d) {
      behind = i;
      behind_d = s[i].next - off;
    }
    if (d <= slack && d < best_d) {
      best = i;
      best_d = d;
    }
    if (s[i].used < s[lru].used || !s[lru].open) lru = i;
  }
  if (behind >= 0) {
    s[behind].used = now; /* its position stays: the engine's does */
    return behind;
  }
  pick = best >= 0 ? best : idle >= 0 ? idle : lru;
  /* Streams this read overtakes stop: readers racing at the front of the
   * file then share one window instead of growing one each. */
  for (int i = 0; i < n; i++) {
    if (i != pick && s[i].open && s[i].next != UINT64_MAX &&
        s[i].next + slack > off && s[i].next <= off + size) {
      s[i].next = UINT64_MAX;
      s[i].used = 0;
    }
  }
  s[pick].next = off + size;
  s[pick].used = now;
  return pick;
}

void mount_open_cache(int64_t *cache_gen, int64_t gen, int other_cached,
                      int *keep, int *direct) {
  if (*cache_gen == gen && gen != 0) {
    /* The pages are this generation's bytes: keep them. */
    *keep = 1;
    *direct = 0;
  } else if (other_cached) {
    /* An open of another generation reads through the cache: this one
     * must not fill it with its bytes, nor drop the other's pages. */
    *keep = 1;
    *direct = 1;
  } else {
    /* Nobody reads through the cache: drop whatever it holds and let
     * this generation have it. */
    *keep = 0;
    *direct = 0;
    *cache_gen = gen;
  }
}

size_t mount_slice_pages(uintptr_t addr, size_t len, size_t page) {
  if (len == 0) return 0;
  return (addr + len - 1) / page - addr / page + 1;
}

int mount_reply_by_pipe(size_t len, size_t pages, size_t pipe, size_t page) {
  /* libfuse (lib/fuse_lowlevel.c, fuse_send_data_iov) copies replies of
   * less than 2 pages, and splices a reply only if its own pipe takes
   * 3 pages + the 16-byte header + len; it can grow it as far as ours. */
  if (len < 2 * page || 3 * page + 16 + len > pipe) return 0;
  /* Its pipe takes the header's page and ours. */
  return pages + 1 <= pipe / page;
}

/* 1 if the -o option tok[0..len) is mount(8)'s, not gsread's. */
static int generic_mount_option(const char *tok, size_t len) {
  static const char *const skip[] = {
      "rw",       "ro",         "defaults",    "auto",     "noauto",
      "user",     "nouser",     "users",       "owner",    "group",
      "nofail",   "_netdev",    "dev",         "nodev",    "suid",
      "nosuid",   "exec",       "noexec",      "atime",    "noatime",
      "relatime", "norelatime", "strictatime", "diratime", "nodiratime",
      "lazytime", "nolazytime", "sync",        "async",    "silent",
      "loud",     "mand",       "nomand",
  };
  const char *eq = memchr(tok, '=', len);
  size_t nlen = eq ? (size_t)(eq - tok) : len;

  if (len >= 2 && memcmp(tok, "x-", 2) == 0) return 1; /* systemd's */
  if (nlen == 7 && memcmp(tok, "comment", 7) == 0) return 1;
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
    if (!eq && strlen(skip[i]) == len && memcmp(skip[i], tok, len) == 0)
      return 1;
  return 0;
}

int mount_o_next(const char **p, char *name, size_t nn, char *value, size_t vn,
                 int *has_value) {
  for (;;) {
    const char *tok, *eq;
    size_t len, nlen;

    while (**p == ',') (*p)++;
    if (**p == '\0') return 0;
    tok = *p;
    len = strcspn(tok, ",");
    *p += len;
    if (generic_mount_option(tok, len)) continue;
    eq = memchr(tok, '=', len);
    nlen = eq ? (size_t)(eq - tok) : len;
    if (nlen + 1 > nn || (eq && len - nlen > vn)) return -1;
    for (size_t i = 0; i < nlen; i++) name[i] = tok[i] == '_' ? '-' : tok[i];
    name[nlen] = '\0';
    *has_value = eq != NULL;
    if (eq) {
      memcpy(value, eq + 1, len - nlen - 1);
      value[len - nlen - 1] = '\0';
    } else if (vn > 0) {
      value[0] = '\0';
    }
    return 1;
  }
}

int mount_helper_args(int argc, char **argv, char **out, int *fake,
                      const char **bad) {
  int n = 0, pos = 0;
  char *spec = NULL, *dir = NULL;

  *fake = 0;
  *bad = NULL;
  out[n++] = "gsread";
  out[n++] = "mount";
  for (int i = 1; i < argc; i++) {
    const char *w = argv[i];

    if (strcmp(w, "-o") == 0 && i + 1 < argc) {
      out[n++] = argv[i++];
      out[n++] = argv[i];
    } else if (strcmp(w, "-t") == 0 && i + 1 < argc) {
      i++; /* "gsread" or "fuse.gsread": nothing to choose */
    } else if (w[0] == '-' && w[1] != '\0' &&
               strspn(w + 1, "sfnv") == strlen(w + 1)) {
      if (strchr(w, 'f')) *fake = 1; /* -s sloppy, -n no mtab, -v verbose */
    } else if (w[0] != '-' && pos < 2) {
      if (pos++ == 0)
        spec = argv[i];
      else
        dir = argv[i];
    } else {
      *bad = w;
      return -1;
    }
  }
  if (!dir) {
    *bad = "(SPEC and DIR are needed)";
    return -1;
  }
  out[n++] = "--";
  out[n++] = spec;
  out[n++] = dir;
  return n;
}

/* Copies the mount point field mnt, unescaped (the kernel writes space,
 * tab, newline and backslash as \ooo), into out; 0 if it does not fit. */
static int unescape_field(const char *mnt, char *out, size_t n) {
  size_t w = 0;

  for (const char *p = mnt; *p; p++) {
    char c = *p;

    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
        p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
      c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    }
    if (w + 1 >= n) return 0;
    out[w++] = c;
  }
  out[w] = '\0';
  return 1;
}

int mount_proc_line(const char *line, const char *fstype, char *out, size_t n) {
  char dev[4096], mnt[4096], type[256];

  if (sscanf(line, "%4095s %4095s %255s", dev, mnt, type) != 3 ||
      strcmp(type, fstype) != 0)
    return 0;
  return unescape_field(mnt, out, n);
}

int mount_info_dev(const char *line, const char *path, unsigned *major,
                   unsigned *minor) {
  char mnt[4096], un[4096];
  unsigned a, b;

  /* "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ..." */
  if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mnt) != 3 ||
      !unescape_field(mnt, un, sizeof un) || strcmp(un, path) != 0)
    return 0;
  *major = a;
  *minor = b;
  return 1;
}

/* ---- The cache table
 * -------------------------------------------------------*/

static size_t hash_key(const char *key) {
  size_t h = 1469598103934665603ull; /* FNV-1a */

  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h % MOUNT_TABLE_BUCKETS;
}

static void entry_free(struct mount_entry *e) {
  free(e->key);
  free(e->node.name);
  mount_dir_free(&e->dir);
  free(e);
}

struct mount_entry *mount_table_get(struct mount_table *t, const char *key) {
  if (!t->b) return NULL;
  for (struct mount_entry *e = t->b[hash_key(key)]; e; e = e->next)
    if (strcmp(e->key, key) == 0) return e;
  return NULL;
}

void mount_table_del(struct mount_table *t, const char *key) {
  struct mount_entry **pp;

  if (!t->b) return;
  for (pp = &t->b[hash_key(key)]; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->key, key) == 0) {
      struct mount_entry *e = *pp;

      *pp = e->next;
      entry_free(e);
      t->n--;
      return;
    }
  }
}

/* Drops the entries fetched before `before` (all of them: +infinity). */
static void drop_older(struct mount_table *t, double before) {
  for (size_t i = 0; i < t->nb; i++) {
    struct mount_entry **pp = &t->b[i];

    while (*pp) {
      struct mount_entry *e = *pp;

      if (e->at < before) {
        *pp = e->next;
        entry_free(e);
        t->n--;
      } else {
        pp = &e->next;
      }
    }
  }
}

struct mount_entry *mount_table_put(struct mount_table *t, const char *key,
                                    size_t cap, double stale) {
  struct mount_entry *e;
  size_t h;

  if (!t->b) {
    t->b = calloc(MOUNT_TABLE_BUCKETS, sizeof *t->b);
    if (!t->b) return NULL;
    t->nb = MOUNT_TABLE_BUCKETS;
  }
  mount_table_del(t, key);
  if (t->n >= cap) drop_older(t, stale);
  if (t->n >= cap)
    drop_older(t, 1e300); /* a cache may forget; memory stays bounded */
  e = calloc(1, sizeof *e);
  if (!e || !(e->key = strdup(key))) {
    free(e);
    return NULL;
  }
  h = hash_key(key);
  e->next = t->b[h];
  t->b[h] = e;
  t->n++;
  return e;
}

void mount_table_free(struct mount_table *t) {
  if (t->b) drop_older(t, 1e300);
  free(t->b);
  memset(t, 0, sizeof *t);
}
