/* The stream: one request for the rest of the object, paced by the reader.
 * The producer posts blocks to it as the window makes room; the I/O thread
 * fills them in order and pauses the transfer when the next bytes have no
 * block yet (libcurl keeps the chunk and stops reading the socket), until
 * the next post resumes it. One request instead of one per block: no
 * first-byte wait and no pipeline refill between blocks, one connection.
 *
 * Threads: the queue of posted blocks is shared with the I/O thread under
 * s->mu; everything else is the reader's (under the file's reader mutex)
 * or the I/O thread's (cur). A block's crc and done_ns are written by the
 * I/O thread before the progress that covers the block's last byte is
 * published, so a reader that saw that progress may read them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "core/file.h"
#include "fetch/rfetch.h"
#include "prefetch/prefetch.h"

/* A stream needs no window deep enough to hide first-byte waits (it has
 * one, at its start): only enough to let the reader and the network run at
 * their own pace for a while. Fresh memory is not free either (the first
 * touch of each page costs about as much as a copy of it). Measured on
 * the local server, 1 GiB: 16 MiB in 4 or 2 blocks alike, 8 MiB or 32 MiB
 * slower; 4 blocks keep the probe's blocks small (producer.c). */
#define STREAM_WINDOW_MAX (16u * 1024 * 1024)
#define STREAM_MIN_BLOCK (256u * 1024)

struct gsr__pf_stream {
  struct gsr__file *file;
  struct gsr__rfetch *rf;
  uint64_t off;                  /* object offset of the body's first byte */
  uint64_t posted_end;           /* object offset after the last post */
  pthread_mutex_t mu;            /* guards queue, queued and paused */
  struct gsr__pf_block *queue;   /* posted, not yet being filled */
  struct gsr__pf_block **queue_tail;
  uint64_t queued;               /* bytes in queue */
  int paused;                    /* room said no: the next post resumes */
  int retired;                   /* no more posts: end after the last */
  uint64_t room_end;             /* ... to land the chunk up to here */
  struct gsr__pf_block *cur;     /* I/O thread: the block being filled */
  /* The rate it sustains (under mu): blocks landed, when the first and
   * the last did, the bytes of all but the first; time spent paused
   * since the first landed, and since when it is paused now. */
  int landed_blocks;
  uint64_t first_ns, last_ns, rate_bytes;
  uint64_t paused_ns, paused_since;
  uint64_t first_idle, last_idle; /* the I/O thread's idle time then */
};

void gsr__stream_policy(uint64_t max_prefetch, uint64_t *window,
                        uint64_t *block) {
  uint64_t w = GSR__MIN(max_prefetch, (uint64_t)STREAM_WINDOW_MAX);
  if (w < 2 * STREAM_MIN_BLOCK) w = 2 * STREAM_MIN_BLOCK;
  *window = w;
  *block = GSR__MAX(w / 4, (uint64_t)STREAM_MIN_BLOCK);
}

/* Under s->mu: makes the first queued block the one being filled. */
static void install(struct gsr__pf_stream *s, struct gsr__request *req) {
  struct gsr__pf_block *b = s->queue;
  s->queue = b->snext;
  if (s->queue == NULL) s->queue_tail = &s->queue;
  s->queued -= b->len;
  req->dst[0].base = b->buf->data;
  req->dst[0].len = (size_t)b->len;
  req->n_dst = 1;
  req->dst_i = 0;
  req->dst_off = 0;
  req->seg_crc[0] = 0;
  req->marks = b->buf->marks;
  s->cur = b;
}

static int stream_room(struct gsr__request *req, void *arg, uint64_t need,
                       uint64_t *fit) {
  struct gsr__pf_stream *s = arg;
  int room = GSR__ROOM_OK;
  pthread_mutex_lock(&s->mu);
  if (s->queued >= need) {
    if (req->n_dst == 0) install(s, req);
  } else if (s->retired) { /* what is queued is all: fill it and stop */
    *fit = s->queued;
    if (req->n_dst == 0 && s->queue != NULL) install(s, req);
    room = GSR__ROOM_END;
  } else {
    s->paused = 1;
    s->paused_since = gsr__now_ns();
    s->room_end = s->off + req->received + need +
                  (req->n_dst > 0 ? req->dst[0].len - req->dst_off : 0);
    room = GSR__ROOM_PAUSE;
  }
  pthread_mutex_unlock(&s->mu);
  return room;
}

static void stream_next(struct gsr__request *req, void *arg) {
  struct gsr__pf_stream *s = arg;
  uint64_t now = gsr__now_ns();
  uint64_t idle = gsr__transport_idle_ns(s->file->client->transport);
  s->cur->crc = req->seg_crc[0];
  req->n_dst = 0;
  pthread_mutex_lock(&s->mu);
  if (s->landed_blocks++ == 0) {
    s->first_ns = now;
    s->first_idle = idle;
  } else {
    s->rate_bytes += s->cur->len;
  }
  s->last_ns = now;
  s->last_idle = idle;
  s->cur = NULL;
  if (s->queue != NULL) install(s, req);
  pthread_mutex_unlock(&s->mu);
}

