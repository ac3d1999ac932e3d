/* Cache "first": fsspec's FirstChunkCache. Keeps only the object's first
 * block, [0, min(block_size, size)), for formats whose header is read
 * again and again. Reads starting past it go straight to the source with
 * the caller's destination (no copy, nothing kept).
 *
 * SPDX-License-Identifier: MIT
 */
#include "read/cache/cache.h"

struct fc {
  struct gsr__buf *head; /* the first block, once read */
};

static uint64_t fc_len(const struct gsr__file *f) {
  return GSR__MIN(f->block_size, f->obj->st.size);
}

/* The first read starts in the first block and ends past it: ONE request
 * for [0, end), scattered into the block (kept) and the rest (handed to
 * this read only). */
static int fc_first_wide(struct gsr__file *f, struct fc *fc, uint64_t off,
                         uint64_t end, struct gsr__out *out) {
  uint64_t lens[2] = {fc_len(f), end - fc_len(f)};
  struct gsr__buf *bufs[2];
  int status = gsr__chunk_fetch(f, 0, lens, 2, bufs);
  if (status != GSR_OK) return status;
  fc->head = bufs[0];
  gsr__cache_held(f, lens[0]);
  if (gsr__out_put(f, out, fc->head, (size_t)off, lens[0] - off) != 0)
    gsr__out_put(f, out, bufs[1], 0, lens[1]);
  gsr__buf_unref(bufs[1]);
  return GSR_OK;
}

static int fc_read(struct gsr__file *f, void *state, uint64_t off, uint64_t len,
                   struct gsr__out *out) {
  struct fc *fc = state;
  uint64_t end = off + len, bs = fc_len(f);
  if (off >= bs) { /* past the first block: pass-through */
    atomic_fetch_add(&f->stats.misses, 1);
    return gsr__source_read(f, off, len, out);
  }
  if (fc->head == NULL) {
    atomic_fetch_add(&f->stats.misses, 1);
    if (end > bs) return fc_first_wide(f, fc, off, end, out);
    int status = gsr__chunk_fetch(f, 0, &bs, 1, &fc->head);
    if (status != GSR_OK) return status;
    gsr__cache_held(f, bs);
    gsr__out_put(f, out, fc->head, (size_t)off, len);
    return GSR_OK;
  }
  atomic_fetch_add(end > bs ? &f->stats.misses : &f->stats.hits, 1);
  if (gsr__out_put(f, out, fc->head, (size_t)off, GSR__MIN(end, bs) - off) ==
          0 ||
      end <= bs)
    return GSR_OK;
  return gsr__source_read(f, bs, end - bs, out); /* the overflow */
}

static int fc_create(struct gsr__file *f, void **state) {
  if ((*state = gsr__calloc(1, sizeof(struct fc))) == NULL)
    return gsr__err(GSR_ENOMEM, "%s: out of memory", f->obj->display);
  return GSR_OK;
}

static void fc_destroy(struct gsr__file *f, void *state) {
  struct fc *fc = state;
  (void)f;
  gsr__buf_unref(fc->head);
  gsr__free(fc);
}

const struct gsr__reader_ops gsr__cache_first = {
    .name = "first",
    .create = fc_create,
    .read = fc_read,
    .destroy = fc_destroy,
    .stateful = 1,
};
