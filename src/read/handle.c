/* The handle registry: public gsr_file handles are 64-bit numbers, a slot
 * index in the low 20 bits and a process-wide serial above it. Serials only
 * grow, so a handle is never reused, and a stale one is told apart from a
 * made-up one: use after close is an error, never a crash.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "read/file.h"

#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

struct slot {
  gsr_file id;
  struct gsr__file *f; /* NULL: free */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots; /* index 0 unused: handle 0 is invalid */
static uint32_t n_slots, cap_slots;
static uint64_t last_serial; /* serials issued: 1..last_serial */

/* fork: a child gets only the forking thread, so a table mutex another
 * thread held would stay locked in it forever. Held across fork instead
 * (registered once, at the first use of the table). */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_prepare(void) { pthread_mutex_lock(&reg_mu); }
static void fork_done(void) { pthread_mutex_unlock(&reg_mu); }
static void fork_hooks(void) {
  (void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

static void reg_lock(void) {
  pthread_once(&fork_once, fork_hooks);
  pthread_mutex_lock(&reg_mu);
}

static int find_free_slot_synced(uint32_t *idx) {
  for (uint32_t i = 1; i < n_slots; i++)
    if (slots[i].f == NULL) {
      *idx = i;
      return 0;
    }
  if (n_slots == 0) n_slots = 1; /* slot 0 stays unused */
  if (n_slots > SLOT_MASK) return -1;
  if (n_slots >= cap_slots) {
    uint32_t cap = cap_slots ? cap_slots * 2 : 64;
    struct slot *s = gsr__realloc(slots, cap * sizeof(*s));
    if (s == NULL) return -1;
    slots = s;
    cap_slots = cap;
  }
  *idx = n_slots++;
  slots[*idx].f = NULL;
  return 0;
}

int gsr__handle_add(struct gsr__file *f) {
  uint32_t idx;
  reg_lock();
  if (find_free_slot_synced(&idx) != 0) {
    pthread_mutex_unlock(&reg_mu);
    return gsr__err(GSR_ENOMEM, "cannot register another open file");
  }
  assert(idx != 0); /* slot 0 stays unused: handle 0 is invalid */
  f->id = (++last_serial << SLOT_BITS) | idx;
  slots[idx].id = f->id;
  slots[idx].f = f;
  pthread_mutex_unlock(&reg_mu);
  return GSR_OK;
}

/* The slot holding id, or NULL; sets the message for a missing one. */
static struct slot *lookup_synced(gsr_file id, int *status) {
  uint32_t idx = (uint32_t)(id & SLOT_MASK);
  uint64_t serial = id >> SLOT_BITS;
  if (idx != 0 && idx < n_slots && slots[idx].f != NULL && slots[idx].id == id)
    return &slots[idx];
  if (serial != 0 && serial <= last_serial && idx != 0)
    *status = gsr__err(GSR_ECLOSED, "file handle %llu is closed",
                       (unsigned long long)id);
  else
    *status = gsr__err(GSR_EBADF, "%llu is not a file handle",
                       (unsigned long long)id);
  return NULL;
}

/* The live file of handle id, under the table's lock: with remove, taken
 * out of the table (its reference moves to the caller), else with a new
 * reference. */
static int take(gsr_file id, int remove, struct gsr__file **out) {
  int status = GSR_OK;
  reg_lock();
  struct slot *s = lookup_synced(id, &status);
  if (s != NULL) {
    *out = s->f;
    if (remove) {
      s->f = NULL;
    } else {
      int refs = atomic_fetch_add(&s->f->refs, 1);
      assert(refs >= 1); /* the registry holds one while registered */
      (void)refs;
    }
  }
  pthread_mutex_unlock(&reg_mu);
  return status;
}

int gsr__handle_get(gsr_file id, struct gsr__file **out) {
  return take(id, 0, out);
}

int gsr__handle_remove(gsr_file id, struct gsr__file **out) {
  return take(id, 1, out);
}

struct gsr__file *gsr__handle_remove_any(gsr_client *c) {
  struct gsr__file *f = NULL;
  reg_lock();
  for (uint32_t i = 1; i < n_slots && f == NULL; i++) {
    if (slots[i].f != NULL && slots[i].f->client == c) {
      f = slots[i].f;
      slots[i].f = NULL;
    }
  }
  pthread_mutex_unlock(&reg_mu);
  return f;
}

void gsr__handle_trim(void) {
  reg_lock();
  uint32_t live = 0;
  for (uint32_t i = 1; i < n_slots; i++) live += slots[i].f != NULL;
  if (live == 0) { /* serials keep growing: old handles stay invalid */
    gsr__free(slots);
    slots = NULL;
    n_slots = cap_slots = 0;
  }
  pthread_mutex_unlock(&reg_mu);
}
