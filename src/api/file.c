/* The public calls on open files: each looks its handle up (holding a
 * reference for the call) and checks its arguments; the work is the read
 * layer's (read/file.c, read/sendfile.c, read/ranges.c, read/out.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "read/file.h"

#define DEFAULT_BLOCK (5u * 1024 * 1024)

void gsr_file_options_init(gsr_file_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o));
  /* cache_type NULL: no cache named, so the client's prefetch mode applies
   * (a named cache, "none" too, turns it off, as in gcsfs). */
  o->cache_type = NULL;
  o->block_size = DEFAULT_BLOCK;
  o->max_blocks = 32;
  o->concurrency = 0;
  o->min_part_size = DEFAULT_BLOCK;
}

void gsr_ranges_options_init(gsr_ranges_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o));
  o->hole_limit = -1;
}

/* gsr_open and gsr_open_listed: known NULL asks the server. */
static int open_file(gsr_client *c, const char *url,
                     const gsr_file_options *opts, const gsr_stat *known,
                     gsr_file *out) {
  gsr_file_options defaults;
  struct gsr__file *f;
  int status;
  if (out == NULL) return gsr__err(GSR_EINVAL, "gsr_open: out is NULL");
  *out = GSR_FILE_INVALID;
  if (c == NULL) return gsr__err(GSR_EINVAL, "gsr_open: client is NULL");
  if (url == NULL) return gsr__err(GSR_EINVAL, "gsr_open: url is NULL");
  if (opts == NULL) {
    gsr_file_options_init(&defaults);
    opts = &defaults;
  }
  if ((status = gsr__file_open(c, url, opts, known, &f)) != GSR_OK)
    return status;
  if ((status = gsr__handle_add(f)) != GSR_OK) {
    gsr__file_unref(f);
    return status;
  }
  *out = f->id;
  return GSR_OK;
}

int gsr_open(gsr_client *c, const char *url, const gsr_file_options *opts,
             gsr_file *out) {
  return open_file(c, url, opts, NULL, out);
}

int gsr_open_listed(gsr_client *c, const char *url,
                    const gsr_file_options *opts, const gsr_list_entry *entry,
                    gsr_file *out) {
  gsr_stat st;
  if (out != NULL) *out = GSR_FILE_INVALID;
  if (entry == NULL || entry->is_prefix)
    return gsr__err(GSR_EINVAL, "gsr_open_listed: no object entry");
  memset(&st, 0, sizeof(st));
  st.size = entry->size;
  st.generation = entry->generation;
  st.has_crc32c = entry->has_crc32c;
  st.crc32c = entry->crc32c;
  st.metageneration = entry->metageneration;
  /* The listing's texts, whole or "" (never cut), as the metadata's. */
  gsr__copy_whole(st.updated, sizeof(st.updated), entry->updated);
  gsr__copy_whole(st.content_encoding, sizeof(st.content_encoding),
                  entry->content_encoding);
  gsr__copy_whole(st.etag, sizeof(st.etag), entry->etag);
  gsr__copy_whole(st.content_type, sizeof(st.content_type),
                  entry->content_type);
  gsr__copy_whole(st.storage_class, sizeof(st.storage_class),
                  entry->storage_class);
  gsr__copy_whole(st.time_created, sizeof(st.time_created),
                  entry->time_created);
  return open_file(c, url, opts, &st, out);
}

/* The body of a call that only hands its file to the read layer: looks
 * id up (holding a reference for the call) and returns the lookup's
 * status if it failed, else call's value, evaluated with f the file. */
#define ON_FILE(id, f, call)                 \
  do {                                       \
    struct gsr__file *f;                     \
    int status_ = gsr__handle_get((id), &f); \
    if (status_ != GSR_OK) return status_;   \
    int64_t result_ = (call);                \
    gsr__file_unref(f);                      \
    return result_;                          \
  } while (0)

int gsr_close(gsr_file id) {
  struct gsr__file *f;
  int status = gsr__handle_remove(id, &f);
  if (status != GSR_OK) return status;
  gsr__file_shutdown(f);
  gsr__file_unref(f);
  return GSR_OK;
}

int gsr_fstat(gsr_file id, gsr_stat *st) {
  struct gsr__file *f;
  if (st == NULL) return gsr__err(GSR_EINVAL, "gsr_fstat: st is NULL");
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  *st = f->obj->st;
  gsr__file_unref(f);
  return GSR_OK;
}

int64_t gsr_pread(gsr_file id, void *buf, size_t n, int64_t offset) {
  ON_FILE(id, f, gsr__file_pread(f, buf, n, offset));
}

int64_t gsr_read(gsr_file id, void *buf, size_t n) {
  ON_FILE(id, f, gsr__file_read(f, buf, n));
}

int64_t gsr_pread_slices(gsr_file id, size_t n, int64_t offset, gsr_slice *out,
                         size_t max, size_t *count) {
  uint32_t crc = 0;
  ON_FILE(id, f, gsr__file_slice_read(f, n, offset, out, max, count, 0, &crc));
}

int64_t gsr_read_slices(gsr_file id, size_t n, gsr_slice *out, size_t max,
                        size_t *count) {
  ON_FILE(id, f, gsr__file_read_slices(f, n, out, max, count));
}

void gsr_slice_release(gsr_slice *s) { gsr__slice_release(s); }

int64_t gsr_seek(gsr_file id, int64_t offset, int whence) {
  ON_FILE(id, f, gsr__file_seek(f, offset, whence));
}

