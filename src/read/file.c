/* Open files: open, read, pread, seek, the zero-copy reads, stats and
 * close, behind the public calls of api/file.c (which look the handle up
 * and check the arguments). A read is clamped to the object here, then
 * handed to the file's cache reader, which draws on its source (direct
 * range fetches, or the prefetcher).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/rfetch.h"
#include "read/file.h"
#include "read/prefetch/prefetch.h"

#define DEFAULT_MAX_PREFETCH (96u * 1024 * 1024)
/* The most gsr_file_options.reorder_bytes may keep behind a reader. */
#define MAX_REORDER (1024ull * 1024 * 1024)

/* Resolves and checks the options into f. */
static int apply_options(struct gsr__file *f, const gsr_file_options *o) {
  const char *cache = o->cache_type ? o->cache_type : "none";
  if ((f->cache = gsr__cache_lookup(cache)) == NULL) {
    char names[256];
    gsr__cache_names(names, sizeof(names));
    return gsr__err(GSR_EINVAL, "unknown cache type '%s' (%s)", cache, names);
  }
  if (o->block_size == 0) return gsr__err(GSR_EINVAL, "block_size must be > 0");
  if (o->max_blocks < 1) return gsr__err(GSR_EINVAL, "max_blocks must be >= 1");
  if (o->concurrency < 0 || o->concurrency > 256)
    return gsr__err(GSR_EINVAL, "concurrency must be 0 (default) to 256");
  /* Sizes and offsets are below 2^63 (int64_t in the API). */
  if (o->min_part_size == 0 || o->min_part_size > INT64_MAX)
    return gsr__err(GSR_EINVAL,
                    "min_part_size must be 1 to 2^63-1 bytes, not %llu",
                    (unsigned long long)o->min_part_size);
  f->rctx.page_size = o->block_size;
  f->rctx.max_pages = o->max_blocks;
  /* No wider than the pool: parts past it would only queue for a
   * connection, each one timed (and retried) as it waits. */
  f->concurrency = GSR__MIN(o->concurrency ? o->concurrency
                                           : f->client->default_concurrency,
                            f->client->opts.max_connections);
  f->auto_width = o->concurrency == 0 && !f->client->concurrency_set;
  f->min_part = o->min_part_size;
  f->max_prefetch = o->max_prefetch ? o->max_prefetch : DEFAULT_MAX_PREFETCH;
  if (o->reorder_bytes > MAX_REORDER)
    return gsr__err(GSR_EINVAL, "reorder_bytes must be at most 1 GiB, not %llu",
                    (unsigned long long)o->reorder_bytes);
  f->reorder = o->reorder_bytes;
  /* A window the caller did not size may grow, for a measured width, to
   * what the client's budget allows (policy.c; the budget still holds
   * across files: blocks past it wait). */
  f->max_window = o->max_prefetch
                      ? f->max_prefetch
                      : GSR__MAX(f->max_prefetch,
                                 atomic_load(&f->client->budget->limit));
  f->prefetch = gsr__prefetch_pick(o->prefetch, o->cache_type,
                                   f->client->default_prefetch);
  if (f->prefetch < 0)
    return gsr__err(GSR_EINVAL,
                    "prefetch must be 'off', 'adaptive', "
                    "'sequential' or 'default', not '%s'",
                    o->prefetch);
  f->source = f->prefetch ? &gsr__prefetch_reader : &gsr__direct_reader;
  return GSR_OK;
}

/* What the file's range fetches need: its object, the transport, the
 * file's and the client's counters. */
static int fetch_target(struct gsr__file *f) {
  f->target.obj = f->obj;
  f->target.transport = f->client->transport;
  f->target.requests[0] = &f->stats.requests;
  f->target.requests[1] = &f->client->requests;
  f->target.bytes_fetched[0] = &f->stats.bytes_fetched;
  f->target.bytes_fetched[1] = &f->client->bytes_fetched;
  return GSR_OK;
}

