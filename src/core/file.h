/* An open file: one pinned object, a position, and the requests in flight
 * for it (so close can cancel them). Shared between threads by reference
 * count; the handle registry maps public handles to it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_FILE_H
#define GSR_FILE_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend.h"

/* A request in flight for a file; lives on the reader's stack. */
struct gsr__inflight {
  struct gsr__request *req;
  struct gsr__inflight *next, *prev;
};

struct gsr__file {
  atomic_int refs;
  gsr_file id;
  gsr_client *client;
  struct gsr__object *obj;
  gsr_file_options opts;
  pthread_mutex_t pos_mu; /* serializes gsr_read/gsr_seek; guards pos */
  int64_t pos;
  pthread_mutex_t mu;     /* guards closed and inflight */
  int closed;
  struct gsr__inflight *inflight;
};

/* ---- handle.c: public handles <-> files. */
/* Registers f (one reference moves to the registry); sets f->id. */
int gsr__handle_add(struct gsr__file *f);
/* Finds a live file and takes a reference. GSR_OK, GSR_EBADF (never a
 * handle) or GSR_ECLOSED (closed). Message set on failure. */
int gsr__handle_get(gsr_file id, struct gsr__file **out);
/* Unregisters id; hands the registry's reference to the caller. */
int gsr__handle_remove(gsr_file id, struct gsr__file **out);
/* Unregisters the first live file of client c, or returns NULL. */
struct gsr__file *gsr__handle_remove_any(gsr_client *c);

/* ---- file.c */
void gsr__file_unref(struct gsr__file *f);
/* Marks f closed and cancels its requests (the caller drops its ref). */
void gsr__file_shutdown(struct gsr__file *f);

#endif /* GSR_FILE_H */
