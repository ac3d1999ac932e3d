/* The library's allocator. One place for every allocation, so that a test
 * can fail the k-th one (as curl's torture tests and SQLite's OOM tests do)
 * and check that every path unwinds without a crash or a leak.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/internal.h"

static atomic_uint_fast64_t alloc_count;
static atomic_uint_fast64_t alloc_fail_at; /* 0: never fail */

/* Returns 1 if this allocation must fail. */
static int alloc_should_fail(void) {
  uint_fast64_t n = atomic_fetch_add(&alloc_count, 1) + 1;
  uint_fast64_t k = atomic_load(&alloc_fail_at);
  return k != 0 && n == k;
}

uint64_t gsr__alloc_fail_at(uint64_t k) {
  uint64_t counted = atomic_exchange(&alloc_count, 0);
  atomic_store(&alloc_fail_at, k);
  return counted;
}

void *gsr__malloc(size_t n) {
  if (alloc_should_fail()) return NULL;
  return malloc(n ? n : 1);
}

void *gsr__calloc(size_t count, size_t n) {
  if (alloc_should_fail()) return NULL;
  return calloc(count ? count : 1, n ? n : 1);
}

void *gsr__realloc(void *p, size_t n) {
  if (alloc_should_fail()) return NULL;
  return realloc(p, n ? n : 1);
}

int gsr__copy_whole(char *dst, size_t n, const char *src) {
  size_t len = src ? strlen(src) : 0;
  assert(n > 0);
  if (len >= n) len = 0;
  if (len > 0) memcpy(dst, src, len);
  dst[len] = '\0';
  return len > 0 || src == NULL || *src == '\0';
}

char *gsr__strndup(const char *s, size_t n) {
  char *d = gsr__malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *gsr__strdup(const char *s) { return gsr__strndup(s, strlen(s)); }

void gsr__free(void *p) { free(p); }

void *gsr__map(size_t n) {
  if (alloc_should_fail()) return NULL;
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void gsr__unmap(void *p, size_t n) {
  if (p != NULL) munmap(p, n);
}

void *gsr__remap(void *p, size_t n, size_t to) {
  if (alloc_should_fail()) return NULL;
  unsigned char *q = mremap(p, n, to, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return NULL;
#ifdef MADV_POPULATE_WRITE
  long ps = sysconf(_SC_PAGESIZE);
  size_t page = ps > 0 ? (size_t)ps : 4096, from = (n + page - 1) / page * page;
  if (to > from) (void)madvise(q + from, to - from, MADV_POPULATE_WRITE);
#endif
  return q;
}
