/* zonal-fast-server: a zonal-bucket (Rapid Storage) stand-in in C for
 * benchmarks. gRPC BidiReadObject over h2c (an nghttp2 server session,
 * prior knowledge, no TLS) for every file ROOT/BUCKET/NAME, with the
 * request and response shapes of tests/server/zonal-server's fault-free
 * path: it exists because that Python (grpcio) stand-in tops out near
 * 234 MB/s on a 2-core machine, below the profile it is meant to impose.
 *
 * NO FAULTS: no --faults, --log, TLS or IPv6 endpoints; the tests of
 * faults keep the Python stand-in. What it does: docs/zonal.md.
 *
 * Usage: zonal-fast-server --port PORT|0 --root DIR [--port-file FILE]
 *                          [--ttfb-ms N] [--rate BYTES_PER_S] [--pipeline]
 *                          [--host ADDR (default 127.0.0.1)]
 *
 * Per stream, as the Python one does: the first response carries the
 * object's metadata and a read handle (after the first-byte wait, as the
 * JSON stand-in answers a metadata GET; the Python one answers at once);
 * each request message's ranges are
 * then served in arrival order, one message after another: the first-byte
 * wait (--ttfb-ms) once before a message's first piece, then its ranges'
 * pieces (at most 2 MiB, each with its CRC32C, range_end on a range's last
 * one) interleaved round-robin, one piece per response. RATE
 * paces the bytes on the wire as the JSON stand-in's nginx does
 * (`limit_rate` with `sendfile_max_chunk 512k`): a burst of at most 512
 * KiB of object bytes as soon as there are some to send, then a pause of
 * burst/RATE before the next (no credit is saved up: a stream that had
 * nothing to send, or was held back by flow control, does not burst to
 * catch up). So a request's first bytes leave when its first-byte wait
 * ends, as nginx's do, not a whole piece's time at RATE later; a piece's
 * framing (gRPC prefix, CRC32C, read range) and the metadata go unpaced
 * (a 1 MiB range is two bursts, as nginx sends a 1 MiB GET's body).
 *
 * --pipeline (not the Python one's way, off by default): a request's
 * first-byte wait runs from its arrival, so the waits of requests sent
 * while others stream overlap (as a server working on a stream's ranges at
 * once would); its pieces still follow the earlier requests' at RATE.
 *
 * One thread per connection (gsread opens one connection per stream), each
 * a poll loop over its nghttp2 session with the pacing timers; DATA frames
 * are written from the message buffer without nghttp2's copy (NO_COPY)
 * into a write buffer that goes to the socket in large sends.
 * SIGTERM or SIGINT: the threads end, everything is freed, exit status 0.
 *
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport/grpc.h"
#include "zonal_read.pb-c.h"

#define MAX_PIECE (2u << 20) /* the Python stand-in's MAX_CHUNK */
#define MAX_RANGES 100       /* per request message */
#define WBUF_SIZE (512u << 10)
#define BURST (512u << 10) /* paced bytes sent at once (nginx's chunk) */
#define METHOD_PATH "/google.storage.v2.Storage/BidiReadObject"
#define BUCKET_PREFIX "projects/_/buckets/"

static struct {
  const char *root;
  const char *host;
  int port;
  const char *port_file;
  double ttfb_s;
  double rate;  /* bytes per second per stream; 0: unshaped */
  int pipeline; /* first-byte waits from each request's arrival */
} opt = {.host = "127.0.0.1", .port = -1};

static int stop_pipe[2] = {-1, -1}; /* readable once stopping */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the whole object's CRC32C, cached per file version (the Python
 * stand-in hashes the file at every open; a 256 MiB one would cost each
 * stream's open a noticeable pause here) */

struct crc_entry {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  uint32_t crc;
  int used;
};
static struct crc_entry crc_cache[16];
static unsigned crc_next;
static pthread_mutex_t crc_mu = PTHREAD_MUTEX_INITIALIZER;