static const struct gsr__stream_ops stream_ops = {
    .room = stream_room,
    .next = stream_next,
};

int gsr__stream_start(struct gsr__file *f, uint64_t off, uint64_t len,
                      struct gsr__pf_stream **out) {
  *out = NULL;
  struct gsr__pf_stream *s = gsr__calloc(1, sizeof(*s));
  if (s == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    gsr__free(s);
    return gsr__err(GSR_ENOMEM, "cannot create a mutex");
  }
  s->file = f;
  s->off = off;
  s->posted_end = off;
  s->queue_tail = &s->queue;
  int status = gsr__rfetch_start_stream(f, off, len, &stream_ops, s, NULL,
                                         &s->rf);
  if (status != GSR_OK) {
    pthread_mutex_destroy(&s->mu);
    gsr__free(s);
    return status;
  }
  GSR__TRACE(f->client, "prefetch %s: stream %llu+%llu on one connection",
             f->obj->display, (unsigned long long)off,
             (unsigned long long)len);
  *out = s;
  return GSR_OK;
}

uint64_t gsr__stream_end(const struct gsr__pf_stream *s) {
  return s->posted_end;
}

/* Called under s->mu, which it releases: if the transfer paused for want
 * of room, counts the pause and asks the I/O thread to resume it (its
 * room callback now answers differently). */
static void resume_if_paused(struct gsr__pf_stream *s) {
  int paused = s->paused;
  if (paused && s->landed_blocks > 0)
    s->paused_ns += gsr__now_ns() - s->paused_since;
  s->paused = 0;
  pthread_mutex_unlock(&s->mu);
  if (paused)
    gsr__transport_resume(s->file->client->transport, &s->rf->reqs[0]);
}

void gsr__stream_post(struct gsr__pf_stream *s, struct gsr__pf_block *b) {
  b->stream = s;
  b->snext = NULL;
  if (b->buf->marks != NULL) b->buf->marked = 1; /* the I/O thread writes them */
  s->posted_end = b->off + b->len;
  pthread_mutex_lock(&s->mu);
  *s->queue_tail = b;
  s->queue_tail = &b->snext;
  s->queued += b->len;
  resume_if_paused(s);
}

uint64_t gsr__stream_room_wanted(struct gsr__pf_stream *s) {
  pthread_mutex_lock(&s->mu);
  uint64_t end = s->paused ? s->room_end : 0;
  pthread_mutex_unlock(&s->mu);
  return end;
}

void gsr__stream_retire(struct gsr__pf_stream *s) {
  pthread_mutex_lock(&s->mu);
  s->retired = 1;
  resume_if_paused(s);
}

/* Bytes of the object before which the stream has landed everything. */
static uint64_t landed_to(struct gsr__pf_stream *s) {
  return s->off + atomic_load(&s->rf->reqs[0].progress);
}

int gsr__stream_wait(struct gsr__pf_stream *s, uint64_t end, long timeout_ms) {
  if (landed_to(s) >= end) return 1;
  gsr__request_wait_bytes_for(&s->rf->reqs[0], end - s->off, timeout_ms);
  return landed_to(s) >= end;
}

int gsr__stream_rate(struct gsr__pf_stream *s, int min_blocks, double *rate,
                     double *busy) {
  int ready = 0;
  pthread_mutex_lock(&s->mu);
  uint64_t span = s->last_ns - s->first_ns;
  if (s->landed_blocks >= min_blocks && span > 0) {
    if (s->paused_ns >= span / 4) { /* the reader is the bound */
      ready = -1;
    } else {
      *rate = (double)s->rate_bytes * 1e9 / (double)(span - s->paused_ns);
      *busy = 1.0 - (double)(s->last_idle - s->first_idle) / (double)span;
      ready = 1;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return ready;
}

int gsr__stream_done(struct gsr__pf_stream *s) {
  return gsr__rfetch_done(s->rf);
}

int gsr__stream_failed(struct gsr__pf_stream *s) {
  if (gsr__rfetch_stream_reauth(s->rf)) return GSR_OK;
  int status = gsr__rfetch_wait(s->rf); /* done: does not block */
  if (status == GSR_OK)
    status = gsr__err(GSR_EIO, "%s: stream ended at %llu",
                      s->file->obj->display,
                      (unsigned long long)landed_to(s));
  return status;
}

void gsr__stream_stop(struct gsr__pf_stream *s) {
  gsr__rfetch_cancel(s->rf);
  gsr__fetch_wait(&s->rf->fetch); /* the I/O thread let go */
}

void gsr__stream_free(struct gsr__pf_stream *s) {
  if (s == NULL) return;
  gsr__rfetch_free(s->rf); /* cancels and waits if still running */
  pthread_mutex_destroy(&s->mu);
  gsr__free(s);
}
