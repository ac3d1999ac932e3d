/* The one table of cache types: each name (fsspec's, plus gcsfs's
 * readahead_chunked), its alias if any (readahead_v2, the seed's name for
 * readahead_chunked) and its ops. file.c looks names up here and builds
 * its "unknown cache type" message from it; docs/caches.md lists the same.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "read/cache/cache.h"

static const struct {
  const char *name, *alias; /* alias: NULL for none */
  const struct gsr__cache_ops *ops;
} caches[] = {
    {"none", NULL, &gsr__cache_none},
    {"readahead", NULL, &gsr__cache_readahead},
    {"readahead_chunked", "readahead_v2", &gsr__cache_readahead_chunked},
    {"blockcache", NULL, &gsr__cache_blockcache},
    {"background", NULL, &gsr__cache_background},
    {"first", NULL, &gsr__cache_first},
    {"all", NULL, &gsr__cache_all},
    {"bytes", NULL, &gsr__cache_bytes},
};
#define N_CACHES (sizeof(caches) / sizeof(caches[0]))

const struct gsr__cache_ops *gsr__cache_lookup(const char *name) {
  for (size_t i = 0; i < N_CACHES; i++) {
    /* An entry's name is its ops' name: what the stats and traces say. */
    assert(strcmp(caches[i].name, caches[i].ops->name) == 0);
    if (strcmp(caches[i].name, name) == 0 ||
        (caches[i].alias != NULL && strcmp(caches[i].alias, name) == 0))
      return caches[i].ops;
  }
  return NULL;
}

void gsr__cache_names(char *buf, size_t n) {
  size_t at = 0;
  assert(n > 0);
  buf[0] = '\0';
  for (size_t i = 0; i < N_CACHES && at < n; i++) {
    int w = caches[i].alias != NULL
                ? snprintf(buf + at, n - at, "%s%s (alias %s)", i ? ", " : "",
                           caches[i].name, caches[i].alias)
                : snprintf(buf + at, n - at, "%s%s", i ? ", " : "",
                           caches[i].name);
    if (w < 0) break;
    at += (size_t)w;
  }
}