static int same_version(const struct crc_entry *e, const struct stat *st) {
  return e->used && e->dev == st->st_dev && e->ino == st->st_ino &&
         e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
         e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static int file_crc(int fd, const struct stat *st, uint32_t *out) {
  pthread_mutex_lock(&crc_mu);
  for (size_t i = 0; i < sizeof(crc_cache) / sizeof(crc_cache[0]); i++)
    if (same_version(&crc_cache[i], st)) {
      *out = crc_cache[i].crc;
      pthread_mutex_unlock(&crc_mu);
      return 0;
    }
  pthread_mutex_unlock(&crc_mu);
  size_t bn = 4u << 20;
  uint8_t *b = malloc(bn);
  if (b == NULL) return -1;
  uint32_t crc = 0;
  off_t at = 0;
  while (at < st->st_size) {
    ssize_t r = pread(fd, b, bn, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    crc = gsr__crc32c(crc, b, (size_t)r);
    at += r;
  }
  free(b);
  if (at != st->st_size) return -1;
  pthread_mutex_lock(&crc_mu);
  struct crc_entry *e = &crc_cache[crc_next++ % 16];
  *e = (struct crc_entry){st->st_dev,  st->st_ino, st->st_size,
                          st->st_mtim, crc,        1};
  pthread_mutex_unlock(&crc_mu);
  *out = crc;
  return 0;
}

/* ---- a hand-encoded BidiReadObjectResponse with one ObjectRangeData, so
 * the content is pread straight into its place in the message (protobuf-c
 * would copy it once more). Field numbers: proto/zonal_read.proto. */

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

struct piece {
  int64_t id;
  uint64_t at;
  uint32_t n;
  int last; /* range_end */
};

static size_t read_range_len(const struct piece *pc) {
  return 1 + varint_len(pc->at) + 1 + varint_len(pc->n) + 1 +
         varint_len((uint64_t)pc->id);
}

/* The framed message's size (5-byte gRPC prefix included). */
static size_t piece_msg_len(const struct piece *pc) {
  size_t cd = 1 + varint_len(pc->n) + pc->n + 5; /* content, crc32c */
  size_t rr = read_range_len(pc);
  size_t ord = 1 + varint_len(cd) + cd + 1 + varint_len(rr) + rr + 2;
  return 5 + 1 + varint_len(ord) + ord;
}

/* Writes the framed message into out (piece_msg_len bytes): content from
 * fd. 0, or -1 if the file ended short. */
static int piece_msg(uint8_t *out, const struct piece *pc, int fd) {
  size_t cd = 1 + varint_len(pc->n) + pc->n + 5;
  size_t rr = read_range_len(pc);
  size_t ord = 1 + varint_len(cd) + cd + 1 + varint_len(rr) + rr + 2;
  size_t total = 1 + varint_len(ord) + ord;
  gsr__grpc_frame_prefix(out, (uint32_t)total);
  uint8_t *p = out + 5;
  *p++ = 0x32; /* BidiReadObjectResponse.object_data_ranges = 6 */
  p = put_varint(p, ord);
  *p++ = 0x0a; /* ObjectRangeData.checksummed_data = 1 */
  p = put_varint(p, cd);
  *p++ = 0x0a; /* ChecksummedData.content = 1 */
  p = put_varint(p, pc->n);
  size_t got = 0;
  while (got < pc->n) {
    ssize_t r = pread(fd, p + got, pc->n - got, (off_t)(pc->at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  uint32_t crc = gsr__crc32c(0, p, pc->n);
  p += pc->n;
  *p++ = 0x15; /* ChecksummedData.crc32c = 2, fixed32 little-endian */
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(crc >> (8 * i));
  *p++ = 0x12; /* ObjectRangeData.read_range = 2 */
  p = put_varint(p, rr);
  *p++ = 0x08; /* ReadRange.read_offset = 1 */
  p = put_varint(p, pc->at);
  *p++ = 0x10; /* read_length = 2: this piece's */
  p = put_varint(p, pc->n);
  *p++ = 0x18; /* read_id = 3 */
  p = put_varint(p, (uint64_t)pc->id);
  *p++ = 0x18; /* ObjectRangeData.range_end = 3, always sent, as Python's */
  *p++ = pc->last ? 1 : 0;
  assert((size_t)(p - out) == piece_msg_len(pc));
  return 0;
}

/* ---- streams */

struct range {
  int64_t id, off, len; /* as asked */
  uint64_t at, end;     /* pieces left: [at, end) */
  int done;             /* its last piece chosen */
};

struct req {
  struct range *r;
  size_t n, cur;   /* round-robin position */
  double ready_at; /* --pipeline: its arrival plus the first-byte wait */
  struct req *next;
};

struct conn;

struct stream {
  int32_t id;
  struct conn *c;
  struct stream *next;
  char path_ok, params[512];
  uint8_t *in; /* request bytes not yet a whole message */
  size_t in_len, in_cap;
  int opened;     /* the spec was taken */
  double meta_at; /* when the first response (metadata) goes */
  int fd;
  uint64_t size;
  struct req *q, *q_tail; /* requests waiting, in arrival order */
  struct req *cur;        /* being served */
  double first_at;        /* the current request's first-byte wait ends */
  struct piece next_pc;   /* the next message's piece, once chosen */
  int has_next;
  double next_due;
  int paced;      /* the message is object data (--rate applies) */
  size_t budget;  /* with --rate: its bytes nghttp2 may take now */
  size_t unpaced; /* ... and its bytes that are not the object's (framing,
                   * CRC, read range): they go unpaced */
  double send_at; /* with --rate: when the next burst may go */
  uint8_t *out;   /* the current framed message */
  size_t out_len, out_off, out_cap, reserved;
  int responding; /* response HEADERS submitted */
  int deferred;
  int client_done;   /* the client half-closed */
  int ending;        /* trailers owed: code and message */
  int trailers_sent; /* grpc-status went out */
  int end_code;
  char end_msg[128];
};

struct conn {
  int fd;
  nghttp2_session *h2;
  struct stream *streams;
  uint8_t *wbuf;
  size_t wlen, woff;
  atomic_int done;
  pthread_t th;
  struct conn *next;
};

static void free_req(struct req *q) {
  if (q == NULL) return;
  free(q->r);
  free(q);
}

static void free_stream(struct stream *s) {
  while (s->q != NULL) {
    struct req *q = s->q;
    s->q = q->next;
    free_req(q);
  }
  free_req(s->cur);
  if (s->fd >= 0) close(s->fd);
  free(s->in);
  free(s->out);
  free(s);
}

static struct stream *find_stream(struct conn *c, int32_t id) {
  for (struct stream *s = c->streams; s != NULL; s = s->next)
    if (s->id == id) return s;
  return NULL;
}

static void resume(struct stream *s) {
  if (s->deferred && s->responding) {
    s->deferred = 0;
    nghttp2_session_resume_data(s->c->h2, s->id);
  }
}

#define NV(n, v)                                                               \
  (nghttp2_nv) {                                                               \
    (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE \
  }

/* Ends the call with code: trailers after what was sent, or a
 * Trailers-Only response when nothing was (as grpcio's abort does). */
static void end_call(struct stream *s, int code, const char *msg) {
  if (s->ending) return;
  s->ending = 1;
  s->end_code = code;
  snprintf(s->end_msg, sizeof(s->end_msg), "%s", msg);
  s->has_next = 0;
  while (s->q != NULL) {
    struct req *q = s->q;
    s->q = q->next;
    free_req(q);
  }
  s->q_tail = NULL;
  free_req(s->cur);
  s->cur = NULL;
  if (!s->responding) {
    char codes[16];
    snprintf(codes, sizeof(codes), "%d", code);
    nghttp2_nv nv[] = {
        NV(":status", "200"), NV("content-type", "application/grpc"),
        NV("grpc-status", codes), NV("grpc-message", s->end_msg)};
    nghttp2_submit_response(s->c->h2, s->id, nv, code == 0 ? 3 : 4, NULL);
    s->responding = 1;
    s->trailers_sent = 1;
    return;
  }
  resume(s);
}

static int grow(uint8_t **b, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 65536;
  while (n < need) n *= 2;
  uint8_t *p = realloc(*b, n);
  if (p == NULL) return -1;
  *b = p;
  *cap = n;
  return 0;
}

/* Bytes of the current message not yet taken by nghttp2. */
static size_t unsent(const struct stream *s) {
  return s->out_len - s->out_off - s->reserved;
}

static ssize_t body_read(nghttp2_session *h2, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *user) {
  struct stream *s = src->ptr;
  size_t avail = unsent(s);
  if (s->paced && avail > s->budget + s->unpaced)
    avail = s->budget + s->unpaced;
  if (avail > 0) {
    size_t n = GSR__MIN(len, avail), free = GSR__MIN(n, s->unpaced);
    s->reserved += n;
    if (s->paced) {
      s->unpaced -= free;
      s->budget -= n - free;
    }
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return (ssize_t)n;
  }
  if (unsent(s) == 0 && s->reserved == 0 && s->ending && !s->trailers_sent) {
    char codes[16];
    snprintf(codes, sizeof(codes), "%d", s->end_code);
    nghttp2_nv nv[] = {NV("grpc-status", codes),
                       NV("grpc-message", s->end_msg)};
    if (nghttp2_submit_trailer(h2, id, nv, s->end_code == 0 ? 1 : 2) != 0)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s->trailers_sent = 1;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return 0;
  }
  s->deferred = 1;
  return NGHTTP2_ERR_DEFERRED;
}
#undef NV

static int send_data(nghttp2_session *h2, nghttp2_frame *frame,
                     const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *user) {
  struct conn *c = user;
  struct stream *s = src->ptr;
  size_t pad = frame->data.padlen;
  if (WBUF_SIZE - c->wlen < 9 + length + pad) return NGHTTP2_ERR_WOULDBLOCK;
  assert(length <= s->reserved);
  memcpy(c->wbuf + c->wlen, framehd, 9);
  c->wlen += 9;
  if (pad > 0) c->wbuf[c->wlen++] = (uint8_t)(pad - 1);
  memcpy(c->wbuf + c->wlen, s->out + s->out_off, length);
  c->wlen += length;
  if (pad > 1) {
    memset(c->wbuf + c->wlen, 0, pad - 1);
    c->wlen += pad - 1;
  }
  s->out_off += length;
  s->reserved -= length;
  return 0;
}

static ssize_t send_cb(nghttp2_session *h2, const uint8_t *data, size_t len,
                       int flags, void *user) {
  struct conn *c = user;
  size_t n = GSR__MIN(len, WBUF_SIZE - c->wlen);
  if (n == 0) return NGHTTP2_ERR_WOULDBLOCK;
  memcpy(c->wbuf + c->wlen, data, n);
  c->wlen += n;
  return (ssize_t)n;
}

/* Queues a framed message of len bytes (the out buffer is empty). */
static uint8_t *out_space(struct stream *s, size_t len) {
  assert(s->out_off == s->out_len && s->reserved == 0);
  s->out_off = s->out_len = 0;
  s->paced = 0; /* the caller's to say */
  if (grow(&s->out, &s->out_cap, len) != 0) return NULL;
  s->out_len = len;
  return s->out;
}

static void start_response(struct stream *s) {
  nghttp2_nv nv[] = {
      {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
       NGHTTP2_NV_FLAG_NONE}};
  nghttp2_data_provider dp = {.source.ptr = s, .read_callback = body_read};
  nghttp2_submit_response(s->c->h2, s->id, nv, 2, &dp);
  s->responding = 1;
}

/* gcs-server's generation (the Python stand-in's too): the mtime in
 * microseconds times 1000 plus the inode mod 1000. */
static int64_t generation_of(const struct stat *st) {
  int64_t us = (int64_t)st->st_mtim.tv_sec * 1000000 +
               st->st_mtim.tv_nsec / 1000;
  return us * 1000 + (int64_t)(st->st_ino % 1000);
}

static int name_ok(const char *name, int slashes) {
  if (name == NULL || name[0] == '\0' || name[0] == '/') return 0;
  if (!slashes && strchr(name, '/') != NULL) return 0;
  for (const char *p = name; *p;) { /* no ".." component */
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
    p += n + (e != NULL);
  }
  return 1;
}

/* The first message: the spec names the object; the answer is its
 * metadata and a read handle, as the Python stand-in sends them. */
static void open_object(struct stream *s,
                        const Google__Storage__V2__BidiReadObjectSpec *spec) {
  char want[600];
  if (spec->bucket == NULL ||
      strncmp(spec->bucket, BUCKET_PREFIX, strlen(BUCKET_PREFIX)) != 0 ||
      (snprintf(want, sizeof(want), "bucket=%s", spec->bucket),
       strstr(s->params, want) == NULL)) {
    end_call(s, GSR__GRPC_INVALID_ARGUMENT, "bad bucket or params");
    return;
  }
  const char *bucket = spec->bucket + strlen(BUCKET_PREFIX);
  char path[PATH_MAX];
  struct stat st;
  if (!name_ok(bucket, 0) || !name_ok(spec->object, 1) ||
      snprintf(path, sizeof(path), "%s/%s/%s", opt.root, bucket,
               spec->object) >= (int)sizeof(path) ||
      (s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
      fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    end_call(s, GSR__GRPC_NOT_FOUND, "no such object");
    return;
  }
  int64_t gen = generation_of(&st);
  if (spec->has_generation && spec->generation != 0 &&
      spec->generation != gen) {
    end_call(s, GSR__GRPC_NOT_FOUND, "no such generation");
    return;
  }
  uint32_t crc;
  if (file_crc(s->fd, &st, &crc) != 0) {
    end_call(s, GSR__GRPC_INTERNAL, "cannot read the object");
    return;
  }
  s->size = (uint64_t)st.st_size;

  Google__Storage__V2__ObjectChecksums sums =
      GOOGLE__STORAGE__V2__OBJECT_CHECKSUMS__INIT;
  sums.has_crc32c = 1;
  sums.crc32c = crc;
  Google__Storage__V2__Timestamp upd = GOOGLE__STORAGE__V2__TIMESTAMP__INIT;
  upd.has_seconds = 1;
  upd.seconds = gen / 1000000000;
  Google__Storage__V2__Object o = GOOGLE__STORAGE__V2__OBJECT__INIT;
  o.name = spec->object;
  o.bucket = spec->bucket;
  o.has_generation = o.has_metageneration = o.has_size = 1;
  o.generation = gen;
  o.metageneration = 1;
  o.size = st.st_size;
  o.storage_class = "RAPID";
  o.content_type = "application/octet-stream";
  o.checksums = &sums;
  o.update_time = &upd;
  char hs[64];
  snprintf(hs, sizeof(hs), "handle-%lld", (long long)gen);
  Google__Storage__V2__BidiReadHandle h =
      GOOGLE__STORAGE__V2__BIDI_READ_HANDLE__INIT;
  h.has_handle = 1;
  h.handle.data = (uint8_t *)hs;
  h.handle.len = strlen(hs);
  Google__Storage__V2__BidiReadObjectResponse r =
      GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_RESPONSE__INIT;
  r.metadata = &o;
  r.read_handle = &h;
  size_t n = google__storage__v2__bidi_read_object_response__get_packed_size(
      &r);
  uint8_t *p = out_space(s, 5 + n);
  if (p == NULL) {
    end_call(s, GSR__GRPC_INTERNAL, "out of memory");
    return;
  }
  gsr__grpc_frame_prefix(p, (uint32_t)n);
  google__storage__v2__bidi_read_object_response__pack(&r, p + 5);
  s->opened = 1;
  s->meta_at = now_s() + opt.ttfb_s; /* serve starts the response then */
}

static void queue_ranges(struct stream *s,
                         const Google__Storage__V2__BidiReadObjectRequest *m) {
  struct req *q = calloc(1, sizeof(*q));
  if (q == NULL || (q->r = calloc(m->n_read_ranges, sizeof(*q->r))) == NULL) {
    free(q);
    {
      end_call(s, GSR__GRPC_INTERNAL, "out of memory");
      return;
    }
  }
  q->n = m->n_read_ranges;
  q->ready_at = now_s() + opt.ttfb_s;
  for (size_t i = 0; i < q->n; i++) {
    const Google__Storage__V2__ReadRange *r = m->read_ranges[i];
    q->r[i].id = r->read_id;
    q->r[i].off = r->read_offset;
    q->r[i].len = r->read_length;
  }
  if (s->q_tail != NULL)
    s->q_tail->next = q;
  else
    s->q = q;
  s->q_tail = q;
}

static void on_message(struct stream *s, const uint8_t *msg, size_t len) {
  Google__Storage__V2__BidiReadObjectRequest *m =
      google__storage__v2__bidi_read_object_request__unpack(NULL, len, msg);
  if (m == NULL) {
    end_call(s, GSR__GRPC_INVALID_ARGUMENT, "bad message");
    return;
  }
  if (!s->opened) {
    if (m->read_object_spec == NULL)
      end_call(s, GSR__GRPC_INVALID_ARGUMENT, "first message has no spec");
    else
      open_object(s, m->read_object_spec);
    if (!s->ending && m->n_read_ranges > 0) queue_ranges(s, m);
  } else if (m->read_object_spec != NULL) {
    /* the Python stand-in finds it when the message's turn comes; the
     * client sees the same end (it never sends one) */
    end_call(s, GSR__GRPC_INVALID_ARGUMENT, "spec after the first message");
  } else {
    queue_ranges(s, m);
  }
  google__storage__v2__bidi_read_object_request__free_unpacked(m, NULL);
}

/* A request's turn comes: its ranges checked and clamped as Python's. */
static int start_req(struct stream *s, struct req *q, double now) {
  if (q->n > MAX_RANGES) {
    end_call(s, GSR__GRPC_INVALID_ARGUMENT, "more than 100 ranges");
    return -1;
  }
  for (size_t i = 0; i < q->n; i++) {
    struct range *r = &q->r[i];
    int64_t off = r->off;
    if (off < 0) off = (int64_t)s->size + off < 0 ? 0 : (int64_t)s->size + off;
    if ((uint64_t)off > s->size || r->len < 0) {
      end_call(s, GSR__GRPC_OUT_OF_RANGE, "range out of bounds");
      return -1;
    }
    r->at = (uint64_t)off;
    r->end = r->len == 0 || (uint64_t)r->len > s->size - r->at
                 ? s->size
                 : r->at + (uint64_t)r->len;
  }
  s->cur = q;
  s->first_at = opt.pipeline ? q->ready_at : now + opt.ttfb_s;
  return 0;
}

/* The current request's next piece, round-robin over its ranges (Python's
 * order: one piece of each range with pieces left, in turn). */
static int next_piece(struct req *q, struct piece *pc) {
  for (size_t k = 0; k < q->n; k++) {
    struct range *r = &q->r[(q->cur + k) % q->n];
    if (r->done) continue;
    q->cur = (q->cur + k + 1) % q->n;
    pc->id = r->id;
    pc->at = r->at;
    pc->n = (uint32_t)GSR__MIN(r->end - r->at, (uint64_t)MAX_PIECE);
    r->at += pc->n;
    pc->last = r->done = r->at == r->end;
    return 1;
  }
  return 0;
}

/* With --rate: a stream with object data to send gets a new burst once
 * the last one's pause is over (what is left of the last one lapses). 1
 * if it did; else *wake is lowered to when it will, if it must. */
static int refill(struct stream *s, double now, double *wake) {
  if (!s->paced || unsent(s) == 0) return 0;
  if (s->send_at > now) {
    if (s->budget + s->unpaced == 0 && (*wake == 0 || s->send_at < *wake))
      *wake = s->send_at;
    return 0;
  }
  s->budget = BURST;
  s->send_at = now + BURST / opt.rate;
  resume(s);
  return 1;
}

/* Moves each stream on whose message went out: builds the next one when
 * it is due; gives paced streams their next burst. Returns how many it
 * built or refilled; *wake is the earliest time a message or a burst
 * will be due (0: none waits). */
static int serve(struct conn *c, double *wake_out) {
  double wake = 0, now = now_s();
  int built = 0;
  for (struct stream *s = c->streams; s != NULL; s = s->next) {
    if (s->ending && s->trailers_sent) continue;
    built += refill(s, now, &wake);
    if (!s->opened || s->ending) continue;
    if (!s->responding) { /* the metadata waits its first byte */
      if (s->meta_at > now) {
        if (wake == 0 || s->meta_at < wake) wake = s->meta_at;
        continue;
      }
      start_response(s);
      built++;
      continue;
    }
    if (s->out_off < s->out_len || s->reserved > 0) continue;
    while (!s->has_next) {
      if (s->cur != NULL && next_piece(s->cur, &s->next_pc)) {
        s->next_due = s->first_at > now ? s->first_at : now;
        s->has_next = 1;
        break;
      }
      free_req(s->cur);
      s->cur = NULL;
      if (s->q == NULL) break;
      if (opt.pipeline && s->q->ready_at > now) { /* still in its wait */
        if (wake == 0 || s->q->ready_at < wake) wake = s->q->ready_at;
        break;
      }
      struct req *q = s->q;
      s->q = q->next;
      if (s->q == NULL) s->q_tail = NULL;
      if (start_req(s, q, now) != 0) {
        free_req(q);
        built++; /* its trailers to flush */
        break;
      }
    }
    if (s->ending) continue;
    if (!s->has_next) {
      if (s->client_done && s->q == NULL) {
        end_call(s, GSR__GRPC_OK, "");
        built++;
      }
      continue;
    }
    if (s->next_due > now) {
      if (wake == 0 || s->next_due < wake) wake = s->next_due;
      continue;
    }
    uint8_t *p = out_space(s, piece_msg_len(&s->next_pc));
    if (p == NULL || piece_msg(p, &s->next_pc, s->fd) != 0) {
      s->out_len = 0;
      end_call(s, GSR__GRPC_INTERNAL, "cannot read the object");
      built++;
      continue;
    }
    s->has_next = 0;
    s->paced = opt.rate > 0;
    s->unpaced = piece_msg_len(&s->next_pc) - s->next_pc.n;
    built += refill(s, now, &wake);
    resume(s);
    built++;
  }
  *wake_out = wake;
  return built;
}

/* ---- nghttp2 server callbacks */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f,
                            void *user) {
  struct conn *c = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  struct stream *s = calloc(1, sizeof(*s));
  if (s == NULL) return NGHTTP2_ERR_CALLBACK_FAILURE;
  s->id = f->hd.stream_id;
  s->c = c;
  s->fd = -1;
  s->next = c->streams;
  c->streams = s;
  return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user) {
  struct stream *s = find_stream(user, f->hd.stream_id);
  if (s == NULL) return 0;
  if (namelen == 5 && memcmp(name, ":path", 5) == 0)
    s->path_ok = valuelen == strlen(METHOD_PATH) &&
                 memcmp(value, METHOD_PATH, valuelen) == 0;
  else if (namelen == 21 && memcmp(name, "x-goog-request-params", 21) == 0)
    snprintf(s->params, sizeof(s->params), "%.*s", (int)valuelen, value);
  return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *user) {
  struct stream *s = find_stream(user, id);
  if (s == NULL || s->ending) return 0;
  if (grow(&s->in, &s->in_cap, s->in_len + len) != 0) {
    end_call(s, GSR__GRPC_INTERNAL, "out of memory");
    return 0;
  }
  memcpy(s->in + s->in_len, data, len);
  s->in_len += len;
  size_t off = 0, ml;
  long took = 0;
  while (!s->ending &&
         (took = gsr__grpc_deframe(s->in + off, s->in_len - off,
                                   GSR__GRPC_MAX_MESSAGE, &ml)) > 0) {
    on_message(s, s->in + off + 5, ml);
    off += (size_t)took;
  }
  if (took < 0 && !s->ending)
    end_call(s, GSR__GRPC_INTERNAL, "compressed or oversized message");
  memmove(s->in, s->in + off, s->in_len - off);
  s->in_len -= off;
  return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f,
                         void *user) {
  struct stream *s = find_stream(user, f->hd.stream_id);
  if (s == NULL) return 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
      !s->path_ok)
    end_call(s, GSR__GRPC_UNIMPLEMENTED, "unknown method");
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    s->client_done = 1;
    if (!s->opened) end_call(s, GSR__GRPC_OK, ""); /* no message at all */
  }
  return 0;
}

/* After grpc-status went out to a client still sending, RST_STREAM
 * NO_ERROR ends the stream, as gRPC servers do. */
static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f,
                         void *user) {
  struct stream *s = find_stream(user, f->hd.stream_id);
  if (s != NULL && f->hd.type == NGHTTP2_HEADERS &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->client_done)
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
  return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code,
                           void *user) {
  struct conn *c = user;
  for (struct stream **pp = &c->streams; *pp != NULL; pp = &(*pp)->next)
    if ((*pp)->id == id) {
      struct stream *s = *pp;
      *pp = s->next;
      free_stream(s);
      break;
    }
  return 0;
}

/* ---- a connection's thread */

/* Writes what nghttp2 has, through the write buffer: 0 (done or the
 * socket is full), -1 when the connection failed. */
static int flush(struct conn *c) {
  for (;;) {
    while (c->woff < c->wlen) {
      ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      if (w <= 0) return -1;
      c->woff += (size_t)w;
    }
    c->woff = c->wlen = 0;
    if (!nghttp2_session_want_write(c->h2)) return 0;
    if (nghttp2_session_send(c->h2) != 0) return -1;
    if (c->wlen == 0) return 0;
  }
}

static void *conn_main(void *arg) {
  struct conn *c = arg;
  nghttp2_session_callbacks *cb;
  uint8_t *rbuf = malloc(1u << 16);
  c->wbuf = malloc(WBUF_SIZE);
  if (rbuf == NULL || c->wbuf == NULL ||
      nghttp2_session_callbacks_new(&cb) != 0)
    goto out;
  nghttp2_session_callbacks_set_send_callback(cb, send_cb);
  nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  int r = nghttp2_session_server_new(&c->h2, cb, c);
  nghttp2_session_callbacks_del(cb);
  if (r != 0) goto out;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20}};
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
  for (;;) {
    /* until no stream's next message is due: a stream nghttp2 drained
     * gets its next one at once (its bytes may still be in the buffer) */
    double wake;
    int failed;
    while ((failed = flush(c)) == 0 && serve(c, &wake) > 0) {
    }
    if (failed) break;
    if (!nghttp2_session_want_read(c->h2) &&
        !nghttp2_session_want_write(c->h2) && c->wlen == 0)
      break;
    struct pollfd p[2] = {
        {.fd = c->fd, .events = POLLIN | (c->wlen > c->woff ? POLLOUT : 0)},
        {.fd = stop_pipe[0], .events = POLLIN}};
    struct timespec ts, *tp = NULL;
    if (wake > 0) {
      double d = wake - now_s();
      if (d < 0) d = 0;
      ts.tv_sec = (time_t)d;
      ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
      tp = &ts;
    }
    if (ppoll(p, 2, tp, NULL) < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(c->fd, rbuf, 1u << 16, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(c->h2, rbuf, (size_t)n) < 0) break;
    }
  }
out:
  if (c->h2 != NULL) nghttp2_session_del(c->h2);
  while (c->streams != NULL) {
    struct stream *s = c->streams;
    c->streams = s->next;
    free_stream(s);
  }
  free(rbuf);
  free(c->wbuf);
  close(c->fd);
  atomic_store(&c->done, 1);
  return NULL;
}

/* ---- listening, options, the end */

static void on_signal(int sig) {
  ssize_t w = write(stop_pipe[1], "x", 1);
  (void)w;
}

static int listen_on(const char *host, int port, int *bound) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
  struct addrinfo *res;
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  if (getaddrinfo(host, ps, &hints, &res) != 0) return -1;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
      listen(fd, 64) != 0) {
    freeaddrinfo(res);
    if (fd >= 0) close(fd);
    return -1;
  }
  freeaddrinfo(res);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  *bound = ntohs(ss.ss_family == AF_INET6
                     ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

static void usage(void) {
  fprintf(stderr, "usage: zonal-fast-server --port PORT|0 --root DIR "
                  "[--port-file FILE] [--ttfb-ms N] [--rate BYTES_PER_S] "
                  "[--pipeline] [--host ADDR]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(a, "--pipeline") == 0) {
      opt.pipeline = 1;
      continue;
    }
    if (v == NULL) usage();
    i++;
    if (strcmp(a, "--port") == 0)
      opt.port = (int)strtol(v, &end, 10);
    else if (strcmp(a, "--root") == 0)
      opt.root = v;
    else if (strcmp(a, "--port-file") == 0)
      opt.port_file = v;
    else if (strcmp(a, "--host") == 0)
      opt.host = v;
    else if (strcmp(a, "--ttfb-ms") == 0)
      opt.ttfb_s = strtod(v, &end) / 1000.0;
    else if (strcmp(a, "--rate") == 0)
      opt.rate = strtod(v, &end);
    else
      usage();
    if (end != NULL && (*end != '\0' || end == v)) usage();
  }
  if (opt.root == NULL || opt.port < 0 || opt.port > 65535 || opt.ttfb_s < 0 ||
      opt.rate < 0)
    usage();
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  int port = 0;
  int lfd = listen_on(opt.host, opt.port, &port);
  if (lfd < 0) {
    fprintf(stderr, "zonal-fast-server: cannot listen on %s port %d: %s\n",
            opt.host, opt.port, strerror(errno));
    return 1;
  }
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) return 1;
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (opt.port_file != NULL) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", opt.port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
        rename(tmp, opt.port_file) != 0) {
      fprintf(stderr, "zonal-fast-server: cannot write %s\n", opt.port_file);
      return 1;
    }
  }
  struct conn *conns = NULL;
  for (;;) {
    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
                          {.fd = stop_pipe[0], .events = POLLIN}};
    int pr = poll(p, 2, 1000);
    if (pr < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    for (struct conn **pp = &conns; *pp != NULL;) { /* reap ended ones */
      struct conn *c = *pp;
      if (atomic_load(&c->done)) {
        pthread_join(c->th, NULL);
        *pp = c->next;
        free(c);
      } else {
        pp = &c->next;
      }
    }
    if (pr <= 0 || !(p[0].revents & POLLIN)) continue;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;
    if (fd < 0) continue;
    /* as nginx's tcp_nodelay: a message's last segment never waits for
     * the client's delayed ACK (a 40 ms stall now and then) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
      close(fd);
      free(c);
      continue;
    }
    c->next = conns;
    conns = c;
  }
  while (conns != NULL) { /* the stop pipe stays readable: each thread ends */
    struct conn *c = conns;
    conns = c->next;
    pthread_join(c->th, NULL);
    free(c);
  }
  close(lfd);
  close(stop_pipe[0]);
  close(stop_pipe[1]);
  return 0;
}
