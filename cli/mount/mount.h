/* gsread mount: what cmd.c (the commands), fs.c (the FUSE
 * operations) and map.c (the decisions, unit-tested without FUSE)
 * share. Only the public API of the library is used.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSREAD_MOUNT_H
#define GSREAD_MOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gsread.h"

/* ---- map.c: pure decisions ------------------------------------------------*/

/* One child of a directory, from a listing entry. */
struct mount_node {
  char *name; /* one path component: no '/', not "", ".", ".." */
  int is_dir;
  uint64_t size;
  int64_t generation;
  int64_t mtime; /* seconds since the epoch; 0 if unknown */
  int has_crc32c;
  uint32_t crc32c;
  int gzip; /* stored gzip-compressed (contentEncoding) */
  /* storageClass, whole or "": the library reads a zonal bucket's
   * objects (RAPID) over gRPC. */
  char storage_class[32];
};

/* The listing entry an open passes to gsr_open_listed for node n (an
 * object): what the mount kept of the listing. */
void mount_node_entry(const struct mount_node *n, gsr_list_entry *e);

/* One engine file reading an open generation: reads of one generation
 * from several readers (processes at different places in the file) go
 * to several engine files, each a sequential stream with its own window,
 * so that one reader's reads never cancel another's window. */
struct mount_stream {
  int open;      /* its engine file is open */
  uint64_t next; /* where its last read ended; UINT64_MAX: stopped */
  uint64_t used; /* when it was last picked (a counter) */
};
/* Picks the stream of s[0..n) a read of size bytes at off goes to: the
 * open one the read lies wholly behind, within slack bytes, nearest (its
 * engine file keeps what it passed: reorder_bytes; its position stays);
 * else the open one whose last read ended nearest before off, within
 * slack; else one not open yet; else the least recently used. Records
 * the read (its end, now as its use) and stops the streams it overtakes
 * (their position within slack behind it): they match no read any more
 * and are reused first. The caller opens a stream picked that is not
 * open. */
int mount_pick_stream(struct mount_stream *s, int n, uint64_t off,
                      uint64_t size, uint64_t slack, uint64_t now);

/* How an open of generation gen shares the kernel's page cache of its
 * name. The cache holds the bytes of *cache_gen only (0: unknown, none
 * kept); other_cached: an open of another generation of the name is live
 * and reads through that cache. Sets *keep (keep the cached pages) and
 * *direct (bypass the cache, so that two generations' bytes never meet
 * in it) and updates *cache_gen. */
void mount_open_cache(int64_t *cache_gen, int64_t gen, int other_cached,
                      int *keep, int *direct);

/* How the FUSE read replies reach the kernel (fs.c fs_read_buf):
 * through a pipe holding references to the engine's blocks, which
 * libfuse splices into /dev/fuse (no copy in the daemon), or copied.
 * The pipe pages the bytes [addr, addr + len) take. */
size_t mount_slice_pages(uintptr_t addr, size_t len, size_t page);
/* 1 if a reply of len bytes taking `pages` pipe pages goes through a
 * pipe of `pipe` bytes (the largest this process gets; libfuse's own
 * pipe grows as far) and libfuse splices it; 0: copy it. */
int mount_reply_by_pipe(size_t len, size_t pages, size_t pipe, size_t page);
/* A directory's children, sorted by name, one per name once finished. */
struct mount_dir {
  struct mount_node *v;
  size_t n, cap;
};

/* The errno a FUSE operation answers for a gsread status. */
int mount_errno(int status);
/* 1 if a failure with this status deserves a line in the log: the user
 * sees only the errno, the log says what the server said. */
int mount_status_logged(int status);
/* RFC 3339 ("2026-11-22T04:45:14.123Z", "+01:00" offsets too) as seconds
 * since the epoch; 0 if it is not one. */
int64_t mount_parse_time(const char *text);
/* The child that listing entry `name` (an object name, or a prefix ending
 * in '/' when is_prefix) stands for in the directory whose object-name
 * prefix is `dir` ("" or ending in '/'): copied into out (n bytes), and 1
 * returned. 0 for entries that are no child: the directory's own
 * placeholder object ("dir/"), names outside dir, and names no file
 * system can show ("", ".", "..", longer than 255 bytes). */
int mount_child_name(const char *dir, const char *name, int is_prefix,
                     char *out, size_t n);
/* Adds entry e of a listing of `dir` (as above) to d. 0, or -ENOMEM. */
int mount_dir_add(struct mount_dir *d, const char *dir,
                  const gsr_list_entry *e);
/* Sorts d by name and keeps one child per name: a directory wins over an
 * object of the same name ("a" and "a/x"), so what is inside stays
 * reachable. */
void mount_dir_finish(struct mount_dir *d);
const struct mount_node *mount_dir_find(const struct mount_dir *d,
                                        const char *name);