/* Local files are read in the caller's thread with pread: a prefetcher
 * would only add a copy, so they always use the direct source. */
static int pick_source(struct gsr__file *f) {
  if (f->obj->local) f->source = &gsr__direct_reader;
  return GSR_OK;
}

/* The cache's way down: the file's source, one call at a time if it
 * keeps state (it may let go of the lock while bytes travel). */
static int source_read(void *arg, uint64_t off, uint64_t len,
                       struct gsr__out *out) {
  struct gsr__file *f = arg;
  int locked = f->source->stateful;
  if (locked) pthread_mutex_lock(&f->reader_mu);
  int status = f->source->read(&f->sctx, f->source_state, off, len, out);
  if (locked) pthread_mutex_unlock(&f->reader_mu);
  return status;
}

/* The rest of the cache's view (its page options are set with the
 * options): what the object, the client and the file hold for it. */
static void reader_ctx(struct gsr__file *f) {
  struct gsr__rctx *r = &f->rctx;
  r->display = f->obj->display;
  r->size = f->obj->st.size;
  r->concurrency = f->concurrency;
  r->min_part = f->min_part;
  r->budget = f->client->budget;
  r->target = &f->target;
  r->stats = &f->stats;
  r->source = source_read;
  r->source_arg = f;
  struct gsr__sctx *sc = &f->sctx;
  sc->r = r;
  sc->client = f->client;
  sc->media_url = f->obj->media_url;
  sc->prefetch = f->prefetch;
  sc->auto_width = f->auto_width;
  sc->max_prefetch = f->max_prefetch;
  sc->max_window = f->max_window;
  sc->reorder = f->reorder;
  sc->block = 0; /* the engine's choice, unless gsr__file_set_block */
  sc->read_end = &f->read_end;
  sc->reader_mu = &f->reader_mu;
}

static int create_readers(struct gsr__file *f) {
  int status = GSR_OK;
  reader_ctx(f);
  if (f->source->create) status = f->source->create(&f->sctx, &f->source_state);
  if (status != GSR_OK || f->cache->state_size == 0) return status;
  if ((f->cache_state = gsr__calloc(1, f->cache->state_size)) == NULL)
    return gsr__err(GSR_ENOMEM, "%s: out of memory", f->obj->display);
  if (f->cache->create) status = f->cache->create(&f->rctx, f->cache_state);
  return status;
}

static void destroy_readers(struct gsr__file *f) {
  if (f->cache_state != NULL && f->cache->destroy)
    f->cache->destroy(f->cache_state);
  gsr__free(f->cache_state);
  f->cache_state = NULL;
  if (f->source && f->source->destroy && f->source_state)
    f->source->destroy(&f->sctx, f->source_state);
  f->source_state = NULL;
}

