/* A concurrent cache's lock and its fetches in flight. See cache.h. A
 * cache has few reads at once (one per thread on its file), so the list
 * is scanned.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "read/cache/cache.h"

void gsr__cache_lock_init(struct gsr__cache_lock *l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cond, NULL);
  l->fetches = NULL;
}

void gsr__cache_lock_destroy(struct gsr__cache_lock *l) {
  assert(l->fetches == NULL); /* destroy runs after every read */
  pthread_cond_destroy(&l->cond);
  pthread_mutex_destroy(&l->mu);
}

int gsr__cache_fetching(const struct gsr__cache_lock *l, uint64_t off) {
  for (const struct gsr__cache_fetch *fx = l->fetches; fx; fx = fx->next)
    if (off >= fx->off && off < fx->end) return 1;
  return 0;
}

void gsr__cache_wait(struct gsr__cache_lock *l) {
  assert(l->fetches != NULL); /* else nothing would ever wake it */
  pthread_cond_wait(&l->cond, &l->mu);
}

void gsr__cache_fetch_begin(struct gsr__cache_lock *l,
                            struct gsr__cache_fetch *fx, uint64_t off,
                            uint64_t end) {
  assert(off < end);
  *fx = (struct gsr__cache_fetch){off, end, l->fetches};
  l->fetches = fx;
  pthread_mutex_unlock(&l->mu);
}

void gsr__cache_fetch_end(struct gsr__cache_lock *l,
                          struct gsr__cache_fetch *fx) {
  pthread_mutex_lock(&l->mu);
  struct gsr__cache_fetch **p = &l->fetches;
  while (*p != fx) {
    assert(*p != NULL); /* fx was registered by gsr__cache_fetch_begin */
    p = &(*p)->next;
  }
  *p = fx->next;
  pthread_cond_broadcast(&l->cond);
}