void mount_dir_free(struct mount_dir *d);

/* A lookup of one object name by listing with the name as prefix (one
 * request, like a metadata GET, that also finds "name/" directories and
 * placeholders). Feed it the listing's entries in order; it says when the
 * rest cannot matter. */
struct mount_lookup {
  const char *name;       /* the object name looked up, no trailing '/' */
  int found_file;         /* an object named exactly `name` */
  int found_dir;          /* the prefix "name/" (objects below it, or the
                           * zero-length placeholder "name/") */
  struct mount_node file; /* found_file: its attributes (name unset) */
};
/* 0: go on listing; 1: stop, nothing further can match. */
int mount_lookup_entry(struct mount_lookup *l, const gsr_list_entry *e);

/* The mount point field of a /proc/self/mounts line whose file system
 * type is `fstype`, unescaped (\040 is a space) into out; 1 if the line
 * is such a mount, else 0. */
int mount_proc_line(const char *line, const char *fstype, char *out, size_t n);

/* The device of a /proc/self/mountinfo line if its mount point is path:
 * 1 and *major, *minor set, else 0. Read instead of stat(path), which on
 * our own mount would wait on our own, not yet running, loop. */
int mount_info_dev(const char *line, const char *path, unsigned *major,
                   unsigned *minor);

/* Splits the next option off a mount -o list ("allow_other,uid=1000"):
 * its name into name (nn bytes; '_' written as '-', so allow_other is
 * --allow-other) and its value, if it has one, into value (vn bytes),
 * *has_value set. The options of mount(8) and fstab that mean nothing to
 * gsread (rw, ro, defaults, auto, noauto, user, users, nofail, _netdev,
 * dev, suid, exec, atime and their no- forms, x-*, comment=) are skipped.
 * Returns 1 with *p moved past it, 0 at the end, -1 if it does not fit. */
int mount_o_next(const char **p, char *name, size_t nn, char *value, size_t vn,
                 int *has_value);

/* The command line of mount(8)'s helper, "mount.gsread SPEC DIR [-sfnv]
 * [-o OPTS] [-t TYPE]", as gsread's: out[0..return) = "gsread", "mount",
 * the -o words, SPEC, DIR (out has room for argc + 2). -s, -n and -v are
 * dropped, -t and its type too; -f (fake) sets *fake. Returns the count,
 * or -1 for a word the helper does not take (its text in *bad). */
int mount_helper_args(int argc, char **argv, char **out, int *fake,
                      const char **bad);

/* A small string-keyed table of cached results (listings, lookups), each
 * stamped with when it was fetched. */
struct mount_entry {
  struct mount_entry *next;
  char *key;
  double at;              /* when fetched (monotonic seconds) */
  int exists;             /* lookups: 0 = no such file or directory */
  struct mount_node node; /* lookups: what exists (name unset) */
  struct mount_dir dir;   /* listings */
  int64_t generation;     /* opens: the generation the last open saw */
};
struct mount_table {
  struct mount_entry **b;
  size_t nb, n;
};
struct mount_entry *mount_table_get(struct mount_table *t, const char *key);
/* A fresh (zeroed) entry for key, replacing any old one; NULL if out of
 * memory. At most `cap` entries are kept: past it, those fetched before
 * `stale` go, and if that is not enough, all of them. */
struct mount_entry *mount_table_put(struct mount_table *t, const char *key,
                                    size_t cap, double stale);
void mount_table_del(struct mount_table *t, const char *key);
void mount_table_free(struct mount_table *t);

/* ---- fs.c: the file system
 * -------------------------------------------*/

struct mount_conf {
  const char *bucket; /* "gs://BUCKET" */
  const char *prefix; /* "" or an object-name prefix ending in '/' */
  uid_t uid;
  gid_t gid;
  unsigned file_mode, dir_mode; /* permission bits only */
  double ttl;                   /* seconds listings and attributes live */
  unsigned max_readahead;       /* the kernel's readahead, bytes */
  int direct_io;                /* bypass the page cache */
  gsr_file_options file;        /* every open */
  int debug;                    /* --debug: counters in the log at exit */
};

struct mount_fs;
struct fuse_operations;

/* Logging: stderr while the mount runs in the foreground, else syslog,
 * or the file --log-file opened (fd, appended to, one timestamped line
 * per message). */
void mount_log_to_syslog(void);
void mount_log_to_fd(int fd);
void mount_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct mount_fs *mount_fs_new(const struct mount_conf *conf,
                              gsr_client *client);
const struct fuse_operations *mount_fs_ops(void);
/* Closes every open file: reads in flight and later ones fail at once
 * (EIO), so that the loop can stop without waiting on the network. */
void mount_fs_shutdown(struct mount_fs *fs);
void mount_fs_free(struct mount_fs *fs);

#endif /* GSREAD_MOUNT_H */
