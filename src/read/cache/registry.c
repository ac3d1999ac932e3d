/* Cache types by name (fsspec's names, plus gcsfs's readahead_chunked and
 * the seed's readahead_v2 alias).
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "read/cache/cache.h"

static const struct {
  const char *name;
  const struct gsr__reader_ops *ops;
} caches[] = {
    {"none", &gsr__cache_none},
    {"readahead", &gsr__cache_readahead},
    {"readahead_chunked", &gsr__cache_readahead_chunked},
    {"blockcache", &gsr__cache_blockcache},
    {"background", &gsr__cache_background},
    {"first", &gsr__cache_first},
    {"all", &gsr__cache_all},
    {"bytes", &gsr__cache_bytes},
};

const struct gsr__reader_ops *gsr__cache_lookup(const char *name) {
  for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
    if (strcmp(caches[i].name, name) == 0) return caches[i].ops;
  return NULL;
}
