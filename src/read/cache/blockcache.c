/* Cache "blockcache": fsspec's BlockCache. Fixed pages of block_size
 * bytes, each fetched with its own request and kept in an LRU table of
 * max_blocks (default 32); a read fetches only its missing pages. The
 * table (pages.c) also fixes fsspec's duplicate fetches (#1960).
 *
 * SPDX-License-Identifier: MIT
 */
#include "read/cache/pages.h"

const struct gsr__cache_ops gsr__cache_blockcache = {
    .name = "blockcache",
    .state_size = sizeof(struct gsr__pages),
    .concurrent = 1,
    .create = gsr__pages_create,
    .read = gsr__pages_read,
    .destroy = gsr__pages_destroy,
};
