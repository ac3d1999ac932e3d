/* Cache "blockcache": fsspec's BlockCache. Fixed blocks of block_size
 * bytes, each fetched with its own request and kept in an LRU table of
 * max_blocks (default 32); a read fetches only its missing blocks. The
 * table (blocks.c) also fixes fsspec's duplicate fetches (#1960).
 *
 * SPDX-License-Identifier: MIT
 */
#include "cache/blocks.h"

static int bc_read(struct gsr__file *f, void *state, uint64_t off,
                   uint64_t len, struct gsr__out *out) {
  uint64_t fetched;
  int status = gsr__blocks_read(f, state, off, len, out, &fetched);
  if (status == GSR_OK && fetched == 0) atomic_fetch_add(&f->stats.hits, 1);
  return status;
}

static int bc_create(struct gsr__file *f, void **state) {
  struct gsr__blocks *t = gsr__calloc(1, sizeof(*t));
  if (t == NULL) return gsr__err(GSR_ENOMEM, "%s: out of memory", f->obj->display);
  int status = gsr__blocks_init(t, f);
  if (status != GSR_OK) {
    gsr__free(t);
    return status;
  }
  *state = t;
  return GSR_OK;
}

static void bc_destroy(struct gsr__file *f, void *state) {
  (void)f;
  gsr__blocks_free(state);
  gsr__free(state);
}

const struct gsr__reader_ops gsr__cache_blockcache = {
    .name = "blockcache",
    .create = bc_create,
    .read = bc_read,
    .destroy = bc_destroy,
    .stateful = 1,
};
