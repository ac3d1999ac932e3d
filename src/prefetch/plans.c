/* Remembered plans: how the probe (producer.c) chose to serve promised
 * readers of a server, one stream or N blocks, kept by the client for its
 * later files of the same origin (scheme://host:port), so that a job that
 * reads many large objects measures once, not once per object (on GCS the
 * probe's stream half costs each file its first 24 MiB at one
 * connection's rate). A decision older than PLAN_TTL_NS is measured again:
 * links change.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <string.h>

#include "prefetch/prefetch.h"

#define PLAN_SLOTS 8
#define PLAN_TTL_NS (600ull * 1000000000ull)

struct gsr__plans {
  pthread_mutex_t mu;
  struct {
    char origin[160];
    int plan;      /* enum gsr__pf_plan: STREAM or BLOCKS */
    uint64_t at;   /* when it was decided */
  } slot[PLAN_SLOTS];
  int next;        /* the slot a new origin takes */
};

struct gsr__plans *gsr__plans_new(void) {
  struct gsr__plans *ps = gsr__calloc(1, sizeof(*ps));
  if (ps != NULL && pthread_mutex_init(&ps->mu, NULL) != 0) {
    gsr__free(ps);
    return NULL;
  }
  return ps;
}

void gsr__plans_free(struct gsr__plans *ps) {
  if (ps == NULL) return;
  pthread_mutex_destroy(&ps->mu);
  gsr__free(ps);
}

/* Length of url's "scheme://authority" part; 0 if it has none or it does
 * not fit a slot. */
static size_t origin_len(const char *url) {
  const char *p = strstr(url, "://");
  if (p == NULL) return 0;
  size_t n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
  return n < sizeof(((struct gsr__plans *)0)->slot[0].origin) ? n : 0;
}

static int find(struct gsr__plans *ps, const char *url, size_t n) {
  for (int i = 0; i < PLAN_SLOTS; i++)
    if (strncmp(ps->slot[i].origin, url, n) == 0 &&
        ps->slot[i].origin[n] == '\0')
      return i;
  return -1;
}

int gsr__plans_get(struct gsr__plans *ps, const char *url) {
  size_t n = origin_len(url);
  int plan = -1;
  if (ps == NULL || n == 0) return -1;
  pthread_mutex_lock(&ps->mu);
  int i = find(ps, url, n);
  if (i >= 0 && gsr__now_ns() - ps->slot[i].at < PLAN_TTL_NS)
    plan = ps->slot[i].plan;
  pthread_mutex_unlock(&ps->mu);
  return plan;
}

void gsr__plans_put(struct gsr__plans *ps, const char *url, int plan) {
  size_t n = origin_len(url);
  if (ps == NULL || n == 0) return;
  pthread_mutex_lock(&ps->mu);
  int i = find(ps, url, n);
  if (i < 0) {
    i = ps->next;
    ps->next = (ps->next + 1) % PLAN_SLOTS;
    memcpy(ps->slot[i].origin, url, n);
    ps->slot[i].origin[n] = '\0';
  }
  ps->slot[i].plan = plan;
  ps->slot[i].at = gsr__now_ns();
  pthread_mutex_unlock(&ps->mu);
}