int64_t gsr_tell(gsr_file id) { return gsr_seek(id, 0, GSR_SEEK_CUR); }

int64_t gsr_size(gsr_file id) { ON_FILE(id, f, (int64_t)gsr__file_size(f)); }

int gsr_set_read_end(gsr_file id, uint64_t end) {
  struct gsr__file *f;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  gsr__file_set_read_end(f, end);
  gsr__file_unref(f);
  return GSR_OK;
}

int gsr_file_stats_get(gsr_file id, gsr_file_stats *out) {
  struct gsr__file *f;
  if (out == NULL)
    return gsr__err(GSR_EINVAL, "gsr_file_stats_get: out is NULL");
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  gsr__file_stats(f, out);
  gsr__file_unref(f);
  return GSR_OK;
}

int gsr_sendfile(gsr_file id, int fd, int64_t offset, uint64_t count,
                 uint64_t *written) {
  struct gsr__file *f;
  uint64_t done = 0;
  int write_errno = 0;
  if (written != NULL) *written = 0;
  int status = gsr__handle_get(id, &f);
  if (status != GSR_OK) return status;
  if (offset < 0 || fd < 0) {
    gsr__file_unref(f);
    return gsr__err(GSR_EINVAL, "gsr_sendfile: %s is negative",
                    offset < 0 ? "offset" : "fd");
  }
  status = gsr__file_sendfile(f, fd, (uint64_t)offset, count, &done,
                              &write_errno);
  if (written != NULL) *written = done;
  gsr__file_unref(f);
  errno = write_errno; /* 0 unless fd refused a write (gsread.h) */
  return status;
}

int gsr_read_ranges_files(const gsr_file *ids, gsr_range *ranges, size_t n,
                          const gsr_ranges_options *opts) {
  gsr_ranges_options defaults;
  uint64_t t0 = gsr__now_ns();
  if (opts == NULL) {
    gsr_ranges_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->stats != NULL) memset(opts->stats, 0, sizeof(*opts->stats));
  if (ids == NULL && n > 0)
    return gsr__err(GSR_EINVAL, "gsr_read_ranges_files: files is NULL");
  int status = gsr__ranges_check(ranges, n, opts);
  if (status != GSR_OK) return status;
  struct gsr__file **files = gsr__calloc(n ? n : 1, sizeof(*files));
  if (files == NULL) {
    for (size_t i = 0; i < n; i++) ranges[i].status = GSR_ENOMEM;
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  /* A handle that is not open fails its ranges only; a run of ranges of
   * one file takes one reference. */
  size_t bad = 0, first_bad = SIZE_MAX;
  int bad_status = GSR_OK;
  struct gsr__error bad_err = {0};
  gsr_client *client = NULL;
  for (size_t i = 0; i < n; i++) {
    int s = GSR_OK;
    if (i > 0 && ids[i] == ids[i - 1] && files[i - 1] != NULL)
      files[i] = files[i - 1];
    else if ((s = gsr__handle_get(ids[i], &files[i])) == GSR_OK &&
             client != NULL && files[i]->client != client) {
      gsr__file_unref(files[i]);
      files[i] = NULL;
      s = gsr__err(GSR_EINVAL,
                   "gsr_read_ranges_files: range %zu: its file belongs to "
                   "another client",
                   i);
    }
    if (files[i] != NULL) {
      if (client == NULL) client = files[i]->client;
      continue;
    }
    ranges[i].status = s;
    bad++;
    if (first_bad == SIZE_MAX) {
      first_bad = i;
      bad_status = s;
      gsr__error_set(&bad_err, s, "%s", gsr_errmsg());
    }
  }
  status = gsr__files_read_ranges(files, ranges, n, opts, t0);
  for (size_t i = 0; i < n; i++)
    if (files[i] != NULL && (i == 0 || files[i] != files[i - 1]))
      gsr__file_unref(files[i]);
  gsr__free(files);
  if (opts->stats != NULL) {
    opts->stats->ranges += bad;
    opts->stats->failed += bad;
  }
  /* The first failure in the caller's order names the call's status. */
  if (first_bad != SIZE_MAX) {
    int later = status != GSR_OK;
    for (size_t i = 0; later && i < first_bad; i++)
      if (ranges[i].status != GSR_OK) later = 0;
    if (status == GSR_OK || later)
      status = gsr__err(bad_status, "range %zu: %s", first_bad, bad_err.msg);
  }
  return status;
}

int gsr_read_ranges(gsr_file id, gsr_range *ranges, size_t n,
                    const gsr_ranges_options *opts) {
  gsr_ranges_options defaults;
  struct gsr__file *f;
  uint64_t t0 = gsr__now_ns();
  if (opts == NULL) {
    gsr_ranges_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->stats != NULL) memset(opts->stats, 0, sizeof(*opts->stats));
  int status = gsr__ranges_check(ranges, n, opts);
  if (status != GSR_OK) return status;
  if ((status = gsr__handle_get(id, &f)) != GSR_OK) {
    for (size_t i = 0; i < n; i++) ranges[i].status = status;
    if (opts->stats != NULL) {
      opts->stats->failed = n;
      opts->stats->seconds = (double)(gsr__now_ns() - t0) / 1e9;
    }
    return status;
  }
  status = gsr__file_read_ranges(f, ranges, n, opts, t0);
  gsr__file_unref(f);
  return status;
}