int gsr__file_open(gsr_client *c, const char *url, const gsr_file_options *opts,
                   const gsr_stat *known, struct gsr__file **out) {
  struct gsr__file *f;
  int status;
  *out = NULL;
  if ((f = gsr__calloc(1, sizeof(*f))) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  atomic_init(&f->refs, 1);
  f->client = c;
  f->crc_pos = 0;
  atomic_init(&f->read_end, UINT64_MAX);
  pthread_mutex_init(&f->cache_mu, NULL);
  pthread_mutex_init(&f->reader_mu, NULL);
  pthread_mutex_init(&f->pos_mu, NULL);
  pthread_mutex_init(&f->target.mu, NULL);
  if ((status = apply_options(f, opts)) != GSR_OK ||
      (status = gsr__object_open(c, url, known, &f->obj)) != GSR_OK ||
      (status = fetch_target(f)) != GSR_OK ||
      (status = pick_source(f)) != GSR_OK ||
      (status = create_readers(f)) != GSR_OK) {
    gsr__file_unref(f);
    return status;
  }
  *out = f;
  return GSR_OK;
}

void gsr__file_unref(struct gsr__file *f) {
  if (f == NULL) return;
  int refs = atomic_fetch_sub(&f->refs, 1);
  assert(refs >= 1); /* every unref drops a reference someone took */
  if (refs != 1) return;
  destroy_readers(f);
  gsr__object_close(f->obj);
  pthread_mutex_destroy(&f->cache_mu);
  pthread_mutex_destroy(&f->reader_mu);
  pthread_mutex_destroy(&f->pos_mu);
  pthread_mutex_destroy(&f->target.mu);
  gsr__free(f);
}

void gsr__file_shutdown(struct gsr__file *f) {
  pthread_mutex_lock(&f->target.mu);
  f->target.closed = 1;
  for (struct gsr__rfetch *rf = f->target.inflight; rf != NULL; rf = rf->next)
    gsr__rfetch_cancel(rf);
  pthread_mutex_unlock(&f->target.mu);
}

void gsr__file_set_block(struct gsr__file *f, uint64_t block) {
  /* The engine sizes its window from the block at the first read. */
  assert(atomic_load(&f->stats.reads) == 0);
  f->sctx.block = block;
}

void gsr__file_set_read_end(struct gsr__file *f, uint64_t end) {
  atomic_store(&f->read_end, end);
}

uint64_t gsr__file_size(const struct gsr__file *f) { return f->obj->st.size; }

int gsr__prefetch_mode(const char *name) {
  if (strcmp(name, "off") == 0) return GSR__PREFETCH_OFF;
  if (strcmp(name, "adaptive") == 0) return GSR__PREFETCH_ADAPTIVE;
  if (strcmp(name, "sequential") == 0) return GSR__PREFETCH_SEQUENTIAL;
  return -1;
}

/* A cache decides what to fetch; a prefetcher under it would fetch ahead
 * of that on its own, and the requests on the wire would no longer be the
 * cache's rules (nor the same from run to run). So, as gcsfs (>= 2026.8.0),
 * naming a cache, "none" included, turns the prefetcher off unless the
 * caller asks for both. */
int gsr__prefetch_pick(const char *prefetch, const char *cache,
                       int client_default) {
  if (prefetch != NULL)
    return strcmp(prefetch, "default") == 0 ? client_default
                                            : gsr__prefetch_mode(prefetch);
  if (cache != NULL) return GSR__PREFETCH_OFF;
  return client_default;
}

/* gcsfs turned its prefetcher on by default in 2026.8.0: an unset
 * variable is "true". */
int gsr__prefetch_default(const char *option, const char *gsread_env,
                          const char *gcsfs_env) {
  const char *named = option != NULL ? option : gsread_env;
  if (named != NULL) {
    int mode = gsr__prefetch_mode(named);
    return mode < 0 ? GSR__PREFETCH_OFF : mode;
  }
  if (gcsfs_env == NULL || strcasecmp(gcsfs_env, "true") == 0 ||
      strcmp(gcsfs_env, "1") == 0)
    return GSR__PREFETCH_ADAPTIVE;
  return GSR__PREFETCH_OFF;
}

/* Below this a second copy costs little, and the cache keeps fsspec's
 * exact requests (and its hits) for the small reads at an object's end. */
#define SKIP_CACHE_MIN (16u * 1024 * 1024)

int gsr__read_skips_cache(int to_caller, uint64_t off, uint64_t len,
                          uint64_t size, uint64_t page_size) {
  return to_caller && off + len == size &&
         len >= GSR__MAX(page_size, (uint64_t)SKIP_CACHE_MIN);
}

/* Checks and clamps a read at offset, then runs it through the readers.
 * Returns the count delivered or a negative status. */
static int64_t read_at(struct gsr__file *f, struct gsr__out *out, size_t n,
                       int64_t offset) {
  uint64_t size = f->obj->st.size;
  if (offset < 0)
    return gsr__err(GSR_EINVAL, "negative offset %lld", (long long)offset);
  if ((uint64_t)n > (uint64_t)INT64_MAX)
    return gsr__err(GSR_EINVAL, "length %zu exceeds INT64_MAX", n);
  if (n == 0 || (uint64_t)offset >= size) return 0;
  uint64_t len = GSR__MIN((uint64_t)n, size - (uint64_t)offset);
  int status;
  if (gsr__read_skips_cache(out->slices == NULL && !out->internal,
                            (uint64_t)offset, len, size, f->rctx.page_size)) {
    /* Past the cache, not past the prefetcher: what its blocks already
     * hold of the rest comes from them, not from the server again. */
    out->land = 1;
    status = source_read(f, (uint64_t)offset, len, out);
  } else {
    /* A concurrent cache locks its own state, and never across a fetch
     * (cache.h); the others are called one read at a time. */
    int locked = f->cache->state_size > 0 && !f->cache->concurrent;
    if (locked) pthread_mutex_lock(&f->cache_mu);
    status = f->cache->read(&f->rctx, f->cache_state, (uint64_t)offset, len,
                            out);
    if (locked) pthread_mutex_unlock(&f->cache_mu);
  }
  if (status != GSR_OK) {
    gsr__out_abandon(out);
    return status;
  }
  /* A reader delivers all it was asked, less only when out's slices ran
   * out (reader.h). */
  assert(out->done == len || (out->done < len && out->slices != NULL &&
                              out->n_slices == out->max_slices));
  atomic_fetch_add(&f->stats.reads, 1);
  atomic_fetch_add(&f->stats.bytes_delivered, out->done);
  return (int64_t)out->done;
}

static int64_t copy_read(struct gsr__file *f, void *buf, size_t n,
                         int64_t offset, int want_crc, uint32_t *crc) {
  struct gsr__out out;
  *crc = 0;
  if (buf == NULL && n > 0) return gsr__err(GSR_EINVAL, "buffer is NULL");
  gsr__out_copy_init(&out, buf, n);
  out.want_crc = want_crc;
  int64_t r = read_at(f, &out, n, offset);
  *crc = out.crc;
  return r;
}

int64_t gsr__file_pread(struct gsr__file *f, void *buf, size_t n,
                        int64_t offset) {
  uint32_t crc = 0;
  return copy_read(f, buf, n, offset, 0, &crc);
}

/* 1 if a gsr_read at off continues the whole-object check (or starts it,
 * at 0): its bytes' CRC32C is then worth keeping. */
static int crc_wanted(struct gsr__file *f, uint64_t off) {
  return f->obj->st.has_crc32c && (off == 0 || f->crc_pos == off);
}

/* Adds n bytes read at off, whose CRC32C is crc, to the whole-object
 * check; at the end of the object compares with the server's CRC32C.
 * Returns GSR_OK or GSR_EINTEGRITY. */
static int crc_feed(struct gsr__file *f, uint64_t off, uint32_t crc,
                    uint64_t n) {
  const gsr_stat *st = &f->obj->st;
  if (!crc_wanted(f, off)) {
    f->crc_pos = UINT64_MAX;
    return GSR_OK;
  }
  if (off == 0) f->crc = 0; /* a read from the start (re)starts it */
  f->crc = gsr__crc32c_combine(f->crc, crc, n);
  f->crc_pos = off + n;
  assert(f->crc_pos <= st->size); /* reads are clamped to the object */
  if (f->crc_pos != st->size || f->crc == st->crc32c) return GSR_OK;
  f->crc_pos = UINT64_MAX;
  return gsr__file_check_crc(f, f->crc, "read");
}

int gsr__file_check_crc(const struct gsr__file *f, uint32_t crc,
                        const char *what) {
  const gsr_stat *st = &f->obj->st;
  if (!st->has_crc32c || crc == st->crc32c) return GSR_OK;
  return gsr__err(GSR_EINTEGRITY,
                  "%s: CRC32C of the bytes %s is %08x, the server's is "
                  "%08x: the data is corrupt",
                  f->obj->display, what, crc, st->crc32c);
}

int64_t gsr__file_read(struct gsr__file *f, void *buf, size_t n) {
  int status;
  pthread_mutex_lock(&f->pos_mu);
  uint32_t crc = 0;
  assert(f->pos >= 0); /* seek refuses a negative position */
  int want = crc_wanted(f, (uint64_t)f->pos);
  int64_t r = copy_read(f, buf, n, f->pos, want, &crc);
  if (r > 0) {
    status = crc_feed(f, (uint64_t)f->pos, crc, (uint64_t)r);
    f->pos += r;
    if (status != GSR_OK) r = status;
  }
  pthread_mutex_unlock(&f->pos_mu);
  return r;
}

int64_t gsr__file_slice_read(struct gsr__file *f, size_t n, int64_t offset,
                             gsr_slice *out, size_t max, size_t *count,
                             int want_crc, uint32_t *crc) {
  struct gsr__out o;
  if (count == NULL || (out == NULL && max > 0))
    return gsr__err(GSR_EINVAL, "slice array or count is NULL");
  *count = 0;
  if (max == 0 && n > 0) return gsr__err(GSR_EINVAL, "max_slices is 0");
  gsr__out_slices_init(&o, out, max);
  o.want_crc = want_crc;
  int64_t r = read_at(f, &o, n, offset);
  *count = r > 0 ? o.n_slices : 0;
  *crc = o.crc;
  return r;
}

int64_t gsr__file_read_slices(struct gsr__file *f, size_t n, gsr_slice *out,
                              size_t max, size_t *count) {
  int status = GSR_OK;
  pthread_mutex_lock(&f->pos_mu);
  uint32_t crc = 0;
  assert(f->pos >= 0); /* seek refuses a negative position */
  int want = crc_wanted(f, (uint64_t)f->pos);
  int64_t r = gsr__file_slice_read(f, n, f->pos, out, max, count, want, &crc);
  if (r > 0) status = crc_feed(f, (uint64_t)f->pos, crc, (uint64_t)r);
  if (r > 0) f->pos += r;
  if (status != GSR_OK) {
    for (size_t i = 0; i < *count; i++) gsr__slice_release(&out[i]);
    *count = 0;
    r = status;
  }
  pthread_mutex_unlock(&f->pos_mu);
  return r;
}

int64_t gsr__file_seek(struct gsr__file *f, int64_t offset, int whence) {
  pthread_mutex_lock(&f->pos_mu);
  int64_t base = whence == GSR_SEEK_SET   ? 0
                 : whence == GSR_SEEK_CUR ? f->pos
                 : whence == GSR_SEEK_END ? (int64_t)f->obj->st.size
                                          : -1;
  int64_t r;
  if (base < 0)
    r = gsr__err(GSR_EINVAL, "bad whence %d", whence);
  else if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
    r = gsr__err(GSR_EINVAL, "seek to %lld%+lld is out of range",
                 (long long)base, (long long)offset);
  else
    r = f->pos = base + offset;
  pthread_mutex_unlock(&f->pos_mu);
  return r;
}

void gsr__file_stats(struct gsr__file *f, gsr_file_stats *out) {
  const struct gsr__stats *s = &f->stats;
  out->reads = atomic_load(&s->reads);
  out->hits = atomic_load(&s->hits);
  out->misses = atomic_load(&s->misses);
  out->requests = atomic_load(&s->requests);
  out->bytes_fetched = atomic_load(&s->bytes_fetched);
  out->bytes_delivered = atomic_load(&s->bytes_delivered);
  out->bytes_copied = atomic_load(&s->bytes_copied);
  out->bytes_referenced = atomic_load(&s->bytes_referenced);
  out->bytes_direct = atomic_load(&s->bytes_direct);
  out->prefetched_unused = atomic_load(&s->prefetched_unused);
  out->stalls = atomic_load(&s->stalls);
  out->stall_seconds = (double)atomic_load(&s->stall_ns) / 1e9;
  out->window = atomic_load(&s->window);
  out->peak_buffered = atomic_load(&s->peak_buffered);
  out->plan = gsr__plan_name(atomic_load(&s->plan));
  out->connections = atomic_load(&s->width);
}
